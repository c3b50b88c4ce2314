"""Step Lambda: one step of the day's chain (`paperfoundry.chain`), called by the state
machine (`stacks/orchestration.py`) with `{"step": ..., "day": ..., ...}`.

Four functions run this handler, each allowed only its own steps (env STEPS) and given
only the permissions those need: scrape (the sources), day (ingest, ranking progress,
select, report), llm (review, implement: the LLM secret) and train (SageMaker jobs).
A step's own exceptions reach the state machine by class name (`SourceUnavailable`,
`DayFailed`, `RankingIncomplete`, `JobStillRunning`), where Retry and Catch name them.
"""

from __future__ import annotations

import os
import time
from datetime import date
from typing import Any, Literal

from aws_lambda_powertools.utilities.typing import LambdaContext
from paperfoundry import chain
from pydantic import BaseModel, ConfigDict

from handlers._runtime import Runtime, get_runtime, logger, metrics, tracer, utc_today

Step = Literal[
    "plan_scrape", "scrape", "scrape_failed", "ingest", "ranking_progress", "review",
    "select", "implement", "start_training", "finish_training", "report", "published",
    "publish_failed",
]  # fmt: skip
SAFETY_SECONDS = 20  # a scrape unit returns this long before the Lambda would be killed


class StepEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    step: Step
    day: date
    unit: str | None = None
    arxiv_id: str | None = None
    deadline: str | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


def allowed_steps() -> set[str]:
    return {s.strip() for s in os.environ.get("STEPS", "").split(",") if s.strip()}


def ports(rt: Runtime, step: str) -> chain.Ports:
    """The chain's ports, building only the adapters this step uses."""
    training = step in ("start_training", "finish_training")
    return chain.Ports(
        store=rt.store,
        blobs=rt.blobs,
        config=rt.config,
        queue=rt.queue if step == "ingest" else None,
        backend=rt.backend if training else None,
        llm=rt.llm_for,
        implementer=rt.implementer_for,
        link=rt.report_link,
    )


def _remaining(context: LambdaContext | None) -> float | None:
    if context is None or not hasattr(context, "get_remaining_time_in_millis"):
        return None
    return time.monotonic() + context.get_remaining_time_in_millis() / 1000 - SAFETY_SECONDS


def run_step(rt: Runtime, event: StepEvent, context: LambdaContext | None = None) -> Any:
    p = ports(rt, event.step)
    deadline = _remaining(context)
    if deadline is not None:  # LLM requests end before the Lambda would be killed

        def llm_for(day: date) -> Any:
            client = rt.llm_for(day)
            if client is not None:
                client.deadline = deadline
            return client

        p.llm = llm_for
    day, pid = event.day, event.arxiv_id or ""
    match event.step:
        case "plan_scrape":
            return chain.plan_scrape(p, day)
        case "scrape":
            try:
                return chain.scrape(p, day, event.unit or "", deadline=deadline, today=utc_today())
            except chain.SourceUnavailable:
                metrics.add_metric(name="SourceFailed", unit="Count", value=1)
                raise
        case "scrape_failed":
            metrics.add_metric(name="SourceFailed", unit="Count", value=1)
            return chain.scrape_failed(p, day, event.unit or "", _cause(event.error))
        case "ingest":
            return chain.ingest(p, day)
        case "ranking_progress":
            return chain.ranking_progress(p, day, event.deadline)
        case "review":
            return chain.review(p, day)
        case "select":
            out = chain.select(p, day)
            metrics.add_metric(name="Picks", unit="Count", value=len(out["picks"]))
            return out
        case "implement":
            return chain.implement(p, day, pid)
        case "start_training":
            return chain.start_training(p, day, pid)
        case "finish_training":
            out = chain.finish_training(p, day, pid, result=event.result, error=event.error)
            if "training job not started" in (out.get("error") or ""):
                metrics.add_metric(name="TrainingJobsFailedToStart", unit="Count", value=1)
            name = "TrainingJobsCompleted" if out["status"] == "completed" else "TrainingJobsFailed"
            metrics.add_metric(name=name, unit="Count", value=1)
            return out
        case "report":
            return chain.report(p, day)
        case "published":
            metrics.add_metric(name="DigestsPublished", unit="Count", value=1)
            return chain.published(p, day)
        case "publish_failed":
            metrics.add_metric(name="PublishFailed", unit="Count", value=1)
            logger.error("digest not published", extra={"error": _cause(event.error)})
            return {"published": False}


def _cause(error: dict[str, Any] | None) -> str:
    if not error:
        return "unknown error"
    return f"{error.get('Error')}: {error.get('Cause')}"[:1000]


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    request = StepEvent.model_validate(event)
    if request.step not in allowed_steps():
        raise PermissionError(f"step {request.step!r} does not run in this function")
    logger.append_keys(step=request.step, day=request.day.isoformat(), unit=request.unit,
                       arxiv_id=request.arxiv_id)  # fmt: skip
    return run_step(get_runtime(), request, context)


lambda_handler = handler  # the stack points at handlers.<name>.handler
