"""paperfoundry: the domain core."""

__version__ = "0.1.0"
