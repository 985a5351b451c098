"benchmarks/collab.py end to end on a tiny generated MovieLens folder."
import json, math
import numpy as np, pytest
from course_helpers.movielens_synth import synth_movielens, write_movielens

SYSTEMS = ['global_mean', 'fastbook', 'course_helpers', 'course_helpers_plain', 'myfm', 'svd', 'svdpp']

@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    "A tiny generated set in the ML-100k layout, with a second fixed split u2 beside write_movielens' u1."
    path = write_movielens(*synth_movielens(n_users=120, n_movies=240, n_ratings=6000, seed=3), tmp_path_factory.mktemp('ml')/'tiny')
    lines = (path/'u.data').read_text().splitlines()
    test = np.random.default_rng(0).random(len(lines)) < 0.2
    (path/'u2.base').write_text(''.join(l+'\n' for l,t in zip(lines, test) if not t))
    (path/'u2.test').write_text(''.join(l+'\n' for l,t in zip(lines, test) if t))
    return path

@pytest.fixture
def bench(capsys, tmp_path):
    "Run benchmarks/collab.py's `main` in this process, myFM's cache in a temporary file: (its JSON lines, its stderr)."
    import collab
    def run(**kw):
        collab.main(**{'cache': tmp_path/'myfm.json', **kw})
        out,err = capsys.readouterr()
        return [json.loads(l) for l in out.splitlines() if l.strip()],err
    return run

def test_all_systems(tiny, bench):
    rows,err = bench(data=tiny, split='random,u1', quick=True)
    for split in ('random', 'u1'):
        got = {r['system']:r for r in rows if r['split'] == split}
        assert list(got) == SYSTEMS
        for s,r in got.items():
            if 'skipped' in r: assert s in ('svd', 'svdpp', 'myfm') and 'is not installed' in r['skipped']; continue
            assert set(r) == {'split', 'system', 'rmse', 'train_s'} and math.isfinite(r['rmse']) and r['train_s'] >= 0, r
        gm = got['global_mean']['rmse']
        assert 0.8 < gm < 1.5
        # trained models beat predicting the mean (fastbook runs 1 epoch here: only finite)
        for s in ('course_helpers', 'course_helpers_plain', 'myfm', 'svd', 'svdpp'):
            if 'rmse' in got[s]: assert got[s]['rmse'] < gm - 0.05, (s, got[s], gm)
    assert 'side information: item_tags' in err   # a generated set has u.item (genres, dates), no u.user

def test_folds_and_table(tiny, bench):
    "`folds` runs every uK split the folder has and reports their mean and spread; u1 is its first fold; the table follows."
    rows,err = bench(data=tiny, split='u1,folds', systems='global_mean,course_helpers_plain')
    by = {(r['split'], r['system']):r for r in rows}
    f = by['folds', 'course_helpers_plain']
    assert len(f['rmses']) == 2 and f['rmses'][0] == by['u1', 'course_helpers_plain']['rmse']
    assert math.isclose(f['rmse'], np.mean(f['rmses']), abs_tol=1e-4) and math.isclose(f['sd'], np.std(f['rmses'], ddof=1), abs_tol=1e-4)
    assert '| system | u1 RMSE (train s) | u1..u5 mean ± sd RMSE (train s) |' in err
    assert '| GC-MC (published) | 0.910 |  |' in err and '| GLocal-K (published) | 0.889 |  |' in err
    assert f"| course_helpers_plain | {by['u1', 'course_helpers_plain']['rmse']:.4f}" in err

def test_same_split_for_everyone(tiny):
    "The random split is fastai's RandomSplitter(0.2, seed=42) over u.data's rows, as CollabDataLoaders makes it."
    import collab as b
    from fastai.collab import CollabDataLoaders
    from course_helpers.movielens import read_ratings
    train,valid = b.load_split(tiny, 'random')
    ref = CollabDataLoaders.from_df(read_ratings(tiny/'u.data')[['user','movie','rating']], valid_pct=0.2, seed=42)
    assert sorted(ref.valid_ds.items.index.tolist()) == sorted(read_ratings(tiny/'u.data').reset_index().merge(valid)['index'].tolist())
    assert len(train) + len(valid) == len(read_ratings(tiny/'u.data'))
    t1,v1 = b.load_split(tiny, 'u1')
    assert len(t1) == len(read_ratings(tiny/'u1.base')) and len(v1) == len(read_ratings(tiny/'u1.test'))

