"""The Lambda handlers on moto: the state machine's steps (`handlers/steps.py`), the start
of the day's executions, the watchdog, the rank fan-out and the Slack subscriber.

The day as a whole (the real state machine definition) is in test_day_machine.py; here
each handler is called as Lambda calls it, one event at a time."""

from __future__ import annotations

import io
import json
import tarfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import get_args

import httpx
import pytest
import respx
from paperfoundry import chain, pipeline
from paperfoundry.adapters.aws import secrets
from paperfoundry.adapters.aws.sagemaker import model_artifact_key
from paperfoundry.models import (
    DayState,
    Implementation,
    Paper,
    Pick,
    SourceSignals,
    SourceStatus,
    TrainingRun,
)
from paperfoundry.sources import arxiv
from paperfoundry.sources.arxiv import FEED_URL
from paperfoundry.sources.huggingface import API_URL
from paperfoundry.training import run_id_for
from pydantic import ValidationError

from .conftest import BUCKET, queue_arn, sqs_event
from .dynamo_table import REGION
from .harness import metrics_json, model_tar_gz

DAY = date(2024, 2, 29)  # a Thursday
FRIDAY = date(2024, 3, 1)
SATURDAY = date(2024, 3, 2)
SOURCES = Path(__file__).resolve().parent.parent / "fixtures" / "sources"
SITE = "https://reports.example.org"
ENDED_MS = 1709230800000  # 2024-02-29T18:20:00Z, as Step Functions passes SageMaker's times
ENDED = datetime(2024, 2, 29, 18, 20, tzinfo=UTC)
STATES_ROLE = "arn:aws:iam::123456789012:role/paperfoundry-states"


@pytest.fixture(autouse=True)
def _fresh_arxiv_rate_limiter():
    arxiv.RATE_LIMITER.reset()
    yield
    arxiv.RATE_LIMITER.reset()


@pytest.fixture
def env(handler_env, monkeypatch):
    from handlers import steps

    monkeypatch.setenv("ARXIV_CATEGORIES", "cs.LG")
    monkeypatch.setenv("STEPS", ",".join(get_args(steps.Step)))
    handler_env.settings.arxiv_categories = ["cs.LG"]
    return handler_env


def _paper(pid: str, *, day: date = DAY, upvotes: int = 3) -> Paper:
    return Paper(
        arxiv_id=pid,
        title=f"Paper {pid}",
        abstract="attention",
        day=day,
        signals={"huggingface": SourceSignals(source="huggingface", upvotes=upvotes)},
    )


def emitted(capsys) -> dict[str, float]:
    """The metrics the handlers flushed since the last call (CloudWatch EMF lines on
    stdout), summed by name."""
    values: dict[str, float] = {}
    for line in capsys.readouterr().out.splitlines():
        try:
            blob = json.loads(line)
        except ValueError:
            continue
        if not isinstance(blob, dict) or "_aws" not in blob:
            continue
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                value = blob[metric["Name"]]
                value = sum(value) if isinstance(value, list) else value
                values[metric["Name"]] = values.get(metric["Name"], 0) + value
    return values


def step(event: dict, context):
    """Invoke the step Lambda; what it returns must survive Lambda's JSON encoding."""
    from handlers import steps

    result = steps.handler(event, context)
    assert json.loads(json.dumps(result)) == result
    return result


# -- rank (SQS fan-out) -----------------------------------------------------------------


def test_rank_rejects_malformed_bodies_only(env, aws, lambda_context):
    from handlers import rank

    pipeline.ingest(
        DAY,
        [_paper("2402.00001")],
        [],
        store=env.store,
        blobs=env.blobs,
        queue=env.queue,
        config=env.config,
    )
    aws.sqs.send_message(QueueUrl=aws.queue_url, MessageBody=json.dumps({"day": "2024-02-29"}))
    aws.sqs.send_message(
        QueueUrl=aws.queue_url,
        MessageBody=json.dumps({"day": "2024-02-29", "arxiv_id": "2402.99999"}),
    )
    aws.sqs.send_message(QueueUrl=aws.queue_url, MessageBody="not json")
    messages = aws.receive(aws.queue_url)
    assert len(messages) == 4
    response = rank.handler(sqs_event(messages, queue_arn(aws, aws.queue_url)), lambda_context)
    bad = {m["MessageId"] for m in messages if "2402.00001" not in m["Body"]}
    assert len(bad) == 3
    assert {f["itemIdentifier"] for f in response["batchItemFailures"]} == bad
    [score] = env.store.scores_for_day(DAY)
    assert score.arxiv_id == "2402.00001"


