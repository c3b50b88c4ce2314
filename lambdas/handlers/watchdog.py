"""Watchdog Lambda (EventBridge Scheduler, weekdays at the digest deadline).

- No digest for today by now: metric `DigestMissing` (alarmed to the ops topic).
- Runs still `running` long after any job could have ended (their execution failed or was
  stopped while the job ran): collected from SageMaker now (`chain.reconcile_runs`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from paperfoundry import chain

from handlers._runtime import Runtime, get_runtime, logger, metrics, tracer, utc_today

RECONCILE_DAYS = 7


def check(rt: Runtime) -> dict[str, Any]:
    today = utc_today()
    p = chain.Ports(store=rt.store, blobs=rt.blobs, config=rt.config, backend=rt.backend)
    missing = chain.digest_missing(p, today)
    metrics.add_metric(name="DigestMissing", unit="Count", value=1 if missing else 0)
    if missing:
        logger.error("no digest yet today", extra={"day": today.isoformat()})
    # a job can run MaxRuntime plus as long again waiting for spot capacity
    limit = timedelta(seconds=2 * rt.backend.max_runtime_seconds + 3600)
    reconciled = chain.reconcile_runs(p, today, RECONCILE_DAYS, limit)
    if reconciled:
        metrics.add_metric(name="RunsReconciled", unit="Count", value=len(reconciled))
        logger.warning("stale runs collected", extra={"runs": reconciled})
    return {"digest_missing": missing, "reconciled": reconciled}


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return check(get_runtime())


lambda_handler = handler  # the stack points at handlers.<name>.handler
