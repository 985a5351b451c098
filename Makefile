# The README's two commands: `make lessons` and `make test`. Both create .venv on first use.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: lessons test test-nbs test-py install readme bench compat-oldest compat-kaggle clean

# Installs go through uv (its version pinned in constraints.txt): the same packages pip would pick (uv's
# unsafe-best-match is pip's rule: the best version from any index), from the indexes and wheel folders pip is
# configured with (`pip config`, PIP_FIND_LINKS). From a fresh clone here: 30 s with an empty uv cache, 10 s with
# a filled one, where pip took 106-144 s.
UV_INSTALL = UV_EXTRA_INDEX_URL="$$($(BIN)/python -m pip config get global.extra-index-url 2>/dev/null)" \
	UV_FIND_LINKS="$${PIP_FIND_LINKS:-$$($(BIN)/python -m pip config get global.find-links 2>/dev/null)}" \
	$(BIN)/uv pip install -q --python $(BIN)/python --index-strategy unsafe-best-match -c constraints.txt

# Reinstall only when what the install depends on has changed.
$(STAMP): settings.ini setup.py constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	test -x $(BIN)/uv || $(BIN)/python -m pip install -q $$(grep '^uv==' constraints.txt)
	$(UV_INSTALL) -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

install: $(STAMP)

## Execute every notebook (on the real data where it is on disk or downloadable, else the stand-ins) and write HTML pages to _site/
lessons: $(STAMP)
	$(BIN)/python tools/build_site.py $(if $(SLOW),--slow)

## Library and notebooks in sync, then every notebook and the pytest suite, side by side (each one's output in one piece).
test: $(STAMP)
	PATH=$(abspath $(BIN)):$$PATH tools/check_sync.sh
	$(MAKE) --no-print-directory -j2 --output-sync=target test-nbs test-py

# Offline, on the generated stand-ins. The notebooks (two at a time) and pytest share the cores: one torch thread
# per process, or torch's threads fight over them.
TEST_ENV := COURSE_HELPERS_OFFLINE=1 COURSE_HELPERS_SYNTH=1 OMP_NUM_THREADS=1

## Every notebook's tests (cells flagged with settings.ini's tst_flags are skipped).
test-nbs: $(STAMP)
	$(TEST_ENV) $(BIN)/nbdev_test --n_workers 2 --timing

## The pytest suite in tests/, ending with its ten slowest tests (where make test's time goes).
test-py: $(STAMP)
	$(TEST_ENV) $(BIN)/python -m pytest -q --durations=10 tests

## Speed and memory figures: the scripts in benchmarks/ (adds the benchmark-only extra, scikit-surprise).
bench: $(STAMP)
	$(UV_INSTALL) -e '.[bench]'
	$(BIN)/python benchmarks/accum_memory.py
	$(BIN)/python benchmarks/accum_time.py
	$(BIN)/python benchmarks/read_ratings.py
	$(BIN)/python benchmarks/synth_movielens.py --sizes ml-100k,ml-1m,ml-10m,ml-25m
	$(BIN)/python benchmarks/collab.py --split random,u1,folds
	COURSE_HELPERS_SYNTH=1 $(BIN)/python benchmarks/collab.py --split random,u1
	nice $(BIN)/python benchmarks/collab_scale.py

## The pytest suite in a second environment at the oldest versions settings.ini claims (6 min here: not in `make test`).
## torch's own floor (2.6) is not on this machine, so the torch of constraints.txt stands in: OLDEST_PINS= lifts that.
OLDEST_PINS ?= torch==2.14.1 torchvision==0.29.1
compat-oldest: $(STAMP)
	$(BIN)/python tools/compat.py --env oldest --pins '$(OLDEST_PINS)'

## Install into an environment that already holds newer fastai and fastcore (as a Kaggle image does): pip may change
## none of them (its --dry-run --report says what it would do); then import every module and run the pytest suite.
## KAGGLE_PINS replaces some of the image's versions, e.g. KAGGLE_PINS=pandas==3.0.6.
KAGGLE_PINS ?=
compat-kaggle: $(STAMP)
	$(BIN)/python tools/compat.py --env kaggle --pins '$(KAGGLE_PINS)'

## Regenerate README.md from nbs/index.ipynb.
readme: $(STAMP)
	$(BIN)/python tools/make_readme.py

clean:
	rm -rf _site _docs _proc
