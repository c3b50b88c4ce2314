"""`paperfoundry train --backend sagemaker`: one implementation trained as a SageMaker
training job from this machine, with the contract of the day's pipeline.

The request is `SageMakerBackend.job`'s, the one the day's state machine starts (image,
channels, hyperparameters, network isolation, managed spot, checkpoints, tags, the instance
of the run's budget and task family), and the result comes back through
`SageMakerBackend.collect`. Only the run id is this command's own,
`pf-cli-<file>-<sha256[:8]>-<task>-<budget>`, so the same command finds its job again: one
still running is waited for, a completed one is collected again (nothing is trained twice),
and after a failed or stopped one a new attempt (`-a2`, ...) starts and resumes from the
run's checkpoints.

Ctrl-C stops the waiting, not the job (it may have run for hours): the message names the
job, how to come back to it (the same command) and how to stop it.

Settings come from the environment, named after the stack's outputs, and are checked before
anything is sent (exit 78 without them); AWS credentials and region as boto3 finds them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from paperfoundry_trainer.exitcodes import ExitCode

from ..adapters.aws.sagemaker import SageMakerBackend, instance_types_from_json
from ..config import ConfigError
from ..models import Implementation, TrainingRun
from ..training import job_name_for, run_id_of_job

ENV_IMAGE = "PAPERFOUNDRY_TRAINER_IMAGE_URI"
ENV_ROLE = "PAPERFOUNDRY_SAGEMAKER_ROLE_ARN"
ENV_BUCKET = "PAPERFOUNDRY_BUCKET_NAME"
ENV_INSTANCE_TYPES = "PAPERFOUNDRY_TRAINING_INSTANCE_TYPES"
ENV_MAX_RUNTIME = "PAPERFOUNDRY_TRAINING_MAX_RUNTIME_SECONDS"
STACK_OUTPUTS = {
    ENV_IMAGE: "TrainerImageUri",
    ENV_ROLE: "SageMakerRoleArn",
    ENV_BUCKET: "BucketName",
}
DEFAULT_MAX_RUNTIME_SECONDS = 3600  # as the stack's trainingMaxRuntimeMinutes
POLL_SECONDS = 30.0  # DescribeTrainingJob; SageMaker's own status changes take minutes
# The `train` options the job's contract carries; the others are the local harness's.
OPTIONS = ("impl", "task", "budget", "out", "paper_params", "backend")
RUN_ID_CHARS = 56  # as training.run_id_for: room for "-aN" within SageMaker's 63
ENDED = ("Completed", "Failed", "Stopped")
REUSED = ("InProgress", "Stopping", "Completed")  # an attempt the same command comes back to
# Failure stages that are not the implementation's (the harness's own exit code 1)
NOT_THE_IMPLEMENTATION = ("harness", "setup", "unknown")
_ATTEMPT = re.compile(r"-a(\d+)$")


class RemoteError(RuntimeError):
    """AWS refused or failed a call (permissions, quota, the service): one line."""


@dataclass(frozen=True)
class SageMakerSettings:
    image_uri: str
    role_arn: str
    bucket: str
    instance_types: dict[str, str]
    max_runtime_seconds: int

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SageMakerSettings:
        """Raises ConfigError (one line) naming what is missing or malformed."""
        missing = [
            f"{name} (stack output {output})"
            for name, output in STACK_OUTPUTS.items()
            if not env.get(name, "").strip()
        ]
        if missing:
            raise ConfigError(f"--backend sagemaker needs {', '.join(missing)} (docs/CLI.md)")
        try:
            instance_types = instance_types_from_json(env.get(ENV_INSTANCE_TYPES))
        except ValueError as exc:
            raise ConfigError(f"{ENV_INSTANCE_TYPES}: {exc}") from None
        runtime = env.get(ENV_MAX_RUNTIME, "").strip() or str(DEFAULT_MAX_RUNTIME_SECONDS)
        if not runtime.isdigit() or int(runtime) < 1:
            raise ConfigError(f"{ENV_MAX_RUNTIME}: expected whole seconds, got {runtime!r}")
        return cls(
            image_uri=env[ENV_IMAGE].strip(),
            role_arn=env[ENV_ROLE].strip(),
            bucket=env[ENV_BUCKET].strip(),
            instance_types=instance_types,
            max_runtime_seconds=int(runtime),
        )


def aws_session() -> Any:
    """boto3's default session, refused up front without a region or credentials."""
    import boto3

    session = boto3.Session()
    if not session.region_name:
        raise ConfigError(
            "no AWS region: set AWS_DEFAULT_REGION (or the region of your AWS profile)"
        )
    if session.get_credentials() is None:
        raise ConfigError("no AWS credentials: set AWS_PROFILE, or `aws sso login`")
    return session


