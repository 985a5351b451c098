"""Peak memory of one training step at a fixed effective batch, for several gradient-accumulation settings.

Model: `course_helpers.test_utils.accum_cnn` on random 3 x SIZE x SIZE images (full-resolution activations dominate).
Each setting runs in its own fresh process (`accum_memory`, the helper the lesson's plot uses). Columns:
  peak_MB    the allocator's peak during the step: CPU from torch.profiler's memory events, CUDA from
             torch.cuda.max_memory_allocated (both minus what was allocated before the step)
  ratio      peak_MB / peak_MB at the first setting (accumulation 1)
  rss_MB     CPU only: the process's peak resident set during the step minus its resident set just before
  rss_ratio  rss_MB / rss_MB at the first setting
The CUDA table is printed when a GPU is present. On CUDA part of the peak does not shrink with the micro-batch
(library workspaces such as cuDNN's are the usual cause; this script does not break it down), so its ratios fall
less than the CPU's.

    python benchmarks/accum_memory.py [--bs 64] [--size 64] [--accums 1,2,4,8]
"""
import time, torch
from fastcore.script import call_parse
from course_helpers.test_utils import accum_memory

@call_parse
def main(bs:int=64,            # effective batch size
         size:int=64,          # image side in pixels
         accums:str='1,2,4,8', # comma-separated accumulation steps; the first is the reference
        ):
    "Print the peak memory of one step of `accum_cnn` for each accumulation setting, on the CPU and on CUDA if present."
    print(f"accum_cnn, effective batch {bs}, 3x{size}x{size} images, torch {torch.__version__}")
    devices = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])
    for dev in devices:
        t = time.perf_counter()
        df = accum_memory(accums, bs, size, dev)
        name = torch.cuda.get_device_name() if dev == 'cuda' else 'CPU'
        print(f"\n{dev} ({name}), one step per setting, each in a fresh process ({time.perf_counter()-t:.1f} s):")
        print(df.to_string(index=False))
    if 'cuda' not in devices: print("\n(no CUDA device: CUDA table skipped)")
