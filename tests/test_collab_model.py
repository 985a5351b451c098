"Saving and loading course_helpers.collab_model models: interrupted writes, races, bad files (the reference is nbs/14_collab_model.ipynb)."
import errno, hashlib, json, os, pickle, subprocess, sys, tempfile, threading, warnings
from pathlib import Path
import numpy as np, pandas as pd, pytest, torch
from fastai.tabular.all import set_seed
from fastai.collab import CollabDataLoaders, EmbeddingNN, collab_learner
from course_helpers.files import is_temp_name
from course_helpers.collab_model import CollabModel

def _model(n_factors, seed):
    "A small trained `EmbeddingDotBias` on string user ids, as a `CollabModel`, and the ratings it was trained on."
    rng = np.random.default_rng(0)
    u, i = rng.integers(0, 40, 1500), rng.integers(0, 30, 1500)
    df = pd.DataFrame(dict(user=[f'u{o}' for o in u], title=[f'Movie {o}' for o in i],
                           rating=rng.integers(1, 6, 1500).astype(float))).drop_duplicates(['user', 'title'])
    dls = CollabDataLoaders.from_df(df, item_name='title', bs=128, seed=42)
    set_seed(seed)
    learn = collab_learner(dls, n_factors=n_factors, y_range=(0, 5.5))
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(1, 3e-2)
    return df, CollabModel.from_learner(learn)

@pytest.fixture(scope='module')
def models():
    "Two different models on the same ids (A: 4 factors, B: 6), the ratings, and pairs to predict."
    df, a = _model(4, 1)
    _, b = _model(6, 2)
    pairs = list(df.user[:50]), list(df.title[:50])
    return a, b, pairs

def which(path, a, b, pairs):
    "'A' or 'B': which of the two models the folder `path` loads as (an error if it loads as neither)."
    p = CollabModel.load(path).predict(*pairs)
    for name, m in (('A', a), ('B', b)):
        if np.array_equal(p, m.predict(*pairs)): return name
    raise AssertionError(f'{path} loads as neither model')

def leftovers(path): return sorted(p.name for p in path.iterdir() if is_temp_name(p.name))   # atomic_write's temporary files

# --- interrupted writes: every step of a save fails in turn, and the folder still holds a whole model

