"The tools behind `make readme`, `make lessons` and tools/execute.py, and the rules every committed notebook keeps."
import json, re, pytest, nbformat, yaml
from nbformat.v4 import new_notebook, new_code_cell, new_markdown_cell, new_output
import build_site, compat, execute, make_readme, render   # tools/ and benchmarks/ are on the path (conftest.py)
import read_ratings as bench_read, synth_movielens as bench_synth
from render import CFG, NBS, ROOT

KERNEL = {'kernelspec': {'name': 'python3', 'language': 'python', 'display_name': 'python3'}}
MAX_NB_BYTES = 1_500_000

def write_nb(path, *cells):
    nbformat.write(new_notebook(cells=list(cells), metadata=KERNEL), path)
    return path

# --- the committed notebooks and generated files ---------------------------------------------------------------------

def test_readme_matches_index_notebook(tmp_path):
    out = make_readme.main(out=tmp_path/'README.md')
    assert out.read_text() == (ROOT/'README.md').read_text(), "README.md is stale: run `make readme`"

def test_readme_install_line_and_data_table():
    "The line a learner pastes installs from settings.ini's git_url; the table of data needs names every module."
    from course_helpers._modidx import d
    text = (ROOT/'README.md').read_text()
    assert f'!pip install -q git+{CFG.git_url}\n' in text
    table = text[text.index('| module | needs |'):].split('\n\n')[0].splitlines()[2:]
    listed = {m for row in table for m in re.findall(r'`(\w+)`', row.split('|')[1])}
    assert not {m.split('.')[1] for m in d['syms']} - listed, 'add the new module to the data table in nbs/index.ipynb'

def test_sidebar_lists_every_notebook():
    listed = yaml.safe_load((NBS/'sidebar.yml').read_text())['website']['sidebar']['contents']
    missing = [p.name for p in render.notebooks() if p.name not in listed]
    assert not missing, f"nbs/sidebar.yml does not list {missing}: run `.venv/bin/nbdev_sidebar`"
    if not CFG.custom_sidebar: assert (NBS/'sidebar.yml').read_text() == render.sidebar_yml(), "run `.venv/bin/nbdev_sidebar`"

@pytest.mark.parametrize('path', render.notebooks(), ids=lambda p: p.name)
def test_notebook_is_clean(path):
    "Small enough to read on GitHub, a title and description for its page, no progress-bar leftovers in its outputs."
    assert path.stat().st_size <= MAX_NB_BYTES, f'{path.name} is {path.stat().st_size/1e6:.1f} MB: use a smaller figsize/dpi'
    fm = render.frontmatter(path)
    assert fm.get('title') and fm.get('description'), f'{path.name} needs a `# Title` and a `> description` in its first cell'
    nb = nbformat.read(path, as_version=4)
    bad = [f'cell {i}: {p}' for i,c in enumerate(nb.cells) if c.cell_type == 'code'
           for p in map(execute.output_problem, c.outputs) if p]
    assert not bad, f'{path.name}: rerun `.venv/bin/python tools/execute.py nbs/{path.name}`; it holds\n' + '\n'.join(bad)

# --- directives and which cells run, as nbdev reads them -------------------------------------------------------------

def test_directives_are_nbdevs():
    c = new_code_cell('#| hide\n#|eval: false\nx = 1\n#| not a directive')
    assert render.directives(c) == {'hide': [], 'eval:': ['false']}
    assert c.source.startswith('#| hide')   # reading them leaves the cell alone
    assert render.directives(new_markdown_cell('#| hide')) == {}

def test_skip_reason_follows_settings_tst_flags():
    flags = CFG.tst_flags.split()
    assert 'slow' in flags
    for f in flags:
        assert render.skip_reason(new_code_cell(f'#| {f}\nfit()')) == f
        assert render.skip_reason(new_code_cell(f'#| {f}\nfit()'), flags=flags) is None
    assert render.skip_reason(new_code_cell('#| eval: false\ndownload()'), flags=flags) == 'eval: false'
    assert render.skip_reason(new_code_cell('#| hide\nimport nbdev; nbdev.nbdev_export()'), flags=flags) == 'nbdev_export'
    assert render.skip_reason(new_code_cell('#| export\ndef f(): pass')) is None
    assert render.skip_reason(new_markdown_cell('#| slow')) is None

