"""arXiv RSS listings: new/cross/replace, empty feeds, malformed XML, the 3-second spacing."""

from __future__ import annotations

from datetime import date

import httpx
import pytest
import respx
from paperfoundry.sources.arxiv import FEED_URL, RateLimiter, fetch_listings, parse_feed
from paperfoundry.sources.http import SourceError

from .conftest import FakeClock, fixture_bytes

DAY = date(2024, 2, 29)


def _rss(name: str) -> httpx.Response:
    return httpx.Response(
        200, content=fixture_bytes(name), headers={"Content-Type": "application/rss+xml"}
    )


def _mock_feeds(**feeds: str) -> dict[str, respx.Route]:
    return {
        cat: respx.get(FEED_URL.format(category=cat.replace("_", "."))).mock(
            side_effect=lambda request, name=name: _rss(name)
        )
        for cat, name in feeds.items()
    }


@respx.mock
def test_new_cross_and_replace_handling(client, clock):
    _mock_feeds(cs_LG="arxiv_cs_LG.rss", cs_CL="arxiv_cs_CL.rss")
    papers = fetch_listings(["cs.LG", "cs.CL"], client, day=DAY, sleep=clock.sleep, clock=clock)
    by_id = {p.arxiv_id: p for p in papers}

    # new in cs.LG: 2402.18510, 2402.18002; new in cs.CL: 2402.18668 (its cs.LG entry is a
    # cross-listing). Dropped: replace (2401.04088), replace-cross (2312.00752), a cross-listing
    # whose home category was not fetched (2402.18300), a withdrawn announcement (2402.18700).
    assert list(by_id) == ["2402.18510", "2402.18002", "2402.18668"]

    based = by_id["2402.18668"]
    assert based.version == 1
    assert based.title == (
        "Simple linear attention language models balance the recall-throughput tradeoff"
    )
    assert based.abstract.startswith("Recent work has shown that attention-based language")
    assert "KV-cache's aggressive" in based.abstract
    assert based.authors[0] == "Simran Arora" and based.authors[-1] == "Christopher Ré"
    assert len(based.authors) == 9
    assert based.categories == ["cs.CL", "cs.LG"]
    assert based.day == DAY
    sig = based.signals["arxiv"]
    assert sig.announce_type == "new" and sig.categories == ["cs.CL", "cs.LG"]

    latex = by_id["2402.18510"]
    assert latex.title == "Stochastic O(n) Attention with Random Features"
    assert latex.abstract == (
        "We prove an O(n) bound for attention with random features; R&D teams get 95% of the "
        "quality at 10% of the cost."
    )
    assert latex.authors == ["Jane Doe", "John Smith"]
    assert latex.categories == ["cs.LG", "stat.ML", "cs.CL"]


_ONE_NEW_ONE_CROSS = """<?xml version='1.0' encoding='UTF-8'?>
<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/"
 version="2.0"><channel><title>{cat} updates on arXiv.org</title>
<pubDate>Thu, 29 Feb 2024 00:00:00 -0500</pubDate>
<item><title>Paper</title><link>https://arxiv.org/abs/2402.19999</link>
<description>arXiv:2402.19999v1 Announce Type: {kind}
Abstract: Text.</description><guid isPermaLink="false">oai:arXiv.org:2402.19999v1</guid>
{cats}<arxiv:announce_type>{kind}</arxiv:announce_type>
<dc:creator>A. Author</dc:creator></item></channel></rss>"""


@respx.mock
def test_cross_listing_categories_are_recorded_on_the_new_paper(client, clock):
    respx.get(FEED_URL.format(category="cs.LG")).mock(
        return_value=httpx.Response(
            200,
            content=_ONE_NEW_ONE_CROSS.format(
                cat="cs.LG", kind="new", cats="<category>cs.LG</category>"
            ),
        )
    )
    respx.get(FEED_URL.format(category="cs.CV")).mock(
        return_value=httpx.Response(
            200, content=_ONE_NEW_ONE_CROSS.format(cat="cs.CV", kind="cross", cats="")
        )
    )
    [paper] = fetch_listings(["cs.LG", "cs.CV"], client, sleep=clock.sleep, clock=clock)
    assert paper.categories == ["cs.LG", "cs.CV"]
    assert paper.signals["arxiv"].categories == ["cs.LG", "cs.CV"]


@respx.mock
def test_include_cross_keeps_cross_listings_from_unfetched_home_categories(client, clock):
    _mock_feeds(cs_LG="arxiv_cs_LG.rss")
    papers = fetch_listings(["cs.LG"], client, include_cross=True, sleep=clock.sleep, clock=clock)
    ids = [p.arxiv_id for p in papers]
    assert ids == ["2402.18510", "2402.18002", "2402.18668", "2402.18300"]
    assert papers[-1].signals["arxiv"].announce_type == "cross"


