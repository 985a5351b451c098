"""What the MovieLens notebooks cannot show: bad files, failed writes, the cache on disk, and where the loaders find the data.

Cases from the bad-input audits (issues 13 and 21) and where each is tested: u.data with a missing, non-numeric, NaN, inf,
True/False, out-of-range or too-large value, extra or missing columns, blank lines before the bad one (`test_bad_ratings`);
u.item with a missing title, a bad, duplicated or too-large id, True as an id (`test_bad_movies`), with '|' or a leading
quote in a title, UTF-8 text, bad genre flags or dates, and u.user files (16_movielens_files); ids past 2**53
(`test_ids_past_float_precision_stay_distinct`); a file for a folder, '~' in a path, a bad `rating_range`
(`test_folder_arguments`); a damaged synthetic.json, truth.npz or u.item in a generated set (`test_truth_of_a_damaged_set`,
`test_rating_range_of_a_damaged_set`); a cut or wrong download, no network, an incomplete real folder (`test_broken_download`,
`test_default_generated`, `test_incomplete_real_folder`); a file deleted from a cached set
(`test_cached_set_regenerated_when_a_file_went`); `mean_rmse` and `movielens_stats` on empty, 2-d, NaN, bool or text input
(10_movielens); generator sizes, spreads (noise_sd=inf), seeds and ids out of range, a ratings/truth pair that does not match
(11_movielens_synth); `COURSE_HELPERS_DATA` set to '' or '~/...', killed writers, failing renames and disks (tests/test_files.py).
"""
import functools, socket, time, zipfile
import pandas as pd, pytest
import course_helpers.movielens_synth as data, course_helpers.movielens
from course_helpers.files import dir_problem
from fastai.data.external import URLs
from fastcore.xtras import untar_dir
from course_helpers.movielens_synth import cached_synth_movielens, movielens_shape, movielens_truth, synth_movielens, write_movielens
from course_helpers.movielens import load_movielens, read_ratings

GOOD_DATA = '1\t10\t4\t881250949\n2\t20\t3\t881250950\n1\t20\t5\t881250951\n'
REST = '|01-Jan-1995||http://x|' + '|'.join('0'*19)  # the 22 fields after a title in u.item
GOOD_ITEM = '10|Heat (1995)|01-Jan-1995||\n20|Amélie (2001)|01-Jan-2001||\n'

def ml_dir(tmp_path, u_data=GOOD_DATA, u_item=GOOD_ITEM, name='ml'):
    "A folder in the ML-100k layout holding the given u.data and u.item text (None: leave the file out)."
    d = tmp_path/name
    d.mkdir()
    if u_data is not None: (d/'u.data').write_text(u_data)
    if u_item is not None: (d/'u.item').write_bytes(u_item.encode('latin-1'))
    return d

@pytest.fixture(scope='module')
def small():
    return synth_movielens(n_users=60, n_movies=150, n_ratings=3000, seed=3)

# --- bad input: each error names the file and the line, column or value

