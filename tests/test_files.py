"Atomic writes in course_helpers.files under failure: other writers, killed writers and failing renames or disks."
import os, signal, subprocess, sys, time
from pathlib import Path
import pytest
import course_helpers.files as files
from course_helpers.files import atomic_dir, atomic_write, cached_dir, dir_problem, ORPHAN_AGE

def age(p:Path, seconds:float):
    "Set the modification time of `p` and everything under it to `seconds` ago."
    t = time.time() - seconds
    for q in [p, *p.rglob('*')] if p.is_dir() else [p]: os.utime(q, (t, t))

def test_concurrent_writers(tmp_path):
    "If another process renames its finished folder into place first, the loser cleans up and says so."
    dest = tmp_path/'synth'
    def write(d):
        (d/'u.data').write_text('1')
        dest.mkdir(); (dest/'u.data').write_text('2')  # the other process wins meanwhile
    with pytest.raises(FileExistsError, match='already exists'): atomic_dir(dest, write)
    assert [o.name for o in tmp_path.iterdir()] == ['synth'] and (dest/'u.data').read_text() == '2'

def test_orphans_cleaned_not_live_ones(tmp_path):
    "Temporary folders and files untouched for ORPHAN_AGE go on the next write beside them; recent ones and others stay."
    for name in ('.a.tmpabcd1234', '.b.tmp_x9y8z7w', '.c.tmp00000000', '.d.oldabcd1234', 'e.tmpabcd1234'):
        (tmp_path/name).mkdir(); (tmp_path/name/'f').write_text('x')
    (tmp_path/'.f.tmpzzzzzzzz').write_text('x')  # a file left by atomic_write
    for name in ('.a.tmpabcd1234', '.b.tmp_x9y8z7w', '.d.oldabcd1234', 'e.tmpabcd1234', '.f.tmpzzzzzzzz'): age(tmp_path/name, ORPHAN_AGE + 60)
    age(tmp_path/'.c.tmp00000000', ORPHAN_AGE + 60); os.utime(tmp_path/'.c.tmp00000000'/'f')  # a live writer just wrote a file
    atomic_dir(tmp_path/'new', lambda d: None)
    assert sorted(o.name for o in tmp_path.iterdir()) == ['.c.tmp00000000', 'e.tmpabcd1234', 'new']   # an old folder set aside goes too

KILLED = '''
import sys, time
from course_helpers.files import atomic_dir
def write(d):
    (d/'part').write_text('half'); print('writing', flush=True); time.sleep(60)
atomic_dir(sys.argv[1], write)
'''

def test_killed_writer(tmp_path):
    "kill -9 halfway: no folder appears; its temporary folder stays while it could be live, and goes once it is old."
    p = subprocess.Popen([sys.executable, '-c', KILLED, str(tmp_path/'set')], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline() == 'writing\n'
    p.send_signal(signal.SIGKILL); p.wait()
    (orphan,) = tmp_path.iterdir()
    assert orphan.name.startswith('.set.tmp') and not (tmp_path/'set').exists()
    atomic_dir(tmp_path/'set', lambda d: (d/'whole').write_text('ok'))
    assert orphan.exists() and (tmp_path/'set'/'whole').exists()  # too recent to be sure its writer is dead
    age(orphan, ORPHAN_AGE + 1)
    atomic_dir(tmp_path/'other', lambda d: None)
    assert sorted(o.name for o in tmp_path.iterdir()) == ['other', 'set']

def test_failed_swap_keeps_old(tmp_path, monkeypatch):
    "If renaming the new folder into place fails, the old one is put back."
    atomic_dir(tmp_path/'m', lambda d: (d/'v').write_text('old'))
    real, calls = os.rename, []
    def rename(a, b):
        calls.append((a, b))
        if len(calls) == 2: raise OSError('disk gone')
        real(a, b)
    monkeypatch.setattr(files.os, 'rename', rename)
    with pytest.raises(OSError, match='disk gone'): atomic_dir(tmp_path/'m', lambda d: (d/'v').write_text('new'), overwrite=True)
    assert [o.name for o in tmp_path.iterdir()] == ['m'] and (tmp_path/'m'/'v').read_text() == 'old'

def test_atomic_write_failure_keeps_old(tmp_path, monkeypatch):
    atomic_write(tmp_path/'model.json', '{"v": 1}')
    monkeypatch.setattr(files.os, 'fsync', lambda fd: (_ for _ in ()).throw(OSError('No space left on device')))
    with pytest.raises(OSError, match='No space left'): atomic_write(tmp_path/'model.json', '{"v": 2}')
    assert [o.name for o in tmp_path.iterdir()] == ['model.json'] and (tmp_path/'model.json').read_text() == '{"v": 1}'

def test_cached_dir_regenerates_in_place_of_a_damaged_folder(tmp_path):
    "A file gone from a cached folder: written again whole, with nothing left beside it."
    d = cached_dir(tmp_path/'c', lambda d: [(d/f).write_text(f) for f in 'ab'])
    (d/'a').unlink()
    assert dir_problem(d) == f'{d/"a"} is missing'
    cached_dir(d, lambda d: [(d/f).write_text(f) for f in 'ab'])
    assert dir_problem(d) is None and sorted(o.name for o in tmp_path.iterdir()) == ['c']

def test_data_home_env(monkeypatch, tmp_path):
    "COURSE_HELPERS_DATA set to '' or to a path with ~: the default, or the expanded path; never a folder named '~' or the current one."
    monkeypatch.setenv('HOME', str(tmp_path))
    monkeypatch.chdir(tmp_path)
    for env,home in [('', tmp_path/'.cache'/'course_helpers'), ('  ', tmp_path/'.cache'/'course_helpers'), ('~/d', tmp_path/'d')]:
        monkeypatch.setenv('COURSE_HELPERS_DATA', env)
        assert files.data_home() == home
        if not (files.data_home()/'x').exists(): atomic_dir(files.data_home()/'x', lambda d: None)
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob('x')) == ['.cache/course_helpers/x', 'd/x']
    atomic_dir('~/y', lambda d: None); atomic_write('~/z', 'z')
    assert (tmp_path/'y').is_dir() and (tmp_path/'z').read_text() == 'z' and not (tmp_path/'~').exists()
