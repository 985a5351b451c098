"The Fashion photos' loader on a tiny folder the tests make: what it reads, what it drops, what it refuses, where it looks."
import json, shutil, sys, zipfile
from pathlib import Path

import numpy as np, pandas as pd, pytest

import course_helpers.fashion as FA
import course_helpers.paddy as P
from course_helpers.fashion import FASHION_DIR, FASHION_DS, check_fashion, fashion_path, load_fashion, read_styles


def styles(p): return pd.read_csv(p/'styles.csv', dtype=str, keep_default_na=False)


def test_tiny_folder_is_read_whole(tiny_fashion_dir, capsys):
    path, df = load_fashion(tiny_fashion_dir)
    assert path == tiny_fashion_dir and len(df) == 36 and df.attrs['no_photo'] == [] and df.attrs['unlisted'] == 0
    assert df.id.dtype.kind == 'i' and df.fname.map(Path.exists).all()
    assert capsys.readouterr().out.startswith('36 of 36 rows kept: 0 without a photo')


def test_extra_commas_are_joined_into_the_last_field(tmp_path):
    "Kaggle's styles.csv has unquoted commas in productDisplayName, its last column: pandas stops, read_styles joins them."
    f = tmp_path/'styles.csv'
    f.write_text('id,gender,articleType,productDisplayName\n1,Men,Tshirts,Basic tee\n2,Women,Heels,Red, high, heels\n3,Men,Shirts,Plain\n')
    with pytest.raises(pd.errors.ParserError): pd.read_csv(f)
    df = read_styles(f)
    assert df.productDisplayName.tolist() == ['Basic tee', 'Red, high, heels', 'Plain'] and df.attrs['joined'] == 1


def test_short_line_is_named(tmp_path):
    f = tmp_path/'styles.csv'
    f.write_text('id,gender,articleType\n1,Men,Tshirts\n2,Women\n')
    with pytest.raises(ValueError, match=f'{f}: line 3 has 2 fields, the header has 3'): read_styles(f)


def test_missing_or_empty_styles_csv_is_named(tiny_fashion_copy):
    p = tiny_fashion_copy
    (p/'styles.csv').write_bytes(b'')
    with pytest.raises(ValueError, match=f"{p/'styles.csv'} is empty \\(0 bytes\\)"): check_fashion(p)
    (p/'styles.csv').unlink()
    with pytest.raises(FileNotFoundError, match=f"no styles.csv at {p/'styles.csv'}"): check_fashion(p)


def test_missing_images_folder_or_photos(tiny_fashion_copy):
    p = tiny_fashion_copy
    for f in (p/'images').iterdir(): f.unlink()
    with pytest.raises(FileNotFoundError, match=f"no .jpg photos in {p/'images'}"): check_fashion(p)
    shutil.rmtree(p/'images')
    with pytest.raises(FileNotFoundError, match=f'no images/ folder in {p}'): check_fashion(p)


def test_rows_without_photos_and_missing_labels_are_dropped_and_counted(tiny_fashion_copy):
    "A label written as NA (as the real copy writes 15 missing colours) or left blank is missing."
    p = tiny_fashion_copy
    (p/'images'/'1003.jpg').unlink(); (p/'images'/'2005.jpg').unlink()
    df = styles(p); df.loc[df.id == '3001', 'gender'] = 'NA'; df.loc[df.id == '3002', 'gender'] = ' '; df.to_csv(p/'styles.csv', index=False)
    shutil.copy(p/'images'/'1000.jpg', p/'images'/'9999.jpg')   # a photo no row lists
    got = check_fashion(p)
    assert got.attrs['no_photo'] == [1003, 2005] and got.attrs['no_label'] == [3001, 3002] and got.attrs['unlisted'] == 1
    assert len(got) == 32 and not got.id.isin([1003, 2005, 3001, 3002, 9999]).any()
    assert len(check_fashion(p, cols='articleType')) == 34   # gender not asked for: its missing values do not matter


def test_no_usable_row_is_refused(tiny_fashion_copy):
    p = tiny_fashion_copy
    df = styles(p); df['gender'] = ''; df.to_csv(p/'styles.csv', index=False)
    with pytest.raises(ValueError, match="no row has both a photo .* and every label in \\['articleType', 'gender'\\]"): check_fashion(p)


@pytest.mark.parametrize('bad', ['abc', '1.5', '-2', ''])
def test_bad_id_is_named_with_its_line(tiny_fashion_copy, bad):
    p = tiny_fashion_copy
    df = styles(p); df.loc[4, 'id'] = bad; df.to_csv(p/'styles.csv', index=False)
    with pytest.raises(ValueError, match=f"column 'id' must be a whole number >= 0, got '{bad}' on line 6"): check_fashion(p)


