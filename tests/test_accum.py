"Gradient accumulation: what needs pytest (monkeypatching, the benchmark scripts); the behaviour is tested in nbs/00_accum.ipynb."
import importlib.util, json, re, subprocess, sys
from pathlib import Path
import pytest, torch
import course_helpers.test_utils as tu

BENCH = Path(__file__).resolve().parent.parent/'benchmarks'

def load_script(name:str):
    "Import `benchmarks/{name}.py` as a module, without running its `main`."
    spec = importlib.util.spec_from_file_location(name, BENCH/f'{name}.py')
    m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
    return m

def run_main(mod, monkeypatch, *args):
    "Run `mod.main()` as if from the command line with `args`."
    monkeypatch.setattr(sys, 'argv', [f'{mod.__name__}.py', *map(str, args)])
    mod.main()

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
    code = ("import runpy, sys; sys.modules['fastai'] = None; "     # any `import fastai...` now fails
            f"sys.argv = ['accum_gpu.py', '--device', 'cpu', '--quick', '--out', {str(out)!r}]; "
            f"runpy.run_path({str(BENCH/'accum_gpu.py')!r}, run_name='__main__')")
    r = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'largest batch' in r.stdout
    res = json.loads(out.read_text())
    assert res['device'].startswith('CPU') and res['precision'] == 'float32'
    alloc = {a['accum']: a['alloc_GiB'] for a in res['accum']}
    assert alloc[1] > alloc[2] > alloc[4] > 0                       # less memory with more micro-batches
    cards = sorted(res['cards'], key=lambda c: c['card_GB'])
    bss = [c['largest_bs'] for c in cards]
    assert 0 < bss[0] < bss[-1] and all(b % 8 == 0 for b in bss)    # a bigger budget fits a bigger batch
    assert [p.name for p in out.parent.iterdir()] == ['accum_gpu.json']   # written whole, no temporary left

@pytest.mark.skipif(torch.cuda.is_available(), reason='a CUDA device is present')
def test_accum_gpu_script_refuses_without_cuda(monkeypatch):
    with pytest.raises(SystemExit, match='no CUDA device'): run_main(load_script('accum_gpu'), monkeypatch, '--out', '')

def test_accum_gpu_script_bad_arguments(monkeypatch):
    gpu = load_script('accum_gpu')
    with pytest.raises(SystemExit, match='--cards must be positive'): run_main(gpu, monkeypatch, '--device', 'cpu', '--quick', '--cards', '0,8', '--out', '')
    with pytest.raises(ValueError, match='size 0 must be a positive whole number'): run_main(gpu, monkeypatch, '--device', 'cpu', '--quick', '--sizes', '0', '--out', '')

def test_accum_time_script(tmp_path, monkeypatch):
    tm = load_script('accum_time')
    out = tmp_path/'accum_time.json'
    run_main(tm, monkeypatch, '--n', 32, '--bs', 16, '--size', 8, '--accums', '1,2', '--reps', 1, '--out', out)
    r = json.loads(out.read_text())
    assert [row['accum'] for row in r['rows']] == [1, 2] and [row['micro_bs'] for row in r['rows']] == [16, 8]
    assert r['rows'][0]['scratch_ratio'] == r['rows'][0]['fastai_ratio'] == 1
    assert all(row['scratch_s'] > 0 and row['fastai_s'] > 0 for row in r['rows'])
    with pytest.raises(ValueError, match=r'\[3\] do not divide bs=16'): tm.accum_times((1, 3), bs=16, n=32)
    with pytest.raises(ValueError, match='n=8 is below bs=16'): tm.accum_times((1,), bs=16, n=8)
    with pytest.raises(ValueError, match='accums is empty'): tm.accum_times((), bs=16, n=32)
