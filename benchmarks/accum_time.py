"""Time per epoch of gradient accumulation on the CPU, at a fixed effective batch.

Model: `course_helpers.test_utils.accum_cnn` (no BatchNorm) on N random 3 x SIZE x SIZE images per epoch, SGD. The
effective batch (samples per optimizer step) stays BS; accumulation ACCUM cuts it into micro-batches of BS/ACCUM.
Two training loops, each timed on the same data:
  scratch_s  `train_accum`, the from-scratch loop of 00_accum
  fastai_s   a fastai `Learner` with `micro_batches(BS, ACCUM)` (its GradientAccumulation callback), one epoch of
             `fit` (the validation set is one batch, so the figure is nearly all training)
Each figure is the median over --reps epochs after one warm-up epoch, in seconds; `*_ratio` divides by the first
setting's time. The same table goes to --out as JSON (default benchmarks/results/accum_time.json), which the notebook
00_accum shows; pass --out '' to skip writing it.

    python benchmarks/accum_time.py [--bs 64] [--size 32] [--n 512] [--accums 1,2,4,8] [--reps 3] [--out PATH]
"""
import json, platform, statistics, time
from datetime import date
from pathlib import Path
import course_helpers  # first: hides fastai's torch.jit.script FutureWarning
import pandas as pd, torch, torch.nn.functional as F
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader
from fastai.learner import Learner
from fastai.optimizer import SGD
from fastcore.script import call_parse
from course_helpers.accum import train_accum, micro_batches
from course_helpers.checks import check_count, check_count_list
from course_helpers.files import atomic_write
from course_helpers.test_utils import accum_cnn, rand_batch

def median_time(f, reps:int)->float:
    "Median wall time of `f()` over `reps` calls, after one warm-up call."
    f()
    ts = []
    for _ in range(reps):
        t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
    return statistics.median(ts)

def scratch_epoch(xs, ys, bs:int, accum:int):
    "A function that trains a fresh `accum_cnn` for one epoch with `train_accum`."
    model = accum_cnn(); opt = torch.optim.SGD(model.parameters(), 0.01)
    mb = bs//accum
    return lambda: train_accum(model, opt, F.cross_entropy, zip(xs.split(mb), ys.split(mb)), bs)

def fastai_epoch(xs, ys, bs:int, accum:int):
    "A function that trains a fastai `Learner` on `accum_cnn` for one epoch with `micro_batches(bs, accum)`."
    mb,cbs = micro_batches(bs, accum)
    items = list(zip(xs, ys))
    dls = DataLoaders(DataLoader(items, bs=mb, shuffle=True, drop_last=True), DataLoader(items[:mb], bs=mb))
    learn = Learner(dls, accum_cnn(), loss_func=F.cross_entropy, opt_func=SGD, lr=0.01, cbs=cbs)
    def f():
        with learn.no_bar(), learn.no_logging(): learn.fit(1)
    return f

def accum_times(accums=(1,2,4,8), bs:int=64, size:int=32, n:int=512, reps:int=3)->pd.DataFrame:
    "Median seconds per epoch of both loops for each accumulation setting, and their ratios to the first."
    accums = check_count_list(accums, 'accums')
    bs,size,n,reps = check_count(bs, 'bs'), check_count(size, 'size'), check_count(n, 'n'), check_count(reps, 'reps')
    if bad := [a for a in accums if bs % a]: raise ValueError(f"bs must be a multiple of every one of accums, got {bs} (not a multiple of {bad})")
    if n < bs: raise ValueError(f"n must be at least bs={bs} (else an epoch takes no optimizer step), got {n}")
    xs,ys = rand_batch(n, size)
    rows = []
    for a in accums:
        torch.manual_seed(0)
        rows.append(dict(accum=a, micro_bs=bs//a, steps=n//bs, scratch_s=median_time(scratch_epoch(xs, ys, bs, a), reps),
                         fastai_s=median_time(fastai_epoch(xs, ys, bs, a), reps)))
    df = pd.DataFrame(rows)
    for c in ('scratch', 'fastai'): df[f'{c}_ratio'] = df[f'{c}_s'] / df[f'{c}_s'][0]
    return df.round(4)

def cpu_name()->str:
    "The CPU's model name (from /proc/cpuinfo on Linux), else what `platform` knows."
    info = Path('/proc/cpuinfo')
    if info.exists():
        for line in info.read_text().splitlines():
            if line.startswith('model name'): return line.split(':', 1)[1].strip()
    return platform.processor() or platform.machine()

@call_parse
def main(bs:int=64,          # effective batch size
         size:int=32,        # image side in pixels
         n:int=512,          # training images per epoch
         accums:str='1,2,4,8', # comma-separated accumulation steps; the first is the reference
         reps:int=3,         # timed epochs per setting (after one warm-up)
         out:str=str(Path(__file__).parent/'results'/'accum_time.json'), # JSON file to write; '' for none
        ):
    "Time one epoch of `train_accum` and of a fastai `Learner` at effective batch `bs` for each accumulation setting."
    machine = f"{cpu_name()}, {torch.get_num_threads()} torch threads"
    print(f"accum_cnn, effective batch {bs}, {n} images of 3x{size}x{size} per epoch, torch {torch.__version__}, {machine}")
    df = accum_times(accums, bs, size, n, reps)
    print(f"\nseconds per epoch (median of {reps}), CPU:")
    print(df.to_string(index=False))
    if out:
        res = dict(machine=machine, torch=torch.__version__, date=str(date.today()), bs=bs, size=size, n=n,
                   reps=reps, rows=df.to_dict('records'))
        print(f"\nwrote {atomic_write(out, json.dumps(res, indent=1))}")   # never half a file
