"""Merge what several sources said about the same papers, keyed by bare arXiv id.

The one merge rule: `sources.fetch_day` uses it to combine the sources of a day, and both
stores (`SqliteStore`, `DynamoStore`) use it when a paper they already hold is upserted
again (`merge_papers([stored], [incoming])`). Records are taken in order: the first list
before the second, and within a list the earlier record first; so in a store, the stored
paper comes first and the re-scraped one second.

Rules, per id:
- signals: the union of every source's signals. Two records from the *same* source are
  combined field by field:
  - counts (upvotes, comments, github_stars) come from the later observation: the record
    with the later `observed_at` when both have one, otherwise the later record (in a
    store: the one being upserted). A count the later observation lacks (None) is kept
    from the other. So a re-scrape that saw 10 -> 50 upvotes stores 50, and a stale
    observation (earlier `observed_at`) arriving late does not undo a newer one.
  - lists (keywords, categories) are unioned, order kept (first record's items first).
  - other values (github_repo, project_page, announce_type, organization): the first
    non-empty value wins; `synthetic` if either is; `observed_at` the latest seen.
- categories: arXiv's (the authority on subject classes); other sources' only if arXiv
  had nothing to say.
- title, abstract, authors: arXiv's text when present, else the first other source's
  (the first non-empty one, in order).
- version: the highest seen; published: the earliest seen; day: the first record's (in a
  store, a paper keeps the listing day it was first stored under).
- order: the order in which ids first appear across the lists (stable).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from ..models import Paper, SourceSignals

_TEXT_AUTHORITY = "arxiv"
_COUNTS = ("upvotes", "comments", "github_stars")


def _later_observation(a: SourceSignals, b: SourceSignals) -> SourceSignals:
    """Which of two records of one source (`a` first, `b` later) saw the paper last."""
    if a.observed_at is not None and b.observed_at is not None:
        return a if _utc(a.observed_at) > _utc(b.observed_at) else b
    return b


def _merge_signals(a: SourceSignals, b: SourceSignals) -> SourceSignals:
    later = _later_observation(a, b)
    earlier = a if later is b else b
    merged = a.model_copy(deep=True)
    for field in SourceSignals.model_fields:
        mine, theirs = getattr(merged, field), getattr(b, field)
        if field in _COUNTS:
            newest = getattr(later, field)
            setattr(merged, field, newest if newest is not None else getattr(earlier, field))
        elif field == "observed_at":
            stamps = [t for t in (mine, theirs) if t is not None]
            merged.observed_at = max(stamps, key=_utc) if stamps else None
        elif isinstance(mine, list):
            setattr(merged, field, list(dict.fromkeys([*mine, *(theirs or [])])))
        elif field == "synthetic":
            merged.synthetic = bool(mine or theirs)
        elif not mine and theirs:
            setattr(merged, field, theirs)
    return merged


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _merge_group(group: list[Paper]) -> Paper:
    first = group[0]
    authoritative = [p for p in group if _TEXT_AUTHORITY in p.signals]
    preferred = authoritative + [p for p in group if _TEXT_AUTHORITY not in p.signals]

    def pick(attr: str):
        return next((getattr(p, attr) for p in preferred if getattr(p, attr)), getattr(first, attr))

    signals: dict[str, SourceSignals] = {}
    for paper in group:
        for name, sig in paper.signals.items():
            signals[name] = (
                _merge_signals(signals[name], sig)
                if name in signals
                else (sig.model_copy(deep=True))
            )

    categories: list[str] = []
    for paper in authoritative or group:
        categories.extend(paper.categories)
    versions = [p.version for p in group if p.version is not None]
    published = [p.published for p in group if p.published is not None]

    return Paper(
        arxiv_id=first.arxiv_id,
        version=max(versions) if versions else None,
        title=pick("title"),
        abstract=pick("abstract"),
        authors=list(pick("authors")),
        published=min(published, key=_utc) if published else None,
        day=first.day,
        categories=list(dict.fromkeys(categories)),
        signals=signals,
    )


def merge_papers(*lists: Iterable[Paper]) -> list[Paper]:
    """One paper per arXiv id, combining every list's records (see the module docstring)."""
    groups: dict[str, list[Paper]] = {}
    for papers in lists:
        for paper in papers:
            groups.setdefault(paper.arxiv_id, []).append(paper)
    return [_merge_group(group) for group in groups.values()]