def cli_run_id(stem: str, sha256: str, task: str, budget: str) -> str:
    """`pf-cli-<file>-<sha256[:8]>-<task>-<budget>`: the same file, task and budget give the
    same run (and checkpoints); another file or an edit, another. `pf-` as every job the
    SageMaker role may log for."""
    tail = f"-{sha256[:8]}-{task}-{budget}"
    name = re.sub(r"[^a-zA-Z0-9]+", "-", stem).strip("-") or "impl"
    room = RUN_ID_CHARS - len("pf-cli-") - len(tail)
    return f"pf-cli-{name[:room].rstrip('-')}{tail}"


def plan(
    impl: Path, task: str, budget: str, paper_params: int | None, today: date
) -> tuple[TrainingRun, Implementation]:
    """The run and implementation `SageMakerBackend.job` takes, from the command line."""
    source = impl.read_text()
    sha256 = hashlib.sha256(source.encode()).hexdigest()
    run_id = cli_run_id(impl.stem, sha256, task, budget)
    label = re.sub(r"[^a-zA-Z0-9_.:/=+@-]+", "-", impl.stem)[:128]  # a tag value
    implementation = Implementation(
        arxiv_id=label,
        status="implemented",
        name=impl.stem,
        task=task,
        file_name=impl.name,
        source_code=source,
        sha256=sha256,
        paper_params=paper_params,
    )
    run = TrainingRun(
        run_id=run_id, arxiv_id=label, day=today, task=task, budget=budget, backend="sagemaker"
    )
    return run, implementation


def attempt_of(job_name: str) -> int:
    match = _ATTEMPT.search(job_name)
    return int(match.group(1)) if match else 1


def attempts(client: Any, run_id: str) -> list[dict[str, Any]]:
    """The run's jobs (ListTrainingJobs summaries), first attempt first."""
    found: list[dict[str, Any]] = []
    token = None
    while True:
        page = client.list_training_jobs(
            NameContains=run_id, MaxResults=100, **({"NextToken": token} if token else {})
        )
        found += [
            job
            for job in page.get("TrainingJobSummaries", [])
            if run_id_of_job(job["TrainingJobName"]) == run_id
        ]
        token = page.get("NextToken")
        if not token:
            return sorted(found, key=lambda job: attempt_of(job["TrainingJobName"]))


def console_url(region: str, job_name: str) -> str:
    return (
        f"https://{region}.console.aws.amazon.com/sagemaker/home?region={region}#/jobs/{job_name}"
    )


def start_or_attach(
    backend: SageMakerBackend, run: TrainingRun, implementation: Implementation, region: str
) -> TrainingRun:
    """The run with its job: the latest attempt when it is running or completed, else a new
    attempt, created here with the request the day's state machine would send."""
    jobs = attempts(backend.client, run.run_id)
    latest = jobs[-1] if jobs else None
    if latest is not None and latest["TrainingJobStatus"] in REUSED:
        name, status = latest["TrainingJobName"], latest["TrainingJobStatus"]
        then = "collecting it again" if status == "Completed" else "waiting for it"
        _progress(f"{name}: {status}, started by an earlier command; {then}")
        return run.model_copy(
            update={
                "attempt": attempt_of(name),
                "job_name": name,
                "status": "running",
                "started_at": latest.get("CreationTime"),
                "code_sha256": implementation.sha256,
            }
        )
    attempt = attempt_of(latest["TrainingJobName"]) + 1 if latest is not None else 1
    run = run.model_copy(
        update={
            "attempt": attempt,
            "job_name": job_name_for(run.run_id, attempt),
            "status": "running",
            "started_at": datetime.now(UTC),
            "code_sha256": implementation.sha256,
        }
    )
    data = backend.data_prefix(run)
    if data is not None and not backend.blobs.exists(f"{data}meta.json"):
        raise ConfigError(
            f"{backend.blobs.uri(data)}meta.json not found: {run.task} at budget {run.budget} "
            "trains on CIFAR-10; upload it first (docs/DEPLOY.md, Training data)"
        )
    request = backend.job(run, implementation)  # uploads the code
    backend.client.create_training_job(**request)
    channels = ", ".join(c["ChannelName"] for c in request["InputDataConfig"])
    spot = " (managed spot)" if request["EnableManagedSpotTraining"] else ""
    _progress(
        f"started {run.job_name} on {request['ResourceConfig']['InstanceType']}{spot}, "
        f"channels {channels}: {console_url(region, run.job_name)}"
    )
    return run