def test_rank_redelivery_keeps_the_first_score(env, aws, lambda_context):
    from handlers import rank

    pipeline.ingest(
        DAY,
        [_paper("2402.00001"), _paper("2402.00002", upvotes=50)],
        [],
        store=env.store,
        blobs=env.blobs,
        queue=env.queue,
        config=env.config,
    )
    messages = aws.receive(aws.queue_url)
    assert len(messages) == 2
    arn = queue_arn(aws, aws.queue_url)
    assert rank.handler(sqs_event(messages, arn), lambda_context)["batchItemFailures"] == []
    first = {s.arxiv_id: s for s in env.store.scores_for_day(DAY)}
    # the same batch again (visibility timeout passed before the delete): no failure
    assert rank.handler(sqs_event(messages, arn), lambda_context)["batchItemFailures"] == []
    assert {s.arxiv_id: s for s in env.store.scores_for_day(DAY)} == first


def test_rank_downloads_the_day_context_once_per_container(env, aws, lambda_context, monkeypatch):
    from handlers import rank

    cache = pipeline.ContextCache()
    monkeypatch.setattr(rank, "_contexts", cache)
    papers = [_paper(f"2402.{i:05d}", upvotes=i) for i in range(1, 25)]
    pipeline.ingest(
        DAY, papers, [], store=env.store, blobs=env.blobs, queue=env.queue, config=env.config
    )
    arn = queue_arn(aws, aws.queue_url)
    messages = {}
    while len(messages) < 24 and (batch := aws.receive(aws.queue_url)):
        messages |= {m["Body"]: m for m in batch}
    messages = list(messages.values())
    assert len(messages) == 24
    gets = []
    original = env.blobs.client.get_object
    monkeypatch.setattr(
        env.blobs.client, "get_object", lambda **kw: gets.append(kw) or original(**kw)
    )
    for i in range(0, 24, 3):  # eight batches of three, as SQS might deliver them
        response = rank.handler(sqs_event(messages[i : i + 3], arn), lambda_context)
        assert response["batchItemFailures"] == []
    assert len(env.store.scores_for_day(DAY)) == 24
    assert cache.downloads == 1
    # one conditional GET per batch: the first reads the body, the others get 304
    assert len(gets) == 8 and "IfNoneMatch" not in gets[0]
    assert all(g["IfNoneMatch"] for g in gets[1:])
    # a fan-out again (a re-scrape added a paper) rewrites the context: read again once
    pipeline.ingest(
        DAY,
        [_paper("2402.00099")],
        [],
        store=env.store,
        blobs=env.blobs,
        queue=env.queue,
        config=env.config,
    )
    new = [m for m in aws.receive(aws.queue_url) if "2402.00099" in m["Body"]]
    assert new
    assert rank.handler(sqs_event(new, arn), lambda_context)["batchItemFailures"] == []
    assert cache.downloads == 2 and len(env.store.scores_for_day(DAY)) == 25


# -- steps: the handler ------------------------------------------------------------------


def test_a_step_this_function_does_not_run_is_refused(env, monkeypatch, lambda_context):
    from handlers import steps

    monkeypatch.setenv("STEPS", "plan_scrape,scrape,scrape_failed")
    with pytest.raises(PermissionError, match="ingest"):
        steps.handler({"step": "ingest", "day": DAY.isoformat()}, lambda_context)
    monkeypatch.setenv("STEPS", "")
    with pytest.raises(PermissionError):
        steps.handler({"step": "plan_scrape", "day": DAY.isoformat()}, lambda_context)
    assert env.store.get_day_state(DAY) is None


@pytest.mark.parametrize(
    "event",
    [
        {"step": "train_everything", "day": "2024-02-29"},
        {"step": "select", "day": "2024-02-29", "force": True},
        {"step": "select"},
        {"step": "select", "day": "yesterday"},
    ],
    ids=["unknown step", "extra key", "no day", "bad day"],
)
def test_a_malformed_step_event_is_a_validation_error(env, lambda_context, event):
    from handlers import steps

    with pytest.raises(ValidationError):
        steps.handler(event, lambda_context)
    assert env.store.picks_for_day(DAY) == []


# -- steps: scrape --------------------------------------------------------------------------


@respx.mock
def test_scrape_of_a_failing_source_stores_its_status_then_raises(env, lambda_context, capsys):
    route = respx.get(API_URL).mock(
        side_effect=[
            httpx.Response(503, headers={"Retry-After": "3600"}),
            httpx.Response(200, content=(SOURCES / "hf_day_p0.json").read_bytes()),
        ]
    )
    event = {"step": "scrape", "day": DAY.isoformat(), "unit": "huggingface"}
    with pytest.raises(chain.SourceUnavailable, match="huggingface"):
        step(event, lambda_context)
    # in a Lambda (a deadline) a Retry-After longer than one call waits fails at once:
    # Step Functions retries the unit later, for free, instead of a billed sleep
    assert route.call_count == 1
    [status] = env.store.sources_for_day(DAY)
    assert status.name == "huggingface" and status.ok is False
    assert "Retry-After 3600" in status.error
    assert env.store.papers_for_day(DAY) == []
    assert emitted(capsys)["SourceFailed"] == 1

    result = step(event, lambda_context)  # the state machine's retry
    assert result == {"unit": "huggingface", "ok": True, "papers": 2, "new": 2}
    [status] = env.store.sources_for_day(DAY)
    assert status.ok is True and status.papers == 2
    assert {p.arxiv_id for p in env.store.papers_for_day(DAY)} == {"2402.18668", "2402.17764"}


