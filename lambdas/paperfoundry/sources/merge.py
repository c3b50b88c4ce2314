"""Merge what several sources said about the same papers, keyed by bare arXiv id.

Rules, per id:
- signals: the union of every source's signals; two records from the same source are
  combined field by field (first non-empty value wins, lists are unioned).
- categories: arXiv's (the authority on subject classes); other sources' only if arXiv
  had nothing to say.
- title, abstract, authors: arXiv's text when present, else the first other source's.
- version: the highest seen; published: the earliest seen; day: the first record's.
- order: the order in which ids first appear across the lists (stable).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from ..models import Paper, SourceSignals

_TEXT_AUTHORITY = "arxiv"


def _merge_signals(a: SourceSignals, b: SourceSignals) -> SourceSignals:
    merged = a.model_copy(deep=True)
    for field in SourceSignals.model_fields:
        mine, theirs = getattr(merged, field), getattr(b, field)
        if isinstance(mine, list):
            setattr(merged, field, list(dict.fromkeys([*mine, *(theirs or [])])))
        elif field == "synthetic":
            merged.synthetic = bool(mine or theirs)
        elif mine is None and theirs is not None:
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
