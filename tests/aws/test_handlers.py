"""Handler behaviours beyond the happy day: failing sources, stalled ranking, failed jobs,
stray events, the Slack subscriber."""

from __future__ import annotations

import io
import json
import tarfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import respx
from paperfoundry.adapters.aws import secrets
from paperfoundry.adapters.aws.sagemaker import model_artifact_key
from paperfoundry.models import Paper, Pick, Score, SourceSignals, TrainingRun
from paperfoundry.sources.arxiv import FEED_URL
from paperfoundry.sources.huggingface import API_URL
from paperfoundry.training import run_id_for

from .conftest import BUCKET, queue_arn, sqs_event
from .harness import metrics_json, model_tar_gz, state_change_event

DAY = date(2024, 2, 29)
SOURCES = Path(__file__).resolve().parent.parent / "fixtures" / "sources"


@pytest.fixture
def env(handler_env, monkeypatch):
    monkeypatch.setenv("ARXIV_CATEGORIES", "cs.LG")
    handler_env.settings.arxiv_categories = ["cs.LG"]
    return handler_env


def _paper(pid: str) -> Paper:
    return Paper(
        arxiv_id=pid,
        title=f"Paper {pid}",
        abstract="attention",
        day=DAY,
        signals={"huggingface": SourceSignals(source="huggingface", upvotes=3)},
    )


@respx.mock
def test_day_with_every_source_failing_is_retried_next_run(env, aws, lambda_context, monkeypatch):
    from handlers import scrape

    monkeypatch.setattr(scrape, "utc_today", lambda: DAY + timedelta(days=1))
    env.settings.backfill_days = 1
    respx.get(API_URL).mock(return_value=httpx.Response(404))
    respx.get(FEED_URL.format(category="cs.LG")).mock(return_value=httpx.Response(404))
    result = scrape.handler({}, lambda_context)
    assert [d["ok"] for d in result["days"]] == [False, False]
    assert not env.store.day_scraped(DAY)
    assert [s.ok for s in env.store.sources_for_day(DAY)] == [False, False]
    assert aws.receive(aws.queue_url) == []
    # next run: today plus the missed day again
    days = scrape.days_to_scrape(env, scrape.ScrapeRequest(), DAY + timedelta(days=1))
    assert days == [DAY + timedelta(days=1), DAY]


def test_rank_rejects_malformed_bodies_only(env, aws, lambda_context):
    from handlers import rank

    env.store.upsert_papers([_paper("2402.00001")])
    env.store.set_day_total(DAY, 1)
    from paperfoundry import pipeline

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
    messages = aws.receive(aws.queue_url)
    assert len(messages) == 3
    response = rank.handler(sqs_event(messages, queue_arn(aws, aws.queue_url)), lambda_context)
    bad = {m["MessageId"] for m in messages if "2402.00001" not in m["Body"]}
    assert {f["itemIdentifier"] for f in response["batchItemFailures"]} == bad
    assert env.store.day_progress(DAY) == (1, 1)


def test_timeout_trigger_selects_stalled_days_and_notes_unranked_papers(env, aws, lambda_context):
    from handlers import select

    env.store.upsert_papers([_paper("2402.00001"), _paper("2402.00002")])
    env.store.set_day_total(DAY, 2)
    env.store.save_score(Score(arxiv_id="2402.00001", day=DAY, total=0.5, components=[]))
    env.settings.stall_hours = -1  # "scraped long enough ago"
    result = select.handler({"trigger": "timeout"}, lambda_context)
    (day,) = result["days"]
    assert day["selected"] is True and day["picks"] == 1
    notes = env.store.get_day(DAY)["notes"]
    assert any("ranking incomplete: 1 paper(s)" in n and "2402.00002" in n for n in notes)
    # the pick has no implementation (not in the library, no LLM): the report goes out now
    report = json.loads(
        aws.s3.get_object(Bucket=BUCKET, Key="reports/2024-02-29/report.json")["Body"].read()
    )
    assert any("ranking incomplete" in n for n in report["notes"])
    assert len(aws.drain(aws.digest_queue_url)) == 1
    # a second sweep finds nothing left to do
    assert select.handler({"trigger": "timeout"}, lambda_context) == {"days": []}


def test_select_ignores_foreign_events(env, lambda_context):
    from handlers import select

    assert select.handler({"hello": "world"}, lambda_context)["days"] == []


def _running(env) -> TrainingRun:
    env.store.upsert_papers([_paper("2402.18668")])
    env.store.save_picks(
        DAY, [Pick(arxiv_id="2402.18668", day=DAY, rank=1, score=0.7, gpu_minutes=20)]
    )
    from paperfoundry.implement import Implementation

    env.store.save_implementation(
        Implementation(
            arxiv_id="2402.18668",
            status="implemented",
            task="mqar",
            file_name="based.py",
            source_code="x = 1\n",
        )
    )
    run = TrainingRun(
        run_id=run_id_for(DAY, "2402.18668", "mqar"),
        arxiv_id="2402.18668",
        day=DAY,
        task="mqar",
        budget="small",
        backend="sagemaker",
        status="running",
        job_name=run_id_for(DAY, "2402.18668", "mqar"),
        started_at=datetime(2024, 2, 29, 18, tzinfo=UTC),
    )
    env.store.save_run(run)
    return run


