"""fetch_day: both sources merged; one failing never stops the other; unreachable hosts."""

from __future__ import annotations

import socket
from datetime import date

import httpx
import pytest
import respx
from paperfoundry.models import SourceStatus
from paperfoundry.sources import (
    SOURCE_NAMES,
    all_failed,
    all_unreachable,
    fetch_day,
)
from paperfoundry.sources.arxiv import FEED_URL
from paperfoundry.sources.huggingface import API_URL

from .conftest import fixture_bytes

DAY = date(2024, 2, 29)
CATS = ["cs.LG", "cs.CL"]


def _mock_arxiv():
    for cat in CATS:
        body = fixture_bytes(f"arxiv_{cat.replace('.', '_')}.rss")
        respx.get(FEED_URL.format(category=cat)).mock(
            return_value=httpx.Response(200, content=body)
        )


def _mock_hf_day():
    respx.get(API_URL).mock(
        return_value=httpx.Response(200, content=fixture_bytes("hf_day_p0.json"))
    )


@respx.mock
def test_paper_on_both_sources_is_merged(client, clock):
    _mock_hf_day()
    _mock_arxiv()
    papers, statuses = fetch_day(
        DAY, categories=CATS, client=client, sleep=clock.sleep, clock=clock
    )
    assert statuses == [
        SourceStatus(name="huggingface", ok=True, papers=2),
        SourceStatus(name="arxiv", ok=True, papers=3),
    ]
    ids = [p.arxiv_id for p in papers]
    assert ids == ["2402.18668", "2402.17764", "2402.18510", "2402.18002"]  # HF order first

    based = papers[0]
    assert set(based.signals) == {"huggingface", "arxiv"}
    assert based.signals["huggingface"].upvotes == 19  # HF signals
    assert based.github_repo == "https://github.com/HazyResearch/based"
    assert based.categories == ["cs.CL", "cs.LG"]  # arXiv categories
    assert len(based.authors) == 9  # arXiv's full author list wins over HF's
    assert not all_failed(statuses)


@respx.mock
def test_one_failing_source_does_not_stop_the_other(client, clock):
    respx.get(API_URL).mock(return_value=httpx.Response(500))
    _mock_arxiv()
    papers, statuses = fetch_day(
        DAY, categories=CATS, client=client, sleep=clock.sleep, clock=clock
    )
    hf, ax = statuses
    assert (hf.name, hf.ok, hf.papers) == ("huggingface", False, 0)
    assert hf.error == "huggingface: HTTP 500 after 4 attempts"
    assert (ax.name, ax.ok, ax.papers) == ("arxiv", True, 3)
    assert [p.arxiv_id for p in papers] == ["2402.18510", "2402.18002", "2402.18668"]
    assert not all_failed(statuses) and not all_unreachable(statuses)


@respx.mock
def test_malformed_arxiv_feed_with_working_hf(client, clock):
    _mock_hf_day()
    respx.get(FEED_URL.format(category="cs.LG")).mock(
        return_value=httpx.Response(200, content=fixture_bytes("arxiv_malformed.rss"))
    )
    papers, statuses = fetch_day(
        DAY, categories=["cs.LG"], client=client, sleep=clock.sleep, clock=clock
    )
    assert [s.ok for s in statuses] == [True, False]
    assert statuses[1].error.startswith("arxiv:cs.LG: malformed XML in the cs.LG feed")
    assert len(papers) == 2


@respx.mock
def test_unexpected_exception_is_reported_as_a_bug(client, clock, monkeypatch):
    def boom(*args, **kwargs):
        raise KeyError("paper")

    monkeypatch.setattr("paperfoundry.sources.fetch_daily_papers", boom)
    _mock_arxiv()
    papers, statuses = fetch_day(
        DAY, categories=CATS, client=client, sleep=clock.sleep, clock=clock
    )
    assert statuses[0].ok is False
    assert statuses[0].error == "huggingface: internal error (bug): KeyError: 'paper'"
    assert statuses[1].ok is True and len(papers) == 3


@respx.mock
def test_every_source_unreachable_is_distinguishable(client, clock):
    def dns_failure(request):
        try:
            raise socket.gaierror(-3, "Temporary failure in name resolution")
        except socket.gaierror as exc:
            raise httpx.ConnectError("[Errno -3] Temporary failure in name resolution") from exc

    respx.get(API_URL).mock(side_effect=dns_failure)
    respx.get(FEED_URL.format(category="cs.LG")).mock(side_effect=dns_failure)
    papers, statuses = fetch_day(
        DAY, categories=["cs.LG"], client=client, sleep=clock.sleep, clock=clock
    )
    assert papers == []
    assert all(s.error.startswith("unreachable: ") for s in statuses)
    assert all_failed(statuses) and all_unreachable(statuses)
    assert clock.sleeps == []  # DNS failures are not retried: the fallback is quick


@respx.mock
def test_http_errors_are_failures_but_not_unreachable(client, clock):
    respx.get(API_URL).mock(return_value=httpx.Response(403))
    respx.get(FEED_URL.format(category="cs.LG")).mock(return_value=httpx.Response(404))
    _, statuses = fetch_day(
        DAY, categories=["cs.LG"], client=client, sleep=clock.sleep, clock=clock
    )
    assert all_failed(statuses) and not all_unreachable(statuses)


def test_unknown_source_and_selection(client):
    papers, statuses = fetch_day(DAY, categories=[], client=client, sources=["nope"])
    assert papers == []
    assert statuses[0].ok is False and "unknown source" in statuses[0].error


def test_helpers_on_empty_status_lists():
    assert SOURCE_NAMES == ("huggingface", "arxiv")
    assert not all_failed([]) and not all_unreachable([])


@respx.mock
def test_own_client_is_created_and_closed(monkeypatch):
    from paperfoundry import sources

    created: list[httpx.Client] = []

    original = sources.make_client

    def spy(timeout):
        client = original(timeout)
        created.append(client)
        return client

    monkeypatch.setattr(sources, "make_client", spy)
    respx.get(API_URL).mock(return_value=httpx.Response(200, json=[]))
    _, statuses = fetch_day(DAY, categories=[], sources=["huggingface"])
    assert statuses[0].ok and created and created[0].is_closed


@pytest.mark.parametrize("name", ["huggingface", "arxiv"])
def test_single_source_selection(client, clock, name):
    with respx.mock:
        _mock_hf_day()
        _mock_arxiv()
        _, statuses = fetch_day(
            DAY, categories=CATS, client=client, sources=[name], sleep=clock.sleep, clock=clock
        )
    assert [s.name for s in statuses] == [name]
