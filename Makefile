# The README's two commands: `make lessons` and `make test`. Both create .venv on first use.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: lessons test install readme bench clean

# Reinstall only when what the install depends on has changed.
$(STAMP): settings.ini setup.py constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

install: $(STAMP)

## Execute every lesson on the bundled data and write HTML pages to _site/.
lessons: $(STAMP)
	$(BIN)/python tools/build_site.py $(if $(SLOW),--slow)

## Library and notebooks in sync, then every notebook and the pytest suite.
test: $(STAMP)
	PATH=$(abspath $(BIN)):$$PATH tools/check_sync.sh
	# Two notebooks run at once on 2 cores: one thread each, or torch's threads fight over the cores.
	COURSE_HELPERS_OFFLINE=1 COURSE_HELPERS_SYNTH=1 OMP_NUM_THREADS=1 $(BIN)/nbdev_test --n_workers 2 --timing
	COURSE_HELPERS_OFFLINE=1 COURSE_HELPERS_SYNTH=1 $(BIN)/python -m pytest -q tests

## Speed and memory figures: the scripts in benchmarks/ (adds the benchmark-only extra, scikit-surprise).
bench: $(STAMP)
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[bench]'
	$(BIN)/python benchmarks/accum_memory.py
	$(BIN)/python benchmarks/collab.py
	$(BIN)/python benchmarks/collab.py --split u1

## Regenerate README.md from nbs/index.ipynb.
readme: $(STAMP)
	$(BIN)/python tools/make_readme.py

clean:
	rm -rf _site _docs _proc
