"Paddy Doctor loader and generator: the Kaggle layout on disk, and a clear error for each kind of bad input."
import shutil
from pathlib import Path

import numpy as np, pandas as pd, pytest
from PIL import Image

import course_helpers.paddy_synth as D
from course_helpers.paddy_synth import draw_paddy, paddy_counts, synth_paddy
from course_helpers.paddy import (PADDY_COLS, PADDY_LABELS, PADDY_LABEL_COUNTS, PADDY_VARIETIES, PADDY_VARIETY_COUNTS,
                                  check_paddy, load_paddy, paddy_path)

SMALL = dict(n_train=30, n_test=3, size=32, min_per=2)


@pytest.fixture(scope='session')
def tiny(tmp_path_factory):
    "A tiny generated set, made once; tests that break it work on a copy."
    return synth_paddy(tmp_path_factory.mktemp('gen')/'paddy', **SMALL)


@pytest.fixture
def paddy(tiny, tmp_path):
    "A fresh copy of the tiny set, with its train.csv read as strings."
    p = Path(shutil.copytree(tiny, tmp_path/'paddy'))
    return p, pd.read_csv(p/'train.csv', dtype=str)


def write_csv(p, df): df.to_csv(p/'train.csv', index=False)


# --- the generated set has the Kaggle layout -------------------------------------------------------------------------

def test_layout_matches_kaggle(tiny):
    test_ids = sorted(o.name for o in (tiny/'test_images').iterdir())
    assert sorted(o.name for o in tiny.iterdir()) == ['sample_submission.csv', 'test_images', 'train.csv', 'train_images']
    assert sorted(o.name for o in (tiny/'train_images').iterdir()) == PADDY_LABELS
    df = pd.read_csv(tiny/'train.csv')
    assert list(df.columns) == PADDY_COLS and len(df) == 30
    assert df.image_id.str.fullmatch(r'1\d{5}\.jpg').all()
    for r in df.itertuples():
        with Image.open(tiny/'train_images'/r.label/r.image_id) as im: assert (im.format, im.size) == ('JPEG', (24, 32))  # portrait
    assert sorted(o.name for p in (tiny/'train_images').iterdir() for o in p.iterdir()) == sorted(df.image_id)
    assert test_ids == ['200001.jpg', '200002.jpg', '200003.jpg']
    assert pd.read_csv(tiny/'sample_submission.csv').image_id.tolist() == test_ids
    assert set(df.variety) <= set(PADDY_VARIETIES) and df.age.between(45, 82).all()


def test_load_generated_returns_train_csv(tiny):
    path, df = load_paddy(tiny)
    assert path == tiny
    expected = pd.read_csv(tiny/'train.csv')
    pd.testing.assert_frame_equal(df, expected)
    assert df.age.dtype.kind == 'i'


def test_same_seed_same_data(tmp_path):
    a, b, c = [synth_paddy(tmp_path/n, **SMALL, seed=s) for n,s in [('a', 1), ('b', 1), ('c', 2)]]
    assert (a/'train.csv').read_text() == (b/'train.csv').read_text()
    fa = sorted((a/'train_images').glob('*/*.jpg'))
    assert all(f.read_bytes() == (b/f.relative_to(a)).read_bytes() for f in fa)
    assert (a/'train.csv').read_text() != (c/'train.csv').read_text()


def test_draw_is_deterministic_and_labels_differ():
    im = np.asarray(draw_paddy('blast', 'ADT45', 64, seed=5))
    assert im.shape == (64, 48, 3)
    assert (np.asarray(draw_paddy('blast', 'ADT45', 64, seed=5)) == im).all()
    assert (np.asarray(draw_paddy('normal', 'ADT45', 64, seed=5)) != im).any()
    assert (np.asarray(draw_paddy('blast', 'Ponni', 64, seed=5)) != im).any()


def test_imbalance_like_the_real_set(tmp_path):
    df = pd.read_csv(synth_paddy(tmp_path/'p', n_train=300, n_test=0, size=16, min_per=5)/'train.csv')
    lc, vc = df.label.value_counts(), df.variety.value_counts()
    assert lc.index[0] == 'normal' and lc.index[-1] == 'bacterial_panicle_blight'
    assert vc.index[0] == 'ADT45' and vc['ADT45'] > len(df)/3
    assert set(lc.index) == set(PADDY_LABELS) and set(vc.index) == set(PADDY_VARIETIES)
    assert lc.min() >= 5 and vc.min() >= 5


def test_counts_keep_real_proportions_above_the_floor():
    c = paddy_counts(PADDY_LABEL_COUNTS, 600, 20)
    assert sum(c.values()) == 600 and c['bacterial_panicle_blight'] == 20
    assert list(c) == list(PADDY_LABEL_COUNTS) and all(a >= b for a,b in zip(list(c.values()), list(c.values())[1:]))
    v = paddy_counts(PADDY_VARIETY_COUNTS, 600, 20)
    assert sum(v.values()) == 600 and min(v.values()) == 20 and max(v, key=v.get) == 'ADT45'
    assert paddy_counts(PADDY_VARIETY_COUNTS, 10_407) == PADDY_VARIETY_COUNTS
    with pytest.raises(ValueError, match='too small'): paddy_counts(PADDY_LABEL_COUNTS, 50, 20)


# --- caching, and no half-written sets -------------------------------------------------------------------------------

def test_default_folder_is_cached_by_parameters(tmp_path, monkeypatch):
    monkeypatch.setenv('COURSE_HELPERS_DATA', str(tmp_path))
    p = synth_paddy(**SMALL)
    assert p.parent == tmp_path and (p/'train.csv').exists()
    mtime = (p/'train.csv').stat().st_mtime_ns
    assert synth_paddy(**SMALL) == p and (p/'train.csv').stat().st_mtime_ns == mtime  # reused, not redrawn
    assert synth_paddy(**{**SMALL, 'seed': 7}) != p
    assert not list(tmp_path.glob('.tmp-*'))


