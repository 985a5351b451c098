"From-scratch softmax/cross-entropy against PyTorch beyond the notebook's cases, and MultiTargetLoss edge cases."
import pickle, warnings

import pytest, torch, torch.nn.functional as F

warnings.filterwarnings('ignore', message='.*torch.jit.script.*')
from course_helpers.losses import MultiTargetLoss, TargetMetric, cross_entropy, log_softmax, logsumexp, softmax


@pytest.mark.parametrize('scale', [1., 30., 1000.])
def test_gradients_match_pytorch(scale):
    torch.manual_seed(0)
    x, t = torch.randn(16, 7)*scale, torch.randint(0, 7, (16,))
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    cross_entropy(a, t).backward(); F.cross_entropy(b, t).backward()
    assert torch.isfinite(a.grad).all()
    torch.testing.assert_close(a.grad, b.grad, atol=1e-6, rtol=1e-5)


def test_extra_leading_dims():
    "Classes along the last dimension, any batch shape: same as PyTorch with classes moved to dim 1."
    torch.manual_seed(1)
    x, t = torch.randn(4, 3, 6), torch.randint(0, 6, (4, 3))
    for r in ('mean', 'sum', 'none'):
        torch.testing.assert_close(cross_entropy(x, t, r), F.cross_entropy(x.permute(0, 2, 1), t, reduction=r))
    torch.testing.assert_close(softmax(x), F.softmax(x, -1))
    torch.testing.assert_close(log_softmax(x, 1), F.log_softmax(x, 1))


def test_half_precision_large_logits():
    x = torch.tensor([[60000., 0., -60000.]], dtype=torch.float16)
    assert torch.isfinite(softmax(x)).all() and torch.isfinite(log_softmax(x)[:, 0]).all()
    assert torch.isfinite(logsumexp(x)).all()


def test_negative_target_named():
    with pytest.raises(IndexError, match='target -1 is out of range for 5 classes'):
        cross_entropy(torch.randn(3, 5), torch.tensor([0, -1, 2]))


def test_loss_and_metrics_pickle():
    mtl = MultiTargetLoss((3, 4), weights=(1, .5), names=('a', 'b'))
    m2 = pickle.loads(pickle.dumps(mtl))
    x, ya, yb = torch.randn(5, 7), torch.randint(0, 3, (5,)), torch.randint(0, 4, (5,))
    torch.testing.assert_close(m2(x, ya, yb), mtl(x, ya, yb))
    ms = pickle.loads(pickle.dumps(mtl.metrics()))
    assert [m.name for m in ms] == ['a_err', 'b_err', 'a_loss', 'b_loss']
    torch.testing.assert_close(ms[1].func(x, ya, yb), (x[:, 3:].argmax(-1) != yb).float().mean())


def test_index_by_name_and_negative():
    mtl = MultiTargetLoss((3, 4, 1), names=('a', 'b', 'c'), reg=(-1,))
    assert mtl.reg == (2,) and mtl.index('b') == 1 and mtl.index(-2) == 1
    with pytest.raises(IndexError, match='target 3 is out of range for 3 targets'): mtl.index(3)
    with pytest.raises(ValueError, match="'c' is a regression target"): TargetMetric(mtl, 'c', 'err')


def test_weights_of_zero_drop_a_target():
    mtl = MultiTargetLoss((3, 4), weights=(1, 0))
    x, ya, yb = torch.randn(5, 7), torch.randint(0, 3, (5,)), torch.randint(0, 4, (5,))
    torch.testing.assert_close(mtl(x, ya, yb), F.cross_entropy(x[:, :3], ya))
