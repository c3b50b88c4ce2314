"""DynamoStore on moto: key design, idempotent writes, counters, Decimal round-trip."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from paperfoundry.adapters.aws.dynamodb import (
    DynamoStore,
    day_of_run_id,
    from_dynamo,
    score_sort_key,
    to_dynamo,
)
from paperfoundry.models import (
    Implementation,
    Paper,
    Pick,
    Score,
    ScoreComponent,
    SourceSignals,
    SourceStatus,
    TrainingRun,
    Verdict,
)
from paperfoundry.ports import PaperStore
from paperfoundry.training import run_id_for

from .conftest import TABLE

DAY = date(2024, 2, 29)


@pytest.fixture
def store(aws) -> DynamoStore:
    return DynamoStore(TABLE, aws.dynamodb)


def paper(arxiv_id: str, *, day: date = DAY, source: str = "huggingface", **signals) -> Paper:
    return Paper(
        arxiv_id=arxiv_id,
        title=f"Paper {arxiv_id}",
        abstract="linear attention and recall",
        authors=["Ada Lovelace"],
        day=day,
        categories=["cs.LG"],
        signals={source: SourceSignals(source=source, **signals)},
    )


def score(arxiv_id: str, total: float, day: date = DAY) -> Score:
    return Score(
        arxiv_id=arxiv_id,
        day=day,
        total=total,
        components=[
            ScoreComponent(name="relevance", value=0.1, weight=0.45, contribution=0.045),
        ],
    )


def test_store_satisfies_the_port(store):
    assert isinstance(store, PaperStore)


def test_upsert_returns_only_new_ids_and_merges_signals(store):
    assert store.upsert_papers([paper("2402.18668", upvotes=19), paper("2402.17764")]) == [
        "2402.18668",
        "2402.17764",
    ]
    again = store.upsert_papers(
        [paper("2402.18668", source="arxiv", announce_type="new", categories=["cs.CL"])]
    )
    assert again == []
    merged = store.get_paper("2402.18668")
    assert set(merged.signals) == {"huggingface", "arxiv"}
    assert merged.signals["huggingface"].upvotes == 19
    # the day listing holds the same merged copy
    listed = {p.arxiv_id: p for p in store.papers_for_day(DAY)}
    assert set(listed) == {"2402.18668", "2402.17764"}
    assert set(listed["2402.18668"].signals) == {"huggingface", "arxiv"}
    assert store.papers_for_day(DAY + timedelta(days=1)) == []
    assert store.get_paper("9999.99999") is None


def test_redelivered_upsert_writes_nothing_twice(store, aws):
    papers = [paper("2402.18668", upvotes=19)]
    store.upsert_papers(papers)
    store.upsert_papers(papers)
    items = aws.dynamodb.scan(TableName=TABLE)["Items"]
    assert sorted((i["pk"]["S"], i["sk"]["S"]) for i in items) == [
        ("DAY#2024-02-29", "PAPER#2402.18668"),
        ("PAPER#2402.18668", "META"),
    ]


def test_decimal_round_trip_keeps_values():
    data = {"a": 0.1, "b": 3, "c": [1.5e-7, 2.0, None, True], "d": {"e": float("nan")}}
    stored = to_dynamo(data)
    assert stored["a"] == Decimal("0.1") and isinstance(stored["c"][0], Decimal)
    assert stored["d"]["e"] is None  # DynamoDB has no NaN
    back = from_dynamo(stored)
    assert back == {"a": 0.1, "b": 3, "c": [1.5e-7, 2, None, True], "d": {"e": None}}


def test_run_with_floats_round_trips_through_dynamodb(store):
    run = TrainingRun(
        run_id=run_id_for(DAY, "2402.18668", "mqar"),
        arxiv_id="2402.18668",
        day=DAY,
        task="mqar",
        budget="small",
        backend="sagemaker",
        status="completed",
        wall_seconds=123.456,
        verdict=Verdict(
            outcome="better",
            metric="eval_accuracy",
            higher_is_better=True,
            candidate_mean=0.9133333333333333,
            baseline_mean=0.41,
            candidate_std=0.012,
            baseline_std=0.03,
            effect=0.5033333333333333,
            toy_scale=True,
            summary="BASED beats the baseline",
        ),
    )
    store.save_run(run)
    assert store.get_run(run.run_id) == run


def test_save_score_is_first_write_only_and_counts_once(store):
    store.upsert_papers([paper("2402.18668")])
    store.set_day_total(DAY, 2)
    assert store.save_score(score("2402.18668", 0.61)) is True
    assert store.save_score(score("2402.18668", 0.99)) is False  # redelivery
    assert store.day_progress(DAY) == (1, 2)
    assert store.scores_for_day(DAY)[0].total == pytest.approx(0.61)  # not overwritten
    assert store.save_score(score("2402.17764", 0.3)) is True
    assert store.record_ranked(DAY, "2402.17764") == (2, 2)


def test_scores_best_first_in_table_and_on_the_index(store):
    totals = {"2402.00001": 0.05, "2402.00002": 0.72, "2402.00003": 0.3, "2402.00004": 1.25}
    for pid, total in totals.items():
        store.save_score(score(pid, total))
    expected = ["2402.00004", "2402.00002", "2402.00003", "2402.00001"]
    assert [s.arxiv_id for s in store.scores_for_day(DAY)] == expected
    assert [s.arxiv_id for s in store.top_scores(DAY, limit=3)] == expected[:3]
    assert score_sort_key(0.72, "x") > score_sort_key(0.3, "x") > score_sort_key(0.05, "x")
    assert score_sort_key(-1, "x") == score_sort_key(0, "x")


def test_day_flags_are_claimed_once(store):
    assert store.claim_ranked_event(DAY) is True
    assert store.claim_ranked_event(DAY) is False
    assert store.mark_digest_sent(DAY) is True
    assert store.mark_digest_sent(DAY) is False
    store.clear_digest_sent(DAY)
    assert store.mark_digest_sent(DAY) is True


def test_selection_claim_and_stalled_days(store):
    store.set_day_total(DAY, 3)
    store.set_day_total(DAY + timedelta(days=1), 0, scraped=False)  # all sources failed
    assert store.day_scraped(DAY) and not store.day_scraped(DAY + timedelta(days=1))
    later = datetime.now(UTC) + timedelta(minutes=1)
    assert store.days_awaiting_selection(later) == [DAY]
    assert store.days_awaiting_selection(datetime.now(UTC) - timedelta(hours=1)) == []
    assert store.claim_selection(DAY) is True
    assert store.claim_selection(DAY) is False
    # a claim whose Lambda died may be taken over once stale...
    assert store.claim_selection(DAY, stale_after_seconds=-1) is True
    store.finish_selection(DAY, ["skipped 2402.1: excluded"])
    # ...but a finished selection never repeats
    assert store.claim_selection(DAY, stale_after_seconds=-1) is False
    assert store.days_awaiting_selection(later) == []
    assert store.get_day(DAY)["notes"] == ["skipped 2402.1: excluded"]


def test_sources_picks_implementations(store):
    statuses = [
        SourceStatus(name="huggingface", ok=True, papers=2),
        SourceStatus(name="arxiv", ok=False, error="arxiv: HTTP 503"),
    ]
    store.save_sources(DAY, statuses)
    assert store.sources_for_day(DAY) == statuses
    picks = [Pick(arxiv_id="2402.18668", day=DAY, rank=1, score=0.61, gpu_minutes=20.0)]
    store.save_picks(DAY, picks)
    store.save_picks(DAY, picks)
    assert store.picks_for_day(DAY) == picks
    impl = Implementation(
        arxiv_id="2402.18668",
        status="implemented",
        name="BASED",
        task="mqar",
        file_name="based.py",
        source_code="x = 1\n",
    )
    store.save_implementation(impl)
    assert store.get_implementation("2402.18668") == impl
    assert store.get_implementation("2402.17764") is None


def test_runs_by_day_and_by_paper(store):
    runs = [
        TrainingRun(
            run_id=run_id_for(d, "2402.18668", "mqar"),
            arxiv_id="2402.18668",
            day=d,
            task="mqar",
            budget="small",
            backend="sagemaker",
            status="running",
        )
        for d in (DAY, DAY + timedelta(days=3))
    ]
    for run in runs:
        store.save_run(run)
    assert [r.run_id for r in store.runs_for_day(DAY)] == [runs[0].run_id]
    assert {r.run_id for r in store.runs_for_paper("2402.18668")} == {r.run_id for r in runs}
    assert day_of_run_id(runs[1].run_id) == DAY + timedelta(days=3)
    assert store.get_run("not-a-run") is None
