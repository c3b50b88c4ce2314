"""A whole day through the real Lambda handlers on moto.

scheduled event -> scrape (HF + arXiv over respx) -> DynamoDB + SQS -> rank batches (one
poisoned message ends in the DLQ; partial batch failures name exactly it) -> DayRanked on
EventBridge (captured by a rule -> SQS) -> select -> SageMaker training job (spot,
isolation, checkpoints) -> model.tar.gz -> "SageMaker Training Job State Change" ->
report.json + report.html in S3 and the digest on SNS. Duplicate deliveries change nothing.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import httpx
import pytest
import respx
from paperfoundry.adapters.aws.sagemaker import model_artifact_key
from paperfoundry.sources import arxiv
from paperfoundry.sources.arxiv import FEED_URL
from paperfoundry.sources.huggingface import API_URL

from .conftest import BUCKET, MAX_RECEIVE, TABLE, queue_arn, sqs_event
from .harness import metrics_json, model_tar_gz, state_change_event

SOURCES = Path(__file__).resolve().parent.parent / "fixtures" / "sources"
DAY = date(2024, 2, 29)
BASED = "2402.18668"

SCHEDULED_EVENT = {
    "version": "0",
    "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
    "detail-type": "Scheduled Event",
    "source": "aws.scheduler",
    "account": "123456789012",
    "time": "2024-02-29T06:00:00Z",
    "region": "us-east-1",
    "resources": ["arn:aws:scheduler:us-east-1:123456789012:schedule/default/pf-daily"],
    "detail": "{}",
}

GROUP_CONFIG = """
[interests]
topics = ["efficient sequence models: linear attention, recall, state space models"]
keywords = ["linear attention", "recall", "sliding window attention"]

