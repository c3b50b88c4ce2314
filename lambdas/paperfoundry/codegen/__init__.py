"""Paper -> PyTorch implementation by an LLM: static checks, sandboxed validation by the
harness, and a repair loop fed with the structured error."""
