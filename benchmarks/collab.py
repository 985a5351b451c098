"""Collaborative filtering on one split: fastbook's recipe, course_helpers' recipe, Surprise's SVD and SVD++, a global mean.

    python benchmarks/collab.py [--data DIR] [--split random|u1] [--systems fastbook,course_helpers,...] [--quick] [--threads N]

`--data` is a folder in the ML-100k layout (u.data; u1.base and u1.test for `--split u1`); without it, the real
ML-100k in ~/.fastai/data/ml-100k if it is there, else a generated ML-100k-shaped set (`course_helpers.movielens.movielens_path`).
`random` is fastai's `RandomSplitter(valid_pct=0.2, seed=42)` over the rows of u.data; `u1` trains on u1.base and
scores u1.test. Every system trains on the same rows and is scored on the same rows.

Prints one JSON line per system, `{"system": ..., "rmse": ..., "train_s": ...}` (a system that cannot run prints
`{"system": ..., "skipped": why}` instead). `train_s` is the wall time of training alone (after PyTorch's one-time
cost of a process's first optimiser step, paid up front): compare systems within one run, not across machines.
fastbook's recipe runs on `--threads` PyTorch CPU threads (default 1, what the course_helpers recipe always uses: its
batches are too small to gain from more, and on a shared machine two threads can stall each other for minutes).
"""
import argparse, contextlib, json, os, sys, time
from pathlib import Path
import numpy as np, pandas as pd, torch
from fastai.collab import collab_learner
from fastai.torch_core import set_seed
from fastai.data.transforms import RandomSplitter
from course_helpers.movielens import mean_rmse, movielens_path, read_ratings
from course_helpers.collab_recipe import collab_dls, fit_collab, torch_threads, valid_rmse

SYSTEMS = ('global_mean', 'fastbook', 'course_helpers', 'svd', 'svdpp')
THREADS = 1  # PyTorch CPU threads for fastbook's recipe (`--threads`)

def load_split(path:Path, split:str):
    "(train, valid) rating tables of the folder `path` for `split`."
    if split == 'random':
        df = read_ratings(path/'u.data')
        tr,va = RandomSplitter(valid_pct=0.2, seed=42)(range(len(df)))
        return df.iloc[list(tr)].reset_index(drop=True),df.iloc[list(va)].reset_index(drop=True)
    return read_ratings(path/'u1.base'),read_ratings(path/'u1.test')

def rmse(pred, y):
    "Root mean squared error of `pred` against `y`."
    return float(np.sqrt(np.mean((np.asarray(pred, dtype=float) - np.asarray(y, dtype=float))**2)))

def global_mean(train, valid, quick):
    "Predict the mean training rating for every validation row: the baseline any model must beat."
    t = time.perf_counter(); r = mean_rmse(train.rating, valid.rating)
    return r, time.perf_counter() - t

def fastbook(train, valid, quick):
    "fastbook chapter 8: `collab_learner(dls, n_factors=50, y_range=(0, 5.5))`, `fit_one_cycle(5, 5e-3, wd=0.1)`, bs=64."
    set_seed(42, reproducible=True)  # fastai's shuffling draws from Python's and PyTorch's generators
    dls = collab_dls(train, valid, bs=64)
    learn = collab_learner(dls, n_factors=50, y_range=(0, 5.5))
    with learn.no_bar(), learn.no_logging(), torch_threads(THREADS):
        t = time.perf_counter(); learn.fit_one_cycle(1 if quick else 5, 5e-3, wd=0.1); t = time.perf_counter() - t
    return valid_rmse(learn),t

def course_helpers(train, valid, quick):
    "`course_helpers.collab_recipe.fit_collab` with its defaults, which scale with the data."
    dls = collab_dls(train, valid)
    t = time.perf_counter(); learn,r = fit_collab(dls, seed=42); t = time.perf_counter() - t
    return r,t

def _surprise(algo):
    "A runner that fits the Surprise model `algo()` on `train` and scores it on `valid`."
    def run(train, valid, quick):
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

RUNNERS = dict(global_mean=global_mean, fastbook=fastbook, course_helpers=course_helpers,
               svd=_surprise(_svd), svdpp=_surprise(_svdpp))

def skip_reason(system:str):
    "Why `system` cannot run here, or None."
    if system in ('svd', 'svdpp'):
        try: import surprise
        except ImportError: return 'scikit-surprise is not installed (a benchmark-only extra: pip install scikit-surprise)'

def warm_up():
    "Pay PyTorch's one-time cost of a process's first `torch.optim` step (about a second: lazy imports) before timing."
    w = torch.nn.Parameter(torch.zeros(1)); w.grad = torch.zeros(1)
    torch.optim.AdamW([w], fused=True).step()

def main(argv=None):
    "Parse the command line, load the split, and print one JSON line per system."
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--data', type=Path, help='folder in the ML-100k layout (default: real ML-100k if present, else generated)')
    p.add_argument('--split', choices=('random', 'u1'), default='random')
    p.add_argument('--systems', default=','.join(SYSTEMS), help=f'comma-separated, from {",".join(SYSTEMS)}')
    p.add_argument('--quick', action='store_true', help='fastbook with 1 epoch instead of 5 (for tests)')
    p.add_argument('--threads', type=int, default=1, help="PyTorch CPU threads for fastbook's recipe (course_helpers' uses 1)")
    a = p.parse_args(argv)
    global THREADS; THREADS = a.threads
    systems = [s.strip() for s in a.systems.split(',') if s.strip()]
    bad = [s for s in systems if s not in RUNNERS]
    if bad: p.error(f'unknown system {", ".join(bad)}: choose from {",".join(SYSTEMS)}')
    with contextlib.redirect_stdout(sys.stderr): path = movielens_path(a.data)  # keep stdout for the JSON lines
    if not path.is_dir(): p.error(f'--data {path}: no such folder')
    try: train,valid = load_split(path, a.split)
    except (FileNotFoundError, ValueError) as e: p.error(str(e))
    print(f'{path}: split {a.split}, {len(train)} train and {len(valid)} valid ratings, '
          f'fastbook on {a.threads} torch thread(s), {os.cpu_count()} CPUs', file=sys.stderr)
    warm_up()
    for s in systems:
        why = skip_reason(s)
        if why: print(json.dumps(dict(system=s, skipped=why)), flush=True); continue
        r,t = RUNNERS[s](train, valid, a.quick)
        print(json.dumps(dict(system=s, rmse=round(r, 4), train_s=round(t, 2))), flush=True)

if __name__ == '__main__': main()
