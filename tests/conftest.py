"""Make the source trees importable even without `pip install -e .`."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for sub in ("lambdas", "containers/trainer"):
    path = str(ROOT / sub)
    if path not in sys.path:
        sys.path.insert(0, path)
