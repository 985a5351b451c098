"""GPU memory of gradient accumulation with convnext_small, and the largest batch that fits on 8 to 80 GB cards.

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
Two measurements:
  1. accumulation 1, 2, 4 at effective batch 64: one optimizer step = ACCUM micro-batches of 64/ACCUM, measured on the
     second step (the first also creates Adam's state). Columns: alloc_GiB, the peak of live tensors
     (`max_memory_allocated`); reserved_GiB, the peak the caching allocator held (`max_memory_reserved`); used_GiB,
     reserved plus this process's CUDA context, comparable to what `nvidia-smi` (and the course's
     `torch.cuda.list_gpu_processes`) report.
  2. the largest batch (a multiple of 8, up to --max-bs) whose full training step (forward, backward, Adam step, fp16)
     runs on a card of 8, 12, 16, 24 and 80 GB (--cards; N GB is taken as N GiB, as GPU makers count). Emulated on this
     device: `torch.cuda.set_per_process_memory_fraction` caps the caching allocator at the card's size minus the
     CUDA context measured here, and a batch fits if its step does not run out of memory (`largest_bs` with a custom
     step). Real cards differ a little: another driver, a desktop using part of the memory, other cuDNN algorithms.
     A card at least as large as this device is measured as this device.
The tables are printed and written to --out (JSON; default benchmarks/results/accum_gpu.json), which 00_accum shows.

    python benchmarks/accum_gpu.py                       # on a CUDA machine, about 1-3 minutes; needs PyTorch and
                                                         # torchvision only (course_helpers.accum does not import fastai)
    python benchmarks/accum_gpu.py --device cpu --quick --out /tmp/accum_gpu.json   # check the script without a GPU
"""
import argparse, json, sys, time
from datetime import date
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # this checkout's course_helpers, installed or not
import torch, torch.nn.functional as F
from torchvision.models import convnext_small
from torchvision.models.convnext import ConvNeXt, CNBlockConfig
from course_helpers.accum import largest_bs, peak_mem, _check_count, _is_oom
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
    def __call__(self, xb):
        "A whole training step on the batch `xb` (the `step` that `largest_bs` runs)."
        try: self.micro(xb); self.step()
        except RuntimeError as e:   # `step_peak` takes an out-of-memory error for "does not fit"
            if _is_oom(e): self.opt.zero_grad(set_to_none=True); self.scaler = self.new_scaler()   # a clean state for the next try
            raise
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

def card_table(tr:Trainer, sizes, cards, max_bs:int, time_limit:float=float('inf'))->list:
    "Largest batch whose training step fits a card of each size in `cards` (GiB), for each image size."
    t0 = time.perf_counter()
    dev = tr.device
    total = torch.cuda.get_device_properties(dev).total_memory if dev.type == 'cuda' else None
    rows = []
    for size in sizes:
        for card in cards:
            if time.perf_counter() - t0 > time_limit: print(f"  (time limit: size {size}, {card} GB not measured)"); continue
            cap = card*GiB if total is None else min(card*GiB, total)
            usable = cap - context_bytes(dev)
            if dev.type == 'cuda': torch.cuda.set_per_process_memory_fraction(max(usable, 0)/total, dev)
            base = torch.cuda.memory_allocated(dev) if dev.type == 'cuda' else 0   # weights and Adam's state
            t = time.perf_counter()
            try: bs = largest_bs(tr.model, (3, size, size), budget=usable - base, device=dev, max_bs=max_bs, step=tr)
            except ValueError: bs = 0                         # not even 8 images fit
            finally:
                if dev.type == 'cuda': torch.cuda.set_per_process_memory_fraction(1.0, dev); torch.cuda.empty_cache()
            rows.append(dict(size=size, card_GB=card, usable_GiB=usable/GiB, largest_bs=bs, emulated=total is None or card*GiB < total,
                             search_s=time.perf_counter() - t))
            if bs == max_bs: print(f"  (size {size}, {card} GB: reached --max-bs={max_bs}; the real limit is higher)")
    return rows

