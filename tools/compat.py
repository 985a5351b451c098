"""Check the package outside the development set, each in a second virtual environment built with uv:

    python tools/compat.py --env oldest   # `make compat-oldest`
    python tools/compat.py --env kaggle   # `make compat-kaggle`

`oldest`: every runtime requirement in settings.ini at its lower bound (`fastai>=2.8.7` installed as `fastai==2.8.7`),
then the library's pytest suite. `kaggle`: a notebook image that already holds fastai, fastcore and torch (`KAGGLE`);
pip is asked what installing this checkout would change (`pip install --dry-run --report`), which must be none of the
packages already there; then the package is installed as a learner installs it (not editable), every module is
imported from the installed copy, and the pytest suite runs. Both print one JSON line (versions, what pip would
change, the tests' summary) and exit non-zero if anything failed. The suite is tests/ less test_tools.py, which
tests the notebook tooling that only the development pins run."""
import json, os, re, shutil, subprocess, sys, tempfile
from configparser import ConfigParser
from pathlib import Path
from fastcore.script import call_parse
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
# A Kaggle notebook image as of 2026-12: fastai 2.8.12 on fastcore 2. Torch 2.14.1 is the newest release this
# machine holds (its pip caps torch there), so it stands in for an image's own torch.
KAGGLE = ['fastai==2.8.12', 'fastcore==2.2.41', 'torch==2.14.1', 'torchvision==0.29.1', 'pandas==2.2.3']
WATCH = 'fastai fastcore fasttransform torch torchvision pandas numpy'.split()   # the versions the result reports
SUITE = ['tests', '--ignore=tests/test_tools.py', '-q', '-p', 'no:cacheprovider']
# Import every module of the package (fails if one does not import); print their names.
IMPORT_ALL = ('import importlib, json; from course_helpers._modidx import d\n'
              'ms = sorted({k.split(".")[1] for k in d["syms"]}); [importlib.import_module("course_helpers." + m) for m in ms]; print(json.dumps(ms))')

def requirements(path:Path=ROOT/'settings.ini')->list:
    "settings.ini's runtime `requirements`, as `packaging` `Requirement`s."
    cfg = ConfigParser(delimiters=['=']); cfg.read(path, encoding='utf-8')
    return [Requirement(r) for r in cfg['DEFAULT']['requirements'].split()]

def lower_bounds(reqs:list)->list:
    "`name==X` for each requirement in `reqs` with a `>=X` bound."
    return [f'{r.name}=={s.version}' for r in reqs for s in r.specifier if s.operator == '>=']

