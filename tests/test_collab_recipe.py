"course_helpers.collab_recipe: the tag tables from files on disk, and the default device (what needs files on disk or monkeypatching)."
import pandas as pd, pytest, torch
from course_helpers.movielens import ML_GENRES
from course_helpers.movielens_synth import synth_movielens
from course_helpers import collab_recipe
from course_helpers.collab_recipe import collab_dls, fit_collab, movie_tags, user_tags, movielens_tags

def item_line(i, title='Toy Story (1995)', date='01-Jan-1995', genres='0|0|0|1|1|1' + '|0'*13):
    return f'{i}|{title}|{date}||http://x|{genres}\n'

def test_movie_tags(tmp_path):
    f = tmp_path/'u.item'
    f.write_bytes((item_line(1) + item_line(2, 'A | B (1971)', '01-Jan-1971') + item_line(3, 'Caf\xe9 (1996)', '')).encode('latin-1'))
    t = movie_tags(f)
    assert list(t.index) == [1, 2, 3] and list(t.columns) == list(ML_GENRES) + ['released 1970s', 'released 1990s']
    assert t.loc[2, 'released 1970s'] == 1 and t.loc[2, 'Comedy'] == 1   # a '|' in the title shifts nothing
    assert t.loc[3, ['released 1970s', 'released 1990s']].sum() == 0     # no date, no decade tag
    assert movie_tags(str(f)).equals(t)

def test_tags_bad_files(tmp_path):
    "Bad files are refused by the readers, `read_movies` and `read_users`, naming the file and the line."
    f = tmp_path/'u.item'; f.write_text(item_line(1) + item_line(1))
    with pytest.raises(ValueError, match='u.item.*line 2'): movie_tags(f)
    with pytest.raises(FileNotFoundError, match='nope'): movie_tags(tmp_path/'nope')
    f = tmp_path/'u.user'; f.write_text('1|x|M|writer|1\n')
    with pytest.raises(ValueError, match='u.user.*line 1'): user_tags(f)

def test_user_tags(tmp_path):
    f = tmp_path/'u.user'; f.write_text('1|24|M|technician|85711\n2|53|F|other|94043\n3|17|M|student|01234\n')
    t = user_tags(f)
    assert list(t.index) == [1, 2, 3] and (t.sum(1) == 3).all()        # one age band, one gender, one occupation
    assert t.loc[1, 'age 18-24'] == t.loc[2, 'age 50-55'] == t.loc[3, 'age 0-17'] == 1
    assert t.loc[2, 'gender F'] == t.loc[3, 'occupation student'] == 1
    assert len([c for c in t.columns if c.startswith('age ')]) == 7     # every band, used or not

def test_movielens_tags_home(tmp_path, monkeypatch):
    "A folder given with `~` is the user's; user tags only when asked for, and only where there is a u.user."
    (tmp_path/'ml').mkdir(); (tmp_path/'ml'/'u.item').write_text(item_line(1))
    monkeypatch.setenv('HOME', str(tmp_path))
    tags = movielens_tags('~/ml')
    assert list(tags) == ['item_tags'] and list(tags['item_tags'].index) == [1]
    assert movielens_tags('~/ml', users=True)['user_tags'] is None
    (tmp_path/'ml'/'u.user').write_text('1|24|M|technician|85711\n')
    assert list(movielens_tags('~/ml', users=True)['user_tags'].index) == [1]

def test_default_device(monkeypatch):
    "`device=None` trains where fastai's `default_device()` says."
    r,_ = synth_movielens(n_users=60, n_movies=80, n_ratings=1500, seed=1)
    dls = collab_dls(r.iloc[:1200], r.iloc[1200:])
    asked = []
    def fake(): asked.append(True); return torch.device('cpu')
    monkeypatch.setattr(collab_recipe, 'default_device', fake)
    learn,_ = fit_collab(dls, epochs=1)
    assert asked and next(learn.model.parameters()).device == torch.device('cpu')
    asked.clear(); fit_collab(dls, epochs=1, device='cpu'); assert not asked
