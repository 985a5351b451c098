"""GPU memory of gradient accumulation with convnext_small, at effective batch 64.

What the course did (*Road to the Top, part 3*): fine-tune timm's `convnext_small_in22k` with fastai's `to_fp16`, at
`bs=64//accum` with `GradientAccumulation(64)`, on images squished to 480 px and augmented on the GPU down to 128 px
(`aug_transforms(size=128, min_scale=0.75)`); its notebook reports about 5 GB of GPU memory at accum=1, 4 GB at 2 and
less at 4. Its final models trained at 224 px.

What this script runs, on one CUDA device (no downloads):
  model      torchvision `convnext_small(weights=None, num_classes=10)`: the same architecture as timm's, random
             weights (memory does not depend on the weights' values); every layer trained, as after `unfreeze`
  precision  `torch.autocast(float16)` with a `GradScaler`, what fastai's `to_fp16` does; weights stay float32
  optimizer  `torch.optim.Adam` (fastai's default optimizer is Adam; its two running averages per weight are here)
  input      random 3 x SIZE x SIZE float batches created on the GPU, SIZE in --sizes (default 128, the course's memory
             test, and 224). The course's pipeline also held each 480-px batch on the GPU for augmentation (about
             0.2 GB more at batch 64): not included here.
The measurement: accumulation 1, 2, 4 at effective batch 64, one optimizer step = ACCUM micro-batches of 64/ACCUM,
measured on the second step (the first also creates Adam's state). Columns: alloc_GiB, the peak of live tensors
(`max_memory_allocated`); reserved_GiB, the peak the caching allocator held (`max_memory_reserved`); used_GiB,
reserved plus this process's CUDA context, comparable to what `nvidia-smi` (and the course's
`torch.cuda.list_gpu_processes`) report. 00_accum estimates from these steps which batch fits which card (a line
through used_GiB against the micro-batch).
The table is printed and written to --out (JSON; default benchmarks/results/accum_gpu.json), which 00_accum shows.

    python benchmarks/accum_gpu.py                       # on a CUDA machine, about a minute; needs PyTorch, torchvision,
                                                         # pandas and fastcore, not fastai (course_helpers.accum does not import it)
    python benchmarks/accum_gpu.py --device cpu --quick --out /tmp/accum_gpu.json   # check the script without a GPU
"""
import json, sys, time
from datetime import date
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # this checkout's course_helpers, installed or not
import torch, torch.nn.functional as F
from torchvision.models import convnext_small
from torchvision.models.convnext import ConvNeXt, CNBlockConfig
from fastcore.script import call_parse
from course_helpers.accum import peak_mem
from course_helpers.checks import check_count_list, check_device
from course_helpers.files import atomic_write

GiB = 2**30

def make_model(quick:bool, device):
    "convnext_small with random weights (or, with `quick`, a two-stage ConvNeXt small enough for a CPU check)."
    torch.manual_seed(0)
    m = (ConvNeXt([CNBlockConfig(16, 32, 1), CNBlockConfig(32, None, 1)], num_classes=10) if quick
         else convnext_small(weights=None, num_classes=10))
    return m.to(device).train()