def test_scrape_failed_records_a_crashed_unit_once(env, lambda_context, capsys):
    error = {"Error": "Lambda.Unknown", "Cause": "The function ran out of memory"}
    out = step(
        {"step": "scrape_failed", "day": DAY.isoformat(), "unit": "arxiv:cs.LG", "error": error},
        lambda_context,
    )
    assert out == {"unit": "arxiv:cs.LG", "ok": False}
    [status] = env.store.sources_for_day(DAY)
    assert status.ok is False and status.error.startswith("step failed: Lambda.Unknown: ")
    # a unit that answered is not overwritten; a refresh unit leaves a note, not a status
    env.store.save_sources(DAY, [SourceStatus(name="huggingface", ok=True, papers=4)])
    for unit in ("huggingface", "huggingface@2024-02-28"):
        step(
            {"step": "scrape_failed", "day": DAY.isoformat(), "unit": unit, "error": error},
            lambda_context,
        )
    statuses = {s.name: s for s in env.store.sources_for_day(DAY)}
    assert set(statuses) == {"arxiv:cs.LG", "huggingface"} and statuses["huggingface"].ok
    assert any("huggingface@2024-02-28" in n for n in env.store.get_day_state(DAY).notes)
    assert emitted(capsys)["SourceFailed"] == 3


@respx.mock
def test_scrape_failed_after_the_last_retry_keeps_the_sources_own_error(env, lambda_context):
    respx.get(API_URL).mock(return_value=httpx.Response(503, headers={"Retry-After": "3600"}))
    event = {"step": "scrape", "day": DAY.isoformat(), "unit": "huggingface"}
    with pytest.raises(chain.SourceUnavailable) as raised:
        step(event, lambda_context)
    [stored] = env.store.sources_for_day(DAY)
    # what the Map iteration's Catch passes on: the Lambda's error, as Step Functions has it
    payload = {
        "errorMessage": str(raised.value),
        "errorType": "SourceUnavailable",
        "requestId": "5b441b59-a550-11e8-6564-f7e6d0d5bd3e",
        "stackTrace": ['  File "/var/task/handlers/steps.py", line 72, in run_step\n'],
    }
    error = {"Error": "SourceUnavailable", "Cause": json.dumps(payload)}
    step({**event, "step": "scrape_failed", "error": error}, lambda_context)
    [status] = env.store.sources_for_day(DAY)
    assert status.ok is False and status.error == stored.error


@respx.mock
def test_an_empty_weekend_day_is_scraped_ranked_and_reported(env, aws, lambda_context):
    respx.get(API_URL).mock(return_value=httpx.Response(200, json=[]))
    respx.get(FEED_URL.format(category="cs.LG")).mock(
        return_value=httpx.Response(200, content=(SOURCES / "arxiv_weekend_empty.rss").read_bytes())
    )
    day = SATURDAY.isoformat()
    units = step({"step": "plan_scrape", "day": day}, lambda_context)["units"]
    assert units == ["huggingface", "arxiv:cs.LG", "huggingface@2024-03-01"]
    for unit in units:
        assert step({"step": "scrape", "day": day, "unit": unit}, lambda_context)["ok"]
    ingested = step({"step": "ingest", "day": day}, lambda_context)
    assert ingested["papers"] == 0 and ingested["queued"] == 0
    assert ingested["status"] == "complete"
    assert aws.receive(aws.queue_url) == []
    progress = step(
        {"step": "ranking_progress", "day": day, "deadline": ingested["deadline"]},
        lambda_context,
    )
    assert progress == {"done": True, "scored": 0, "total": 0}
    assert step({"step": "review", "day": day}, lambda_context)["llm"] is False
    assert step({"step": "select", "day": day}, lambda_context) == {"picks": []}
    composed = step({"step": "report", "day": day}, lambda_context)
    assert composed["send"] is True  # "nothing today" still reaches the group
    assert "No paper was picked today." in composed["message"]


# -- steps: training ---------------------------------------------------------------------


def _picked(env, pid: str = "2402.18668") -> Implementation:
    env.store.upsert_papers([_paper(pid)])
    env.store.save_picks(DAY, [Pick(arxiv_id=pid, day=DAY, rank=1, score=0.7, gpu_minutes=20)])
    impl = Implementation(
        arxiv_id=pid,
        status="implemented",
        task="mqar",
        file_name="based.py",
        source_code="x = 1\n",
        sha256="a" * 64,
    )
    env.store.save_implementation(impl)
    return impl


