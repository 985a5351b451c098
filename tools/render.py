"""What the tools share, taken from nbdev where nbdev has it: the settings, the notebooks, their directives,
which cells run, and a notebook as a reader sees it."""
import ast, re
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path
import nbformat
from execnb.nbio import dict2nb, nb2str
from fastcore.xtras import working_directory
from nbconvert.preprocessors import ExecutePreprocessor
from nbdev.config import get_config
from nbdev.doclinks import nbglob
from nbdev.frontmatter import FrontmatterProc
from nbdev.process import NBProcessor, extract_directives, first_code_ln
from nbdev.processors import add_show_docs, hide_, hide_line
from nbdev.quarto import nbdev_sidebar

ROOT = Path(__file__).resolve().parent.parent
CFG = get_config(path=ROOT)   # settings.ini
NBS = CFG.nbs_path

def notebooks()->list:
    "Every notebook nbdev works on (`nbs_path`, `recursive`), index first, then by name: the sidebar's order."
    with working_directory(ROOT): fs = nbglob(NBS, as_path=True)
    return sorted(fs, key=lambda p: (p.parent, p.name != CFG.readme_nb, p.name))

def is_lesson(path:Path)->bool:
    "Lessons are numbered 00 to 09; the notebooks numbered 10 and up are reference."
    return re.match(r'0\d_', path.name) is not None

def sidebar_yml()->str:
    "The text `nbdev_sidebar` writes to `sidebar.yml` for the notebooks now in `NBS`."
    out = StringIO()
    with working_directory(ROOT), redirect_stdout(out): nbdev_sidebar(path=NBS, printit=True, force=True)
    return out.getvalue()[:-1]   # without the newline `print` adds

def frontmatter(path:Path)->dict:
    "The notebook's front matter as nbdev reads it: `title` and `description` from its `# Title` and `> description`."
    with working_directory(ROOT): return NBProcessor(path, procs=FrontmatterProc, process=True).nb.frontmatter_

def directives(cell)->dict:
    "`cell`'s directives as nbdev parses them: `#| slow` -> {'slow': []}, `#| eval: false` -> {'eval:': ['false']}."
    return extract_directives(cell, remove=False) if cell.cell_type == 'code' else {}

def skip_reason(cell, flags=())->str:
    "Why `nbdev_test` would not run `cell` (`eval: false`, `nbdev_export`, or a `tst_flags` flag not in `flags`), or None."
    ds = directives(cell)
    if ds.get('eval:', [''])[0].lower() == 'false': return 'eval: false'
    if cell.cell_type == 'code' and 'nbdev_export(' in cell.source: return 'nbdev_export'
    return ' '.join(sorted((set(CFG.tst_flags.split()) - set(flags)) & ds.keys())) or None

class Executor(ExecutePreprocessor):
    "Runs a notebook's cells in order in a kernel; the cells `skip_reason` names keep their stored outputs."
    flags = ()  # test flags whose cells run anyway, as `nbdev_test --flags`
    def preprocess_cell(self, cell, resources, index):
        if skip_reason(cell, self.flags): return cell, resources
        return super().preprocess_cell(cell, resources, index)

def execute(nb, path:Path, flags=(), timeout=1800):
    "Run `nb`, read from `path`, in place in a kernel in `path`'s folder; a failing cell keeps its traceback and raises."
    ep = Executor(timeout=timeout, kernel_name='python3', extra_arguments=['--IPKernelApp.log_level=ERROR',  # no start-up warnings
                  '--IPKernelApp.exec_lines=from nbdev.showdoc import show_doc'])  # for the cells `with_docs` adds
    ep.flags = tuple(flags)
    ep.preprocess(nb, {'metadata': {'path': str(path.parent)}})
    return nb

def add_comment(cell, text:str):
    "Put `# text` as the first line of `cell`'s code, after its directives."
    lines = cell.source.splitlines(True)
    i = first_code_ln(lines)
    if i is None: i = len(lines)
    cell.source = ''.join(lines[:i] + [f'# ({text})\n'] + lines[i:])

def default_exp_(cell, *args):
    "Drop the `#| default_exp` cell, as nbdev's pages do."
    del cell['source']

def quarto_options(cell):
    "Apply Quarto's `include`, `echo` and `output` options (no Quarto renders these pages), then drop the option lines; `show_doc` cells show only their output."
    if cell.cell_type != 'code': return
    off = lambda o: cell.directives_.get(o+':', [''])[0].lower() == 'false'
    if off('include'): del cell['source']; return
    if off('echo') or _SHOWN.search(cell.source): cell.metadata['transient'] = {'remove_source': True}  # nbdev hides show_doc's code too
    if off('output'): cell.outputs = []
    lines = cell.source.splitlines(True)
    i = first_code_ln(lines)
    if i is None: i = len(lines)
    cell.source = ''.join([l for l in lines[:i] if not re.match(r'\s*#\s*\|', l)] + lines[i:])

_SHOWN = re.compile(r'^\s*show_doc\(\s*([\w.]+)', re.M)

def shown_names(nb)->set:
    "The names `nb`'s code cells pass to `show_doc`."
    return {n for c in nb.cells if c.cell_type == 'code' for n in _SHOWN.findall(c.source)}

def exported(cell)->bool:
    "True for a code cell whose code nbdev exports and documents (`#| export`/`exports`, not hidden)."
    ds = directives(cell)
    return bool({'export', 'exports', 'exec_doc'} & ds.keys()) and 'hide' not in ds and ds.get('include:') != ['false']

def public_methods(nb)->dict:
    "{class: its public methods} for each class `nb` exports, as `Class.method` names."
    res = {}
    for c in filter(exported, nb.cells):
        for o in ast.parse(c.source).body:
            if isinstance(o, ast.ClassDef) and not o.name.startswith('_'):
                res[o.name] = [f'{o.name}.{m.name}' for m in o.body
                               if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef)) and not m.name.startswith('_')]
    return res

def with_docs(nb):
    "A copy of `nb` that shows every export's signature and parameters, as nbdev's pages do: a `show_doc` cell after each exported function and class not shown yet (nbdev's `add_show_docs`) and after each class's own for its public methods."
    methods = public_methods(nb)
    proc = NBProcessor(nb=dict2nb(nb), procs=[add_show_docs], rm_directives=False)
    proc.process()
    nb = nbformat.reads(nb2str(proc.nb), as_version=4)
    shown, cells = shown_names(nb), []
    for c in nb.cells:
        cells.append(c)
        cls = re.search(r'^\s*show_doc\(\s*(\w+)\s*[,)]', c.source, re.M) if c.cell_type == 'code' else None
        if cls and cls[1] in methods: cells += [nbformat.v4.new_code_cell(f'show_doc({m})') for m in methods.pop(cls[1]) if m not in shown]
    nb.cells = cells
    return nb

def doc_output(o):
    "A `show_doc` output readable without Quarto: its source link without Quarto's `{target=...}` attributes."
    md = o.get('data', {}).get('text/markdown')
    if md: o['data']['text/markdown'] = re.sub(r'\]\(([^)]*?)(?:#LNone)?\)\{[^}]*\}', r'](\1)', ''.join(md))
    return o

def for_reading(nb):
    "A copy of `nb` as a reader sees it: hidden and `default_exp` cells dropped, directives stripped (nbdev's processors)."
    proc = NBProcessor(nb=dict2nb(nb), procs=[hide_, hide_line, default_exp_, quarto_options])
    proc.process()
    return nbformat.reads(nb2str(proc.nb), as_version=4)
