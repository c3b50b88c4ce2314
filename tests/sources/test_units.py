"""Scrape units: one status each, deadlines, and arXiv days backfilled by date (nothing lost)."""

from __future__ import annotations

from datetime import date

import httpx
import pytest
import respx
from paperfoundry.models import SourceStatus
from paperfoundry.sources import (
    all_unreachable,
    day_status,
    failed_units,
    fetch_day,
    fetch_unit,
    refresh_days,
    scrape_units,
)
from paperfoundry.sources.arxiv import API_URL, FEED_URL
from paperfoundry.sources.huggingface import API_URL as HF_URL

from .conftest import ArxivApi, fixture_bytes

THU, FRI, SAT, MON = date(2024, 2, 29), date(2024, 3, 1), date(2024, 3, 2), date(2024, 3, 4)
CATS = ["cs.LG", "cs.CL"]
UNITS = ["huggingface", "arxiv:cs.LG", "arxiv:cs.CL"]
WINDOWS = {
    THU: "submittedDate:[202402271900 TO 202402281901]",
    FRI: "submittedDate:[202402281900 TO 202402291901]",
}
RECORDED = {
    f"cat:{cat} AND {WINDOWS[day]}": f"arxiv_api_{cat.replace('.', '_')}_{day}.atom"
    for cat in CATS
    for day in (THU, FRI)
}
HF_DAYS = {THU.isoformat(): "hf_day_p0.json", FRI.isoformat(): "hf_day_2024-03-01.json"}


def _rss(name: str, *, day: str | None = None) -> httpx.Response:
    body = fixture_bytes(name)
    if day is not None:  # the same feed, as served on another announcement day
        body = body.replace(b"Thu, 29 Feb 2024", day.encode())
    return httpx.Response(200, content=body, headers={"Content-Type": "application/rss+xml"})


def _mock_rss(*, day: str | None = None) -> None:
    for cat in CATS:
        name = f"arxiv_{cat.replace('.', '_')}.rss"
        respx.get(FEED_URL.format(category=cat)).mock(
            side_effect=lambda request, name=name: _rss(name, day=day)
        )


def _hf(request: httpx.Request) -> httpx.Response:
    name = HF_DAYS.get(request.url.params["date"])
    return httpx.Response(200, content=fixture_bytes(name) if name else b"[]")


def test_scrape_units():
    assert scrape_units(["huggingface", "arxiv"], CATS) == UNITS
    assert scrape_units(["arxiv", "arxiv"], ["cs.LG", "cs.LG"]) == ["arxiv:cs.LG"]
    assert scrape_units(["arxiv"], []) == ["arxiv"]  # fails with a clear error when fetched
    assert scrape_units(["nope"], CATS) == ["nope"]


# --- one failing unit, only one failed unit ---------------------------------------------------


@respx.mock
def test_a_503_in_one_category_fails_only_that_unit(client, clock):
    respx.get(HF_URL).mock(side_effect=_hf)
    respx.get(FEED_URL.format(category="cs.LG")).mock(return_value=httpx.Response(503))
    respx.get(FEED_URL.format(category="cs.CL")).mock(return_value=_rss("arxiv_cs_CL.rss"))
    results = {
        unit: fetch_unit(THU, unit, client=client, sleep=clock.sleep, clock=clock)
        for unit in scrape_units(["huggingface", "arxiv"], CATS)
    }
    statuses = [status for _, status in results.values()]
    assert statuses == [
        SourceStatus(name="huggingface", ok=True, papers=2),
        SourceStatus(name="arxiv:cs.LG", ok=False, error="arxiv:cs.LG: HTTP 503 after 4 attempts"),
        SourceStatus(name="arxiv:cs.CL", ok=True, papers=1),
    ]
    assert [p.arxiv_id for p in results["arxiv:cs.CL"][0]] == ["2402.18668"]
    assert day_status(statuses) == "partial"
    assert failed_units(statuses) == ["arxiv:cs.LG"]


