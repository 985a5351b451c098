"Multi-target paddy helpers on a tiny generated set in a temporary folder: bad files, writing and exporting."
import shutil
from pathlib import Path

import numpy as np, pandas as pd, pytest, torch

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
        with pytest.raises(ValueError, match=r"1 image\(s\) have no row in train.csv.*blast/999999.jpg"): paddy_dls(p, df, cols=cols)


def test_image_in_two_label_folders_is_refused(copy):
    p, df = copy
    r = df.iloc[0]
    other = 'normal' if r.label != 'normal' else 'blast'
    shutil.copy(p/'train_images'/r.label/r.image_id, p/'train_images'/other/r.image_id)
    with pytest.raises(ValueError, match=f"image {r.image_id} is in 2 label folders"): paddy_dls(p, df)


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


@pytest.mark.parametrize('change, cols, msg', [
    (lambda df: df, ('colour',), "no column 'colour'"),
    (lambda df: df.iloc[5:], ('variety',), r"5 image\(s\) have no row in train.csv"),
    (lambda df: df.assign(label=df.label.shift(1, fill_value='blast')), ('variety',), "disagree with their image's label folder"),
    (lambda df: df.assign(age=df.age.astype(float).where(df.index != 3, np.inf)), ('age',), "column 'age' must be finite to be a target, got inf"),
    (lambda df: df.assign(variety=df.variety.where(df.index != 2)), ('variety',), "column 'variety' must be filled in to be a target, got nan in 1 row.*row 2"),
    (lambda df: pd.concat([df, df.iloc[:1]]), ('variety',), "repeat an image_id"),
])
def test_rows_that_disagree_with_the_images_are_refused(tiny_paddy, change, cols, msg):
    "What `paddy_files` checks, `paddy_dls` refuses before fastai sees it: a missing column, rows and folders that disagree, a bad target value."
    path, df = tiny_paddy
    with pytest.raises((KeyError, ValueError), match=msg): paddy_dls(path, change(df), cols=cols)


def test_folder_without_images(tiny_paddy):
    path, df = tiny_paddy
    with pytest.raises(FileNotFoundError, match='no images in'): paddy_dls(path/'test_images', df)


@pytest.mark.parametrize('kw, msg', [
    (dict(valid_pct=0), 'valid_pct must be'), (dict(valid_pct=1.5), 'valid_pct must be'),
    (dict(valid_pct=0.001), r'into \d+ for training and 0 for validation'),
    (dict(bs=256), r'bs=256 is more than the 48 training images'), (dict(bs=0), 'bs must be a whole number >= 1, got 0'),
    (dict(bs=16.0), 'bs must be a whole number'), (dict(seed=-1), 'seed must be'),
])
def test_split_and_batch_size_that_would_train_nothing_are_refused(tiny_paddy, kw, msg):
    "An empty validation set (metrics None) or no full training batch (a NaN training loss) is refused, naming the argument."
    path, df = tiny_paddy
    kw = dict(dict(size=32, bs=16), **kw)
    with pytest.raises((TypeError, ValueError), match=msg): paddy_dls(path, df, **kw)


def test_valid_pct_0999_leaves_one_training_image(tiny_paddy):
    "valid_pct=0.999 of 60 images keeps 1 to train on: fine for bs=1, refused for any larger batch."
    path, df = tiny_paddy
    with pytest.raises(ValueError, match=r'bs=2 is more than the 1 training images'): paddy_dls(path, df, size=32, bs=2, valid_pct=0.999)


def test_fit_paddy_refuses_dls_without_a_training_batch(tiny_paddy):
    path, df = tiny_paddy
    dls = paddy_dls(path, df, size=32, bs=16)
    dls.train.bs = 1000  # as a DataLoaders built elsewhere might have
    with pytest.raises(ValueError, match=r'dls has no training batch: its bs=1000 is more than the 48 training images'): fit_paddy(dls, epochs=1)
    with pytest.raises(ValueError, match='epochs must be a whole number >= 1, got 0'): fit_paddy(dls, epochs=0)


def test_predict_files_bad_batch_size(learn, tiny_paddy):
    files = sorted_image_files(tiny_paddy[0]/'test_images')
    with pytest.raises(ValueError, match='bs must be a whole number >= 1, got 0'): predict_files(learn, files, bs=0)


