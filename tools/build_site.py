"""Execute every lesson notebook top to bottom and write it as an HTML page, plus an index, to _site/.

Cells marked `#| eval: false` never run (they need the network, real data or a GPU); cells marked
`#| slow` run only with `--slow` (`make lessons SLOW=1`)."""
import argparse, html, re, sys, time, warnings
from pathlib import Path
import nbformat
from nbconvert import HTMLExporter
from nbconvert.preprocessors import ExecutePreprocessor, CellExecutionError
from render import NBS, directives, for_reading, lesson_notebooks, title_and_summary

SITE = NBS.parent/'_site'
warnings.filterwarnings("ignore", message="Cell is missing an id field")

def skip_reason(cell, run_slow):
    "Why `cell` is not run in a lesson build, or None if it runs."
    ds = [d.replace(' ', '') for d in directives(cell)]
    if 'eval:false' in ds: return 'not run here: it needs what this build does not have (see the text above)'
    if not run_slow and ('slow' in ds or 'notest' in ds): return 'not run by default: slow (`make lessons SLOW=1` runs it)'
    return None

class LessonExecutor(ExecutePreprocessor):
    "Runs a notebook's cells in order, skipping those `skip_reason` names."
    run_slow = False
    def preprocess_cell(self, cell, resources, index):
        why = skip_reason(cell, self.run_slow) if cell.cell_type == 'code' else None
        if why is None: return super().preprocess_cell(cell, resources, index)
        cell.outputs = []
        cell.source = f'# ({why})\n' + cell.source
        return cell, resources

def build(path, run_slow=False):
    "Execute the notebook at `path`; return (executed notebook, seconds, error text or None)."
    nb = nbformat.read(path, as_version=4)
    ep = LessonExecutor(timeout=1800, kernel_name='python3')
    ep.run_slow = run_slow
    start, err = time.time(), None
    try: ep.preprocess(nb, {'metadata': {'path': str(path.parent)}})
    except CellExecutionError as e: err = str(e).splitlines()[-1] if str(e) else repr(e)
    return nb, time.time() - start, err

def md_inline(s):
    "`s` as HTML, with markdown's `code` spans as <code>."
    return re.sub(r'`([^`]+)`', r'<code>\1</code>', html.escape(s))

def index_page(rows):
    "The site's index.html: one line per lesson with its summary, run time and status."
    items = '\n'.join(
        f'<li><a href="{html.escape(page)}">{md_inline(title)}</a> — {md_inline(summ)} '
        f'<small>({secs:.0f} s{", <b>FAILED</b>: " + html.escape(err) if err else ""})</small></li>'
        for page, title, summ, secs, err in rows)
    return f'''<!doctype html><html><head><meta charset="utf-8"><title>course_helpers lessons</title>
<style>body{{font-family:sans-serif;max-width:50em;margin:2em auto;line-height:1.5}}</style></head>
<body><h1>course_helpers</h1><p>Companion lessons for fast.ai Practical Deep Learning lesson 7
(fastbook chapters 8 and 11), executed on this machine.</p><ol>
{items}
</ol></body></html>'''

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--slow', action='store_true', help='also run cells marked `#| slow`')
    p.add_argument('names', nargs='*', help='only these notebooks (e.g. 01_cross_entropy)')
    args = p.parse_args(argv)
    SITE.mkdir(exist_ok=True)
    nbs = [n for n in lesson_notebooks() if not args.names or n.stem in args.names]
    rows, exporter = [], HTMLExporter(template_name='lab', exclude_input_prompt=True, exclude_output_prompt=True)
    for path in nbs:
        print(f'running {path.name} ...', flush=True)
        nb, secs, err = build(path, args.slow)
        title, summ = title_and_summary(nb)
        body, _ = exporter.from_notebook_node(for_reading(nb), resources={'metadata': {'name': title or path.stem}})
        page = path.stem + '.html'
        (SITE/page).write_text(body, encoding='utf-8')
        print(f'  {"FAILED: " + err if err else "ok"} in {secs:.0f} s -> _site/{page}', flush=True)
        rows.append((page, title or path.stem, summ, secs, err))
    if not args.names: (SITE/'index.html').write_text(index_page(rows), encoding='utf-8')  # only a full build lists every lesson
    print(f'\nOpen {SITE/(rows[0][0] if args.names else "index.html")} in a browser.')
    return 1 if any(r[-1] for r in rows) else 0

if __name__ == '__main__': sys.exit(main())
