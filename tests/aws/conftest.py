"""moto-backed AWS for the adapter and handler tests (in-process `mock_aws`).

Resources mirror the CDK stack: the single table (pk/sk, gsi1, TTL), the artifact bucket,
the papers queue with its DLQ (maxReceiveCount 3), the notification topic with an SQS
subscriber standing in for the email, and an EventBridge rule capturing DayRanked.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from .dynamo_table import FAKE_CREDENTIALS, REGION, TABLE, create_table

BUCKET = "paperfoundry-artifacts-test"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/paperfoundry-trainer:latest"
ROLE = "arn:aws:iam::123456789012:role/paperfoundry-sagemaker"
MAX_RECEIVE = 3

_ENV = {
    **FAKE_CREDENTIALS,
    "POWERTOOLS_TRACE_DISABLED": "1",
    "POWERTOOLS_SERVICE_NAME": "paperfoundry",
    "POWERTOOLS_METRICS_NAMESPACE": "paperfoundry-test",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "POWERTOOLS_DEV": "0",
}

# Powertools reads some settings when a handler module is imported (Metrics namespace,
# Tracer), which may happen before a fixture runs: set them for the whole session.
for _key in (
    "POWERTOOLS_TRACE_DISABLED",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
):
    os.environ.setdefault(_key, _ENV[_key])


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch):
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    for key, value in _ENV.items():
        monkeypatch.setenv(key, value)


@dataclass
class Aws:
    """Handles on the mocked resources."""

    dynamodb: Any
    s3: Any
    sqs: Any
    sns: Any
    events: Any
    sagemaker: Any
    secrets: Any
    queue_url: str
    dlq_url: str
    digest_queue_url: str
    ranked_queue_url: str
    topic_arn: str

    def receive(self, queue_url: str, max_messages: int = 10) -> list[dict[str, Any]]:
        response = self.sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=max_messages,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return response.get("Messages", [])

    def drain(self, queue_url: str) -> list[dict[str, Any]]:
        """Receive and delete everything in the queue."""
        found: list[dict[str, Any]] = []
        while batch := self.receive(queue_url):
            found.extend(batch)
            for message in batch:
                self.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        return found


def _queue_arn(sqs: Any, url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]


@pytest.fixture
def aws():
    from moto import mock_aws

    with mock_aws():
        session = boto3.Session(region_name=REGION)
        ddb = session.client("dynamodb")
        create_table(ddb)
        s3 = session.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        sqs = session.client("sqs")
        dlq_url = sqs.create_queue(QueueName="papers-dlq")["QueueUrl"]
        queue_url = sqs.create_queue(
            QueueName="papers",
            Attributes={
                "VisibilityTimeout": "0",  # redeliver at once: the tests play the poller
                "RedrivePolicy": json.dumps(
                    {
                        "deadLetterTargetArn": _queue_arn(sqs, dlq_url),
                        "maxReceiveCount": MAX_RECEIVE,
                    }
                ),
            },
        )["QueueUrl"]
        sns = session.client("sns")
        topic_arn = sns.create_topic(Name="paperfoundry-notifications")["TopicArn"]
        digest_url = sqs.create_queue(QueueName="digest-subscriber")["QueueUrl"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=_queue_arn(sqs, digest_url))
        events = session.client("events")
        ranked_url = sqs.create_queue(QueueName="day-ranked-capture")["QueueUrl"]
        events.put_rule(
            Name="day-ranked",
            EventPattern=json.dumps({"source": ["paperfoundry"], "detail-type": ["DayRanked"]}),
        )
        events.put_targets(
            Rule="day-ranked", Targets=[{"Id": "capture", "Arn": _queue_arn(sqs, ranked_url)}]
        )
        yield Aws(
            dynamodb=ddb,
            s3=s3,
            sqs=sqs,
            sns=sns,
            events=events,
            sagemaker=session.client("sagemaker"),
            secrets=session.client("secretsmanager"),
            queue_url=queue_url,
            dlq_url=dlq_url,
            digest_queue_url=digest_url,
            ranked_queue_url=ranked_url,
            topic_arn=topic_arn,
        )


class RecordingSageMaker:
    """Wraps moto's SageMaker client: records CreateTrainingJob requests (moto rewrites
    MetricDefinitions) and answers a duplicate job name with ResourceInUse, as AWS does
    (moto silently accepts it)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.created: list[dict[str, Any]] = []
        self.duplicates = 0

    def create_training_job(self, **request: Any) -> dict[str, Any]:
        name = request["TrainingJobName"]
        if any(r["TrainingJobName"] == name for r in self.created):
            self.duplicates += 1
            raise ClientError(
                {"Error": {"Code": "ResourceInUse", "Message": f"Training job {name} exists"}},
                "CreateTrainingJob",
            )
        self.created.append(request)
        return self._client.create_training_job(**request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class FakeLambdaContext:
    function_name = "paperfoundry-test"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:paperfoundry-test"
    aws_request_id = "5b441b59-a550-11e8-6564-f7e6d0d5bd3e"
    log_group_name = "/aws/lambda/paperfoundry-test"
    log_stream_name = "2024/02/29/[$LATEST]abcdef"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 300_000


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


def env_for_handlers(aws: Aws) -> dict[str, str]:
    return {
        "TABLE_NAME": TABLE,
        "BUCKET_NAME": BUCKET,
        "QUEUE_URL": aws.queue_url,
        "TOPIC_ARN": aws.topic_arn,
        "TRAINER_IMAGE_URI": IMAGE,
        "SAGEMAKER_ROLE_ARN": ROLE,
        "TRAINING_INSTANCE_TYPES": '{"medium": "ml.g5.xlarge"}',
        "MAX_PICKS": "1",
        "GPU_MINUTES_BUDGET": "60",
        "ARXIV_CATEGORIES": "cs.LG,cs.CL",
        "BACKFILL_DAYS": "0",
    }


@pytest.fixture
def handler_env(aws, monkeypatch):
    """Env vars as the stack sets them, and a fresh per-test runtime whose SageMaker
    client records requests."""
    from handlers import _runtime

    for key, value in env_for_handlers(aws).items():
        monkeypatch.setenv(key, value)
    _runtime.reset_runtime()
    rt = _runtime.get_runtime()
    rt.clients["sagemaker"] = RecordingSageMaker(aws.sagemaker)
    yield rt
    _runtime.reset_runtime()


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """An SQS -> Lambda event from messages received with AttributeNames=All."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {
                    "ApproximateReceiveCount": m["Attributes"].get("ApproximateReceiveCount", "1"),
                    "SentTimestamp": m["Attributes"].get("SentTimestamp", "0"),
                    "SenderId": m["Attributes"].get("SenderId", "AIDAEXAMPLE"),
                    "ApproximateFirstReceiveTimestamp": m["Attributes"].get(
                        "ApproximateFirstReceiveTimestamp", "0"
                    ),
                },
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            }
            for m in messages
        ]
    }


def queue_arn(aws: Aws, url: str) -> str:
    return _queue_arn(aws.sqs, url)


def pytest_collection_modifyitems(items):
    # Powertools warns when an invocation published no custom metric (ignored events).
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(pytest.mark.filterwarnings("ignore:No application metrics to publish"))
