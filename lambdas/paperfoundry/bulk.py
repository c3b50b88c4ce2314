"""Bulk work without pauses for the cyclic garbage collector.

Parsing or scoring 10,000 papers allocates ~100,000 container objects; each of CPython's
collections triggered along the way walks every live object of a big day again, which
made parsing 10,000 stored scores take 0.55 s instead of 0.13 s (benchmarks/pipeline.py).
The models built here hold no reference cycles, so reference counting frees them alone.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Run the block with the cyclic collector off (restored after, if it was on)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def quiet_worker() -> None:
    """Initializer of a forked bulk worker: what it inherited is never garbage (frozen:
    not walked, its pages stay shared) and it lives for one batch of acyclic work."""
    gc.freeze()
    gc.disable()