def test_repeated_id_and_missing_column(tiny_fashion_copy):
    p = tiny_fashion_copy
    df = styles(p)
    pd.concat([df, df.iloc[[2]]]).to_csv(p/'styles.csv', index=False)
    with pytest.raises(ValueError, match=f"id {df.id[2]} is on lines 4, 38: one row per photo"): check_fashion(p)
    df.drop(columns='gender').to_csv(p/'styles.csv', index=False)
    with pytest.raises(ValueError, match=r"has no column\(s\) \['gender'\]"): check_fashion(p)


@pytest.mark.parametrize('damage', ['truncate', 'garbage'])
def test_corrupt_photo_is_named_when_checked(tiny_fashion_copy, damage):
    p = tiny_fashion_copy
    f = p/'images'/'2003.jpg'
    f.write_bytes(f.read_bytes()[:200] if damage == 'truncate' else b'not a jpeg')
    assert len(check_fashion(p)) == 36   # photos are not decoded unless asked
    with pytest.raises(ValueError, match=f'cannot read image {f}'): check_fashion(p, check_images=True)


# --- where it looks: a folder on disk, else the Kaggle API, else one line saying how -------------------------------------

@pytest.fixture
def nowhere(no_kaggle_env, monkeypatch):
    "No photos anywhere, SYNTH and OFFLINE unset, no Kaggle credentials."
    for m in (FA, P): monkeypatch.setattr(m, 'fastai_path', lambda folder: no_kaggle_env/'fastai'/folder)
    return no_kaggle_env


@pytest.fixture
def fake_kaggle(kaggle_api, tiny_fashion_dir):
    "A stand-in `kaggle` package whose API 'downloads' the tiny folder as Kaggle's zip (inside a subfolder, as Kaggle's has one)."
    calls = []
    def download(ds, path, quiet=True):
        calls.append(ds)
        with zipfile.ZipFile(Path(path)/'fashion-product-images-small.zip', 'w') as z:
            for f in tiny_fashion_dir.rglob('*'):
                if f.is_file(): z.write(f, Path('myntradataset')/f.relative_to(tiny_fashion_dir))
    kaggle_api(dataset_download_files=download)
    return calls


def test_folder_in_the_current_directory_is_found(nowhere, tiny_fashion_dir, capsys):
    shutil.copytree(tiny_fashion_dir, nowhere/FASHION_DIR)
    assert fashion_path() == Path(FASHION_DIR)
    assert capsys.readouterr().out == f'Fashion photos: using the real data in {FASHION_DIR}\n'


def test_nothing_found_says_how_in_one_line(nowhere, fake_kaggle, capsys):
    with pytest.raises(FileNotFoundError, match=f'kaggle.json.*kaggle datasets download {FASHION_DS}'): fashion_path()
    assert fashion_path(missing_ok=True) is None
    out = capsys.readouterr().out
    assert out.count('\n') == 1 and f'kaggle datasets download {FASHION_DS}' in out and fake_kaggle == []


@pytest.mark.parametrize('env', ['COURSE_HELPERS_OFFLINE', 'COURSE_HELPERS_SYNTH'])
def test_offline_or_synth_never_downloads(nowhere, fake_kaggle, monkeypatch, env):
    monkeypatch.setenv('KAGGLE_USERNAME', 'u'); monkeypatch.setenv('KAGGLE_KEY', 'k')
    monkeypatch.setenv(env, '1')
    with pytest.raises(FileNotFoundError, match=env): fashion_path()
    with pytest.raises(RuntimeError, match='COURSE_HELPERS_OFFLINE is set'): monkeypatch.setenv('COURSE_HELPERS_OFFLINE', '1') or FA.download_fashion()
    assert fake_kaggle == []


def test_downloads_with_credentials_atomically(nowhere, fake_kaggle, capsys):
    (nowhere/'home'/'.kaggle').mkdir(parents=True)
    (nowhere/'home'/'.kaggle'/'kaggle.json').write_text('{"username": "u", "key": "k"}')
    path, df = load_fashion()
    assert fake_kaggle == [FASHION_DS] and path == nowhere/'fastai'/'data'/FASHION_DIR and len(df) == 36
    assert sorted(o.name for o in path.iterdir()) == ['images', 'styles.csv'] and 'downloaded the real data into' in capsys.readouterr().out
    assert sorted(o.name for o in path.parent.iterdir()) == [FASHION_DIR]   # no zip, no temporary folder
    assert fashion_path() == path and fake_kaggle == [FASHION_DS]          # found, not downloaded again


