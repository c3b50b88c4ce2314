"""Make the source trees importable even without `pip install -e .`."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for sub in ("lambdas", "containers/trainer"):
    path = str(ROOT / sub)
    if path not in sys.path:
        sys.path.insert(0, path)

# The CDK's jsii runtime prints a Node end-of-life banner on every start; it is noise here.
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")  # a major list
