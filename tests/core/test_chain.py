"""The day's chain (`paperfoundry.chain`) in one process on the local adapters (SQLite,
files, the in-process queue) and a recording training backend; the test plays the
orchestrator (the local runner or the state machine) and the training job.

The real local backend (SubprocessTrainer + harness) is in test_subprocess_trainer.py;
the real state machine definition in tests/aws/test_day_machine.py."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from paperfoundry import chain, pipeline
from paperfoundry.adapters.local.blobs import FileBlobStore
from paperfoundry.adapters.local.queue import InProcessQueue
from paperfoundry.adapters.local.sqlite_store import SqliteStore
from paperfoundry.config import Config
from paperfoundry.models import (
    DayState,
    Implementation,
    SourceStatus,
    TrainingRun,
    Verdict,
)
from paperfoundry.sources.huggingface import API_URL
from paperfoundry.training import apply_metrics, job_name_for, run_id_for

from .factories import BASED, CRYPTO, DAY, GNN, paper

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "sources"
MORNING = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
ENDED = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)
PREVIOUS = DAY - timedelta(days=1)
BASED_RUN = run_id_for(DAY, BASED.arxiv_id, "mqar")

VERDICT = {
    "outcome": "better",
    "metric": "query_accuracy",
    "higher_is_better": True,
    "candidate_mean": 0.9,
    "baseline_mean": 0.6,
    "candidate_std": 0.01,
    "baseline_std": 0.02,
    "effect": 0.3,
    "toy_scale": True,
    "summary": "candidate better",
}
METRICS = {
    "status": "ok",
    "verdict": VERDICT,
    "wall_seconds": 1.0,
    "curves": {"baseline": {"0": {"step": [0, 1], "loss": [2.0, 1.0]}}},
}
STATUSES = [
    SourceStatus(name="huggingface", ok=True, papers=3),
    SourceStatus(name="arxiv:cs.LG", ok=False, error="arxiv:cs.LG: HTTP 503 after 4 attempts"),
]


class Clock:
    """The chain's clock, moved by the test."""

    def __init__(self, now: datetime = MORNING) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class RecordingBackend:
    """A `TrainingBackend` double. `job` names the attempt as SageMaker would; the test
    plays the job and hands its end to `collect` (a result: the harness's METRICS; an
    error: a failed run). Without either, `ended` says how each job ended (SageMaker's
    DescribeTrainingJob); a job not in it is still running."""

    name = "recording"

    def __init__(self) -> None:
        self.jobs: list[str] = []
        self.collected: list[str] = []
        self.ended: dict[str, str] = {}

    def job(self, run: TrainingRun, implementation: Implementation) -> dict[str, Any]:
        name = job_name_for(run.run_id, run.attempt)
        self.jobs.append(name)
        return {"TrainingJobName": name, "task": run.task, "impl": implementation.file_name}

    def collect(
        self,
        run: TrainingRun,
        *,
        result: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> TrainingRun:
        self.collected.append(run.job_name or run.run_id)
        if error is not None:
            reason = f"{error.get('Error')}: {error.get('Cause')}"
            return run.model_copy(
                update={"status": "failed", "error": reason, "finished_at": ENDED}
            )
        status = (result or {}).get("TrainingJobStatus") or self.ended.get(run.job_name or "")
        if status != "Completed":
            return run
        done = apply_metrics(run, METRICS)
        done.finished_at = ENDED
        return done


def completed(job: dict[str, Any]) -> dict[str, Any]:
    return {"result": {"TrainingJobName": job["TrainingJobName"], "TrainingJobStatus": "Completed"}}


@pytest.fixture
def p(tmp_path):
    store = SqliteStore(tmp_path / "pf.sqlite")
    config = Config()
    config.selection.max_picks = 2
    config.selection.min_score = 0.0
    config.interests.topics = ["linear attention recall language models"]
    config.sources.categories = ["cs.LG"]
    ports = chain.Ports(
        store=store,
        blobs=FileBlobStore(tmp_path),
        config=config,
        queue=InProcessQueue(),
        backend=RecordingBackend(),
        clock=Clock(),
        reports_prefix="",
    )
    yield ports
    store.close()


def scraped(p: chain.Ports, statuses: list[SourceStatus] = STATUSES) -> None:
    """What the scrape units leave behind: the papers and one status per unit."""
    p.store.upsert_papers([BASED, GNN, CRYPTO])
    p.store.save_sources(DAY, statuses)


def rank(p: chain.Ports, only: set[str] | None = None) -> None:
    """Drain the fan-out (SQS -> rank Lambda on AWS); `only` drops the other messages."""
    context = pipeline.load_context(p.blobs, DAY)
    for message in p.queue.drain():
        if only is None or message["arxiv_id"] in only:
            pipeline.rank(DAY, message["arxiv_id"], store=p.store, context=context)


def run_day(
    p: chain.Ports,
    *,
    force: bool = False,
    job_ends: Callable[[dict[str, Any]], dict[str, Any]] = completed,
) -> dict[str, Any]:
    """The day as the state machine runs it after the scrape; returns the report step's
    output (and publishes the digest when `send`)."""
    scraped(p)
    ingested = chain.ingest(p, DAY)
    rank(p)
    assert chain.ranking_progress(p, DAY, ingested["deadline"])["done"]
    assert chain.review(p, DAY) == {"llm": False, "notes": []}
    for arxiv_id in chain.select(p, DAY)["picks"]:
        if not chain.implement(p, DAY, arxiv_id)["implemented"]:
            continue
        started = chain.start_training(p, DAY, arxiv_id, force=force)
        if started["train"]:
            chain.finish_training(p, DAY, arxiv_id, **job_ends(started["job"]))
    composed = chain.report(p, DAY)
    if composed["send"]:
        chain.published(p, DAY)
    return composed


# -- the day ------------------------------------------------------------------------------


def test_day_end_to_end_and_rerun_is_idempotent(p, tmp_path):
    composed = run_day(p)
    assert composed["send"] is True
    assert composed["url"].endswith("2026-11-20/report.html")
    assert composed["report_key"] == "2026-11-20/report.json"
    assert composed["url"] in composed["message"]
    report = json.loads((tmp_path / composed["report_key"]).read_text())
    assert report["ranking"][0]["paper"]["arxiv_id"] == BASED.arxiv_id
    # no LLM: a paper without code would only come back "not implemented", so it is
    # passed over with a note and the pick slot stays free
    [based] = report["picks"]
    assert based["pick"]["arxiv_id"] == BASED.arxiv_id
    assert based["implementation"]["provenance"] == "reference"
    assert based["implementation"]["source_code"] is None  # code stays out of reports
    assert Verdict.model_validate(based["run"]["verdict"]) == Verdict.model_validate(VERDICT)
    assert any("no code without an LLM" in note for note in report["notes"])
    assert [s["name"] for s in report["sources"] if not s["ok"]] == ["arxiv:cs.LG"]
    assert 'href="2026-11-20/report.html"' in (tmp_path / "index.html").read_text()
    state = p.store.get_day_state(DAY)
    assert state.status == "partial" and state.failed_sources == ["arxiv:cs.LG"]
    assert state.digest_sent_at == MORNING and state.report_uri == composed["url"]
    assert p.backend.jobs == [BASED_RUN]

    # a second run of the day (a redriven execution, a backfill): nothing twice
    again = run_day(p)
    assert again["send"] is False  # the digest went out already
    assert p.backend.jobs == [BASED_RUN]  # the finished run is not retrained
    assert len(p.store.papers_for_day(DAY)) == 3 and len(p.store.scores_for_day(DAY)) == 3
    assert chain.ingest(p, DAY)["queued"] == 0  # every paper scored: no rank messages

    # the picks are chosen once: a config change does not move them unless forced
    picks = chain.select(p, DAY)["picks"]
    p.config.selection.max_picks = 1
    assert chain.select(p, DAY)["picks"] == picks
    assert chain.select(p, DAY, force=True)["picks"] == [BASED.arxiv_id]
    assert [x.arxiv_id for x in p.store.picks_for_day(DAY)] == [BASED.arxiv_id]

    # training again on request: a new attempt with a new job name
    run_day(p, force=True)
    assert p.backend.jobs == [BASED_RUN, f"{BASED_RUN}-a2"]
    assert p.store.get_run(BASED_RUN).attempt == 2


def test_a_failed_backend_job_is_recorded_not_raised(p):
    def no_space(job):
        return {"error": {"Error": "States.TaskFailed", "Cause": "no space left on device"}}

    composed = run_day(p, job_ends=no_space)
    run = p.store.get_run(BASED_RUN)
    assert run.status == "failed" and "no space left" in run.error
    assert run.finished_at == ENDED
    out = chain.finish_training(p, DAY, BASED.arxiv_id)  # a retried step: already finished
    assert out == {
        "run_id": BASED_RUN,
        "status": "failed",
        "verdict": None,
        "error": "States.TaskFailed: no space left on device",
        "repair": False,  # reference code: nothing to repair
    }
    assert composed["send"] is True  # the day is reported with the failed run
    assert p.backend.collected == [BASED_RUN]


def test_a_job_still_running_is_not_finished(p):
    scraped(p)
    chain.ingest(p, DAY)
    rank(p)
    chain.select(p, DAY)
    chain.implement(p, DAY, BASED.arxiv_id)
    chain.start_training(p, DAY, BASED.arxiv_id)
    in_progress = {"TrainingJobName": BASED_RUN, "TrainingJobStatus": "InProgress"}
    with pytest.raises(chain.JobStillRunning, match=BASED_RUN):
        chain.finish_training(p, DAY, BASED.arxiv_id, result=in_progress)
    assert p.store.get_run(BASED_RUN).status == "running"
    with pytest.raises(LookupError):
        chain.finish_training(p, DAY, GNN.arxiv_id)  # no run of that pick


def test_start_training_on_a_failed_run_starts_attempt_2_with_a_new_job_name(p):
    scraped(p)
    chain.ingest(p, DAY)
    rank(p)
    chain.select(p, DAY)
    chain.implement(p, DAY, BASED.arxiv_id)
    first = chain.start_training(p, DAY, BASED.arxiv_id)
    assert first["train"] is True and first["job"]["TrainingJobName"] == BASED_RUN
    run = p.store.get_run(BASED_RUN)
    assert (run.status, run.attempt, run.job_name, run.started_at) == (
        "running", 1, BASED_RUN, MORNING,
    )  # fmt: skip
    # asked again while that job runs (a redriven execution): the same job, no new attempt
    assert chain.start_training(p, DAY, BASED.arxiv_id)["job"] == first["job"]
    assert p.store.get_run(BASED_RUN).attempt == 1

    spot = {"Error": "States.TaskFailed", "Cause": "spot capacity"}
    assert chain.finish_training(p, DAY, BASED.arxiv_id, error=spot)["status"] == "failed"
    second = chain.start_training(p, DAY, BASED.arxiv_id)
    assert second["run_id"] == BASED_RUN
    assert second["job"]["TrainingJobName"] == f"{BASED_RUN}-a2"
    run = p.store.get_run(BASED_RUN)
    assert (run.status, run.attempt, run.error) == ("running", 2, None)
    done = chain.finish_training(p, DAY, BASED.arxiv_id, **completed(second["job"]))
    assert (done["status"], done["verdict"]) == ("completed", "better")
    assert p.store.get_run(BASED_RUN).attempt == 2
    assert chain.start_training(p, DAY, BASED.arxiv_id) == {
        "train": False,
        "run_id": BASED_RUN,
        "reason": "already trained",
    }


def test_implement_of_something_not_picked_is_refused(p):
    scraped(p)
    chain.ingest(p, DAY)
    rank(p)
    chain.select(p, DAY)
    with pytest.raises(LookupError, match="not a pick"):
        chain.implement(p, DAY, "2401.99999")


# -- ranking progress ---------------------------------------------------------------------


def _ingested(p: chain.Ports, ranked: set[str] | None = None) -> str:
    scraped(p)
    deadline = chain.ingest(p, DAY)["deadline"]
    assert datetime.fromisoformat(deadline) == MORNING + timedelta(minutes=60)
    rank(p, ranked)
    return deadline


def test_ranking_is_done_when_every_paper_is_scored(p):
    deadline = _ingested(p)
    assert chain.ranking_progress(p, DAY, deadline) == {"done": True, "scored": 3, "total": 3}


def test_ranking_is_not_done_before_the_deadline(p):
    deadline = _ingested(p, ranked={BASED.arxiv_id, GNN.arxiv_id})
    p.clock.now = MORNING + timedelta(minutes=59)
    assert chain.ranking_progress(p, DAY, deadline) == {"done": False, "scored": 2, "total": 3}
    assert chain.ranking_progress(p, DAY, None)["done"] is False  # no deadline: wait on


def test_ranking_goes_on_at_the_deadline_with_few_papers_missing(p):
    p.config.day.max_unranked_share = 0.5
    deadline = _ingested(p, ranked={BASED.arxiv_id, GNN.arxiv_id})
    p.clock.now = MORNING + timedelta(minutes=61)
    assert chain.ranking_progress(p, DAY, deadline) == {"done": True, "scored": 2, "total": 3}
    [note] = p.store.get_day_state(DAY).notes
    assert note == f"ranking incomplete: 1 paper(s) not ranked ({CRYPTO.arxiv_id})"
    report = json.loads(p.blobs.get(chain.report(p, DAY)["report_key"]))
    assert report["notes"] == [note]


def test_ranking_stops_the_day_at_the_deadline_with_too_many_missing(p):
    assert p.config.day.max_unranked_share == 0.05
    deadline = _ingested(p, ranked={BASED.arxiv_id, GNN.arxiv_id})
    p.clock.now = MORNING + timedelta(minutes=61)
    with pytest.raises(chain.RankingIncomplete, match=f"1 of 3 .*{CRYPTO.arxiv_id}"):
        chain.ranking_progress(p, DAY, deadline)


# -- ingest -------------------------------------------------------------------------------


def test_ingest_with_every_source_failed_fails_the_day(p):
    failed = [
        SourceStatus(name="huggingface", ok=False, error="huggingface: HTTP 500"),
        SourceStatus(name="arxiv:cs.LG", ok=False, error="arxiv:cs.LG: timed out"),
    ]
    scraped(p, failed)
    with pytest.raises(chain.DayFailed, match="huggingface: HTTP 500"):
        chain.ingest(p, DAY)
    state = p.store.get_day_state(DAY)
    assert state.status == "failed" and state.failed_sources == ["arxiv:cs.LG", "huggingface"]
    assert len(p.queue) == 0  # nothing to rank
    # no unit answered at all (none stored) fails the same way
    with pytest.raises(chain.DayFailed, match="no sources"):
        chain.ingest(p, DAY + timedelta(days=1))


def test_ingest_marks_the_day_partial_or_complete(p):
    scraped(p)
    out = chain.ingest(p, DAY)
    assert (out["papers"], out["queued"], out["status"]) == (3, 3, "partial")
    p.store.save_sources(DAY, [SourceStatus(name="arxiv:cs.LG", ok=True, papers=0)])
    rank(p)
    out = chain.ingest(p, DAY)  # the later retry of the day: the unit answered now
    assert (out["queued"], out["status"]) == (0, "complete")
    state = p.store.get_day_state(DAY)
    assert state.status == "complete" and state.failed_sources == []


# -- scrape -------------------------------------------------------------------------------


def test_plan_scrape_skips_units_done_and_refreshes_earlier_listings(p):
    p.config.sources.categories = ["cs.LG", "cs.CL"]
    assert chain.plan_scrape(p, DAY)["units"] == [
        "huggingface", "arxiv:cs.LG", "arxiv:cs.CL", f"huggingface@{PREVIOUS}",
    ]  # fmt: skip
    p.store.save_sources(
        DAY,
        [
            SourceStatus(name="huggingface", ok=True, papers=3),
            SourceStatus(name="arxiv:cs.LG", ok=False, error="arxiv:cs.LG: HTTP 503"),
        ],
    )
    p.config.day.refresh_days = 2
    assert chain.plan_scrape(p, DAY)["units"] == [
        "arxiv:cs.LG", "arxiv:cs.CL", f"huggingface@{PREVIOUS}", "huggingface@2026-11-18",
    ]  # fmt: skip
    p.config.sources.enabled = ["arxiv"]  # no Hugging Face: nothing to refresh
    assert chain.plan_scrape(p, DAY)["units"] == ["arxiv:cs.LG", "arxiv:cs.CL"]
    assert chain.plan_scrape(p, DAY, sample=True) == {"units": [chain.SAMPLE_UNIT]}


@respx.mock
def test_a_refresh_adds_new_papers_to_today_and_matures_known_ones(p):
    known = paper("2402.18668", "Simple linear attention", upvotes=5, comments=1, day=PREVIOUS)
    p.store.upsert_papers([known])
    p.store.save_sources(DAY, [SourceStatus(name="huggingface", ok=True, papers=0)])
    route = respx.get(API_URL).mock(
        return_value=httpx.Response(200, content=(FIXTURES / "hf_day_p0.json").read_bytes())
    )
    out = chain.scrape(p, DAY, f"huggingface@{PREVIOUS}")
    assert out == {"unit": f"huggingface@{PREVIOUS}", "ok": True, "papers": 2, "new": 1}
    assert route.calls.last.request.url.params["date"] == PREVIOUS.isoformat()
    matured = p.store.get_paper("2402.18668")
    assert matured.day == PREVIOUS  # stays on the day it was first listed
    assert matured.signals["huggingface"].upvotes == 19
    joined = p.store.get_paper("2402.17764")
    assert joined.day == DAY  # listed after that day's scrape: ranked today
    assert [x.arxiv_id for x in p.store.papers_for_day(DAY)] == ["2402.17764"]
    # a refresh is not one of the day's sources
    assert [s.name for s in p.store.sources_for_day(DAY)] == ["huggingface"]


@respx.mock
def test_a_failed_refresh_is_a_note_not_a_failed_day(p):
    respx.get(API_URL).mock(return_value=httpx.Response(503, headers={"Retry-After": "3600"}))
    deadline = time.monotonic() + 60  # with one, a long Retry-After fails at once
    out = chain.scrape(p, DAY, f"huggingface@{PREVIOUS}", deadline=deadline)
    assert out["ok"] is False and out["new"] == 0
    [note] = p.store.get_day_state(DAY).notes
    assert note.startswith(f"refresh of huggingface {PREVIOUS} failed: ")
    assert p.store.sources_for_day(DAY) == []


@respx.mock
def test_a_failed_unit_is_stored_then_raised_for_a_retry(p):
    respx.get(API_URL).mock(return_value=httpx.Response(503, headers={"Retry-After": "3600"}))
    with pytest.raises(chain.SourceUnavailable, match="huggingface"):
        chain.scrape(p, DAY, "huggingface", deadline=time.monotonic() + 60)
    [status] = p.store.sources_for_day(DAY)
    assert status.name == "huggingface" and not status.ok and "Retry-After" in status.error


# -- report -------------------------------------------------------------------------------


def test_report_is_sent_once(p):
    scraped(p)
    chain.ingest(p, DAY)
    rank(p)
    chain.select(p, DAY)
    first = chain.report(p, DAY)
    assert first["send"] is True
    assert chain.report(p, DAY)["send"] is True  # composed again: still not sent
    p.clock.now = ENDED
    assert chain.published(p, DAY) == {"day": DAY.isoformat()}
    assert p.store.get_day_state(DAY).digest_sent_at == ENDED
    second = chain.report(p, DAY)
    assert second["send"] is False and second["url"] == first["url"]
    chain.published(p, DAY)  # a retried step keeps the first time
    assert p.store.get_day_state(DAY).digest_sent_at == ENDED
    assert not chain.digest_missing(p, DAY) and chain.digest_missing(p, DAY + timedelta(1))


# -- outside the day ----------------------------------------------------------------------


def test_days_to_start_backfills_unfinished_weekdays(p):
    friday = DAY
    assert friday.weekday() == 4
    assert chain.days_to_start(p, friday, 3) == [
        (friday, "2026-11-20"),
        (friday - timedelta(1), "2026-11-19"),
        (friday - timedelta(2), "2026-11-18"),
        (friday - timedelta(3), "2026-11-17"),
    ]
    p.store.save_day_state(DayState(day=friday, status="complete", attempts=1, report_uri="r"))
    p.store.save_day_state(
        DayState(day=date(2026, 11, 19), status="complete", attempts=1, report_uri="r")
    )
    p.store.save_day_state(DayState(day=date(2026, 11, 18), status="partial", attempts=1))
    p.store.save_day_state(DayState(day=date(2026, 11, 17), status="failed", attempts=2))
    assert chain.days_to_start(p, friday, 3) == [
        (date(2026, 11, 18), "2026-11-18-r1"),
        (date(2026, 11, 17), "2026-11-17-r2"),
    ]
    assert chain.days_to_start(p, friday, 0) == []


def test_days_to_start_skips_weekends_nothing_was_missed_on(p):
    monday = date(2026, 11, 23)
    p.store.save_day_state(DayState(day=DAY, status="complete", attempts=1, report_uri="r"))
    assert chain.days_to_start(p, monday, 3) == [(monday, "2026-11-23")]
    # a weekend day that did run (by hand) and failed is retried like any other
    p.store.save_day_state(DayState(day=date(2026, 11, 21), status="failed", attempts=1))
    assert chain.days_to_start(p, monday, 3) == [
        (monday, "2026-11-23"),
        (date(2026, 11, 21), "2026-11-21-r1"),
    ]


def test_mark_started_counts_attempts(p):
    chain.mark_started(p, DAY)
    chain.mark_started(p, DAY)
    state = p.store.get_day_state(DAY)
    assert (state.attempts, state.status) == (2, "pending")


def test_days_to_start_does_not_start_today_twice(p):
    [(day, name)] = chain.days_to_start(p, DAY, 0)
    chain.mark_started(p, day)
    assert chain.days_to_start(p, DAY, 0) == []


def _stored_run(p: chain.Ports, arxiv_id: str, day: date, **changes) -> TrainingRun:
    run_id = run_id_for(day, arxiv_id, "mqar")
    run = TrainingRun(
        run_id=run_id, arxiv_id=arxiv_id, day=day, task="mqar", budget="tiny",
        backend="recording", status="running", job_name=run_id,
        started_at=MORNING - timedelta(hours=5),
    ).model_copy(update=changes)  # fmt: skip
    p.store.save_run(run)
    return run


def test_reconcile_runs_collects_stale_runs_whose_job_ended(p):
    ended = _stored_run(p, "2401.00001", DAY)
    busy = _stored_run(p, "2401.00002", DAY)
    fresh = _stored_run(p, "2401.00003", DAY, started_at=MORNING - timedelta(minutes=30))
    done = _stored_run(p, "2401.00004", DAY, status="completed")
    old = _stored_run(p, "2401.00005", DAY - timedelta(days=10))
    p.backend.ended = {r.job_name: "Completed" for r in (ended, fresh, done, old)}
    assert chain.reconcile_runs(p, DAY, 7, timedelta(hours=2)) == [ended.run_id]
    assert p.store.get_run(ended.run_id).status == "completed"
    assert p.store.get_run(ended.run_id).verdict.outcome == "better"
    assert p.store.get_run(busy.run_id).status == "running"
    assert p.store.get_run(fresh.run_id).status == "running"
    assert p.store.get_run(old.run_id).status == "running"  # outside the window
    assert sorted(p.backend.collected) == sorted([ended.job_name, busy.job_name])
    assert chain.reconcile_runs(p, DAY, 7, timedelta(hours=2)) == []


# -- pieces the chain relies on -----------------------------------------------------------


def test_rank_of_unknown_paper_raises_lookup_error(p):
    p.store.upsert_papers([BASED])
    p.store.save_sources(DAY, [SourceStatus(name="huggingface", ok=True, papers=1)])
    chain.ingest(p, DAY)
    with pytest.raises(LookupError):
        pipeline.rank(DAY, "2401.99999", store=p.store, context=pipeline.load_context(p.blobs, DAY))


def test_malformed_metrics_mark_run_failed():
    run = TrainingRun(
        run_id="r", arxiv_id=BASED.arxiv_id, day=DAY, task="mqar", budget="tiny", backend="x"
    )
    bad = apply_metrics(run, {"status": "ok", "verdict": {"outcome": "maybe"}})
    assert bad.status == "failed" and "unreadable metrics.json" in bad.error
    failed = apply_metrics(
        run,
        {"status": "failed", "failure": {"stage": "shape", "type": "ValueError", "message": "bad"}},
    )
    assert failed.status == "failed" and failed.failure.stage == "shape"
