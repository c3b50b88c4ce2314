"""Start Lambda (EventBridge Scheduler, each weekday morning): start the day's execution
of the state machine, and one for each earlier day in the backfill window that is missing,
partial or failed (`chain.days_to_start`).

Executions are named after their day (`2024-10-25`, retries `2024-10-25-r1`, ...): Step
Functions refuses a second execution with a name it has seen, so a duplicate schedule
delivery or a manual start cannot run a day twice at once.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext
from paperfoundry import chain

from handlers._events import StartRequest
from handlers._runtime import Runtime, _env, get_runtime, logger, metrics, tracer, utc_today

POLL_SECONDS = 60  # how often the execution checks the ranking fan-out


def running_days(sfn: Any, arn: str) -> set[date]:
    """Days with an execution still running (a second one would race it)."""
    days = set()
    for page in sfn.get_paginator("list_executions").paginate(
        stateMachineArn=arn, statusFilter="RUNNING"
    ):
        for execution in page["executions"]:
            try:
                days.add(date.fromisoformat(execution["name"][:10]))
            except ValueError:
                continue  # not one of ours (started by hand under another name)
    return days


def start_days(rt: Runtime, request: StartRequest) -> list[dict[str, Any]]:
    p = chain.Ports(store=rt.store, blobs=rt.blobs, config=rt.config)
    sfn = rt.client("stepfunctions")
    arn = _env("STATE_MACHINE_ARN", rt.settings.state_machine_arn)
    running = running_days(sfn, arn)
    if request.day is not None:
        state = rt.store.get_day_state(request.day)
        attempts = state.attempts if state is not None else 0
        days = (
            []
            if request.day in running
            else [(request.day, chain.execution_name(request.day, attempts))]
        )
    else:
        backfill = request.backfill_days
        if backfill is None:
            backfill = rt.settings.backfill_days
        if backfill is None:
            backfill = rt.config.day.backfill_days
        days = chain.days_to_start(p, utc_today(), backfill, running)
    started = []
    for day, name in days:
        payload = {"day": day.isoformat(), "poll_seconds": POLL_SECONDS}
        try:
            sfn.start_execution(stateMachineArn=arn, name=name, input=json.dumps(payload))
        except sfn.exceptions.ExecutionAlreadyExists:
            logger.info("execution exists already", extra={"day": day.isoformat(), "name": name})
            continue
        chain.mark_started(p, day)
        metrics.add_metric(name="ExecutionsStarted", unit="Count", value=1)
        started.append({"day": day.isoformat(), "name": name})
    if running:
        logger.info("days left running", extra={"days": sorted(d.isoformat() for d in running)})
    logger.info("days started", extra={"started": started})
    return started


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse(event=event or {}, model=StartRequest)
    return {"started": start_days(get_runtime(), request)}


lambda_handler = handler  # the stack points at handlers.<name>.handler
