"""`SageMakerBackend`: the `TrainingBackend` port on SageMaker training jobs.

`job` uploads the implementation to `implementations/<run_id>/<file>` and returns the
CreateTrainingJob request of a managed-spot, network-isolated, checkpointed training job
named after the run id and attempt (`training.job_name_for`). The day's state machine
starts it with `createTrainingJob.sync` and waits; `collect` then turns the job's
description (or the task's error) into the run, reading the harness's metrics.json out of
`training/<job>/output/model.tar.gz`.

Contract with the harness (containers/trainer): channel `impl` holds exactly one .py file,
channel `data` (image and diffusion at medium/large) the CIFAR-10 splits the harness's
`prepare-data --corpus cifar10` writes, hyperparameters are strings, metric lines are
printed to stdout (MetricDefinitions below), results go to SM_MODEL_DIR (-> model.tar.gz),
a failure text to /opt/ml/output/failure.

The instance follows the run's budget, or its task family and budget
(`INSTANCE_TYPES`, overridable per deployment: `instance_types_from_json`).

Everything a job leaves behind is written where generated code runs, so `collect` trusts
none of it: model.tar.gz is refused when its stored size, inflated size, member count or
member names are not what the harness writes (`read_metrics`), only metrics.json is read
out of it, and the failure texts (FailureReason, metrics.json's "failure") are cut to size
before they reach the run, the report and the repair prompt (`llm.untrusted`).
"""

from __future__ import annotations

import gzip
import io
import json
import re
import tarfile
import zlib
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

from ...llm.untrusted import bounded_failure, clean
from ...models import Failure, Implementation, TrainingRun
from ...training import apply_metrics, job_name_for
from .s3 import BlobTooLarge

CHECKPOINT_LOCAL_PATH = "/opt/ml/checkpoints"
IMPL_CHANNEL = "impl"
DATA_CHANNEL = "data"  # the harness reads it as SM_CHANNEL_DATA (its --data)
# One instance per harness budget (containers/trainer spec.py; sized in its README): CPU for
# the smoke and CPU-sized budgets, one GPU above. A deployment may override a budget, or one
# family's budget as "<task>/<budget>" (stacks/config.py keeps its default equal to this).
INSTANCE_TYPES: dict[str, str] = {
    "tiny": "ml.c5.2xlarge",
    "small": "ml.c5.2xlarge",
    "medium": "ml.g5.2xlarge",  # A10G 24 GB
    "large": "ml.g6e.xlarge",  # L40S 48 GB
}
# The runs whose data is not built into the harness (spec.py task_args["dataset"]; a test
# keeps the two equal): the job is network-isolated, so the data comes in as a channel from
# datasets/<name>/, uploaded once (docs/DEPLOY.md).
DATASETS: dict[tuple[str, str], str] = {
    (task, budget): "cifar10" for task in ("image", "diffusion") for budget in ("medium", "large")
}
_INSTANCE_TYPE = re.compile(r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
_INSTANCE_KEY = re.compile(r"^(?:[a-z0-9_]+/)?([a-z]+)$")
_NUM = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"
# What the harness prints (containers/trainer compare.py `emit`), e.g.
#   pf_metric model=candidate seed=0 lr=0.001 step=25 train_loss=1.2345
#   pf_eval model=baseline seed=1 lr=0.003 accuracy=0.4100
#   pf_final model=candidate value=0.913333
#   pf_verdict outcome=better effect=0.503333
# SageMaker turns the first capture group into a CloudWatch metric of the job.
METRIC_DEFINITIONS = [
    {"Name": f"{model}_{name}", "Regex": regex.format(model=model, num=_NUM)}
    for model in ("candidate", "baseline")
    for name, regex in (
        ("train_loss", r"pf_metric model={model} .*train_loss={num}"),
        ("eval", r"pf_eval model={model} seed=\S+ lr=\S+ \w+={num}"),
        ("final", r"pf_final model={model} value={num}"),
    )
] + [{"Name": "verdict_effect", "Regex": rf"pf_verdict outcome=\S+ effect={_NUM}"}]
# The harness writes one file (metrics.json): far below these limits.
MAX_ARCHIVE_BYTES = 64 * 1024 * 1024  # model.tar.gz as stored (checked before reading)
MAX_UNPACKED_BYTES = 128 * 1024 * 1024  # what it inflates to (a gzip bomb stops here)
MAX_MEMBERS = 32
MAX_METRICS_BYTES = 20 * 1024 * 1024
MAX_FAILURE_REASON_CHARS = 1024  # SageMaker's own cap on FailureReason
_STATUS = {"Completed": "completed", "Failed": "failed", "Stopped": "stopped"}


def training_prefix() -> str:
    return "training/"


def dataset_prefix(name: str) -> str:
    return f"datasets/{name}/"


def instance_types_from_json(text: str | None) -> dict[str, str]:
    """INSTANCE_TYPES with a deployment's overrides laid over it: a JSON object of
    "<budget>" or "<task>/<budget>" -> "ml.<family>.<size>". Raises ValueError (one line)."""
    if not text or not text.strip():
        return dict(INSTANCE_TYPES)
    try:
        given = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"instance types: not JSON ({exc})") from None
    if not isinstance(given, dict):
        raise ValueError(
            'instance types: expected a JSON object such as {"medium": "ml.g5.xlarge"}'
        )
    for key, value in given.items():
        match = _INSTANCE_KEY.match(str(key))
        if match is None or match.group(1) not in INSTANCE_TYPES:
            raise ValueError(
                f"instance types: {key!r} is not a budget ({', '.join(INSTANCE_TYPES)}) "
                "or <task>/<budget>"
            )
        if not isinstance(value, str) or not _INSTANCE_TYPE.match(value):
            raise ValueError(f"instance types: {key!r}: {value!r} is not an ml.* instance type")
    return {**INSTANCE_TYPES, **given}


