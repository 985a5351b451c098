"""Collaborative filtering on ML-100k's splits: fastbook's recipe, course_helpers' recipe, myFM, Surprise's SVD and SVD++, a global mean.

    python benchmarks/collab.py [--data DIR] [--split random,u1,folds] [--systems fastbook,course_helpers,...] [--quick]
                                [--cache PATH] [--refresh]

`--data` is a folder in the ML-100k layout (u.data; u1.base/u1.test ... u5.base/u5.test for the fixed splits); without
it, the real ML-100k in ~/.fastai/data/ml-100k if it is there, else a generated ML-100k-shaped set
(`course_helpers.movielens.movielens_path`). `--split` takes one or more of:

- `random`: fastai's `RandomSplitter(valid_pct=0.2, seed=42)` over the rows of u.data;
- `u1`: train on u1.base, score u1.test (the split the literature's ML-100k figures use);
- `folds`: u1 to u5 (the five test sets share no rating), reported as mean and standard deviation over the folds
  present (a generated set has only u1).

Every system trains on the same rows and is scored on the same rows. `course_helpers` is `fit_collab` with its defaults
and the movie tags of the folder's u.item (`movielens_tags`: genres and release decade); `course_helpers_plain` is the
same recipe without the tags (Surprise's models, myFM and fastbook's use none). `fastbook` is `fit_fastbook`, chapter 8's
recipe, on one PyTorch thread. `myfm` is myFM's Bayesian factorisation machine (`pip install myfm 'setuptools<81'`) set
up as its documentation's MovieLens example: rank 10, 300 Gibbs samples all kept, and as features the user and movie
ids plus, on each side, the ids it was rated with in the training rows, weighted 1/sqrt(their number) (SVD++'s implicit
features and their flipped version, as `RelationBlock`s); the example's date feature is left out, as every other system
here sees no time. myFM's results are cached per split in `--cache` (default benchmarks/results/collab_myfm.json), keyed
by the rows it trains and scores on, so a later run on the same data reads them instead of sampling again
(`--refresh` samples again and replaces them).

Prints one JSON line per split and system on stdout: `{"split": ..., "system": ..., "rmse": ..., "train_s": ...}`,
for `folds` also the per-fold `rmses` and, from two folds, their standard deviation `sd` (`rmse` and `train_s` are then
means over the folds); a system that cannot run prints `{"split": ..., "system": ..., "skipped": why}`. At the end it
prints a Markdown table of the same figures on stderr, beside the u1 RMSEs published for GC-MC (0.910), IGMC (0.905) and
GLocal-K (0.889). `train_s` is the wall time of training alone (after PyTorch's one-time cost of a process's first
optimiser step, paid up front): compare systems within one run, not across machines.
"""
import contextlib, hashlib, io, json, os, sys, time, warnings
from pathlib import Path
import course_helpers  # first: hides fastai's torch.jit.script FutureWarning
import numpy as np, pandas as pd, torch
from fastcore.script import call_parse
from fastai.data.transforms import RandomSplitter
from course_helpers.checks import check_choice, check_path
from course_helpers.files import atomic_write
from course_helpers.movielens import mean_rmse, movielens_path, movielens_rating_range, read_ratings
from course_helpers.collab_recipe import collab_dls, fit_collab, fit_fastbook, movielens_tags

SYSTEMS = ('global_mean', 'fastbook', 'course_helpers', 'course_helpers_plain', 'myfm', 'svd', 'svdpp')
SPLITS = ('random', 'u1', 'folds')
PUBLISHED = {'GC-MC': 0.910, 'IGMC': 0.905, 'GLocal-K': 0.889}  # u1 RMSEs as their papers report them
CACHE = Path(__file__).resolve().parent/'results'/'collab_myfm.json'

def load_split(path:Path, split:str):
    "(train, valid) rating tables of the folder `path` for `split`: 'random', or a fixed split such as 'u1'."
    rr = movielens_rating_range(path)
    if split == 'random':
        df = read_ratings(path/'u.data', rr)
        tr,va = RandomSplitter(valid_pct=0.2, seed=42)(range(len(df)))
        return df.iloc[list(tr)].reset_index(drop=True),df.iloc[list(va)].reset_index(drop=True)
    return read_ratings(path/f'{split}.base', rr),read_ratings(path/f'{split}.test', rr)

def rmse(pred, y):
    "Root mean squared error of `pred` against `y`."
    return float(np.sqrt(np.mean((np.asarray(pred, dtype=float) - np.asarray(y, dtype=float))**2)))

def global_mean(train, valid, quick, tags):
    "Predict the mean training rating for every validation row: the baseline any model must beat."
    t = time.perf_counter(); r = mean_rmse(train.rating, valid.rating)
    return r, time.perf_counter() - t

def fastbook(train, valid, quick, tags):
    "fastbook chapter 8's recipe (`fit_fastbook`), one epoch with `quick`."
    _,r,t = fit_fastbook(train, valid, epochs=1 if quick else 5)
    return r,t

