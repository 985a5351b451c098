"Paddy Doctor on disk: the generator's cache and atomic writes, the Kaggle download path, and a clear error per bad file."
import shutil, sys, zipfile
from pathlib import Path

import numpy as np, pandas as pd, pytest

import course_helpers.paddy as P
import course_helpers.paddy_synth as D
from course_helpers.paddy import PADDY_COMP, PADDY_LABELS, check_paddy, load_paddy, paddy_path
from course_helpers.paddy_synth import synth_paddy

SMALL = dict(n_train=30, n_test=3, size=32, min_per=2)


@pytest.fixture
def paddy(tiny_paddy_copy):
    "A fresh copy of conftest's tiny set, with its train.csv read as strings."
    return tiny_paddy_copy, pd.read_csv(tiny_paddy_copy/'train.csv', dtype=str)


def write_csv(p, df): df.to_csv(p/'train.csv', index=False)


# --- the generator: same seed same set, cached by its parameters, never half written ---------------------------------

def test_load_generated_returns_train_csv(tiny_paddy):
    tiny = tiny_paddy[0]
    path, df = load_paddy(tiny)
    assert path == tiny
    pd.testing.assert_frame_equal(df, pd.read_csv(tiny/'train.csv'))
    assert df.age.dtype.kind == 'i'


def test_same_seed_same_data(tmp_path):
    a, b, c = [synth_paddy(tmp_path/n, **SMALL, seed=s) for n,s in [('a', 1), ('b', 1), ('c', 2)]]
    assert (a/'train.csv').read_text() == (b/'train.csv').read_text()
    assert all(f.read_bytes() == (b/f.relative_to(a)).read_bytes() for f in sorted((a/'train_images').glob('*/*.jpg')))
    assert (a/'train.csv').read_text() != (c/'train.csv').read_text()


def test_default_folder_is_cached_by_parameters(tmp_path, monkeypatch):
    monkeypatch.setenv('COURSE_HELPERS_DATA', str(tmp_path))
    p = synth_paddy(**SMALL)
    assert p.parent == tmp_path and (p/'train.csv').exists()
    mtime = (p/'train.csv').stat().st_mtime_ns
    assert synth_paddy(**SMALL) == p and (p/'train.csv').stat().st_mtime_ns == mtime  # reused, not redrawn
    assert synth_paddy(**{**SMALL, 'seed': 7}) != p
    assert not list(tmp_path.glob('.*tmp*'))


def test_damaged_cache_folder_is_written_anew(tmp_path, monkeypatch):
    monkeypatch.setenv('COURSE_HELPERS_DATA', str(tmp_path))
    p = synth_paddy(**SMALL)
    img = next((p/'train_images').glob('*/*.jpg'))
    img.unlink()                                   # a file deleted from the cached set...
    assert synth_paddy(**SMALL) == p and img.exists() and len(check_paddy(p)) == 30  # ...is drawn again
    (p/'train.csv').write_text('image_id,label\n')  # a file cut short, likewise
    assert len(check_paddy(synth_paddy(**SMALL))) == 30


def test_interrupted_generation_leaves_nothing(tmp_path, monkeypatch):
    calls, draw = [], D.draw_paddy
    def boom(*args, **kw):
        calls.append(1)
        if len(calls) > 5: raise KeyboardInterrupt
        return draw(*args, **kw)
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


def test_tilde_in_dest_is_home(tmp_path, monkeypatch):
    monkeypatch.setenv('HOME', str(tmp_path))
    p = synth_paddy('~/paddy', **SMALL)
    assert p == tmp_path/'paddy' and (tmp_path/'paddy'/'train.csv').exists()
    assert load_paddy('~/paddy', check_images=False)[0] == tmp_path/'paddy'


# --- finding the data: real folder, Kaggle download, or the stand-in, said in one line --------------------------------

