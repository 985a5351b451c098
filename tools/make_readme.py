"Write README.md from the notebook settings.ini names (`readme_nb`): what `nbdev_readme` does, without Quarto."
import re
from pathlib import Path
import nbformat
from fastcore.script import call_parse
from nbconvert import MarkdownExporter
from render import CFG, NBS, ROOT, for_reading

README = ROOT/'README.md'

def readme_text()->str:
    "README.md's text, rendered from `readme_nb` (nbs/index.ipynb) as a reader sees it."
    nb = for_reading(nbformat.read(NBS/CFG.readme_nb, as_version=4))
    nb.metadata['language_info'] = {'name': 'python'}  # nbdev_clean strips it; it tags the code blocks
    body, _ = MarkdownExporter(exclude_input_prompt=True, exclude_output_prompt=True).from_notebook_node(nb)
    body = re.sub(r'\n{3,}', '\n\n', body)
    return f'<!-- Generated from nbs/{CFG.readme_nb} by `make readme`: edit the notebook, not this file. -->\n\n' + body.strip() + '\n'

@call_parse
def main(out:str=README,  # the file to write
        )->Path:          # the file written
    "Write `readme_text()` to `out`."
    out = Path(out); out.write_text(readme_text())
    print(f'wrote {out}')
    return out
