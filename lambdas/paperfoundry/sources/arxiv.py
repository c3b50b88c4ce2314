"""arXiv listings from the RSS feeds: `GET https://rss.arxiv.org/rss/<category>`.

Format (https://info.arxiv.org/help/rss_specifications.html): RSS 2.0; the channel carries
`pubDate` (the announcement day) and `skipDays`; each `<item>` has `title`, `link`,
`description` ("arXiv:2402.18668v1 Announce Type: new \\nAbstract: ..."), `guid`
("oai:arXiv.org:2402.18668v1"), one `<category>` per subject class, `pubDate`,
`arxiv:announce_type`, `dc:rights` and `dc:creator` (comma-separated authors).

What we keep:
- `new`: papers announced for the first time, in their primary category. Kept.
- `cross`: papers announced as new in a category that is *not* their primary one. Not kept
  as papers by default (their home category owns them; `include_cross=True` keeps them), but
  when the same paper is `new` in another fetched feed, the cross-listing's categories are
  recorded on it.
- `replace`, `replace-cross`: new versions of older papers, not new papers. Dropped.

Empty feeds (weekends, holidays: a channel with no items) give an empty list, not an error.
The feed only ever serves the latest announcement: when `day` is given and the channel's
`pubDate` is another day, that feed is skipped (empty result, reason appended to `notes`
and logged) rather than passing off another day's papers as `day`'s.

arXiv's terms ask for one request at a time and at least 3 s between requests, from all of
a user's machines; `fetch_listings` goes category by category through a process-wide rate
limiter (also applied to retries).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from xml.etree.ElementTree import Element, ParseError  # noqa: S405 - parsing is via defusedxml

import defusedxml.ElementTree as SafeET
import httpx
from defusedxml import DefusedXmlException

from ..models import Paper, SourceSignals
from .http import SourceError, get_with_retry
from .normalize import (
    clean_abstract,
    clean_title,
    collapse_ws,
    is_withdrawn,
    parse_arxiv_ref,
    split_authors,
)

log = logging.getLogger(__name__)

SOURCE = "arxiv"
FEED_URL = "https://rss.arxiv.org/rss/{category}"
NS = {"arxiv": "http://arxiv.org/schemas/atom", "dc": "http://purl.org/dc/elements/1.1/"}
CATEGORY_RE = re.compile(r"^[a-z\-]+(?:\.[A-Za-z\-]+)?$")
_ANNOUNCE_RE = re.compile(r"Announce Type:\s*([A-Za-z\-]+)", re.IGNORECASE)
_ABSTRACT_RE = re.compile(r"\bAbstract:\s*", re.IGNORECASE)
_DESC_ID_RE = re.compile(r"arXiv:(\S+)", re.IGNORECASE)


class RateLimiter:
    """At least `min_interval` seconds between the starts of consecutive requests.

    The clock and sleep are passed per call so tests can use fake ones; when the clock
    changes, the previous timestamp (from another clock) is forgotten.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: float | None = None
        self._clock: Callable[[], float] | None = None

    def wait(
        self,
        min_interval: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> float:
        """Block until a request may start; return how long we slept."""
        with self._lock:
            if self._clock is not clock:
                self._clock, self._last = clock, None
            slept = 0.0
            if self._last is not None:
                remaining = min_interval - (clock() - self._last)
                if remaining > 0:
                    sleep(remaining)
                    slept = remaining
            self._last = clock()
            return slept

    def reset(self) -> None:
        with self._lock:
            self._last, self._clock = None, None


RATE_LIMITER = RateLimiter()  # one per process: arXiv's limit is per user, not per call


class FeedItem:
    """One parsed `<item>` (unreadable items are skipped, never represented)."""

    __slots__ = ("announce_type", "paper")

    def __init__(self, announce_type: str, paper: Paper) -> None:
        self.announce_type = announce_type
        self.paper = paper


def _parse_date(text: str | None) -> datetime | None:
    if not text or not text.strip():
        return None
    try:
        return parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError):
        return None


def _text(element: Element, path: str) -> str:
    return (element.findtext(path, default="", namespaces=NS) or "").strip()


