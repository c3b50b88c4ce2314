"""The day's state machine, executed: the synthesised definition (`stacks.orchestration`)
runs on moto's Step Functions interpreter (`tests/aws/sfn.py`) with its Lambda tasks routed
to the real step handler (`handlers.steps`), the rank fan-out played from the moto SQS
queue through the real rank handler, the sources served by respx from recorded responses,
SageMaker's createTrainingJob.sync answered with a model.tar.gz in S3, and the digest
published to moto's SNS (an SQS subscriber counts it).

What must hold whatever goes wrong: the day completes with exactly one digest and at most
one training job per pick; failures are retried, then recorded and alarmed.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta

import httpx
import pytest
import respx
from paperfoundry import chain
from paperfoundry.sources import arxiv

from stacks.functions import SPECS
from stacks.orchestration import definition, lambda_steps

from .conftest import BUCKET, ROLE, TABLE
from .day_machine import (
    BASED,
    DAY,
    FIXTURES,
    FUNCTIONS,
    GROUP_CONFIG,
    Day,
    SandboxTimedout,
    asl,
    serve_sources,
)
from .sfn import sfn_harness


def test_the_definition_calls_the_chain_in_order_and_each_function_only_its_steps():
    steps = lambda_steps(definition())
    order = [s for _, s in steps if s in chain.DAY]
    assert list(dict.fromkeys(order)) == list(chain.DAY)
    for placeholder, step in steps:
        assert step in SPECS[FUNCTIONS[placeholder]].steps, (placeholder, step)


@pytest.fixture
def day(aws, handler_env, lambda_context, monkeypatch):
    aws.s3.put_object(Bucket=BUCKET, Key="config/paperfoundry.toml", Body=GROUP_CONFIG.encode())
    for key in ("MAX_PICKS", "GPU_MINUTES_BUDGET", "ARXIV_CATEGORIES"):
        monkeypatch.delenv(key, raising=False)  # the S3 config file rules
    handler_env.settings.max_picks = handler_env.settings.arxiv_categories = None
    handler_env.settings.gpu_minutes_budget = None
    monkeypatch.setattr(arxiv.RATE_LIMITER, "wait", lambda *a, **k: None)
    monkeypatch.setenv("SITE_URL", "https://reports.example.org")
    handler_env.settings.site_url = "https://reports.example.org"
    return Day(aws, handler_env, lambda_context)


@respx.mock
def test_a_whole_day_runs_every_step_once(day):
    serve_sources()
    execution = day.execute()

    assert execution.status == "SUCCEEDED", execution.failures
    digests = day.digests()
    assert len(digests) == 1
    body = json.loads(digests[0]["Body"])
    link = body["MessageAttributes"]["report_uri"]["Value"]
    assert link == f"https://reports.example.org/{DAY}/report.html"  # the site serves reports/
    assert link in body["Message"]
    assert [j["TrainingJobName"] for j in day.jobs] == [
        f"pf-20240229-{BASED.replace('.', '-')}-mqar"
    ]
    job = day.jobs[0]
    assert job["RoleArn"] == ROLE and job["EnableNetworkIsolation"] is True
    assert job["EnableManagedSpotTraining"] is True and job["CheckpointConfig"]["S3Uri"]
    store = day.rt.store
    state = store.get_day_state(DAY)
    assert state.status == "complete" and state.digest_sent_at is not None
    run = store.runs_for_day(DAY)[0]
    assert run.status == "completed" and run.verdict.outcome == "better"
    report = json.loads(
        day.aws.s3.get_object(Bucket=BUCKET, Key=f"reports/{DAY}/report.json")["Body"].read()
    )
    assert report["picks"][0]["run"]["status"] == "completed"
    assert len(report["ranking"]) == len(store.papers_for_day(DAY)) > 3
    assert execution.entered.count("Publish") == 1
    index = day.aws.s3.get_object(Bucket=BUCKET, Key="reports/index.html")["Body"].read()
    assert f'href="{DAY}/report.html"'.encode() in index


@respx.mock
def test_a_second_execution_of_the_day_is_refused(day):
    serve_sources()
    with sfn_harness(day.lambdas(), day.sagemaker) as harness:
        arn = harness.create(asl(day.aws.topic_arn))
        harness.wait(harness.start(arn, {"day": DAY.isoformat(), "poll_seconds": 0}, "2024-02-29"))
        with pytest.raises(harness.client.exceptions.ExecutionAlreadyExists):
            harness.start(arn, {"day": DAY.isoformat(), "poll_seconds": 0}, "2024-02-29")
    assert len(day.digests()) == 1 and len(day.jobs) == 1


def _writes(store) -> list[str]:
    return [name for name in dir(store) if name.startswith(("save_", "upsert_", "record_"))]


@respx.mock
def test_killed_after_any_write_the_day_still_finishes_once(day, monkeypatch):
    """Every side effect of a whole day (each store write, S3 put and SQS send), in turn,
    is followed by the death of its Lambda (rank included: its message is redelivered).
    The day must still end with one digest, one training job and the same picks and
    verdict as an undisturbed day."""
    serve_sources()
    store, blobs, queue = day.rt.store, day.rt.blobs, day.rt.queue
    counter = {"n": 0, "kill_at": None}
    targets = [(store, name) for name in _writes(store)] + [(blobs, "put"), (queue, "send")]

    def counted(original, name):
        def effect(*args, **kwargs):
            result = original(*args, **kwargs)
            counter["n"] += 1
            if counter["n"] == counter["kill_at"]:
                counter["in_rank"] = name == "save_score"
                raise SandboxTimedout(f"killed after side effect {counter['n']} ({name})")
            return result

        return effect

    for target, name in targets:
        monkeypatch.setattr(target, name, counted(getattr(target, name), name))
    baseline = day.execute(name="undisturbed")
    assert baseline.status == "SUCCEEDED"
    writes = counter["n"]
    expected = (store.picks_for_day(DAY), store.runs_for_day(DAY)[0].verdict)
    assert writes > 15 and len(day.digests()) == 1

    for kill_at in range(1, writes + 1):
        _reset(day, store)
        counter.update(n=0, kill_at=kill_at, in_rank=False)
        execution = day.execute(name=f"killed-{kill_at}")
        assert execution.status == "SUCCEEDED", (kill_at, execution.failures)
        killed = [f for f in execution.failures if f.get("error") == "SandboxTimedout"]
        assert killed or counter["in_rank"], kill_at  # rank's kills are SQS redeliveries
        assert len(day.digests()) == 1, kill_at
        assert len(day.jobs) == 1, kill_at
        assert (store.picks_for_day(DAY), store.runs_for_day(DAY)[0].verdict) == expected


def _reset(day: Day, store) -> None:
    """A fresh account for the next run: empty table, no jobs, no messages."""
    ddb = day.aws.dynamodb
    for item in ddb.scan(TableName=TABLE)["Items"]:
        ddb.delete_item(TableName=TABLE, Key={"pk": item["pk"], "sk": item["sk"]})
    day.jobs.clear()
    day.aws.drain(day.aws.queue_url)
    day.digests()


@respx.mock
def test_a_paper_in_the_dlq_delays_its_day_by_the_deadline_only(day):
    serve_sources()
    day.rank_fails = {BASED}
    started = time.monotonic()
    execution = day.execute()
    assert execution.status == "SUCCEEDED", execution.failures
    assert time.monotonic() - started < 30
    notes = day.rt.store.get_day_state(DAY).notes
    assert any("ranking incomplete: 1 paper(s) not ranked" in n and BASED in n for n in notes)
    assert len(day.digests()) == 1


@respx.mock
def test_too_many_unranked_papers_fail_the_day_loudly(day, aws):
    serve_sources()
    day.rank_fails = {p for p in _all_ids()}
    execution = day.execute()
    assert execution.status == "FAILED" and execution.error == "RankingIncomplete"
    assert day.digests() == []


def _all_ids() -> set[str]:
    items = json.loads((FIXTURES / "hf_day_p0.json").read_text())
    return {item["paper"]["id"] for item in items}


@respx.mock
def test_publish_failure_is_retried_then_recorded_and_the_execution_fails(day):
    serve_sources()
    missing_topic = day.aws.topic_arn + "-gone"
    execution = day.execute(topic_arn=missing_topic)
    assert execution.status == "FAILED" and execution.error == "PublishFailed"
    assert execution.attempts("Publish") == 6  # the first try and five retries
    assert "publish_failed" in day.calls
    assert day.rt.store.get_day_state(DAY).digest_sent_at is None


@respx.mock
def test_a_job_that_cannot_start_is_recorded_and_the_day_reported(day):
    serve_sources()

    def refuse(params):
        raise RuntimeError("ResourceLimitExceeded: no ml.g5.xlarge spot capacity quota")

    day.job_outcome = refuse
    execution = day.execute()
    assert execution.status == "SUCCEEDED", execution.failures
    assert execution.attempts("TrainingJob") == 3  # retried twice, then recorded
    run = day.rt.store.runs_for_day(DAY)[0]
    assert run.status == "failed" and "training job not started" in run.error
    assert len(day.digests()) == 1


@respx.mock
def test_a_failed_job_is_reported_with_its_reason(day):
    serve_sources()

    def fail(params):
        return {"TrainingJobName": params["TrainingJobName"], "TrainingJobStatus": "Failed",
                "FailureReason": "AlgorithmError: CUDA out of memory"}  # fmt: skip

    day.job_outcome = fail
    execution = day.execute()
    assert execution.status == "SUCCEEDED", execution.failures
    run = day.rt.store.runs_for_day(DAY)[0]
    assert run.status == "failed" and "CUDA out of memory" in run.error
    assert len(day.digests()) == 1


@respx.mock
def test_an_s3_failure_in_the_report_is_retried(day, monkeypatch):
    serve_sources()
    blobs = day.rt.blobs
    put = blobs.put
    failures = {"left": 2}

    def flaky_put(key, data, content_type="application/octet-stream"):
        if key.endswith("report.html") and failures["left"]:
            failures["left"] -= 1
            raise ConnectionError("S3: connection reset")
        return put(key, data, content_type)

    monkeypatch.setattr(blobs, "put", flaky_put)
    execution = day.execute()
    assert execution.status == "SUCCEEDED" and execution.attempts("Report") == 3
    assert len(day.digests()) == 1


@respx.mock
def test_one_category_down_makes_a_partial_day_that_a_later_start_completes(day, aws):
    serve_sources(arxiv_api=httpx.Response(503, headers={"Retry-After": "1"}))
    p = chain.Ports(store=day.rt.store, blobs=day.rt.blobs, config=day.rt.config)
    chain.mark_started(p, DAY)  # as the start Lambda does
    first = day.execute()
    assert first.status == "SUCCEEDED", first.failures
    assert first.attempts("ScrapeUnit") >= 4  # Hugging Face once, cs.LG four times
    state = day.rt.store.get_day_state(DAY)
    assert state.status == "partial" and state.failed_sources == ["arxiv:cs.LG"]
    hf_only = {p.arxiv_id for p in day.rt.store.papers_for_day(DAY)}
    assert len(day.digests()) == 1

    respx.get(arxiv.API_URL).mock(
        return_value=httpx.Response(
            200, content=(FIXTURES / "arxiv_api_cs_LG_2024-02-29.atom").read_bytes()
        )
    )
    assert chain.days_to_start(p, DAY + timedelta(days=1), 1)[1] == (DAY, "2024-02-29-r1")
    second = day.execute(name="2024-02-29-r1")
    assert second.status == "SUCCEEDED", second.failures
    state = day.rt.store.get_day_state(DAY)
    assert state.status == "complete" and state.failed_sources == []
    papers = {p.arxiv_id for p in day.rt.store.papers_for_day(DAY)}
    assert papers > hf_only  # the arXiv papers of the outage are in, none lost
    assert day.digests() == []  # the day's digest went out already; the report is updated
    report = json.loads(
        aws.s3.get_object(Bucket=BUCKET, Key=f"reports/{DAY}/report.json")["Body"].read()
    )
    assert {r["paper"]["arxiv_id"] for r in report["ranking"]} == papers


@respx.mock
def test_every_source_down_fails_the_day_and_a_backfill_loses_nothing(day):
    serve_sources(
        hf=httpx.Response(503, headers={"Retry-After": "1"}),
        arxiv_api=httpx.Response(503, headers={"Retry-After": "1"}),
    )
    first = day.execute()
    assert first.status == "FAILED" and first.error == "DayFailed"
    assert day.rt.store.get_day_state(DAY).status == "failed"
    assert day.digests() == [] and day.jobs == []

    respx.reset()
    serve_sources()
    second = day.execute(name="2024-02-29-r1")
    assert second.status == "SUCCEEDED", second.failures
    state = day.rt.store.get_day_state(DAY)
    assert state.status == "complete"
    ids = {p.arxiv_id for p in day.rt.store.papers_for_day(DAY)}
    assert _all_ids() <= ids and len(ids) > len(_all_ids())  # HF and the arXiv API's papers
    assert len(day.digests()) == 1 and len(day.jobs) == 1
