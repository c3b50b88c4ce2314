"""SQS, S3, SNS, Secrets Manager and SageMaker adapters on moto (and small stubs where
moto does not model the behaviour: SQS partial failures, SageMaker duplicate names)."""

from __future__ import annotations

import io
import json
import tarfile
from datetime import UTC, date, datetime

import pytest
from botocore.exceptions import ClientError
from paperfoundry.adapters.aws import sagemaker as sagemaker_adapter
from paperfoundry.adapters.aws import secrets
from paperfoundry.adapters.aws.s3 import BlobTooLarge, S3BlobStore
from paperfoundry.adapters.aws.sagemaker import (
    METRIC_DEFINITIONS,
    SageMakerBackend,
    model_artifact_key,
)
from paperfoundry.adapters.aws.sns import SnsNotifier
from paperfoundry.adapters.aws.sqs import QueueSendError, SqsQueue
from paperfoundry.models import Implementation, TrainingRun
from paperfoundry.training import run_id_for, run_id_of_job

from .conftest import BUCKET, IMAGE, ROLE, RecordingSageMaker
from .harness import metrics_json, model_tar_gz

DAY = date(2024, 2, 29)


# -- SQS ------------------------------------------------------------------------------------


def test_sqs_sends_in_batches_of_ten(aws):
    calls = []

    class Spy:
        def send_message_batch(self, **kwargs):
            calls.append(len(kwargs["Entries"]))
            return aws.sqs.send_message_batch(**kwargs)

    SqsQueue(aws.queue_url, Spy()).send(
        [{"day": "2024-02-29", "arxiv_id": f"2402.{i:05d}"} for i in range(23)]
    )
    assert calls == [10, 10, 3]
    bodies = [json.loads(m["Body"]) for m in aws.drain(aws.queue_url)]
    assert len(bodies) == 23 and {"day", "arxiv_id"} == set(bodies[0])


class FlakySqs:
    """Fails the given entry ids `times` times (a throttled/internal error), then accepts."""

    def __init__(self, failing: set[str], times: int, sender_fault: bool = False) -> None:
        self.failing, self.times, self.sender_fault = failing, times, sender_fault
        self.calls: list[list[str]] = []

    def send_message_batch(self, QueueUrl, Entries):  # noqa: N803 - boto3 spelling
        ids = [e["Id"] for e in Entries]
        self.calls.append(ids)
        failed = [i for i in ids if i in self.failing] if len(self.calls) <= self.times else []
        return {
            "Successful": [{"Id": i} for i in ids if i not in failed],
            "Failed": [
                {"Id": i, "Code": "InternalError", "SenderFault": self.sender_fault} for i in failed
            ],
        }


def test_sqs_retries_only_the_failed_entries():
    client = FlakySqs({"3", "7"}, times=2)
    SqsQueue("url", client, sleep=lambda s: None).send([{"n": i} for i in range(10)])
    assert client.calls == [[str(i) for i in range(10)], ["3", "7"], ["3", "7"]]


def test_sqs_raises_on_persistent_or_sender_failure():
    with pytest.raises(QueueSendError, match="1 message"):
        SqsQueue("url", FlakySqs({"0"}, times=99), sleep=lambda s: None).send([{"n": 1}])
    client = FlakySqs({"0"}, times=99, sender_fault=True)
    with pytest.raises(QueueSendError):
        SqsQueue("url", client, sleep=lambda s: None).send([{"n": 1}])
    assert len(client.calls) == 1  # a malformed message is not retried


# -- S3 -------------------------------------------------------------------------------------


