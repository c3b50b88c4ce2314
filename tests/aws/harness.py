"""What the training harness leaves in SM_MODEL_DIR, as SageMaker uploads it
(`training/<job>/output/model.tar.gz`), in the shape containers/trainer compare.py writes."""

from __future__ import annotations

import io
import json
import tarfile
from typing import Any


def metrics_json(*, ok: bool = True, impl: str = "based_2402_18668.py") -> dict[str, Any]:
    curves = {
        model: {
            str(seed): {"step": [25, 50, 75, 100], "loss": [base - 0.4 * i for i in range(4)]}
            for seed in (0, 1)
        }
        for model, base in (("baseline", 3.9), ("candidate", 3.7))
    }
    common = {
        "schema": 1,
        "task": "mqar",
        "budget": "small",
        "impl": impl,
        "device": "cuda",
        "params": {"baseline": 104_832, "candidate": 101_120, "budget": 105_000},
        "tokens_per_run": 500 * 64 * 32,
        "steps": 500,
        "plots": ["loss.png"],
    }
    if not ok:
        return {
            **common,
            "status": "failed",
            "failure": {
                "stage": "validate",
                "type": "ValueError",
                "message": "logits have shape (64, 32, 63), expected last dimension 64",
                "traceback": "Traceback (most recent call last): ...",
            },
            "metric": None,
            "sweep": [],
            "final": None,
            "verdict": None,
            "curves": {},
            "wall_seconds": 12.5,
        }
    return {
        **common,
        "status": "ok",
        "failure": None,
        "metric": {"name": "accuracy", "higher_is_better": True},
        "sweep": [
            {"model": m, "lr": lr, "seed": 0, "value": v, "final_loss": 0.5, "diverged": False}
            for m, v in (("baseline", 0.41), ("candidate", 0.91))
            for lr in (0.001, 0.003, 0.01)
        ],
        "final": {
            "baseline": {
                "lr": 0.003,
                "seeds": [0, 1],
                "values": [0.39, 0.43],
                "mean": 0.41,
                "std": 0.028284271247461905,
            },
            "candidate": {
                "lr": 0.003,
                "seeds": [0, 1],
                "values": [0.905, 0.921],
                "mean": 0.913,
                "std": 0.011313708498984771,
            },
        },
        "verdict": {
            "outcome": "better",
            "metric": "accuracy",
            "higher_is_better": True,
            "candidate_mean": 0.913,
            "baseline_mean": 0.41,
            "candidate_std": 0.011313708498984771,
            "baseline_std": 0.028284271247461905,
            "effect": 0.503,
            "toy_scale": True,
            "summary": "based_2402_18668 beats the matched baseline on mqar: accuracy "
            "0.9130±0.0113 vs 0.4100±0.0283 over 2 seeds (effect +0.5030, threshold "
            "0.0609, ~105,000 params, toy scale).",
        },
        "curves": curves,
        "wall_seconds": 734.219,
    }


def model_tar_gz(metrics: dict[str, Any]) -> bytes:
    """model.tar.gz as SageMaker packs SM_MODEL_DIR (members relative to the dir)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in (
            ("metrics.json", json.dumps(metrics, indent=2).encode()),
            ("loss.png", b"\x89PNG\r\n\x1a\n fake"),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def state_change_event(
    job_name: str,
    status: str = "Completed",
    *,
    failure_reason: str | None = None,
    event_id: str = "844e2571-85d4-695f-b930-0153b71dcb42",
) -> dict[str, Any]:
    """The documented "SageMaker Training Job State Change" event (SageMaker developer
    guide, "Events that Amazon SageMaker AI sends to Amazon EventBridge"), for our job."""
    arn = f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{job_name}"
    detail: dict[str, Any] = {
        "TrainingJobName": job_name,
        "TrainingJobArn": arn,
        "TrainingJobStatus": status,
        "SecondaryStatus": {"Completed": "Completed", "Failed": "Failed"}.get(status, status),
        "HyperParameters": {"task": "mqar", "budget": "small", "impl": "based_2402_18668.py"},
        "AlgorithmSpecification": {
            "TrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/paperfoundry-trainer",
            "TrainingInputMode": "File",
        },
        "RoleArn": "arn:aws:iam::123456789012:role/paperfoundry-sagemaker",
        "InputDataConfig": [
            {
                "ChannelName": "impl",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": f"s3://bucket/implementations/{job_name}/",
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
                "ContentType": "text/x-python",
                "CompressionType": "None",
            }
        ],
        "OutputDataConfig": {"KmsKeyId": "", "S3OutputPath": "s3://bucket/training/"},
        "ResourceConfig": {
            "InstanceType": "ml.g5.xlarge",
            "InstanceCount": 1,
            "VolumeSizeInGB": 30,
        },
        "VpcConfig": {},
        "StoppingCondition": {"MaxRuntimeInSeconds": 1800, "MaxWaitTimeInSeconds": 3600},
        "CreationTime": "1709230000000",
        "TrainingStartTime": "1709230060000",
        "TrainingEndTime": "1709230800000",
        "LastModifiedTime": "1709230800000",
        "SecondaryStatusTransitions": [],
        "Tags": {},
    }
    if failure_reason:
        detail["FailureReason"] = failure_reason
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "SageMaker Training Job State Change",
        "source": "aws.sagemaker",
        "account": "123456789012",
        "time": "2024-02-29T18:20:00Z",
        "region": "us-east-1",
        "resources": [arn],
        "detail": detail,
    }
