"Mid-level data helpers: what needs pytest (files on disk, a home folder, pickling for `learn.export`); the behaviour is tested in nbs/05_midlevel.ipynb."
import pickle
import numpy as np, pytest, torch
from course_helpers.midlevel import TitleNumericalize, tokenize_title, paddy_datasets, siamese_dls, FixedPairs, RandomPairs, SiameseImage

def test_numericalize_pickles_with_its_vocab():
    num = TitleNumericalize()
    num.setup([tokenize_title('Toy Story (1995)'), tokenize_title('Heat (1995)')])
    num2 = pickle.loads(pickle.dumps(num))
    assert num2.vocab == num.vocab
    assert torch.equal(num2(['heat', 'zzz']), num(['heat', 'zzz']))
    assert num2.decode(num2(['heat', 'zzz'])) == ['heat', 'xxunk']


def test_paddy_datasets_file_missing_from_csv(tiny_paddy):
    path, df = tiny_paddy
    name = df.image_id.iloc[0]   # its image stays on disk; the error comes at setup (training) or on access (validation)
    with pytest.raises(KeyError, match=f"{name} is not in train.csv: no row has image_id '{name}'"):
        ds = paddy_datasets(path, df.iloc[1:])
        for i in range(len(ds)): ds[i]


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
