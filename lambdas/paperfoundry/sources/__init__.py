"""Paper sources: Hugging Face Daily Papers and arXiv listings, fetched, parsed and merged.

A day is scraped in *units*, each fetched on its own, with its own retry and status, so that
one failing unit never takes another down and a failed one can be fetched again alone:

- `scrape_units(sources, categories)` -> `["huggingface", "arxiv:cs.LG", "arxiv:cs.CL"]`:
  Hugging Face is one unit, arXiv one unit per category.
- `fetch_unit(day, unit, ...)` -> `(papers, SourceStatus)`. It never raises for a source
  problem: a failure is a status with `ok=False` and a one-line `error` that starts with the
  unit's name (an AWS Step Functions task, one Lambda per unit, and the local runner call
  the same function). `deadline` (a `clock()` value) is when it must have returned: a
  `Retry-After` or backoff that would pass it fails the unit at once with "retry later
  (Retry-After N s)" instead of sleeping past the Lambda's limit.
- `fetch_day(day, ...)`: every unit in turn, papers merged (`merge_papers`); statuses per
  source by default (`arxiv` is ok only when all its categories are), per unit with
  `per_unit=True`.
- `day_status(statuses)`: "complete" (every unit ok), "failed" (none ok, or no unit),
  "partial" otherwise; `failed_units(statuses)`: the names of the failed ones.
- `refresh_days(day, n)`: the n days before `day`, whose Hugging Face upvotes (early counts
  that keep growing) are refreshed with `fetch_unit(previous_day, "huggingface")`.

arXiv units read the RSS feed when it serves `day` and the export API by submission date
otherwise (`sources.arxiv`), so a day missed during an outage can be backfilled later.

Errors are one line; an error that starts with `UNREACHABLE_PREFIX` ("unreachable:") means
the host could not be reached at all (DNS failure, connection refused), so when
`all_unreachable(statuses)` the CLI can fall back to the bundled sample day
(`sample.load_sample_day`). A bug in our own code is caught too and reported as
"<unit>: internal error (bug): ...".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from typing import Literal

import httpx

from ..models import Paper, SourceStatus
from .arxiv import fetch_category
from .http import SourceError, make_client
from .huggingface import fetch_daily_papers
from .merge import merge_papers

log = logging.getLogger(__name__)

SOURCE_NAMES: tuple[str, ...] = ("huggingface", "arxiv")
UNREACHABLE_PREFIX = "unreachable:"

DayOutcome = Literal["complete", "partial", "failed"]

__all__ = [
    "SOURCE_NAMES",
    "UNREACHABLE_PREFIX",
    "SourceError",
    "all_failed",
    "all_unreachable",
    "day_status",
    "failed_units",
    "fetch_day",
    "fetch_unit",
    "is_unreachable",
    "merge_papers",
    "refresh_days",
    "scrape_units",
    "unit_source",
]


def _error_text(exc: SourceError) -> str:
    return f"{UNREACHABLE_PREFIX} {exc}" if exc.unreachable else str(exc)


def scrape_units(sources: Iterable[str], categories: Iterable[str]) -> list[str]:
    """The day's units, in order: "huggingface"; "arxiv" -> "arxiv:<category>" per category.

    Duplicates are dropped. "arxiv" without categories stays one unit "arxiv" (it fails with
    a clear error: nothing to fetch); other names pass through (unknown ones fail likewise).
    """
    cats = list(dict.fromkeys(categories))
    units: list[str] = []
    for name in dict.fromkeys(sources):
        if name == "arxiv" and cats:
            units.extend(f"arxiv:{category}" for category in cats)
        else:
            units.append(name)
    return list(dict.fromkeys(units))


def unit_source(unit: str) -> str:
    """The source a unit belongs to: "arxiv:cs.LG" -> "arxiv"."""
    return unit.partition(":")[0]


def fetch_unit(
    day: date,
    unit: str,
    *,
    client: httpx.Client | None = None,
    today: date | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    timeout: float = 20.0,
    deadline: float | None = None,
    notes: list[str] | None = None,
) -> tuple[list[Paper], SourceStatus]:
    """One unit's papers for `day` and its status; never raises for a source problem.

    `today` (UTC date), when given, lets arXiv refuse future days and go straight to the API
    for days the feed no longer serves (see `sources.arxiv`). `deadline` is a `clock()` value
    by which to return (waits that would pass it fail the unit with "retry later ...").
    `timeout` applies to a client made here (none given). Informational notes (e.g. "fetched
    from the arXiv API by date") are appended to `notes`.
    """
    own_client = client is None
    http = client or make_client(timeout)
    try:
        source, _, argument = unit.partition(":")
        if unit == "huggingface":
            papers = fetch_daily_papers(day, http, sleep=sleep, clock=clock, deadline=deadline)
        elif source == "arxiv":
            if not argument:
                raise SourceError(
                    unit, "no category: arXiv units are 'arxiv:<category>' (e.g. arxiv:cs.LG)"
                )
            papers = fetch_category(
                day,
                argument,
                http,
                today=today,
                sleep=sleep,
                clock=clock,
                deadline=deadline,
                notes=notes,
            )
        else:
            raise SourceError(unit, "unknown source (known: huggingface, arxiv:<category>)")
    except SourceError as exc:
        log.info("unit failed: %s", _error_text(exc))  # also in its status
        return [], SourceStatus(name=unit, ok=False, error=_error_text(exc))
    except Exception as exc:  # a bug in our code must not take the other units down
        log.exception("unit %s crashed", unit)
        message = " ".join(f"{type(exc).__name__}: {exc}".split())
        error = f"{unit}: internal error (bug): {message}"
        return [], SourceStatus(name=unit, ok=False, error=error)
    finally:
        if own_client:
            http.close()
    return papers, SourceStatus(name=unit, ok=True, papers=len(papers))


def _source_status(name: str, units: list[tuple[list[Paper], SourceStatus]]) -> SourceStatus:
    """One status for a source from its units' (ok only when every unit is)."""
    if len(units) == 1:
        papers, status = units[0]
        return status.model_copy(update={"name": name})
    ids = {p.arxiv_id for papers, status in units if status.ok for p in papers}
    failed = [status for _, status in units if not status.ok]
    if not failed:
        return SourceStatus(name=name, ok=True, papers=len(ids))
    errors = [(s.error or s.name).removeprefix(UNREACHABLE_PREFIX).strip() for s in failed]
    unreachable = len(failed) == len(units) and all(is_unreachable(s) for s in failed)
    text = f"{len(failed)} of {len(units)} units failed: " if len(units) > 1 else ""
    text += "; ".join(errors)
    return SourceStatus(
        name=name,
        ok=False,
        papers=len(ids),
        error=f"{UNREACHABLE_PREFIX} {text}" if unreachable else text,
    )


def fetch_day(
    day: date,
    *,
    categories: Iterable[str],
    client: httpx.Client | None = None,
    sources: Iterable[str] = SOURCE_NAMES,
    today: date | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    timeout: float = 20.0,
    deadline: float | None = None,
    notes: list[str] | None = None,
    per_unit: bool = False,
) -> tuple[list[Paper], list[SourceStatus]]:
    """Fetch every unit of `day` (`scrape_units`) in turn; return the merged papers and the
    statuses: one per source (default; a source is ok only when all its units are, and its
    papers are kept either way), or one per unit with `per_unit=True`.

    Sources run in the order given (Hugging Face first by default, so its order leads the
    merged list). Once a unit finds its host unreachable, the source's later units are not
    tried (failed as unreachable too: offline, the CLI falls back quickly). Informational
    notes (e.g. an arXiv day fetched by date) go to `notes`.
    """
    own_client = client is None
    http = client or make_client(timeout)
    results: list[tuple[str, list[Paper], SourceStatus]] = []
    unreachable: dict[str, str] = {}  # source -> the unit that could not reach its host
    try:
        for unit in scrape_units(sources, categories):
            source = unit_source(unit)
            if source in unreachable:  # offline: fail fast, the CLI falls back to the sample
                error = f"{UNREACHABLE_PREFIX} {unit}: not tried, {unreachable[source]} could not "
                error += "reach the host"
                results.append((unit, [], SourceStatus(name=unit, ok=False, error=error)))
                continue
            papers, status = fetch_unit(
                day,
                unit,
                client=http,
                today=today,
                sleep=sleep,
                clock=clock,
                timeout=timeout,
                deadline=deadline,
                notes=notes,
            )
            if is_unreachable(status):
                unreachable[source] = unit
            results.append((unit, papers, status))
    finally:
        if own_client:
            http.close()
    merged = merge_papers(*(papers for _, papers, _ in results))
    if per_unit:
        return merged, [status for _, _, status in results]
    by_source: dict[str, list[tuple[list[Paper], SourceStatus]]] = {}
    for unit, papers, status in results:
        by_source.setdefault(unit_source(unit), []).append((papers, status))
    return merged, [_source_status(name, units) for name, units in by_source.items()]


def day_status(statuses: Iterable[SourceStatus]) -> DayOutcome:
    """ "complete" when every unit is ok, "failed" when none is (or there is none), else
    "partial"."""
    oks = [s.ok for s in statuses]
    if oks and all(oks):
        return "complete"
    if any(oks):
        return "partial"
    return "failed"


def failed_units(statuses: Iterable[SourceStatus]) -> list[str]:
    """Names of the units (or sources) that failed, in order: the ones to fetch again."""
    return [s.name for s in statuses if not s.ok]


def refresh_days(day: date, n: int) -> list[date]:
    """The `n` days before `day`, latest first: the days whose Hugging Face signals to
    refresh with `fetch_unit(previous_day, "huggingface")` (upvotes keep growing for 1-2
    weeks, and what `day`'s scrape saw is an early count)."""
    if n < 0:
        raise ValueError(f"refresh_days: n must be >= 0, got {n}")
    return [day - timedelta(days=k) for k in range(1, n + 1)]


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
