"Multi-target paddy helpers on a tiny generated set: bad input, files on disk, export and reproducibility."
import shutil, warnings
from pathlib import Path

import numpy as np, pandas as pd, pytest, torch

warnings.filterwarnings('ignore', message='.*torch.jit.script.*')
from fastai.learner import load_learner

from course_helpers.paddy import load_paddy
from course_helpers.paddy_synth import synth_paddy
from course_helpers.multitarget import (ColLookup, MultiTargetInterpretation, fit_paddy, paddy_dls, paddy_learner,
                                        paddy_submission, predict_files, results_table, sorted_image_files)

SMALL = dict(n_train=60, n_test=4, size=32, min_per=3)


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    "A tiny generated Paddy set in the Kaggle layout, and its checked train.csv."
    return load_paddy(synth_paddy(tmp_path_factory.mktemp('gen')/'paddy', **SMALL))


@pytest.fixture(scope='module')
def learn(tiny):
    "A two-target learner trained for one short epoch, without progress bars."
    path, df = tiny
    dls = paddy_dls(path, df, size=32, bs=16)
    l = paddy_learner(dls)
    with l.no_bar(): l.fit_one_cycle(1, 1e-2)
    return l


def test_image_missing_from_csv_is_named(tiny, tmp_path):
    path, df = tiny
    p = Path(shutil.copytree(path, tmp_path/'paddy'))
    extra = p/'train_images'/'blast'/'999999.jpg'
    shutil.copy(next((p/'train_images'/'blast').iterdir()), extra)
    with pytest.raises(KeyError, match="999999.jpg is not in train.csv"): paddy_dls(p, df, size=32)


def test_unknown_column(tiny):
    path, df = tiny
    with pytest.raises(KeyError, match="no column 'colour'"): paddy_dls(path, df, cols=('colour',))


def test_split_does_not_depend_on_targets_or_listing_order(tiny):
    path, df = tiny
    a, b = paddy_dls(path, df, size=32), paddy_dls(path, df, cols=(), size=32)
    assert list(a.valid_ds.items) == list(b.valid_ds.items)
    assert list(a.valid_ds.items) != list(paddy_dls(path, df, size=32, seed=1).valid_ds.items)


def test_numeric_column_is_a_regression_target(tiny):
    path, df = tiny
    l = paddy_learner(paddy_dls(path, df, cols=('variety', 'age'), size=32), weights=(1, 1, 0.01))
    assert l.loss_func.n_classes == (10, 10, 1) and l.loss_func.reg == (2,)
    assert [m.name for m in l.metrics] == ['disease_err', 'variety_err', 'disease_loss', 'variety_loss', 'age_loss']


def test_fit_paddy_is_reproducible(tiny):
    path, df = tiny
    runs = []
    for _ in range(2):
        l = fit_paddy(paddy_dls(path, df, size=32, bs=16), epochs=1, lr=1e-2, seed=3, cbs=[])
        runs.append(torch.cat([p.detach().flatten() for p in l.model.parameters()]))
    assert torch.equal(*runs)


def test_fit_paddy_reuses_dls_reproducibly(tiny):
    "Training twice on the same DataLoaders object (whose shuffling state the first run advanced) gives the same model."
    path, df = tiny
    dls = paddy_dls(path, df, size=32, bs=16)
    a, b = (torch.cat([p.detach().flatten() for p in fit_paddy(dls, epochs=1, lr=1e-2, cbs=[]).model.parameters()]) for _ in range(2))
    assert torch.equal(a, b)


def test_submission_file(learn, tiny, tmp_path):
    path, _ = tiny
    sub = paddy_submission(learn, path, tmp_path/'sub.csv')
    back = pd.read_csv(tmp_path/'sub.csv')
    assert list(back.columns) == ['image_id', 'label']
    assert sorted(back.image_id) == sorted(f.name for f in (path/'test_images').iterdir())
    assert back.label.isin(learn.dls.vocab[0]).all()
    assert list(back.label) == list(sub.label)


def test_submission_needs_test_images(learn, tmp_path):
    (tmp_path/'test_images').mkdir()
    with pytest.raises(FileNotFoundError, match='no images in'): paddy_submission(learn, tmp_path, tmp_path/'s.csv')


def test_export_and_load(learn, tiny, tmp_path):
    "The loss, its metrics and the label getters pickle: an exported learner predicts the same."
    path, _ = tiny
    learn.export(tmp_path/'paddy.pkl')
    l2 = load_learner(tmp_path/'paddy.pkl')
    files = sorted_image_files(path/'test_images')
    pd.testing.assert_frame_equal(predict_files(l2, files), predict_files(learn, files))
    assert [m.name for m in l2.metrics] == ['disease_err', 'variety_err', 'disease_loss', 'variety_loss']


def test_interpretation_rows_match_validation(learn):
    interp = MultiTargetInterpretation.from_learner(learn)
    n = len(learn.dls.valid_ds)
    for t in ('disease', 'variety'):
        assert interp.confusion_matrix(t).sum() == n
    tl = interp.top_losses('disease', k=n + 5)
    assert len(tl) == n and set(tl.file) == set(learn.dls.valid_ds.items)
    res = results_table({'m': learn})
    cm = interp.confusion_matrix('variety')
    assert np.isclose(1 - np.trace(cm)/cm.sum(), res.loc['m', 'variety_err'])


def test_col_lookup_accepts_str_paths(tiny):
    path, df = tiny
    r = df.iloc[0]
    assert ColLookup(df, 'variety')(str(path/'train_images'/r.label/r.image_id)) == r.variety