def _running(env, pid: str = "2402.18668", **changes) -> TrainingRun:
    impl = _picked(env, pid)
    run_id = run_id_for(DAY, pid, "mqar")
    run = TrainingRun(
        run_id=run_id,
        arxiv_id=pid,
        day=DAY,
        task="mqar",
        budget="small",
        backend="sagemaker",
        status="running",
        job_name=run_id,
        code_sha256=impl.sha256,
        started_at=datetime(2024, 2, 29, 18, tzinfo=UTC),
    ).model_copy(update=changes)
    env.store.save_run(run)
    return run


def _described(job_name: str, status: str, failure_reason: str | None = None) -> dict:
    described = {
        "TrainingJobName": job_name,
        "TrainingJobStatus": status,
        "SecondaryStatus": status,
        "TrainingEndTime": ENDED_MS,
    }
    if failure_reason:
        described["FailureReason"] = failure_reason
    return described


def _finish(run: TrainingRun, **outcome) -> dict:
    return {
        "step": "finish_training",
        "day": run.day.isoformat(),
        "arxiv_id": run.arxiv_id,
        **outcome,
    }


def test_start_training_prepares_one_job_per_attempt(env, aws, lambda_context):
    _picked(env)
    event = {"step": "start_training", "day": DAY.isoformat(), "arxiv_id": "2402.18668"}
    started = step(event, lambda_context)
    run_id = run_id_for(DAY, "2402.18668", "mqar")
    assert started["train"] is True and started["run_id"] == run_id
    job = started["job"]
    assert job["TrainingJobName"] == run_id
    assert job["EnableNetworkIsolation"] is True and job["EnableManagedSpotTraining"] is True
    assert env.backend.client.created == []  # the state machine creates it (.sync)
    code = aws.s3.get_object(Bucket=BUCKET, Key=f"implementations/{run_id}/based.py")
    assert code["Body"].read() == b"x = 1\n"
    run = env.store.get_run(run_id)
    assert (run.status, run.attempt, run.job_name) == ("running", 1, run_id)
    assert run.code_sha256 == "a" * 64
    # a redriven execution waits for the job in flight instead of starting another
    again = step(event, lambda_context)
    assert again["job"]["TrainingJobName"] == run_id
    assert env.store.get_run(run_id).attempt == 1
    # that job failed: the next start is a new attempt with a new job name
    step(_finish(run, error={"Error": "States.TaskFailed", "Cause": "spot"}), lambda_context)
    retry = step(event, lambda_context)
    assert retry["job"]["TrainingJobName"] == f"{run_id}-a2"
    assert env.store.get_run(run_id).attempt == 2


def test_start_training_of_a_pick_without_code_trains_nothing(env, lambda_context):
    env.store.upsert_papers([_paper("2402.00001")])
    env.store.save_picks(
        DAY, [Pick(arxiv_id="2402.00001", day=DAY, rank=1, score=0.5, gpu_minutes=20)]
    )
    event = {"step": "start_training", "day": DAY.isoformat(), "arxiv_id": "2402.00001"}
    assert step(event, lambda_context) == {"train": False, "reason": "not implemented"}
    assert env.store.runs_for_day(DAY) == []


def test_finish_training_of_a_failed_job_keeps_its_failure_reason(env, lambda_context, capsys):
    run = _running(env)
    cause = json.dumps(
        _described(run.job_name, "Failed", "AlgorithmError: ExecuteUserScriptError: exit 2")
    )
    out = step(_finish(run, error={"Error": "States.TaskFailed", "Cause": cause}), lambda_context)
    assert out["status"] == "failed" and out["repair"] is False
    assert "ExecuteUserScriptError" in out["error"]
    stored = env.store.get_run(run.run_id)
    assert stored.status == "failed" and "ExecuteUserScriptError" in stored.error
    assert stored.finished_at == ENDED
    assert emitted(capsys)["TrainingJobsFailed"] == 1


def test_finish_training_of_a_job_that_never_started(env, lambda_context, capsys):
    run = _running(env)  # no such job in SageMaker (moto): CreateTrainingJob itself failed
    error = {"Error": "SageMaker.ResourceLimitExceededException", "Cause": "no spot quota"}
    out = step(_finish(run, error=error), lambda_context)
    assert out["status"] == "failed"
    assert "training job not started: SageMaker.ResourceLimitExceededException" in out["error"]
    metrics = emitted(capsys)
    assert metrics["TrainingJobsFailedToStart"] == 1 and metrics["TrainingJobsFailed"] == 1


def test_finish_training_of_a_completed_job_reads_its_results(env, aws, lambda_context, capsys):
    run = _running(env)
    aws.s3.put_object(
        Bucket=BUCKET, Key=model_artifact_key(run.job_name), Body=model_tar_gz(metrics_json())
    )
    out = step(_finish(run, result=_described(run.job_name, "Completed")), lambda_context)
    assert out == {
        "run_id": run.run_id,
        "status": "completed",
        "verdict": "better",
        "error": None,
        "repair": False,
    }
    assert env.store.get_run(run.run_id).verdict.outcome == "better"
    assert emitted(capsys)["TrainingJobsCompleted"] == 1
    # a retried step changes nothing
    assert step(_finish(run, result=_described(run.job_name, "Completed")), lambda_context) == out


