"""Rank Lambda (SQS papers queue, batches): score each paper against the day's context.

Partial batch failures (Powertools BatchProcessor): a record that fails (malformed body,
paper missing, transient error) is reported in `batchItemFailures` and redelivered; after
the queue's maxReceiveCount it lands in the DLQ. Redelivered records are harmless: the
score is written once (`save_score`). The day's state machine polls the scores
(`chain.ranking_progress`) and goes on when the day is ranked or its deadline passed.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from paperfoundry import pipeline
from paperfoundry.ranking import DayContext

from handlers._events import RankRecord
from handlers._runtime import get_runtime, logger, metrics, tracer

# A batch where every record failed is reported like any other (all ids listed), not
# raised: SQS retries exactly the failed records either way.
processor = BatchProcessor(
    event_type=EventType.SQS, model=RankRecord, raise_on_entire_batch_failure=False
)
# Per container: a day's context is downloaded once, then checked once per batch with a
# conditional GET (304, no body, while unchanged).
_contexts = pipeline.ContextCache()


def _context(day: date) -> DayContext:
    return _contexts.get(get_runtime().blobs, day)


@tracer.capture_method
def record_handler(record: RankRecord) -> dict[str, Any]:
    rt = get_runtime()
    message = record.body
    logger.append_keys(day=message.day.isoformat(), arxiv_id=message.arxiv_id)
    score, first = pipeline.rank(
        message.day,
        message.arxiv_id,
        store=rt.store,
        context=_context(message.day),
        blobs=rt.blobs,  # the paper's cached embedding, when the day has an embedding profile
    )
    if first:
        metrics.add_metric(name="PapersRanked", unit="Count", value=1)
        logger.info("paper ranked", extra={"score": round(score.total, 4)})
    else:
        metrics.add_metric(name="DuplicateRankMessages", unit="Count", value=1)
        logger.info("paper already ranked (redelivery)")
    return {"arxiv_id": message.arxiv_id, "score": score.total, "first": first}


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    _contexts.new_batch()
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )


lambda_handler = handler  # the stack points at handlers.<name>.handler