def test_interrupted_generation_leaves_nothing(tmp_path, monkeypatch):
    calls = []
    def boom(*args, **kw):
        calls.append(1)
        if len(calls) > 5: raise KeyboardInterrupt
        return draw_paddy(*args, **kw)
    monkeypatch.setattr(D, 'draw_paddy', boom)
    with pytest.raises(KeyboardInterrupt): synth_paddy(tmp_path/'p', **SMALL)
    assert list(tmp_path.iterdir()) == []


def test_two_processes_generating_at_once_keep_one_whole_set(tmp_path, monkeypatch):
    monkeypatch.setenv('COURSE_HELPERS_DATA', str(tmp_path))
    first, draw = [], D.draw_paddy
    def other_process_finishes_first(*args, **kw):
        if not first:  # while this run draws its first image, another one writes the same set completely
            monkeypatch.setattr(D, 'draw_paddy', draw)
            first.append(synth_paddy(**SMALL))
        return draw(*args, **kw)
    monkeypatch.setattr(D, 'draw_paddy', other_process_finishes_first)
    p = synth_paddy(**SMALL)
    assert p == first[0] and len(check_paddy(p)) == 30
    assert [o.name for o in tmp_path.iterdir()] == [p.name]  # no temporary folder left behind


def test_existing_folder_is_not_overwritten(tiny):
    with pytest.raises(FileExistsError, match=str(tiny)): synth_paddy(tiny, **SMALL)


def test_no_path_prefers_real_folder(paddy, monkeypatch, capsys):
    monkeypatch.delenv('COURSE_HELPERS_SYNTH', raising=False)
    p, _ = paddy
    real = p.parent/'paddy-disease-classification'
    p.rename(real)
    monkeypatch.chdir(real.parent)
    path, df = load_paddy()
    assert path.resolve() == real.resolve() and len(df) == 30
    assert 'using the real data' in capsys.readouterr().out


def test_no_path_falls_back_to_generated(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv('COURSE_HELPERS_DATA', str(tmp_path/'cache'))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(D, 'synth_paddy', lambda: synth_paddy(**SMALL))  # the default set, made smaller
    path = paddy_path()
    assert path.parent == tmp_path/'cache'
    out = capsys.readouterr().out
    assert 'generated' in out and str(path) in out and out.count('\n') == 1


# --- bad input: each error names the file, row, column or value ------------------------------------------------------

def test_missing_train_csv(paddy):
    p, _ = paddy
    (p/'train.csv').unlink()
    with pytest.raises(FileNotFoundError, match=f'no train.csv in {p}'): load_paddy(p)


def test_missing_column(paddy):
    p, df = paddy
    write_csv(p, df.drop(columns='variety'))
    with pytest.raises(ValueError, match=r"no column\(s\) \['variety'\]"): load_paddy(p)


@pytest.mark.parametrize('col', PADDY_COLS)
def test_empty_value(paddy, col):
    p, df = paddy
    df.loc[3, col] = ''
    write_csv(p, df)
    with pytest.raises(ValueError, match=f"column '{col}' is empty in 1 row.*row 3"): load_paddy(p)


def test_age_not_numeric(paddy):
    p, df = paddy
    df.loc[4, 'age'] = 'sixty'
    write_csv(p, df)
    with pytest.raises(ValueError, match=f"'age' must be a number, got 'sixty' in row 4 \\({df.image_id[4]}\\)"): load_paddy(p)


def test_missing_image(paddy):
    p, df = paddy
    r = df.iloc[6]
    (p/'train_images'/r.label/r.image_id).unlink()
    with pytest.raises(FileNotFoundError, match=f"{r.label}/{r.image_id} of row 6 is missing"): load_paddy(p)


def test_image_in_wrong_label_folder(paddy):
    p, df = paddy
    r = df.iloc[0]
    other = next(l for l in PADDY_LABELS if l != r.label)
    (p/'train_images'/r.label/r.image_id).rename(p/'train_images'/other/r.image_id)
    with pytest.raises(ValueError, match=f"{r.image_id} is in train_images/{other}/ but row 0 says label '{r.label}'"): load_paddy(p)


@pytest.mark.parametrize('damage', ['garbage', 'truncated', 'empty'])
def test_corrupt_image(paddy, damage):
    p, df = paddy
    r = df.iloc[2]
    f = p/'train_images'/r.label/r.image_id
    data = f.read_bytes()
    f.write_bytes({'garbage': b'not a jpeg at all', 'truncated': data[:len(data)//2], 'empty': b''}[damage])
    with pytest.raises(ValueError, match=f'cannot read image {f}'): load_paddy(p)
    assert load_paddy(p, check_images=False)[1].image_id[2] == r.image_id  # the slow check can be skipped


def test_duplicate_image_id(paddy):
    p, df = paddy
    write_csv(p, pd.concat([df, df.iloc[[5]]], ignore_index=True))
    with pytest.raises(ValueError, match=f"repeat an image_id: row 30 \\({df.image_id[5]}\\)"): load_paddy(p)


def test_unknown_label_and_variety_are_accepted(paddy):
    p, df = paddy
    r = df.iloc[1]
    (p/'train_images'/'rust').mkdir()
    (p/'train_images'/r.label/r.image_id).rename(p/'train_images'/'rust'/r.image_id)
    df.loc[1, ['label', 'variety']] = ['rust', 'Basmati']
    write_csv(p, df)
    _, got = load_paddy(p)
    assert got.loc[1, ['label', 'variety']].tolist() == ['rust', 'Basmati']