@respx.mock
def test_fetch_day_keeps_the_papers_of_the_units_that_worked(client, clock):
    respx.get(HF_URL).mock(side_effect=_hf)
    respx.get(FEED_URL.format(category="cs.LG")).mock(return_value=httpx.Response(503))
    respx.get(FEED_URL.format(category="cs.CL")).mock(return_value=_rss("arxiv_cs_CL.rss"))
    papers, units = fetch_day(
        THU, categories=CATS, client=client, sleep=clock.sleep, clock=clock, per_unit=True
    )
    assert [s.name for s in units] == UNITS and failed_units(units) == ["arxiv:cs.LG"]
    assert [p.arxiv_id for p in papers] == ["2402.18668", "2402.17764"]

    _, by_source = fetch_day(THU, categories=CATS, client=client, sleep=clock.sleep, clock=clock)
    hf, ax = by_source
    assert hf == SourceStatus(name="huggingface", ok=True, papers=2)
    assert (ax.name, ax.ok, ax.papers) == ("arxiv", False, 1)  # a source is ok only when whole
    assert ax.error == "1 of 2 units failed: arxiv:cs.LG: HTTP 503 after 4 attempts"


def test_day_status_and_failed_units():
    ok, bad = SourceStatus(name="a", ok=True), SourceStatus(name="b", ok=False, error="b: x")
    assert day_status([ok, ok]) == "complete"
    assert day_status([ok, bad]) == "partial"
    assert day_status([bad, bad]) == "failed"
    assert day_status([]) == "failed"
    assert failed_units([ok, bad]) == ["b"] and failed_units([ok]) == []


# --- deadlines ---------------------------------------------------------------------------------


@respx.mock
def test_retry_after_beyond_the_deadline_fails_fast(client, clock):
    route = respx.get(FEED_URL.format(category="cs.LG")).mock(
        return_value=httpx.Response(503, headers={"Retry-After": "360"})
    )
    papers, status = fetch_unit(
        THU, "arxiv:cs.LG", client=client, sleep=clock.sleep, clock=clock, deadline=clock() + 120
    )
    assert papers == [] and not status.ok
    assert status.error == (
        "arxiv:cs.LG: HTTP 503; retry later (Retry-After 360 s): longer than the 60 s one "
        "call waits"
    )
    assert route.call_count == 1 and clock.sleeps == []


@respx.mock
def test_a_wait_that_would_pass_the_deadline_is_not_started(client, clock):
    respx.get(FEED_URL.format(category="cs.LG")).mock(
        return_value=httpx.Response(503, headers={"Retry-After": "45"})
    )
    _, status = fetch_unit(
        THU, "arxiv:cs.LG", client=client, sleep=clock.sleep, clock=clock, deadline=clock() + 30
    )
    assert status.error == (
        "arxiv:cs.LG: HTTP 503; retry later (Retry-After 45 s): waiting would pass the "
        "deadline (30 s left)"
    )
    assert clock.sleeps == []


@respx.mock
def test_retry_after_within_the_deadline_is_honoured(client, clock):
    respx.get(FEED_URL.format(category="cs.LG")).mock(
        side_effect=[httpx.Response(503, headers={"Retry-After": "20"}), _rss("arxiv_cs_LG.rss")]
    )
    papers, status = fetch_unit(
        THU, "arxiv:cs.LG", client=client, sleep=clock.sleep, clock=clock, deadline=clock() + 300
    )
    assert status.ok and len(papers) == 2
    assert clock.sleeps == [20]  # (the 3 s spacing was covered by the 20 s wait)


@respx.mock
def test_backoff_beyond_the_deadline_fails_fast(client, clock):
    def slow(request):
        clock.advance(10)  # the request used up the time left
        raise httpx.ReadTimeout("slow")

    route = respx.get(HF_URL).mock(side_effect=slow)
    _, status = fetch_unit(
        THU, "huggingface", client=client, sleep=clock.sleep, clock=clock, deadline=clock() + 10
    )
    assert status.error.startswith("huggingface: ReadTimeout; retry later (backoff ")
    assert status.error.endswith(" s): waiting would pass the deadline (0 s left)")
    assert route.call_count == 1 and clock.sleeps == []


