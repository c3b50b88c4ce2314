"""Ports: what the domain core needs from the outside world.

Local adapters (SQLite, filesystem, subprocess trainer) and AWS adapters (DynamoDB, S3,
SQS, SNS, SageMaker) implement these. The core never imports an adapter.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any, Protocol, runtime_checkable

from .models import (
    Implementation,
    LLMCall,
    Paper,
    PaperReview,
    Pick,
    Score,
    SourceStatus,
    Tournament,
    TrainingRun,
)


@runtime_checkable
class PaperStore(Protocol):
    """Durable state of the pipeline. Every write is idempotent (safe on redelivery)."""

    def upsert_papers(self, papers: Iterable[Paper]) -> list[str]:
        """Insert or merge papers (signals of each source are merged); return ids that were new."""

    def get_paper(self, arxiv_id: str) -> Paper | None: ...

    def papers_for_day(self, day: date) -> list[Paper]: ...

    def save_score(self, score: Score) -> bool:
        """Store a score; return True only the first time this (day, paper) is scored."""

    def scores_for_day(self, day: date) -> list[Score]:
        """The day's scores, best first."""

    def save_sources(self, day: date, statuses: list[SourceStatus]) -> None: ...

    def sources_for_day(self, day: date) -> list[SourceStatus]: ...

    def save_picks(self, day: date, picks: list[Pick]) -> None: ...

    def picks_for_day(self, day: date) -> list[Pick]: ...

    def save_implementation(self, implementation: Implementation) -> None: ...

    def get_implementation(self, arxiv_id: str) -> Implementation | None: ...

    def save_run(self, run: TrainingRun) -> None: ...

    def get_run(self, run_id: str) -> TrainingRun | None: ...

    def runs_for_day(self, day: date) -> list[TrainingRun]: ...

    def runs_for_paper(self, arxiv_id: str) -> list[TrainingRun]: ...

    # LLM review (written only when an LLM is configured)

    def save_review(self, review: PaperReview) -> None: ...

    def reviews_for_day(self, day: date) -> dict[str, PaperReview]: ...

    def save_tournament(self, tournament: Tournament) -> None: ...

    def get_tournament(self, day: date) -> Tournament | None: ...

    def record_llm_call(self, call: LLMCall) -> None:
        """Append to the spend ledger (the daily cap and the report read it)."""

    def llm_calls_for_day(self, day: date) -> list[LLMCall]: ...


class Queue(Protocol):
    """Fan-out of work items (one per new paper)."""

    def send(self, messages: list[dict[str, Any]]) -> None: ...


class BlobStore(Protocol):
    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        """Store bytes under key; return a URI a human or a job can use."""

    def get(self, key: str) -> bytes:
        """Raise KeyError when absent."""

    def exists(self, key: str) -> bool: ...


class Notifier(Protocol):
    def notify(self, subject: str, text: str, report_uri: str | None = None) -> None: ...


class TrainingBackend(Protocol):
    """Runs the harness for one implementation against its baseline."""

    name: str

    def submit(self, run: TrainingRun, implementation: Implementation) -> TrainingRun:
        """Start (remote) or run to completion (local); return the run's new state."""
