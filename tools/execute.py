"""Execute notebooks in place, as a learner would, and store clean outputs.

    python tools/execute.py nbs/03_collab.ipynb [more.ipynb ...] [--slow]

Cells marked `#| eval: false` never run; cells marked `#| slow` run only with `--slow` and otherwise keep the
outputs they had. Then `clean_outputs` drops what a reader should not see (empty progress-bar displays, console
progress bars) and `nbdev_clean` strips metadata. Run it on the machine with the real data sets for the stored
outputs that read real results."""
import argparse, html, re, sys
from html.parser import HTMLParser
from pathlib import Path
import nbformat
from nbconvert.preprocessors import ExecutePreprocessor

_directive = re.compile(r'^\s*#\s*\|\s*(.*)$')
_bar = re.compile(r'\d+\.\d+% \[\d+/\d+ \d\d:\d\d<\d\d:\d\d|^\s*\|[█ ]*\|')

def cell_flags(cell):
    "The nbdev directives at the top of `cell`, without spaces (`#| eval: false` -> 'eval:false')."
    res = []
    for line in cell.source.splitlines():
        m = _directive.match(line)
        if not m: break
        res.append(m.group(1).replace(' ', ''))
    return res

class _Table(HTMLParser):
    "Collect the rows of the first HTML table as lists of cell texts."
    def __init__(self): super().__init__(); self.rows,self.cell = [],None
    def handle_starttag(self, tag, attrs):
        if tag == 'tr': self.rows.append([])
        if tag in ('td', 'th'): self.cell = ''
    def handle_endtag(self, tag):
        if tag in ('td', 'th') and self.cell is not None and self.rows: self.rows[-1].append(self.cell.strip()); self.cell = None
    def handle_data(self, data):
        if self.cell is not None: self.cell += data

def table_text(h:str)->str:
    "A plain-text rendering of the first table in the HTML `h` (columns padded to a common width)."
    p = _Table(); p.feed(h)
    rows = [r for r in p.rows if r]
    if not rows: return ''
    w = [max(len(r[i]) if i < len(r) else 0 for r in rows) for i in range(max(map(len, rows)))]
    return '\n'.join('  '.join(c.ljust(w[i]) for i,c in enumerate(r)).rstrip() for r in rows)

def clean_output(o):
    "`o` as a reader should see it, or None to drop it: no empty or progress-bar displays, no console progress bars."
    if o.get('output_type') in ('display_data', 'execute_result') and 'text/html' in o.get('data', {}):
        h = ''.join(o['data']['text/html'])
        plain = ''.join(o['data'].get('text/plain', ''))
        if not re.sub(r'<style.*?</style>', '', h, flags=re.S).strip() or '<progress' in h: return None
        if plain.startswith('<IPython.core.display.HTML object>') and '<table' in h: o['data']['text/plain'] = table_text(h)
    if o.get('output_type') == 'stream':
        lines = [l for l in ''.join(o['text']).split('\n') if '\r' not in l and not _bar.search(l)]
        o['text'] = '\n'.join(lines)
        if not o['text'].strip(): return None
    return o

def clean_outputs(nb):
    "Apply `clean_output` to every code cell of `nb`."
    for c in nb.cells:
        if c.cell_type == 'code': c.outputs = [o for o in map(clean_output, c.outputs) if o is not None]
    return nb

class Executor(ExecutePreprocessor):
    "Runs the cells in order; skips `eval: false` cells, and `slow` ones unless `run_slow`, keeping their outputs."
    run_slow = False
    def preprocess_cell(self, cell, resources, index):
        fl = cell_flags(cell) if cell.cell_type == 'code' else []
        if 'eval:false' in fl or (not self.run_slow and ('slow' in fl or 'notest' in fl)): return cell, resources
        return super().preprocess_cell(cell, resources, index)

def execute(path:Path, run_slow=False, timeout=3600):
    "Execute the notebook at `path` in its folder and write it back with clean outputs."
    nb = nbformat.read(path, as_version=4)
    ep = Executor(timeout=timeout, kernel_name='python3'); ep.run_slow = run_slow
    ep.preprocess(nb, {'metadata': {'path': str(path.parent)}})
    nbformat.write(clean_outputs(nb), path)

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('notebooks', nargs='+', type=Path)
    p.add_argument('--slow', action='store_true', help='also run cells marked `#| slow`')
    a = p.parse_args()
    import subprocess
    for nb in a.notebooks:
        print(f'executing {nb} ...', flush=True)
        execute(nb.resolve(), a.slow)
        subprocess.run(['nbdev_clean', '--fname', str(nb)], check=True)
