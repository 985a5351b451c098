"Gradient accumulation: what needs pytest (monkeypatching, the benchmark scripts); the behaviour is tested in nbs/00_accum.ipynb."
import json, re, subprocess, sys
from pathlib import Path
import pytest, torch
import course_helpers.test_utils as tu
import accum_gpu, accum_memory, accum_time   # benchmarks/ is on the path (conftest.py)

BENCH = Path(accum_gpu.__file__).parent

def test_accum_memory_without_forkserver(monkeypatch):
    "Where there is no forkserver (Windows) each setting is spawned from scratch; the figures are the same."
    monkeypatch.setattr(tu.mp, 'get_all_start_methods', lambda: ['spawn'])
    mem = tu.accum_memory((1, 2), size=16)
    assert mem.ratio[1] == pytest.approx(0.5, abs=0.05), mem

def test_run_ddp_reports_a_failed_torchrun(monkeypatch):
    fail = subprocess.CompletedProcess([], 3, stdout='', stderr='RuntimeError: gloo could not connect')
    monkeypatch.setattr(tu.subprocess, 'run', lambda *a, **k: fail)
    with pytest.raises(RuntimeError, match=r'torchrun exited with 3:\n.*gloo could not connect.*\n\(the last of 2 runs\)'): tu.run_ddp()

def test_run_ddp_tries_again_after_an_abort(monkeypatch):
    "A run whose process aborted is run again; the weights come from the run that finished."
    calls = []
    def fake(cmd, **kw):
        calls.append(cmd)
        if len(calls) == 1: return subprocess.CompletedProcess(cmd, 1, stdout='', stderr='terminate called without an active exception')
        out = Path(re.search(r"ddp_worker\('([^']+)'", cmd[-1])[1])
        for r in range(2): torch.save({'w': torch.full((1,), float(r))}, out/f'rank{r}.pt')
        return subprocess.CompletedProcess(cmd, 0, stdout='', stderr='')
    monkeypatch.setattr(tu.subprocess, 'run', fake)
    states = tu.run_ddp(nproc=2)
    assert len(calls) == 2 and [s['w'].item() for s in states] == [0., 1.]

def test_accum_gpu_script_checks_on_cpu_without_fastai(tmp_path):
    "The GPU machines have PyTorch and torchvision but no fastai: the script runs there, from a bare checkout."
    out = tmp_path/'res'/'accum_gpu.json'
    code = ("import sys; sys.modules['fastai'] = None; import accum_gpu; "     # any `import fastai...` now fails
            f"accum_gpu.main(device='cpu', quick=True, out={str(out)!r})")
    r = subprocess.run([sys.executable, '-c', code], cwd=BENCH, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'one optimizer step at effective batch 64' in r.stdout
    res = json.loads(out.read_text())
    assert res['device'].startswith('CPU') and res['precision'] == 'float32' and 'cards' not in res
    alloc = {a['accum']: a['alloc_GiB'] for a in res['accum']}
    assert alloc[1] > alloc[2] > alloc[4] > 0                       # less memory with more micro-batches
    assert [p.name for p in out.parent.iterdir()] == ['accum_gpu.json']   # written whole, no temporary left

@pytest.mark.skipif(torch.cuda.is_available(), reason='a CUDA device is present')
def test_accum_gpu_script_refuses_without_cuda():
    with pytest.raises(ValueError, match=r"device must be a device present here \(torch sees 0 CUDA devices\), got 'cuda'"): accum_gpu.main(out='')

def test_accum_gpu_script_bad_arguments():
    with pytest.raises(ValueError, match=r'sizes\[0\] must be a whole number >= 1, got 0'): accum_gpu.main(device='cpu', quick=True, sizes='0', out='')
    with pytest.raises(TypeError, match=r"sizes\[1\] must be a whole number >= 1, got 'x'"): accum_gpu.main(device='cpu', quick=True, sizes='32,x', out='')
    with pytest.raises(ValueError, match="device must be one of 'cpu', 'cuda'"): accum_gpu.main(device='gpu', out='')

def test_accum_memory_script(capsys):
    accum_memory.main(size=16, accums='1,2')
    out = capsys.readouterr().out
    rows = re.findall(r'^\s+(\d+)\s+(\d+)\s+[\d.]+\s+([\d.]+)', out, re.M)
    assert [(a, b) for a,b,_ in rows[:2]] == [('1', '64'), ('2', '32')] and 0.4 < float(rows[1][2]) < 0.6, out

def test_accum_time_script(tmp_path):
    tm = accum_time
    out = tmp_path/'accum_time.json'
    tm.main(n=32, bs=16, size=8, accums='1,2', reps=1, out=str(out))
    r = json.loads(out.read_text())
    assert [row['accum'] for row in r['rows']] == [1, 2] and [row['micro_bs'] for row in r['rows']] == [16, 8]
    assert r['rows'][0]['scratch_ratio'] == r['rows'][0]['fastai_ratio'] == 1
    assert all(row['scratch_s'] > 0 and row['fastai_s'] > 0 for row in r['rows'])
    with pytest.raises(ValueError, match=r'bs must be a multiple of every one of accums, got 16 \(not a multiple of \[3\]\)'): tm.accum_times((1, 3), bs=16, n=32)
    with pytest.raises(ValueError, match=r'n must be at least bs=16 \(else an epoch takes no optimizer step\), got 8'): tm.accum_times((1,), bs=16, n=8)
    with pytest.raises(ValueError, match=r'accums must be a non-empty list of whole numbers >= 1, got \(\)'): tm.accum_times((), bs=16, n=32)