def show(rows, cols)->str:
    "`rows` (dicts) as an aligned text table of `cols`."
    fmt = lambda v: (f"{v:.2f}" if abs(v) >= 0.1 else f"{v:.2g}") if isinstance(v, float) else str(v)
    cells = [cols] + [[fmt(r[c]) for c in cols] for r in rows]
    w = [max(len(r[i]) for r in cells) for i in range(len(cols))]
    return '\n'.join('  '.join(c.rjust(w[i]) for i,c in enumerate(r)) for r in cells)

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--device', default='cuda', help="'cuda' (the measurement) or 'cpu' (a check of the script)")
    p.add_argument('--quick', action='store_true', help='a tiny ConvNeXt at 32 px and MB-sized cards: checks the script in seconds')
    p.add_argument('--sizes', default=None, help='comma-separated image sizes (default 128,224; quick: 32)')
    p.add_argument('--cards', default=None, help='comma-separated card sizes in GB (default 8,12,16,24,80; quick: 0.005,0.01)')
    p.add_argument('--max-bs', type=int, default=None, help='largest batch tried (default 4096; quick: 256)')
    p.add_argument('--time-limit', type=float, default=150, help='seconds after which the card search stops (what is measured is kept)')
    p.add_argument('--out', default=str(Path(__file__).parent/'results'/'accum_gpu.json'), help="JSON file to write; '' for none")
    a = p.parse_args()
    dev = torch.device(a.device)
    if dev.type == 'cuda' and not torch.cuda.is_available(): raise SystemExit("no CUDA device: run on a GPU machine, or check the script with --device cpu --quick")
    if dev.type == 'cuda' and dev.index is None: dev = torch.device('cuda', torch.cuda.current_device())  # the memory cap needs an index
    sizes = [int(s) for s in (a.sizes or ('32' if a.quick else '128,224')).split(',')]
    cards = [float(s) for s in (a.cards or ('0.005,0.01' if a.quick else '8,12,16,24,80')).split(',')]
    max_bs = a.max_bs or (256 if a.quick else 4096)
    _check_count(max_bs=max_bs, **{f'size {s}': s for s in sizes})
    if min(cards) <= 0: raise SystemExit(f"--cards must be positive sizes in GB, got {a.cards}")
    name = torch.cuda.get_device_name(dev) if dev.type == 'cuda' else 'CPU (script check: not a GPU figure)'
    t0 = time.perf_counter()
    tr = Trainer(make_model(a.quick, dev), dev)
    for _ in range(20):                                      # create Adam's state and the CUDA context first
        tr.accum_step(sizes[0], 16, 1)
        if tr.n_steps(): break
    else: raise SystemExit("the GradScaler skipped 20 warm-up steps in a row: fp16 overflow, no figures")
    info = dict(device=name, torch=torch.__version__, cuda=torch.version.cuda, date=str(date.today()),
                model='tiny ConvNeXt (--quick)' if a.quick else 'torchvision convnext_small, weights=None, 10 classes',
                precision='fp16 autocast + GradScaler' if tr.amp else 'float32', optimizer='Adam',
                total_GiB=torch.cuda.get_device_properties(dev).total_memory/GiB if dev.type == 'cuda' else None,
                context_GiB=context_bytes(dev)/GiB)
    print(f"{info['model']}, {info['precision']}, {info['optimizer']}; {name}, torch {torch.__version__}, CUDA {torch.version.cuda}")
    if dev.type == 'cuda': print(f"device memory {info['total_GiB']:.1f} GiB; this process's CUDA context {info['context_GiB']:.2f} GiB")
    def save(**res):
        "Write what is measured so far to `a.out`, whole or not at all."
        if not a.out: return
        return atomic_write(a.out, json.dumps(dict(info, **res), indent=1))
    acc = accum_table(tr, sizes)
    print("\n1. one optimizer step at effective batch 64 (GiB):")
    print(show(acc, ['size', 'accum', 'micro_bs', 'alloc_GiB', 'reserved_GiB', 'used_GiB']))
    save(accum=acc, cards=[])                                # kept even if the card search fails
    crd = card_table(tr, sizes, cards, max_bs, a.time_limit)
    print(f"\n2. largest batch (multiple of 8) whose training step fits each card ({'emulated' if dev.type == 'cuda' else 'CPU budget'}):")
    print(show(crd, ['size', 'card_GB', 'usable_GiB', 'largest_bs', 'emulated', 'search_s']))
    print(f"\ntotal {time.perf_counter()-t0:.0f} s")
    if out := save(accum=acc, cards=crd): print(f"wrote {out}")

if __name__ == '__main__': main()