@respx.mock
@pytest.mark.parametrize("name", ["arxiv_weekend_empty.rss", "arxiv_no_submissions.rss"])
def test_empty_feeds_are_empty_lists_not_errors(client, clock, name):
    respx.get(FEED_URL.format(category="cs.LG")).mock(return_value=_rss(name))
    assert fetch_listings(["cs.LG"], client, sleep=clock.sleep, clock=clock) == []


@respx.mock
def test_weekend_feed_for_the_requested_day_is_empty(client, clock):
    respx.get(FEED_URL.format(category="cs.LG")).mock(return_value=_rss("arxiv_weekend_empty.rss"))
    notes: list[str] = []
    assert (
        fetch_listings(
            ["cs.LG"], client, day=date(2024, 3, 3), notes=notes, sleep=clock.sleep, clock=clock
        )
        == []
    )
    assert notes == []


@respx.mock
def test_feed_for_another_day_is_skipped_with_a_note(client, clock):
    _mock_feeds(cs_LG="arxiv_cs_LG.rss")
    notes: list[str] = []
    papers = fetch_listings(
        ["cs.LG"], client, day=date(2024, 3, 1), notes=notes, sleep=clock.sleep, clock=clock
    )
    assert papers == []
    assert notes == [
        "arxiv: cs.LG feed is for 2024-02-29, not 2024-03-01; skipped (the RSS feed only "
        "serves the latest announcement)"
    ]


@respx.mock
def test_malformed_xml_is_a_source_error(client, clock):
    respx.get(FEED_URL.format(category="cs.LG")).mock(return_value=_rss("arxiv_malformed.rss"))
    with pytest.raises(SourceError, match=r"^arxiv: malformed XML in the cs.LG feed: "):
        fetch_listings(["cs.LG"], client, sleep=clock.sleep, clock=clock)


def test_entity_expansion_is_refused():
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><rss version="2.0"><channel>'
        b"<title>&b;</title></channel></rss>"
    )
    with pytest.raises(SourceError, match="malformed XML"):
        parse_feed(bomb, "cs.LG")


def test_html_or_atom_instead_of_rss_is_a_source_error():
    with pytest.raises(SourceError, match=r"unexpected cs.LG feed format: root <html>"):
        parse_feed(b"<html><body>Service unavailable</body></html>", "cs.LG")


def test_invalid_category_name(client, clock):
    with pytest.raises(SourceError, match="invalid category name 'cs.LG/../x'"):
        fetch_listings(["cs.LG/../x"], client, sleep=clock.sleep, clock=clock)


@respx.mock
def test_requests_are_spaced_at_least_three_seconds_apart(client, clock):
    request_times: list[float] = []

    def record(request, name):
        request_times.append(clock())
        return _rss(name)

    for cat, name in [
        ("cs.LG", "arxiv_cs_LG.rss"),
        ("cs.CL", "arxiv_cs_CL.rss"),
        ("cs.AI", "arxiv_weekend_empty.rss"),
    ]:
        respx.get(FEED_URL.format(category=cat)).mock(
            side_effect=lambda request, name=name: record(request, name)
        )
    fetch_listings(["cs.LG", "cs.CL", "cs.AI", "cs.LG"], client, sleep=clock.sleep, clock=clock)

    assert len(request_times) == 3  # duplicate category fetched once
    gaps = [b - a for a, b in zip(request_times, request_times[1:], strict=False)]
    assert all(gap >= 3.0 for gap in gaps)
    assert clock.sleeps == [3.0, 3.0]


@respx.mock
def test_spacing_also_applies_to_retries_and_across_calls(client, clock):
    request_times: list[float] = []
    responses = iter([httpx.Response(503), _rss("arxiv_cs_LG.rss")])

    def flaky(request):
        request_times.append(clock())
        return next(responses)

    respx.get(FEED_URL.format(category="cs.LG")).mock(side_effect=flaky)
    respx.get(FEED_URL.format(category="cs.CL")).mock(
        side_effect=lambda request: (request_times.append(clock()), _rss("arxiv_cs_CL.rss"))[1]
    )
    # the retry backoff sleep uses the same fake clock; spacing still holds
    fetch_listings(["cs.LG"], client, sleep=clock.sleep, clock=clock, max_wait=0.5)
    fetch_listings(["cs.CL"], client, sleep=clock.sleep, clock=clock)
    gaps = [b - a for a, b in zip(request_times, request_times[1:], strict=False)]
    assert len(request_times) == 3 and all(gap >= 3.0 for gap in gaps)


def test_rate_limiter_sleeps_only_the_remainder():
    clock = FakeClock()
    limiter = RateLimiter()
    assert limiter.wait(3.0, clock, clock.sleep) == 0.0
    clock.advance(1.0)
    assert limiter.wait(3.0, clock, clock.sleep) == pytest.approx(2.0)
    clock.advance(5.0)
    assert limiter.wait(3.0, clock, clock.sleep) == 0.0
    other = FakeClock(start=0.0)  # a different clock: old timestamps do not apply
    assert limiter.wait(3.0, other, other.sleep) == 0.0
