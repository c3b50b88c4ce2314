"""arXiv listings: the RSS feeds for the latest announcement, the export API for any other day.

Two ways in, one per category (a scrape *unit* is `arxiv:<category>`, see `fetch_category`):

**RSS** (`GET https://rss.arxiv.org/rss/<category>`, the announcement arXiv is serving now).
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
`fetch_listings` (several categories at once, feed only) is the older entry point: a feed
for another day is skipped with a note. Scrape units use `fetch_category` (below).

**Export API by date** (`GET https://export.arxiv.org/api/query`, Atom 1.0; the user manual,
https://info.arxiv.org/help/api/user-manual.html). The RSS feed only ever serves the latest
announcement, so any other day (a backfill after an outage, a re-run) is read here:
`search_query=cat:<category> AND submittedDate:[YYYYMMDDHHMM TO YYYYMMDDHHMM]` (times in
GMT, to the minute), `sortBy=submittedDate&sortOrder=ascending`, paged with `start` and
`max_results` (at most 2,000 a page; `opensearch:totalResults` says how many there are).
Entries whose `arxiv:primary_category` is the category are that category's new papers (the
RSS `new`); the others are cross-listings (kept only with `include_cross`). Errors come back
as an Atom feed with one entry whose `<id>` is under `arxiv.org/api/errors`.

**Day -> submission window** (`announcement_window`). arXiv's schedule
(https://info.arxiv.org/help/availability.html), all times US Eastern:

    submitted between        announced     listing day (RSS pubDate, our `day`)
    Mon 14:00 - Tue 14:00    Tue 20:00     Wed
    Tue 14:00 - Wed 14:00    Wed 20:00     Thu
    Wed 14:00 - Thu 14:00    Thu 20:00     Fri
    Thu 14:00 - Fri 14:00    Sun 20:00     Mon
    Fri 14:00 - Mon 14:00    Mon 20:00     Tue

So the listing of weekday D holds the papers first submitted in [14:00 ET on the weekday
before the weekday before D, 14:00 ET on the weekday before D); Saturday and Sunday have no
listing. ET is UTC-4 from the second Sunday of March to the first Sunday of November
(EDT), UTC-5 otherwise (EST); the rule is computed here (US rules since 2007), so no time
zone database is needed in the Lambda. The query asks for [start, end + 1 min] and the
entries' `<published>` (the v1 submission time) are then kept in [start, end), so a paper
submitted in the cut-off minute lands in exactly one day. Articles reach the API (and the
feed) at midnight ET after their 20:00 announcement.

Limits of the mapping (the window is by submission time; the listing is by announcement):
- papers held in moderation are announced on a later day than their window; by date they
  are found under their submission window's day, so one that was still on hold when that
  day was fetched is missed by a later backfill of the day it was really announced on;
- on a holiday without announcement arXiv lists that window's papers with the next
  announcement: live from the feed they come with that next day, by date they stay on the
  holiday (its window). Mixing the two misses them: a holiday fetched live (empty), then the
  next day fetched by date (its own window only). Holidays are not known here;
- the API reports each paper's latest version and categories, not the announced ones.

Which one a unit uses (`fetch_category`): a day after `today` -> error; a day at least two
days before `today` -> the API (the feed can no longer serve it; a weekend: nothing to
fetch, no request); otherwise the feed first: the feed serves `day` -> its papers; `day` is
a Saturday or Sunday -> no papers (the request still shows whether arXiv is reachable, which
the CLI's offline fallback relies on); the feed serves a later day -> the API (never another
day's papers counted as `day`'s); it still serves an earlier day -> error "not out yet;
retry later" (the listing appears at midnight ET).

arXiv's terms ask for one request at a time and at least 3 s between requests, from all of
a user's machines; every request here (feed, API page, retry) goes through a process-wide
rate limiter. Runs in several processes at once (parallel Lambda tasks) must be serialised
by their caller.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from email.utils import parsedate_to_datetime
from typing import Any
from xml.etree.ElementTree import Element, ParseError  # noqa: S405 - parsing is via defusedxml

import defusedxml.ElementTree as SafeET
import httpx
from defusedxml import DefusedXmlException

from ..models import Paper, SourceSignals
from .http import SourceError, get_with_retry, whole_seconds
from .normalize import (
    clean_abstract,
    clean_authors,
    clean_title,
    collapse_ws,
    is_withdrawn,
    parse_arxiv_ref,
    split_authors,
)

log = logging.getLogger(__name__)

SOURCE = "arxiv"
FEED_URL = "https://rss.arxiv.org/rss/{category}"
API_URL = "https://export.arxiv.org/api/query"
NS = {"arxiv": "http://arxiv.org/schemas/atom", "dc": "http://purl.org/dc/elements/1.1/"}
API_NS = {
    "atom": "http://www.w3.org/2005/Atom",
    "opensearch": "http://a9.com/-/spec/opensearch/1.1/",
    "arxiv": "http://arxiv.org/schemas/atom",
}
API_PAGE_SIZE = 500  # the manual: at most 2,000 a call; smaller slices for large results
API_MAX_PAGES = 40
CUTOFF_HOUR_ET = 14  # submissions received by 14:00 US Eastern go into that evening's mailing
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
        *,
        deadline: float | None = None,
        source: str = SOURCE,
    ) -> float:
        """Block until a request may start; return how long we slept.

        With a `deadline` (a `clock()` value) a wait that would pass it raises `SourceError`
        ("retry later") instead of sleeping."""
        with self._lock:
            if self._clock is not clock:
                self._clock, self._last = clock, None
            slept = 0.0
            if self._last is not None:
                remaining = min_interval - (clock() - self._last)
                if remaining > 0:
                    if deadline is not None and clock() + remaining > deadline:
                        raise SourceError(
                            source,
                            f"retry later (request spacing {whole_seconds(remaining)} s): "
                            "the next request would pass the deadline",
                        )
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


def parse_feed(
    content: bytes | str, category: str, *, source: str = SOURCE
) -> tuple[date | None, list[FeedItem]]:
    """RSS bytes -> (the channel's announcement day, its items). Raises `SourceError`."""
    try:
        root = SafeET.fromstring(content)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise SourceError(source, f"malformed XML in the {category} feed: {exc}") from exc
    channel = root.find("channel") if root.tag == "rss" else None
    if channel is None:
        raise SourceError(
            source, f"unexpected {category} feed format: root <{root.tag}>, expected RSS 2.0"
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


# --- announcement day -> submission window ----------------------------------------------------


def _nth_sunday(year: int, month: int, n: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(6 - first.weekday()) % 7 + 7 * (n - 1))


def eastern_utc_offset(day: date) -> timedelta:
    """US Eastern's UTC offset in the afternoon of `day`: -4 h (EDT) from the second Sunday of
    March to the first Sunday of November, -5 h (EST) otherwise (US rules since 2007)."""
    if _nth_sunday(day.year, 3, 2) <= day < _nth_sunday(day.year, 11, 1):
        return timedelta(hours=-4)
    return timedelta(hours=-5)


def submission_cutoff(day: date) -> datetime:
    """14:00 US Eastern on `day`, in UTC."""
    local = datetime.combine(day, dt_time(CUTOFF_HOUR_ET))
    return (local - eastern_utc_offset(day)).replace(tzinfo=UTC)


def _weekday_before(day: date) -> date:
    day -= timedelta(days=1)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def announcement_window(day: date) -> tuple[datetime, datetime] | None:
    """[start, end) in UTC of first submissions listed on `day`; None on Saturday and Sunday
    (no listing). See the module docstring for the schedule and the mapping's limits."""
    if day.weekday() >= 5:
        return None
    end_day = _weekday_before(day)
    return submission_cutoff(_weekday_before(end_day)), submission_cutoff(end_day)


def _describe_window(window: tuple[datetime, datetime]) -> str:
    start, end = window
    return f"submitted {start:%a %Y-%m-%d %H:%M} - {end:%a %Y-%m-%d %H:%M} UTC"


# --- the export API's Atom ------------------------------------------------------------------


@dataclass(frozen=True)
class ApiEntry:
    """One article of an API response: its primary category and the paper."""

    primary_category: str | None
    paper: Paper


@dataclass(frozen=True)
class ApiPage:
    total: int  # opensearch:totalResults, for the whole query
    count: int  # entries in this response, including ones skipped (withdrawn, unreadable)
    entries: list[ApiEntry]


def _atext(element: Element, path: str) -> str:
    return (element.findtext(path, default="", namespaces=API_NS) or "").strip()


def _parse_iso(text: str) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _is_error_entry(entry: Element) -> bool:
    return "arxiv.org/api/errors" in _atext(entry, "atom:id")


def _parse_api_entry(entry: Element, day: date, source: str) -> ApiEntry | None:
    raw_id = _atext(entry, "atom:id")
    try:
        arxiv_id, version = parse_arxiv_ref(raw_id)
    except ValueError:
        log.warning("%s: API entry without an arXiv id skipped (id=%r)", source, raw_id[:80])
        return None
    title = clean_title(_atext(entry, "atom:title"))
    if not title:
        log.warning("%s: API entry %s without a title skipped", source, arxiv_id)
        return None
    primary_el = entry.find("arxiv:primary_category", API_NS)
    primary = (primary_el.get("term") or "").strip() if primary_el is not None else ""
    terms = [(el.get("term") or "").strip() for el in entry.findall("atom:category", API_NS)]
    # arXiv classes only: ACM ("I.2.6") and MSC ("68T05") classes share the element
    categories = list(dict.fromkeys(t for t in [primary, *terms] if t and CATEGORY_RE.match(t)))
    paper = Paper(
        arxiv_id=arxiv_id,
        version=version,
        title=title,
        abstract=clean_abstract(_atext(entry, "atom:summary")),
        authors=clean_authors(
            el.findtext("atom:name", default="", namespaces=API_NS)
            for el in entry.findall("atom:author", API_NS)
        ),
        published=_parse_iso(_atext(entry, "atom:published")),
        day=day,
        categories=categories,
        signals={SOURCE: SourceSignals(source=SOURCE, categories=categories, announce_type="new")},
    )
    if is_withdrawn(paper.abstract, _atext(entry, "arxiv:comment")):
        log.info("%s: dropping withdrawn paper %s", source, arxiv_id)
        return None
    return ApiEntry(primary or (categories[0] if categories else None), paper)


def _api_root(content: bytes | str, source: str, where: str) -> Element:
    try:
        root = SafeET.fromstring(content)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise SourceError(source, f"malformed XML in the arXiv API response{where}: {exc}") from exc
    if root.tag != f"{{{API_NS['atom']}}}feed":
        raise SourceError(
            source,
            f"unexpected arXiv API response{where}: root <{root.tag}>, expected an Atom <feed>",
        )
    return root


def parse_api_feed(content: bytes | str, day: date, *, source: str, start: int = 0) -> ApiPage:
    """One API response -> its total and entries (papers dated `day`). Raises `SourceError`
    for malformed XML, a feed that is not Atom, arXiv's error entry, a missing total."""
    where = f" (start={start})"
    root = _api_root(content, source, where)
    entries = root.findall("atom:entry", API_NS)
    for entry in entries:
        if _is_error_entry(entry):
            message = collapse_ws(_atext(entry, "atom:summary")) or "no message"
            raise SourceError(source, f"arXiv API error{where}: {message}")
    total_text = _atext(root, "opensearch:totalResults")
    try:
        total = int(total_text)
    except ValueError:
        raise SourceError(
            source,
            f"unexpected arXiv API response{where}: opensearch:totalResults is "
            f"{total_text or 'missing'!r}, expected a number",
        ) from None
    parsed = [p for e in entries if (p := _parse_api_entry(e, day, source)) is not None]
    return ApiPage(total=total, count=len(entries), entries=parsed)


def _api_error_detail(response: httpx.Response) -> str | None:
    """arXiv's error message from a 4xx Atom body ("incorrect id format for ..."), if any."""
    try:
        root = SafeET.fromstring(response.content)
    except (ParseError, DefusedXmlException, ValueError):
        return None
    for entry in root.findall("atom:entry", API_NS):
        if _is_error_entry(entry):
            return collapse_ws(_atext(entry, "atom:summary")) or None
    return None


def _query_stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M")


def api_query(category: str, window: tuple[datetime, datetime]) -> str:
    """The `search_query` for one category's window ([start, end + 1 min], GMT, to the minute:
    the cut-off minute is asked for and then sorted by the entries' exact times)."""
    start, end = window
    return (
        f"cat:{category} AND submittedDate:"
        f"[{_query_stamp(start)} TO {_query_stamp(end + timedelta(minutes=1))}]"
    )


def fetch_by_date(
    day: date,
    category: str,
    client: httpx.Client,
    *,
    source: str | None = None,
    include_cross: bool = False,
    page_size: int = API_PAGE_SIZE,
    max_pages: int = API_MAX_PAGES,
    empty_page_tries: int = 3,
    min_interval: float = 3.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    deadline: float | None = None,
    **retry: Any,
) -> list[Paper]:
    """`category`'s new papers listed on `day`, from the export API by submission window.

    Pages through every result (`start`/`max_results`, each request >= `min_interval` s after
    the previous one); an empty page before the total is reached is asked again, up to
    `empty_page_tries` times, then an error. Extra keyword arguments go to `get_with_retry`.
    Raises `SourceError`.
    """
    source = source or f"{SOURCE}:{category}"
    if not CATEGORY_RE.match(category):
        raise SourceError(source, f"invalid category name {category!r}")
    window = announcement_window(day)
    if window is None:
        return []
    start, end = window
    page_size = max(1, min(page_size, 2000))

    def pace() -> None:
        RATE_LIMITER.wait(min_interval, clock, sleep, deadline=deadline, source=source)

    query = api_query(category, window)
    papers: dict[str, Paper] = {}
    offset, total, pages = 0, None, 0
    while total is None or offset < total:
        if pages >= max_pages:
            raise SourceError(
                source,
                f"stopped after {max_pages} API pages with {offset} of {total} results "
                "(raise max_pages)",
            )
        params = {
            "search_query": query,
            "start": offset,
            "max_results": page_size,
            "sortBy": "submittedDate",
            "sortOrder": "ascending",
        }
        for attempt in range(1, max(1, empty_page_tries) + 1):
            response = get_with_retry(
                client,
                API_URL,
                params,
                source=source,
                sleep=sleep,
                clock=clock,
                deadline=deadline,
                before_attempt=pace,
                describe_error=_api_error_detail,
                **retry,
            )
            page = parse_api_feed(response.content, day, source=source, start=offset)
            if page.count or offset >= page.total:
                break
            log.warning(
                "%s: empty API page at start=%d of %d results (try %d/%d)",
                source,
                offset,
                page.total,
                attempt,
                empty_page_tries,
            )
        else:
            raise SourceError(
                source,
                f"the arXiv API returned an empty page at start={offset} of {page.total} "
                f"results {empty_page_tries} times; retry later",
            )
        pages += 1
        total = page.total
        if not page.count:  # offset >= total: nothing more
            break
        offset += page.count
        for entry in page.entries:
            paper = entry.paper
            if paper.published is not None and not start <= paper.published < end:
                continue  # the cut-off minute's other side, or outside the window
            is_new = entry.primary_category == category
            if not is_new:
                if not include_cross:
                    continue
                paper.signals[SOURCE].announce_type = "cross"
            papers.setdefault(paper.arxiv_id, paper)
    return list(papers.values())


# --- one scrape unit: a category's papers for one day -----------------------------------------


def _new_papers(items: list[FeedItem], include_cross: bool) -> list[Paper]:
    papers: dict[str, Paper] = {}
    for entry in items:
        paper = entry.paper
        keep = entry.announce_type == "new" or (include_cross and entry.announce_type == "cross")
        if keep and not is_withdrawn(paper.abstract):
            papers.setdefault(paper.arxiv_id, paper)
    return list(papers.values())


def fetch_category(
    day: date,
    category: str,
    client: httpx.Client,
    *,
    today: date | None = None,
    include_cross: bool = False,
    min_interval: float = 3.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    deadline: float | None = None,
    notes: list[str] | None = None,
    **options: Any,
) -> list[Paper]:
    """One scrape unit (`arxiv:<category>`): the category's new papers listed on `day`.

    The feed when it serves `day`, else the export API by submission window (module
    docstring: which, when, and the mapping). `today` (UTC), when given, refuses future days
    and sends days the feed can no longer serve straight to the API; without it the feed's
    `pubDate` decides. Notes on the path taken go to `notes`. Extra keyword arguments go to
    `fetch_by_date` (`page_size`, ...) and `get_with_retry` (`attempts`, `max_wait`).
    Raises `SourceError`.
    """
    source = f"{SOURCE}:{category}"
    notes = notes if notes is not None else []
    if not CATEGORY_RE.match(category):
        raise SourceError(source, f"invalid category name {category!r}")
    if today is not None and day > today:
        raise SourceError(source, f"{day} is after today ({today}): not announced yet; retry later")
    window = announcement_window(day)

    def weekend() -> list[Paper]:
        note = f"{source}: {day} is a {day:%A}: arXiv has no listing on weekends; 0 papers"
        log.info(note)
        notes.append(note)
        return []

    paging = {
        k: options.pop(k) for k in ("page_size", "max_pages", "empty_page_tries") if k in options
    }

    def by_date(why: str) -> list[Paper]:
        if window is None:  # (not reached: weekends return earlier)
            return weekend()
        log.info("%s: %s; fetching %s from the arXiv API by date", source, why, day)
        papers = fetch_by_date(
            day,
            category,
            client,
            source=source,
            include_cross=include_cross,
            min_interval=min_interval,
            sleep=sleep,
            clock=clock,
            deadline=deadline,
            **paging,
            **options,
        )
        note = (
            f"{source}: {why}; {day} fetched from the arXiv API by date "
            f"({_describe_window(window)})"
        )
        log.info(note)
        notes.append(note)
        return papers

    if today is not None and day <= today - timedelta(days=2):
        if window is None:
            return weekend()
        return by_date(f"{day} is past (today is {today}), the RSS feed no longer serves it")

    def pace() -> None:
        RATE_LIMITER.wait(min_interval, clock, sleep, deadline=deadline, source=source)

    response = get_with_retry(
        client,
        FEED_URL.format(category=category),
        None,
        source=source,
        sleep=sleep,
        clock=clock,
        deadline=deadline,
        before_attempt=pace,
        **options,
    )
    feed_day, items = parse_feed(response.content, category, source=source)
    if feed_day == day:
        if not items:
            log.info("%s: the %s feed has no items (holiday?)", source, day)
        return _new_papers(items, include_cross)
    if window is None:  # (the feed was still asked: a live weekend run checks it is reachable)
        return weekend()
    if feed_day is None:
        return by_date("the RSS feed has no pubDate")
    if feed_day > day:
        return by_date(f"the RSS feed serves {feed_day}, not {day}")
    raise SourceError(
        source,
        f"the RSS feed still serves {feed_day}: the {day} listing is not out yet "
        "(arXiv publishes it at midnight US Eastern); retry later",
    )


# --- papers by id (liked papers the store does not have) -------------------------------------

ID_BATCH = 50  # ids per export-API request (`id_list`)


def listing_day(published: datetime) -> date:
    """The listing day whose submission window holds `published` (a paper's v1 submission
    time; `announcement_window`'s inverse)."""
    first = published.astimezone(UTC).date()
    for offset in range(8):
        day = first + timedelta(days=offset)
        window = announcement_window(day)
        if window is not None and window[0] <= published < window[1]:
            return day
    return first  # (not reached: every submission time falls in some weekday's window)


def fetch_by_ids(
    ids: list[str],
    client: httpx.Client,
    *,
    source: str = f"{SOURCE}:ids",
    min_interval: float = 3.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    **retry: Any,
) -> list[Paper]:
    """Papers by arXiv id from the export API (`id_list`, `ID_BATCH` ids a request, paced and
    retried like every arXiv request), each dated by its listing day (`listing_day` of its v1
    submission). Ids arXiv does not know, and withdrawn papers, are absent from the result.
    Extra keyword arguments go to `get_with_retry`. Raises `SourceError`."""
    wanted = list(dict.fromkeys(ids))
    papers: dict[str, Paper] = {}

    def pace() -> None:
        RATE_LIMITER.wait(min_interval, clock, sleep, source=source)

    for start in range(0, len(wanted), ID_BATCH):
        batch = wanted[start : start + ID_BATCH]
        params = {"id_list": ",".join(batch), "start": 0, "max_results": len(batch)}
        response = get_with_retry(
            client,
            API_URL,
            params,
            source=source,
            sleep=sleep,
            clock=clock,
            before_attempt=pace,
            describe_error=_api_error_detail,
            **retry,
        )
        root = _api_root(response.content, source, "")
        for entry in root.findall("atom:entry", API_NS):
            if _is_error_entry(entry):
                message = collapse_ws(_atext(entry, "atom:summary")) or "no message"
                raise SourceError(source, f"arXiv API error: {message}")
            # a placeholder day, replaced by the paper's own listing day
            parsed = _parse_api_entry(entry, date.min, source)
            if parsed is None or parsed.paper.arxiv_id not in batch:
                continue  # unknown ids come back as entries without an id, or not at all
            paper = parsed.paper
            paper.day = listing_day(paper.published) if paper.published else date.today()
            papers.setdefault(paper.arxiv_id, paper)
    return list(papers.values())
