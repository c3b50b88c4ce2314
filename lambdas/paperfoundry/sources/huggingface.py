"""Hugging Face Daily Papers: `GET https://huggingface.co/api/daily_papers?date=YYYY-MM-DD`.

The response is a JSON list of items shaped like
`{paper: {id, title, summary, authors: [{name}], publishedAt, upvotes, githubRepo, githubStars,
projectPage, ai_keywords, withdrawnAt, ...}, title, summary, publishedAt, numComments,
submittedBy, organization: {name, fullname}}`. `date` is the day the paper was added to Daily
Papers, not its arXiv date. Pages are `p=0, 1, ...` with `limit` items each; we read until a
short (or empty) page, or a page that brings nothing new (an API that ignores `p`).

Parsing is defensive: every field is optional, values of the wrong type become None, an item
without a valid arXiv id is skipped with a warning, withdrawn papers are dropped. A body that
is not JSON, or JSON that is not a list, is a `SourceError`.

`parse_daily_papers` is also what reads the bundled sample day (source "sample").

Upvotes and comments keep growing for a week or two after a paper's day, so each paper's
signals carry `observed_at`, the UTC time its page was fetched. Any earlier day can be fetched
again (`?date=` takes any day) to refresh the counts: see `sources.refresh_days`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Annotated, Any

import httpx
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from ..models import Paper, SourceSignals
from .http import SourceError, get_with_retry
from .normalize import (
    clean_abstract,
    clean_authors,
    clean_title,
    collapse_ws,
    is_withdrawn,
    parse_arxiv_ref,
)

log = logging.getLogger(__name__)

SOURCE = "huggingface"
API_URL = "https://huggingface.co/api/daily_papers"
MAX_LIMIT = 100  # the API accepts limit=1..100; pages are p=0, 1, ...


# --- lenient field types: a wrong type becomes None instead of failing the whole item -------


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _str_or_none(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value
    return None


def _datetime_or_none(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value.strip():
        try:
            return datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def _list_or_empty(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict_or_none(value: Any) -> Any:
    return value if isinstance(value, dict) else None


LenientInt = Annotated[int | None, BeforeValidator(_int_or_none)]
LenientStr = Annotated[str | None, BeforeValidator(_str_or_none)]
LenientDatetime = Annotated[datetime | None, BeforeValidator(_datetime_or_none)]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class HFAuthor(_Lenient):
    name: LenientStr = None


class HFOrganization(_Lenient):
    name: LenientStr = None
    fullname: LenientStr = None


def _authors(value: Any) -> list[Any]:
    return [a for a in _list_or_empty(value) if isinstance(a, dict)]


def _keywords(value: Any) -> list[str]:
    return [k.strip() for k in _list_or_empty(value) if isinstance(k, str) and k.strip()]


class HFPaper(_Lenient):
    id: LenientStr = None
    title: LenientStr = None
    summary: LenientStr = None
    authors: Annotated[list[HFAuthor], BeforeValidator(_authors)] = Field(default_factory=list)
    publishedAt: LenientDatetime = None  # noqa: N815 - the API's spelling
    submittedOnDailyAt: LenientDatetime = None  # noqa: N815
    upvotes: LenientInt = None
    githubRepo: LenientStr = None  # noqa: N815
    githubStars: LenientInt = None  # noqa: N815
    projectPage: LenientStr = None  # noqa: N815
    ai_summary: LenientStr = None
    ai_keywords: Annotated[list[str], BeforeValidator(_keywords)] = Field(default_factory=list)
    withdrawnAt: LenientDatetime = None  # noqa: N815
    organization: Annotated[HFOrganization | None, BeforeValidator(_dict_or_none)] = None


class HFDailyItem(_Lenient):
    paper: Annotated[HFPaper | None, BeforeValidator(_dict_or_none)] = None
    title: LenientStr = None
    summary: LenientStr = None
    publishedAt: LenientDatetime = None  # noqa: N815
    numComments: LenientInt = None  # noqa: N815
    organization: Annotated[HFOrganization | None, BeforeValidator(_dict_or_none)] = None
    # Only in the bundled sample day: names of fields whose values are made up.
    synthetic: Annotated[list[str], BeforeValidator(_keywords)] = Field(
        default_factory=list, alias="_synthetic"
    )


# --- item -> Paper ---------------------------------------------------------------------------


def _item_to_paper(
    raw: Any, day: date, source: str, observed_at: datetime | None = None
) -> Paper | None:
    if not isinstance(raw, dict):
        log.warning("%s: skipping a non-object item (%s)", source, type(raw).__name__)
        return None
    try:
        item = HFDailyItem.model_validate(raw)
    except ValidationError as exc:  # lenient types make this rare
        log.warning("%s: skipping an unreadable item: %s", source, collapse_ws(str(exc))[:200])
        return None
    info = item.paper or HFPaper()
    try:
        arxiv_id, version = parse_arxiv_ref(info.id)
    except ValueError:
        log.warning(
            "%s: skipping item without a valid arXiv id (id=%r, title=%r)",
            source,
            info.id,
            collapse_ws(info.title or item.title)[:80],
        )
        return None
    title = clean_title(info.title or item.title)
    abstract = clean_abstract(info.summary or item.summary)
    if info.withdrawnAt is not None or is_withdrawn(abstract):
        log.info("%s: dropping withdrawn paper %s", source, arxiv_id)
        return None
    if not title:
        log.warning("%s: skipping %s: no title", source, arxiv_id)
        return None
    org = item.organization or info.organization
    signals = SourceSignals(
        source=source,
        upvotes=info.upvotes,
        comments=item.numComments,
        github_repo=info.githubRepo,
        github_stars=info.githubStars,
        project_page=info.projectPage,
        keywords=info.ai_keywords,
        organization=(org.name or org.fullname) if org else None,
        synthetic=bool(item.synthetic),
        observed_at=observed_at,
    )
    return Paper(
        arxiv_id=arxiv_id,
        version=version,
        title=title,
        abstract=abstract,
        authors=clean_authors(a.name for a in info.authors),
        published=info.publishedAt or item.publishedAt,
        day=day,
        signals={source: signals},
    )


def parse_daily_papers(
    data: Any,
    day: date,
    *,
    source: str = SOURCE,
    page: int | None = None,
    observed_at: datetime | None = None,
) -> list[Paper]:
    """A decoded daily_papers response -> papers (deduplicated, withdrawn dropped).

    `observed_at` (when the response was fetched) is stamped on every paper's signals."""
    where = f" at page {page}" if page is not None else ""
    if not isinstance(data, list):
        raise SourceError(
            source, f"unexpected response{where}: expected a JSON list, got {type(data).__name__}"
        )
    papers: dict[str, Paper] = {}
    for raw in data:
        paper = _item_to_paper(raw, day, source, observed_at)
        if paper is not None and paper.arxiv_id not in papers:
            papers[paper.arxiv_id] = paper
    return list(papers.values())


