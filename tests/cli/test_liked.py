"""Liked papers the store does not have are fetched by id from the arXiv export API before
the day runs (recorded response via respx), or reported."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import httpx
from paperfoundry.adapters.local.sqlite_store import SqliteStore
from paperfoundry.cli import ExitCode
from paperfoundry.sources.arxiv import API_URL, RATE_LIMITER, fetch_by_ids, listing_day

from .conftest import FIXTURES

ATOM = (FIXTURES / "arxiv_api_ids.atom").read_bytes()
DNS_FAILURE = httpx.ConnectError("[Errno -3] Temporary failure in name resolution")


def test_fetch_by_ids_dates_papers_by_their_listing_day(net):
    route = net.get(API_URL).mock(return_value=httpx.Response(200, content=ATOM))
    with httpx.Client() as client:
        papers = fetch_by_ids(["2312.00752", "2401.99999"], client, sleep=lambda s: None)
    (paper,) = papers
    assert paper.arxiv_id == "2312.00752" and paper.version == 2
    assert paper.title.startswith("Mamba") and paper.authors == ["Albert Gu", "Tri Dao"]
    # submitted Fri 2023-12-01 13:01 EST, before the 14:00 cut-off: listed Monday
    assert paper.day == date(2023, 12, 4)
    params = route.calls.last.request.url.params
    assert params["id_list"] == "2312.00752,2401.99999" and params["max_results"] == "2"


def test_listing_day_inverts_the_announcement_window():
    cutoff = datetime(2024, 2, 28, 19, 0, tzinfo=UTC)  # Wed 14:00 EST
    assert listing_day(cutoff) == date(2024, 3, 1)  # at the cut-off: the next window
    assert listing_day(datetime(2024, 2, 28, 18, 59, tzinfo=UTC)) == date(2024, 2, 29)
    assert listing_day(datetime(2024, 3, 2, 12, 0, tzinfo=UTC)) == date(2024, 3, 5)  # Saturday


def test_run_fetches_liked_papers_first_and_reports_unknown_ones(pf, net, tmp_path, monkeypatch):
    monkeypatch.setattr(RATE_LIMITER, "wait", lambda *a, **k: 0.0)  # no 3 s between runs
    net.get(API_URL).mock(return_value=httpx.Response(200, content=ATOM))
    (tmp_path / "paperfoundry.toml").write_text(
        '[interests]\nliked = ["arXiv:2312.00752v1", "2401.99999"]\n'
    )
    code, out, _ = pf("config", "--check")
    assert code == ExitCode.OK and "not in runs yet: 2312.00752, 2401.99999" in out
    assert not net.calls  # --check never fetches

    runs = tmp_path / "runs"
    code, out, err = pf("run", "--sample", "--no-train", "--out", runs)
    assert code == ExitCode.OK, out + err
    assert "liked papers fetched from arXiv: 2312.00752" in out
    assert "arXiv does not know (or withdrawn): 2401.99999" in " ".join(out.split())
    store = SqliteStore(runs / "paperfoundry.sqlite")
    try:
        assert store.get_paper("2312.00752").day == date(2023, 12, 4)
    finally:
        store.close()
    report = json.loads(next(runs.glob("*/report.json")).read_text())
    liked = next(c for c in report["ranking"][0]["score"]["components"] if c["name"] == "liked")
    assert "to 1 liked papers" in liked["detail"]

    # a second run has it: no request
    before = len(net.calls)
    code, out, _ = pf("config", "--check")
    assert "not in runs yet: 2401.99999 " in out
    assert pf("run", "--sample", "--no-train", "--out", runs)[0] == ExitCode.OK
    assert len(net.calls) == before + 1  # only the unknown id is asked for again


def test_liked_papers_that_cannot_be_fetched_are_reported(pf, net, tmp_path):
    net.get(API_URL).mock(side_effect=DNS_FAILURE)
    (tmp_path / "paperfoundry.toml").write_text('[interests]\nliked = ["2312.00752"]\n')
    code, out, err = pf("run", "--sample", "--no-train", "--out", tmp_path / "runs")
    assert code == ExitCode.OK, out + err
    flat = " ".join(out.split())
    assert "liked papers not in the store, and not fetched" in flat and "2312.00752" in flat
