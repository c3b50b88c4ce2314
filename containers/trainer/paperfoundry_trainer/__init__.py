"""paperfoundry_trainer: train a paper's implementation against a matched baseline.

Needs only PyTorch and the standard library. See containers/trainer/README.md.
"""

__version__ = "0.1.0"
