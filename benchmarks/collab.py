"""Collaborative filtering on ML-100k's splits: fastbook's recipe, course_helpers' recipe, Surprise's SVD and SVD++, a global mean.

    python benchmarks/collab.py [--data DIR] [--split random,u1,folds] [--systems fastbook,course_helpers,...] [--quick] [--threads N]

`--data` is a folder in the ML-100k layout (u.data; u1.base/u1.test ... u5.base/u5.test for the fixed splits); without
it, the real ML-100k in ~/.fastai/data/ml-100k if it is there, else a generated ML-100k-shaped set
(`course_helpers.movielens.movielens_path`). `--split` takes one or more of:

- `random`: fastai's `RandomSplitter(valid_pct=0.2, seed=42)` over the rows of u.data;
- `u1`: train on u1.base, score u1.test (the split the literature's ML-100k figures use);
- `folds`: u1 to u5 (the five test sets share no rating), reported as mean and standard deviation over the folds
  present (a generated set has only u1).

Every system trains on the same rows and is scored on the same rows. `course_helpers` is `fit_collab` with the
movie tags of the folder's u.item (`movielens_tags`: genres and release decade; the user tags of u.user are left out,
as 04_collab_recipe's ablation found they do not help); `course_helpers_plain` is the same recipe without them
(Surprise's models and fastbook's use none).

Prints one JSON line per split and system on stdout: `{"split": ..., "system": ..., "rmse": ..., "train_s": ...}`,
for `folds` also the per-fold `rmses` and, from two folds, their standard deviation `sd` (`rmse` and `train_s` are then
means over the folds); a system that
cannot run prints `{"split": ..., "system": ..., "skipped": why}`. At the end it prints a Markdown table of the same
figures on stderr, beside the u1 RMSEs published for GC-MC (0.910), IGMC (0.905) and GLocal-K (0.889). `train_s` is the
wall time of training alone (after PyTorch's one-time cost of a process's first optimiser step, paid up front): compare
systems within one run, not across machines. fastbook's recipe runs on `--threads` PyTorch CPU threads (default 1, what
the course_helpers recipe uses at ML-100k's size: its batches are too small to gain from more, and on a shared machine
two threads can stall each other for minutes).
"""
import argparse, contextlib, json, os, sys, time
from pathlib import Path
import course_helpers  # first: hides fastai's torch.jit.script FutureWarning
import numpy as np, pandas as pd, torch
from fastai.collab import collab_learner
from fastai.torch_core import set_seed
from fastai.data.transforms import RandomSplitter
from course_helpers.movielens import mean_rmse, movielens_path, movielens_rating_range, read_ratings
from course_helpers.collab_recipe import collab_dls, fit_collab, movielens_tags, torch_threads, valid_rmse

SYSTEMS = ('global_mean', 'fastbook', 'course_helpers', 'course_helpers_plain', 'svd', 'svdpp')
SPLITS = ('random', 'u1', 'folds')
PUBLISHED = {'GC-MC': 0.910, 'IGMC': 0.905, 'GLocal-K': 0.889}  # u1 RMSEs as their papers report them
THREADS = 1  # PyTorch CPU threads for fastbook's recipe (`--threads`)

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
    "fastbook chapter 8: `collab_learner(dls, n_factors=50, y_range=(0, 5.5))`, `fit_one_cycle(5, 5e-3, wd=0.1)`, bs=64."
    set_seed(42, reproducible=True)  # fastai's shuffling draws from Python's and PyTorch's generators
    dls = collab_dls(train, valid, bs=64)
    learn = collab_learner(dls, n_factors=50, y_range=(0, 5.5))
    with learn.no_bar(), learn.no_logging(), torch_threads(THREADS):
        t = time.perf_counter(); learn.fit_one_cycle(1 if quick else 5, 5e-3, wd=0.1); t = time.perf_counter() - t
    return valid_rmse(learn),t

def course_helpers(train, valid, quick, tags):
    "`course_helpers.collab_recipe.fit_collab` with its defaults, which scale with the data, and the folder's side information."
    dls = collab_dls(train, valid)
    t = time.perf_counter(); learn,r = fit_collab(dls, seed=42, device='cpu', **tags); t = time.perf_counter() - t
    return r,t

def course_helpers_plain(train, valid, quick, tags):
    "`fit_collab` without side information: the rules alone."
    return course_helpers(train, valid, quick, {})

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

def main(argv=None):
    "Parse the command line, load the splits, print one JSON line per split and system, then a Markdown table."
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--data', type=Path, help='folder in the ML-100k layout (default: real ML-100k if present, else generated)')
    p.add_argument('--split', default='random', help=f'comma-separated, from {",".join(SPLITS)} (default random)')
    p.add_argument('--systems', default=','.join(SYSTEMS), help=f'comma-separated, from {",".join(SYSTEMS)}')
    p.add_argument('--quick', action='store_true', help='fastbook with 1 epoch instead of 5 (for tests)')
    p.add_argument('--threads', type=int, default=1, help="PyTorch CPU threads for fastbook's recipe (course_helpers' picks its own)")
    a = p.parse_args(argv)
    global THREADS; THREADS = a.threads
    systems = [s.strip() for s in a.systems.split(',') if s.strip()]
    if bad := [s for s in systems if s not in RUNNERS]: p.error(f'unknown system {", ".join(bad)}: choose from {",".join(SYSTEMS)}')
    splits = [s.strip() for s in a.split.split(',') if s.strip()]
    if bad := [s for s in splits if s not in SPLITS]: p.error(f'unknown split {", ".join(bad)}: choose from {",".join(SPLITS)}')
    with contextlib.redirect_stdout(sys.stderr): path = movielens_path(a.data)  # keep stdout for the JSON lines
    if not path.is_dir(): p.error(f'--data {path}: no such folder')
    data = {}
    try:
        if 'random' in splits: data['random'] = load_split(path, 'random')
        for f in fold_names(path, splits): data[f] = load_split(path, f)
        tags = movielens_tags(path) if 'course_helpers' in systems and (path/'u.item').exists() else {}
    except (FileNotFoundError, ValueError) as e: p.error(str(e))
    print(f'{path}: ' + ', '.join(f'{k} ({len(tr)} train, {len(va)} valid ratings)' for k,(tr,va) in data.items()) +
          f'; side information: {", ".join(k for k,v in tags.items() if v is not None) or "none"}; fastbook on {a.threads} torch thread(s), '
          f'{os.cpu_count()} CPUs', file=sys.stderr)
    warm_up()
    rows = []
    def emit(r): rows.append(r); print(json.dumps(r), flush=True)
    for s in systems:
        if why := skip_reason(s):
            for sp in splits: emit(dict(split=sp, system=s, skipped=why))
            continue
        res = {k: RUNNERS[s](*data[k], a.quick, tags) for k in data}
        for sp in splits:
            if sp in ('random', 'u1'): emit(dict(split=sp, system=s, rmse=round(res[sp][0], 4), train_s=round(res[sp][1], 2)))
            else:
                rs,ts = np.array([res[f][0] for f in fold_names(path, splits)]),[res[f][1] for f in fold_names(path, splits)]
                emit(dict(split=sp, system=s, rmse=round(rs.mean(), 4), **({'sd': round(rs.std(ddof=1), 4)} if len(rs) > 1 else {}),
                          rmses=[round(r, 4) for r in rs], train_s=round(float(np.mean(ts)), 2)))
    print('\n' + table(rows), file=sys.stderr)

if __name__ == '__main__': main()
