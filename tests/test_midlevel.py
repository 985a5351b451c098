"Mid-level data helpers: bad input, files on disk, a home folder, pickling for `learn.export`; the behaviour is shown and tested in nbs/05_midlevel.ipynb."
import pickle
from pathlib import Path
import numpy as np, pytest, torch
from torch import nn
from course_helpers.midlevel import (TitleNumericalize, tokenize_title, paddy_datasets, siamese_dls, FixedPairs, RandomPairs,
                                     SiameseImage, SiameseModel)

def test_titles_bad_input():
    with pytest.raises(TypeError, match=r"s must be a title \(str\), got nan \(float\)"): tokenize_title(float('nan'))
    with pytest.raises(ValueError, match='no vocab yet'): TitleNumericalize()(['a'])
    with pytest.raises(ValueError, match='vocab must be a list of tokens, the unknown token first, got'): TitleNumericalize(vocab=[])
    with pytest.raises(ValueError, match='vocab must be a list of tokens'): TitleNumericalize(vocab='abc')
    with pytest.raises(ValueError, match='min_freq must be a whole number >= 1, got 0'): TitleNumericalize(min_freq=0)

def test_numericalize_pickles_with_its_vocab():
    num = TitleNumericalize()
    num.setup([tokenize_title('Toy Story (1995)'), tokenize_title('Heat (1995)')])
    num2 = pickle.loads(pickle.dumps(num))
    assert num2.vocab == num.vocab
    assert torch.equal(num2(['heat', 'zzz']), num(['heat', 'zzz']))
    assert num2.decode(num2(['heat', 'zzz'])) == ['heat', 'xxunk']


def test_paddy_datasets_bad_input(tiny_paddy):
    path, df = tiny_paddy
    name = df.image_id.iloc[0]   # its image stays on disk: refused before anything is built, not at the first batch
    with pytest.raises(ValueError, match=f"1 image\\(s\\) have no row in train.csv.*{name}"): paddy_datasets(path, df.iloc[1:])
    with pytest.raises(KeyError, match="no column 'colour'"): paddy_datasets(path, df, cols=('colour',))
    with pytest.raises(ValueError, match='valid_pct must be a finite number > 0 and < 1, got 20'): paddy_datasets(path, df, valid_pct=20)
    with pytest.raises(ValueError, match='splits 60 images into 60 for training and 0 for validation'): paddy_datasets(path, df, valid_pct=0.01)
    with pytest.raises(FileNotFoundError, match='path must be an existing folder'): paddy_datasets(path/'nope', df)
    with pytest.raises(ValueError, match='seed must be None or a whole number'): paddy_datasets(path, df, seed=-1)

def test_siamese_bad_input(tiny_paddy, tmp_path):
    path, _ = tiny_paddy
    with pytest.raises(ValueError, match='valid_pct must be a finite number > 0 and < 1, got 1'): siamese_dls(path, valid_pct=1)
    with pytest.raises(FileNotFoundError, match='path must be an existing folder'): siamese_dls(path/'nope')
    (tmp_path/'train_images').mkdir()
    with pytest.raises(FileNotFoundError, match='path must hold images under train_images/<label>/, got none in'): siamese_dls(tmp_path)
    with pytest.raises(ValueError, match=r'bs must be at most the 48 training images \(fastai drops the last partial batch'): siamese_dls(path, bs=64)
    with pytest.raises(ValueError, match='size must be a whole number >= 1, got 0'): siamese_dls(path, size=0)
    with pytest.raises(TypeError, match=r'bs must be a whole number >= 1, got 8.0 \(float\)'): siamese_dls(path, bs=8.0)
    dls = siamese_dls(path, size=16, bs=4)
    trn, val = dls.train.items, dls.valid.items
    with pytest.raises(KeyError, match='has no partner: FixedPairs was built from other files'): FixedPairs(val)(trn[0], split_idx=1)
    one = [f for f in trn if f.parent.name == trn[0].parent.name]
    with pytest.raises(ValueError, match=r"files must have at least two labels .*got \['"): RandomPairs(one)
    with pytest.raises(KeyError, match="its label 'rust' has no files to pair with"): RandomPairs(trn)(Path('x/rust/1.jpg'), split_idx=0)
    with pytest.raises(TypeError, match='seed must be None or a whole number'): FixedPairs(val, seed=1.5)
    with pytest.raises(TypeError, match='encoder must be a torch nn.Module, got str'): SiameseModel('resnet34', nn.Linear(4, 2))


def test_siamese_dls_from_a_home_path(tiny_paddy, tmp_path, monkeypatch):
    "A path with `~` is expanded; validation pairs are the same on every call, and all from the validation images."
    path, _ = tiny_paddy
    monkeypatch.setenv('HOME', str(path.parent))
    dls = siamese_dls(f'~/{path.name}', size=16, bs=4, seed=1)
    assert dls.valid.items[0].is_relative_to(path)
    val = set(dls.valid.items)
    pairs = dls.valid_ds.tfms[1].pairs
    assert set(pairs) == val and all(f2 in val for f2,_ in pairs.values())
    b1, b2 = dls.valid.one_batch(), dls.valid.one_batch()
    assert all(torch.equal(u, v) for u, v in zip(b1, b2))
    assert len(b1) == 3 and b1[0].shape == (4, 3, 16, 16)


def test_siamese_transforms_pickle(tiny_paddy):
    "`learn.export` pickles the DataLoaders' transforms: the pairs and their partners must survive it."
    path, _ = tiny_paddy
    dls = siamese_dls(path, size=16, bs=4)
    fixed = pickle.loads(pickle.dumps(dls.valid_ds.tfms[1]))
    assert isinstance(fixed, FixedPairs) and fixed.pairs == dls.valid_ds.tfms[1].pairs
    f = dls.valid.items[0]
    a, b = fixed(f, split_idx=1), dls.valid_ds.tfms[1](f, split_idx=1)
    assert isinstance(a, SiameseImage) and a[2] == b[2] and np.array_equal(np.array(a[1]), np.array(b[1]))
    rnd = pickle.loads(pickle.dumps(dls.train_ds.tfms[0]))
    assert isinstance(rnd, RandomPairs) and rnd.by_label.keys() == dls.train_ds.tfms[0].by_label.keys()
