"""How the collaborative filtering recipe's time, memory and error grow with the data, from ML-100k's size to ML-25M's.

    python benchmarks/collab_scale.py [--sizes ml-100k,ml-1m,ml-10m,ml-25m] [--device cpu|cuda] [--threads 2]
                                      [--fastbook_cap 600] [--out PATH] [--plot PATH] [--plot_only]

For each size (`course_helpers.movielens_synth.ML_SIZES`: generated sets shaped like MovieLens 100k, 1M, 10M and 25M,
cached under `data_home()`, generated on first use in a process of its own and timed as `gen_s`), in a process of its
own so that its peak memory is its own:

- `read_s`: `read_ratings` of u1.base and u1.test (the generator's 80/20 split); `dls_s`: `collab_dls` on them and the
  movie tags (`movielens_tags`: genres, release decade); `load_s`: both;
- `bs`, `decay`, `implicit`: what `collab_hparams` derives from the training ratings' size (batch size, decay exponent, implicit feedback);
- `train_s`, `rmse`: `fit_collab(dls, item_tags=...)` on `--device`, and its validation RMSE; `global_mean_rmse`, and
  `floor`, the RMSE of the generator's expected ratings (no model can expect to beat it);
- `peak_gb`: the process's peak resident memory after loading and training (Linux's ru_maxrss), `gpu_peak_gb` on CUDA;
- fastbook's recipe (`fit_fastbook`: `collab_learner(dls, n_factors=50, y_range=(0, 5.5))`, `fit_one_cycle(5, 5e-3, wd=0.1)`
  at bs=64, on one CPU thread) on the same split and device, stopped by a callback once its training has run `--fastbook_cap`
  seconds: its RMSE and time where it finished (`fastbook_status` 'finished'), else where it stopped; after a size where it
  did not finish it is not run on the larger ones. Nothing is extrapolated. `--fastbook_cap 0` skips it.

Prints one JSON line per size, writes them to `--out` (default benchmarks/results/collab_scale_<device>.json), then
draws time against ratings on log-log axes from every results file there is (CPU and, once a GPU run's file is copied
into benchmarks/results/, CUDA) into `--plot` (default benchmarks/collab_scale.png) and prints a Markdown table of
them. `--plot_only` just redraws the plot and the table from the results files (and `--out`, if given). PyTorch uses `--threads` CPU threads
(default: all cores); the recipe uses one for ML-100k-sized batches and all of them from 16,384 rows a batch.
The 25M set takes minutes to generate the first time and several GB: run it alone, on a quiet machine, under `nice`.
"""
import json, os, platform, subprocess, sys, time
from pathlib import Path
import fastcore
from fastcore.script import call_parse

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))  # this checkout's course_helpers, installed or not (a bare GPU machine has only the checkout)
import course_helpers  # first: hides fastai's torch.jit.script FutureWarning
from course_helpers.checks import check_choice, check_count, check_device, check_real, check_path
from course_helpers.files import atomic_write
from course_helpers.movielens_synth import ML_SIZES
from synth_movielens import peak_gb

# the child's --fastbook_cap flag as call_parse spells it: fastcore 1 keeps the `_`, fastcore 2 writes `-` (each refuses the other)
CAP_FLAG = '--fastbook-cap' if int(fastcore.__version__.split('.')[0]) >= 2 else '--fastbook_cap'

RESULTS = ROOT/'results'
SIZES = tuple(ML_SIZES)

def device_name(device:str)->str:
    "The device in words: the GPU's name for CUDA, else the CPU and its cores."
    import torch
    if device.startswith('cuda'): return f'{torch.cuda.get_device_name(torch.device(device))} (CUDA)'
    return f'{platform.processor() or platform.machine()} CPU, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads'

def fastbook_fit(train, valid, device:str, cap:float):
    "fastbook chapter 8's recipe (`fit_fastbook`), stopped once training has run `cap` seconds: (RMSE, seconds, status)."
    from fastai.callback.core import Callback, CancelFitException
    from course_helpers.collab_recipe import fit_fastbook
    class TimeCap(Callback):
        "Stop the fit once it has run `cap` seconds; remember how far it got."
        def before_fit(self): self.t0,self.stopped = time.perf_counter(),False
        def after_batch(self):
            if time.perf_counter() - self.t0 > cap: self.stopped = True; raise CancelFitException
    learn,r,t = fit_fastbook(train, valid, device=device, cbs=(cap_cb := TimeCap()))
    done = learn.epoch + (learn.iter + 1)/len(learn.dls.train)
    return r,t,('finished' if not cap_cb.stopped else f'stopped at the {cap:g} s cap after {done:.2f} of 5 epochs')