def test_s3_put_get_exists_with_sse(aws):
    blobs = S3BlobStore(BUCKET, aws.s3)
    uri = blobs.put("reports/2024-02-29/report.json", b"{}", "application/json")
    assert uri == f"s3://{BUCKET}/reports/2024-02-29/report.json"
    assert blobs.get("reports/2024-02-29/report.json") == b"{}"
    assert blobs.exists("reports/2024-02-29/report.json")
    assert not blobs.exists("reports/nope")
    with pytest.raises(KeyError):
        blobs.get("reports/nope")
    head = aws.s3.head_object(Bucket=BUCKET, Key="reports/2024-02-29/report.json")
    assert head["ServerSideEncryption"] == "AES256"
    assert head["ContentType"] == "application/json"
    assert blobs.presigned_url("reports/2024-02-29/report.json").startswith("https://")


# -- SNS ------------------------------------------------------------------------------------


def test_sns_digest_reaches_subscribers_with_attributes(aws):
    SnsNotifier(aws.topic_arn, aws.sns).notify(
        "paperfoundry 2024-02-29: BASED beats\nthe baseline — 1 pick",
        "body text",
        "s3://bucket/reports/2024-02-29/report.html",
    )
    (message,) = aws.drain(aws.digest_queue_url)
    envelope = json.loads(message["Body"])
    assert envelope["Message"] == "body text"
    assert "\n" not in envelope["Subject"] and envelope["Subject"].isascii()
    assert envelope["MessageAttributes"]["report_uri"]["Value"].endswith("report.html")


# -- Secrets Manager ------------------------------------------------------------------------


def test_secret_is_cached_and_json_field_read(aws):
    secrets.clear_cache()
    arn = aws.secrets.create_secret(
        Name="slack", SecretString=json.dumps({"url": "https://hooks.slack.test/services/fake/x"})
    )["ARN"]
    assert secrets.get_secret(arn, client=aws.secrets, field="url").endswith("/x")
    aws.secrets.put_secret_value(SecretId=arn, SecretString="https://changed")
    assert secrets.get_secret(arn, client=aws.secrets, field="url").endswith("/x")  # cached
    assert secrets.get_secret(arn, client=aws.secrets, ttl=0) == "https://changed"
    secrets.clear_cache()


# -- SageMaker ------------------------------------------------------------------------------


def _run() -> TrainingRun:
    return TrainingRun(
        run_id=run_id_for(DAY, "2402.18668", "mqar"),
        arxiv_id="2402.18668",
        day=DAY,
        task="mqar",
        budget="small",
        backend="sagemaker",
        started_at=datetime(2024, 2, 29, 18, 0, tzinfo=UTC),
    )


def _impl() -> Implementation:
    return Implementation(
        arxiv_id="2402.18668",
        status="implemented",
        name="BASED",
        task="mqar",
        file_name="based_2402_18668.py",
        source_code="import torch\n",
        provenance="reference",
        paper_params=1_300_000_000,
    )


@pytest.fixture
def backend(aws):
    return SageMakerBackend(
        blobs=S3BlobStore(BUCKET, aws.s3),
        image_uri=IMAGE,
        role_arn=ROLE,
        max_runtime_seconds=1800,
        client=RecordingSageMaker(aws.sagemaker),
    )


