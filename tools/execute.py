"""Execute notebooks in place, as a learner would, and store clean outputs.

    python tools/execute.py nbs/03_collab.ipynb [more.ipynb ...] [--slow]

Cells run as `nbdev_test` runs them: `#| eval: false` cells never, cells with a test flag from settings.ini
(`tst_flags`: `slow`, `notest`) only with `--slow`; cells that do not run keep the outputs they had. Then
`clean_outputs` drops what a reader should not see (empty progress-bar displays, console progress bars), gives
HTML displays a readable text/plain, and `nbdev_clean` strips metadata. Run it on the machine with the real data
sets for stored outputs that read real results."""
import re
from html.parser import HTMLParser
from pathlib import Path
import nbformat
from fastcore.script import Param, call_parse
from fastcore.xtras import working_directory
from nbdev.clean import nbdev_clean
from render import CFG, ROOT, execute

PLACEHOLDER = '<IPython.core.display.HTML object>'
# A console progress bar, from the start of its line segment: fastprogress's `|███---| 50.00% [1/2 00:01<00:01]`,
# tqdm's ` 50%|█████     | 1/2 [00:01<00:01, 1.00it/s]`, or the lone fill character fastprogress prints first.
_bar = re.compile(r'^.*?\|[^|\n]*\| \d+\.\d+% \[\d+/\d+ [^\]\n]*\]|^.*?\d+%\|[^|\n]*\| *\d+/\d+ \[[^\]\n]*\]|^\s*[█X]\s*$')

class _Text(HTMLParser):
    "The text of an HTML fragment: table rows as lists of cell texts, other text in `lines`; no <style> or <script>."
    def __init__(self): super().__init__(); self.rows,self.lines,self.cell,self.skip = [],[],None,False
    def handle_starttag(self, tag, attrs):
        if tag in ('style', 'script'): self.skip = True
        if tag == 'tr': self.rows.append([])
        if tag in ('td', 'th'): self.cell = ''
    def handle_endtag(self, tag):
        if tag in ('style', 'script'): self.skip = False
        if tag in ('td', 'th') and self.cell is not None and self.rows: self.rows[-1].append(' '.join(self.cell.split())); self.cell = None
    def handle_data(self, data):
        if self.skip: return
        if self.cell is not None: self.cell += data
        elif not self.rows and data.strip(): self.lines.append(' '.join(data.split()))

def html_text(h:str)->str:
    "A plain-text reading of the HTML `h`: its first table as columns padded to a common width, else its text."
    p = _Text(); p.feed(h)
    rows = [r for r in p.rows if r]
    if not rows: return '\n'.join(p.lines)
    w = [max(len(r[i]) if i < len(r) else 0 for r in rows) for i in range(max(map(len, rows)))]
    return '\n'.join('  '.join(c.ljust(w[i]) for i,c in enumerate(r)).rstrip() for r in rows)

def _data(o, mime)->str: return ''.join(o.get('data', {}).get(mime, ''))

def is_bar_display(o)->bool:
    "True for an HTML display that is empty but for styles (a progress bar's leftover) or holds a progress bar."
    h = _data(o, 'text/html')
    return 'text/html' in o.get('data', {}) and (not re.sub(r'<(style|script)\b.*?</\1>', '', h, flags=re.S|re.I).strip()
                                                 or '<progress' in h)

def unreadable_plain(o)->bool:
    "True if `o`'s HTML has no text rendering a reader can read: text/plain is IPython's placeholder or the HTML itself."
    h, plain = _data(o, 'text/html').strip(), _data(o, 'text/plain').strip()
    return bool(h) and (plain.startswith(PLACEHOLDER) or plain == h)

def html_as_code(o)->bool:
    "True if `o`'s text/markdown only repeats its HTML as a code block (fastcore's `FT` displays do), for renderers to show as code."
    return bool(_data(o, 'text/html')) and _data(o, 'text/markdown').lstrip().startswith('```html')

def terminal_text(text:str)->str:
    "`text` as a terminal ends up showing it, less progress bars: of each line, its last piece after a carriage return."
    lines = []
    for line in text.split('\n'):
        shown = [p for p in (_bar.sub('', p) for p in line.split('\r')) if p.strip()]
        if shown: lines.append(shown[-1])
        elif not line.strip(): lines.append(line)   # a blank line stays; one that held only bars goes
    return '\n'.join(lines)

def output_problem(o)->str:
    "What a reader should not see in the output `o`, or None: `clean_output` removes each of these."
    if is_bar_display(o): return 'an empty or progress-bar HTML display'
    if unreadable_plain(o): return f'HTML whose text/plain reads {PLACEHOLDER} or is the HTML source'
    if html_as_code(o): return 'HTML repeated as a block of HTML code in text/markdown'
    if o.get('output_type') == 'stream' and terminal_text(''.join(o['text'])) != ''.join(o['text']):
        return 'a console progress bar or carriage return'
    return None

def clean_output(o):
    "`o` as a reader should see it, or None to drop it: no progress bars, HTML with a readable text/plain."
    if is_bar_display(o): return None
    if unreadable_plain(o): o['data']['text/plain'] = html_text(_data(o, 'text/html'))
    if html_as_code(o): del o['data']['text/markdown']
    if o.get('output_type') == 'stream':
        o['text'] = terminal_text(''.join(o['text']))
        if not o['text'].strip(): return None
    return o

def clean_outputs(nb):
    "Apply `clean_output` to every code cell of `nb`."
    for c in nb.cells:
        if c.cell_type == 'code': c.outputs = [o for o in map(clean_output, c.outputs) if o is not None]
    return nb

def run(path:Path, slow=False):
    "Execute the notebook at `path` in its folder and write it back with clean outputs, cleaned as `nbdev_clean` does."
    nb = execute(nbformat.read(path, as_version=4), path, CFG.tst_flags.split() if slow else (), timeout=3600)
    nbformat.write(clean_outputs(nb), path)
    with working_directory(ROOT): nbdev_clean.__wrapped__(fname=str(path))

@call_parse
def main(notebooks:Param('the notebooks to execute, e.g. nbs/03_collab.ipynb', str, opt=False, nargs='+'),
         slow:bool=False,  # also run cells with settings.ini's test flags (`#| slow`)
        ):
    "Execute each of `notebooks` in place and store its clean outputs."
    for nb in notebooks:
        print(f'executing {nb} ...', flush=True)
        run(Path(nb).resolve(), slow)