def test_one_system_and_deterministic(tiny, bench):
    a = bench(data=tiny, systems='course_helpers,fastbook', quick=True)
    b = bench(data=tiny, systems='course_helpers,fastbook', quick=True)
    assert [r['system'] for r in a[0]] == ['course_helpers', 'fastbook']
    assert [r['rmse'] for r in a[0]] == [r['rmse'] for r in b[0]]

def test_myfm_cached(tiny, bench, tmp_path):
    "myFM's results are kept per split, keyed by the rows: a second run reads them; other rows or --refresh run it again."
    pytest.importorskip('myfm')
    import collab
    (a,_),cache = bench(data=tiny, split='u1,random', systems='myfm', quick=True),tmp_path/'myfm.json'
    saved = json.loads(cache.read_text())
    assert sorted(r['split'] for r in saved.values()) == ['random', 'u1'] and all(r['system'] == 'myfm' for r in saved.values())
    (b,_) = bench(data=tiny, split='u1,random', systems='myfm', quick=True)
    assert a == b and json.loads(cache.read_text()) == saved                         # read, not run again
    (c,_) = bench(data=tiny, split='u1,random', systems='myfm', quick=True, refresh=True)
    assert [r['rmse'] for r in c] == [r['rmse'] for r in a]                          # seeded: the same figures again
    again = json.loads(cache.read_text())
    assert again.keys() == saved.keys() and all(again[k]['train_s'] != saved[k]['train_s'] for k in saved)  # run again: new timings written
    tr,va = collab.load_split(tiny, 'u1')
    assert collab.rows_key('myfm', tr, va, True) in saved and collab.rows_key('myfm', tr.iloc[1:], va, True) not in saved

def test_bad_input(tiny, tmp_path, bench):
    with pytest.raises(ValueError, match="systems must be one of 'global_mean', .*got 'nope'"): bench(data=tiny, systems='svd,nope')
    with pytest.raises(ValueError, match="split must be one of 'random', 'u1', 'folds', got 'u9'"): bench(data=tiny, split='u1,u9')
    with pytest.raises(FileNotFoundError, match='data must be an existing folder'): bench(data=tmp_path/'missing')
    (tmp_path/'d').mkdir(); (tmp_path/'d'/'u.data').write_text('1\t2\t3\t4\n')
    with pytest.raises(FileNotFoundError, match='u1.base'): bench(data=tmp_path/'d', split='u1')
    (tmp_path/'d'/'u.data').write_text('1\t2\tfive\t4\n')
    with pytest.raises(ValueError, match='five'): bench(data=tmp_path/'d')

@pytest.fixture
def scale(capsys):
    "Run benchmarks/collab_scale.py's `main` in this process (it runs each size in a child process): (its JSON lines, its stderr)."
    import collab_scale
    def run(**kw):
        collab_scale.main(**kw)
        out,err = capsys.readouterr()
        return [json.loads(l) for l in out.splitlines() if l.strip()],err
    return run

def test_scale_one_size(tmp_path, scale):
    "collab_scale.py at ML-100k's size: its figures, fastbook stopped at the cap, the results file, the plot and the table."
    out,png = tmp_path/'r.json',tmp_path/'p.png'
    rows,err = scale(sizes='ml-100k', fastbook_cap=2, threads=1, out=out, plot=png)
    [r] = rows
    assert r['size'] == 'ml-100k' and r['n_ratings'] == 100_000 and r['bs'] == 1024 and 'CPU' in r['device']
    for k in ('gen_s', 'read_s', 'dls_s', 'load_s', 'train_s', 'peak_gb'): assert r[k] >= 0, k
    assert r['floor'] < r['rmse'] < r['global_mean_rmse'] - 0.1
    assert 3 < r['decay'] < 5 and r['implicit'] is True   # ML-100k's density: D about 4, implicit feedback on
    assert r['fastbook_status'].startswith('stopped at the 2 s cap after') or r['fastbook_status'] == 'finished'
    assert json.loads(out.read_text()) == rows and png.stat().st_size > 10_000
    assert f"| ml-100k | 100,000 | {r['device']} |" in err

def test_scale_bad_input(scale):
    with pytest.raises(ValueError, match="sizes must be one of 'ml-100k', .*got 'ml-2m'"): scale(sizes='ml-100k,ml-2m')
    with pytest.raises(ValueError, match='threads must be a whole number >= 1, got 0'): scale(threads=0)
    import torch
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device must be a device present here .* got 'cuda'"): scale(sizes='ml-100k', device='cuda')