def one_size(size:str, device:str, cap:float):
    "Load, train and score the set `size` in this process; print its JSON line."
    import torch
    import course_helpers  # first: hides fastai's torch.jit.script FutureWarning
    from course_helpers.movielens import read_ratings, mean_rmse, movielens_rating_range
    from course_helpers.movielens_synth import cached_synth_movielens, movielens_shape, movielens_truth
    from course_helpers.collab_recipe import collab_dls, fit_collab, movielens_tags, collab_hparams
    path = cached_synth_movielens(**movielens_shape(size))  # generated already, in a process of its own (`generate`)
    rr = movielens_rating_range(path)
    base = peak_gb()
    t = time.perf_counter(); train,valid = read_ratings(path/'u1.base', rr),read_ratings(path/'u1.test', rr); read_s = time.perf_counter() - t
    t = time.perf_counter(); dls = collab_dls(train, valid); tags = movielens_tags(path); dls_s = time.perf_counter() - t
    if device.startswith('cuda'): torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter(); learn,rmse = fit_collab(dls, device=device, **tags); train_s = time.perf_counter() - t
    hp = collab_hparams(len(train), train.user.nunique(), train.movie.nunique())
    res = dict(size=size, device=device_name(device), n_ratings=len(train)+len(valid), n_train=len(train), bs=hp['bs'], decay=round(hp['decay'], 2), implicit=hp['implicit'],
               read_s=round(read_s, 1), dls_s=round(dls_s, 1), load_s=round(read_s + dls_s, 1), train_s=round(train_s, 1),
               rmse=round(rmse, 4), global_mean_rmse=round(mean_rmse(train.rating, valid.rating), 4),
               floor=round(movielens_truth(path).best_rmse(valid), 4), peak_gb=round(peak_gb(), 2), base_gb=round(base, 2))
    if device.startswith('cuda'): res['gpu_peak_gb'] = round(torch.cuda.max_memory_allocated()/2**30, 2)
    del learn, dls
    if cap > 0:
        r,t,status = fastbook_fit(train, valid, device, cap)
        res |= dict(fastbook_rmse=round(r, 4), fastbook_train_s=round(t, 1), fastbook_status=status)
    else: res['fastbook_status'] = 'not run'
    print(json.dumps(res), flush=True)

def generate(size:str)->float:
    "Generate and cache the set `size` if it is not cached yet; the seconds that took (0 if it was cached)."
    import course_helpers
    from course_helpers.movielens_synth import cached_synth_movielens, movielens_shape
    t = time.perf_counter(); cached_synth_movielens(**movielens_shape(size)); return time.perf_counter() - t

def results_files()->list:
    "Every results file in benchmarks/results, CPU first."
    return sorted(RESULTS.glob('collab_scale_*.json'), key=lambda p: (p.stem != 'collab_scale_cpu', p.stem))

def table(runs:dict)->str:
    "A Markdown table: one row per size, the recipe's figures per device, fastbook's where it ran."
    out = ['| set | ratings | device | decay D | load s | train s | peak GB | recipe RMSE | fastbook RMSE (train s) | global mean | floor |',
           '|---|---:|---|---:|---:|---:|---:|---:|---|---:|---:|']
    for dev,rows in runs.items():
        for r in rows:
            fb = (f"{r['fastbook_rmse']:.4f} ({r['fastbook_train_s']:.0f} s)" if r['fastbook_status'] == 'finished'
                  else r['fastbook_status'] if r['fastbook_status'].startswith('not run') else f"did not finish: {r['fastbook_status']}")
            mem = f"{r['peak_gb']:.1f}" + (f" (GPU {r['gpu_peak_gb']:.1f})" if 'gpu_peak_gb' in r else '')
            out.append(f"| {r['size']} | {r['n_ratings']:,} | {r['device']} | {r.get('decay', 'not recorded')} | {r['load_s']:.1f} | {r['train_s']:.1f} | {mem} | "
                       f"{r['rmse']:.4f} | {fb} | {r['global_mean_rmse']:.4f} | {r['floor']:.4f} |")
    return '\n'.join(out)

