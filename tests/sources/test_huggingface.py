"""Hugging Face Daily Papers: paging, defensive parsing, withdrawn papers, malformed bodies."""

from __future__ import annotations

import logging
from datetime import date

import httpx
import pytest
import respx
from paperfoundry.sources.http import SourceError
from paperfoundry.sources.huggingface import API_URL, fetch_daily_papers, parse_daily_papers

from .conftest import fixture_bytes

DAY = date(2024, 2, 29)


def _json(name: str) -> httpx.Response:
    return httpx.Response(
        200, content=fixture_bytes(name), headers={"Content-Type": "application/json"}
    )


@respx.mock
def test_multi_page_day_reads_until_short_page(client):
    route = respx.get(API_URL).mock(
        side_effect=[_json("hf_day_p0.json"), _json("hf_day_p1.json"), _json("hf_day_p2.json")]
    )
    papers = fetch_daily_papers(DAY, client, page_size=2, sleep=lambda s: None)

    assert route.call_count == 3
    pages = [dict(call.request.url.params) for call in route.calls]
    assert pages == [{"date": "2024-02-29", "limit": "2", "p": str(p)} for p in range(3)]
    # page 2 repeats a page-0 paper: deduplicated, first occurrence kept
    assert [p.arxiv_id for p in papers] == ["2402.18668", "2402.17764", "2402.18510", "2402.18039"]

    based = papers[0]
    assert based.day == DAY
    assert based.authors == ["Ada Lovelace", "Alan Turing"]
    sig = based.signals["huggingface"]
    assert (sig.upvotes, sig.comments) == (19, 2)
    assert sig.github_repo == "https://github.com/HazyResearch/based"
    assert sig.github_stars == 211
    assert sig.keywords == ["linear attention", "sliding window attention", "recall"]
    assert sig.organization == "hazyresearch"
    assert sig.synthetic is False
    assert based.published is not None and based.published.tzinfo is not None

    bitnet = papers[1]
    assert "\n" not in bitnet.abstract and "  " not in bitnet.abstract

    latex = papers[2]
    assert latex.title == "Stochastic O(n) Attention with Random Features"
    assert latex.abstract == "We prove an O(n) bound; R&D teams get 95% of the quality."
    assert latex.signals["huggingface"].project_page == "https://example.org/project"


@respx.mock
def test_empty_first_page_is_an_empty_day(client):
    respx.get(API_URL).mock(return_value=httpx.Response(200, json=[]))
    assert fetch_daily_papers(DAY, client, sleep=lambda s: None) == []


@respx.mock
def test_max_pages_bounds_the_loop(client):
    pages = iter(range(100))

    def full_page(request):
        n = next(pages)
        return httpx.Response(200, json=[{"paper": {"id": f"2402.{18000 + n}", "title": "T"}}])

    route = respx.get(API_URL).mock(side_effect=full_page)
    papers = fetch_daily_papers(DAY, client, page_size=1, max_pages=3, sleep=lambda s: None)
    assert route.call_count == 3 and len(papers) == 3


@respx.mock
def test_api_ignoring_the_page_parameter_does_not_loop(client):
    route = respx.get(API_URL).mock(side_effect=lambda request: _json("hf_day_p0.json"))
    papers = fetch_daily_papers(DAY, client, page_size=2, sleep=lambda s: None)
    assert route.call_count == 2 and len(papers) == 2


def test_missing_and_null_fields_are_tolerated(caplog):
    import json

    data = json.loads(fixture_bytes("hf_missing_fields.json"))
    with caplog.at_level(logging.WARNING, logger="paperfoundry.sources.huggingface"):
        papers = parse_daily_papers(data, DAY)

    assert [p.arxiv_id for p in papers] == ["2402.18100", "2402.18101"]
    minimal, item_level = papers
    assert minimal.title == "A Minimal Item" and minimal.abstract == ""
    assert minimal.authors == [] and minimal.published is None
    sig = minimal.signals["huggingface"]
    assert sig.upvotes is None and sig.comments is None and sig.keywords == []

    assert item_level.title == "Title Only At Item Level"
    assert item_level.abstract == "Summary at item level."
    assert item_level.version == 2
    assert item_level.authors == ["Grace Hopper"]
    sig = item_level.signals["huggingface"]
    assert (sig.upvotes, sig.github_stars, sig.comments) == (12, None, 3)

    assert "not-an-id" in caplog.text  # the skipped item is named in the warning


def test_withdrawn_papers_are_dropped():
    import json

    papers = parse_daily_papers(json.loads(fixture_bytes("hf_withdrawn.json")), DAY)
    assert [p.arxiv_id for p in papers] == ["2402.18202"]


@respx.mock
def test_malformed_json_is_a_source_error_naming_the_page(client):
    respx.get(API_URL).mock(side_effect=[_json("hf_day_p0.json"), _json("hf_malformed.json")])
    with pytest.raises(SourceError, match=r"^huggingface: malformed JSON at page 1: "):
        fetch_daily_papers(DAY, client, page_size=2, sleep=lambda s: None)


@respx.mock
def test_wrong_top_level_type_is_a_source_error(client):
    respx.get(API_URL).mock(return_value=_json("hf_error_object.json"))
    with pytest.raises(SourceError, match="expected a JSON list, got dict"):
        fetch_daily_papers(DAY, client, sleep=lambda s: None)


@respx.mock
def test_http_failure_propagates_as_source_error(client):
    respx.get(API_URL).mock(return_value=httpx.Response(503))
    with pytest.raises(SourceError, match=r"^huggingface: HTTP 503 after 2 attempts"):
        fetch_daily_papers(DAY, client, attempts=2, sleep=lambda s: None)


@respx.mock
def test_each_paper_carries_the_time_it_was_observed(client):
    from datetime import UTC, datetime

    seen = datetime(2024, 3, 5, 6, 30, tzinfo=UTC)
    route = respx.get(API_URL).mock(
        return_value=httpx.Response(200, content=fixture_bytes("hf_day_p0.json"))
    )
    papers = fetch_daily_papers(DAY, client, now=lambda: seen, sleep=lambda s: None)
    assert route.calls.last.request.url.params["date"] == DAY.isoformat()
    assert [p.signals["huggingface"].observed_at for p in papers] == [seen, seen]
    assert parse_daily_papers([], DAY) == []  # (parsing alone stamps nothing: see the sample)
