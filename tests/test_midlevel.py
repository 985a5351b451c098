"Mid-level data helpers on a tiny generated paddy set: bad input, files on disk, pickling for `learn.export`."
import pickle, warnings

import pytest, torch

warnings.filterwarnings('ignore', message='.*torch.jit.script.*')
from fastai.data.core import TfmdLists

from course_helpers.paddy import load_paddy
from course_helpers.paddy_synth import synth_paddy
from course_helpers.midlevel import TitleNumericalize, paddy_datasets, tokenize_title
from course_helpers.multitarget import paddy_dls

SMALL = dict(n_train=60, n_test=4, size=32, min_per=3)


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    "A tiny generated Paddy set in the Kaggle layout, and its checked train.csv."
    return load_paddy(synth_paddy(tmp_path_factory.mktemp('gen')/'paddy', **SMALL))


def test_numericalize_pickles_with_its_vocab():
    num = TitleNumericalize()
    num.setup([tokenize_title('Toy Story (1995)'), tokenize_title('Heat (1995)')])
    num2 = pickle.loads(pickle.dumps(num))
    assert num2.vocab == num.vocab
    assert torch.equal(num2(['heat', 'zzz']), num(['heat', 'zzz']))
    assert num2.decode(num2(['heat', 'zzz'])) == ['heat', 'xxunk']


def test_numericalize_setup_sees_training_split_only():
    titles = ['Toy Story (1995)', 'Heat (1995)', 'Casino (1995)']
    tl = TfmdLists(titles, [tokenize_title, TitleNumericalize()], splits=[[0, 1], [2]])
    assert 'casino' not in tl.tfms[1].vocab and 'heat' in tl.tfms[1].vocab
    assert tl.decode(tl.valid[0]) == ['xxunk', '(', '1995', ')']


def test_paddy_datasets_same_split_as_paddy_dls(tiny):
    path, df = tiny
    ds, dls = paddy_datasets(path, df, seed=3), paddy_dls(path, df, size=32, bs=8, seed=3)
    assert list(ds.valid.items) == list(dls.valid_ds.items)
    assert ds.vocab == dls.valid_ds.vocab


def test_paddy_datasets_file_missing_from_csv(tiny):
    path, df = tiny
    name = df.image_id.iloc[0]   # its image stays on disk; the error comes at setup (training) or on access (validation)
    with pytest.raises(KeyError, match=f"{name} is not in train.csv: no row has image_id '{name}'"):
        ds = paddy_datasets(path, df.iloc[1:])
        for i in range(len(ds)): ds[i]


def test_paddy_datasets_bad_column(tiny):
    path, df = tiny
    with pytest.raises(KeyError, match="no column 'colour'"): paddy_datasets(path, df, cols=('colour',))