def test_finish_training_of_a_job_still_running_raises(env, aws, lambda_context):
    from moto.sagemaker.models import sagemaker_backends

    run = _running(env)
    aws.sagemaker.create_training_job(
        **env.backend.job(run, env.store.get_implementation(run.arxiv_id))
    )
    sagemaker_backends["123456789012"][REGION].training_jobs[
        run.job_name
    ].training_job_status = "InProgress"
    with pytest.raises(chain.JobStillRunning):
        step(_finish(run), lambda_context)
    assert env.store.get_run(run.run_id).status == "running"


@pytest.mark.parametrize("shape", ["oversized", "many members"])
def test_finish_training_refuses_a_model_tar_gz_not_shaped_like_the_harness_output(
    env, aws, lambda_context, monkeypatch, shape
):
    """The job's code can write anything into SM_MODEL_DIR: the step checks the stored
    size before reading and the member count before taking metrics.json out."""
    from paperfoundry.adapters.aws import sagemaker as sagemaker_adapter

    run = _running(env)
    metrics = json.dumps(metrics_json()).encode()
    if shape == "oversized":
        body = model_tar_gz(metrics_json())
        monkeypatch.setattr(sagemaker_adapter, "MAX_ARCHIVE_BYTES", len(body) - 1)
    else:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for i in range(sagemaker_adapter.MAX_MEMBERS + 1):
                name = "metrics.json" if i == 0 else f"f{i}"
                info = tarfile.TarInfo(name)
                info.size = len(metrics)
                tar.addfile(info, io.BytesIO(metrics))
        body = buffer.getvalue()
    aws.s3.put_object(Bucket=BUCKET, Key=model_artifact_key(run.job_name), Body=body)
    out = step(_finish(run, result=_described(run.job_name, "Completed")), lambda_context)
    assert out["status"] == "failed" and out["verdict"] is None
    stored = env.store.get_run(run.run_id)
    assert stored.status == "failed" and stored.verdict is None
    assert "results refused" in stored.error


def test_job_runtime_is_clamped_to_the_ceiling_iam_enforces(env, monkeypatch):
    from handlers import _runtime

    assert env.backend.max_runtime_seconds == 30 * 60  # training.timeout_minutes
    monkeypatch.setenv("TRAINING_MAX_RUNTIME_SECONDS", "600")
    assert _runtime.Settings.from_env().training_max_runtime_seconds == 600
    clamped = _runtime.Runtime(_runtime.Settings.from_env(), clients=env.clients)
    assert clamped.backend.max_runtime_seconds == 600
    run = _running(env)
    request = clamped.backend.job(run, env.store.get_implementation(run.arxiv_id))
    assert request["StoppingCondition"]["MaxRuntimeInSeconds"] == 600
    assert request["StoppingCondition"]["MaxWaitTimeInSeconds"] >= 600
    assert request["EnableNetworkIsolation"] is True
    # a ceiling above what the config asks for changes nothing
    monkeypatch.setenv("TRAINING_MAX_RUNTIME_SECONDS", "7200")
    roomy = _runtime.Runtime(_runtime.Settings.from_env(), clients=env.clients)
    assert roomy.backend.max_runtime_seconds == 30 * 60


# -- steps: report ---------------------------------------------------------------------------


def _ranked_day(env) -> None:
    """Two papers scored for DAY, the sources answered, one pick without an implementation."""
    env.store.upsert_papers([_paper("2402.00001", upvotes=40), _paper("2402.00002")])
    env.store.save_sources(
        DAY,
        [
            SourceStatus(name="huggingface", ok=True, papers=2),
            SourceStatus(name="arxiv:cs.LG", ok=False, error="arxiv:cs.LG: HTTP 503"),
        ],
    )
    chain.ingest(
        chain.Ports(store=env.store, blobs=env.blobs, config=env.config, queue=env.queue), DAY
    )
    context = pipeline.load_context(env.blobs, DAY)
    for pid in ("2402.00001", "2402.00002"):
        pipeline.rank(DAY, pid, store=env.store, context=context)
    # a day with an implementer (an LLM): the pick is made, its code is still to come
    ports = chain.Ports(store=env.store, blobs=env.blobs, config=env.config)
    ports.implementer = lambda llm: object()
    chain.select(ports, DAY)