def course_helpers(train, valid, quick, tags):
    "`course_helpers.collab_recipe.fit_collab` with its defaults, which scale with the data, and the folder's side information."
    dls = collab_dls(train, valid)
    t = time.perf_counter(); learn,r = fit_collab(dls, seed=42, device='cpu', **tags); t = time.perf_counter() - t
    return r,t

def course_helpers_plain(train, valid, quick, tags):
    "`fit_collab` without side information: the rules alone."
    return course_helpers(train, valid, quick, {})

def myfm(train, valid, quick, tags):
    "myFM's documented ML-100k setup: rank 10, 300 Gibbs samples, ids plus implicit features on both sides (30 samples with `quick`)."
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # myfm imports pkg_resources, which warns that it is deprecated
        import myfm as mf
    import scipy.sparse as sps
    us,ms = pd.Categorical(train.user),pd.Categorical(train.movie)
    u,m = us.codes + 1,ms.codes + 1  # 0: an id that is not in the training rows
    vu,vm = (pd.Categorical(valid[c], categories=cs.categories).codes + 1 for c,cs in (('user', us), ('movie', ms)))
    def side(a, b, na, nb):
        "One row per id: its one-hot id, then the ids it was rated with in the training rows, weighted 1/sqrt(their number)."
        x = sps.csr_matrix((np.ones(len(a)), (a, b)), shape=(na, nb))
        return sps.hstack([sps.identity(na, format='csr'), sps.diags(1/np.sqrt(np.maximum(x.getnnz(1), 1))) @ x], format='csr')
    U,M = side(u, m, len(us.categories)+1, len(ms.categories)+1),side(m, u, len(ms.categories)+1, len(us.categories)+1)
    n,fm = 30 if quick else 300,mf.MyFMRegressor(rank=10, random_seed=42)
    t = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):  # no progress bar
        fm.fit(None, train.rating.to_numpy(float), X_rel=[mf.RelationBlock(u, U), mf.RelationBlock(m, M)], n_iter=n, n_kept_samples=n)
    t = time.perf_counter() - t
    return rmse(fm.predict(None, X_rel=[mf.RelationBlock(vu, U), mf.RelationBlock(vm, M)]), valid.rating),t

def _surprise(algo):
    "A runner that fits the Surprise model `algo()` on `train` and scores it on `valid`."
    def run(train, valid, quick, tags):
        from surprise import Dataset, Reader
        lo,hi = min(train.rating.min(), valid.rating.min()),max(train.rating.max(), valid.rating.max())
        ts = Dataset.load_from_df(train[['user','movie','rating']], Reader(rating_scale=(lo, hi))).build_full_trainset()
        model = algo()
        t = time.perf_counter(); model.fit(ts); t = time.perf_counter() - t
        return rmse([model.predict(u, m).est for u,m in zip(valid.user, valid.movie)], valid.rating),t
    return run

def _svd():
    "Surprise's SVD with its defaults, seeded."
    from surprise import SVD
    return SVD(random_state=42)

def _svdpp():
    "Surprise's SVD++ with its defaults, seeded (ratings cached for speed)."
    from surprise import SVDpp
    return SVDpp(random_state=42, cache_ratings=True)

RUNNERS = dict(global_mean=global_mean, fastbook=fastbook, course_helpers=course_helpers, course_helpers_plain=course_helpers_plain,
               myfm=myfm, svd=_surprise(_svd), svdpp=_surprise(_svdpp))

def skip_reason(system:str):
    "Why `system` cannot run here, or None."
    for name,pkg,how in (('svd', 'surprise', 'scikit-surprise'), ('svdpp', 'surprise', 'scikit-surprise'), ('myfm', 'myfm', "myfm 'setuptools<81'")):
        if system != name: continue
        try:
            with warnings.catch_warnings(): warnings.simplefilter('ignore'); __import__(pkg)
        except ImportError: return f'{pkg} is not installed (a benchmark-only extra: pip install {how})'

def rows_key(system:str, train, valid, quick:bool)->str:
    "A key naming `system`'s run on exactly these rows: any change to the rows, or `quick`, gives another key."
    h = hashlib.sha1(f'{system} {quick}'.encode())
    for df in (train, valid): h.update(pd.util.hash_pandas_object(df[['user', 'movie', 'rating']], index=False).values.tobytes())
    return h.hexdigest()[:16]

def cached(system:str, split:str, train, valid, quick:bool, tags, cache:Path|None, refresh:bool=False):
    "(RMSE, train seconds) of `system` on `split`: read from `cache` if it holds this run (and not `refresh`), else run it and write it there."
    if cache is None: return RUNNERS[system](train, valid, quick, tags)
    key,res = rows_key(system, train, valid, quick),json.loads(cache.read_text()) if cache.exists() else {}
    if refresh or key not in res:
        r,t = RUNNERS[system](train, valid, quick, tags)
        res = res | {key: dict(system=system, split=split, rmse=r, train_s=t, cpus=os.cpu_count(),
               load=round(os.getloadavg()[0], 2), measured=time.strftime('%Y-%m-%d %H:%M'))}
        atomic_write(cache, json.dumps(res, indent=1))
    return res[key]['rmse'],res[key]['train_s']