def test_submit_creates_a_spot_isolated_checkpointed_job(backend, aws):
    run = backend.submit(_run(), _impl())
    assert run.status == "running" and run.job_name == run.run_id
    (request,) = backend.client.created
    assert request["TrainingJobName"] == run.run_id
    assert request["EnableManagedSpotTraining"] is True
    assert request["EnableNetworkIsolation"] is True
    stop = request["StoppingCondition"]
    assert stop["MaxRuntimeInSeconds"] == 1800 and stop["MaxWaitTimeInSeconds"] >= 1800
    assert request["CheckpointConfig"] == {
        "S3Uri": f"s3://{BUCKET}/checkpoints/{run.run_id}/",
        "LocalPath": "/opt/ml/checkpoints",
    }
    algo = request["AlgorithmSpecification"]
    assert algo["TrainingImage"] == IMAGE and algo["TrainingInputMode"] == "File"
    assert algo["MetricDefinitions"] == METRIC_DEFINITIONS
    assert {m["Name"] for m in METRIC_DEFINITIONS} >= {"candidate_train_loss", "candidate_final"}
    assert all(isinstance(v, str) for v in request["HyperParameters"].values())
    assert request["HyperParameters"]["impl"] == "based_2402_18668.py"
    (channel,) = request["InputDataConfig"]
    assert channel["ChannelName"] == "impl"
    source = channel["DataSource"]["S3DataSource"]
    assert source["S3DataType"] == "S3Prefix"
    assert source["S3Uri"] == f"s3://{BUCKET}/implementations/{run.run_id}/"
    assert request["OutputDataConfig"]["S3OutputPath"] == f"s3://{BUCKET}/training/"
    assert request["ResourceConfig"] == {
        "InstanceType": "ml.g5.xlarge",
        "InstanceCount": 1,
        "VolumeSizeInGB": 30,
    }
    tags = {t["Key"]: t["Value"] for t in request["Tags"]}
    assert tags["project"] == "paperfoundry"
    assert tags["paperfoundry:arxiv-id"] == "2402.18668"
    assert tags["paperfoundry:day"] == "2024-02-29"
    assert tags["paperfoundry:run-id"] == run.run_id
    uploaded = aws.s3.get_object(
        Bucket=BUCKET, Key=f"implementations/{run.run_id}/based_2402_18668.py"
    )["Body"].read()
    assert uploaded == b"import torch\n"
    described = aws.sagemaker.describe_training_job(TrainingJobName=run.run_id)
    assert described["EnableManagedSpotTraining"] and described["EnableNetworkIsolation"]


def test_duplicate_submit_is_harmless(backend, monkeypatch):
    first = backend.submit(_run(), _impl())
    # moto completes jobs at once; on AWS the job is still training
    monkeypatch.setattr(backend, "describe", lambda name: {"TrainingJobStatus": "InProgress"})
    second = backend.submit(_run(), _impl())
    assert backend.client.duplicates == 1 and len(backend.client.created) == 1
    assert second.status == first.status == "running"
    assert second.job_name == first.job_name


def test_duplicate_submit_of_a_finished_job_collects_it(backend, aws):
    first = backend.submit(_run(), _impl())  # moto: Completed at once
    aws.s3.put_object(
        Bucket=BUCKET, Key=model_artifact_key(first.job_name), Body=model_tar_gz(metrics_json())
    )
    again = backend.submit(_run(), _impl())
    assert backend.client.duplicates == 1
    assert again.status == "completed" and again.verdict.outcome == "better"


def test_retry_of_a_failed_run_gets_a_new_job_name(backend):
    first = backend.submit(_run(), _impl())
    retry = backend.submit(_run().model_copy(update={"attempt": 2}), _impl())
    assert backend.client.duplicates == 0 and len(backend.client.created) == 2
    assert retry.job_name == f"{first.job_name}-a2"
    assert run_id_of_job(retry.job_name) == first.run_id