def test_report_composes_the_digest_until_it_was_published(env, aws, lambda_context, capsys):
    _ranked_day(env)
    event = {"step": "report", "day": DAY.isoformat()}
    composed = step(event, lambda_context)
    assert composed["send"] is True
    subject = composed["subject"]
    assert subject.isascii() and "\n" not in subject and 0 < len(subject) < 100
    assert subject.startswith("paperfoundry 2024-02-29: 2 papers, 1 pick")
    assert composed["report_key"] == "reports/2024-02-29/report.json"
    report = json.loads(aws.s3.get_object(Bucket=BUCKET, Key=composed["report_key"])["Body"].read())
    assert [p["pick"]["arxiv_id"] for p in report["picks"]] == ["2402.00001"]
    assert [s["name"] for s in report["sources"] if not s["ok"]] == ["arxiv:cs.LG"]
    # no site: a presigned link to the report
    assert composed["url"].startswith(f"https://{BUCKET}.s3.")
    assert "/reports/2024-02-29/report.html?" in composed["url"]
    assert "X-Amz-Signature=" in composed["url"]
    assert composed["url"] in composed["message"]
    # signed with a Lambda's (temporary) credentials: the digest says it may die sooner
    assert composed["message"].rstrip().endswith("expires with them.")
    # the site's front page lists the day
    index = aws.s3.get_object(Bucket=BUCKET, Key="reports/index.html")["Body"].read().decode()
    assert 'href="2024-02-29/report.html"' in index
    state = env.store.get_day_state(DAY)
    assert state.report_uri == composed["url"] and state.digest_sent_at is None

    assert step({"step": "published", "day": DAY.isoformat()}, lambda_context) == {
        "day": "2024-02-29"
    }
    assert env.store.get_day_state(DAY).digest_sent_at is not None
    assert emitted(capsys)["DigestsPublished"] == 1
    # a later execution (a backfill of the day) rewrites the report but sends no digest
    again = step(event, lambda_context)
    assert again["send"] is False and again["report_key"] == composed["report_key"]


def test_report_subject_is_one_short_ascii_line(env, lambda_context, monkeypatch):
    from paperfoundry import reporting

    _ranked_day(env)
    original = reporting.digest_text

    def long_subject(report, url):
        _, message = original(report, url)
        return "paperfoundry 2024-02-29: Ünïcödé —\nsecond line\t" + "x" * 300, message

    monkeypatch.setattr(reporting, "digest_text", long_subject)
    subject = step({"step": "report", "day": DAY.isoformat()}, lambda_context)["subject"]
    assert subject.isascii() and "\n" not in subject and "\t" not in subject
    assert len(subject) < 100
    assert subject.startswith("paperfoundry 2024-02-29: ")
    assert "second line x" in subject


def test_report_links_the_report_site_when_there_is_one(env, monkeypatch, lambda_context):
    from handlers import _runtime

    monkeypatch.setenv("SITE_URL", SITE)
    _runtime.reset_runtime(_runtime.Runtime(_runtime.Settings.from_env(), clients=env.clients))
    _ranked_day(env)
    composed = step({"step": "report", "day": DAY.isoformat()}, lambda_context)
    # the site serves s3://<bucket>/reports/<path> as <site>/<path> (stacks/site.py)
    assert composed["url"] == f"{SITE}/2024-02-29/report.html"
    assert composed["report_key"] == "reports/2024-02-29/report.json"
    assert composed["url"] in composed["message"]
    assert "This link works until" not in composed["message"]  # it does not expire


def test_publish_failed_is_counted_and_leaves_the_digest_unsent(env, lambda_context, capsys):
    error = {"Error": "SNS.AuthorizationErrorException", "Cause": "not allowed"}
    out = step({"step": "publish_failed", "day": DAY.isoformat(), "error": error}, lambda_context)
    assert out == {"published": False}
    assert emitted(capsys)["PublishFailed"] == 1
    state = env.store.get_day_state(DAY)
    assert state is None or state.digest_sent_at is None


# -- start: the day's executions -----------------------------------------------------------


@pytest.fixture
def machine(env, aws, monkeypatch):
    """A state machine on moto (its definition does not matter here) and a fixed today."""
    import boto3
    from handlers import start

    sfn = boto3.client("stepfunctions", region_name=REGION)
    definition = {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}
    arn = sfn.create_state_machine(
        name="paperfoundry-day", definition=json.dumps(definition), roleArn=STATES_ROLE
    )["stateMachineArn"]
    monkeypatch.setenv("STATE_MACHINE_ARN", arn)
    monkeypatch.setattr(start, "utc_today", lambda: FRIDAY)
    sfn.arn = arn
    return sfn


def _executions(sfn) -> dict[str, dict]:
    listed = sfn.list_executions(stateMachineArn=sfn.arn)["executions"]
    return {
        e["name"]: json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"])
        for e in listed
    }