@respx.mock
def test_too_little_time_left_for_a_request_fails_before_sending(client, clock):
    route = respx.get(HF_URL).mock(side_effect=_hf)
    _, status = fetch_unit(
        THU, "huggingface", client=client, sleep=clock.sleep, clock=clock, deadline=clock() + 0.5
    )
    assert status.error == (
        "huggingface: retry later: 0.5 s left before the deadline, too little for a request"
    )
    assert route.call_count == 0


@respx.mock
def test_request_spacing_that_would_pass_the_deadline_fails_fast(client, clock):
    respx.get(FEED_URL.format(category="cs.LG")).mock(return_value=_rss("arxiv_cs_LG.rss"))
    respx.get(FEED_URL.format(category="cs.CL")).mock(return_value=_rss("arxiv_cs_CL.rss"))
    deadline = clock() + 2
    _, first = fetch_unit(
        THU, "arxiv:cs.LG", client=client, sleep=clock.sleep, clock=clock, deadline=deadline
    )
    _, second = fetch_unit(
        THU, "arxiv:cs.CL", client=client, sleep=clock.sleep, clock=clock, deadline=deadline
    )
    assert first.ok
    assert second.error == (
        "arxiv:cs.CL: retry later (request spacing 3 s): the next request would pass the deadline"
    )


@respx.mock
def test_four_days_of_retry_after_360_fit_in_a_lambda(client, clock):
    """The measured defect: a 503 with Retry-After 360 s on 4 days needed 1,440 s > 900 s."""
    respx.get(HF_URL).mock(return_value=httpx.Response(503, headers={"Retry-After": "360"}))
    for cat in CATS:
        respx.get(FEED_URL.format(category=cat)).mock(
            return_value=httpx.Response(503, headers={"Retry-After": "360"})
        )
    respx.get(API_URL).mock(return_value=httpx.Response(503, headers={"Retry-After": "360"}))
    start = clock()
    deadline = start + 900 - 30  # the Lambda's limit, less a margin to return
    statuses = []
    for day in [date(2024, 2, 26), date(2024, 2, 27), date(2024, 2, 28), THU]:
        for unit in UNITS:
            statuses.append(
                fetch_unit(
                    day,
                    unit,
                    client=client,
                    today=FRI,
                    sleep=clock.sleep,
                    clock=clock,
                    deadline=deadline,
                )[1]
            )
    assert day_status(statuses) == "failed" and len(failed_units(statuses)) == 12
    assert all("retry later (Retry-After 360 s)" in s.error for s in statuses)
    assert clock() - start < 60  # only the 3 s spacing between arXiv requests was waited


# --- arXiv days that RSS does not serve ------------------------------------------------------


@respx.mock
def test_rss_for_another_day_sends_the_unit_to_the_api(client, clock):
    # Friday's listing asked for on the weekend: the feed serves Sunday (empty)
    respx.get(FEED_URL.format(category="cs.LG")).mock(return_value=_rss("arxiv_weekend_empty.rss"))
    api = ArxivApi(RECORDED, clock)
    respx.get(API_URL).mock(side_effect=api)
    notes: list[str] = []
    papers, status = fetch_unit(
        FRI, "arxiv:cs.LG", client=client, sleep=clock.sleep, clock=clock, notes=notes
    )
    assert status == SourceStatus(name="arxiv:cs.LG", ok=True, papers=2)
    assert [p.arxiv_id for p in papers] == ["2402.18720", "2402.19001"]
    assert all(p.day == FRI for p in papers)
    assert api.queries == [f"cat:cs.LG AND {WINDOWS[FRI]}"]
    assert notes == [
        "arxiv:cs.LG: the RSS feed serves 2024-03-03, not 2024-03-01; 2024-03-01 fetched from "
        "the arXiv API by date (submitted Wed 2024-02-28 19:00 - Thu 2024-02-29 19:00 UTC)"
    ]


