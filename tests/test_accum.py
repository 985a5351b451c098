"Gradient accumulation (course_helpers.accum): equality with one big batch, fastai's callback, the batch-size finder, memory, two processes."
import pytest, torch, torch.nn.functional as F
from pathlib import Path
from copy import deepcopy
from fastai.callback.core import Callback
from fastai.callback.training import GradientAccumulation
from fastai.test_utils import synth_learner, synth_dbunch
from fastai.torch_core import no_random
from torchvision.models.convnext import ConvNeXt, CNBlockConfig
from course_helpers.accum import *
from course_helpers.test_utils import *

MB = 2**20

def step_size(model, xb, yb, lr=0.1):
    "How far one SGD step on the whole batch moves the parameters of a copy of `model`."
    m = deepcopy(model)
    train_accum(m, torch.optim.SGD(m.parameters(), lr), F.cross_entropy, [(xb, yb)], len(xb))
    return max((p1-p2).abs().max().item() for p1, p2 in zip(m.parameters(), model.parameters()))

# ---------------------------------------------------------------- from scratch
@pytest.mark.parametrize('micro_bs', [8, 16, 32])
def test_micro_batches_give_the_big_batch_update(micro_bs):
    torch.manual_seed(0)
    model, (xb, yb) = accum_cnn(), rand_batch(64, 16)
    diff, moved = accum_param_diff(model, xb, yb, micro_bs), step_size(model, xb, yb)
    assert diff < 1e-6 and moved > 1e-3, (diff, moved)

def test_batchnorm_breaks_equality_layernorm_keeps_it():
    torch.manual_seed(0)
    xb, yb = rand_batch(64, 16)
    bn = accum_cnn(norm=True)
    cnx = ConvNeXt([CNBlockConfig(16, 32, 1), CNBlockConfig(32, None, 1)], num_classes=10)
    rel_bn = accum_param_diff(bn, xb, yb, 16) / step_size(bn, xb, yb)
    rel_ln = accum_param_diff(cnx, xb, yb, 16) / step_size(cnx, xb, yb)
    assert rel_bn > 1e-2, rel_bn
    assert rel_ln < 1e-4, rel_ln

def test_train_accum_steps_on_samples_not_batches():
    torch.manual_seed(0)
    model = accum_cnn(c=4)
    opt = torch.optim.SGD(model.parameters(), 0.1)
    sizes = [10, 22, 32, 40, 30]                      # 64 samples after 3 micro-batches, then 70 more
    batches = [rand_batch(n, 16, seed=i) for i, n in enumerate(sizes)]
    assert train_accum(model, opt, F.cross_entropy, batches, n_acc=64) == 2
    assert all(p.grad is None for p in model.parameters())   # zeroed after the last step

def test_train_accum_bad_n_acc():
    with pytest.raises(ValueError, match='n_acc must be a positive'):
        train_accum(accum_cnn(), None, F.cross_entropy, [], n_acc=0)

# ---------------------------------------------------------------- fastai
class GradsAtStep(Callback):
    order = GradientAccumulation.order+1
    def before_fit(self): self.grads = []
    def before_step(self): self.grads.append([p.grad.detach().clone() for p in self.model.parameters()])