class Faults:
    "Count the calls to the primitives a save writes with, and make call `n` of `what` fail like a full disk."
    def __init__(self, monkeypatch, what=None, n=0):
        self.what, self.n, self.calls = what, n, {}
        fdopen, fsync, replace, unlink, mkstemp = os.fdopen, os.fsync, os.replace, os.unlink, tempfile.mkstemp
        def hit(name):
            self.calls[name] = self.calls.get(name, 0) + 1
            if name == self.what and self.calls[name] == self.n: raise OSError(errno.ENOSPC, f'No space left on device (simulated, {name})')
        class Half:
            "A file whose writes fail half way when the fault is on `write`."
            def __init__(s, f): s.f = f
            def __enter__(s): return s
            def __exit__(s, *a): s.f.close()
            def __getattr__(s, k): return getattr(s.f, k)
            def write(s, data):
                try: hit('write')
                except OSError: s.f.write(data[:len(data)//2]); raise
                return s.f.write(data)
        def wrap(name, f): return lambda *a, **k: (hit(name), f(*a, **k))[1]
        monkeypatch.setattr(os, 'fdopen', lambda *a, **k: Half(fdopen(*a, **k)))
        monkeypatch.setattr(os, 'fsync', wrap('fsync', fsync))
        monkeypatch.setattr(os, 'replace', wrap('replace', replace))
        monkeypatch.setattr(os, 'unlink', wrap('unlink', unlink))
        monkeypatch.setattr(tempfile, 'mkstemp', wrap('mkstemp', mkstemp))

def save_steps(models, tmp_path):
    "How often a save over an existing model calls each primitive (counted once, with no fault)."
    a, b, _ = models
    with pytest.MonkeyPatch.context() as mp:
        a.save(tmp_path/'count')
        f = Faults(mp)
        b.save(tmp_path/'count')
    assert f.calls.get('write', 0) >= 2 and f.calls.get('replace', 0) >= 2 and f.calls.get('unlink', 0) >= 1
    return [(k, n) for k, c in sorted(f.calls.items()) for n in range(1, c+1)]

def test_a_failure_at_every_write_step_keeps_a_whole_model(models, tmp_path, monkeypatch):
    a, b, pairs = models
    for what, n in save_steps(models, tmp_path):
        path = a.save(tmp_path/f'{what}{n}')
        with monkeypatch.context() as mp:
            Faults(mp, what, n)
            try: b.save(path); failed = False
            except OSError as e: failed = True; assert 'No space left' in str(e)
        got = which(path, a, b, pairs)   # always one whole model...
        assert got == ('A' if failed else 'B'), (what, n, got)   # ...the old one exactly when the save failed
        assert not leftovers(path), (what, n)
        b.save(path)                     # and the next save works, and cleans up
        assert which(path, a, b, pairs) == 'B' and len(list(path.glob('weights-*.pth'))) == 1

def test_first_save_interrupted_leaves_no_model(models, tmp_path, monkeypatch):
    a, b, pairs = models
    with monkeypatch.context() as mp:
        Faults(mp, 'replace', 2)   # the weights are in place, collab.json is not
        with pytest.raises(OSError): a.save(tmp_path/'new')
    with pytest.raises(FileNotFoundError, match='collab.json not found'): CollabModel.load(tmp_path/'new')
    a.save(tmp_path/'new')       # the half-written folder is ours, so saving into it works
    assert which(tmp_path/'new', a, b, pairs) == 'A' and len(list((tmp_path/'new').glob('weights-*.pth'))) == 1

KILLER = '''
import sys
from course_helpers.collab_model import CollabModel
a, b = CollabModel.load(sys.argv[1]), CollabModel.load(sys.argv[2])
i = 0
while True:
    (a if i % 2 else b).save(sys.argv[3]); i += 1
    print(i, flush=True)
'''

def test_kill_during_saves_leaves_a_whole_model(models, tmp_path):
    "A process saving two models in turn into one folder is killed with SIGKILL: the folder loads as one of them."
    a, b, pairs = models
    target = a.save(tmp_path/'target')
    p = subprocess.Popen([sys.executable, '-c', KILLER, str(a.save(tmp_path/'a')), str(b.save(tmp_path/'b')), str(target)],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        for _ in range(30): assert p.stdout.readline(), 'the saving process died'
    finally: p.kill(); p.wait()
    assert which(target, a, b, pairs) in ('A', 'B')
    a.save(target)
    assert which(target, a, b, pairs) == 'A' and not leftovers(target)

def test_loads_while_saving_always_see_a_whole_model(models, tmp_path):
    "One thread saves A and B in turn, another loads: every load is a whole model (load rereads collab.json if a save swapped it)."
    a, b, pairs = models
    path, stop, errors = a.save(tmp_path/'m'), threading.Event(), []
    def saver():
        i = 0
        while not stop.is_set(): (a if i % 2 else b).save(path); i += 1
    t = threading.Thread(target=saver); t.start()
    try:
        for _ in range(60):
            try: which(path, a, b, pairs)
            except Exception as e: errors.append(repr(e))
    finally: stop.set(); t.join()
    assert not errors, errors[:3]

# --- bad files: refused with an error naming the file

def saved(models, tmp_path, name='m'):
    a, _, _ = models
    path = a.save(tmp_path/name)
    return path, json.loads((path/'collab.json').read_text())

def test_truncated_or_edited_weights(models, tmp_path):
    path, cfg = saved(models, tmp_path)
    w = path/cfg['weights']['file']
    data = w.read_bytes()
    w.write_bytes(data[:len(data)//2])
    with pytest.raises(ValueError, match=f"{w.name} has {len(data)//2:,} bytes but .*collab.json expects {len(data):,}: truncated"): CollabModel.load(path)
    w.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(ValueError, match=f"{w.name} does not match the checksum"): CollabModel.load(path)
    w.unlink()
    with pytest.raises(FileNotFoundError, match=f"{w.name} not found, but .*collab.json needs it"): CollabModel.load(path)

@pytest.mark.parametrize('edit,msg', [
    (lambda t: t[:len(t)//2], 'collab.json is not valid JSON'),
    (lambda t: b'', 'collab.json is not valid JSON'),
    (lambda t: b'\xff\xfe' + t, 'collab.json is not valid JSON'),
    (lambda t: t.replace(b'Movie 1"', b'Movie 100"', 1), 'collab.json was changed after it was saved'),
    (lambda t: b'[1, 2]', 'collab.json does not describe a saved CollabModel'),
    (lambda t: t.replace(b'"format": 2', b'"format": 3'), 'collab.json has format 3'),
])
def test_truncated_or_edited_config(models, tmp_path, edit, msg):
    path, _ = saved(models, tmp_path)
    (path/'collab.json').write_bytes(edit((path/'collab.json').read_bytes()))
    with pytest.raises(ValueError, match=msg): CollabModel.load(path)

def test_mismatched_pair_from_two_saves(models, tmp_path):
    "Files copied between two model folders: the weights of one beside the collab.json of the other are refused."
    a, b, _ = models
    pa, pb = a.save(tmp_path/'a'), b.save(tmp_path/'b')
    wa, wb = [p/json.loads((p/'collab.json').read_text())['weights']['file'] for p in (pa, pb)]
    wa.write_bytes(wb.read_bytes())    # B's weights under A's name
    with pytest.raises(ValueError, match=f'{wa.name} (has .* bytes|does not match)'): CollabModel.load(pa)
    (pa/'collab.json').write_bytes((pb/'collab.json').read_bytes())   # B's collab.json, without B's weights file
    with pytest.raises(FileNotFoundError, match=f'{wb.name} not found'): CollabModel.load(pa)

def resign(path, cfg):
    "Write `cfg` as a collab.json with a valid checksum, as a tool that edits it on purpose would."
    cfg = {k: v for k, v in cfg.items() if k != 'sha256'}
    (path/'collab.json').write_text(json.dumps(cfg | dict(sha256=hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest())))

def test_weights_outside_the_folder_or_not_fitting(models, tmp_path):
    path, cfg = saved(models, tmp_path)
    resign(path, cfg | dict(weights=cfg['weights'] | dict(file='../elsewhere.pth')))
    with pytest.raises(ValueError, match='names weights outside the folder'): CollabModel.load(path)
    resign(path, cfg | dict(arch=cfg['arch'] | dict(n_factors=9)))
    with pytest.raises(ValueError, match='(?s)collab.json and .*weights-.*do not make a model: .*size mismatch'): CollabModel.load(path)
    resign(path, cfg | dict(users=cfg['users'][:-1], user_counts=cfg['user_counts'][:-1]))
    with pytest.raises(ValueError, match='do not make a model'): CollabModel.load(path)

def old_save(m, path):
    "A folder as CollabModel.save wrote the lesson's `DotProductBias` before checksums (format 1): model.pth and an unchecked collab.json."
    path.mkdir()
    (u, us), (i, its) = [(k, list(v.items)) for k, v in m.classes.items()]
    cfg = dict(model='DotProductBias', n_factors=m.model.u_weight.embedding_dim, y_range=list(m.model.y_range), user_name=u,
               item_name=i, users=us, items=its, user_counts=m.counts[u].tolist(), item_counts=m.counts[i].tolist())
    (path/'collab.json').write_text(json.dumps(cfg))
    sd = m.model.state_dict()   # DotProductBias's names: biases as vectors
    torch.save(dict(user_factors=sd['u_weight.weight'], movie_factors=sd['i_weight.weight'], user_bias=sd['u_bias.weight'][:, 0],
                    movie_bias=sd['i_bias.weight'][:, 0]), path/'model.pth')
    return path

def test_older_folders_load_with_a_warning_and_are_upgraded(models, tmp_path):
    a, b, pairs = models
    path = old_save(a, tmp_path/'old')
    with pytest.warns(UserWarning, match='without checksums: save the model again'): assert which(path, a, b, pairs) == 'A'
    b.save(path)   # saving over it replaces model.pth with checksummed weights
    assert which(path, a, b, pairs) == 'B' and not (path/'model.pth').exists()

class _Evil:
    def __reduce__(self): return (open, (str(Path(tempfile.gettempdir())/'course_helpers_collab_pwned'), 'w'))

@pytest.mark.parametrize('older', [True, False])
def test_load_never_unpickles_code(models, tmp_path, older):
    a = models[0]
    path = old_save(a, tmp_path/'m') if older else a.save(tmp_path/'m')
    w = path/('model.pth' if older else json.loads((path/'collab.json').read_text())['weights']['file'])
    with open(w, 'wb') as f: pickle.dump({'user_factors': _Evil()}, f)
    target = Path(tempfile.gettempdir())/'course_helpers_collab_pwned'
    target.unlink(missing_ok=True)
    with warnings.catch_warnings(), pytest.raises(ValueError, match=f'{w.name} (cannot be read as saved weights|has .* bytes)'):
        warnings.simplefilter('ignore')
        CollabModel.load(path)
    assert not target.exists()

def test_truncated_older_weights_name_the_file(models, tmp_path):
    path = old_save(models[0], tmp_path/'old')
    (path/'model.pth').write_bytes((path/'model.pth').read_bytes()[:100])
    with warnings.catch_warnings(), pytest.raises(ValueError, match='model.pth cannot be read as saved weights'):
        warnings.simplefilter('ignore')
        CollabModel.load(path)

# --- where a save goes, and what it refuses to touch

def test_paths_with_tilde(models, tmp_path, monkeypatch):
    a, b, pairs = models
    monkeypatch.setenv('HOME', str(tmp_path))
    path = a.save('~/models/m')
    assert path == tmp_path/'models'/'m' and (path/'collab.json').exists() and not Path('~').exists()
    assert which('~/models/m', a, b, pairs) == 'A'

def test_save_refuses_files_it_did_not_write(models, tmp_path):
    a = models[0]
    (tmp_path/'notes.txt').write_text('mine')
    with pytest.raises(FileExistsError, match=r'holds files CollabModel.save did not write \(notes.txt\)'): a.save(tmp_path)
    with pytest.raises(NotADirectoryError, match='path must be a folder'): a.save(tmp_path/'notes.txt')
    assert (tmp_path/'notes.txt').read_text() == 'mine' and sorted(p.name for p in tmp_path.iterdir()) == ['notes.txt']

def test_ids_and_names_json_would_change_are_refused(models, tmp_path):
    a = models[0]
    users = ['#na#'] + [(1, i) for i in range(1, len(a.classes['user']))]   # tuples: not ids
    with pytest.raises(TypeError, match=r"classes\['user'\]\[1\] must be an id"): CollabModel(a.model, {'user': users, 'title': a.classes['title'].items})
    m = CollabModel(a.model, {('user', 1): a.classes['user'].items, 'title': a.classes['title'].items},
                    {('user', 1): a.counts['user'], 'title': a.counts['title']})   # a column name JSON would turn into a list
    with pytest.raises(TypeError, match='ids that JSON keeps'): m.save(tmp_path/'t')
    assert not (tmp_path/'t').exists()

def test_save_refuses_models_it_cannot_rebuild(models, tmp_path):
    a = models[0]
    net = EmbeddingNN([(len(a.classes['user']), 3), (len(a.classes['title']), 3)], [8], act_cls=torch.nn.Tanh())
    with pytest.raises(TypeError, match='Can only save'): CollabModel(net, a.classes).save(tmp_path/'nn')
    assert not (tmp_path/'nn').exists()