@respx.mock
def test_rss_still_on_the_previous_day_is_retry_later_not_success(client, clock):
    # Friday, 02:00 UTC: arXiv's feed turns over at midnight US Eastern (05:00 UTC)
    respx.get(FEED_URL.format(category="cs.LG")).mock(return_value=_rss("arxiv_cs_LG.rss"))
    api_route = respx.get(API_URL)
    papers, status = fetch_unit(
        FRI, "arxiv:cs.LG", client=client, today=FRI, sleep=clock.sleep, clock=clock
    )
    assert papers == [] and not status.ok
    assert status.error == (
        "arxiv:cs.LG: the RSS feed still serves 2024-02-29: the 2024-03-01 listing is not out "
        "yet (arXiv publishes it at midnight US Eastern); retry later"
    )
    assert api_route.call_count == 0


@respx.mock
def test_rss_serving_the_day_is_used_even_when_it_is_yesterday(client, clock):
    # Friday 03:00 UTC: Thursday's listing is still the latest; no API request needed
    respx.get(FEED_URL.format(category="cs.LG")).mock(return_value=_rss("arxiv_cs_LG.rss"))
    api_route = respx.get(API_URL)
    papers, status = fetch_unit(
        THU, "arxiv:cs.LG", client=client, today=FRI, sleep=clock.sleep, clock=clock
    )
    assert status.ok and [p.arxiv_id for p in papers] == ["2402.18510", "2402.18002"]
    assert api_route.call_count == 0


@respx.mock
def test_a_weekend_has_no_papers_and_a_past_one_needs_no_request(client, clock):
    # live: the feed is asked (is arXiv reachable?) and serves the weekend day, empty
    route = respx.get(FEED_URL.format(category="cs.LG")).mock(
        return_value=_rss("arxiv_weekend_empty.rss")
    )
    notes: list[str] = []
    papers, status = fetch_unit(
        SAT, "arxiv:cs.LG", client=client, sleep=clock.sleep, clock=clock, notes=notes
    )
    assert (papers, status) == ([], SourceStatus(name="arxiv:cs.LG", ok=True, papers=0))
    assert notes == [
        "arxiv:cs.LG: 2024-03-02 is a Saturday: arXiv has no listing on weekends; 0 papers"
    ]
    assert route.call_count == 1
    # a backfilled weekend: nothing to ask for
    papers, status = fetch_unit(
        SAT, "arxiv:cs.LG", client=client, today=MON, sleep=clock.sleep, clock=clock
    )
    assert status.ok and papers == [] and route.call_count == 1


def test_offline_on_a_weekend_is_still_unreachable(client, clock):
    with respx.mock(assert_all_called=False) as mock:
        mock.route().mock(
            side_effect=httpx.ConnectError("[Errno -3] Temporary failure in name resolution")
        )
        _, status = fetch_unit(SAT, "arxiv:cs.LG", client=client, sleep=clock.sleep, clock=clock)
    assert status.error.startswith("unreachable: arxiv:cs.LG: cannot connect to rss.arxiv.org")


def test_a_future_day_is_refused(client, clock):
    _, status = fetch_unit(FRI, "arxiv:cs.LG", client=client, today=THU, clock=clock)
    assert status.error == (
        "arxiv:cs.LG: 2024-03-01 is after today (2024-02-29): not announced yet; retry later"
    )


# --- an outage, then the backfill: nothing lost -----------------------------------------------