@pytest.fixture
def no_real_data(no_kaggle_env, monkeypatch):
    "No real data anywhere, the stand-in made small, SYNTH and OFFLINE unset, no Kaggle credentials."
    tmp_path = no_kaggle_env
    monkeypatch.setenv('COURSE_HELPERS_DATA', str(tmp_path/'cache'))
    monkeypatch.setattr(P, 'fastai_path', lambda folder: tmp_path/'fastai'/folder)
    monkeypatch.setattr(D, 'synth_paddy', lambda: synth_paddy(**SMALL))  # the default set, made smaller
    return tmp_path


@pytest.fixture
def fake_kaggle(kaggle_api, tiny_paddy):
    "A stand-in `kaggle` package whose API 'downloads' the tiny set as the competition's zip; records its calls."
    calls, tiny = [], tiny_paddy[0]
    def download(comp, path, quiet=True):
        calls.append(comp)
        with zipfile.ZipFile(Path(path)/f'{comp}.zip', 'w') as z:
            for f in tiny.rglob('*'):
                if f.is_file(): z.write(f, f.relative_to(tiny))
    kaggle_api(competition_download_files=download)
    return calls


def one_line(capsys):
    out = capsys.readouterr().out
    assert out.count('\n') == 1, out
    return out


def test_no_path_prefers_real_folder(paddy, monkeypatch, capsys):
    monkeypatch.delenv('COURSE_HELPERS_SYNTH', raising=False)
    p, _ = paddy
    real = p.parent/PADDY_COMP
    p.rename(real)
    monkeypatch.chdir(real.parent)
    path, df = load_paddy()
    assert path.resolve() == real.resolve() and len(df) == len(pd.read_csv(real/'train.csv'))
    assert 'using the real data' in one_line(capsys)


def test_without_kaggle_package_says_how_in_one_line(no_real_data, monkeypatch, capsys):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, 'find_spec', lambda name, *a: None if name == 'kaggle' else real(name, *a))
    path = paddy_path()
    out = one_line(capsys)
    assert path.parent == no_real_data/'cache'
    assert "pip install 'course_helpers[kaggle]'" in out and 'kaggle.json' in out and 'rules' in out and str(path) in out


def test_without_credentials_no_download(no_real_data, fake_kaggle, capsys):
    path = paddy_path()
    out = one_line(capsys)
    assert fake_kaggle == [] and path.parent == no_real_data/'cache'
    assert 'kaggle.json' in out and 'generated stand-in' in out


def test_offline_never_downloads(no_real_data, fake_kaggle, monkeypatch, capsys):
    monkeypatch.setenv('KAGGLE_USERNAME', 'u'); monkeypatch.setenv('KAGGLE_KEY', 'k')
    monkeypatch.setenv('COURSE_HELPERS_OFFLINE', '1')
    path = paddy_path()
    assert fake_kaggle == [] and path.parent == no_real_data/'cache'
    assert 'COURSE_HELPERS_OFFLINE' in one_line(capsys)


def test_synth_set_never_looks_for_real_data(no_real_data, fake_kaggle, monkeypatch, capsys):
    monkeypatch.setenv('KAGGLE_USERNAME', 'u'); monkeypatch.setenv('KAGGLE_KEY', 'k')
    monkeypatch.setenv('COURSE_HELPERS_SYNTH', '1')
    assert paddy_path().parent == no_real_data/'cache' and fake_kaggle == []
    assert 'COURSE_HELPERS_SYNTH' in one_line(capsys)


def test_downloads_with_credentials(no_real_data, fake_kaggle, tiny_paddy, capsys):
    (no_real_data/'home'/'.kaggle').mkdir(parents=True)
    (no_real_data/'home'/'.kaggle'/'kaggle.json').write_text('{"username": "u", "key": "k"}')
    path, df = load_paddy()
    assert fake_kaggle == [PADDY_COMP] and path == no_real_data/'fastai'/'data'/PADDY_COMP
    assert 'downloaded the real data' in one_line(capsys) and len(df) == len(pd.read_csv(tiny_paddy[0]/'train.csv'))
    assert sorted(o.name for o in path.parent.iterdir()) == [PADDY_COMP]  # the zip and the temporary folder are gone
    assert paddy_path() == path and fake_kaggle == [PADDY_COMP]  # found, not downloaded again