def model_artifact_key(job_name: str) -> str:
    """Where SageMaker puts SM_MODEL_DIR: <S3OutputPath>/<job name>/output/model.tar.gz."""
    return f"{training_prefix()}{job_name}/output/model.tar.gz"


class ArtifactRefused(ValueError):
    """model.tar.gz is not shaped like the harness's output; nothing in it is used."""


def _unpack(archive: bytes) -> bytes:
    if len(archive) > MAX_ARCHIVE_BYTES:
        raise ArtifactRefused(f"{len(archive)} bytes stored (limit {MAX_ARCHIVE_BYTES})")
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(archive)) as stream:
            data = stream.read(MAX_UNPACKED_BYTES + 1)  # never more than the limit in memory
    except (OSError, EOFError, zlib.error) as exc:
        raise tarfile.ReadError(f"not a gzip archive ({exc})") from exc
    if len(data) > MAX_UNPACKED_BYTES:
        raise ArtifactRefused(f"inflates to more than {MAX_UNPACKED_BYTES} bytes")
    return data


def read_metrics(archive: bytes) -> dict[str, Any]:
    """metrics.json out of model.tar.gz, read in memory (members are never extracted).

    The archive is refused (ArtifactRefused) when it is too big stored or inflated, has
    more than MAX_MEMBERS members, a name that is absolute or climbs out (`..`), or a
    metrics.json that is not one top-level regular file of at most MAX_METRICS_BYTES."""
    found: tarfile.TarInfo | None = None
    with tarfile.open(fileobj=io.BytesIO(_unpack(archive)), mode="r:") as tar:
        for count, member in enumerate(tar, start=1):
            if count > MAX_MEMBERS:
                raise ArtifactRefused(f"more than {MAX_MEMBERS} members")
            path = PurePosixPath(member.name)
            if path.is_absolute() or ".." in path.parts:
                raise ArtifactRefused(f"member name {member.name[:100]!r}")
            if path.parts != ("metrics.json",):  # "./metrics.json" has the same parts
                continue
            if found is not None:
                raise ArtifactRefused("metrics.json appears twice")
            if not member.isfile():
                raise ArtifactRefused("metrics.json is not a regular file")
            if member.size > MAX_METRICS_BYTES:
                raise ArtifactRefused(f"metrics.json is {member.size} bytes")
            found = member
        if found is None:
            raise KeyError("metrics.json not in model.tar.gz")
        handle = tar.extractfile(found)
        assert handle is not None  # a regular file
        try:
            metrics = json.loads(handle.read())
        except RecursionError as exc:  # nesting deep enough to exhaust the parser's stack
            raise ArtifactRefused("metrics.json nests too deeply") from exc
    if not isinstance(metrics, dict):
        raise ArtifactRefused("metrics.json is not a JSON object")
    return metrics


