"course_helpers.collab_recipe: its rules, bad input, the unseen-user fallback and reproducibility on a small generated set."
import math
import numpy as np, pandas as pd, pytest, torch
from fastai.collab import EmbeddingDotBias
from fastai.data.transforms import RandomSplitter
from course_helpers.movielens_synth import synth_movielens
from course_helpers.collab_recipe import collab_dls, collab_hparams, decay_exponent, fit_collab, one_cycle_lr_sum

@pytest.fixture(scope='module')
def split():
    r,_ = synth_movielens(n_users=150, n_movies=300, n_ratings=8000, seed=5)
    tr,va = RandomSplitter(0.2, seed=42)(range(len(r)))
    return r.iloc[list(tr)],r.iloc[list(va)]

def test_hparams_rules():
    for n in (100, 7_000, 80_000, 3_000_000):
        h = collab_hparams(n); steps = h['epochs']*math.ceil(n/h['bs'])
        assert h['bs'] & (h['bs']-1) == 0                      # a power of two
        assert abs(one_cycle_lr_sum(h['lr'], steps) - 2.4) < 1e-6
        assert abs(decay_exponent(h['wd'], h['lr'], steps) - 1.5) < 1e-6
    # doubling the budgets doubles lr at the same steps; decay only moves wd
    a,b = collab_hparams(80_000),collab_hparams(80_000, lr_sum=4.8, decay=1.5)
    assert math.isclose(b['lr'], 2*a['lr']) and math.isclose(b['wd'], a['wd']/2)

@pytest.mark.parametrize('n', [0, -5])
def test_hparams_bad(n):
    with pytest.raises(ValueError, match=f'n_ratings={n}'): collab_hparams(n)

def test_dls_bad_columns(split):
    tr,va = split
    with pytest.raises(KeyError, match="valid ratings have no column 'rating'"): collab_dls(tr, va.drop(columns='rating'))
    with pytest.raises(ValueError, match='train ratings are empty'): collab_dls(tr.iloc[:0], va)

def test_fit_collab(split):
    tr,va = split
    dls = collab_dls(tr, va)
    learn,r = fit_collab(dls)
    gm = float(np.sqrt(((va.rating - tr.rating.mean())**2).mean()))
    assert isinstance(learn.model, EmbeddingDotBias) and r < gm - 0.05
    with learn.no_bar(): assert math.isclose(learn.validate()[0], r**2, rel_tol=1e-4)   # fastai's own loop agrees
    assert fit_collab(dls)[1] == r                   # same seed, same result
    assert fit_collab(dls, seed=1)[1] != r

def test_threads_restored(split):
    tr,va = split
    n = torch.get_num_threads(); torch.set_num_threads(2)
    try:
        fit_collab(collab_dls(tr, va), epochs=1)
        assert torch.get_num_threads() == 2
    finally: torch.set_num_threads(n)

def test_overrides_and_unseen(split):
    tr,va = split
    # a user and a movie that only the validation set has map to fastai's #na#, which the recipe fills with the average row
    extra = pd.DataFrame(dict(user=[10_000], movie=[20_000], rating=[4], timestamp=[0], title=['new']))
    dls = collab_dls(tr, pd.concat([va, extra]))
    learn,r = fit_collab(dls, n_models=1, n_factors=8, epochs=2)
    m = learn.model
    assert m.u_weight.weight.shape[1] == 8 and math.isfinite(r)
    assert torch.allclose(m.i_bias.weight[0], m.i_bias.weight[1:].mean(0))
    assert torch.allclose(m.u_weight.weight[0], m.u_weight.weight[1:].mean(0))
    with torch.no_grad(): p = m(torch.tensor([[0, 0]])).item()
    assert 1 < p < 5