[selection]
max_picks = 3            # MAX_PICKS=1 from the environment wins
min_score = 0.0
"""


def mock_sources() -> None:
    respx.get(API_URL).mock(
        return_value=httpx.Response(200, content=(SOURCES / "hf_day_p0.json").read_bytes())
    )
    respx.get(FEED_URL.format(category="cs.LG")).mock(
        return_value=httpx.Response(200, content=(SOURCES / "arxiv_cs_LG.rss").read_bytes())
    )


def rank_until_empty(aws, rank_handler, ctx, arn):
    """Play the Lambda SQS poller: receive, invoke, delete what succeeded, repeat."""
    responses, failures = [], []
    for _ in range(50):
        messages = aws.receive(aws.queue_url)
        if not messages:
            break
        event = sqs_event(messages, arn)
        response = rank_handler(event, ctx)
        responses.append(response)
        failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
        for message in messages:
            if message["MessageId"] not in failed:
                aws.sqs.delete_message(
                    QueueUrl=aws.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
        failures.append(failed)
    return responses, failures


@pytest.fixture
def day_env(handler_env, monkeypatch, aws):
    monkeypatch.setenv("ARXIV_CATEGORIES", "cs.LG")  # one feed: no 3-second arXiv spacing
    handler_env.settings.arxiv_categories = ["cs.LG"]
    aws.s3.put_object(Bucket=BUCKET, Key="config/paperfoundry.toml", Body=GROUP_CONFIG.encode())
    arxiv.RATE_LIMITER.reset()
    import handlers.scrape

    monkeypatch.setattr(handlers.scrape, "utc_today", lambda: DAY)
    return handler_env


@respx.mock
def test_a_whole_day_on_aws(aws, day_env, lambda_context):
    from handlers import rank, report, scrape, select

    rt = day_env
    mock_sources()

    # -- scrape: papers stored, one rank message each, the day's total recorded ----------
    result = scrape.handler(SCHEDULED_EVENT, lambda_context)
    assert result["days"][0]["ok"] is True
    papers = rt.store.papers_for_day(DAY)
    ids = {p.arxiv_id for p in papers}
    assert BASED in ids and len(ids) >= 4
    assert rt.store.day_progress(DAY) == (0, len(ids))
    assert rt.config.selection.max_picks == 1  # S3 config loaded, env override applied
    assert aws.s3.head_object(Bucket=BUCKET, Key="days/2024-02-29/context.json")

    # a poisoned message and a duplicated one join the queue
    poison_body = "{not json"
    poison_id = aws.sqs.send_message(QueueUrl=aws.queue_url, MessageBody=poison_body)["MessageId"]
    aws.sqs.send_message(
        QueueUrl=aws.queue_url, MessageBody=json.dumps({"day": DAY.isoformat(), "arxiv_id": BASED})
    )

    # -- rank: partial batch failures name exactly the poisoned message ------------------
    arn = queue_arn(aws, aws.queue_url)
    responses, failures = rank_until_empty(aws, rank.handler, lambda_context, arn)
    assert responses
    for failed in failures:
        assert failed in (set(), {poison_id})  # exactly the poisoned message, nothing else
    assert failures.count({poison_id}) == MAX_RECEIVE  # retried, then dead-lettered
    dlq = aws.drain(aws.dlq_url)
    assert [m["Body"] for m in dlq] == [poison_body]
    assert rt.store.day_progress(DAY) == (len(ids), len(ids))  # duplicate counted once
    assert {s.arxiv_id for s in rt.store.scores_for_day(DAY)} == ids

    # the same SQS event delivered twice: nothing changes
    replay = {"day": DAY.isoformat(), "arxiv_id": BASED}
    aws.sqs.send_message(QueueUrl=aws.queue_url, MessageBody=json.dumps(replay))
    messages = aws.receive(aws.queue_url)
    event = sqs_event(messages, arn)
    assert rank.handler(event, lambda_context) == {"batchItemFailures": []}
    assert rank.handler(event, lambda_context) == {"batchItemFailures": []}
    aws.drain(aws.queue_url)
    assert rt.store.day_progress(DAY) == (len(ids), len(ids))

    # -- fan-in: exactly one DayRanked -----------------------------------------------------
    announced = aws.drain(aws.ranked_queue_url)
    assert len(announced) == 1
    day_ranked = json.loads(announced[0]["Body"])
    # moto's rule->SQS delivery omits `account`, which every real EventBridge event has
    day_ranked.setdefault("account", "123456789012")
    assert day_ranked["detail-type"] == "DayRanked" and day_ranked["detail"]["day"] == "2024-02-29"

    # -- select: BASED picked, reference implementation, one SageMaker job -----------------
    selected = select.handler(day_ranked, lambda_context)
    assert selected["days"][0]["selected"] is True
    picks = rt.store.picks_for_day(DAY)
    assert [p.arxiv_id for p in picks] == [BASED]
    assert rt.store.get_implementation(BASED).provenance == "reference"
    sagemaker = rt.clients["sagemaker"]
    (request,) = sagemaker.created
    job = request["TrainingJobName"]
    assert request["EnableManagedSpotTraining"] is True
    assert request["EnableNetworkIsolation"] is True
    assert request["CheckpointConfig"]["S3Uri"] == f"s3://{BUCKET}/checkpoints/{job}/"
    assert (
        request["StoppingCondition"]["MaxWaitTimeInSeconds"]
        >= request["StoppingCondition"]["MaxRuntimeInSeconds"]
    )
    run = rt.store.get_run(job)
    assert run.status == "running" and run.job_name == job
    assert aws.drain(aws.digest_queue_url) == []  # no digest while training runs

    # DayRanked delivered twice: no second selection, no second job
    assert select.handler(day_ranked, lambda_context)["days"][0]["selected"] is False
    assert len(sagemaker.created) == 1 and sagemaker.duplicates == 0

    # -- the job finishes: the harness's model.tar.gz, then the state-change event --------
    aws.s3.put_object(Bucket=BUCKET, Key=model_artifact_key(job), Body=model_tar_gz(metrics_json()))
    change = state_change_event(job, "Completed")
    result = report.handler(change, lambda_context)
    assert result["status"] == "completed"
    assert result["report"] == f"s3://{BUCKET}/reports/2024-02-29/report.html"

    stored = json.loads(
        aws.s3.get_object(Bucket=BUCKET, Key="reports/2024-02-29/report.json")["Body"].read()
    )
    (pick,) = stored["picks"]
    assert pick["paper"]["arxiv_id"] == BASED
    assert pick["run"]["status"] == "completed"
    assert pick["run"]["verdict"]["outcome"] == "better"
    assert pick["implementation"]["source_code"] is None
    assert len(stored["ranking"]) == len(ids)
    html = aws.s3.get_object(Bucket=BUCKET, Key="reports/2024-02-29/report.html")
    assert html["ContentType"].startswith("text/html")
    assert b"<html" in html["Body"].read().lower()

    (digest,) = aws.drain(aws.digest_queue_url)
    envelope = json.loads(digest["Body"])
    assert envelope["TopicArn"] == aws.topic_arn
    assert "2024-02-29" in envelope["Subject"] or "2024-02-29" in envelope["Message"]
    assert envelope["MessageAttributes"]["report_uri"]["Value"].endswith("report.html")

    # the same state-change event again: no re-collection, no second digest
    again = report.handler(change, lambda_context)
    assert again["status"] == "completed" and again["report"] is None
    assert aws.drain(aws.digest_queue_url) == []
    assert rt.store.get_run(job).verdict.outcome == "better"

    # nothing stored twice
    items = aws.dynamodb.scan(TableName=TABLE)["Items"]
    keys = [(i["pk"]["S"], i["sk"]["S"]) for i in items]
    assert len(keys) == len(set(keys))
    assert sum(k[1].startswith("RUN#") for k in keys) == 1
    assert sum(k[1] == "META" for k in keys) == len(ids)
