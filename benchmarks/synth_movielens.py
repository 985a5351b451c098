"""Time and peak memory of generating MovieLens-shaped sets with `synth_movielens` and writing them with `write_movielens`.

    python benchmarks/synth_movielens.py [--sizes ml-100k,ml-1m,ml-10m,ml-25m] [--dir DIR]

Each size (`course_helpers.movielens_synth.ML_SIZES`) runs in a process of its own, so that its peak memory is its
own; the set is written into a temporary folder under `--dir` (default: the system's) and deleted afterwards.
Prints one JSON line per size: `generate_s` (synth_movielens), `write_s` (write_movielens: u.data, u.item, u1.base,
u1.test), `s_per_m` (both, per million ratings: flat when time grows linearly), `peak_gb` (peak resident memory of the
process) and `base_gb` (the same after the imports, before generating). The 25M set takes minutes and several GB:
run it alone, e.g. `nice python benchmarks/synth_movielens.py --sizes ml-25m`.
"""
import json, resource, subprocess, sys, tempfile, time
from pathlib import Path
from fastcore.script import call_parse

def peak_gb()->float:
    "Peak resident memory of this process so far, in GB (Linux reports KB)."
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/2**20

def one_size(size:str, folder:Path)->dict:
    "Generate and write the set `size` into `folder`; print its JSON line and return it."
    from course_helpers.movielens_synth import movielens_shape, synth_movielens, write_movielens
    kw,base = movielens_shape(size),peak_gb()
    t = time.perf_counter(); ratings,truth = synth_movielens(**kw); gen = time.perf_counter() - t
    with tempfile.TemporaryDirectory(dir=folder) as d:
        t = time.perf_counter(); write_movielens(ratings, truth, Path(d)/size); wr = time.perf_counter() - t
    r = dict(size=size, n_ratings=len(ratings), generate_s=round(gen, 1), write_s=round(wr, 1),
             s_per_m=round((gen + wr)/len(ratings)*1e6, 2), peak_gb=round(peak_gb(), 2), base_gb=round(base, 2))
    print(json.dumps(r), flush=True)
    return r

@call_parse
def main(sizes:str='ml-100k,ml-1m,ml-10m',  # comma-separated names of ML_SIZES (ml-25m: minutes, GBs)
         dir:str=None,                       # where the sets are written (and deleted); default: the system's temporary folder
         one:str=None,                       # run only this size, in this process (what each child process does)
        ):
    "Run each size in a child process and pass its JSON line through."
    from course_helpers.movielens_synth import ML_SIZES
    dir = dir or tempfile.gettempdir()
    if one: return one_size(one, Path(dir))
    names = [s.strip() for s in sizes.split(',') if s.strip()]
    if bad := [s for s in names if s not in ML_SIZES]: raise ValueError(f'sizes: unknown size {", ".join(bad)}: choose from {",".join(ML_SIZES)}')
    for s in names:
        r = subprocess.run([sys.executable, __file__, '--one', s, '--dir', str(dir)])
        if r.returncode: raise SystemExit(r.returncode)
