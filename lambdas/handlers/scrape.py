"""Scrape Lambda (EventBridge Scheduler, daily): fetch today's papers and any missed days,
store them, and fan out one rank message per paper (SQS).

A day counts as scraped when at least one source answered; when every source failed the
day is left unmarked, so the next scheduled run retries it (within BACKFILL_DAYS).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext
from paperfoundry import pipeline

from handlers._events import ScrapeRequest
from handlers._runtime import Runtime, get_runtime, logger, metrics, tracer, utc_today


class TotalFirstQueue:
    """Queue decorator: records the day's paper count (the rank fan-in target) and marks
    the day scraped *before* the first rank message exists, so no rank Lambda can finish
    the day's ranking without seeing the total. (An empty day sends nothing; the select
    timeout sweep picks it up.)"""

    def __init__(self, rt: Runtime, day: date) -> None:
        self.rt, self.day = rt, day
        self.total: int | None = None

    def send(self, messages: list[dict[str, Any]]) -> None:
        self.total = len(self.rt.store.papers_for_day(self.day))
        self.rt.store.set_day_total(self.day, self.total, scraped=True)
        self.rt.queue.send(messages)


def days_to_scrape(rt: Runtime, request: ScrapeRequest, today: date) -> list[date]:
    if request.day is not None:
        return [request.day]
    backfill = rt.settings.backfill_days if request.backfill_days is None else request.backfill_days
    earlier = [today - timedelta(days=n) for n in range(1, backfill + 1)]
    return [today] + [d for d in earlier if not rt.store.day_scraped(d)]


@tracer.capture_method
def scrape_day(rt: Runtime, day: date, http_client: Any = None) -> dict[str, Any]:
    from paperfoundry.sources import all_failed, fetch_day  # only this Lambda needs httpx

    config = rt.config
    notes: list[str] = []
    papers, statuses = fetch_day(
        day,
        categories=config.sources.categories,
        sources=config.sources.enabled,
        timeout=config.sources.timeout_seconds,
        client=http_client,
        notes=notes,
    )
    for status in statuses:
        metrics.add_metric(name="SourceOk" if status.ok else "SourceFailed", unit="Count", value=1)
    if all_failed(statuses):
        rt.store.save_sources(day, statuses)
        logger.warning(
            "every source failed; day left for the next run",
            extra={"day": day.isoformat(), "errors": [s.error for s in statuses]},
        )
        return {"day": day.isoformat(), "ok": False, "papers": 0, "new": 0}
    queue = TotalFirstQueue(rt, day)
    new_ids = pipeline.ingest(
        day, papers, statuses, store=rt.store, blobs=rt.blobs, queue=queue, config=config
    )
    total = queue.total
    if total is None:  # ingest sent nothing at all
        total = len(rt.store.papers_for_day(day))
        rt.store.set_day_total(day, total, scraped=True)
    metrics.add_metric(name="PapersScraped", unit="Count", value=len(papers))
    metrics.add_metric(name="PapersNew", unit="Count", value=len(new_ids))
    logger.info(
        "day scraped",
        extra={"day": day.isoformat(), "papers": total, "new": len(new_ids), "notes": notes},
    )
    return {"day": day.isoformat(), "ok": True, "papers": total, "new": len(new_ids)}


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse(event=event or {}, model=ScrapeRequest)
    rt = get_runtime()
    results = []
    for day in days_to_scrape(rt, request, utc_today()):
        logger.append_keys(day=day.isoformat())
        results.append(scrape_day(rt, day))
    logger.remove_keys(["day"])
    return {"days": results}


lambda_handler = handler  # the stack points at handlers.<name>.handler
