"""Report Lambda (EventBridge "SageMaker Training Job State Change", terminal states).

Finds the run by job name (= run id), collects the job's metrics.json into the run, and
when every pick of the day has finished publishes report.json + report.html to S3 and the
digest to SNS, exactly once (`mark_digest_sent`). SageMaker may send several events per
state change: a run already collected is not collected again, and the digest flag makes
the publication single.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext
from paperfoundry import pipeline
from paperfoundry.models import TrainingRun
from paperfoundry.training import run_id_of_job
from pydantic import ValidationError

from handlers._events import TrainingJobStateChange
from handlers._runtime import get_runtime, logger, metrics, tracer

TERMINAL = ("Completed", "Failed", "Stopped")


def _repair(rt: Any, run: TrainingRun) -> TrainingRun | None:
    """LLM-written code the training job rejected in validation goes back to the
    implementer with the harness's error and is trained again, while attempts are left."""

    def implementer() -> Any:
        try:
            return rt.implementer_for(rt.llm_for(run.day))
        except Exception:  # noqa: BLE001 - no repair today; the failure is reported as is
            logger.exception("LLM unavailable; not repairing")
            return None

    retry = pipeline.repair_after_failed_run(
        run, store=rt.store, implementer=implementer, backend=rt.backend, config=rt.config
    )
    if retry is None or retry.status != "running":
        return None
    logger.info("repair started", extra={"run_id": retry.run_id, "attempt": retry.attempt})
    metrics.add_metric(name="ImplementationRepairs", unit="Count", value=1)
    return retry


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE, clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        change = parse(event=event, model=TrainingJobStateChange)
    except ValidationError as exc:
        logger.error("not a training job state change", extra={"error": str(exc)[:500]})
        return {"status": "ignored", "reason": "unrecognised event"}
    detail = change.detail
    job = detail.TrainingJobName
    logger.append_keys(job_name=job, job_status=detail.TrainingJobStatus)
    if detail.TrainingJobStatus not in TERMINAL:
        return {"status": "ignored", "reason": f"job {detail.TrainingJobStatus}"}
    rt = get_runtime()
    run = rt.store.get_run(run_id_of_job(job))
    if run is None:
        logger.warning("no paperfoundry run for this job")
        return {"status": "ignored", "reason": "unknown job"}
    if run.job_name and run.job_name != job:
        logger.info("event of a superseded attempt", extra={"current_job": run.job_name})
        return {"status": "ignored", "reason": "superseded attempt"}
    if run.finished:
        logger.info("run already collected (duplicate event)")
        metrics.add_metric(name="DuplicateJobEvents", unit="Count", value=1)
    else:
        run = rt.backend.collect(
            run,
            job_status=detail.TrainingJobStatus,
            failure_reason=detail.FailureReason,
            ended_at=detail.TrainingEndTime,
        )
        rt.store.save_run(run)
        metrics.add_metric(
            name="TrainingJobsCompleted" if run.status == "completed" else "TrainingJobsFailed",
            unit="Count",
            value=1,
        )
        logger.info(
            "run collected",
            extra={
                "run_id": run.run_id,
                "status": run.status,
                "verdict": run.verdict.outcome if run.verdict else None,
                "error": run.error,
            },
        )
        pipeline.confirm_implementation(run, store=rt.store, blobs=rt.blobs)
        if run.status == "failed" and (retry := _repair(rt, run)) is not None:
            return {"status": "repairing", "run_id": retry.run_id, "job": retry.job_name}
    uri = None
    if pipeline.day_finished(run.day, store=rt.store):
        uri = rt.publish_report(run.day)
    return {"status": run.status, "run_id": run.run_id, "report": uri}


lambda_handler = handler  # the stack points at handlers.<name>.handler
