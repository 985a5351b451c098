"Bad input, files on disk and cold starts for course_helpers.collab (the lesson is nbs/04_collab.ipynb)."
import json, pickle, warnings
import numpy as np, pandas as pd, pytest, torch
from fastai.tabular.all import Learner, MSELossFlat, set_seed
from fastai.collab import CollabDataLoaders, collab_learner
from course_helpers.collab import *

@pytest.fixture(scope='module')
def toy():
    "Small ratings table with string user ids, a user and a movie seen only in validation, and a trained model."
    rng = np.random.default_rng(0)
    u, i = rng.integers(0, 60, 3000), rng.integers(0, 40, 3000)
    uf, mf = rng.normal(size=(60, 3)), rng.normal(size=(40, 3))
    df = pd.DataFrame(dict(user=[f'u{o}' for o in u], title=[f'Movie {o}' for o in i],
                           rating=np.clip(np.round(3 + (uf[u]*mf[i]).sum(1)), 1, 5))).drop_duplicates(['user', 'title'])
    dls = CollabDataLoaders.from_df(df, item_name='title', bs=256, seed=42)
    set_seed(42)
    learn = Learner(dls, DotProductBias(len(dls.classes['user']), len(dls.classes['title']), 8), loss_func=MSELossFlat())
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(3, 3e-2, wd=0.1)
    return df, learn, CollabModel.from_learner(learn)

def test_recommend_excludes_seen_and_sorts(toy):
    df, learn, m = toy
    recs = recommend(learn, df, 'u3', n=7)
    assert list(recs.columns) == ['title', 'prediction'] and len(recs) == 7
    assert not set(recs.title) & set(df.title[df.user == 'u3'])
    assert recs.prediction.is_monotonic_decreasing
    all_unseen = recommend(m, df, 'u3', n=1000)
    assert len(all_unseen) == len(m.known_items()) - df.title[df.user == 'u3'].nunique()

def test_unknown_ids_are_clear_errors_not_keyerrors(toy):
    df, _, m = toy
    with pytest.raises(ValueError, match="user 'nobody' is not in the model's training data"): recommend(m, df, 'nobody')
    with pytest.raises(ValueError, match=r"title \['Movie 999'\] not in the model's training data \(1 unknown\)"):
        m.predict(['u3'], ['Movie 999'])
    with pytest.raises(ValueError, match=r"user \['ghost'\]"): m.predict(['ghost', 'u3'], ['Movie 1', 'Movie 1'])
    assert not m.knows('nobody') and m.knows('u3') and m.knows('Movie 1', is_item=True)

def test_validation_only_ids_are_unknown(toy):
    "An id that only appears in the validation split has no trained row (fastai maps it to '#na#'): treat it as unknown."
    from fastai.collab import TabularCollab
    from fastai.tabular.all import Categorify, TransformBlock
    df, _, _ = toy
    df2 = pd.concat([df, pd.DataFrame(dict(user=['late'], title=['Movie 1'], rating=[4.]))], ignore_index=True)
    splits = (list(range(len(df))), [len(df)])   # 'late' only in validation
    dls = TabularCollab(df2, [Categorify], ['user', 'title'], y_names=['rating'], y_block=TransformBlock(), splits=splits).dataloaders(bs=64)
    assert 'late' in dls.classes['user']            # fastai's vocabularies come from all rows, validation included...
    learn = Learner(dls, DotProductBias(len(dls.classes['user']), len(dls.classes['title']), 8), loss_func=MSELossFlat())
    m2 = CollabModel.from_learner(learn)
    assert m2.user_counts[dls.classes['user'].o2i['late']] == 0   # ...but no training rating uses its row
    assert not m2.knows('late')
    with pytest.raises(ValueError, match=r"user \['late'\] not in the model's training data.*cold start"): m2.predict(['late'], ['Movie 1'])
    assert m2.knows('u3') and len(m2.known_items()) == df.title.nunique()

def test_cold_start_fallback_is_item_bias(toy):
    df, _, m = toy
    cold = recommend(m, df, 'nobody', n=5, fallback='bias')
    assert list(cold.title) == list(m.item_bias().nlargest(5).index)
    b = torch.tensor(m.item_bias().nlargest(5).values)
    np.testing.assert_allclose(cold.prediction.values, (torch.sigmoid(b)*5.5).numpy(), rtol=1e-6)
    # a known user is not affected by the fallback
    pd.testing.assert_frame_equal(recommend(m, df, 'u3', fallback='bias'), recommend(m, df, 'u3'))
    with pytest.raises(ValueError, match='fallback must be'): recommend(m, df, 'u3', fallback='popular')

def test_recommend_checks_columns(toy):
    df, _, m = toy
    with pytest.raises(ValueError, match=r"ratings has no column \['user'\]"): recommend(m, df.rename(columns={'user': 'uid'}), 'u3')

def test_save_load_roundtrip_string_ids(toy, tmp_path):
    df, _, m = toy
    path = m.save(tmp_path/'m')
    assert sorted(o.name for o in path.iterdir()) == ['collab.json', 'model.pth']
    cfg = json.loads((path/'collab.json').read_text())
    assert cfg['model'] == 'DotProductBias' and cfg['users'][0] == '#na#' and cfg['n_factors'] == 8
    m2 = CollabModel.load(path)
    assert type(m2.model) is DotProductBias and m2.users == m.users and m2.items == m.items
    np.testing.assert_array_equal(m2.item_counts, m.item_counts); np.testing.assert_array_equal(m2.user_counts, m.user_counts)
    users, titles = list(df.user[:300]), list(df.title[:300])
    np.testing.assert_array_equal(m2.predict(users, titles), m.predict(users, titles))
    pd.testing.assert_frame_equal(recommend(m2, df, 'u5'), recommend(m, df, 'u5'))