@pytest.mark.parametrize('text,msg', [
    ('1\t10\t4\t881250949\n2\t20\t3\n', "u.data, line 2, column 'timestamp': value is missing"),
    ('1\t10\t4\n2\t20\t3\n', 'u.data has 3 columns, expected 4: tab-separated user, movie, rating, timestamp; its first line is'),
    ('userId,movieId,rating,timestamp\n1,1,4.0,964982703\n', "u.data has 1 columns, expected 4: tab-separated user, movie, rating, timestamp; its first line is 'userId,movieId,rating,timestamp'"),  # ml-latest's CSV
    ('1::1193::5::978300760\n', "u.data has 1 columns, expected 4: tab-separated user, movie, rating, timestamp; its first line is '1::1193::5::978300760'"),  # ML-1M's ratings.dat
    ('1\t10\t4\t881250949\n2\t20\t3\t881250950\t7\n', 'u.data cannot be read as tab-separated'),
    ('1\t10\t4\t881250949\n2\t20\tfour\t881250950\n', "u.data, line 2, column 'rating': 'four' is not a number"),
    ('1\t10\tNaN\t881250949\n', "u.data, line 1, column 'rating': 'NaN' is not a number"),
    ('1\t10\t\t881250949\n', "u.data, line 1, column 'rating': value is missing"),
    ('1\t10\t4\t881250949\n1\t20\t6\t881250950\n', "u.data, line 2, column 'rating': 6 is outside the declared range 1..5"),
    ('1\t10\t0\t881250949\n', "column 'rating': 0 is outside the declared range 1..5"),
    ('1.5\t10\t4\t881250949\n', "u.data, line 1, column 'user': '1.5' is not an integer"),
    ('1\tTen\t4\t881250949\n', "u.data, line 1, column 'movie': 'Ten' is not an integer"),
    ('', 'u.data is empty'),
    ('\n\n', 'u.data is empty'),
    ('1\t30\t4\t881250949\n', "u.data, line 1, column 'movie': movie 30 is not in"),
    ('1\t10\t4\t1\n\n\n2\t30\t4\t2\n', "u.data, line 4, column 'movie': movie 30 is not in"),  # blank lines count
    ('1\t10\t4\t1\n\n2\t20\tfour\t2\n', "u.data, line 3, column 'rating': 'four' is not a number"),
    ('1\t10\tinf\t881250949\n', "u.data, line 1, column 'rating': 'inf' is not a finite number"),
    ('1\t10\t-inf\t881250949\n', "u.data, line 1, column 'rating': '-inf' is not a finite number"),
    ('inf\t10\t4\t881250949\n', "u.data, line 1, column 'user': 'inf' is not an integer"),
    ('1\t10\t4\tinf\n', "u.data, line 1, column 'timestamp': 'inf' is not an integer"),
    ('1\t10\t4\t1\n9223372036854775808\t20\t4\t1\n', "line 2, column 'user': '9223372036854775808' is too large for a 64-bit integer id"),
    ('1\t18446744073709551616\t4\t1\n', "column 'movie': '18446744073709551616' is too large for a 64-bit integer id"),
    ('-9223372036854775809\t10\t4\t1\n', "column 'user': '-9223372036854775809' is too large for a 64-bit integer id"),
    ('True\t10\t4\t1\n', "column 'user': 'True' is not an integer"),  # pandas would read 1
    ('1\t10\tfalse\t1\n', "column 'rating': 'false' is not a number"),
    ('1\t10\t4\t881250949\t\n', 'u.data has 5 columns, expected 4'),
])
def test_bad_ratings(tmp_path, text, msg):
    with pytest.raises(ValueError, match=msg.replace('.', r'\.').replace('(', r'\(')): load_movielens(ml_dir(tmp_path, u_data=text))

@pytest.mark.parametrize('text,msg', [
    ('', 'u.item is empty'),
    ('10\n20\n', 'u.item cannot be read'),
    ('10|Heat (1995)\nx|Amélie (2001)\n', "u.item, line 2, column 'movie': 'x' is not an integer"),
    ('10|Heat (1995)\n20|\n', "u.item, line 2, column 'title': value is missing"),
    ('10|Heat (1995)\n10|Heat (1995)\n', "u.item, line 2, column 'movie': movie id 10 appears twice"),
    ('10|Heat (1995)\n20|   \n', "u.item, line 2, column 'title': value is missing"),
    ('10|Heat (1995)\n\n18446744073709551616|Amélie (2001)\n', "u.item, line 3, column 'movie': '18446744073709551616' is too large"),
    ('10|Heat (1995)\ninf|Amélie (2001)\n', "u.item, line 2, column 'movie': 'inf' is not an integer"),
    ('True|Heat (1995)\n', "u.item, line 1, column 'movie': 'True' is not an integer"),
    (f'1|Heat (1995){REST}\nTrue|Up (2009){REST}\n', "u.item, line 2, column 'movie': 'True' is not an integer"),  # all 24 fields
])
def test_bad_movies(tmp_path, text, msg):
    with pytest.raises(ValueError, match=msg.replace('(', r'\(')): load_movielens(ml_dir(tmp_path, u_item=text))

@pytest.mark.parametrize('missing', ['u.data', 'u.item'])
def test_missing_file(tmp_path, missing):
    d = ml_dir(tmp_path, **{missing.replace('.', '_'): None})
    with pytest.raises(FileNotFoundError, match=str(d/missing)): load_movielens(d)

def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="path must be an existing folder, got '.*nowhere', which does not exist"): load_movielens(tmp_path/'nowhere')

