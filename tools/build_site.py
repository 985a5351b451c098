"""Execute every notebook top to bottom and write it as an HTML page to _site/, linked to the previous and next page.

Cells run as `nbdev_test` runs them: `#| eval: false` cells never, cells with a test flag from settings.ini
(`tst_flags`: `slow`, `notest`) only with `--slow` (`make lessons SLOW=1`); a cell that does not run shows the output
stored in the notebook, labelled. The index page is nbs/index.ipynb (the README's source) with the list of pages."""
import re, shutil, time, warnings
from pathlib import Path
import nbformat
from nbconvert import HTMLExporter
from fastcore.script import Param, call_parse
from nbconvert.preprocessors import CellExecutionError
from nbformat.v4 import new_markdown_cell
from render import CFG, NBS, ROOT, add_comment, doc_output, execute, for_reading, frontmatter, is_lesson, notebooks, skip_reason, with_docs

SITE = ROOT/'_site'
warnings.filterwarnings("ignore", message="Cell is missing an id field")

def skip_note(cell, why:str)->str:
    "The label a page shows on a cell that did not run because of `why` (a `skip_reason`)."
    if why == 'eval: false': return 'not run here (`eval: false`): it needs what this build does not have'
    note = f'not run by default (`#| {why}`): `make lessons SLOW=1` runs it'
    return note + ('; the output shown was stored by such a run' if cell.get('outputs') else '')

def build(path:Path, slow=False):
    "Execute the notebook at `path` with a `show_doc` for each export (`with_docs`); return (the notebook, its skipped cells labelled, seconds, error or None)."
    start, err = time.time(), None
    nb, flags = with_docs(nbformat.read(path, as_version=4)), CFG.tst_flags.split() if slow else ()
    try: execute(nb, path, flags)
    except CellExecutionError as e: err = f"{e.ename}: {' '.join(str(e.evalue).split())}"[:300]   # the page shows the traceback
    for c in nb.cells:
        if c.cell_type == 'code' and (why := skip_reason(c, flags)): add_comment(c, skip_note(c, why))
        if c.cell_type == 'code': c.outputs = list(map(doc_output, c.outputs))
    return nb, time.time() - start, err

class Page:
    "A notebook's page: its file, title, description, and its page name as nbdev's docs name it."
    def __init__(self, path:Path):
        fm = frontmatter(path)
        self.path,self.title,self.desc = path,fm.get('title', path.stem),fm.get('description', '')
        self.html = fm.get('output-file', path.stem + '.html')

def nav_cell(prev:Page, nxt:Page):
    "A markdown cell linking to the previous page, the index and the next page."
    links = ([f'[← {prev.title}]({prev.html})'] if prev else []) + ['[Index](index.html)'] + ([f'[{nxt.title} →]({nxt.html})'] if nxt else [])
    return new_markdown_cell(' · '.join(links))

def link_names(nb, pages):
    "`nb` with each `` `00_name` `` in its markdown that names a notebook turned into a link to its page."
    html = {p.path.stem: p.html for p in pages}
    def link(m): return f'[`{m[1]}`]({html[m[1]]})' if m[1] in html else m[0]
    for c in nb.cells:
        if c.cell_type == 'markdown': c.source = re.sub(r'(?<!\[)`([\w-]+)`(?!\])', link, c.source)
    return nb

def page_list(pages, runs)->str:
    "Markdown listing `pages` as lessons and reference, each with its description and how its build went (`runs`)."
    def line(p):
        secs, err = runs.get(p.path, (None, None))
        run = '' if secs is None else f' *(ran in {secs:.0f} s)*' if err is None else f' **FAILED** after {secs:.0f} s: `{err.replace("`", "")}`'
        return f'- [{p.title}]({p.html}): {p.desc}{run}'
    groups = [('Lessons', [p for p in pages if is_lesson(p.path)]), ('Reference', [p for p in pages if not is_lesson(p.path)])]
    return '## All pages\n\n' + '\n\n'.join(f'### {g}\n\n' + '\n'.join(map(line, ps)) for g,ps in groups if ps)

def copy_images(nb, root:Path=ROOT, site:Path=SITE):
    "Copy the files under `root` that `nb`'s markdown shows as images (such as a benchmark's plot) to the same place under `site`."
    for c in nb.cells:
        if c.cell_type != 'markdown': continue
        for src in re.findall(r'!\[[^\]]*\]\(([^)\s]+)\)', c.source):
            if '://' in src or src.startswith('/') or not (root/src).is_file(): continue
            (site/src).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root/src, site/src)

def with_links(nb, page:Page, pages:list, runs:dict, site:Path=SITE):
    "`nb` ready for its page in `site`: a lesson gets links to its neighbours at top and bottom, the index the list of pages."
    index, rest = pages[0], pages[1:]   # `notebooks` puts the index first
    if page is index:
        copy_images(nb, site=site)
        nb = link_names(nb, pages)
        nb.cells.append(new_markdown_cell(page_list(rest, runs)))
        return nb
    j = rest.index(page)
    nav = lambda: nav_cell(rest[j-1] if j else None, rest[j+1] if j+1 < len(rest) else None)
    nb.cells = [nav()] + nb.cells + [nav()]
    return nb

@call_parse
def main(names:Param("only these notebooks (e.g. 01_losses, or index); default: all", str, opt=False, nargs='*')=None,
         slow:bool=False,  # also run cells with settings.ini's test flags (`#| slow`)
         site:str=SITE,    # folder the pages are written to
        )->dict:           # {notebook's path: (seconds, error or None)}; exits with the failures if any
    "Execute the notebooks and write their pages to `site`, the index last."
    pages, site = [Page(f) for f in notebooks()], Path(site)
    unknown = set(names or ()) - {pg.path.stem for pg in pages}
    if unknown: raise ValueError(f'names: no notebook named {", ".join(sorted(unknown))} in {NBS}')
    todo = [pg for pg in pages[1:] + pages[:1] if not names or pg.path.stem in names]  # the index last
    site.mkdir(exist_ok=True)
    exporter = HTMLExporter(template_name='lab', exclude_input_prompt=True, exclude_output_prompt=True)
    runs = {}
    for page in todo:
        print(f'running {page.path.name} ...', flush=True)
        nb, secs, err = build(page.path, slow)
        runs[page.path] = secs, err
        body, _ = exporter.from_notebook_node(for_reading(with_links(nb, page, pages, runs, site)),
                                              resources={'metadata': {'name': page.title}})
        (site/page.html).write_text(body, encoding='utf-8')
        print(f'  {"FAILED: " + err if err else "ok"} in {secs:.0f} s -> {site.name}/{page.html}', flush=True)
    print(f'\nOpen {site/todo[-1].html} in a browser.')
    if failed := [p.name for p,(_,err) in runs.items() if err]: raise SystemExit(f'failed: {", ".join(failed)}')
    return runs