def fit(bs, n=64, cbs=None):
    with no_random(99):
        learn = synth_learner(data=synth_dbunch(bs=bs, n_train=n//bs, n_valid=n//bs), cbs=[GradsAtStep(), CountSteps()])
    with learn.no_bar(), learn.no_logging(): learn.fit(1, lr=0.01, cbs=cbs)
    return learn

def test_fastai_accumulation_matches_big_batch():
    micro_bs, cbs = micro_batches(64, 4)
    big, acc = fit(64), fit(micro_bs, cbs=cbs)
    assert big.count_steps.n == acc.count_steps.n == 1
    for g1, g2 in zip(big.grads_at_step.grads[0], acc.grads_at_step.grads[0]):
        assert torch.allclose(g1, g2, atol=1e-5), (g1, g2)
    assert abs(big.recorder.values[-1][1] - acc.recorder.values[-1][1]) < 1e-5

def test_gradient_accumulation_of_accum_is_the_mistake():
    right, wrong, none = fit(16, 256, GradientAccumulation(64)), fit(16, 256, GradientAccumulation(4)), fit(16, 256)
    assert (right.count_steps.n, wrong.count_steps.n, none.count_steps.n) == (4, 16, 16)
    for gw, gp in zip(wrong.grads_at_step.grads[0], none.grads_at_step.grads[0]):
        assert torch.allclose(gw, 4*gp, rtol=1e-5)        # and each gradient is bs/n_acc = 4 times too big

def test_micro_batches():
    micro_bs, cbs = micro_batches(64, 4)
    assert micro_bs == 16 and isinstance(cbs[0], GradientAccumulation) and cbs[0].n_acc == 64
    assert micro_batches(48) == (48, [])
    with pytest.raises(ValueError, match='bs=64 is not divisible by accum=3'): micro_batches(64, 3)
    with pytest.raises(ValueError, match='accum=0'): micro_batches(64, 0)

def test_scale_lr_and_effective_bs():
    assert scale_lr(1e-3, 64, 32) == pytest.approx(5e-4)
    assert effective_bs(8, 2, 2) == 32 and effective_bs(16, 4) == 64

# ---------------------------------------------------------------- memory and the batch-size finder
def test_peak_mem_counts_live_tensors():
    def three_mb(): a, b = torch.zeros(MB//4), torch.zeros(MB//4); return (a+b).sum()
    assert peak_mem(three_mb) / MB == pytest.approx(3, rel=0.01)
    with pytest.raises(ValueError, match="'max'"): peak_mem(three_mb, how='max')

SHAPE = (3, 16, 16)

def test_largest_bs_fits_budget_and_is_a_multiple_of_8():
    model = accum_cnn(c=8)
    budget = 6*MB
    bs = largest_bs(model, SHAPE, budget)
    assert bs % 8 == 0 and bs >= 8
    assert step_peak(model, bs, SHAPE) <= budget < step_peak(model, bs+8, SHAPE)   # the largest that fits
    assert largest_bs(model, SHAPE, 2*budget) >= bs
    assert largest_bs(model, SHAPE, budget//2) <= bs
    assert largest_bs(model, SHAPE, 2**40, max_bs=64) == 64

def test_largest_bs_budget_too_small_or_missing():
    with pytest.raises(ValueError, match=r'even bs=8 needs .* MB for one step, over the budget of 0\.1 MB'):
        largest_bs(accum_cnn(c=8), SHAPE, MB//10)
    with pytest.raises(ValueError, match='give a `budget`'): largest_bs(accum_cnn(c=8), SHAPE)

def test_accumulation_4_uses_clearly_less_memory_than_1():
    mem = accum_memory((1, 4))                              # each setting in its own process
    assert list(mem.micro_bs) == [64, 16]
    assert mem.ratio[1] < 0.5, mem
    if Path('/proc/self/clear_refs').exists():              # Linux: the process's peak RSS is measured too
        assert mem.rss_MB[1] < mem.rss_MB[0], mem

def test_accum_memory_bad_accum():
    with pytest.raises(ValueError, match=r'\[3\] do not divide bs=64'): accum_memory((1, 3))

# ---------------------------------------------------------------- two processes
@pytest.fixture(scope='module')
def ddp_states(): return run_ddp(nproc=2, bs=8, accum=2)   # torchrun, gloo, 2 CPU processes

def test_two_processes_with_accumulation_match_one_process_with_4x_batch(ddp_states):
    ref = one_process_step(effective_bs(8, accum=2, nproc=2))
    assert check_same_update(ref, ddp_states, tol=1e-5) < 1e-5
    torch.manual_seed(0)
    init = accum_cnn(c=4).state_dict()
    assert max((ref[k]-init[k]).abs().max().item() for k in ref) > 1e-3   # the step did move the weights

def test_a_different_update_fails_clearly(ddp_states):
    wrong = one_process_step(16)                            # e.g. forgetting one of the factors
    with pytest.raises(AssertionError, match=r'rank 0: .* differs from the one-process update by'):
        check_same_update(wrong, ddp_states)

def test_accum_memory_without_forkserver(monkeypatch):
    "Where there is no forkserver (Windows) each setting is spawned from scratch; the figures are the same."
    import course_helpers.test_utils as acc
    monkeypatch.setattr(acc.mp, 'get_all_start_methods', lambda: ['spawn'])
    mem = accum_memory((1, 2), size=16)
    assert mem.ratio[1] == pytest.approx(0.5, abs=0.05), mem
