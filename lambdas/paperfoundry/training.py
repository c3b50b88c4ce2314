"""Training step helpers shared by the local and the SageMaker backends.

The harness (containers/trainer) writes `metrics.json`; `apply_metrics` turns it into
the domain's `TrainingRun` so both runtimes report identically.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from pydantic import ValidationError

from .models import Curve, Failure, TrainingRun, Verdict

# SageMaker job names: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$, so no dots.
_UNSAFE = re.compile(r"[^a-zA-Z0-9]+")


_ATTEMPT = re.compile(r"-a(\d+)$")


def run_id_for(day: date, arxiv_id: str, task: str) -> str:
    """Deterministic, so a re-run or a duplicate event maps onto the same run."""
    # 56 characters leave room for an attempt suffix within SageMaker's 63.
    return f"pf-{day:%Y%m%d}-{_UNSAFE.sub('-', arxiv_id)}-{_UNSAFE.sub('-', task)}"[:56]


def job_name_for(run_id: str, attempt: int) -> str:
    """One name per attempt: SageMaker never frees a training job name, so a retry of a
    failed run needs a new one (`pf-...-mqar`, then `pf-...-mqar-a2`, ...)."""
    return run_id if attempt <= 1 else f"{run_id}-a{attempt}"


def run_id_of_job(job_name: str) -> str:
    return _ATTEMPT.sub("", job_name)


def apply_metrics(run: TrainingRun, metrics: dict[str, Any]) -> TrainingRun:
    """Copy the harness's results into `run`; malformed metrics mark the run failed."""
    updated = run.model_copy(deep=True)
    try:
        updated.wall_seconds = metrics.get("wall_seconds")
        if metrics.get("status") == "ok":
            updated.status = "completed"
            updated.verdict = Verdict.model_validate(metrics["verdict"])
        else:
            updated.status = "failed"
            failure = metrics.get("failure") or {}
            updated.failure = Failure.model_validate(
                {"stage": "unknown", "type": "unknown", "message": "no failure recorded", **failure}
            )
        updated.curves = {
            model: {seed: Curve.model_validate(curve) for seed, curve in seeds.items()}
            for model, seeds in (metrics.get("curves") or {}).items()
        }
    except (KeyError, TypeError, AttributeError, ValidationError) as exc:
        updated.status = "failed"
        updated.error = f"unreadable metrics.json: {type(exc).__name__}: {exc}"[:2000]
    return updated
