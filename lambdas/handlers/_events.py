"""Parser models (Powertools parser / pydantic) for the events the handlers receive."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Literal

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel, SqsRecordModel
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


class ScrapeRequest(BaseModel):
    """EventBridge Scheduler input (any extra keys, e.g. a scheduled-event envelope, are
    ignored). `day` forces one day; `backfill_days` overrides BACKFILL_DAYS."""

    model_config = ConfigDict(extra="ignore")
    day: date | None = None
    backfill_days: int | None = Field(default=None, ge=0, le=30)


class DayRankedDetail(BaseModel):
    day: date
    papers: int | None = None


class DayRankedEvent(EventBridgeModel):
    source: Literal["paperfoundry"]
    detail_type: Literal["DayRanked"] = Field(alias="detail-type")
    detail: DayRankedDetail


class SelectTrigger(_Strict):
    """Scheduler input for the stalled-ranking sweep, or a manual run for one day."""

    trigger: Literal["timeout", "manual"] = "timeout"
    day: date | None = None


class TrainingJobStateDetail(BaseModel):
    """`detail` of "SageMaker Training Job State Change" (only the fields used)."""

    model_config = ConfigDict(extra="ignore")
    TrainingJobName: str
    TrainingJobArn: str | None = None
    TrainingJobStatus: str
    SecondaryStatus: str | None = None
    FailureReason: str | None = None
    TrainingEndTime: datetime | None = None

    @field_validator("TrainingEndTime", mode="before")
    @classmethod
    def _epoch_millis(cls, value: object) -> object:
        # The documented example carries epoch milliseconds as a string ("1583831889050").
        if isinstance(value, str) and value.isdigit():
            return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
        if isinstance(value, int | float):
            return datetime.fromtimestamp(value / 1000, tz=UTC)
        return value


class TrainingJobStateChange(EventBridgeModel):
    source: Literal["aws.sagemaker"]
    detail_type: Literal["SageMaker Training Job State Change"] = Field(alias="detail-type")
    detail: TrainingJobStateDetail
