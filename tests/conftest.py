"What every test file shares: the warning filter and the small generated data sets (pytest.ini puts tools/ and benchmarks/ on the path)."
import shutil, sys
from pathlib import Path
import pytest

def pytest_configure(config):
    # fastai 2.8.7 decorates a few layers with `torch.jit.script`, which torch 2.14 deprecates: not ours to fix.
    config.addinivalue_line('filterwarnings', r'ignore:`torch\.jit\.script` is deprecated:FutureWarning')

TINY_PADDY = dict(n_train=60, n_test=4, size=32, min_per=3)

@pytest.fixture(scope='session')
def tiny_paddy(tmp_path_factory):
    "A tiny generated Paddy set in the Kaggle layout (`TINY_PADDY`), made once: its folder and checked train.csv (read both, never write)."
    from course_helpers.paddy import load_paddy
    from course_helpers.paddy_synth import synth_paddy
    return load_paddy(synth_paddy(tmp_path_factory.mktemp('gen')/'paddy', **TINY_PADDY))

@pytest.fixture
def tiny_paddy_copy(tiny_paddy, tmp_path):
    "A fresh copy of the `tiny_paddy` folder, for a test to break."
    return Path(shutil.copytree(tiny_paddy[0], tmp_path/'paddy'))

@pytest.fixture(scope='session')
def tiny_fashion_dir(tmp_path_factory):
    "A tiny folder in the Fashion photos' Kaggle layout (styles.csv, images/): 3 article types x 12 drawn photos (read it, never write)."
    from course_helpers.fashion import tiny_fashion
    return tiny_fashion(tmp_path_factory.mktemp('gen')/'fashion')

@pytest.fixture
def tiny_fashion_copy(tiny_fashion_dir, tmp_path):
    "A fresh copy of `tiny_fashion_dir`, for a test to break."
    return Path(shutil.copytree(tiny_fashion_dir, tmp_path/'fashion'))

@pytest.fixture
def no_kaggle_env(tmp_path, monkeypatch):
    "A fresh HOME and current folder in `tmp_path`, with COURSE_HELPERS_SYNTH/OFFLINE and every Kaggle credential unset."
    for v in ('COURSE_HELPERS_SYNTH', 'COURSE_HELPERS_OFFLINE', 'KAGGLE_USERNAME', 'KAGGLE_KEY', 'KAGGLE_API_TOKEN'):
        monkeypatch.delenv(v, raising=False)
    monkeypatch.setenv('HOME', str(tmp_path/'home'))
    monkeypatch.setenv('KAGGLE_CONFIG_DIR', str(tmp_path/'home'/'.kaggle'))
    monkeypatch.chdir(tmp_path)
    return tmp_path

@pytest.fixture
def kaggle_api(monkeypatch):
    "`kaggle_api(**funcs)` installs a stand-in `kaggle` package whose `api` has `funcs`, e.g. `competition_download_files`."
    import importlib.machinery, types
    def install(**funcs):
        mod = types.ModuleType('kaggle')
        mod.__spec__ = importlib.machinery.ModuleSpec('kaggle', None)
        mod.api = types.SimpleNamespace(**funcs)
        monkeypatch.setitem(sys.modules, 'kaggle', mod)
    return install
