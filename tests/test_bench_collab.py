"benchmarks/collab.py end to end on a tiny generated MovieLens folder."
import json, math, subprocess, sys
from pathlib import Path
import pytest
from course_helpers.movielens_synth import synth_movielens, write_movielens

ROOT = Path(__file__).resolve().parents[1]

@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    return write_movielens(*synth_movielens(n_users=120, n_movies=240, n_ratings=6000, seed=3), tmp_path_factory.mktemp('ml')/'tiny')

def bench(*args):
    r = subprocess.run([sys.executable, str(ROOT/'benchmarks'/'collab.py'), *map(str, args)], capture_output=True, text=True, timeout=600)
    return r.returncode,[json.loads(l) for l in r.stdout.splitlines() if l.strip()],r.stderr

@pytest.mark.parametrize('split', ['random', 'u1'])
def test_all_systems(tiny, split):
    rc,rows,err = bench('--data', tiny, '--split', split, '--quick')
    assert rc == 0, err
    got = {r['system']:r for r in rows}
    assert list(got) == ['global_mean', 'fastbook', 'course_helpers', 'svd', 'svdpp']
    for s,r in got.items():
        if 'skipped' in r: assert s in ('svd', 'svdpp') and 'scikit-surprise' in r['skipped']; continue
        assert set(r) == {'system', 'rmse', 'train_s'} and math.isfinite(r['rmse']) and r['train_s'] >= 0, r
    gm = got['global_mean']['rmse']
    assert 0.8 < gm < 1.5
    # trained models beat predicting the mean (fastbook runs 1 epoch here: only finite)
    for s in ('course_helpers', 'svd', 'svdpp'):
        if 'rmse' in got[s]: assert got[s]['rmse'] < gm - 0.05, (s, got[s], gm)

def test_same_split_for_everyone(tiny):
    "The random split is fastai's RandomSplitter(0.2, seed=42) over u.data's rows, as CollabDataLoaders makes it."
    sys.path.insert(0, str(ROOT/'benchmarks'))
    try: import collab as b
    finally: sys.path.pop(0)
    from fastai.collab import CollabDataLoaders
    from course_helpers.movielens import read_ratings
    train,valid = b.load_split(tiny, 'random')
    ref = CollabDataLoaders.from_df(read_ratings(tiny/'u.data')[['user','movie','rating']], valid_pct=0.2, seed=42)
    assert sorted(ref.valid_ds.items.index.tolist()) == sorted(read_ratings(tiny/'u.data').reset_index().merge(valid)['index'].tolist())
    assert len(train) + len(valid) == len(read_ratings(tiny/'u.data'))
    t1,v1 = b.load_split(tiny, 'u1')
    assert len(t1) == len(read_ratings(tiny/'u1.base')) and len(v1) == len(read_ratings(tiny/'u1.test'))

def test_one_system_and_deterministic(tiny):
    a = bench('--data', tiny, '--systems', 'course_helpers,fastbook', '--quick')
    b = bench('--data', tiny, '--systems', 'course_helpers,fastbook', '--quick')
    assert a[0] == b[0] == 0 and [r['system'] for r in a[1]] == ['course_helpers', 'fastbook']
    assert [r['rmse'] for r in a[1]] == [r['rmse'] for r in b[1]]

def test_bad_input(tiny, tmp_path):
    rc,rows,err = bench('--data', tiny, '--systems', 'svd,nope')
    assert rc != 0 and 'unknown system nope' in err and not rows
    rc,_,err = bench('--data', tmp_path/'missing')
    assert rc != 0 and 'no such folder' in err
    (tmp_path/'u.data').write_text('1\t2\t3\t4\n')
    rc,_,err = bench('--data', tmp_path, '--split', 'u1')
    assert rc != 0 and 'u1.base' in err and 'not found' in err
    (tmp_path/'u.data').write_text('1\t2\tfive\t4\n')
    rc,_,err = bench('--data', tmp_path)
    assert rc != 0 and 'rating' in err and 'five' in err
