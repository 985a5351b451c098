"The tools behind `make readme` and `make lessons`."
from pathlib import Path
import nbformat
from nbformat.v4 import new_notebook, new_code_cell, new_markdown_cell
import build_site, make_readme, render

ROOT = Path(__file__).resolve().parent.parent

def test_readme_matches_index_notebook():
    assert (ROOT/'README.md').read_text() == make_readme.readme_text(), "README.md is stale: run `make readme`"

def test_directives():
    c = new_code_cell('#| hide\n#|eval: false\nx = 1\n#| not a directive')
    assert render.directives(c) == ['hide', 'eval: false']
    assert render.is_hidden(c)
    assert render.strip_directives(c).source == 'x = 1\n#| not a directive'
    assert not render.is_hidden(new_code_cell('#| export\ndef f(): pass'))

def test_skip_reason():
    assert build_site.skip_reason(new_code_cell('#| eval: false\ndownload()'), run_slow=True)
    assert build_site.skip_reason(new_code_cell('#| slow\nfit()'), run_slow=False)
    assert build_site.skip_reason(new_code_cell('#| slow\nfit()'), run_slow=True) is None
    assert build_site.skip_reason(new_code_cell('fit()'), run_slow=False) is None

def test_build_runs_cells_and_skips_flagged(tmp_path):
    nb = new_notebook(cells=[new_markdown_cell('# T\n\n> summary'), new_code_cell('print(6*7)'),
                             new_code_cell('#| slow\nraise SystemExit("must not run")'),
                             new_code_cell('#| hide\nsecret = 1')],
                      metadata={'kernelspec': {'name': 'python3', 'language': 'python', 'display_name': 'python3'}})
    p = tmp_path/'01_t.ipynb'; nbformat.write(nb, p)
    out, secs, err = build_site.build(p)
    assert err is None
    assert out.cells[1].outputs[0]['text'] == '42\n'
    assert out.cells[2].outputs == [] and out.cells[2].source.startswith('# (not run by default: slow')
    assert render.title_and_summary(out) == ('T', 'summary')
    assert [c.source for c in render.for_reading(out).cells if c.cell_type == 'code'][0] == 'print(6*7)'

def test_build_reports_errors(tmp_path):
    nb = new_notebook(cells=[new_code_cell('1/0')], metadata={'kernelspec': {'name': 'python3', 'language': 'python', 'display_name': 'python3'}})
    p = tmp_path/'02_e.ipynb'; nbformat.write(nb, p)
    _, _, err = build_site.build(p)
    assert err and 'ZeroDivisionError' in err

def test_index_page_escapes_and_shows_code():
    page = build_site.index_page([('01_t.html', 'A <b> title', 'uses `Datasets` & more', 3.2, None)])
    assert '<code>Datasets</code> &amp; more' in page and 'A &lt;b&gt; title' in page and '(3 s)' in page