def test_for_reading_drops_hidden_cells_and_directives():
    nb = new_notebook(cells=[new_code_cell('#| default_exp m'), new_code_cell('#| export\ndef f(): pass'),
                             new_code_cell('#| hide\nsecret = 1'), new_code_cell('#| eval: false\n%%time\nrun()'),
                             new_code_cell('x = 1 #| hide_line\ny = 2'), new_code_cell('#| include: false\nz = 3'),
                             new_code_cell('#| echo: false\nplot()'),
                             new_code_cell('#| output: false\nw', outputs=[new_output('stream', text='w\n')])])
    r = render.for_reading(nb)
    assert [c.source for c in r.cells] == ['def f(): pass', '%%time\nrun()', 'y = 2', 'plot()', 'w']
    assert r.cells[3].metadata.transient == {'remove_source': True} and r.cells[4].outputs == []
    assert len(nb.cells) == 8 and nb.cells[1].source == '#| export\ndef f(): pass'   # the original is untouched

def test_add_comment_goes_after_directives():
    c = new_code_cell('#| slow\n#| hide\nfit()')
    render.add_comment(c, 'note')
    assert c.source == '#| slow\n#| hide\n# (note)\nfit()' and render.directives(c) == {'slow': [], 'hide': []}

# --- lesson pages ------------------------------------------------------------------------------------------------------

def test_build_runs_cells_and_labels_skipped_ones(tmp_path):
    p = write_nb(tmp_path/'01_t.ipynb', new_markdown_cell('# T\n\n> summary'), new_code_cell('print(6*7)'),
                 new_code_cell('#| slow\nraise SystemExit("must not run")', outputs=[new_output('stream', text='stored\n')]),
                 new_code_cell('#| notest\nraise SystemExit("must not run")'),
                 new_code_cell('#| hide\nimport nbdev; nbdev.nbdev_export()'))
    out, secs, err = build_site.build(p)
    assert err is None
    assert out.cells[1].outputs[0]['text'] == '42\n'
    assert out.cells[2].outputs[0]['text'] == 'stored\n'     # a skipped cell shows its stored output, labelled
    assert out.cells[2].source.startswith('#| slow\n# (not run by default (`#| slow`)') and 'stored by such a run' in out.cells[2].source
    assert 'stored' not in out.cells[3].source
    assert render.frontmatter(p)['title'] == 'T' and render.frontmatter(p)['description'] == 'summary'
    assert [c.source for c in render.for_reading(out).cells if c.cell_type == 'code'][0] == 'print(6*7)'

def test_pages_show_every_export_as_nbdev_does(tmp_path):
    "Each exported function, class and public method gets nbdev's `show_doc` (signature, docments, docstring), its code hidden."
    src = 'class Scaler:\n    "Scales."\n    def scale(self, x:float, # the value\n             )->float: # twice `x`\n        "Double `x`."\n        return 2*x\n    def _private(self): pass'
    p = write_nb(tmp_path/'03_d.ipynb', new_markdown_cell('# D\n\n> d'), new_code_cell('#| default_exp d'),
                 new_code_cell('#| export\ndef f(a:int, # how many\n     )->int: # `a` back\n    "Return `a`."\n    return a'),
                 new_code_cell('#| export\n' + src), new_code_cell('#| export\n#| hide\ndef hidden(): pass'))
    nb, _, err = build_site.build(p)
    assert err is None and render.shown_names(nb) == {'f', 'Scaler', 'Scaler.scale'}
    docs = [c for c in render.for_reading(nb).cells if c.get('metadata', {}).get('transient') == {'remove_source': True}]
    md = [c.outputs[0].data['text/markdown'] for c in docs]
    assert len(md) == 3 and '### f' in md[0] and 'a:int, # how many' in md[0] and '*Return `a`.*' in md[0]
    assert '### Scaler.scale' in md[2] and 'x:float, # the value' in md[2] and '{target=' not in ''.join(md)

def test_every_export_is_on_a_page():
    "Every public name in _modidx.py's syms (functions, classes, their methods) has a `show_doc` on its notebook's page."
    from course_helpers._modidx import d
    want = {k for syms in d['syms'].values() for k in syms if not any(p.startswith('_') for p in k.split('.')[2:])}
    shown = set()
    for p in render.notebooks():
        nb = render.with_docs(nbformat.read(p, as_version=4))
        mods = [render.directives(c)['default_exp'][0] for c in nb.cells if 'default_exp' in render.directives(c)]
        shown |= {f'{CFG.lib_name}.{m}.{n}' for m in mods for n in render.shown_names(nb)}
    assert not sorted(want - shown), f'not on any page: {sorted(want - shown)}'

def test_build_reports_errors(tmp_path):
    nb, _, err = build_site.build(write_nb(tmp_path/'02_e.ipynb', new_code_cell('print(1)'), new_code_cell('1/0'), new_code_cell('2')))
    assert err == 'ZeroDivisionError: division by zero'
    assert nb.cells[0].outputs[0].text == '1\n' and nb.cells[1].outputs[0].ename == 'ZeroDivisionError'   # the page shows where