def _decode(response: httpx.Response, page: int) -> Any:
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SourceError(SOURCE, f"malformed JSON at page {page}: {exc}") from exc


def fetch_daily_papers(
    day: date,
    client: httpx.Client,
    *,
    page_size: int = 50,
    max_pages: int = 20,
    now: Callable[[], datetime] | None = None,
    **retry: Any,
) -> list[Paper]:
    """All of `day`'s Daily Papers (any day: today's, or an earlier one again to refresh its
    upvotes), each stamped with `observed_at` = `now()` (UTC) when its page arrived.

    Extra keyword arguments go to `get_with_retry` (`sleep`, `attempts`, `max_wait`, `clock`,
    `deadline`). Raises `SourceError`."""
    now = now or (lambda: datetime.now(UTC))
    page_size = max(1, min(page_size, MAX_LIMIT))
    papers: dict[str, Paper] = {}
    for page in range(max_pages):
        params = {"date": day.isoformat(), "limit": page_size, "p": page}
        response = get_with_retry(client, API_URL, params, source=SOURCE, **retry)
        observed_at = now()
        data = _decode(response, page)
        batch = parse_daily_papers(data, day, page=page, observed_at=observed_at)
        new = [p for p in batch if p.arxiv_id not in papers]
        for paper in new:
            papers[paper.arxiv_id] = paper
        if len(data) < page_size:
            break
        if batch and not new:
            log.warning("%s: page %d repeated earlier items; stopping", SOURCE, page)
            break
    else:
        log.warning("%s: stopped after max_pages=%d pages for %s", SOURCE, max_pages, day)
    return list(papers.values())
