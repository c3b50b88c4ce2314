"""The pipeline steps with local adapters and a recording training backend."""

import json

import pytest
from paperfoundry import pipeline
from paperfoundry.adapters.local.blobs import FileBlobStore
from paperfoundry.adapters.local.queue import InProcessQueue
from paperfoundry.adapters.local.sqlite_store import SqliteStore
from paperfoundry.config import Config
from paperfoundry.models import Implementation, SourceStatus, TrainingRun, Verdict
from paperfoundry.training import apply_metrics

from .factories import BASED, CRYPTO, DAY, GNN

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


class RecordingBackend:
    """Completes every run with a fixed metrics.json, counting submissions."""

    name = "recording"

    def __init__(self):
        self.submitted: list[str] = []

    def submit(self, run: TrainingRun, implementation: Implementation) -> TrainingRun:
        self.submitted.append(run.run_id)
        metrics = {
            "status": "ok",
            "verdict": VERDICT,
            "wall_seconds": 1.0,
            "curves": {"baseline": {"0": {"step": [0, 1], "loss": [2.0, 1.0]}}},
        }
        return apply_metrics(run, metrics)


class Notes:
    def __init__(self):
        self.sent = []

    def notify(self, subject, text, report_uri=None):
        self.sent.append((subject, text, report_uri))


@pytest.fixture
def env(tmp_path):
    store = SqliteStore(tmp_path / "pf.sqlite")
    yield store, FileBlobStore(tmp_path), InProcessQueue(), tmp_path
    store.close()


def run_day(store, blobs, queue, backend, notifier, *, force=False):
    config = Config()
    config.selection.max_picks = 2
    config.selection.min_score = 0.0
    config.interests.topics = ["linear attention recall language models"]
    statuses = [
        SourceStatus(name="huggingface", ok=True, papers=3),
        SourceStatus(name="arxiv", ok=False, error="arxiv: HTTP 503 after 4 attempts"),
    ]
    pipeline.ingest(
        DAY, [BASED, GNN, CRYPTO], statuses, store=store, blobs=blobs, queue=queue, config=config
    )
    context = pipeline.load_context(blobs, DAY)
    for message in queue.drain():
        pipeline.rank(DAY, message["arxiv_id"], store=store, context=context)
    assert pipeline.ranking_complete(DAY, store=store, context=context)
    picks, notes = pipeline.select(DAY, store=store, config=config)
    for pick in picks:
        impl = pipeline.implement_pick(pick, store=store)
        pipeline.train(pick, impl, store=store, backend=backend, budget="tiny", force=force)
    assert pipeline.day_finished(DAY, store=store)
    report = pipeline.build_report(DAY, store=store, notes=notes)
    uri = pipeline.publish(report, blobs=blobs, notifier=notifier, prefix="")
    return report, uri


def test_day_end_to_end_and_rerun_is_idempotent(env):
    store, blobs, queue, root = env
    backend, notifier = RecordingBackend(), Notes()
    report, uri = run_day(store, blobs, queue, backend, notifier)

    assert [r.paper.arxiv_id for r in report.ranking][0] == BASED.arxiv_id
    picked = {p.pick.arxiv_id: p for p in report.picks}
    assert picked[BASED.arxiv_id].implementation.provenance == "reference"
    assert picked[BASED.arxiv_id].run.verdict == Verdict.model_validate(VERDICT)
    others = [p for p in report.picks if p.pick.arxiv_id != BASED.arxiv_id]
    assert others and all(p.implementation.reason == "no LLM configured" for p in others)
    assert report.failed_sources[0].name == "arxiv"
    saved = json.loads((root / DAY.isoformat() / "report.json").read_text())
    assert saved["picks"][0]["implementation"]["source_code"] is None  # code stays out of reports
    assert uri.endswith("report.html") and len(notifier.sent) == 1

    report2, _ = run_day(store, blobs, queue, backend, notifier)
    assert len(backend.submitted) == 1  # finished run not retrained
    assert len(store.papers_for_day(DAY)) == 3 and len(report2.ranking) == 3

    run_day(store, blobs, queue, backend, notifier, force=True)
    assert len(backend.submitted) == 2


def test_failed_backend_is_recorded_not_raised(env):
    store, blobs, queue, _ = env

    class Broken(RecordingBackend):
        def submit(self, run, implementation):
            raise OSError("no space left on device")

    report, _ = run_day(store, blobs, queue, Broken(), Notes())
    run = next(p.run for p in report.picks if p.run)
    assert run.status == "failed" and "no space left" in run.error and run.finished_at


def test_rank_of_unknown_paper_raises_lookup_error(env):
    store, blobs, queue, _ = env
    pipeline.ingest(DAY, [BASED], [], store=store, blobs=blobs, queue=queue, config=Config())
    with pytest.raises(LookupError):
        pipeline.rank(DAY, "2401.99999", store=store, context=pipeline.load_context(blobs, DAY))


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


def test_failed_run_is_retrained_as_a_new_attempt(env):
    store, blobs, queue, _ = env

    class FailsOnce(RecordingBackend):
        def submit(self, run, implementation):
            self.submitted.append(run.run_id)
            if len(self.submitted) == 1:
                raise TimeoutError("spot capacity")
            return super().submit(run, implementation)

    backend = FailsOnce()
    first, _ = run_day(store, blobs, queue, backend, Notes())
    second, _ = run_day(store, blobs, queue, backend, Notes())
    run1 = next(p.run for p in first.picks if p.run)
    run2 = next(p.run for p in second.picks if p.run)
    assert (run1.status, run1.attempt) == ("failed", 1)
    assert (run2.status, run2.attempt) == ("completed", 2)
    assert run2.run_id == run1.run_id
