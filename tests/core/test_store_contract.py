"""The `PaperStore` contract: the same assertions against `SqliteStore` and `DynamoStore`.

SQLite runs on a file in tmp_path; DynamoDB on moto with the table the CDK stack defines
(tests/aws/dynamo_table.py). Store-specific behaviour (SQLite migrations, DynamoDB item
layout, Decimal/NaN handling, pagination, the GSI listings) stays in
tests/core/test_sqlite_store.py and tests/aws/test_dynamodb.py.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from paperfoundry.adapters.aws.dynamodb import DynamoStore
from paperfoundry.adapters.local.sqlite_store import SqliteStore
from paperfoundry.models import (
    Comparison,
    CriterionScore,
    DayState,
    Implementation,
    LLMCall,
    Paper,
    PaperReview,
    Pick,
    ReviewSample,
    Score,
    ScoreComponent,
    SourceSignals,
    SourceStatus,
    Stat,
    Tournament,
    TrainingRun,
    Verdict,
)
from paperfoundry.ports import PaperStore
from paperfoundry.training import run_id_for

from tests.aws.dynamo_table import TABLE, mocked_table

DAY = date(2024, 2, 29)
T1 = datetime(2024, 2, 29, 8, tzinfo=UTC)
T2 = datetime(2024, 2, 29, 20, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "dynamodb"])
def store(request, tmp_path, monkeypatch) -> Iterator[PaperStore]:
    if request.param == "sqlite":
        sqlite = SqliteStore(tmp_path / "pf.sqlite")
        yield sqlite
        sqlite.close()
    else:
        with mocked_table(monkeypatch) as client:
            yield DynamoStore(TABLE, client)


def hf(arxiv_id: str, *, day: date = DAY, upvotes: int | None = 10, **signals) -> Paper:
    return Paper(
        arxiv_id=arxiv_id,
        title=f"HF title {arxiv_id}",
        abstract="HF abstract",
        authors=["H. F."],
        day=day,
        signals={"huggingface": SourceSignals(source="huggingface", upvotes=upvotes, **signals)},
    )


def ax(arxiv_id: str, *, day: date = DAY) -> Paper:
    return Paper(
        arxiv_id=arxiv_id,
        version=2,
        title=f"arXiv title {arxiv_id}",
        abstract="arXiv abstract",
        authors=["A. X."],
        day=day,
        categories=["cs.CL", "cs.LG"],
        signals={"arxiv": SourceSignals(source="arxiv", categories=["cs.CL"], announce_type="new")},
    )


def score(arxiv_id: str, total: float, day: date = DAY) -> Score:
    return Score(
        arxiv_id=arxiv_id,
        day=day,
        total=total,
        components=[
            ScoreComponent(name="relevance", value=0.1, weight=0.45, contribution=0.045),
            ScoreComponent(name="upvotes", value=0.5, weight=0.2, contribution=0.1, detail="x"),
        ],
    )


def run(arxiv_id: str, day: date = DAY, **kw) -> TrainingRun:
    return TrainingRun(
        run_id=run_id_for(day, arxiv_id, "mqar"),
        arxiv_id=arxiv_id,
        day=day,
        task="mqar",
        budget="small",
        backend="local",
        **kw,
    )


# -- the port itself -----------------------------------------------------------------------


def _port_methods() -> list[str]:
    return [
        name
        for name, member in vars(PaperStore).items()
        if inspect.isfunction(member) and not name.startswith("_")
    ]


def test_store_implements_every_port_method_with_its_signature(store):
    assert isinstance(store, PaperStore)
    assert len(_port_methods()) == 25
    for name in _port_methods():
        wanted = inspect.signature(getattr(PaperStore, name)).parameters
        got = inspect.signature(getattr(type(store), name)).parameters
        assert [(p.name, p.kind, p.default) for p in got.values()] == [
            (p.name, p.kind, p.default) for p in wanted.values()
        ], name


# -- papers --------------------------------------------------------------------------------


def test_upsert_returns_only_new_ids_in_order(store):
    assert store.upsert_papers([hf("2402.00002"), hf("2402.00001")]) == [
        "2402.00002",
        "2402.00001",
    ]
    assert store.upsert_papers([hf("2402.00001"), hf("2402.00003")]) == ["2402.00003"]
    assert store.upsert_papers([]) == []
    # duplicates within one batch: one new id, the later record's counts
    assert store.upsert_papers([hf("2402.00004", upvotes=3), hf("2402.00004", upvotes=4)]) == [
        "2402.00004"
    ]
    assert store.get_paper("2402.00004").signals["huggingface"].upvotes == 4
    assert store.get_paper("2402.00002") == hf("2402.00002")
    assert store.get_paper("9999.99999") is None


def test_same_source_rescrape_keeps_the_new_counts(store):
    store.upsert_papers([hf("2402.18668", upvotes=10, comments=1)])
    assert store.upsert_papers([hf("2402.18668", upvotes=50, comments=None)]) == []
    for paper in (store.get_paper("2402.18668"), *store.papers_for_day(DAY)):
        assert paper.signals["huggingface"].upvotes == 50
        assert paper.signals["huggingface"].comments == 1  # the re-scrape had no count


def test_a_stale_observation_does_not_undo_a_newer_one(store):
    store.upsert_papers([hf("2402.18668", upvotes=50, observed_at=T2)])
    store.upsert_papers([hf("2402.18668", upvotes=10, observed_at=T1)])
    [listed] = store.papers_for_day(DAY)
    for paper in (store.get_paper("2402.18668"), listed):
        assert paper.signals["huggingface"].upvotes == 50
        assert paper.signals["huggingface"].observed_at == T2


def test_a_second_source_is_merged_and_the_first_day_kept(store):
    later = DAY + timedelta(days=1)
    store.upsert_papers([hf("2402.18668", upvotes=10, keywords=["attention"])])
    store.upsert_papers([ax("2402.18668", day=later)])
    store.upsert_papers([hf("2402.18668", day=later, upvotes=50, keywords=["recall"])])
    paper = store.get_paper("2402.18668")
    assert set(paper.signals) == {"huggingface", "arxiv"}
    assert paper.signals["huggingface"].upvotes == 50
    assert paper.signals["huggingface"].keywords == ["attention", "recall"]
    assert paper.signals["arxiv"].announce_type == "new"
    # arXiv is the authority on text and categories; the highest version; the first day
    assert paper.title == "arXiv title 2402.18668" and paper.authors == ["A. X."]
    assert paper.categories == ["cs.CL", "cs.LG"] and paper.version == 2
    assert paper.day == DAY
    assert store.papers_for_day(DAY) == [paper]
    assert store.papers_for_day(later) == []


def test_papers_for_day_by_arxiv_id(store):
    ids = ["2402.00300", "2402.00100", "2402.00200"]
    store.upsert_papers([hf(i) for i in ids])
    store.upsert_papers([hf("2402.00900", day=DAY - timedelta(days=1))])
    assert [p.arxiv_id for p in store.papers_for_day(DAY)] == sorted(ids)
    assert store.papers_for_day(DAY + timedelta(days=5)) == []


# -- scores --------------------------------------------------------------------------------


def test_save_score_once_unless_replaced(store):
    assert store.save_score(score("2402.18668", 0.61)) is True
    assert store.save_score(score("2402.18668", 0.99)) is False  # a redelivery
    assert store.scores_for_day(DAY) == [score("2402.18668", 0.61)]
    assert store.save_score(score("2402.18668", 0.25), replace=True) is True
    assert store.scores_for_day(DAY) == [score("2402.18668", 0.25)]
    assert store.save_score(score("2402.18668", 0.33), replace=True) is True
    assert store.scores_for_day(DAY)[0].total == pytest.approx(0.33)


def test_save_scores_counts_the_new_ones_and_keeps_the_first(store):
    assert store.scores_for_day(DAY) == []  # a cached read the batch must keep current
    assert store.save_scores([score("2402.00001", 0.5), score("2402.00002", 0.7)]) == 2
    assert [s.arxiv_id for s in store.scores_for_day(DAY)] == ["2402.00002", "2402.00001"]
    batch = [score("2402.00002", 0.1), score("2402.00003", 0.9)]  # one redelivered
    assert store.save_scores(batch) == 1
    assert {s.arxiv_id: s.total for s in store.scores_for_day(DAY)} == {
        "2402.00001": 0.5,
        "2402.00002": 0.7,
        "2402.00003": 0.9,
    }
    assert store.save_scores([]) == 0


def test_scores_best_first_ties_by_id(store):
    totals = {"2402.00001": 0.05, "2402.00003": 0.72, "2402.00002": 0.72, "2402.00004": 1.25}
    for pid, total in totals.items():
        assert store.save_score(score(pid, total))
    store.save_score(score("2402.00009", 9.0, day=DAY + timedelta(days=1)))
    assert [s.arxiv_id for s in store.scores_for_day(DAY)] == [
        "2402.00004",
        "2402.00002",
        "2402.00003",
        "2402.00001",
    ]
    assert store.scores_for_day(DAY - timedelta(days=1)) == []


# -- sources, picks, implementation --------------------------------------------------------


def test_sources_merge_per_name(store):
    assert store.sources_for_day(DAY) == []
    hf_ok = SourceStatus(name="huggingface", ok=True, papers=12)
    lg_failed = SourceStatus(name="arxiv:cs.LG", ok=False, error="arxiv: HTTP 503")
    store.save_sources(DAY, [hf_ok, lg_failed])
    # each scrape unit saves its own status: the same name is replaced, others kept
    lg_ok = SourceStatus(name="arxiv:cs.LG", ok=True, papers=40)
    cl_ok = SourceStatus(name="arxiv:cs.CL", ok=True, papers=7)
    store.save_sources(DAY, [lg_ok])
    store.save_sources(DAY, [cl_ok])
    store.save_sources(DAY + timedelta(days=1), [lg_failed])
    assert store.sources_for_day(DAY) == [cl_ok, lg_ok, hf_ok]  # by name
    store.save_sources(DAY, [])
    assert len(store.sources_for_day(DAY)) == 3


def test_picks_are_replaced_and_read_by_rank(store):
    assert store.picks_for_day(DAY) == []
    first = Pick(arxiv_id="2402.00001", day=DAY, rank=1, score=0.9, gpu_minutes=20.0)
    second = Pick(arxiv_id="2402.00002", day=DAY, rank=2, score=0.5, gpu_minutes=12.5)
    store.save_picks(DAY, [second, first])
    assert store.picks_for_day(DAY) == [first, second]
    store.save_picks(DAY, [first])  # replacing, not appending
    assert store.picks_for_day(DAY) == [first]
    store.save_picks(DAY, [])
    assert store.picks_for_day(DAY) == []


def test_implementation_round_trip_and_overwrite(store):
    assert store.get_implementation("2402.18668") is None
    impl = Implementation(
        arxiv_id="2402.18668",
        status="implemented",
        name="BASED",
        task="mqar",
        file_name="based.py",
        source_code="x = 1\n",
        provenance="llm",
        cost_usd=0.0123,
        validated=False,
    )
    store.save_implementation(impl)
    assert store.get_implementation("2402.18668") == impl
    accepted = impl.model_copy(update={"validated": True})
    store.save_implementation(accepted)
    assert store.get_implementation("2402.18668") == accepted


# -- runs ----------------------------------------------------------------------------------


def test_runs_by_id_day_and_paper(store):
    verdict = Verdict(
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
    )
    first = run("2402.18668", status="running", started_at=T1)
    later = run("2402.18668", DAY + timedelta(days=3))
    other = run("2402.00001")
    for r in (later, other, first):
        store.save_run(r)
    done = first.model_copy(
        update={"status": "completed", "wall_seconds": 123.456, "verdict": verdict}
    )
    store.save_run(done)
    assert store.get_run(first.run_id) == done
    assert store.get_run(run_id_for(DAY, "2402.99999", "mqar")) is None
    assert store.get_run("not-a-run") is None
    assert store.runs_for_day(DAY) == sorted([done, other], key=lambda r: r.run_id)
    assert store.runs_for_paper("2402.18668") == [done, later]  # oldest day first
    assert store.runs_for_paper("2402.99999") == []


# -- LLM review, tournament, spend ledger --------------------------------------------------


def _review(arxiv_id: str, overall: float) -> PaperReview:
    crit = CriterionScore(score=7.5, rationale="clear")
    sample = ReviewSample(
        novelty=crit,
        significance=crit,
        soundness=crit,
        clarity=crit,
        implementability=crit,
        relevance=crit,
        summary="fine",
    )
    return PaperReview(
        arxiv_id=arxiv_id,
        day=DAY,
        model="gpt-test",
        prompt_version="v1",
        samples=[sample, sample],
        criteria={"novelty": Stat(mean=7.5, std=0.0)},
        overall=Stat(mean=overall, std=0.25),
        injection=["asks the reviewer for a high score"] if overall > 9 else [],
    )


def test_reviews_by_paper(store):
    assert store.reviews_for_day(DAY) == {}
    a, b = _review("2402.00001", 6.5), _review("2402.00002", 9.5)
    store.save_review(a)
    store.save_review(b)
    again = _review("2402.00001", 7.0)
    store.save_review(again)  # a rerun replaces the paper's review
    assert store.reviews_for_day(DAY) == {"2402.00001": again, "2402.00002": b}
    assert store.reviews_for_day(DAY + timedelta(days=1)) == {}


def test_tournament_round_trip(store):
    assert store.get_tournament(DAY) is None
    tournament = Tournament(
        day=DAY,
        model="gpt-test",
        participants=["2402.00001", "2402.00002"],
        comparisons=[
            Comparison(first="2402.00001", second="2402.00002", winner="2402.00002"),
            Comparison(first="2402.00002", second="2402.00001", error="timeout"),
        ],
        strength={"2402.00001": 0.3333333333333333, "2402.00002": 0.6666666666666666},
    )
    store.save_tournament(tournament)
    assert store.get_tournament(DAY) == tournament
    assert store.get_tournament(DAY + timedelta(days=1)) is None


def test_llm_calls_oldest_first(store):
    calls = [
        LLMCall(
            day=DAY,
            step=step,
            model="gpt-test",
            prompt_tokens=100 + n,
            completion_tokens=20,
            cost_usd=0.0015,
            at=T1 + timedelta(seconds=n),
        )
        for n, step in enumerate(["review", "review", "compare"])
    ]
    calls.append(calls[0].model_copy(update={"ok": False, "error": "refused", "cost_usd": 0.0}))
    for call in reversed(calls):  # recorded out of order (parallel review threads)
        store.record_llm_call(call)
    store.record_llm_call(calls[0].model_copy(update={"day": DAY + timedelta(days=1)}))
    got = store.llm_calls_for_day(DAY)
    assert [c.at for c in got] == sorted(c.at for c in calls)  # oldest first
    assert sorted(got, key=repr) == sorted(calls, key=repr)  # equal times: both kept
    assert store.llm_calls_for_day(DAY - timedelta(days=1)) == []


# -- the day's record ----------------------------------------------------------------------


def test_day_state_round_trip(store):
    assert store.get_day_state(DAY) is None
    pending = DayState(day=DAY, attempts=1, updated_at=T1)
    store.save_day_state(pending)
    assert store.get_day_state(DAY) == pending
    done = DayState(
        day=DAY,
        status="partial",
        failed_sources=["arxiv:cs.LG"],
        notes=["arxiv:cs.LG: HTTP 503", "skipped 2402.00001: trained on 2024-02-28"],
        report_uri="s3://bucket/reports/2024-02-29/report.html",
        digest_sent_at=T2,
        attempts=2,
        updated_at=T2,
    )
    store.save_day_state(done)  # a plain put: the whole record replaced
    assert store.get_day_state(DAY) == done
    assert store.get_day_state(DAY + timedelta(days=1)) is None


def test_day_states_since_newest_first(store):
    days = [DAY - timedelta(days=n) for n in (3, 0, 1, 7)]
    for n, day in enumerate(days):
        store.save_day_state(DayState(day=day, status="complete", attempts=n))
    assert [s.day for s in store.day_states_since(DAY - timedelta(days=3))] == [
        DAY,
        DAY - timedelta(days=1),
        DAY - timedelta(days=3),  # `since` itself included
    ]
    assert store.day_states_since(DAY)[0] == DayState(day=DAY, status="complete", attempts=1)
    assert store.day_states_since(DAY + timedelta(days=1)) == []
    assert len(store.day_states_since(date(2000, 1, 1))) == 4
