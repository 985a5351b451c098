"Write README.md from nbs/index.ipynb (what `nbdev_readme` does, without Quarto)."
import re
from pathlib import Path
import nbformat
from nbconvert import MarkdownExporter
from render import NBS, for_reading

def readme_text():
    "README.md's text, rendered from nbs/index.ipynb."
    nb = for_reading(nbformat.read(NBS/'index.ipynb', as_version=4))
    nb.metadata['language_info'] = {'name': 'python'}  # nbdev_clean strips it; it tags the code blocks
    body, _ = MarkdownExporter(exclude_input_prompt=True, exclude_output_prompt=True).from_notebook_node(nb)
    body = re.sub(r'\n{3,}', '\n\n', body)
    return '<!-- Generated from nbs/index.ipynb by `make readme`: edit the notebook, not this file. -->\n\n' + body.strip() + '\n'

if __name__ == '__main__':
    out = Path(__file__).resolve().parent.parent/'README.md'
    out.write_text(readme_text())
    print(f'wrote {out}')
