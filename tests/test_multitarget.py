"Multi-target paddy helpers on a tiny generated set in a temporary folder: bad files, writing and exporting."
import shutil
from pathlib import Path

import pandas as pd, pytest, torch

from fastai.learner import load_learner

from course_helpers.multitarget import fit_paddy, paddy_dls, paddy_submission, predict_files, sorted_image_files


@pytest.fixture(scope='module')
def learn(tiny_paddy):
    "A two-target learner trained for one short epoch on conftest's tiny set, quietly."
    path, df = tiny_paddy
    return fit_paddy(paddy_dls(path, df, size=32, bs=16), epochs=1, lr=1e-2, quiet=True)


@pytest.fixture
def copy(tiny_paddy, tiny_paddy_copy):
    "A copy of the tiny set that a test may damage, and its train.csv."
    return tiny_paddy_copy, tiny_paddy[1]


def test_image_without_row_is_named(copy):
    "fastai would train on every image under train_images/: one that train.csv lacks is refused, by name."
    p, df = copy
    shutil.copy(next((p/'train_images'/'blast').iterdir()), p/'train_images'/'blast'/'999999.jpg')
    for cols in (('variety',), ()):
        with pytest.raises(ValueError, match=r"1 image\(s\) under train_images/ have no row in df.*999999.jpg"): paddy_dls(p, df, cols=cols)


def test_image_in_two_label_folders_is_refused(copy):
    p, df = copy
    r = df.iloc[0]
    other = 'normal' if r.label != 'normal' else 'blast'
    shutil.copy(p/'train_images'/r.label/r.image_id, p/'train_images'/other/r.image_id)
    with pytest.raises(ValueError, match=f"image {r.image_id} is in several label folders"): paddy_dls(p, df)


def test_fit_paddy_reuses_dls_reproducibly(tiny_paddy):
    "Training twice on the same DataLoaders (whose shuffling the first run advanced) gives the same model, as a fresh one does."
    path, df = tiny_paddy
    dls = paddy_dls(path, df, size=32, bs=16)
    runs = [fit_paddy(d, epochs=1, lr=1e-2, quiet=True) for d in (dls, dls, paddy_dls(path, df, size=32, bs=16))]
    a, b, c = (torch.cat([p.detach().flatten() for p in l.model.parameters()]) for l in runs)
    assert torch.equal(a, b) and torch.equal(a, c)


def test_submission_needs_test_images(learn, tmp_path):
    (tmp_path/'test_images').mkdir()
    with pytest.raises(FileNotFoundError, match='no images in'): paddy_submission(learn, tmp_path, tmp_path/'s.csv')


def test_submission_never_replaces_a_file_by_accident(learn, tiny_paddy, tmp_path):
    path, _ = tiny_paddy
    f = tmp_path/'mine.csv'
    f.write_text('my work\n')
    with pytest.raises(FileExistsError, match='pass overwrite=True'): paddy_submission(learn, path, f)
    assert f.read_text() == 'my work\n'
    paddy_submission(learn, path, f, overwrite=True)
    assert f.read_text().startswith('image_id,label\n')


def test_interrupted_submission_keeps_the_old_file(learn, tiny_paddy, tmp_path, monkeypatch):
    path, _ = tiny_paddy
    f = tmp_path/'sub.csv'
    f.write_text('old submission\n')
    def fail(src, dst): raise OSError(28, 'No space left on device')
    monkeypatch.setattr('os.replace', fail)  # the last step of the atomic write
    with pytest.raises(OSError, match='No space left'): paddy_submission(learn, path, f, overwrite=True)
    assert f.read_text() == 'old submission\n'
    assert [o.name for o in tmp_path.iterdir()] == ['sub.csv']  # no temporary file left


def test_submission_path_with_tilde(learn, tiny_paddy, tmp_path, monkeypatch):
    path, _ = tiny_paddy
    monkeypatch.setenv('HOME', str(tmp_path))
    sub = paddy_submission(learn, path, '~/sub.csv')
    assert pd.read_csv(tmp_path/'sub.csv').label.tolist() == sub.label.tolist()


@pytest.mark.filterwarnings("ignore:load_learner")  # our own file, just written
def test_export_and_load(learn, tiny_paddy, tmp_path):
    "The loss, its metrics and the label getters pickle: an exported learner predicts the same."
    path, _ = tiny_paddy
    learn.export(tmp_path/'paddy.pkl')
    l2 = load_learner(tmp_path/'paddy.pkl')
    files = sorted_image_files(path/'test_images')
    pd.testing.assert_frame_equal(predict_files(l2, files), predict_files(learn, files))
    assert [m.name for m in l2.metrics] == ['disease_err', 'variety_err', 'disease_loss', 'variety_loss']


def test_predict_missing_file_is_named(learn, tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.jpg'): predict_files(learn, [tmp_path/'nope.jpg'])
