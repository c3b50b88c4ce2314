"""Parser models (Powertools parser / pydantic) for the events the handlers receive."""

from __future__ import annotations

from datetime import date

from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from paperfoundry.models import split_arxiv_id
from pydantic import BaseModel, ConfigDict, Field, Json, field_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RankMessage(_Strict):
    """Body of one papers-queue message (`pipeline.rank_message`)."""

    day: date
    arxiv_id: str

    @field_validator("arxiv_id")
    @classmethod
    def _arxiv_id(cls, value: str) -> str:
        return split_arxiv_id(value)[0]


class RankRecord(SqsRecordModel):
    body: Json[RankMessage]  # type: ignore[assignment]


class StartRequest(BaseModel):
    """EventBridge Scheduler input of the start Lambda (extra keys, e.g. a scheduled-event
    envelope, are ignored). `day` starts that day only; `backfill_days` overrides the
    config's `day.backfill_days`."""

    model_config = ConfigDict(extra="ignore")
    day: date | None = None
    backfill_days: int | None = Field(default=None, ge=0, le=30)