@pytest.fixture
def pages(tmp_path):
    "An index, two lessons and a reference notebook, as `build_site.Page`s."
    mk = lambda name, title: build_site.Page(write_nb(tmp_path/name, new_markdown_cell(f'# {title}\n\n> about {title}')))
    return [mk('index.ipynb', 'Home'), mk('00_a.ipynb', 'A'), mk('01_b.ipynb', 'B'), mk('10_ref.ipynb', 'Ref')]

def test_build_site_refuses_unknown_names(tmp_path):
    with pytest.raises(ValueError, match='names: no notebook named 99_none in'): build_site.main(['index', '99_none'], site=tmp_path/'site')
    assert not (tmp_path/'site').exists()

def test_lesson_pages_link_to_neighbours_and_index(pages):
    assert [p.html for p in pages] == ['index.html', 'a.html', 'b.html', 'ref.html']   # nbdev's page names
    nb = build_site.with_links(new_notebook(cells=[new_markdown_cell('# B')]), pages[2], pages, {})
    assert nb.cells[0].source == nb.cells[-1].source == '[← A](a.html) · [Index](index.html) · [Ref →](ref.html)'
    first = build_site.with_links(new_notebook(), pages[1], pages, {})
    assert first.cells[0].source == '[Index](index.html) · [B →](b.html)'

def test_index_page_lists_every_page_by_group(pages):
    nb = new_notebook(cells=[new_markdown_cell('Start with `00_a`, then [`01_b`](b.html); `99_none` is no page.')])
    nb = build_site.with_links(nb, pages[0], pages, {pages[1].path: (3.2, None), pages[3].path: (1.0, 'ValueError: bad `x`')})
    assert nb.cells[0].source == 'Start with [`00_a`](a.html), then [`01_b`](b.html); `99_none` is no page.'
    listed = nb.cells[-1].source
    assert listed.index('### Lessons') < listed.index('[A](a.html): about A *(ran in 3 s)*') < listed.index('[B](b.html): about B\n')
    assert listed.index('### Reference') < listed.index('[Ref](ref.html): about Ref **FAILED** after 1 s: `ValueError: bad x`')
    assert '[Home]' not in listed

def test_index_images_are_copied_to_the_site(tmp_path):
    "A plot the index shows from the repository (benchmarks/collab_scale.png) is found beside the index's page."
    root,site = tmp_path/'repo',tmp_path/'site'
    (root/'bench').mkdir(parents=True); (root/'bench'/'p.png').write_bytes(b'png')
    nb = new_notebook(cells=[new_markdown_cell('![scale](bench/p.png) ![gone](bench/none.png) ![web](https://x.org/a.png)')])
    build_site.copy_images(nb, root, site)
    assert (site/'bench'/'p.png').read_bytes() == b'png' and [p.name for p in site.rglob('*') if p.is_file()] == ['p.png']

# --- tools/execute.py: stored outputs a reader can read ------------------------------------------------------------------

EPOCHS = """from fastprogress.fastprogress import master_bar, progress_bar
mb = master_bar(range(2))
mb.write(['epoch', 'train_loss', 'valid_loss', 'time'], table=True)
for epoch in mb:
    for _ in progress_bar(range(3), parent=mb): pass
    mb.write([str(epoch), '0.5', '0.4', '00:00'], table=True)"""

def test_execute_keeps_only_what_a_reader_should_see(tmp_path):
    "fastprogress's bars as fastai shows them in Jupyter, and a console bar: only the epoch table survives, readable as text."
    p = write_nb(tmp_path/'n.ipynb',
        new_code_cell('from fastprogress.fastprogress import progress_bar\nfor _ in progress_bar(range(3), leave=False): pass'),
        new_code_cell('from fastprogress.fastprogress import ConsoleProgressBar\nfor _ in ConsoleProgressBar(range(3)): pass\nprint("done")'),
        new_code_cell(EPOCHS),
        new_code_cell('#| slow\nraise SystemExit("must not run")', outputs=[new_output('stream', text='kept\n')]))
    raw = render.execute(nbformat.read(p, as_version=4), p)
    assert len(raw.cells[0].outputs) == 2 and '\r' in raw.cells[1].outputs[0].text   # what there was to clean
    execute.main([str(p)])
    nb = nbformat.read(p, as_version=4)
    assert nb.cells[0].outputs == []
    assert [o.text for o in nb.cells[1].outputs] == ['done\n']
    (table,) = nb.cells[2].outputs
    assert '<table' in table.data['text/html'] and 'text/markdown' not in table.data
    assert [l.split() for l in table.data['text/plain'].splitlines()] == [['epoch', 'train_loss', 'valid_loss', 'time'],
                                                                          ['0', '0.5', '0.4', '00:00'], ['1', '0.5', '0.4', '00:00']]
    assert nb.cells[3].outputs[0].text == 'kept\n'
    assert all(execute.output_problem(o) is None for c in nb.cells for o in c.outputs)
    assert nb.metadata == {'kernelspec': KERNEL['kernelspec']} and nb.cells[2].execution_count is None   # nbdev_clean ran