def _parse_item(item: Element, feed_day: date | None, category: str) -> FeedItem | None:
    description = item.findtext("description", default="") or ""
    announce = _text(item, "arxiv:announce_type").lower()
    if not announce:
        match = _ANNOUNCE_RE.search(description)
        announce = match.group(1).lower() if match else ""
    ref = None
    desc_id = _DESC_ID_RE.search(description)
    for candidate in (
        desc_id.group(1) if desc_id else None,
        _text(item, "guid"),
        _text(item, "link"),
    ):
        try:
            ref = parse_arxiv_ref(candidate)
            break
        except ValueError:
            continue
    if ref is None:
        log.warning("%s: %s item without an arXiv id skipped", SOURCE, category)
        return None
    arxiv_id, version = ref
    parts = _ABSTRACT_RE.split(description, maxsplit=1)
    abstract = clean_abstract(parts[1] if len(parts) == 2 else "")
    title = clean_title(_text(item, "title"))
    if not title:
        log.warning("%s: %s item %s without a title skipped", SOURCE, category, arxiv_id)
        return None
    published = _parse_date(_text(item, "pubDate"))
    categories = [c for c in (collapse_ws(el.text) for el in item.findall("category")) if c]
    if category not in categories and announce in ("cross", "replace-cross"):
        categories.append(category)
    paper = Paper(
        arxiv_id=arxiv_id,
        version=version,
        title=title,
        abstract=abstract,
        authors=split_authors(_text(item, "dc:creator")),
        published=published,
        day=(published.date() if published else None) or feed_day or date.today(),
        categories=categories,
        signals={
            SOURCE: SourceSignals(source=SOURCE, categories=categories, announce_type=announce)
        },
    )
    return FeedItem(announce, paper)


def parse_feed(content: bytes | str, category: str) -> tuple[date | None, list[FeedItem]]:
    """RSS bytes -> (the channel's announcement day, its items). Raises `SourceError`."""
    try:
        root = SafeET.fromstring(content)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise SourceError(SOURCE, f"malformed XML in the {category} feed: {exc}") from exc
    channel = root.find("channel") if root.tag == "rss" else None
    if channel is None:
        raise SourceError(
            SOURCE, f"unexpected {category} feed format: root <{root.tag}>, expected RSS 2.0"
        )
    published = _parse_date(_text(channel, "pubDate")) or _parse_date(
        _text(channel, "lastBuildDate")
    )
    feed_day = published.date() if published else None
    items = [
        parsed
        for el in channel.findall("item")
        if (parsed := _parse_item(el, feed_day, category)) is not None
    ]
    return feed_day, items


def fetch_listings(
    categories: list[str],
    client: httpx.Client,
    *,
    day: date | None = None,
    min_interval: float = 3.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    include_cross: bool = False,
    notes: list[str] | None = None,
    **retry: Any,
) -> list[Paper]:
    """The day's new papers in `categories`, one feed at a time, >= `min_interval` s apart.

    Extra keyword arguments go to `get_with_retry` (`attempts`, `max_wait`).
    Raises `SourceError` (bad category name, HTTP failure, malformed XML).
    """
    notes = notes if notes is not None else []
    new: dict[str, Paper] = {}
    cross: list[Paper] = []

    def pace() -> None:
        RATE_LIMITER.wait(min_interval, clock, sleep)

    for category in dict.fromkeys(categories):  # de-duplicated, order kept
        if not CATEGORY_RE.match(category):
            raise SourceError(SOURCE, f"invalid category name {category!r}")
        response = get_with_retry(
            client,
            FEED_URL.format(category=category),
            None,
            source=SOURCE,
            sleep=sleep,
            before_attempt=pace,
            **retry,
        )
        feed_day, items = parse_feed(response.content, category)
        if day is not None and feed_day is not None and feed_day != day:
            note = (
                f"arxiv: {category} feed is for {feed_day.isoformat()}, not "
                f"{day.isoformat()}; skipped (the RSS feed only serves the latest announcement)"
            )
            log.warning(note)
            notes.append(note)
            continue
        if not items:
            log.info("%s: %s feed has no items (weekend or holiday)", SOURCE, category)
        for entry in items:
            paper = entry.paper
            if entry.announce_type == "new":
                if is_withdrawn(paper.abstract):
                    continue
                if paper.arxiv_id in new:
                    _add_categories(new[paper.arxiv_id], paper.categories)
                else:
                    new[paper.arxiv_id] = paper
            elif entry.announce_type == "cross":
                cross.append(paper)
            # replace / replace-cross: updated versions of older papers, not new ones.

    for paper in cross:
        if paper.arxiv_id in new:
            _add_categories(new[paper.arxiv_id], paper.categories)
        elif include_cross and not is_withdrawn(paper.abstract):
            new[paper.arxiv_id] = paper
    return list(new.values())


def _add_categories(paper: Paper, categories: list[str]) -> None:
    merged = list(dict.fromkeys([*paper.categories, *categories]))
    paper.categories = merged
    paper.signals[SOURCE].categories = merged