def wait(backend: SageMakerBackend, job_name: str) -> dict[str, Any]:
    """DescribeTrainingJob every POLL_SECONDS until the job ends, a line per change."""
    began, seen = time.monotonic(), None
    while True:
        described = backend.describe(job_name)
        status = described["TrainingJobStatus"]
        transitions = described.get("SecondaryStatusTransitions") or [{}]
        now = (status, described.get("SecondaryStatus"), transitions[-1].get("StatusMessage"))
        if now != seen:
            minutes = (time.monotonic() - began) / 60
            detail = " - ".join(str(part) for part in now[1:] if part)
            _progress(f"{job_name}: {status}{f' ({detail})' if detail else ''} [{minutes:.0f} min]")
            seen = now
        if status in ENDED:
            return described
        _sleep(POLL_SECONDS)


def exit_code(run: TrainingRun, job_status: str) -> ExitCode:
    """As the local harness would exit: 0 completed, 2 the implementation failed, 1 the
    harness or the job did, 143 stopped (the same command resumes from the checkpoints)."""
    if run.status == "completed":
        return ExitCode.OK
    if job_status == "Stopped":
        return ExitCode.STOPPED
    if run.failure is not None and run.failure.stage not in NOT_THE_IMPLEMENTATION:
        return ExitCode.INVALID_IMPL
    return ExitCode.FAILED


def write_metrics(backend: SageMakerBackend, run: TrainingRun, out: Path) -> Path | None:
    """metrics.json in `out`, as the local harness writes it; None when the job left none
    that `collect` accepted."""
    if run.metrics_uri is None or run.job_name is None:
        return None
    out.mkdir(parents=True, exist_ok=True)
    path = out / "metrics.json"
    path.write_text(json.dumps(backend.metrics(run.job_name), indent=1))
    return path


def train_on_sagemaker(
    impl: Path, task: str, budget: str, out: Path, *, paper_params: int | None = None
) -> int:
    """Start (or find) the job, wait for it, collect it, write metrics.json; the exit code.
    Raises ConfigError before anything is sent, RemoteError when AWS says no."""
    from botocore.exceptions import BotoCoreError, ClientError

    from ..adapters.aws.s3 import S3BlobStore

    settings = SageMakerSettings.from_env(os.environ)
    session = aws_session()
    backend = SageMakerBackend(
        blobs=S3BlobStore(settings.bucket, session.client("s3")),
        image_uri=settings.image_uri,
        role_arn=settings.role_arn,
        instance_types=settings.instance_types,
        max_runtime_seconds=settings.max_runtime_seconds,
        client=session.client("sagemaker"),
    )
    run, implementation = plan(impl, task, budget, paper_params, datetime.now(UTC).date())
    try:
        run = start_or_attach(backend, run, implementation, session.region_name)
        described = wait(backend, run.job_name or "")
        done = backend.collect(run, result=described)
        written = write_metrics(backend, done, out)
    except KeyboardInterrupt:
        _progress(detached(run.job_name))
        return ExitCode.INTERRUPTED
    except (BotoCoreError, ClientError) as exc:
        raise RemoteError(" ".join(str(exc).split())) from None
    status = described["TrainingJobStatus"]
    outcome = done.outcome or (done.verdict.outcome if done.verdict else None)
    verdict = f", outcome {outcome}" if outcome else ""
    print(f"{done.job_name}: {status}, run {done.status}{verdict}")
    if written is not None:
        print(f"metrics: {written}")
    why = done.error or (done.failure and f"{done.failure.stage}: {done.failure.message}")
    if done.status != "completed" and why:
        _progress(f"{done.job_name} {done.status}: {' '.join(str(why).split())}")
    return exit_code(done, status)


def detached(job_name: str | None) -> str:
    """What Ctrl-C leaves behind, and how to come back to it."""
    if job_name is None:  # interrupted while starting: the job may or may not exist
        return "interrupted while starting; the same command again finds the job if it started"
    return (
        f"stopped waiting; {job_name} goes on. Run the same command again to wait for it and "
        f"collect its results, or stop it: aws sagemaker stop-training-job "
        f"--training-job-name {job_name}"
    )


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


def _progress(line: str) -> None:
    """Progress goes to stderr (stdout keeps the result), as the local harness logs."""
    print(f"paperfoundry train: {line}", file=sys.stderr, flush=True)
