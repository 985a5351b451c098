import sys
from pathlib import Path

# The project's tools (README and site rendering) are scripts, not part of the package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent/'tools'))