class Trainer:
    "One optimizer step of `model` over `accum` micro-batches: Adam, and fp16 autocast with a GradScaler on CUDA."
    def __init__(self, model, device):
        self.model,self.device = model,torch.device(device)
        self.amp = self.device.type == 'cuda'
        self.opt = torch.optim.Adam(model.parameters(), 1e-4)
        self.scaler = self.new_scaler()
    def new_scaler(self):
        "fastai's `to_fp16` starts at a scale of 2**16; 2**10 keeps random weights' first steps from overflowing and being skipped."
        return torch.amp.GradScaler('cuda', init_scale=2.**10, enabled=self.amp)
    def n_steps(self)->int:
        "Optimizer steps Adam has taken (a step the GradScaler skips is not counted)."
        return max((int(s['step']) for s in self.opt.state.values()), default=0)
    def micro(self, xb, accum:int=1):
        "Forward and backward of one micro-batch, its loss scaled to its share of the step."
        with torch.autocast(self.device.type, torch.float16, enabled=self.amp):
            loss = F.cross_entropy(self.model(xb), torch.zeros(len(xb), dtype=torch.long, device=self.device))
        self.scaler.scale(loss/accum).backward()
    def step(self):
        self.scaler.step(self.opt); self.scaler.update(); self.opt.zero_grad(set_to_none=True)
    def accum_step(self, size:int, bs:int, accum:int):
        "One optimizer step at effective batch `bs`, as `accum` micro-batches of random `size`-px images."
        for _ in range(accum): self.micro(torch.randn(bs//accum, 3, size, size, device=self.device), accum)
        self.step()

def context_bytes(device)->int:
    "Device memory this process holds outside PyTorch's caching allocator (the CUDA context, kernels), on CUDA."
    if torch.device(device).type != 'cuda': return 0
    free,total = torch.cuda.mem_get_info(device)
    return total - free - torch.cuda.memory_reserved(device)

def accum_table(tr:Trainer, sizes, bs:int=64, accums=(1, 2, 4))->list:
    "Peak memory of one optimizer step at effective batch `bs` for each image size and accumulation setting."
    rows = []
    for size in sizes:
        for a in accums:
            tr.accum_step(size, bs, a)                       # warm-up: cuDNN's choices for these shapes
            n = tr.n_steps()
            if tr.device.type == 'cuda':
                torch.cuda.synchronize(); torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats()
                tr.accum_step(size, bs, a); torch.cuda.synchronize()
                alloc,reserved = torch.cuda.max_memory_allocated(), torch.cuda.max_memory_reserved()
            else:
                alloc = reserved = peak_mem(lambda: tr.accum_step(size, bs, a))   # tensors the step adds, CPU
            if tr.n_steps() == n: print(f"  warning: size {size}, accum {a}: the GradScaler skipped the measured step")
            rows.append(dict(size=size, accum=a, micro_bs=bs//a, alloc_GiB=alloc/GiB, reserved_GiB=reserved/GiB,
                             used_GiB=(reserved + context_bytes(tr.device))/GiB))
    return rows

def show(rows, cols)->str:
    "`rows` (dicts) as an aligned text table of `cols`."
    fmt = lambda v: (f"{v:.2f}" if abs(v) >= 0.1 else f"{v:.2g}") if isinstance(v, float) else str(v)
    cells = [cols] + [[fmt(r[c]) for c in cols] for r in rows]
    w = [max(len(r[i]) for r in cells) for i in range(len(cols))]
    return '\n'.join('  '.join(c.rjust(w[i]) for i,c in enumerate(r)) for r in cells)

@call_parse
def main(device:str='cuda',  # 'cuda' (the measurement) or 'cpu' (a check of the script)
         quick:bool=False,   # a tiny ConvNeXt at 32 px: checks the script in seconds
         sizes:str=None,     # comma-separated image sizes (default 128,224; quick: 32)
         out:str=str(Path(__file__).parent/'results'/'accum_gpu.json'), # JSON file to write; '' for none
        ):
    "Peak GPU memory of one optimizer step of convnext_small at effective batch 64, accumulated over 1, 2 and 4 micro-batches."
    dev = check_device(device)
    if dev.type == 'cuda' and dev.index is None: dev = torch.device('cuda', torch.cuda.current_device())
    sizes = check_count_list(sizes or ('32' if quick else '128,224'), 'sizes')
    name = torch.cuda.get_device_name(dev) if dev.type == 'cuda' else 'CPU (script check: not a GPU figure)'
    t0 = time.perf_counter()
    tr = Trainer(make_model(quick, dev), dev)
    for _ in range(20):                                      # create Adam's state and the CUDA context first
        tr.accum_step(sizes[0], 16, 1)
        if tr.n_steps(): break
    else: raise SystemExit("the GradScaler skipped 20 warm-up steps in a row: fp16 overflow, no figures")
    info = dict(device=name, torch=torch.__version__, cuda=torch.version.cuda, date=str(date.today()),
                model='tiny ConvNeXt (--quick)' if quick else 'torchvision convnext_small, weights=None, 10 classes',
                precision='fp16 autocast + GradScaler' if tr.amp else 'float32', optimizer='Adam',
                total_GiB=torch.cuda.get_device_properties(dev).total_memory/GiB if dev.type == 'cuda' else None,
                context_GiB=context_bytes(dev)/GiB)
    print(f"{info['model']}, {info['precision']}, {info['optimizer']}; {name}, torch {torch.__version__}, CUDA {torch.version.cuda}")
    if dev.type == 'cuda': print(f"device memory {info['total_GiB']:.1f} GiB; this process's CUDA context {info['context_GiB']:.2f} GiB")
    acc = accum_table(tr, sizes)
    print("\none optimizer step at effective batch 64 (GiB):")
    print(show(acc, ['size', 'accum', 'micro_bs', 'alloc_GiB', 'reserved_GiB', 'used_GiB']))
    print(f"\ntotal {time.perf_counter()-t0:.0f} s")
    if out: print(f"wrote {atomic_write(out, json.dumps(dict(info, accum=acc), indent=1))}")
