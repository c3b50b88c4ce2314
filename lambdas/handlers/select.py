"""Select Lambda: LLM review (when configured), pick the day's papers, resolve
implementations (library, else the LLM implementer), start training.

Triggers:
- EventBridge `DayRanked` {day} (put by the rank Lambda when the day's ranking is done);
- Scheduler `{"trigger": "timeout"}`: days scraped more than RANKING_STALL_HOURS ago whose
  selection never ran (some papers stuck in the DLQ) are selected with what was ranked,
  and the unranked papers are noted in the report;
- `{"trigger": "manual", "day": "YYYY-MM-DD"}`.

Idempotent: a claim on the day item lets one invocation select a day; picks, stored
reviews and implementations and deterministic SageMaker job names make a retried selection
harmless (and never pay the LLM twice). An LLM that cannot be set up (secret unreadable,
unknown model price) degrades the day to signals-only with a note and a metric.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext
from paperfoundry import pipeline
from paperfoundry.models import Implementation, Pick
from pydantic import ValidationError

from handlers._events import DayRankedEvent, SelectTrigger
from handlers._runtime import Runtime, get_runtime, logger, metrics, tracer


def unranked_note(rt: Runtime, day: date) -> str | None:
    scored = {s.arxiv_id for s in rt.store.scores_for_day(day)}
    missing = sorted(p.arxiv_id for p in rt.store.papers_for_day(day) if p.arxiv_id not in scored)
    if not missing:
        return None
    shown = ", ".join(missing[:20]) + (" ..." if len(missing) > 20 else "")
    return f"ranking incomplete: {len(missing)} paper(s) could not be ranked ({shown})"


def _llm(rt: Runtime, day: date, notes: list[str]) -> Any:
    """The day's LLM client; a broken LLM setup degrades the day to signals-only."""
    try:
        return rt.llm_for(day)
    except Exception as exc:  # noqa: BLE001 - the day must still be selected and trained
        logger.exception("LLM unavailable; ranking on signals only")
        metrics.add_metric(name="LlmUnavailable", unit="Count", value=1)
        notes.append(f"LLM unavailable ({type(exc).__name__}): signals-only ranking today")
        return None


def _implement(rt: Runtime, picks: list[Pick], implementer: Any) -> list[Implementation]:
    """Implementations of the picks; LLM ones in parallel (each is a few minutes of model
    time, and the Lambda has 15), library look-ups are instant either way."""
    from concurrent.futures import ThreadPoolExecutor

    def one(pick: Pick) -> Implementation:
        return pipeline.implement_pick(
            pick, store=rt.store, implementer=implementer, blobs=rt.blobs
        )

    with ThreadPoolExecutor(max_workers=max(1, len(picks))) as pool:
        return list(pool.map(one, picks))


@tracer.capture_method
def select_day(rt: Runtime, day: date, *, stalled: bool = False) -> dict[str, Any]:
    if not rt.store.claim_selection(day):
        logger.info("day already selected", extra={"day": day.isoformat()})
        return {"day": day.isoformat(), "selected": False}
    try:
        notes: list[str] = []
        if stalled and (note := unranked_note(rt, day)):
            notes.append(note)
        config = rt.config
        llm = _llm(rt, day, notes)
        if llm is not None:
            notes.extend(pipeline.review_day(day, store=rt.store, llm=llm, config=config))
            metrics.add_metric(name="LlmSpendUsd", unit="None", value=llm.spent_usd)
        picks, select_notes = pipeline.select(day, store=rt.store, config=config)
        notes.extend(select_notes)
        implementations = _implement(rt, picks, rt.implementer_for(llm))
        started = []
        for pick, implementation in zip(picks, implementations, strict=True):
            run = pipeline.train(
                pick,
                implementation,
                store=rt.store,
                backend=rt.backend,
                budget=config.training.budget,
            )
            if run is None:
                why = implementation.reason or implementation.status
                notes.append(f"{pick.arxiv_id}: not trained ({why})")
                continue
            if run.status == "running":
                started.append(run.run_id)
                metrics.add_metric(name="TrainingJobsStarted", unit="Count", value=1)
            elif run.status == "failed":
                metrics.add_metric(name="TrainingJobsFailedToStart", unit="Count", value=1)
                logger.error(
                    "training job not started", extra={"run_id": run.run_id, "error": run.error}
                )
        rt.store.finish_selection(day, notes)
    except Exception:
        rt.store.release_selection(day)
        raise
    metrics.add_metric(name="Picks", unit="Count", value=len(picks))
    logger.info(
        "day selected",
        extra={"day": day.isoformat(), "picks": [p.arxiv_id for p in picks], "jobs": started},
    )
    # Nothing in flight (no picks, nothing implemented, or every job failed to start):
    # the report does not wait for a training event that will never come.
    if pipeline.day_finished(day, store=rt.store):
        try:
            rt.publish_report(day)
        except Exception:  # noqa: BLE001 - the selection itself is done and recorded
            logger.exception("report not published", extra={"day": day.isoformat()})
            metrics.add_metric(name="ReportPublishFailed", unit="Count", value=1)
    return {"day": day.isoformat(), "selected": True, "picks": len(picks), "jobs": started}


def _days(rt: Runtime, event: dict[str, Any]) -> list[tuple[date, bool]]:
    if event.get("detail-type") is not None:
        return [(parse(event=event, model=DayRankedEvent).detail.day, False)]
    trigger = parse(event=event, model=SelectTrigger)
    if trigger.trigger == "manual":
        if trigger.day is None:
            raise ValueError("a manual selection needs a day")
        return [(trigger.day, True)]
    cutoff = datetime.now(UTC) - timedelta(hours=rt.settings.stall_hours)
    return [(d, True) for d in rt.store.days_awaiting_selection(cutoff)]


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE, clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    rt = get_runtime()
    try:
        days = _days(rt, event or {})
    except (ValidationError, ValueError) as exc:
        # Not retryable: an async retry would fail the same way. Logged and dropped.
        logger.error("unrecognised event", extra={"error": str(exc)[:500]})
        return {"days": [], "error": "unrecognised event"}
    return {"days": [select_day(rt, day, stalled=stalled) for day, stalled in days]}


lambda_handler = handler  # the stack points at handlers.<name>.handler
