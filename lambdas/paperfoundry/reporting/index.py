"""The index of all daily reports (`index.html`) and an Atom feed of their digests (`feed.xml`).

Both are rendered (templates/index.html, templates/feed.xml) from `index.json`, one small
record per reported day (its picks with their badges, the digest) kept next to them in the
reports prefix (`runs/` locally, `reports/` on S3). `write_index` replaces the record of the
day just reported and adds any reported day it lacks from that day's report.json, so two
days reported at once cannot lose a day for good.

Same rules as the report: no scripts, no external resources, every text escaped. Links are
relative paths inside the site (``2024-03-01/report.html``) or absolute http(s) URLs;
anything else (``javascript:``, ``//host``, ``..``) is shown as plain text, not linked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime

from pydantic import Field, ValidationError

from ..models import DayReport, Model
from ..ports import BlobStore
from .digest import pick_line
from .html import environment, pick_anchor, pick_status, safe_url

FEED_ENTRIES = 60  # the feed's newest days; the index lists them all
FEED = "feed.xml"
INDEX = "index.html"
RECORDS = "index.json"
TAG = "tag:paperfoundry,2025:"  # RFC 4151 ids: stable whatever URL serves the site

# A relative path of plain segments: no scheme, no leading "/" or "//", no "." / ".." parts.
_SEGMENT = r"[A-Za-z0-9_~-][A-Za-z0-9._~-]*"
_RELATIVE = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})*/?(?:#[A-Za-z0-9_-]+)?")


class IndexPick(Model):
    rank: int
    arxiv_id: str
    title: str
    kind: str = "mute"  # the pill's class
    label: str = ""  # the badge ("supported 1/2") or what stopped the pick
    detail: str = ""  # the digest's line for the pick


class IndexEntry(Model):
    day: date
    link: str  # to the day's report.html, relative to the index
    updated: datetime
    subject: str = ""
    digest: str = ""  # the plain-text digest (without the report's link)
    sample: bool = False
    picks: list[IndexPick] = Field(default_factory=list)

    @property
    def summary(self) -> str:
        """The subject without its 'paperfoundry <day>: ' prefix."""
        return self.subject.partition(f"{self.day.isoformat()}: ")[2] or self.subject


def href(link: str) -> str | None:
    link = link.strip()
    return link if _RELATIVE.fullmatch(link) else safe_url(link)


def entry_for(report: DayReport, link: str | None = None) -> IndexEntry:
    """The index's record of a day."""
    from . import digest_text  # through the package: tests may replace it there

    subject, digest = digest_text(report, None)
    picks = [
        IndexPick(
            rank=p.pick.rank,
            arxiv_id=p.paper.arxiv_id,
            title=p.paper.title,
            kind=(status := pick_status(p))[0],
            label=status[1],
            detail=pick_line(p),
        )
        for p in report.picks
    ]
    return IndexEntry(
        day=report.day,
        link=link or f"{report.day.isoformat()}/report.html",
        updated=report.generated_at,
        subject=subject,
        digest=digest,
        sample=report.sample,
        picks=picks,
    )


def rfc3339(value: datetime) -> str:
    value = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _months(entries: list[IndexEntry]) -> list[tuple[str, list[IndexEntry]]]:
    months: dict[str, list[IndexEntry]] = {}
    for entry in entries:
        months.setdefault(entry.day.strftime("%B %Y"), []).append(entry)
    return list(months.items())


def render_index(entries: Iterable[IndexEntry], *, generated_at: datetime | None = None) -> str:
    """The index page: every day, newest first, grouped by month, with its picks."""
    ordered = sorted(entries, key=lambda entry: entry.day, reverse=True)
    return (
        environment()
        .get_template("index.html")
        .render(
            entries=ordered,
            months=_months(ordered),
            generated_at=generated_at or datetime.now(UTC),
            href=href,
            pick_anchor=pick_anchor,
            feed=FEED,
        )
    )


def render_feed(entries: Iterable[IndexEntry], *, generated_at: datetime | None = None) -> str:
    """An Atom feed (RFC 4287) of the newest FEED_ENTRIES days' digests."""
    ordered = sorted(entries, key=lambda entry: entry.day, reverse=True)[:FEED_ENTRIES]
    updated = max((e.updated for e in ordered), key=rfc3339, default=None)
    return (
        environment()
        .get_template("feed.xml")
        .render(
            entries=ordered,
            updated=rfc3339(updated or generated_at or datetime.now(UTC)),
            rfc3339=rfc3339,
            href=href,
            tag=TAG,
            feed=FEED,
            index=INDEX,
        )
    )


def load_entries(blobs: BlobStore, prefix: str = "") -> dict[date, IndexEntry]:
    try:
        rows = json.loads(blobs.get(f"{prefix}{RECORDS}"))
        return {e.day: e for e in (IndexEntry.model_validate(row) for row in rows)}
    except (KeyError, ValueError, TypeError):  # absent or unreadable: rebuilt from the days
        return {}


def write_index(
    blobs: BlobStore,
    report: DayReport | None = None,
    days: Iterable[date] = (),
    *,
    prefix: str = "",
    generated_at: datetime | None = None,
) -> list[IndexEntry]:
    """Record `report` and every reported day in `days` the index lacks (read from its
    report.json), then write index.json, index.html and feed.xml under `prefix`."""
    entries = load_entries(blobs, prefix)
    if report is not None:
        entries[report.day] = entry_for(report)
    for day in days:
        if day not in entries:
            try:
                text = blobs.get(f"{prefix}{day.isoformat()}/report.json")
                old = DayReport.model_validate_json(text)
            except (KeyError, ValueError, ValidationError):
                continue  # no readable report: nothing to list
            entries[day] = entry_for(old)
    ordered = sorted(entries.values(), key=lambda entry: entry.day, reverse=True)
    records = json.dumps([e.model_dump(mode="json") for e in ordered], ensure_ascii=False)
    blobs.put(f"{prefix}{RECORDS}", records.encode(), "application/json")
    page = render_index(ordered, generated_at=generated_at)
    blobs.put(f"{prefix}{INDEX}", page.encode(), "text/html; charset=utf-8")
    feed = render_feed(ordered, generated_at=generated_at)
    blobs.put(f"{prefix}{FEED}", feed.encode(), "application/atom+xml; charset=utf-8")
    return ordered
