"""Paper sources: Hugging Face Daily Papers and arXiv listings, fetched, parsed and merged.

`fetch_day` runs every requested source and never lets one failing source stop another:
each gets a `SourceStatus` (ok, papers, error). Errors are one line; an error that starts
with `UNREACHABLE_PREFIX` ("unreachable:") means the host could not be reached at all
(DNS failure, connection refused), so when `all_unreachable(statuses)` the CLI can fall
back to the bundled sample day (`sample.load_sample_day`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from datetime import date

import httpx

from ..models import Paper, SourceStatus
from .arxiv import fetch_listings
from .http import SourceError, make_client
from .huggingface import fetch_daily_papers
from .merge import merge_papers

log = logging.getLogger(__name__)

SOURCE_NAMES: tuple[str, ...] = ("huggingface", "arxiv")
UNREACHABLE_PREFIX = "unreachable:"

__all__ = [
    "SOURCE_NAMES",
    "UNREACHABLE_PREFIX",
    "SourceError",
    "all_failed",
    "all_unreachable",
    "fetch_day",
    "is_unreachable",
    "merge_papers",
]


def _error_text(exc: SourceError) -> str:
    return f"{UNREACHABLE_PREFIX} {exc}" if exc.unreachable else str(exc)


def fetch_day(
    day: date,
    *,
    categories: Iterable[str],
    client: httpx.Client | None = None,
    sources: Iterable[str] = SOURCE_NAMES,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    timeout: float = 20.0,
    notes: list[str] | None = None,
) -> tuple[list[Paper], list[SourceStatus]]:
    """Fetch `day` from each source; return the merged papers and one status per source.

    Sources run in the order given (Hugging Face first by default, so its order leads the
    merged list). Informational notes (e.g. an arXiv feed for another day) go to `notes`.
    """
    own_client = client is None
    http = client or make_client(timeout)
    categories = list(categories)
    results: list[list[Paper]] = []
    statuses: list[SourceStatus] = []
    try:
        for name in dict.fromkeys(sources):
            try:
                if name == "huggingface":
                    papers = fetch_daily_papers(day, http, sleep=sleep)
                elif name == "arxiv":
                    papers = fetch_listings(
                        categories, http, day=day, sleep=sleep, clock=clock, notes=notes
                    )
                else:
                    raise SourceError(name, f"unknown source (known: {', '.join(SOURCE_NAMES)})")
            except SourceError as exc:
                log.info("source failed: %s", _error_text(exc))  # also in its status
                statuses.append(SourceStatus(name=name, ok=False, error=_error_text(exc)))
                continue
            except Exception as exc:  # a bug in our code must not take the other sources down
                log.exception("source %s crashed", name)
                message = " ".join(f"{type(exc).__name__}: {exc}".split())
                error = f"{name}: internal error (bug): {message}"
                statuses.append(SourceStatus(name=name, ok=False, error=error))
                continue
            results.append(papers)
            statuses.append(SourceStatus(name=name, ok=True, papers=len(papers)))
    finally:
        if own_client:
            http.close()
    return merge_papers(*results), statuses


def is_unreachable(status: SourceStatus) -> bool:
    return not status.ok and (status.error or "").startswith(UNREACHABLE_PREFIX)


def all_failed(statuses: Iterable[SourceStatus]) -> bool:
    """True when there was at least one source and none succeeded."""
    statuses = list(statuses)
    return bool(statuses) and not any(s.ok for s in statuses)


def all_unreachable(statuses: Iterable[SourceStatus]) -> bool:
    """True when every source failed because its host could not be reached (offline)."""
    statuses = list(statuses)
    return bool(statuses) and all(is_unreachable(s) for s in statuses)