class SageMakerBackend:
    name = "sagemaker"

    def __init__(
        self,
        *,
        blobs: Any,  # S3BlobStore: the artifact bucket
        image_uri: str,
        role_arn: str,
        instance_type: str = "ml.g5.xlarge",
        instance_types: Mapping[str, str] | None = None,
        max_runtime_seconds: int = 3600,
        max_wait_seconds: int | None = None,
        volume_gb: int = 30,
        spot: bool = True,
        kms_key_id: str | None = None,
        tags: dict[str, str] | None = None,
        client: Any = None,
    ) -> None:
        if client is None:
            import boto3

            client = boto3.client("sagemaker")
        self.blobs = blobs
        self.image_uri = image_uri
        self.role_arn = role_arn
        # by "<task>/<budget>", then "<budget>"; instance_type for a run named by neither
        self.instance_types = dict(INSTANCE_TYPES if instance_types is None else instance_types)
        self.instance_type = instance_type
        self.max_runtime_seconds = int(max_runtime_seconds)
        # Managed spot: MaxWaitTimeInSeconds (runtime + time waiting for capacity) must be
        # >= MaxRuntimeInSeconds; allow as long again for capacity and restarts.
        self.max_wait_seconds = int(max(max_wait_seconds or 0, 2 * self.max_runtime_seconds))
        self.volume_gb = volume_gb
        self.spot = spot
        self.kms_key_id = kms_key_id
        self.tags = tags or {"project": "paperfoundry"}
        self.client = client

    @property
    def bucket(self) -> str:
        return self.blobs.bucket

    def _s3(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def instance_type_for(self, run: TrainingRun) -> str:
        for key in (f"{run.task}/{run.budget}", run.budget):
            if key in self.instance_types:
                return self.instance_types[key]
        return self.instance_type

    def data_prefix(self, run: TrainingRun) -> str | None:
        """The S3 prefix of the run's `data` channel, or None (the harness's own data)."""
        dataset = DATASETS.get((run.task, run.budget))
        return dataset_prefix(dataset) if dataset else None

    def channels(self, run: TrainingRun, impl_prefix: str) -> list[dict[str, Any]]:
        """InputDataConfig: the implementation, and the dataset where the run needs one."""
        prefixes = [(IMPL_CHANNEL, impl_prefix, "text/x-python")]
        data = self.data_prefix(run)
        if data is not None:
            prefixes.append((DATA_CHANNEL, data, "application/octet-stream"))
        return [
            {
                "ChannelName": name,
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": self._s3(prefix),
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
                "ContentType": content_type,
                "CompressionType": "None",
            }
            for name, prefix, content_type in prefixes
        ]

    def hyperparameters(self, run: TrainingRun, implementation: Implementation) -> dict[str, str]:
        """The harness's hyperparameters (containers/trainer cli.py), all strings: it
        json-decodes each value, so ids that look like numbers stay out (they are tags)."""
        hps = {
            "task": run.task,
            "budget": run.budget,
            "impl": implementation.file_name or "implementation.py",
            "device": "auto",
        }
        if implementation.paper_params:
            hps["paper_params"] = str(implementation.paper_params)
        return hps

    def job_request(
        self, run: TrainingRun, implementation: Implementation, impl_prefix: str
    ) -> dict[str, Any]:
        tags = {
            **self.tags,
            "paperfoundry:day": run.day.isoformat(),
            "paperfoundry:arxiv-id": run.arxiv_id,
            "paperfoundry:run-id": run.run_id,
        }
        output: dict[str, Any] = {"S3OutputPath": self._s3(training_prefix())}
        resources: dict[str, Any] = {
            "InstanceType": self.instance_type_for(run),
            "InstanceCount": 1,
            "VolumeSizeInGB": self.volume_gb,
        }
        if self.kms_key_id:
            output["KmsKeyId"] = self.kms_key_id
            resources["VolumeKmsKeyId"] = self.kms_key_id
        stopping = {"MaxRuntimeInSeconds": self.max_runtime_seconds}
        if self.spot:
            stopping["MaxWaitTimeInSeconds"] = self.max_wait_seconds
        return {
            "TrainingJobName": job_name_for(run.run_id, run.attempt),
            "AlgorithmSpecification": {
                "TrainingImage": self.image_uri,
                "TrainingInputMode": "File",
                "MetricDefinitions": METRIC_DEFINITIONS,
            },
            "RoleArn": self.role_arn,
            "HyperParameters": self.hyperparameters(run, implementation),
            "InputDataConfig": self.channels(run, impl_prefix),
            "OutputDataConfig": output,
            "ResourceConfig": resources,
            "StoppingCondition": stopping,
            "EnableManagedSpotTraining": self.spot,
            "CheckpointConfig": {
                "S3Uri": self._s3(f"checkpoints/{run.run_id}/"),
                "LocalPath": CHECKPOINT_LOCAL_PATH,
            },
            # Generated code runs here: no network, no credentials inside the container.
            "EnableNetworkIsolation": True,
            "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
        }

    def job(self, run: TrainingRun, implementation: Implementation) -> dict[str, Any]:
        """Upload the implementation and return the CreateTrainingJob request; the state
        machine starts the job (createTrainingJob.sync) and waits for its end."""
        if implementation.status != "implemented" or not implementation.source_code:
            raise ValueError(f"{implementation.arxiv_id} has no implementation to train")
        impl_prefix = f"implementations/{run.run_id}/"
        file_name = implementation.file_name or "implementation.py"
        self.blobs.put(
            impl_prefix + file_name, implementation.source_code.encode(), "text/x-python"
        )
        return self.job_request(run, implementation, impl_prefix)

    def describe(self, job_name: str) -> dict[str, Any]:
        return self.client.describe_training_job(TrainingJobName=job_name)

    def metrics(self, job_name: str) -> dict[str, Any]:
        """The job's metrics.json, out of its model.tar.gz (`read_metrics` refuses any
        archive not shaped like the harness's output)."""
        archive = self.blobs.get(model_artifact_key(job_name), max_bytes=MAX_ARCHIVE_BYTES)
        return read_metrics(archive)

    def _outcome(
        self, job_name: str, result: dict[str, Any] | None, error: dict[str, Any] | None
    ) -> tuple[str | None, str | None, datetime | None]:
        """(status, failure reason, end time) from the .sync task's result, else from its
        error (a failed job's Cause is its description as JSON), else from SageMaker."""
        described = result
        if described is None and error is not None:
            try:
                cause = json.loads(error.get("Cause") or "")
            except (TypeError, ValueError):
                cause = None
            if isinstance(cause, dict) and cause.get("TrainingJobStatus"):
                described = cause
        if described is None:
            try:
                described = self.describe(job_name)
            except Exception as exc:
                if _error_code(exc) not in ("ValidationException", "ResourceNotFound"):
                    raise
                # the job was never created: the start itself failed
                why = f"{error.get('Error')}: {error.get('Cause')}" if error else "no such job"
                reason = f"training job not started: {why}"
                return "Failed", reason[:MAX_FAILURE_REASON_CHARS], None
        return (
            described.get("TrainingJobStatus"),
            described.get("FailureReason"),
            _timestamp(described.get("TrainingEndTime")),
        )

    def collect(
        self,
        run: TrainingRun,
        *,
        result: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> TrainingRun:
        """The finished job's results as the run's new state, from the .sync task's result
        or error, or from DescribeTrainingJob (reconciling a run whose execution is gone).
        A job still in progress leaves the run as it is."""
        job_name = run.job_name or run.run_id
        job_status, failure_reason, ended_at = self._outcome(job_name, result, error)
        if job_status not in _STATUS:
            return run  # InProgress/Stopping: nothing to collect yet
        key = model_artifact_key(job_name)
        updated = run.model_copy(deep=True)
        refused = None
        try:
            metrics = self.metrics(job_name)
        except (ArtifactRefused, BlobTooLarge) as exc:
            metrics = None
            refused = f"results refused: {self._s3(key)}: {exc}"
        except (KeyError, ValueError, tarfile.TarError, OSError) as exc:
            metrics = None
            missing = f"no results in {self._s3(key)} ({type(exc).__name__}: {exc})"
        if metrics is not None:
            updated = apply_metrics(updated, metrics)
            updated.metrics_uri = self._s3(key)
            if updated.failure is not None:
                updated.failure = Failure.model_validate(
                    bounded_failure(updated.failure.model_dump())
                )
        if job_status != "Completed":
            updated.status = _STATUS[job_status]
            reason = clean(failure_reason or "", MAX_FAILURE_REASON_CHARS).strip()
            updated.error = f"SageMaker: {reason or f'training job {job_status.lower()}'}"
            if refused:
                updated.error += f"; {refused}"
        elif metrics is None:
            updated.status = "failed"
            updated.error = refused or missing
        updated.error = updated.error[:2000] if updated.error else updated.error
        updated.finished_at = ended_at or datetime.now(UTC)
        if updated.wall_seconds is None and updated.started_at is not None:
            updated.wall_seconds = max(
                0.0, (updated.finished_at - updated.started_at).total_seconds()
            )
        return updated


def _timestamp(value: Any) -> datetime | None:
    """SageMaker's times as Step Functions passes them on (epoch seconds or milliseconds,
    or ISO text), or as boto3 returns them (datetime)."""
    if value is None or isinstance(value, datetime):
        return value
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000 if value > 1e11 else value, tz=UTC)
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def _error_code(exc: Exception) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return response.get("Error", {}).get("Code")
    return None