def uv_env()->dict:
    "The environment for uv with the indexes and wheel folders pip is configured with (uv does not read pip's)."
    def pip_cfg(k):
        r = subprocess.run([sys.executable, '-m', 'pip', 'config', 'get', k], capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 else ''
    return {**os.environ, 'UV_EXTRA_INDEX_URL': pip_cfg('global.extra-index-url'),
            'UV_FIND_LINKS': os.environ.get('PIP_FIND_LINKS') or pip_cfg('global.find-links')}

def sh(*cmd, **kw)->subprocess.CompletedProcess:
    "Run `cmd`; raise with its output if it fails."
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if r.returncode: raise RuntimeError(f'{" ".join(map(str, cmd))} failed ({r.returncode}):\n{r.stdout[-3000:]}{r.stderr[-3000:]}')
    return r

def make_venv(dest:Path, pkgs:list, constraints:list=())->Path:
    "A new virtual environment at `dest` (with pip) holding `pkgs` under `constraints`; its python."
    uv = shutil.which('uv', path=Path(sys.executable).parent) or shutil.which('uv')
    if uv is None: raise RuntimeError('uv not found: `make install` puts it in .venv')
    sh(uv, 'venv', '-q', '--seed', *['--clear']*(dest/'pyvenv.cfg').exists(), '--python', sys.executable, dest)  # replaces only a venv
    py = dest/'bin'/'python'
    with tempfile.NamedTemporaryFile('w', suffix='.txt', delete=False) as f: f.write('\n'.join(constraints) + '\n')
    try: sh(uv, 'pip', 'install', '-q', '--python', py, '--index-strategy', 'unsafe-best-match', '-c', f.name, *pkgs, env=uv_env())
    finally: os.unlink(f.name)
    return py

def versions(py:Path, names=WATCH)->dict:
    "The installed version of each of `names` in the environment of `py` (None if absent)."
    code = ('import json, sys, importlib.metadata as m\ndef v(n):\n try: return m.version(n)\n except m.PackageNotFoundError: return None\n'
            'print(json.dumps({n: v(n) for n in sys.argv[1:]}))')
    return json.loads(sh(py, '-c', code, *names).stdout)

def pip_would_install(py:Path, target:str)->dict:
    "What `pip install target` would install or replace in `py`'s environment, from its `--dry-run --report`: {name: version}."
    r = sh(py, '-m', 'pip', 'install', '--dry-run', '--quiet', '--report', '-', target)
    return {i['metadata']['name'].lower(): i['metadata']['version'] for i in json.loads(r.stdout)['install']}

def run_suite(py:Path)->tuple:
    "Run the library's pytest suite with `py` on the stand-ins: (passed, pytest's summary line)."
    env = {**os.environ, 'COURSE_HELPERS_OFFLINE': '1', 'COURSE_HELPERS_SYNTH': '1', 'OMP_NUM_THREADS': '1'}
    r = subprocess.run([py, '-m', 'pytest', *SUITE], cwd=ROOT, env=env, capture_output=True, text=True)
    if r.returncode: sys.stderr.write(r.stdout[-6000:] + r.stderr[-3000:])
    return r.returncode == 0, (r.stdout.strip().splitlines() or [''])[-1]

def check_oldest(dest:Path, pins:list)->dict:
    "Build `dest` at settings.ini's lower bounds (`pins` override them) and run the suite."
    reqs = requirements()
    names = {Requirement(p).name.lower() for p in pins}
    cons = [p for p in lower_bounds(reqs) if Requirement(p).name.lower() not in names] + list(pins)
    py = make_venv(dest, ['-e', ROOT, 'pytest'], cons)
    ok, summary = run_suite(py)
    return dict(env='oldest', constraints=cons, versions=versions(py), tests=summary, ok=ok)

def check_kaggle(dest:Path, pins:list)->dict:
    "Build `dest` as a notebook image (`KAGGLE`, `pins` override it); pip may change none of it; then import and test."
    names = {Requirement(p).name.lower() for p in pins}
    image = [p for p in KAGGLE if Requirement(p).name.lower() not in names] + list(pins)
    py = make_venv(dest, [*image, 'pytest'])
    before = versions(py, [Requirement(p).name for p in image] + WATCH)
    would = pip_would_install(py, str(ROOT))
    changed = {n: f'{before[n]} -> {v}' for n,v in would.items() if before.get(n)}
    sh(py, '-m', 'pip', 'install', '-q', ROOT)   # as a learner installs it: not editable
    after = versions(py, list(before))
    modules = json.loads(sh(py, '-c', IMPORT_ALL, cwd=tempfile.gettempdir()).stdout)   # the installed copy, not the checkout
    ok, summary = run_suite(py)
    return dict(env='kaggle', image=image, versions=before, pip_would_install=would, pip_would_change=changed,
                unchanged_after_install=after == before, modules_imported=modules, tests=summary,
                ok=ok and not changed and after == before)

@call_parse
def main(env:str='oldest',  # 'oldest' (settings.ini's lower bounds) or 'kaggle' (a notebook image with newer releases)
         pins:str='',       # space-separated `name==version`s that replace the environment's own, e.g. 'pandas==3.0.6'
         dest:str=None,     # folder for the environment (default: a temporary one, deleted afterwards)
        )->dict:            # the result printed; exits with its summary if anything failed
    "Build the second environment `env`, check the package in it, print one JSON line."
    checks = {'oldest': check_oldest, 'kaggle': check_kaggle}
    if env not in checks: raise ValueError(f"env must be one of {', '.join(checks)}, got {env!r}")
    with tempfile.TemporaryDirectory(prefix=f'compat-{env}-') as tmp:
        res = checks[env](Path(dest or Path(tmp)/'venv'), pins.split())
    print(json.dumps(res), flush=True)
    if not res['ok']: raise SystemExit(f"compat {env}: failed ({res['tests']})")
    return res