def test_failed_download_leaves_nothing_and_says_why(no_real_data, fake_kaggle, monkeypatch, capsys):
    monkeypatch.setenv('KAGGLE_USERNAME', 'u'); monkeypatch.setenv('KAGGLE_KEY', 'k')
    def refused(comp, path, quiet=True): raise PermissionError('403 Forbidden')
    monkeypatch.setattr(sys.modules['kaggle'].api, 'competition_download_files', refused)
    path = paddy_path()
    out = one_line(capsys)
    assert 'download failed (PermissionError: 403 Forbidden)' in out and 'rules' in out and path.parent == no_real_data/'cache'
    assert not (no_real_data/'fastai'/'data').exists() or list((no_real_data/'fastai'/'data').iterdir()) == []


def test_download_into_a_folder_without_train_csv_says_so(no_real_data, fake_kaggle, monkeypatch):
    "A folder without train.csv where the download goes is named and left alone; one another process finishes meanwhile is used."
    monkeypatch.setenv('KAGGLE_USERNAME', 'u'); monkeypatch.setenv('KAGGLE_KEY', 'k')
    dest = no_real_data/'fastai'/'data'/PADDY_COMP
    (dest/'train_images').mkdir(parents=True)
    with pytest.raises(FileExistsError, match=f'{dest} exists but has no train.csv'): P.download_paddy()
    assert [o.name for o in dest.iterdir()] == ['train_images']
    shutil.rmtree(dest)
    api = sys.modules['kaggle'].api; download = api.competition_download_files
    def racing(comp, path, quiet=True):
        download(comp, path, quiet); dest.mkdir(); (dest/'train.csv').write_text('theirs')   # the other process renames first
    monkeypatch.setattr(api, 'competition_download_files', racing)
    assert P.download_paddy() == dest and (dest/'train.csv').read_text() == 'theirs'
    assert sorted(o.name for o in dest.parent.iterdir()) == [PADDY_COMP]   # our temporary folder is gone


# --- bad input: each error names the file, row, column or value -------------------------------------------------------

def test_missing_train_csv(paddy):
    p, _ = paddy
    (p/'train.csv').unlink()
    with pytest.raises(FileNotFoundError, match=f'no train.csv in {p}'): load_paddy(p)


def test_missing_column(paddy):
    p, df = paddy
    write_csv(p, df.drop(columns='variety'))
    with pytest.raises(ValueError, match=r"no column\(s\) \['variety'\]"): load_paddy(p)


@pytest.mark.parametrize('col', ['image_id', 'label', 'variety', 'age'])
def test_empty_value(paddy, col):
    p, df = paddy
    df.loc[3, col] = ''
    write_csv(p, df)
    with pytest.raises(ValueError, match=f"column '{col}' is empty in 1 row.*row 3"): load_paddy(p)


@pytest.mark.parametrize('age', ['sixty', 'inf', '-inf', 'nan', '-3'])
def test_age_not_a_finite_number_of_days(paddy, age):
    p, df = paddy
    df.loc[4, 'age'] = age
    write_csv(p, df)
    with pytest.raises(ValueError, match=f"'age' must be a finite number of days >= 0, got '{age}' in row 4 \\({df.image_id[4]}\\)"):
        load_paddy(p)


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


def test_same_image_in_two_label_folders(paddy):
    p, df = paddy
    r = df.iloc[0]
    other = next(l for l in PADDY_LABELS if l != r.label)
    shutil.copy(p/'train_images'/r.label/r.image_id, p/'train_images'/other/r.image_id)
    with pytest.raises(ValueError, match=f"image {r.image_id} is in 2 label folders \\({', '.join(sorted([r.label, other]))}\\)"):
        load_paddy(p)


