"MovieLens loaders and generator in course_helpers.movielens and movielens_synth: bad input, files on disk, and the default set's shape."
import dataclasses, functools, os, socket, time, zipfile
from pathlib import Path
import numpy as np, pandas as pd, pytest
import course_helpers.movielens_synth as data, course_helpers.movielens
from course_helpers.files import atomic_dir, dir_problem
from fastai.data.external import URLs
from fastcore.xtras import untar_dir
from course_helpers.movielens_synth import *
from course_helpers.movielens import (ML100K, ML_GENRES, load_movielens, movielens_path, movielens_stats, read_movies, read_ratings)

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

@pytest.fixture(scope='module')
def default():
    return synth_movielens()

# --- reading good files

def test_load_good_folder(tmp_path):
    df = load_movielens(ml_dir(tmp_path))
    assert list(df.columns) == ['user', 'movie', 'rating', 'timestamp', 'title']
    assert df.title.tolist() == ['Heat (1995)', 'Amélie (2001)', 'Amélie (2001)']  # latin-1 decoded, u.data order kept
    assert df.rating.tolist() == [4, 3, 5] and df.rating.dtype == np.int64

# --- bad input: each error names the file and the line, column or value

@pytest.mark.parametrize('text,msg', [
    ('1\t10\t4\t881250949\n2\t20\t3\n', "u.data, line 2, column 'timestamp': value is missing"),
    ('1\t10\t4\n2\t20\t3\n', 'u.data has 3 columns, expected 4: user, movie, rating, timestamp'),
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
    with pytest.raises(FileNotFoundError, match='MovieLens folder .*nowhere not found'): load_movielens(tmp_path/'nowhere')

def test_folder_arguments(tmp_path, monkeypatch):
    "A file instead of a folder, a path with ~, a rating_range that is not (lowest, highest)."
    d = ml_dir(tmp_path)
    with pytest.raises(NotADirectoryError, match='u.data is a file: expected a MovieLens folder'): load_movielens(d/'u.data')
    monkeypatch.setenv('HOME', str(tmp_path))
    assert len(load_movielens('~/ml')) == 3
    for r in [(5, 1), (3,), 5, ('a', 'b'), (1, 2, 3)]:
        with pytest.raises(ValueError, match='must be \\(lowest, highest\\), lowest first'): load_movielens(d, rating_range=r)

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

# --- the generator on small sizes

@pytest.mark.parametrize('nu,nm,nr', [(60, 150, 3000), (30, 40, 1000), (100, 500, 2000), (25, 30, 750)])
def test_synth_shapes(nu, nm, nr):
    r,t = synth_movielens(n_users=nu, n_movies=nm, n_ratings=nr, n_factors=4, seed=0)
    assert list(r.columns) == ['user', 'movie', 'rating', 'timestamp', 'title']
    assert len(r) == nr and not r.duplicated(['user', 'movie']).any()
    assert sorted(r.user.unique()) == list(range(1, nu+1)) and sorted(r.movie.unique()) == list(range(1, nm+1))
    assert r.groupby('user').size().min() >= 20 and r.rating.between(1, 5).all()
    assert t.user_factors.shape == (nu, 4) and t.movie_factors.shape == (nm, 4) and t.user_bias.shape == (nu,)
    assert len(t.movies) == nm and t.movies.title.is_unique and not r.title.isna().any()

def test_synth_reproducible(small):
    again,_ = synth_movielens(n_users=60, n_movies=150, n_ratings=3000, seed=3)
    pd.testing.assert_frame_equal(again, small[0])
    other,_ = synth_movielens(n_users=60, n_movies=150, n_ratings=3000, seed=4)
    assert not other.equals(small[0])

def test_synth_bad_sizes():
    with pytest.raises(ValueError, match='n_ratings=100 must lie between'): synth_movielens(n_users=10, n_movies=50, n_ratings=100)
    with pytest.raises(ValueError, match='n_ratings=600 must lie between'): synth_movielens(n_users=10, n_movies=50, n_ratings=600)
    with pytest.raises(ValueError, match='min_user_ratings=20 exceeds n_movies=10'): synth_movielens(n_users=5, n_movies=10, n_ratings=50)

def test_truth_noise_floor(small):
    r,t = small
    e = t.expected_rating(r.user.values, r.movie.values)
    assert np.isclose(t.noise_floor, np.sqrt(((e - r.rating)**2).mean()))
    # knowing less than the truth is worse: drop the factors, or shift the score
    assert dataclasses.replace(t, user_factors=0*t.user_factors).best_rmse(r) > t.noise_floor + 0.05
    assert dataclasses.replace(t, mu=t.mu + 0.5).best_rmse(r) > t.noise_floor
    # with almost no noise, the expected rating is the rating
    crisp,tc = synth_movielens(n_users=60, n_movies=150, n_ratings=3000, noise_sd=1e-3, seed=3)
    assert tc.noise_floor < 0.05

def test_genres_drive_movie_factors(default):
    t = default[1]
    g = t.movies[list(ML_GENRES)].values
    assert (g.sum(1) >= 1).all()
    v = t.movie_factors/np.linalg.norm(t.movie_factors, axis=1, keepdims=True)
    iu = np.triu_indices(len(g), 1)
    same = (g @ g.T > 0)[iu]
    cos = (v @ v.T)[iu]
    assert cos[same].mean() > cos[~same].mean() + 0.2

# --- writing and reading back

def test_round_trip(tmp_path, small):
    r,t = small
    d = write_movielens(r, t, tmp_path/'synth')
    assert sorted(o.name for o in d.iterdir()) == ['synthetic.json', 'truth.npz', 'u.data', 'u.item', 'u1.base', 'u1.test']
    pd.testing.assert_frame_equal(load_movielens(d), r)
    t2 = movielens_truth(d)
    for k in ('user_bias', 'movie_bias', 'user_factors', 'movie_factors', 'genre_factors', 'thresholds'):
        np.testing.assert_array_equal(getattr(t2, k), getattr(t, k))
    assert (t2.mu, t2.noise_sd, t2.noise_floor, t2.params) == (t.mu, t.noise_sd, t.noise_floor, {**t.params, 'shares': list(t.params['shares'])})
    assert np.isclose(t2.best_rmse(r), t.noise_floor)
    assert (t2.movies[list(ML_GENRES)].values == t.movies[list(ML_GENRES)].values).all()
    assert 'GENERATED' in (d/'synthetic.json').read_text()

def test_u1_split(tmp_path, small):
    d = write_movielens(*small, tmp_path/'synth')
    base,test = read_ratings(d/'u1.base'),read_ratings(d/'u1.test')
    assert len(base) + len(test) == len(small[0])
    assert 0.17 < len(test)/len(small[0]) < 0.23
    assert test.user.isin(base.user).all()
    both = pd.concat([base, test])
    assert not both.duplicated(['user', 'movie']).any()
    assert both.sort_values(['user', 'movie']).reset_index(drop=True).equals(
        small[0][list(data.RATING_COLS)].sort_values(['user', 'movie']).reset_index(drop=True))

def test_write_is_atomic(tmp_path, small, monkeypatch):
    def boom(*a, **k): raise OSError('disk full')
    monkeypatch.setattr(data.np, 'savez', boom)  # fail after u.data, u.item, ... are written
    with pytest.raises(OSError, match='disk full'): write_movielens(*small, tmp_path/'synth')
    assert list(tmp_path.iterdir()) == []  # neither the folder nor a half-written temporary one

def test_write_refuses_existing(tmp_path, small):
    (tmp_path/'synth').mkdir()
    with pytest.raises(FileExistsError, match='synth already exists'): write_movielens(*small, tmp_path/'synth')

def test_truth_of_a_real_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match='not a generated set'): movielens_truth(ml_dir(tmp_path))

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
    monkeypatch.setattr(course_helpers.movielens.socket, 'create_connection', lambda *a, **k: time.sleep(5))
    t = time.perf_counter()
    assert not course_helpers.movielens._online('files.grouplens.org', 0.2)
    assert time.perf_counter() - t < 1.5
    monkeypatch.undo()
    with socket.create_server(('127.0.0.1', 0)) as srv:
        port = srv.getsockname()[1]
        assert course_helpers.movielens._online('127.0.0.1', 1, port)
    assert not course_helpers.movielens._online('127.0.0.1', 1, port)  # closed now

# --- the default set is shaped like ML-100k

def test_default_matches_ml100k(default):
    r,t = default
    st = movielens_stats(r)
    assert (st['n_users'], st['n_movies'], st['n_ratings']) == (943, 1682, 100_000)
    assert st['min_user_ratings'] == 20
    assert np.allclose(st['shares'], ML100K['shares'], atol=0.015)
    assert abs(st['mean'] - ML100K['mean']) < 0.05 and abs(st['std'] - ML100K['std']) < 0.05
    assert 20 <= st['movie_pcts'][2] <= 35  # real median: 27 ratings per movie
    assert np.allclose(st['movie_pcts'], ML100K['movie_pcts'], rtol=0.15, atol=1)
    assert np.allclose(st['user_pcts'], ML100K['user_pcts'], rtol=0.1)
    assert 0.6 < st['movie_max']/ML100K['movie_max'] < 1.4 and 0.6 < st['user_max']/ML100K['user_max'] < 1.4
    assert abs(st['top10_share'] - ML100K['top10_share']) < 0.03
    assert abs(st['global_mean_rmse'] - ML100K['global_mean_rmse']) < 0.03
    assert 0.7 < t.noise_floor < st['global_mean_rmse'] - 0.2  # room for a model to learn, but not to be perfect

def test_stats_on_a_toy_table():
    st = movielens_stats(pd.DataFrame(dict(user=[1,1,1,2], movie=[1,2,3,1], rating=[5,4,4,1])))
    assert (st['n_users'], st['n_movies'], st['n_ratings'], st['min_user_ratings']) == (2, 3, 4, 1)
    assert st['shares'] == (0.25, 0, 0, 0.5, 0.25) and st['mean'] == 3.5 and st['movie_max'] == 2

def test_concurrent_writers(tmp_path):
    "If another process renames its finished folder into place first, the loser cleans up and says so."
    dest = tmp_path/'synth'
    def write(d):
        (d/'u.data').write_text(GOOD_DATA)
        dest.mkdir(); (dest/'u.data').write_text(GOOD_DATA)  # the other process wins meanwhile
    with pytest.raises(FileExistsError, match='already exists'): atomic_dir(dest, write)
    assert [o.name for o in tmp_path.iterdir()] == ['synth'] and [o.name for o in dest.iterdir()] == ['u.data']

def test_u1_split_keeps_test_users_in_base():
    "Users with one or two ratings are the hard case: a plain random split would put some only in the test part."
    r = pd.DataFrame(dict(user=np.repeat(np.arange(1, 201), 2)[:300], movie=np.arange(300)%7+1, rating=3, timestamp=0))
    base,test = data._split_u1(r, seed=0)
    assert len(test) > 0 and test.user.isin(base.user).all() and len(base)+len(test) == len(r)