def draw(runs:dict, fname:Path):
    "Time against ratings on log-log axes: the recipe's training and loading per device, fastbook's training where it finished."
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig,ax = plt.subplots(figsize=(6.5, 4.2))
    for k,(dev,rows) in enumerate(runs.items()):
        n = [r['n_ratings'] for r in rows]
        ax.plot(n, [r['train_s'] for r in rows], 'o-', c=f'C{k}', label=f'recipe: training ({dev})')
        if k == 0: ax.plot(n, [r['load_s'] for r in rows], 's--', c='C7', label='recipe: loading (read + collab_dls)')
        fb = [(r['n_ratings'], r['fastbook_train_s']) for r in rows if r['fastbook_status'] == 'finished']
        if fb: ax.plot(*zip(*fb), '^:', c=f'C{k+3}', label=f"fastbook's recipe: training ({dev})")
    first = next(iter(runs.values()))[0]
    xs = [r['n_ratings'] for rows in runs.values() for r in rows]
    ax.plot([min(xs), max(xs)], [first['train_s'], first['train_s']*max(xs)/min(xs)], c='k', lw=0.8, alpha=0.4, label='proportional to the ratings')
    ax.set(xscale='log', yscale='log', xlabel='ratings (80% train, 20% valid)', ylabel='seconds', title='Collaborative filtering recipe at MovieLens sizes')
    ax.legend(fontsize=7); fig.tight_layout(); fig.savefig(fname, dpi=100); plt.close(fig)

@call_parse
def main(sizes:str=','.join(SIZES),   # comma-separated, from ml-100k, ml-1m, ml-10m, ml-25m
         device:str='cpu',            # 'cpu' or 'cuda' (or 'cuda:1', ...)
         threads:int=os.cpu_count(),  # PyTorch CPU threads (default: all cores)
         fastbook_cap:float=600,      # seconds fastbook's recipe may train per size (0: skip it)
         out:str=None,                # results file (default benchmarks/results/collab_scale_<device>.json)
         plot:str=str(ROOT/'collab_scale.png'), # PNG to draw ('' to skip)
         plot_only:bool=False,        # only redraw the plot and the table from the results files (and --out)
         one:str=None,                # (internal) run this one size in this process
         gen:str=None,                # (internal) generate this one size in this process
        ):
    "Run each size in a child process, collect its JSON line, write the results, the plot and the table."
    threads,cap = check_count(threads, 'threads'),check_real(fastbook_cap, 'fastbook_cap', ge=0)
    if gen: return print(json.dumps(dict(gen_s=round(generate(check_choice(gen, 'gen', SIZES)), 1))))
    if one:
        import torch; torch.set_num_threads(threads)
        return one_size(check_choice(one, 'one', SIZES), device, cap)
    out = None if out is None else check_path(out, 'out', kind='file', exists=False)
    if not plot_only:
        sizes = [check_choice(s.strip(), 'sizes', SIZES) for s in sizes.split(',') if s.strip()]
        check_device(device)
        rows = []
        for s in sizes:
            g = subprocess.run([sys.executable, __file__, '--gen', s], stdout=subprocess.PIPE, text=True)
            if g.returncode: sys.exit(f'{s}: generating the set failed (exit code {g.returncode})')
            r = subprocess.run([sys.executable, __file__, '--one', s, '--device', device, '--threads', str(threads),
                                CAP_FLAG, str(cap)], stdout=subprocess.PIPE, text=True)
            if r.returncode: sys.exit(f'{s}: the child process failed (exit code {r.returncode})')
            row = json.loads(r.stdout.strip().splitlines()[-1]) | json.loads(g.stdout.strip().splitlines()[-1])
            if row['fastbook_status'] == 'not run' and cap == 0 and fastbook_cap > 0:
                row['fastbook_status'] = f'not run: it did not finish on a smaller set within {fastbook_cap:g} s'
            print(json.dumps(row), flush=True); rows.append(row)
            if row['fastbook_status'].startswith('stopped'): cap = 0
        out = out or RESULTS/f"collab_scale_{device.split(':')[0]}.json"
        atomic_write(out, json.dumps(rows, indent=1))
    files = results_files()
    if out is not None and out.resolve() not in [f.resolve() for f in files]: files.append(out)
    runs = {rows[0]['device']: rows for f in files if (rows := json.loads(f.read_text()))}
    if not runs: raise FileNotFoundError(f'no results in {RESULTS}: run without --plot_only first')
    if plot not in ('', '.'): draw(runs, Path(plot))
    print('\n' + table(runs), file=sys.stderr)