def test_save_load_embeddingdotbias_int_ids(tmp_path):
    rng = np.random.default_rng(1)
    df = pd.DataFrame(dict(user=rng.integers(1, 30, 500), movie=rng.integers(1, 20, 500),
                           rating=rng.integers(1, 6, 500).astype(float))).drop_duplicates(['user', 'movie'])
    dls = CollabDataLoaders.from_df(df, bs=64, seed=0)
    learn = collab_learner(dls, n_factors=4, y_range=(0, 5.5))
    m = CollabModel.from_learner(learn)
    assert (m.user_name, m.item_name) == ('user', 'movie')
    m2 = CollabModel.load(m.save(tmp_path/'e'))
    assert all(type(o) is int for o in m2.users[1:])   # ids come back as ints, so lookups by int still work
    u, i = list(df.user[:50]), list(df.movie[:50])
    np.testing.assert_array_equal(m2.predict(u, i), m.predict(u, i))

class _Evil:
    def __reduce__(self): return (open, ('/tmp/course_helpers_collab_pwned', 'w'))

def test_load_never_unpickles_code(toy, tmp_path):
    _, _, m = toy
    path = m.save(tmp_path/'m')
    with open(path/'model.pth', 'wb') as f: pickle.dump({'user_factors': _Evil()}, f)
    target = __import__('pathlib').Path('/tmp/course_helpers_collab_pwned')
    target.unlink(missing_ok=True)
    with pytest.raises(pickle.UnpicklingError): CollabModel.load(path)
    assert not target.exists()

def test_load_bad_folders(toy, tmp_path):
    _, learn, m = toy
    with pytest.raises(FileNotFoundError, match='collab.json not found'): CollabModel.load(tmp_path/'nothing')
    path = m.save(tmp_path/'m')
    cfg = json.loads((path/'collab.json').read_text())
    (path/'collab.json').write_text(json.dumps(cfg | {'model': 'Pickle'}))
    with pytest.raises(ValueError, match="unknown model 'Pickle'"): CollabModel.load(path)
    (path/'collab.json').write_text(json.dumps(cfg | {'n_factors': 9}))
    with pytest.raises(RuntimeError, match='size mismatch'): CollabModel.load(path)

def test_save_refuses_nn(tmp_path):
    rng = np.random.default_rng(2)
    df = pd.DataFrame(dict(user=rng.integers(1, 30, 300), movie=rng.integers(1, 20, 300), rating=rng.integers(1, 6, 300).astype(float)))
    learn = collab_learner(CollabDataLoaders.from_df(df, bs=64, seed=0), use_nn=True, y_range=(0, 5.5))
    m = CollabModel.from_learner(learn)
    assert m.predict([int(df.user[0])], [int(df.movie[0])]).shape == (1,)   # prediction works for the NN...
    with pytest.raises(TypeError, match='Can only save dot-product models'): m.save(tmp_path/'nn')   # ...saving is refused
    with pytest.raises(TypeError, match='dot-product model'): m.item_bias()

def test_track_row_records_every_step(toy):
    df, learn, _ = toy
    set_seed(0)
    l2 = Learner(learn.dls, DotProductBias(*learn.model.user_factors.shape[:1], learn.model.movie_factors.shape[0], 8), loss_func=MSELossFlat())
    cb = TrackRow(lambda m: m.movie_factors, 3)
    with l2.no_bar(), l2.no_logging(): l2.fit(2, 1e-2, cbs=cb)
    assert len(cb.rows) == 2*len(learn.dls.train) + 1
    assert torch.equal(cb.rows[-1], l2.model.movie_factors[3].detach())
    assert not torch.equal(cb.rows[0], cb.rows[-1])

def test_fit_history(toy):
    _, learn, _ = toy
    h = fit_history(learn)
    assert list(h.columns) == ['train_loss', 'valid_loss'] and len(h) == 3
    assert h.valid_loss.iloc[-1] < h.valid_loss.iloc[0]

def test_weight_decay_gradients_match():
    torch.manual_seed(0)
    m = DotProductBias(10, 7, 4)
    x, y = torch.stack([torch.randint(0, 10, (32,)), torch.randint(0, 7, (32,))], 1), torch.rand(32)*5
    def grads(fn):
        m.zero_grad(); fn(); return [p.grad.clone() for p in m.parameters()]
    a = grads(lambda: (torch.nn.functional.mse_loss(m(x), y) + l2_penalty(m.parameters(), 0.3)).backward())
    def with_grad(): torch.nn.functional.mse_loss(m(x), y).backward(); add_wd_grad_(m.parameters(), 0.3)
    b = grads(with_grad)
    for p, q in zip(a, b): torch.testing.assert_close(p, q)

def test_factor_recovery_bad_shapes():
    with pytest.raises(ValueError, match='same rows'): factor_recovery(np.zeros((5, 2)), np.zeros((6, 2)))
    with pytest.raises(ValueError, match='2-d'): factor_recovery(np.zeros(5), np.zeros((5, 2)))

def test_gini_top_share_and_simulation():
    assert gini([3, 3, 3]) == pytest.approx(0) and top_share([1]*10, 0.1) == pytest.approx(0.1)
    with pytest.raises(ValueError, match='positive count'): gini([])
    with pytest.raises(ValueError, match="policy must be"): simulate_feedback('greedy')
    s = simulate_feedback('popular', n_users=50, n_items=100, rounds=3)
    assert list(s.columns) == ['round', 'top10_share', 'gini'] and len(s) == 4