@respx.mock
def test_all_sources_down_then_backfilled_by_date_loses_no_paper(client, clock):
    live_rss: dict[date, set[str]] = {}
    # What Thursday's live scrape would have stored, had the feeds been up:
    _mock_rss()
    respx.get(HF_URL).mock(side_effect=_hf)
    for cat in CATS:
        papers, _ = fetch_unit(THU, f"arxiv:{cat}", client=client, sleep=clock.sleep, clock=clock)
        live_rss.setdefault(THU, set()).update(p.arxiv_id for p in papers)
    assert live_rss[THU] == {"2402.18510", "2402.18002", "2402.18668"}

    # Thursday and Friday: every source down (503s, then DNS) -> both days failed
    respx.routes.clear()
    respx.get(HF_URL).mock(return_value=httpx.Response(503))
    for cat in CATS:
        respx.get(FEED_URL.format(category=cat)).mock(return_value=httpx.Response(503))
    for day in (THU, FRI):
        papers, statuses = fetch_day(
            day,
            categories=CATS,
            client=client,
            today=day,
            sleep=clock.sleep,
            clock=clock,
            per_unit=True,
        )
        assert papers == [] and day_status(statuses) == "failed"
        assert failed_units(statuses) == UNITS

    # Monday: everything is back; the feed serves Monday. The failed days are fetched again.
    respx.routes.clear()
    respx.get(HF_URL).mock(side_effect=_hf)
    _mock_rss(day="Mon, 04 Mar 2024")
    api = ArxivApi(RECORDED, clock)
    respx.get(API_URL).mock(side_effect=api)
    backfilled: dict[date, list] = {}
    for day in (THU, FRI):
        notes: list[str] = []
        papers, statuses = fetch_day(
            day,
            categories=CATS,
            client=client,
            today=MON,
            sleep=clock.sleep,
            clock=clock,
            notes=notes,
            per_unit=True,
        )
        assert day_status(statuses) == "complete", statuses
        assert all("fetched from the arXiv API by date" in n for n in notes) and len(notes) == 2
        assert all(p.day == day for p in papers)
        backfilled[day] = papers

    thu_ids = {p.arxiv_id for p in backfilled[THU]}
    assert live_rss[THU] <= thu_ids  # no paper of the live listing lost
    assert thu_ids == {"2402.18668", "2402.17764", "2402.18002", "2402.18510", "2402.18555"}
    fri_ids = {p.arxiv_id for p in backfilled[FRI]}
    assert fri_ids == {"2402.19001", "2402.18720", "2402.19100"}
    assert not thu_ids & fri_ids  # the cut-off minute's paper is Friday's only

    based = next(p for p in backfilled[THU] if p.arxiv_id == "2402.18668")
    assert set(based.signals) == {"huggingface", "arxiv"}  # HF and arXiv merged again
    assert based.signals["huggingface"].upvotes == 19
    mixer = next(p for p in backfilled[FRI] if p.arxiv_id == "2402.19001")
    assert set(mixer.signals) == {"huggingface", "arxiv"}
    # the feed was not asked for days it can no longer serve; the API once per unit
    assert sorted(api.queries) == sorted(RECORDED)


@respx.mock
def test_backfill_without_today_reads_the_feed_first_then_the_api(client, clock):
    _mock_rss(day="Mon, 04 Mar 2024")
    api = ArxivApi(RECORDED, clock)
    respx.get(API_URL).mock(side_effect=api)
    papers, statuses = fetch_day(
        THU,
        categories=CATS,
        client=client,
        sources=["arxiv"],
        sleep=clock.sleep,
        clock=clock,
        per_unit=True,
    )
    assert day_status(statuses) == "complete"
    assert {p.arxiv_id for p in papers} == {"2402.18002", "2402.18510", "2402.18555", "2402.18668"}


@respx.mock
def test_every_arxiv_request_of_a_day_is_three_seconds_apart(client, clock):
    times: list[float] = []
    for cat in CATS:
        name = f"arxiv_{cat.replace('.', '_')}.rss"
        respx.get(FEED_URL.format(category=cat)).mock(
            side_effect=lambda request, name=name: (
                times.append(clock()),
                _rss(name, day="Mon, 04 Mar 2024"),
            )[1]
        )
    api = ArxivApi(RECORDED, clock)
    respx.get(API_URL).mock(side_effect=lambda request: (times.append(clock()), api(request))[1])
    fetch_day(
        THU, categories=CATS, client=client, sources=["arxiv"], sleep=clock.sleep, clock=clock
    )
    assert len(times) == 4  # feed, API, feed, API
    assert all(b - a >= 3.0 for a, b in zip(times, times[1:], strict=False))