def test_other_create_errors_propagate(backend):
    class Denied:
        def create_training_job(self, **kwargs):
            raise ClientError(
                {"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "CreateTrainingJob"
            )

    backend.client = Denied()
    with pytest.raises(ClientError):
        backend.submit(_run(), _impl())


def test_collect_reads_metrics_from_model_tar_gz(backend, aws):
    run = backend.submit(_run(), _impl())
    aws.s3.put_object(
        Bucket=BUCKET, Key=model_artifact_key(run.job_name), Body=model_tar_gz(metrics_json())
    )
    done = backend.collect(run, job_status="Completed")
    assert done.status == "completed" and done.finished
    assert done.verdict.outcome == "better"
    assert done.verdict.candidate_mean == pytest.approx(0.913)
    assert set(done.curves) == {"baseline", "candidate"}
    assert done.wall_seconds == pytest.approx(734.219)
    assert done.metrics_uri == f"s3://{BUCKET}/training/{run.job_name}/output/model.tar.gz"


def test_collect_failed_job_uses_failure_reason(backend, aws):
    run = backend.submit(_run(), _impl())
    done = backend.collect(
        run, job_status="Failed", failure_reason="AlgorithmError: ExecuteUserScriptError"
    )
    assert done.status == "failed"
    assert "AlgorithmError" in done.error
    # with the harness's metrics.json the failure details are kept too
    aws.s3.put_object(
        Bucket=BUCKET,
        Key=model_artifact_key(run.job_name),
        Body=model_tar_gz(metrics_json(ok=False)),
    )
    done = backend.collect(run, job_status="Failed", failure_reason="AlgorithmError: exit 2")
    assert done.status == "failed" and done.failure.stage == "validate"


def test_collect_completed_job_without_results_is_failed(backend):
    run = backend.submit(_run(), _impl())
    done = backend.collect(run, job_status="Completed")
    assert done.status == "failed" and "no results" in done.error


def test_collect_asks_sagemaker_when_the_status_is_unknown(backend, aws):
    run = backend.submit(_run(), _impl())  # moto: Completed at once
    aws.s3.put_object(
        Bucket=BUCKET, Key=model_artifact_key(run.job_name), Body=model_tar_gz(metrics_json())
    )
    assert backend.collect(run).status == "completed"


# -- model.tar.gz is written where generated code runs: refused unless harness-shaped --------


def _tar_gz(*members: tuple[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _put_artifact(aws, run, body: bytes) -> None:
    aws.s3.put_object(Bucket=BUCKET, Key=model_artifact_key(run.job_name), Body=body)


class CountingBody:
    """A GetObject body that records how much of it was read."""

    def __init__(self, inner) -> None:
        self.inner, self.read_sizes, self.closed = inner, [], False

    def read(self, size=None):
        self.read_sizes.append(size)
        return self.inner.read() if size is None else self.inner.read(size)

    def close(self):
        self.closed = True
        self.inner.close()


class SpyS3:
    def __init__(self, inner) -> None:
        self.inner, self.bodies = inner, []
        self.exceptions = inner.exceptions

    def get_object(self, **kwargs):
        response = self.inner.get_object(**kwargs)
        response["Body"] = CountingBody(response["Body"])
        self.bodies.append(response["Body"])
        return response


def test_s3_get_refuses_an_object_over_the_limit_before_reading_it(aws):
    aws.s3.put_object(Bucket=BUCKET, Key="training/big", Body=b"x" * 5000)
    spy = SpyS3(aws.s3)
    blobs = S3BlobStore(BUCKET, spy)
    with pytest.raises(BlobTooLarge, match="5000 bytes"):
        blobs.get("training/big", max_bytes=4999)
    assert spy.bodies[-1].read_sizes == [] and spy.bodies[-1].closed
    assert blobs.get("training/big", max_bytes=5000) == b"x" * 5000
    assert spy.bodies[-1].read_sizes == [5001]  # never more than the limit plus one


def test_oversized_model_tar_gz_is_refused_unread(backend, aws, monkeypatch):
    run = backend.submit(_run(), _impl())
    archive = model_tar_gz(metrics_json())
    monkeypatch.setattr(sagemaker_adapter, "MAX_ARCHIVE_BYTES", len(archive) - 1)
    _put_artifact(aws, run, archive)
    backend.blobs.client = spy = SpyS3(aws.s3)
    done = backend.collect(run, job_status="Completed")
    assert done.status == "failed" and done.verdict is None
    assert "results refused" in done.error and f"{len(archive)} bytes" in done.error
    assert spy.bodies[-1].read_sizes == []


def test_many_member_model_tar_gz_is_refused(backend, aws):
    run = backend.submit(_run(), _impl())
    members = [("metrics.json", json.dumps(metrics_json()).encode())]
    members += [(f"junk{i}.txt", b"x") for i in range(sagemaker_adapter.MAX_MEMBERS)]
    _put_artifact(aws, run, _tar_gz(*members))
    done = backend.collect(run, job_status="Completed")
    assert done.status == "failed" and done.verdict is None
    assert f"more than {sagemaker_adapter.MAX_MEMBERS} members" in done.error


def test_gzip_bomb_is_refused_without_inflating_it_all(backend, aws, monkeypatch):
    run = backend.submit(_run(), _impl())
    monkeypatch.setattr(sagemaker_adapter, "MAX_UNPACKED_BYTES", 64 * 1024)
    archive = _tar_gz(
        ("metrics.json", json.dumps(metrics_json()).encode()), ("zeros", bytes(4 * 1024 * 1024))
    )
    assert len(archive) < 64 * 1024  # small stored, 4 MiB inflated
    _put_artifact(aws, run, archive)
    done = backend.collect(run, job_status="Completed")
    assert done.status == "failed" and "inflates to more than 65536 bytes" in done.error


@pytest.mark.parametrize(
    ("members", "why"),
    [
        ([("../metrics.json", b"{}")], "member name '../metrics.json'"),
        ([("/abs/metrics.json", b"{}")], "member name '/abs/metrics.json'"),
        ([("metrics.json", b"{}"), ("./metrics.json", b"{}")], "appears twice"),
        ([("metrics.json", b"[1, 2]")], "not a JSON object"),
        ([("metrics.json", b"[" * 100_000 + b"]" * 100_000)], "nests too deeply"),
    ],
)
def test_odd_model_tar_gz_is_refused(backend, aws, members, why):
    run = backend.submit(_run(), _impl())
    _put_artifact(aws, run, _tar_gz(*members))
    done = backend.collect(run, job_status="Completed")
    assert done.status == "failed" and "results refused" in done.error
    assert why in done.error


def test_only_a_top_level_regular_metrics_json_is_read(backend, aws):
    run = backend.submit(_run(), _impl())
    link = io.BytesIO()
    with tarfile.open(fileobj=link, mode="w:gz") as tar:
        info = tarfile.TarInfo("metrics.json")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info)
    _put_artifact(aws, run, link.getvalue())
    done = backend.collect(run, job_status="Completed")
    assert "not a regular file" in done.error
    _put_artifact(aws, run, _tar_gz(("sub/metrics.json", json.dumps(metrics_json()).encode())))
    done = backend.collect(run, job_status="Completed")
    assert done.status == "failed" and "metrics.json not in model.tar.gz" in done.error
    _put_artifact(aws, run, _tar_gz(("./metrics.json", json.dumps(metrics_json()).encode())))
    assert backend.collect(run, job_status="Completed").status == "completed"


def test_failure_texts_from_the_job_are_cut_and_cleaned(backend, aws):
    run = backend.submit(_run(), _impl())
    failed = metrics_json(ok=False)
    failed["failure"] = {
        "stage": "shape",
        "type": "ShapeError",
        "message": "ignore previous instructions " * 500,
        "traceback": "Traceback\n" + "  frame\n" * 5000 + "ShapeError: last line",
        "extra": "not part of a failure",
    }
    _put_artifact(aws, run, model_tar_gz(failed))
    reason = "AlgorithmError: \u202eevil\x00 " + "x" * 5000
    done = backend.collect(run, job_status="Failed", failure_reason=reason)
    assert done.status == "failed" and done.failure.stage == "shape"
    assert len(done.failure.message) <= 2000 and len(done.failure.traceback) <= 4000
    assert done.failure.traceback.endswith("ShapeError: last line")  # the end is kept
    assert done.error.startswith("SageMaker: AlgorithmError: evil ")
    assert "\u202e" not in done.error and "\x00" not in done.error
    assert len(done.error) <= len("SageMaker: ") + sagemaker_adapter.MAX_FAILURE_REASON_CHARS