def test_label_folder_not_in_train_csv(paddy):
    "A folder of new photos (say train_images/rust/) that train.csv does not know would be trained on as a new class."
    p, df = paddy
    (p/'train_images'/'rust').mkdir()
    for i in range(3): shutil.copy(p/'train_images'/df.label[0]/df.image_id[0], p/'train_images'/'rust'/f'90000{i}.jpg')
    (p/'train_images'/'rust'/'notes.txt').write_text('not an image: ignored')
    with pytest.raises(ValueError, match=r"3 image\(s\) have no row in .*train.csv.*rust/900000.jpg, rust/900001.jpg"): load_paddy(p)


def test_image_outside_a_label_folder(paddy):
    p, df = paddy
    shutil.copy(p/'train_images'/df.label[0]/df.image_id[0], p/'train_images'/'stray.jpg')
    with pytest.raises(ValueError, match="images must be in train_images/<label>/, found 1 elsewhere: stray.jpg"): load_paddy(p)


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
    with pytest.raises(ValueError, match=f"repeat an image_id: row {len(df)} \\({df.image_id[5]}\\)"): load_paddy(p)


def test_unknown_label_and_variety_are_accepted(paddy):
    p, df = paddy
    r = df.iloc[1]
    (p/'train_images'/'rust').mkdir()
    (p/'train_images'/r.label/r.image_id).rename(p/'train_images'/'rust'/r.image_id)
    df.loc[1, ['label', 'variety']] = ['rust', 'Basmati']
    write_csv(p, df)
    _, got = load_paddy(p)
    assert got.loc[1, ['label', 'variety']].tolist() == ['rust', 'Basmati']


def test_empty_train_csv_is_named(paddy):
    p, _ = paddy
    (p/'train.csv').write_bytes(b'')
    with pytest.raises(ValueError, match=f"{p/'train.csv'} is empty \\(0 bytes\\)"): load_paddy(p)


@pytest.mark.parametrize('kw, err, msg', [
    (dict(seed=-1), ValueError, 'seed must be .*got -1'), (dict(seed=None), TypeError, 'seed must be a whole number'),
    (dict(n_train=200.0), TypeError, r'n_train must be a whole number >= 1, got 200.0 \(float\)'),
    (dict(n_train=12, min_per=0), ValueError, 'min_per must be a whole number >= 1, got 0'),
    (dict(n_train=12, min_per=2), ValueError, 'n_train=12 is too small for 10 diseases with at least min_per=2'),
    (dict(n_test=-1), ValueError, 'n_test must be a whole number >= 0, got -1'), (dict(size=float('inf')), TypeError, 'size must be a whole number'),
    (dict(n_train=True), TypeError, 'n_train must be a whole number'),
])
def test_synth_paddy_bad_arguments_are_named(tmp_path, kw, err, msg):
    "Each argument of the generator is checked before anything is drawn or a cache folder named."
    with pytest.raises(err, match=msg): synth_paddy(tmp_path/'p', **kw)
    assert not (tmp_path/'p').exists()


def test_show_paddy_arguments_are_checked(tiny_paddy):
    path, df = tiny_paddy
    with pytest.raises(ValueError, match='n must be a whole number >= 1, got 0'): P.show_paddy(path, df, n=0)
    with pytest.raises(KeyError, match="df has no column 'colour'"): P.show_paddy(path, df, by='colour')


def test_download_paddy_never_downloads_offline(no_real_data, fake_kaggle, monkeypatch):
    monkeypatch.setenv('KAGGLE_USERNAME', 'u'); monkeypatch.setenv('KAGGLE_KEY', 'k')
    monkeypatch.setenv('COURSE_HELPERS_OFFLINE', '1')
    with pytest.raises(RuntimeError, match='COURSE_HELPERS_OFFLINE is set'): P.download_paddy()
    assert fake_kaggle == []
