"""Training step helpers shared by the local and the SageMaker backends.

The harness (containers/trainer) writes `metrics.json`; `apply_metrics` turns it into
the domain's `TrainingRun` so both runtimes report identically.
"""

from __future__ import annotations

import re
from datetime import date
from functools import cache
from typing import Any

from pydantic import TypeAdapter, ValidationError

from .models import (
    BaselineInfo,
    ClaimResult,
    Curve,
    Efficiency,
    Failure,
    Gate,
    MetricInfo,
    ModelComparison,
    ModelResult,
    ParamCount,
    Reference,
    SweepPoint,
    TrainingRun,
    Verdict,
)

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


# TrainingRun fields filled from metrics.json beyond the verdict (schema 2, and params)
SCHEMA2_FIELDS = (
    "metrics_schema", "outcome", "metric", "setting", "device", "isolation", "baseline",
    "control", "params", "params_match", "params_budget", "gates", "sweep", "models",
    "comparisons", "efficiency", "claims", "declaration_problems", "tokens_per_run",
    "images_per_run", "steps", "contract", "candidate_model", "references",
)  # fmt: skip
# the plain values among them, checked against TrainingRun's field types (`_checked`)
_SCALARS = (
    "outcome", "device", "isolation", "tokens_per_run", "images_per_run", "steps", "contract",
)  # fmt: skip


def apply_metrics(run: TrainingRun, metrics: dict[str, Any]) -> TrainingRun:
    """Copy the harness's results into `run`; malformed metrics mark the run failed.

    Schema 2 (docs/VERDICTS.md): the verdict plus gates, per-model results, comparisons
    (ablations too), efficiency and per-claim outcomes. Schema 1 (no `schema` key or 1):
    the verdict only; such runs are reported as legacy verdicts without controls.
    """
    updated = run.model_copy(deep=True)
    for name in SCHEMA2_FIELDS:  # a retried run must not keep an earlier attempt's results
        setattr(
            updated, name, TrainingRun.model_fields[name].get_default(call_default_factory=True)
        )
    try:
        schema = int(metrics.get("schema") or 1)
        updated.metrics_schema = schema
        updated.wall_seconds = metrics.get("wall_seconds")
        if schema >= 2:
            _apply_schema2(updated, metrics)
        else:
            _apply_params_schema1(updated, metrics.get("params"))
        if metrics.get("status") == "ok":
            updated.status = "completed"
            verdict = metrics.get("verdict")
            if schema < 2 or verdict is not None:  # schema 1 always has one
                updated.verdict = Verdict.model_validate(verdict)
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
    except (KeyError, TypeError, AttributeError, ValueError, ValidationError) as exc:
        updated.status = "failed"
        updated.error = f"unreadable metrics.json: {type(exc).__name__}: {exc}"[:2000]
    return updated


@cache
def _adapter(name: str) -> TypeAdapter:
    return TypeAdapter(TrainingRun.model_fields[name].annotation)


def _checked(name: str, value: Any) -> Any:
    """`value` as TrainingRun's field `name` takes it; ValidationError when malformed."""
    return _adapter(name).validate_python(value)


def _apply_schema2(run: TrainingRun, metrics: dict[str, Any]) -> None:
    for name in _SCALARS:
        setattr(run, name, _checked(name, metrics.get(name)))
    run.metric = MetricInfo.model_validate(metrics["metric"]) if metrics.get("metric") else None
    run.setting = dict(metrics.get("setting") or {})
    baseline, control = metrics.get("baseline"), metrics.get("control")
    run.baseline = BaselineInfo.model_validate(baseline) if baseline else None
    run.control = BaselineInfo.model_validate(control) if isinstance(control, dict) else None
    candidate_model = metrics.get("candidate_model")  # the optimizer contract only
    run.candidate_model = BaselineInfo.model_validate(candidate_model) if candidate_model else None
    run.references = {
        name: Reference.model_validate(reference)
        for name, reference in (metrics.get("references") or {}).items()
    }
    params = dict(metrics.get("params") or {})
    run.params_match = params.pop("match", None)
    run.params_budget = params.pop("budget", None)
    run.params = {
        name: ParamCount.model_validate(count if isinstance(count, dict) else {"total": count})
        for name, count in params.items()
        if count is not None
    }
    run.gates = [Gate.model_validate(g) for g in metrics.get("gates") or []]
    run.sweep = [SweepPoint.model_validate(p) for p in metrics.get("sweep") or []]
    run.models = {
        name: ModelResult.model_validate(result)
        for name, result in (metrics.get("models") or {}).items()
    }
    run.comparisons = [ModelComparison.model_validate(c) for c in metrics.get("comparisons") or []]
    run.efficiency = {
        name: Efficiency.model_validate(figures)
        for name, figures in (metrics.get("efficiency") or {}).items()
    }
    run.claims = [ClaimResult.model_validate(c) for c in metrics.get("claims") or []]
    run.declaration_problems = [str(p) for p in metrics.get("declaration_problems") or []]


def _apply_params_schema1(run: TrainingRun, params: Any) -> None:
    """Schema 1 params: {"baseline": int, "candidate": int, "budget": int}."""
    if not isinstance(params, dict):
        return
    run.params_budget = params.get("budget")
    run.params = {
        name: ParamCount(total=count)
        for name, count in params.items()
        if name != "budget" and isinstance(count, int)
    }