def warm_up():
    "Pay PyTorch's one-time cost of a process's first `torch.optim` step (about a second: lazy imports) before timing."
    w = torch.nn.Parameter(torch.zeros(1)); w.grad = torch.zeros(1)
    torch.optim.AdamW([w], fused=True).step()

def fold_names(path:Path, splits:list)->list:
    "The fixed splits to run: u1 for 'u1', every u1..u5 with its two files for 'folds'."
    if 'folds' not in splits: return ['u1'] if 'u1' in splits else []
    return [f'u{k}' for k in range(1, 6) if (path/f'u{k}.base').exists() and (path/f'u{k}.test').exists()] or ['u1']

def table(rows:list)->str:
    "A Markdown table of the JSON rows: one line per system, one column per split, and the published u1 figures."
    splits = [s for s in SPLITS if any(r['split'] == s for r in rows)]
    def cell(r):
        if r is None: return ''
        if 'skipped' in r: return 'skipped'
        sd = f" ± {r['sd']:.4f}" if 'sd' in r else ' (1 fold)' if 'rmses' in r else ''
        return f"{r['rmse']:.4f}{sd} ({r['train_s']:.1f} s)"
    names = {'random': 'random 20%', 'u1': 'u1', 'folds': 'u1..u5 mean ± sd'}
    out = ['| system | ' + ' | '.join(f'{names[s]} RMSE (train s)' for s in splits) + ' |', '|---' * (len(splits)+1) + '|']
    for sys_ in dict.fromkeys(r['system'] for r in rows):
        out.append(f'| {sys_} | ' + ' | '.join(cell(next((r for r in rows if r['system'] == sys_ and r['split'] == s), None)) for s in splits) + ' |')
    for name,r in PUBLISHED.items():
        out.append(f'| {name} (published) | ' + ' | '.join(f'{r:.3f}' if s == 'u1' else '' for s in splits) + ' |')
    return '\n'.join(out)

@call_parse
def main(data:str=None,                     # folder in the ML-100k layout (default: the real ML-100k if present, else generated)
         split:str='random',                # comma-separated, from random, u1, folds
         systems:str=','.join(SYSTEMS),     # comma-separated, from global_mean, fastbook, course_helpers, course_helpers_plain, myfm, svd, svdpp
         quick:bool=False,                  # fastbook with 1 epoch instead of 5, myFM with 30 samples instead of 300 (for tests)
         cache:str=str(CACHE),              # file of myFM's results per split (kept between runs)
         refresh:bool=False,                # run myFM again and replace its cached results
        ):
    "Load the splits, print one JSON line per split and system, then a Markdown table."
    systems = [check_choice(s.strip(), 'systems', SYSTEMS) for s in systems.split(',') if s.strip()]
    splits = [check_choice(s.strip(), 'split', SPLITS) for s in split.split(',') if s.strip()]
    if data is not None: data = check_path(data, 'data', kind='dir')
    with contextlib.redirect_stdout(sys.stderr): path = movielens_path(data)  # keep stdout for the JSON lines
    cache = check_path(cache, 'cache', kind='file', exists=False)
    data = {}
    if 'random' in splits: data['random'] = load_split(path, 'random')
    for f in fold_names(path, splits): data[f] = load_split(path, f)
    tags = movielens_tags(path) if 'course_helpers' in systems and (path/'u.item').exists() else {}
    print(f'{path}: ' + ', '.join(f'{k} ({len(tr)} train, {len(va)} valid ratings)' for k,(tr,va) in data.items()) +
          f'; side information: {", ".join(k for k,v in tags.items() if v is not None) or "none"}; {os.cpu_count()} CPUs, '
          f'load {os.getloadavg()[0]:.1f}', file=sys.stderr)
    warm_up()
    rows = []
    def emit(r): rows.append(r); print(json.dumps(r), flush=True)
    for s in systems:
        if why := skip_reason(s):
            for sp in splits: emit(dict(split=sp, system=s, skipped=why))
            continue
        res = {k: cached(s, k, *data[k], quick, tags, cache if s == 'myfm' else None, refresh) for k in data}
        for sp in splits:
            if sp in ('random', 'u1'): emit(dict(split=sp, system=s, rmse=round(res[sp][0], 4), train_s=round(res[sp][1], 2)))
            else:
                rs,ts = np.array([res[f][0] for f in fold_names(path, splits)]),[res[f][1] for f in fold_names(path, splits)]
                emit(dict(split=sp, system=s, rmse=round(rs.mean(), 4), **({'sd': round(rs.std(ddof=1), 4)} if len(rs) > 1 else {}),
                          rmses=[round(r, 4) for r in rs], train_s=round(float(np.mean(ts)), 2)))
    print('\n' + table(rows), file=sys.stderr)