def test_start_runs_today_and_backfills_unfinished_weekdays(env, machine, lambda_context, capsys):
    from handlers import start

    env.store.save_day_state(DayState(day=DAY, status="complete", attempts=1, report_uri="r"))
    env.store.save_day_state(DayState(day=date(2024, 2, 28), status="partial", attempts=1))
    env.store.save_day_state(DayState(day=date(2024, 2, 26), status="failed", attempts=2))
    result = start.handler({"backfill_days": 4}, lambda_context)
    names = ["2024-03-01", "2024-02-28-r1", "2024-02-27", "2024-02-26-r2"]
    assert [s["name"] for s in result["started"]] == names
    executions = _executions(machine)
    assert set(executions) == set(names)
    assert executions["2024-02-28-r1"] == {"day": "2024-02-28", "poll_seconds": 60}
    attempts = {d: s.attempts for d in (FRIDAY, date(2024, 2, 28), date(2024, 2, 27))
                if (s := env.store.get_day_state(d))}  # fmt: skip
    assert attempts == {FRIDAY: 1, date(2024, 2, 28): 2, date(2024, 2, 27): 1}
    assert emitted(capsys)["ExecutionsStarted"] == 4


def test_start_skips_weekends_nothing_was_missed_on(env, machine, monkeypatch, lambda_context):
    from handlers import start

    monday = date(2024, 3, 4)
    monkeypatch.setattr(start, "utc_today", lambda: monday)
    env.store.save_day_state(DayState(day=FRIDAY, status="complete", attempts=1, report_uri="r"))
    result = start.handler({"backfill_days": 3}, lambda_context)
    assert [s["name"] for s in result["started"]] == ["2024-03-04"]


def test_start_skips_a_name_step_functions_has_seen(env, machine, lambda_context):
    from handlers import start

    # someone started today's execution by hand, with other input
    machine.start_execution(
        stateMachineArn=machine.arn, name="2024-03-01", input=json.dumps({"day": "2024-03-01"})
    )
    result = start.handler({"backfill_days": 1}, lambda_context)  # Thursday is missing too
    assert result == {"started": [{"day": "2024-02-29", "name": "2024-02-29"}]}
    assert set(_executions(machine)) == {"2024-03-01", "2024-02-29"}
    assert env.store.get_day_state(FRIDAY) is None  # not counted as an attempt of ours


@pytest.mark.parametrize("event", [{"backfill_days": 0}, {"day": "2024-03-01"}])
def test_a_second_start_the_same_day_starts_nothing(env, machine, lambda_context, event):
    from handlers import start

    first = start.handler(event, lambda_context)
    assert [s["name"] for s in first["started"]] == ["2024-03-01"]
    second = start.handler(event, lambda_context)  # a duplicate schedule delivery
    assert second == {"started": []}
    assert set(_executions(machine)) == {"2024-03-01"}
    assert env.store.get_day_state(FRIDAY).attempts == 1


def test_start_backfills_as_far_as_the_stack_says(env, machine, lambda_context):
    from handlers import start

    assert env.settings.backfill_days == 0  # BACKFILL_DAYS=0 (conftest)
    result = start.handler({}, lambda_context)  # Thursday and before are missing
    assert [s["name"] for s in result["started"]] == ["2024-03-01"]


# -- watchdog -----------------------------------------------------------------------------


def test_watchdog_flags_a_day_without_a_digest(env, monkeypatch, lambda_context, capsys):
    from handlers import watchdog

    monkeypatch.setattr(watchdog, "utc_today", lambda: DAY)
    assert watchdog.handler({}, lambda_context) == {"digest_missing": True, "reconciled": []}
    assert emitted(capsys)["DigestMissing"] == 1
    env.store.save_day_state(DayState(day=DAY, status="complete", attempts=1, report_uri="r"))
    assert watchdog.handler({}, lambda_context)["digest_missing"] is True
    assert emitted(capsys)["DigestMissing"] == 1
    chain.published(chain.Ports(store=env.store, blobs=env.blobs, config=env.config), DAY)
    assert watchdog.handler({}, lambda_context)["digest_missing"] is False
    assert emitted(capsys)["DigestMissing"] == 0


def test_watchdog_collects_runs_whose_execution_is_gone(
    env, aws, monkeypatch, lambda_context, capsys
):
    from handlers import watchdog
    from moto.sagemaker.models import sagemaker_backends

    monkeypatch.setattr(watchdog, "utc_today", lambda: DAY + timedelta(days=2))
    # left running hours ago (its execution was stopped); its job ended in SageMaker
    stale = _running(env, "2402.18668")
    impl = env.store.get_implementation(stale.arxiv_id)
    aws.sagemaker.create_training_job(**env.backend.job(stale, impl))  # moto: Completed
    aws.s3.put_object(
        Bucket=BUCKET, Key=model_artifact_key(stale.job_name), Body=model_tar_gz(metrics_json())
    )
    # left running as long, but its job still trains
    busy = _running(env, "2402.00002")
    aws.sagemaker.create_training_job(**env.backend.job(busy, impl))
    jobs = sagemaker_backends["123456789012"][REGION].training_jobs
    jobs[busy.job_name].training_job_status = "InProgress"
    # started just now: its execution is waiting for it
    fresh = _running(env, "2402.00003", started_at=datetime.now(UTC))

    result = watchdog.handler({}, lambda_context)
    assert result["reconciled"] == [stale.run_id]
    collected = env.store.get_run(stale.run_id)
    assert collected.status == "completed" and collected.verdict.outcome == "better"
    assert env.store.get_run(busy.run_id).status == "running"
    assert env.store.get_run(fresh.run_id).status == "running"
    assert emitted(capsys)["RunsReconciled"] == 1
    # the next check finds nothing more to do
    assert watchdog.handler({}, lambda_context)["reconciled"] == []