def test_folder_arguments(tmp_path, monkeypatch):
    "A file instead of a folder, a path with ~, a rating_range that is not (lowest, highest)."
    d = ml_dir(tmp_path)
    with pytest.raises(NotADirectoryError, match="path must be a folder, got '.*u.data', which is a file"): load_movielens(d/'u.data')
    monkeypatch.setenv('HOME', str(tmp_path))
    assert len(load_movielens('~/ml')) == 3
    for r,err in [((5, 1), ValueError), ((3,), ValueError), (5, TypeError), (('a', 'b'), TypeError), ((1, 2, 3), ValueError), ((1, float('inf')), ValueError), ((), ValueError)]:
        with pytest.raises(err, match=r'rating_range must be a pair \(lo, hi\) of finite numbers with lo < hi'): load_movielens(d, rating_range=r)
    with pytest.raises(TypeError, match='path must be a path'): load_movielens(3)
    with pytest.raises(IsADirectoryError, match='fname must be a file'): course_helpers.movielens.read_ratings(d)

def test_ids_past_float_precision_stay_distinct(tmp_path):
    "Ids up to 2**63-1 are kept exactly: no rounding through floats merges two users."
    big = 2**63 - 1
    d = ml_dir(tmp_path, u_data=f'{big}\t10\t4\t1\n{big-1}\t10\t4\t2\n')
    assert read_ratings(d/'u.data').user.tolist() == [big, big-1]
    (d/'u.data').write_text(f'{2**53+1}\t10\t4\t1\n{2**53}\t10\t4\t2\n1.0\t20\t3\t3\n')  # floats would merge the first two
    with pytest.raises(ValueError, match=f"line 1, column 'user': '{2**53+1}' has too many digits to read exactly"): read_ratings(d/'u.data')

def test_rating_range_is_a_parameter(tmp_path):
    d = ml_dir(tmp_path, u_data='1\t10\t10\t881250949\n2\t20\t0.5\t881250950\n')
    with pytest.raises(ValueError, match=r'10 is outside the declared range 1\.\.5'): load_movielens(d)
    assert load_movielens(d, rating_range=(0.5, 10)).rating.tolist() == [10, 0.5]
    with pytest.raises(ValueError, match=r"line 2, column 'rating': 0.5 is outside the declared range 1\.\.10"):
        read_ratings(d/'u.data', rating_range=(1, 10))

# --- writing generated sets, and their cache

def test_write_is_atomic(tmp_path, small, monkeypatch):
    def boom(*a, **k): raise OSError('disk full')
    monkeypatch.setattr(data.np, 'savez', boom)  # fail after u.data, u.item, ... are written
    with pytest.raises(OSError, match='disk full'): write_movielens(*small, tmp_path/'synth')
    assert list(tmp_path.iterdir()) == []  # neither the folder nor a half-written temporary one

def test_truth_of_a_real_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match='not a generated set'): movielens_truth(ml_dir(tmp_path))

@pytest.mark.parametrize('damage,msg', [
    (lambda d: (d/'synthetic.json').write_text('{"truth": '), 'synthetic.json or truth.npz does not read .JSONDecodeError'),
    (lambda d: (d/'synthetic.json').write_text('[1, 2]'), 'synthetic.json or truth.npz does not read .TypeError'),
    (lambda d: (d/'truth.npz').write_bytes(b'not a zip'), 'synthetic.json or truth.npz does not read'),
    (lambda d: (d/'u.item').write_text('1|Heat (1995)\n'), "u.item, line 1: 2 fields, expected 24"),
])
def test_truth_of_a_damaged_set(tmp_path, small, damage, msg):
    "A generated folder whose files were edited or cut: the error names the folder or the file, not a bare JSON or zip error."
    d = write_movielens(*small, tmp_path/'synth')
    damage(d)
    with pytest.raises(ValueError, match=msg) as e: movielens_truth(d)
    assert str(d) in str(e.value)

@pytest.mark.parametrize('text,err,msg', [('{"rating_range": [5, 1]}', ValueError, 'synthetic.json: rating_range must be a pair'),
    ('{"rating_range": "1-5"}', TypeError, 'synthetic.json: rating_range must be a pair'),
    ('{"rating_range": ', ValueError, 'synthetic.json does not read as the JSON object'), ('[0.5, 5]', ValueError, 'synthetic.json does not read as the JSON object')])
