"""paperfoundry_trainer: train a paper's implementation against a matched baseline.

Needs only PyTorch and the standard library. See containers/trainer/README.md.
"""

__version__ = "0.1.0"

import warnings

# torch warns at import when NumPy is absent; the harness never uses NumPy.
warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
