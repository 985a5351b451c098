"""How fast `read_ratings` and `read_movies` read big files, beside a plain `pandas.read_csv` of the same file.

    python benchmarks/read_ratings.py [--rows 5000000] [--item_rows 5000000] [--repeat 3] [--dir DIR]

Writes two u.data-format files of `--rows` random ratings with ML-25M-like ids (whole stars as in ML-100k, and half
stars as in ML-25M) and a u.item-format file of `--item_rows` movies into a temporary folder under `--dir`, reads
each with fastbook's `pd.read_csv` call and with the checked reader, and prints one JSON line per file: the best of
`--repeat` wall times of each (taken in turn), and their ratio (the target: 1.5 or less). A last line times the error path: the
half-star file with one bad value on its last line.
"""
import gc, json, tempfile, time
from pathlib import Path
import numpy as np, pandas as pd
from fastcore.script import call_parse
from course_helpers.movielens import RATING_COLS, read_movies, read_ratings

def best_times(fs, repeat:int)->list:
    "Shortest wall time of each function in `fs` over `repeat` rounds that call them in turn (a load on the machine hits both)."
    ts = [[] for _ in fs]
    for _ in range(repeat):
        for f,t in zip(fs, ts):
            gc.collect(); t0 = time.perf_counter(); f(); t.append(time.perf_counter() - t0)
    return [min(t) for t in ts]

def write_files(d:Path, rows:int, item_rows:int, seed=0):
    "Files in `d`: u.data (whole stars) and half.data (half stars) of `rows` ratings, u.item of `item_rows` movies."
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(dict(user=rng.integers(1, 162_542, rows), movie=rng.integers(1, 59_048, rows), rating=rng.integers(1, 11, rows),
                           timestamp=rng.integers(789_652_009, 1_574_327_703, rows)))
    df.assign(rating=(df.rating+1)//2).to_csv(d/'u.data', sep='\t', header=False, index=False)
    df.assign(rating=df.rating/2).to_csv(d/'half.data', sep='\t', header=False, index=False)
    flags = '|'.join('0'*19)
    with open(d/'u.item', 'w', encoding='latin-1') as f:
        f.writelines(f'{i}|Movie number {i} ({1900 + i%120})|01-Jan-1995||http://example.com/{i}|{flags}\n' for i in range(1, item_rows+1))

@call_parse
def main(rows:int=5_000_000,       # ratings in each u.data-format file
         item_rows:int=5_000_000,  # movies in the u.item-format file
         repeat:int=3,             # rounds of timing; the best of each reader is kept
         dir:str=None,             # where the temporary folder goes (default: the system's)
        )->list:                   # the JSON lines' dicts
    "Write the files, time both readers on each, print JSON lines."
    out = []
    def emit(r): out.append(r); print(json.dumps(r), flush=True)
    with tempfile.TemporaryDirectory(dir=dir) as d:
        d = Path(d); write_files(d, rows, item_rows)
        runs = []
        for f,rng in (('u.data', (1, 5)), ('half.data', (0.5, 5))):
            plain = lambda f=f: pd.read_csv(d/f, delimiter='\t', header=None, names=list(RATING_COLS))
            ours = lambda f=f,rng=rng: read_ratings(d/f, rating_range=rng)
            pd.testing.assert_frame_equal(ours(), plain())  # the same table
            runs.append((f'read_ratings ({f})', rows, plain, ours))
        plain = lambda: pd.read_csv(d/'u.item', delimiter='|', encoding='latin-1', usecols=(0, 1), names=('movie', 'title'), header=None)
        runs.append(('read_movies (u.item)', item_rows, plain, lambda: read_movies(d/'u.item')))
        for name,n,f0,f1 in runs:
            t0,t1 = best_times([f0, f1], repeat)
            emit(dict(reader=name, rows=n, read_csv_s=round(t0, 2), reader_s=round(t1, 2), ratio=round(t1/t0, 2)))
        with open(d/'half.data', 'a') as f: f.write('1\t1\tfour\t1\n')
        def bad():
            try: read_ratings(d/'half.data', rating_range=(0.5, 5))
            except ValueError as e: return str(e)
        t = time.perf_counter(); msg = bad(); t = time.perf_counter() - t
        emit(dict(reader='read_ratings (half.data, bad last line)', rows=rows+1, reader_s=round(t, 2), error=msg[len(str(d))+1:]))
    return out