def test_rating_range_of_a_damaged_set(tmp_path, text, err, msg):
    d = ml_dir(tmp_path)
    (d/'synthetic.json').write_text(text)
    with pytest.raises(err, match=msg): load_movielens(d)

def test_cached_set_needs_a_seed(homes):
    with pytest.raises(ValueError, match='seed must be a whole number for a cached set, got None'): cached_synth_movielens(seed=None)
    assert not homes[1].exists()  # nothing generated

# --- with no path: the real data on disk, else downloaded, else generated

@pytest.fixture
def homes(tmp_path, monkeypatch, small):
    "Empty fastai data folder and generated-data cache, online, with a small set standing in for the default generated one."
    fastai_data = tmp_path/'fastai'/'data'
    fastai_data.mkdir(parents=True)
    monkeypatch.setattr(course_helpers.movielens, 'fastai_path', lambda folder: tmp_path/'fastai'/folder)
    monkeypatch.setenv('COURSE_HELPERS_DATA', str(tmp_path/'cache'))
    for v in ('COURSE_HELPERS_SYNTH', 'COURSE_HELPERS_OFFLINE'): monkeypatch.delenv(v, raising=False)
    monkeypatch.setattr(course_helpers.movielens, '_online', lambda host, timeout, port=443: True)
    monkeypatch.setattr(data, 'synth_movielens', functools.wraps(data.synth_movielens)(lambda **kw: small))
    monkeypatch.setattr(course_helpers.movielens, 'ML100K_FILES', {'u.data': len(GOOD_DATA), 'u.item': len(GOOD_ITEM.encode('latin-1'))})
    return fastai_data, tmp_path/'cache'

def fake_untar(monkeypatch, u_data=GOOD_DATA, cut=None, error=None):
    "Replace fastai's `untar_data` by one that unpacks a zip of an ML-100k folder (cut to `cut` bytes) as fastai does."
    calls = []
    def untar(url, archive=None, data=None, **kw):
        calls.append(url)
        if error: raise error
        archive.mkdir(parents=True)
        with zipfile.ZipFile(archive/'ml-100k.zip', 'w') as z:
            z.writestr('ml-100k/u.data', u_data); z.writestr('ml-100k/u.item', GOOD_ITEM.encode('latin-1'))
        if cut: (archive/'ml-100k.zip').write_bytes((archive/'ml-100k.zip').read_bytes()[:cut])
        return untar_dir(archive/'ml-100k.zip', data, rename=True)
    monkeypatch.setattr(course_helpers.movielens, 'untar_data', untar)
    return calls

def test_default_real_on_disk(homes, capsys, monkeypatch):
    fastai_data,cache = homes
    calls = fake_untar(monkeypatch)
    ml_dir(fastai_data, name='ml-100k')
    df = load_movielens()
    assert capsys.readouterr().out == f'Using the real MovieLens 100k in {fastai_data/"ml-100k"}\n'
    assert len(df) == 3 and not cache.exists() and not calls

def test_default_downloads(homes, capsys, monkeypatch):
    fastai_data,cache = homes
    calls = fake_untar(monkeypatch)
    df = load_movielens()
    assert capsys.readouterr().out == f'Using the real MovieLens 100k, downloaded just now to {fastai_data/"ml-100k"}\n'
    assert len(df) == 3 and calls == [URLs.ML_100k] and not cache.exists()
    assert [o.name for o in fastai_data.iterdir()] == ['ml-100k']  # no archive or temporary folder left
    assert sorted(o.name for o in (fastai_data/'ml-100k').iterdir()) == ['u.data', 'u.item']
    load_movielens()
    assert 'Using the real MovieLens 100k in' in capsys.readouterr().out and len(calls) == 1  # downloaded once

@pytest.mark.parametrize('env,online,why', [('COURSE_HELPERS_OFFLINE', True, 'COURSE_HELPERS_OFFLINE is set'),
    (None, False, 'did not answer within 3 s'), ('COURSE_HELPERS_SYNTH', True, 'COURSE_HELPERS_SYNTH is set')])