def test_failed_job_is_reported_with_its_failure_reason(env, aws, lambda_context):
    from handlers import report

    run = _running(env)
    event = state_change_event(
        run.job_name, "Failed", failure_reason="AlgorithmError: ExecuteUserScriptError: exit 2"
    )
    result = report.handler(event, lambda_context)
    assert result["status"] == "failed"
    stored = env.store.get_run(run.run_id)
    assert "ExecuteUserScriptError" in stored.error
    assert stored.finished_at == datetime(2024, 2, 29, 18, 20, tzinfo=UTC)
    assert len(aws.drain(aws.digest_queue_url)) == 1


@pytest.mark.parametrize("shape", ["oversized", "many members"])
def test_report_refuses_a_model_tar_gz_not_shaped_like_the_harness_output(
    env, aws, lambda_context, monkeypatch, shape
):
    """The job's code can write anything into SM_MODEL_DIR: the report Lambda checks the
    stored size before reading and the member count before taking metrics.json out."""
    from handlers import report
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
    result = report.handler(state_change_event(run.job_name, "Completed"), lambda_context)
    assert result["status"] == "failed"
    stored = env.store.get_run(run.run_id)
    assert stored.status == "failed" and stored.verdict is None
    assert "results refused" in stored.error
    assert len(aws.drain(aws.digest_queue_url)) == 1  # the day is still reported


def test_job_runtime_is_clamped_to_the_ceiling_iam_enforces(env, monkeypatch):
    from handlers import _runtime

    assert env.backend.max_runtime_seconds == 30 * 60  # training.timeout_minutes
    monkeypatch.setenv("TRAINING_MAX_RUNTIME_SECONDS", "600")
    assert _runtime.Settings.from_env().training_max_runtime_seconds == 600
    clamped = _runtime.Runtime(_runtime.Settings.from_env(), clients=env.clients)
    assert clamped.backend.max_runtime_seconds == 600
    run = _running(env)
    impl = env.store.get_implementation(run.arxiv_id)
    request = clamped.backend.job_request(run, impl, "implementations/x/")
    assert request["StoppingCondition"]["MaxRuntimeInSeconds"] == 600
    assert request["EnableNetworkIsolation"] is True


def test_report_ignores_unknown_jobs_and_non_terminal_states(env, aws, lambda_context):
    from handlers import report

    _running(env)
    assert (
        report.handler(state_change_event("someone-elses-job"), lambda_context)["status"]
        == "ignored"
    )
    in_progress = state_change_event(run_id_for(DAY, "2402.18668", "mqar"), "InProgress")
    assert report.handler(in_progress, lambda_context)["status"] == "ignored"
    assert report.handler({"source": "aws.s3"}, lambda_context)["status"] == "ignored"
    assert aws.drain(aws.digest_queue_url) == []


def _sns_event(message: str, report_uri: str | None) -> dict:
    attributes = {}
    if report_uri:
        attributes["report_uri"] = {"Type": "String", "Value": report_uri}
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
def test_slack_posts_the_block_kit_digest(slack_env, aws, lambda_context):
    from handlers import slack
    from paperfoundry import pipeline

    _running(slack_env)
    report = pipeline.build_report(DAY, store=slack_env.store)
    uri = pipeline.publish(report, blobs=slack_env.blobs, notifier=None)
    route = respx.post("https://hooks.slack.test/services/fake/fake/fake").mock(
        return_value=httpx.Response(200, text="ok")
    )
    assert slack.handler(_sns_event("digest", uri), lambda_context) == {"posted": 1}
    payload = json.loads(route.calls.last.request.content)
    assert "blocks" in payload


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


@respx.mock
def test_empty_day_is_recorded_and_reported_by_the_timeout_sweep(env, aws, lambda_context):
    from handlers import scrape, select

    saturday = date(2024, 3, 2)
    respx.get(API_URL).mock(return_value=httpx.Response(200, json=[]))
    respx.get(FEED_URL.format(category="cs.LG")).mock(
        return_value=httpx.Response(200, content=(SOURCES / "arxiv_weekend_empty.rss").read_bytes())
    )
    result = scrape.handler({"trigger": "schedule", "day": "2024-03-02"}, lambda_context)
    assert result["days"][0] == {"day": "2024-03-02", "ok": True, "papers": 0, "new": 0}
    assert env.store.day_progress(saturday) == (0, 0) and env.store.day_scraped(saturday)
    assert aws.receive(aws.queue_url) == []
    env.settings.stall_hours = -1
    (day,) = select.handler({"trigger": "timeout"}, lambda_context)["days"]
    assert day["selected"] is True and day["picks"] == 0
    assert len(aws.drain(aws.digest_queue_url)) == 1  # "nothing today" still reaches the group