def test_terminal_text():
    bars = '█\r\r |----| 0.00% [0/3 00:00<?]\r |████| 100.00% [3/3 00:01<00:00]\r      \r'
    assert execute.terminal_text(f'loss 1.0\n{bars}\nepoch 1\n\n') == 'loss 1.0\nepoch 1\n\n'
    assert execute.terminal_text('Epoch 1/2 : |██--| 50.00% [1/2 00:00<00:00]epoch 0 ok\n') == 'epoch 0 ok\n'  # bar and line fused
    assert execute.terminal_text(' 50%|█████     | 1/2 [00:01<00:01, 1.00it/s]\rdone') == 'done'                  # tqdm's
    assert execute.terminal_text('a | b | c\n100% sure [1/2 of it]\n') == 'a | b | c\n100% sure [1/2 of it]\n'

def test_output_problems_and_html_text():
    html = lambda h, plain=execute.PLACEHOLDER: new_output('display_data', data={'text/html': h, 'text/plain': plain})
    assert execute.output_problem(html('<style>x{}</style>\n')) and execute.output_problem(html('<progress value=1>'))
    assert execute.output_problem(html('<table><tr><td>1</td></tr></table>'))                       # unreadable as text
    assert execute.output_problem(html('<table><tr><td>1</td></tr></table>', plain='1')) is None
    assert execute.output_problem(new_output('stream', text='x\r y\n'))
    assert execute.output_problem(html('<img src="a.png">', plain='an image')) is None
    assert execute.html_text('<style>td{}</style><table><tr><th>a</th><th>bb</th></tr><tr><td>10</td><td>2</td></tr></table>') == 'a   bb\n10  2'
    assert execute.html_text('<p>Hello <b>there</b></p><script>x()</script>') == 'Hello\nthere'

# --- requirements and the second environments (tools/compat.py) ----------------------------------------------------------

def test_lower_bounds_become_pins(tmp_path):
    (tmp_path/'settings.ini').write_text('[DEFAULT]\nrequirements = fastai>=2.8.7 plum-dispatch<2.10 torch>=2.6,<3 numpy\n')
    assert compat.lower_bounds(compat.requirements(tmp_path/'settings.ini')) == ['fastai==2.8.7', 'torch==2.6']

def test_every_upper_bound_says_why():
    "settings.ini's runtime requirements have no upper bound but where a version is known to break: `# name<X: why` says so."
    comments = [l.strip() for l in (ROOT/'settings.ini').read_text().splitlines() if l.lstrip().startswith('#')]
    caps = lambda r: ','.join(sorted(str(s) for s in r.specifier if s.operator in ('<', '<=', '==', '~=')))
    capped = [r.name + caps(r) for r in compat.requirements() if caps(r)]
    unsaid = [c for c in capped if not any(re.match(rf'#\s*{re.escape(c)}: \w', l) for l in comments)]
    assert not unsaid, f'settings.ini: say why in a comment line `# {unsaid[0]}: <reason>`'
    assert {'fastai', 'fastcore', 'pandas', 'torch'} <= {r.name for r in compat.requirements() if any(s.operator == '>=' for s in r.specifier)}

def test_compat_refuses_unknown_env():
    with pytest.raises(ValueError, match="env must be one of oldest, kaggle, got 'colab'"): compat.main(env='colab')

# --- the benchmarks' mains ----------------------------------------------------------------------------------------------

def test_read_ratings_benchmark(tmp_path, capsys):
    rs = bench_read.main(rows=2000, item_rows=500, repeat=1, dir=tmp_path)
    assert [r['rows'] for r in rs] == [2000, 2000, 500, 2001] and all('ratio' in r for r in rs[:3])
    assert rs[-1]['error'] == "half.data, line 2001, column 'rating': 'four' is not a number"
    assert [json.loads(l) for l in capsys.readouterr().out.splitlines()] == rs and list(tmp_path.iterdir()) == []

def test_synth_movielens_benchmark(tmp_path):
    r = bench_synth.main(one='ml-100k', dir=tmp_path)
    assert r['size'] == 'ml-100k' and r['n_ratings'] == 100_000 and r['peak_gb'] >= r['base_gb'] > 0
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match='sizes: unknown size ml-5: choose from ml-100k'): bench_synth.main(sizes='ml-100k,ml-5')
