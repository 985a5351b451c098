"Shared pieces for turning the notebooks into pages without Quarto: nbdev directives, cell filters."
import re
from pathlib import Path
import nbformat

NBS = Path(__file__).resolve().parent.parent/'nbs'
_directive = re.compile(r'^\s*#\s*\|\s*(.*)$')

def directives(cell):
    "The nbdev directives (`#| hide` -> 'hide', `#| eval: false` -> 'eval: false') at the top of `cell`."
    res = []
    for line in cell.source.splitlines():
        m = _directive.match(line)
        if not m: break
        res.append(m.group(1).strip())
    return res

def strip_directives(cell):
    "`cell` with its leading directive lines removed from the source."
    lines = cell.source.splitlines()
    while lines and _directive.match(lines[0]): lines.pop(0)
    cell.source = '\n'.join(lines)
    return cell

def is_hidden(cell):
    "True for cells nbdev keeps out of docs: `#| hide`, and the `#| default_exp` cell."
    return any(d == 'hide' or d.startswith('default_exp') for d in directives(cell))

def lesson_notebooks():
    "The lesson notebooks, in order: every `nbs/NN_*.ipynb`."
    return sorted(p for p in NBS.glob('[0-9]*.ipynb'))

def title_and_summary(nb):
    "The notebook's `# Title` and `> summary`, from its first markdown cell."
    for cell in nb.cells:
        if cell.cell_type != 'markdown': continue
        title = re.search(r'^#\s+(.+)$', cell.source, re.M)
        summ = re.search(r'^>\s*(.+)$', cell.source, re.M)
        if title: return title.group(1).strip(), (summ.group(1).strip() if summ else '')
    return None, ''

def for_reading(nb):
    "A copy of `nb` as a reader sees it: hidden cells dropped, directives stripped."
    nb = nbformat.from_dict(nb)
    nb.cells = [strip_directives(c) if c.cell_type == 'code' else c for c in nb.cells if not is_hidden(c)]
    return nb