def test_predict_truncated_jpeg_is_named(learn, tiny_paddy, tmp_path):
    f = sorted_image_files(tiny_paddy[0]/'test_images')[0]
    bad = tmp_path/'cut.jpg'
    bad.write_bytes(f.read_bytes()[:len(f.read_bytes())//2])
    with pytest.raises(ValueError, match=f'cannot read image {bad}'): predict_files(learn, [f, bad])


def test_paddy_cnn_has_no_pretrained_weights():
    from course_helpers.multitarget import paddy_cnn
    with pytest.raises(ValueError, match='no pretrained weights'): paddy_cnn(pretrained=True)
    with pytest.raises(TypeError, match='n_out must be a whole number'): paddy_cnn(n_out=True)


@pytest.mark.parametrize('lr, err', [(float('inf'), ValueError), (float('nan'), ValueError), (0, ValueError), ('0.01', TypeError)])
def test_fit_paddy_refuses_a_learning_rate_that_trains_nothing_or_nan(tiny_paddy, lr, err):
    path, df = tiny_paddy
    with pytest.raises(err, match='lr must be'): fit_paddy(paddy_dls(path, df, size=32, bs=16), epochs=1, lr=lr)


def test_interpretation_counts_are_checked(learn):
    from course_helpers.multitarget import MultiTargetInterpretation
    interp = MultiTargetInterpretation.from_learner(learn)
    with pytest.raises(ValueError, match='k must be a whole number >= 1, got 0'): interp.top_losses('disease', 0)
    with pytest.raises(ValueError, match='ncols must be a whole number >= 1, got 0'): interp.plot_top_losses('disease', 3, ncols=0)
    with pytest.raises(TypeError, match='min_val must be a whole number'): interp.most_confused('disease', min_val=0.5)


def test_col_lookup_needs_a_dataframe(tiny_paddy):
    from course_helpers.multitarget import ColLookup
    with pytest.raises(TypeError, match="df must be a DataFrame .*got str"): ColLookup('train.csv', 'variety')


def test_col_lookup_names_what_is_missing(tiny_paddy):
    from course_helpers.multitarget import ColLookup
    path, df = tiny_paddy
    get_variety = ColLookup(df, 'variety')
    with pytest.raises(KeyError, match="no row has image_id 'nope.jpg'"): get_variety(path/'train_images'/'blast'/'nope.jpg')
    with pytest.raises(KeyError, match="no column 'colour'"): ColLookup(df, 'colour')
    with pytest.raises(ValueError, match=f"repeats {df.image_id[0]!r}"): ColLookup(pd.concat([df, df.iloc[:1]]), 'variety')


def test_cache_items_refuses_random_item_transforms(tiny_paddy):
    from fastai.vision.augment import RandomResizedCrop
    from course_helpers.multitarget import cache_items
    path, df = tiny_paddy
    with pytest.raises(ValueError, match='would freeze the random item transform'):
        cache_items(paddy_dls(path, df, bs=16, item_tfms=RandomResizedCrop(32)))


def test_predict_files_needs_a_multitarget_loss(learn, tiny_paddy):
    from fastai.learner import Learner
    plain = Learner(learn.dls, learn.model, loss_func=lambda x, *ys: x.sum())
    with pytest.raises(TypeError, match='train with `paddy_learner`'): predict_files(plain, sorted_image_files(tiny_paddy[0]/'test_images'))


def test_submission_refuses_train_csv_and_unknown_target(learn, tiny_paddy, tmp_path):
    path, _ = tiny_paddy
    with pytest.raises(ValueError, match="the data set's own train.csv"): paddy_submission(learn, path, path/'train.csv', overwrite=True)
    with pytest.raises(KeyError, match="no target named 'colour'"): paddy_submission(learn, path, tmp_path/'s.csv', target='colour')


def test_regression_target_has_no_confusion_matrix(tiny_paddy):
    from course_helpers.multitarget import MultiTargetInterpretation
    path, df = tiny_paddy
    l3 = fit_paddy(paddy_dls(path, df, cols=('variety', 'age'), size=32, bs=16), epochs=1, quiet=True, weights=(1, 1, 0.001))
    interp = MultiTargetInterpretation.from_learner(l3)
    with pytest.raises(ValueError, match="'age' is a regression target"): interp.confusion_matrix('age')
    assert len(interp.top_losses('age', 4)) == 4