def test_default_generated(homes, capsys, monkeypatch, small, env, online, why):
    fastai_data,cache = homes
    calls = fake_untar(monkeypatch)
    if env: monkeypatch.setenv(env, '1')
    if env == 'COURSE_HELPERS_SYNTH': ml_dir(fastai_data, name='ml-100k')  # stand-ins only, even with the real data there
    monkeypatch.setattr(course_helpers.movielens, '_online', lambda host, timeout, port=443: online)
    df = load_movielens()
    out = capsys.readouterr().out
    assert out.startswith('Using GENERATED') and why in out and out.count('\n') == 1 and not calls
    pd.testing.assert_frame_equal(df, small[0])

@pytest.mark.parametrize('kw,why', [(dict(cut=60), 'is not a zip file'), (dict(u_data=GOOD_DATA[:-5]), "is not the ML-100k expected"),
                                    (dict(error=ConnectionResetError('reset by peer')), 'reset by peer')])
def test_broken_download(homes, capsys, monkeypatch, small, kw, why):
    "A cut archive, wrong contents or a dropped connection: fall back to the generated set and leave nothing behind."
    fastai_data,cache = homes
    calls = fake_untar(monkeypatch, **kw)
    pd.testing.assert_frame_equal(load_movielens(), small[0])
    out = capsys.readouterr().out
    assert out.startswith('Using GENERATED') and 'downloading it failed' in out and why in out and calls
    assert list(fastai_data.iterdir()) == []  # no half-written ml-100k folder that a later call would trust
    fake_untar(monkeypatch)
    assert len(load_movielens()) == 3 and 'downloaded just now' in capsys.readouterr().out  # the next try starts afresh

def test_incomplete_real_folder(homes, capsys, monkeypatch):
    "A copy cut short (say, an interrupted unpacking) is neither trusted nor touched."
    fastai_data,cache = homes
    calls = fake_untar(monkeypatch)
    d = ml_dir(fastai_data, u_data=GOOD_DATA[:-5], name='ml-100k')
    load_movielens()
    out = capsys.readouterr().out
    assert 'GENERATED' in out and f'{d/"u.data"} has {len(GOOD_DATA)-5:,} bytes, not {len(GOOD_DATA):,}' in out and not calls
    assert (d/'u.data').read_text() == GOOD_DATA[:-5]

def test_online_gives_up_in_time(monkeypatch):
    "A name lookup or connection that hangs costs `timeout` seconds, not minutes."
    monkeypatch.setattr(course_helpers.movielens.socket, 'create_connection', lambda *a, **k: (time.sleep(2), socket.socket())[1])
    t = time.perf_counter()
    assert not course_helpers.movielens._online('files.grouplens.org', 0.2)
    assert time.perf_counter() - t < 1.5
    monkeypatch.undo()
    with socket.create_server(('127.0.0.1', 0)) as srv:
        port = srv.getsockname()[1]
        assert course_helpers.movielens._online('127.0.0.1', 1, port)
    assert not course_helpers.movielens._online('127.0.0.1', 1, port)  # closed now

def test_cached_set_regenerated_when_a_file_went(homes, small):
    "A file deleted or cut short in a cached generated set: the next call writes the set again, whole."
    fastai_data,cache = homes
    d = cached_synth_movielens()
    (d/'u1.test').unlink()
    (d/'u.data').write_text('1\t1\t1\t1\n')
    assert cached_synth_movielens() == d and not dir_problem(d)
    pd.testing.assert_frame_equal(load_movielens(d), small[0])
    assert [o.name for o in cache.iterdir()] == [d.name]  # nothing left beside it

def test_cache_folder_changes_with_parameters_and_version(homes, monkeypatch):
    a = data._synth_dir()
    assert a == data._synth_dir(seed=42) == data._synth_dir(**movielens_shape('ml-100k'))  # the defaults are part of the name
    assert len({a, data._synth_dir(seed=1), data._synth_dir(noise_sd=0.5), data._synth_dir(**movielens_shape('ml-1m'))}) == 4
    with pytest.raises(TypeError, match='synth_movielens has no argument nusers'): cached_synth_movielens(nusers=10)
    monkeypatch.setattr(data, 'ML_SYNTH_VERSION', data.ML_SYNTH_VERSION + 1)
    assert a != data._synth_dir()