def test_watchdog_fails_a_run_whose_job_never_existed_with_a_readable_error(
    env, monkeypatch, lambda_context
):
    from handlers import watchdog

    monkeypatch.setattr(watchdog, "utc_today", lambda: DAY)
    run = _running(env)  # no job of that name in SageMaker
    assert watchdog.handler({}, lambda_context)["reconciled"] == [run.run_id]
    stored = env.store.get_run(run.run_id)
    assert stored.status == "failed" and "training job not started" in stored.error
    assert "None" not in stored.error


# -- Slack --------------------------------------------------------------------------------


def _sns_event(message: str, report_uri: str | None, report_key: str | None = None) -> dict:
    attributes = {}
    if report_uri:
        attributes["report_uri"] = {"Type": "String", "Value": report_uri}
    if report_key:
        attributes["report_key"] = {"Type": "String", "Value": report_key}
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:topic:sub",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
                    "TopicArn": "arn:aws:sns:us-east-1:123456789012:topic",
                    "Subject": "paperfoundry 2024-02-29",
                    "Message": message,
                    "Timestamp": "2024-02-29T18:21:00.000Z",
                    "SignatureVersion": "1",
                    "Signature": "EXAMPLE",
                    "SigningCertUrl": "https://sns.us-east-1.amazonaws.com/cert.pem",
                    "UnsubscribeUrl": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
                    "MessageAttributes": attributes,
                },
            }
        ]
    }


@pytest.fixture
def slack_env(env, aws, monkeypatch):
    secrets.clear_cache()
    arn = aws.secrets.create_secret(
        Name="slack-webhook",
        SecretString=json.dumps({"url": "https://hooks.slack.test/services/fake/fake/fake"}),
    )["ARN"]
    env.settings.slack_webhook_secret_arn = arn
    yield env
    secrets.clear_cache()


@respx.mock
def test_slack_posts_block_kit_for_the_digest_the_state_machine_publishes(
    slack_env, lambda_context
):
    from handlers import slack

    _ranked_day(slack_env)
    composed = step({"step": "report", "day": DAY.isoformat()}, lambda_context)
    route = respx.post("https://hooks.slack.test/services/fake/fake/fake").mock(
        return_value=httpx.Response(200, text="ok")
    )
    # what the PublishDigest state sends (stacks/orchestration.py: sns:publish)
    event = _sns_event(composed["message"], composed["url"], composed["report_key"])
    assert slack.handler(event, lambda_context) == {"posted": 1}
    payload = json.loads(route.calls.last.request.content)
    assert "blocks" in payload
    assert composed["url"] in json.dumps(payload)


@respx.mock
def test_slack_falls_back_to_text_and_raises_on_errors(slack_env, lambda_context):
    from handlers import slack

    route = respx.post("https://hooks.slack.test/services/fake/fake/fake").mock(
        side_effect=[httpx.Response(200, text="ok"), httpx.Response(500, text="rollup_error")]
    )
    slack.handler(_sns_event("3 papers ranked", None), lambda_context)
    assert json.loads(route.calls.last.request.content)["text"].endswith("3 papers ranked")
    with pytest.raises(slack.SlackError, match="HTTP 500"):
        slack.handler(_sns_event("again", None), lambda_context)


@respx.mock
def test_slack_fallback_text_cannot_ping_mention_or_hide_links(slack_env, lambda_context):
    from handlers import slack

    route = respx.post("https://hooks.slack.test/services/fake/fake/fake").mock(
        return_value=httpx.Response(200, text="ok")
    )
    digest = (
        "1. Fast <!channel> attention <!here> by <@U123>: see <https://evil.example|click>\n"
        "2. R&D on a < b > c: 3 papers ranked, accuracy 0.91 vs 0.41 (better)"
    )
    slack.handler(_sns_event(digest, None), lambda_context)
    text = json.loads(route.calls.last.request.content)["text"]
    for live in ("<!channel>", "<!here>", "<@U123>", "<https://evil.example|click>"):
        assert live not in text
    assert "<" not in text and ">" not in text  # no Slack control sequence survives
    assert "&lt;!channel&gt;" in text and "&lt;@U123&gt;" in text
    assert "&lt;https://evil.example|click&gt;" in text
    # the rest reads as it did: Slack decodes exactly these three entities
    assert text.startswith("*paperfoundry 2024-02-29*\n1. Fast ")
    assert "R&amp;D on a &lt; b &gt; c: 3 papers ranked, accuracy 0.91 vs 0.41 (better)" in text
    unescaped = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    assert unescaped == f"*paperfoundry 2024-02-29*\n{digest}"
