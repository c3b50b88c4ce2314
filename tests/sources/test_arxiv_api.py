"""arXiv by date: listing day -> submission window, the export API's Atom, paging, spacing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
import respx
from paperfoundry.sources.arxiv import (
    API_URL,
    announcement_window,
    api_query,
    eastern_utc_offset,
    fetch_by_date,
    parse_api_feed,
)
from paperfoundry.sources.http import SourceError

from .conftest import ArxivApi, fixture_bytes

THU = date(2024, 2, 29)
FRI = date(2024, 3, 1)
Q_LG_THU = "cat:cs.LG AND submittedDate:[202402271900 TO 202402281901]"
Q_CL_THU = "cat:cs.CL AND submittedDate:[202402271900 TO 202402281901]"


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- the mapping -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "start", "end"),
    [
        # arXiv's table (ET): Thu 14:00 - Fri 14:00 -> Monday's listing, Fri - Mon -> Tuesday's,
        # Mon - Tue -> Wednesday's, ... February 2024 is EST (UTC-5): 14:00 ET = 19:00 UTC.
        (date(2024, 2, 26), _utc(2024, 2, 22, 19), _utc(2024, 2, 23, 19)),  # Mon
        (date(2024, 2, 27), _utc(2024, 2, 23, 19), _utc(2024, 2, 26, 19)),  # Tue
        (date(2024, 2, 28), _utc(2024, 2, 26, 19), _utc(2024, 2, 27, 19)),  # Wed
        (THU, _utc(2024, 2, 27, 19), _utc(2024, 2, 28, 19)),
        (FRI, _utc(2024, 2, 28, 19), _utc(2024, 2, 29, 19)),
        # DST began Sun 2024-03-10: the Friday cut-off is 19:00 UTC, Monday's 18:00 UTC
        (date(2024, 3, 12), _utc(2024, 3, 8, 19), _utc(2024, 3, 11, 18)),
        (date(2024, 7, 3), _utc(2024, 7, 1, 18), _utc(2024, 7, 2, 18)),
        # DST ended Sun 2024-11-03: Friday 18:00 UTC (EDT) -> Monday 19:00 UTC (EST)
        (date(2024, 11, 5), _utc(2024, 11, 1, 18), _utc(2024, 11, 4, 19)),
    ],
)
def test_listing_day_maps_to_the_submission_window_between_two_cutoffs(day, start, end):
    assert announcement_window(day) == (start, end)


@pytest.mark.parametrize("day", [date(2024, 3, 2), date(2024, 3, 3)])
def test_weekends_have_no_listing(day):
    assert announcement_window(day) is None


def test_windows_tile_the_timeline_without_gaps_or_overlaps():
    day, previous_end = date(2023, 12, 1), None
    while day < date(2025, 2, 1):
        window = announcement_window(day)
        if window is not None:
            start, end = window
            assert start < end
            if previous_end is not None:
                assert start == previous_end
            previous_end = end
        day += timedelta(days=1)


def test_eastern_offset_matches_the_time_zone_database():
    zoneinfo = pytest.importorskip("zoneinfo")
    try:
        eastern = zoneinfo.ZoneInfo("America/New_York")
    except zoneinfo.ZoneInfoNotFoundError:
        pytest.skip("no time zone database on this machine")
    day = date(2007, 1, 1)
    while day < date(2036, 1, 1):
        afternoon = datetime(day.year, day.month, day.day, 14, tzinfo=eastern)
        assert afternoon.utcoffset() == eastern_utc_offset(day), day
        day += timedelta(days=1)


def test_query_asks_for_the_window_plus_the_cutoff_minute():
    assert api_query("cs.LG", announcement_window(THU)) == Q_LG_THU


# --- fetching a day by date --------------------------------------------------------------------


@respx.mock
def test_a_day_by_date_keeps_the_categorys_new_papers(client, clock):
    api = ArxivApi({Q_LG_THU: "arxiv_api_cs_LG_2024-02-29.atom"}, clock)
    respx.get(API_URL).mock(side_effect=api)
    papers = fetch_by_date(THU, "cs.LG", client, sleep=clock.sleep, clock=clock)
    by_id = {p.arxiv_id: p for p in papers}
    # kept: primary cs.LG submitted in [Tue 19:00, Wed 19:00) UTC. Dropped: 2402.18300 (primary
    # stat.ME) and 2402.18668 (primary cs.CL: the cs.CL unit's), 2402.18720 (19:00:30, after
    # the cut-off: Friday's listing).
    assert list(by_id) == ["2402.18002", "2402.18510", "2402.18555"]
    assert api.queries == [Q_LG_THU]

    tori = by_id["2402.18002"]
    assert tori.title == "Gradient Descent on Tiny Tori"
    assert tori.categories == ["cs.LG"]  # the ACM class I.2.6 is not an arXiv category
    assert tori.day == THU
    assert tori.published == _utc(2024, 2, 27, 20, 11, 5)
    assert tori.signals["arxiv"].announce_type == "new"

    latex = by_id["2402.18510"]
    assert latex.title == "Stochastic O(n) Attention with Random Features"
    assert latex.abstract == (
        "We prove an O(n) bound for attention with random features; R&D teams get 95% of the "
        "quality at 10% of the cost."
    )
    assert latex.authors == ["Jane Doe", "John Smith"]
    assert latex.categories == ["cs.LG", "stat.ML", "cs.CL"]
    assert by_id["2402.18555"].version == 2  # the API reports the latest version


@respx.mock
def test_include_cross_keeps_cross_listings_as_cross(client, clock):
    respx.get(API_URL).mock(side_effect=ArxivApi({Q_LG_THU: "arxiv_api_cs_LG_2024-02-29.atom"}))
    papers = fetch_by_date(THU, "cs.LG", client, include_cross=True, sleep=clock.sleep, clock=clock)
    kinds = {p.arxiv_id: p.signals["arxiv"].announce_type for p in papers}
    assert kinds == {
        "2402.18002": "new",
        "2402.18300": "cross",
        "2402.18510": "new",
        "2402.18555": "new",
        "2402.18668": "cross",
    }


@respx.mock
def test_withdrawn_papers_are_dropped_and_authors_kept_whole(client, clock):
    respx.get(API_URL).mock(side_effect=ArxivApi({Q_CL_THU: "arxiv_api_cs_CL_2024-02-29.atom"}))
    [based] = fetch_by_date(THU, "cs.CL", client, sleep=clock.sleep, clock=clock)
    assert based.arxiv_id == "2402.18668"  # 2402.18700 is withdrawn, 2402.18510 a cross-listing
    assert based.title == (
        "Simple linear attention language models balance the recall-throughput tradeoff"
    )
    assert len(based.authors) == 9 and based.authors[-1] == "Christopher Ré"
    assert based.categories == ["cs.CL", "cs.LG"]


@respx.mock
def test_pages_are_read_to_the_total_three_seconds_apart(client, clock):
    api = ArxivApi({Q_LG_THU: "arxiv_api_cs_LG_2024-02-29.atom"}, clock)
    respx.get(API_URL).mock(side_effect=api)
    papers = fetch_by_date(THU, "cs.LG", client, page_size=2, sleep=clock.sleep, clock=clock)
    assert [p.arxiv_id for p in papers] == ["2402.18002", "2402.18510", "2402.18555"]
    assert [start for _, _, start in api.log] == [0, 2, 4]  # 6 results, 2 a page
    times = [t for t, _, _ in api.log]
    assert [b - a for a, b in zip(times, times[1:], strict=False)] == [3.0, 3.0]
    assert clock.sleeps == [3.0, 3.0]


@respx.mock
def test_an_empty_window_is_one_request_and_no_papers(client, clock):
    # 2024-12-26 (Thu): a holiday week; the recorded response has no entries
    query = "cat:cs.LG AND submittedDate:[202412241900 TO 202412251901]"
    api = ArxivApi({query: "arxiv_api_empty.atom"})
    respx.get(API_URL).mock(side_effect=api)
    assert fetch_by_date(date(2024, 12, 26), "cs.LG", client, sleep=clock.sleep, clock=clock) == []
    assert api.queries == [query]


@respx.mock
def test_an_empty_page_before_the_total_is_asked_again_then_an_error(client, clock):
    api = ArxivApi({Q_LG_THU: "arxiv_api_cs_LG_2024-02-29.atom"}, clock)
    served = iter([0, 2, 2, 2])  # the second page always comes back empty

    def flaky(request):
        response = api(request)
        if next(served) == 2:
            text = response.content.decode()
            text = text[: text.index("  <entry>")] + "</feed>\n"
            return httpx.Response(200, content=text.encode())
        return response

    respx.get(API_URL).mock(side_effect=flaky)
    with pytest.raises(SourceError) as err:
        fetch_by_date(THU, "cs.LG", client, page_size=2, sleep=clock.sleep, clock=clock)
    assert str(err.value) == (
        "arxiv:cs.LG: the arXiv API returned an empty page at start=2 of 6 results 3 times; "
        "retry later"
    )
    assert [start for _, _, start in api.log] == [0, 2, 2, 2]


@respx.mock
def test_an_empty_page_then_a_full_one_recovers(client, clock):
    api = ArxivApi({Q_LG_THU: "arxiv_api_cs_LG_2024-02-29.atom"}, clock)
    calls = {"n": 0}

    def once_empty(request):
        calls["n"] += 1
        response = api(request)
        if calls["n"] == 1:
            text = response.content.decode()
            return httpx.Response(200, content=(text[: text.index("  <entry>")] + "</feed>\n"))
        return response

    respx.get(API_URL).mock(side_effect=once_empty)
    papers = fetch_by_date(THU, "cs.LG", client, sleep=clock.sleep, clock=clock)
    assert len(papers) == 3 and calls["n"] == 2


# --- malformed and error responses ---------------------------------------------------------


@respx.mock
def test_malformed_atom_is_a_clear_error(client, clock):
    respx.get(API_URL).mock(
        return_value=httpx.Response(200, content=fixture_bytes("arxiv_api_malformed.atom"))
    )
    with pytest.raises(SourceError) as err:
        fetch_by_date(THU, "cs.LG", client, sleep=clock.sleep, clock=clock)
    message = str(err.value)
    assert message.startswith(
        "arxiv:cs.LG: malformed XML in the arXiv API response (start=0): no element found"
    )
    assert "\n" not in message


def test_arxivs_error_feed_is_a_clear_error():
    with pytest.raises(SourceError) as err:
        parse_api_feed(fixture_bytes("arxiv_api_error.atom"), THU, source="arxiv:cs.LG")
    assert str(err.value) == (
        "arxiv:cs.LG: arXiv API error (start=0): incorrect id format for 1234.12345"
    )


@respx.mock
def test_http_400_carries_arxivs_message(client, clock):
    respx.get(API_URL).mock(
        return_value=httpx.Response(400, content=fixture_bytes("arxiv_api_error.atom"))
    )
    with pytest.raises(SourceError) as err:
        fetch_by_date(THU, "cs.LG", client, sleep=clock.sleep, clock=clock)
    assert str(err.value).startswith("arxiv:cs.LG: HTTP 400 for https://export.arxiv.org/")
    assert str(err.value).endswith(": incorrect id format for 1234.12345")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            b"<html><body>Service unavailable</body></html>",
            "arxiv:cs.LG: unexpected arXiv API response (start=0): root <html>, "
            "expected an Atom <feed>",
        ),
        (
            b'<feed xmlns="http://www.w3.org/2005/Atom"><title>x</title></feed>',
            "arxiv:cs.LG: unexpected arXiv API response (start=0): opensearch:totalResults "
            "is 'missing', expected a number",
        ),
    ],
)
def test_atom_that_is_not_an_api_answer_is_a_clear_error(body, expected):
    with pytest.raises(SourceError) as err:
        parse_api_feed(body, THU, source="arxiv:cs.LG")
    assert str(err.value) == expected


def test_entity_expansion_in_atom_is_refused():
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE feed [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><feed xmlns="http://www.w3.org/2005/Atom">'
        b"<title>&b;</title></feed>"
    )
    with pytest.raises(SourceError, match="malformed XML in the arXiv API response"):
        parse_api_feed(bomb, THU, source="arxiv:cs.LG")


def test_invalid_category_is_refused_before_any_request(client):
    with pytest.raises(SourceError, match=r"invalid category name 'cs.LG\) OR all:x'"):
        fetch_by_date(THU, "cs.LG) OR all:x", client)


@respx.mock
def test_skipped_entries_still_count_for_paging(client, clock):
    # the withdrawn entry is dropped, but it is one of the 3 results: page 3 is the last
    api = ArxivApi({Q_CL_THU: "arxiv_api_cs_CL_2024-02-29.atom"}, clock)
    respx.get(API_URL).mock(side_effect=api)
    papers = fetch_by_date(THU, "cs.CL", client, page_size=1, sleep=clock.sleep, clock=clock)
    assert [p.arxiv_id for p in papers] == ["2402.18668"]
    assert [start for _, _, start in api.log] == [0, 1, 2]
