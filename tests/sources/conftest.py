"""Shared helpers for the source tests: fixtures on disk, a fake clock, a recording sleep,
a stand-in for arXiv's export API serving recorded responses page by page."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from paperfoundry.sources import arxiv

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "sources"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


class FakeClock:
    """A monotonic clock that only moves when someone sleeps (or `advance` is called)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client():
    with httpx.Client(timeout=httpx.Timeout(20.0, connect=5.0)) as http:
        yield http


@pytest.fixture(autouse=True)
def _fresh_rate_limiter():
    arxiv.RATE_LIMITER.reset()
    yield
    arxiv.RATE_LIMITER.reset()


_ENTRY = re.compile(r"  <entry>.*?</entry>\n", re.DOTALL)


class ArxivApi:
    """Serves recorded export-API responses as arXiv does: by `search_query`, paged by
    `start`/`max_results` (the recorded entries sliced, `opensearch:startIndex` and
    `itemsPerPage` set to match; everything else byte for byte as recorded).

    `responses` maps an exact `search_query` to a fixture file; any other query is a test
    failure. `log` records (clock time, search_query, start) of every request.
    """

    def __init__(self, responses: dict[str, str], clock: FakeClock | None = None) -> None:
        self.responses = {q: fixture_bytes(name).decode() for q, name in responses.items()}
        self.clock = clock
        self.log: list[tuple[float | None, str, int]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        query = params["search_query"]
        start, size = int(params.get("start", "0")), int(params.get("max_results", "10"))
        assert (params.get("sortBy"), params.get("sortOrder")) == ("submittedDate", "ascending")
        self.log.append((self.clock() if self.clock else None, query, start))
        if query not in self.responses:
            raise AssertionError(f"unexpected arXiv API query {query!r}")
        text = self.responses[query]
        entries = _ENTRY.findall(text)
        first = _ENTRY.search(text)
        head = text[: first.start()] if first else text[: text.rindex("</feed>")]
        head = re.sub(r"(<opensearch:startIndex[^>]*>)\d+", rf"\g<1>{start}", head)
        head = re.sub(r"(<opensearch:itemsPerPage[^>]*>)\d+", rf"\g<1>{size}", head)
        body = head + "".join(entries[start : start + size]) + "</feed>\n"
        return httpx.Response(
            200, content=body.encode(), headers={"Content-Type": "application/atom+xml"}
        )

    @property
    def queries(self) -> list[str]:
        return [query for _, query, _ in self.log]