# --- Hugging Face: earlier days again, to let the upvotes mature ------------------------------


def test_refresh_days():
    assert refresh_days(FRI, 3) == [THU, date(2024, 2, 28), date(2024, 2, 27)]
    assert refresh_days(FRI, 0) == []
    with pytest.raises(ValueError, match="n must be >= 0"):
        refresh_days(FRI, -1)


@respx.mock
def test_an_earlier_hf_day_is_fetched_again_with_its_observation_time(client, clock):
    route = respx.get(HF_URL).mock(side_effect=_hf)
    [previous] = refresh_days(FRI, 1)
    from datetime import UTC, datetime

    before = datetime.now(UTC)
    papers, status = fetch_unit(previous, "huggingface", client=client, sleep=clock.sleep)
    after = datetime.now(UTC)
    assert status == SourceStatus(name="huggingface", ok=True, papers=2)
    assert route.calls.last.request.url.params["date"] == "2024-02-29"
    assert all(p.day == previous for p in papers)
    for paper in papers:
        observed = paper.signals["huggingface"].observed_at
        assert observed is not None and before <= observed <= after


# --- failures of our own making ----------------------------------------------------------------


def test_unknown_and_incomplete_units_fail_clearly(client):
    _, unknown = fetch_unit(THU, "nope", client=client)
    assert unknown.error == "nope: unknown source (known: huggingface, arxiv:<category>)"
    _, bare = fetch_unit(THU, "arxiv", client=client)
    assert bare.error == "arxiv: no category: arXiv units are 'arxiv:<category>' (e.g. arxiv:cs.LG)"
    _, bad = fetch_unit(THU, "arxiv:cs.LG/../x", client=client)
    assert bad.error == "arxiv:cs.LG/../x: invalid category name 'cs.LG/../x'"


def test_a_bug_is_reported_as_one(client, monkeypatch):
    def boom(*args, **kwargs):
        raise KeyError("paper")

    monkeypatch.setattr("paperfoundry.sources.fetch_category", boom)
    _, status = fetch_unit(THU, "arxiv:cs.LG", client=client)
    assert status.error == "arxiv:cs.LG: internal error (bug): KeyError: 'paper'"


@respx.mock
def test_a_unit_makes_and_closes_its_own_client(monkeypatch):
    from paperfoundry import sources

    created: list[httpx.Client] = []
    original = sources.make_client

    def spy(timeout):
        created.append(original(timeout))
        return created[-1]

    monkeypatch.setattr(sources, "make_client", spy)
    respx.get(HF_URL).mock(return_value=httpx.Response(200, json=[]))
    _, status = fetch_unit(THU, "huggingface", timeout=7.0)
    assert status.ok and created[0].is_closed and created[0].timeout.read == 7.0


def test_offline_a_source_is_given_up_after_its_first_unreachable_unit(client, clock):
    with respx.mock(assert_all_called=False) as mock:
        mock.route().mock(
            side_effect=httpx.ConnectError("[Errno -3] Temporary failure in name resolution")
        )
        _, statuses = fetch_day(
            THU,
            categories=["cs.LG", "cs.CL", "cs.CV"],
            client=client,
            sleep=clock.sleep,
            clock=clock,
            per_unit=True,
        )
        assert len(mock.calls) == 2  # Hugging Face once, arXiv once
    assert [s.error for s in statuses[2:]] == [
        "unreachable: arxiv:cs.CL: not tried, arxiv:cs.LG could not reach the host",
        "unreachable: arxiv:cs.CV: not tried, arxiv:cs.LG could not reach the host",
    ]
    assert all_unreachable(statuses) and clock.sleeps == []