def test_failed_download_leaves_nothing_and_says_why(nowhere, fake_kaggle, monkeypatch):
    monkeypatch.setenv('KAGGLE_USERNAME', 'u'); monkeypatch.setenv('KAGGLE_KEY', 'k')
    def refused(ds, path, quiet=True): raise PermissionError('403 Forbidden')
    monkeypatch.setattr(sys.modules['kaggle'].api, 'dataset_download_files', refused)
    with pytest.raises(FileNotFoundError, match='download failed \\(PermissionError: 403 Forbidden\\)'): fashion_path()
    assert not (nowhere/'fastai'/'data').exists() or list((nowhere/'fastai'/'data').iterdir()) == []


@pytest.mark.parametrize('kw, err, msg', [(dict(n_per=0), ValueError, 'n_per must be'), (dict(n_classes=1.5), TypeError, 'n_classes must be'),
                                          (dict(n_per=50), ValueError, 'n_per=50 is more than the 12 photos'), (dict(seed=-1), ValueError, 'seed must be')])
def test_subset_arguments(tiny_fashion_dir, kw, err, msg):
    with pytest.raises(err, match=msg): FA.fashion_subset(check_fashion(tiny_fashion_dir), **kw)


# --- the benchmark's entry point, on the tiny folder -------------------------------------------------------------------

def test_benchmark_main_on_a_tiny_folder(tiny_fashion_dir, tmp_path, capsys):
    "benchmarks/multitarget_photos.py trains one target against two over seeds and lengths, and writes results with their spread."
    from multitarget_photos import main
    res = main(path=str(tiny_fashion_dir), n_classes=3, n_per=10, seeds=2, epochs='1,2', bs=8,
               out=str(tmp_path/'r.json'), plot_to=str(tmp_path/'r.png'), quiet=True)
    assert (tmp_path/'r.png').stat().st_size > 0 and json.dumps(json.loads((tmp_path/'r.json').read_text())) == json.dumps(json.loads(json.dumps(res)))
    runs = pd.DataFrame(res['runs'])
    assert len(runs) == 2 * 2 * 2 and set(runs.targets) == {'one', 'two'} and runs[runs.targets == 'one'].gender_err.isna().all()
    s = pd.DataFrame(res['summary']).set_index('epochs')
    w = runs.pivot_table(index=['epochs', 'seed'], columns='targets', values='type_err')
    d = (w.two - w.one).groupby('epochs')
    assert np.allclose(s['diff'], d.mean(), atol=1e-4) and np.allclose(s.diff_sd, d.std(), atol=1e-4)   # the JSON holds 5 decimals
    assert np.allclose(s.diff_sem * np.sqrt(2), s.diff_sd, atol=1e-4)
    assert np.array(res['stem_weights']).shape == (8, 3, 3, 3) and np.array(res['head']['mean_acts']).shape == (3, 3 + 2)
    out = capsys.readouterr().out
    assert f"majority-class validation error: articleType {res['baselines']['articleType']['majority_err']:.3f}" in out
    again = main(out=str(tmp_path/'r.json'), plot_to=str(tmp_path/'again.png'), plot_only=True)  # redraws, trains nothing
    assert json.dumps(again) == json.dumps(json.loads(json.dumps(res)))
    assert (tmp_path/'again.png').stat().st_size > 0


def test_benchmark_refuses_bad_arguments(tiny_fashion_dir, tmp_path):
    from multitarget_photos import main
    with pytest.raises(ValueError, match='seeds must be a whole number >= 2, got 1'): main(path=str(tiny_fashion_dir), seeds=1)
    with pytest.raises((TypeError, ValueError), match=r"epochs\[1\] must be a whole number >= 1, got 'x'"): main(path=str(tiny_fashion_dir), epochs='4,x')
    with pytest.raises(ValueError, match='bs=64 is more than the 24 training photos'):
        main(path=str(tiny_fashion_dir), n_classes=3, n_per=10, seeds=2, epochs='1', out=str(tmp_path/'r.json'), plot_to=str(tmp_path/'r.png'))


def test_styles_csv_that_is_not_text_is_named(tmp_path):
    f = tmp_path/'styles.csv'
    f.write_bytes(b'id,gender\n1,\xff\xfe\n')
    with pytest.raises(ValueError, match=f'{f} is not a readable CSV file'): read_styles(f)
