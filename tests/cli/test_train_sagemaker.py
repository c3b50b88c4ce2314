"""`paperfoundry train --backend sagemaker` on moto: the job it creates is the one the day's
pipeline would create for the same run (`SageMakerBackend.job_request`), its results come
back through `collect` into --out, and the exit codes are the local harness's.

moto ends every training job `Completed` at once: a real model.tar.gz is put where the job
writes it, and DescribeTrainingJob is patched where a test needs another ending."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from paperfoundry.adapters.aws.s3 import S3BlobStore
from paperfoundry.adapters.aws.sagemaker import (
    INSTANCE_TYPES,
    SageMakerBackend,
    model_artifact_key,
)
from paperfoundry.cli import ExitCode, remote
from paperfoundry.training import job_name_for

from tests.aws.dynamo_table import FAKE_CREDENTIALS, REGION
from tests.aws.harness import metrics_json, model_tar_gz

LIBRARY = Path(__file__).resolve().parents[2] / "lambdas" / "paperfoundry" / "library"
BUCKET = "paperfoundry-artifacts-test"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/paperfoundry-trainer:latest"
ROLE = "arn:aws:iam::123456789012:role/paperfoundry-sagemaker"
SETTINGS = {
    remote.ENV_IMAGE: IMAGE,
    remote.ENV_ROLE: ROLE,
    remote.ENV_BUCKET: BUCKET,
}


class RecordingSageMaker:
    """moto's SageMaker client, keeping each CreateTrainingJob request as sent (moto
    rewrites MetricDefinitions in what it stores)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.created: list[dict[str, Any]] = []

    def create_training_job(self, **request: Any) -> dict[str, Any]:
        self.created.append(request)
        return self._client.create_training_job(**request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class Session:
    """What `remote.aws_session` returns, with the recording SageMaker client."""

    region_name = REGION

    def __init__(self) -> None:
        self._session = boto3.Session(region_name=REGION)
        self.sagemaker = RecordingSageMaker(self._session.client("sagemaker"))
        self.s3 = self._session.client("s3")

    def client(self, service: str) -> Any:
        return {"sagemaker": self.sagemaker, "s3": self.s3}[service]


@pytest.fixture
def aws(monkeypatch):
    """moto, the artefact bucket, the stack's settings in the environment, no waiting."""
    from moto import mock_aws

    for key, value in {**FAKE_CREDENTIALS, **SETTINGS}.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", remote.ENV_INSTANCE_TYPES):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(remote, "_sleep", lambda seconds: None)
    with mock_aws():
        session = Session()
        session.s3.create_bucket(Bucket=BUCKET)
        monkeypatch.setattr(remote, "aws_session", lambda: session)
        yield session


@pytest.fixture
def based(tmp_path) -> Path:
    return Path(shutil.copy(LIBRARY / "based_2402_18668.py", tmp_path / "based_2402_18668.py"))


def _planned(impl: Path, task: str = "mqar", budget: str = "small"):
    return remote.plan(impl, task, budget, None, datetime.now(UTC).date())


def _put_results(aws, job_name: str, metrics: dict) -> None:
    aws.s3.put_object(Bucket=BUCKET, Key=model_artifact_key(job_name), Body=model_tar_gz(metrics))


def _ending(monkeypatch, status: str, reason: str | None = None) -> None:
    """DescribeTrainingJob answers `status` (moto would say Completed)."""
    real = SageMakerBackend.describe

    def describe(self, job_name):
        described = {**real(self, job_name), "TrainingJobStatus": status}
        described["SecondaryStatus"] = status
        if reason:
            described["FailureReason"] = reason
        return described

    monkeypatch.setattr(SageMakerBackend, "describe", describe)


def _train(pf, impl: Path, out: Path, *extra: str, task: str = "mqar", budget: str = "small"):
    return pf("train", "--backend", "sagemaker", "--impl", impl, "--task", task,
              "--budget", budget, "--out", out, *extra)  # fmt: skip


# -- the request is the day pipeline's ------------------------------------------------------


def test_the_job_is_the_one_the_day_pipeline_would_start(aws, based, tmp_path, pf):
    run, impl = _planned(based)
    job_name = job_name_for(run.run_id, 1)
    _put_results(aws, job_name, metrics_json())
    code, out, err = _train(pf, based, tmp_path / "out")
    assert code == ExitCode.OK, err
    (sent,) = aws.sagemaker.created
    # the Lambda path: SageMakerBackend as handlers/_runtime.py builds it, for the same run
    lambda_backend = SageMakerBackend(
        blobs=S3BlobStore(BUCKET, aws.s3), image_uri=IMAGE, role_arn=ROLE,
        max_runtime_seconds=remote.DEFAULT_MAX_RUNTIME_SECONDS, client=aws.sagemaker,
    )  # fmt: skip
    expected = lambda_backend.job_request(
        run.model_copy(update={"attempt": 1}), impl, f"implementations/{run.run_id}/"
    )
    for field in (
        "AlgorithmSpecification", "InputDataConfig", "HyperParameters",
        "EnableNetworkIsolation", "EnableManagedSpotTraining", "CheckpointConfig",
        "OutputDataConfig", "ResourceConfig", "StoppingCondition", "RoleArn", "Tags",
    ):  # fmt: skip
        assert sent[field] == expected[field], field
    assert sent == expected  # nothing else either
    assert sent["AlgorithmSpecification"]["TrainingImage"] == IMAGE
    assert sent["EnableNetworkIsolation"] is True and sent["EnableManagedSpotTraining"] is True
    assert [c["ChannelName"] for c in sent["InputDataConfig"]] == ["impl"]
    assert sent["ResourceConfig"]["InstanceType"] == INSTANCE_TYPES["small"]
    assert sent["TrainingJobName"] == job_name and job_name.startswith("pf-cli-based-2402-18668-")
    # the code went where the impl channel reads it, one file
    uploaded = aws.s3.get_object(Bucket=BUCKET, Key=f"implementations/{run.run_id}/{based.name}")
    assert uploaded["Body"].read() == based.read_bytes()
    # collected like the local backend: metrics.json in --out, the outcome on stdout
    written = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert written == metrics_json()
    assert f"{job_name}: Completed, run completed, outcome better" in out
    assert f"started {job_name} on ml.c5.2xlarge (managed spot)" in err


def test_image_at_medium_trains_on_a_gpu_with_the_cifar10_channel(aws, tmp_path, pf):
    vitc = Path(shutil.copy(LIBRARY / "vitc_2106_14881.py", tmp_path / "vitc_2106_14881.py"))
    aws.s3.put_object(Bucket=BUCKET, Key="datasets/cifar10/meta.json", Body=b"{}")
    run, _ = _planned(vitc, "image", "medium")
    _put_results(aws, job_name_for(run.run_id, 1), metrics_json(impl=vitc.name))
    code, _, err = _train(pf, vitc, tmp_path / "out", task="image", budget="medium")
    assert code == ExitCode.OK, err
    (sent,) = aws.sagemaker.created
    assert sent["ResourceConfig"]["InstanceType"] == "ml.g5.2xlarge"
    impl_channel, data = sent["InputDataConfig"]
    assert impl_channel["ChannelName"] == "impl" and data["ChannelName"] == "data"
    assert data["DataSource"]["S3DataSource"]["S3Uri"] == f"s3://{BUCKET}/datasets/cifar10/"


def test_a_missing_dataset_is_refused_before_anything_is_sent(aws, tmp_path, pf):
    vitc = Path(shutil.copy(LIBRARY / "vitc_2106_14881.py", tmp_path / "vitc_2106_14881.py"))
    code, _, err = _train(pf, vitc, tmp_path / "out", task="diffusion", budget="large")
    assert code == ExitCode.CONFIG
    assert f"s3://{BUCKET}/datasets/cifar10/meta.json not found" in err
    assert aws.sagemaker.created == []
    assert "Contents" not in aws.s3.list_objects_v2(Bucket=BUCKET, Prefix="implementations/")


def test_the_stack_instance_types_apply(aws, based, tmp_path, pf, monkeypatch):
    monkeypatch.setenv(remote.ENV_INSTANCE_TYPES, '{"mqar/small": "ml.g5.xlarge"}')
    run, _ = _planned(based)
    _put_results(aws, job_name_for(run.run_id, 1), metrics_json())
    assert _train(pf, based, tmp_path / "out")[0] == ExitCode.OK
    assert aws.sagemaker.created[0]["ResourceConfig"]["InstanceType"] == "ml.g5.xlarge"


# -- how it ends ---------------------------------------------------------------------------


def test_a_failed_job_with_the_harness_failure_exits_2(aws, based, tmp_path, pf, monkeypatch):
    run, _ = _planned(based)
    _put_results(aws, job_name_for(run.run_id, 1), metrics_json(ok=False))
    _ending(monkeypatch, "Failed", "AlgorithmError: ExecuteUserScriptError: exit code 2")
    code, out, err = _train(pf, based, tmp_path / "out")
    assert code == ExitCode.INVALID_IMPL  # as the local harness: the implementation failed
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["status"] == "failed"
    assert "Failed, run failed" in out
    assert "SageMaker: AlgorithmError: ExecuteUserScriptError" in err


def test_a_failed_job_without_results_exits_1(aws, based, tmp_path, pf, monkeypatch):
    _ending(monkeypatch, "Failed", "CapacityError: no spot capacity")
    code, _, err = _train(pf, based, tmp_path / "out")
    assert code == ExitCode.FAILED
    assert not (tmp_path / "out" / "metrics.json").exists()
    assert "CapacityError: no spot capacity" in err


def test_a_stopped_job_exits_143_and_the_same_command_resumes_it(aws, based, tmp_path, pf,
                                                                   monkeypatch):  # fmt: skip
    from moto.sagemaker.models import sagemaker_backends

    run, _ = _planned(based)
    first, second = job_name_for(run.run_id, 1), job_name_for(run.run_id, 2)
    moto_describe = SageMakerBackend.describe
    _ending(monkeypatch, "Stopped")
    assert _train(pf, based, tmp_path / "out")[0] == ExitCode.STOPPED
    sagemaker_backends["123456789012"][REGION].training_jobs[first].training_job_status = "Stopped"
    monkeypatch.setattr(SageMakerBackend, "describe", moto_describe)  # the next one completes
    _put_results(aws, second, metrics_json())
    code, _, err = _train(pf, based, tmp_path / "out")
    assert code == ExitCode.OK, err
    names = [r["TrainingJobName"] for r in aws.sagemaker.created]
    assert names == [first, second]
    one, two = aws.sagemaker.created
    assert one["CheckpointConfig"] == two["CheckpointConfig"]  # resumes from the checkpoints


def test_the_same_command_collects_a_completed_job_again(aws, based, tmp_path, pf):
    run, _ = _planned(based)
    _put_results(aws, job_name_for(run.run_id, 1), metrics_json())
    assert _train(pf, based, tmp_path / "a")[0] == ExitCode.OK
    code, _, err = _train(pf, based, tmp_path / "b")
    assert code == ExitCode.OK
    assert len(aws.sagemaker.created) == 1  # nothing trained twice
    assert "started by an earlier command; collecting it again" in err
    assert (tmp_path / "b" / "metrics.json").read_text() == (
        tmp_path / "a" / "metrics.json"
    ).read_text()


def test_ctrl_c_stops_waiting_not_the_job(aws, based, tmp_path, pf, monkeypatch):
    _ending(monkeypatch, "InProgress")

    def interrupt(seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr(remote, "_sleep", interrupt)
    code, _, err = _train(pf, based, tmp_path / "out")
    assert code == ExitCode.INTERRUPTED
    (sent,) = aws.sagemaker.created
    job = sent["TrainingJobName"]
    assert f"stopped waiting; {job} goes on" in err
    assert "same command again" in err and f"--training-job-name {job}" in err
    # the job was left alone
    described = aws.sagemaker.describe_training_job(TrainingJobName=job)
    assert described["TrainingJobStatus"] == "Completed"  # moto's; no StopTrainingJob


# -- refused up front ------------------------------------------------------------------------


def test_missing_settings_exit_78_in_one_line(based, tmp_path, pf, monkeypatch):
    for key in SETTINGS:
        monkeypatch.delenv(key, raising=False)
    code, out, err = _train(pf, based, tmp_path / "out")
    assert code == ExitCode.CONFIG and out == ""
    assert err.count("\n") == 1
    assert err.startswith("paperfoundry train: error: --backend sagemaker needs ")
    for name in SETTINGS:
        assert name in err
    assert "TrainerImageUri" in err and "SageMakerRoleArn" in err and "BucketName" in err


@pytest.mark.parametrize(
    "key,value,message",
    [
        (remote.ENV_INSTANCE_TYPES, '{"huge": "ml.p5.48xlarge"}', "'huge' is not a budget"),
        (remote.ENV_INSTANCE_TYPES, '{"large": "p5"}', "is not an ml.* instance type"),
        (remote.ENV_INSTANCE_TYPES, "[1", "not JSON"),
        (remote.ENV_MAX_RUNTIME, "an hour", "expected whole seconds"),
    ],
)
def test_malformed_settings_exit_78(aws, based, tmp_path, pf, monkeypatch, key, value, message):
    monkeypatch.setenv(key, value)
    code, _, err = _train(pf, based, tmp_path / "out")
    assert code == ExitCode.CONFIG and message in err and err.count("\n") == 1
    assert aws.sagemaker.created == []


@pytest.mark.parametrize(
    "region,message", [(REGION, "no AWS credentials"), (None, "no AWS region")]
)
def test_no_aws_credentials_or_region_exit_78(based, tmp_path, pf, monkeypatch, region, message):
    for key, value in SETTINGS.items():
        monkeypatch.setenv(key, value)
    for key in (*FAKE_CREDENTIALS, "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    if region:
        monkeypatch.setenv("AWS_DEFAULT_REGION", region)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance metadata lookup
    code, _, err = _train(pf, based, tmp_path / "out")
    assert code == ExitCode.CONFIG and message in err and err.count("\n") == 1


def test_local_only_options_are_refused(based, tmp_path, pf):
    code, _, err = _train(pf, based, tmp_path / "out", "--steps", "10", "--device", "cpu")
    assert code == ExitCode.USAGE
    assert "--device, --steps: local only" in err


def test_a_missing_file_exits_1(tmp_path, pf):
    code, _, err = _train(pf, tmp_path / "nope.py", tmp_path / "out")
    assert code == ExitCode.FAILED and "no such file" in err


# -- small parts ---------------------------------------------------------------------------


def test_run_ids_fit_sagemaker_and_follow_the_code():
    sha = "ab" * 32
    long = remote.cli_run_id("x" * 200, sha, "diffusion", "medium")
    assert len(long) <= remote.RUN_ID_CHARS and long.endswith("-abababab-diffusion-medium")
    assert remote.cli_run_id("my model (v2)", sha, "lm", "tiny") == (
        "pf-cli-my-model-v2-abababab-lm-tiny"
    )
    assert remote.cli_run_id("a", "cd" * 32, "lm", "tiny") != remote.cli_run_id(
        "a", sha, "lm", "tiny"
    )
    assert remote.attempt_of("pf-cli-a-abababab-lm-tiny-a3") == 3
    assert remote.attempt_of("pf-cli-a-abababab-lm-tiny") == 1
