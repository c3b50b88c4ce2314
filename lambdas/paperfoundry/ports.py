"""Ports: what the domain core needs from the outside world.

Local adapters (SQLite, filesystem, subprocess trainer) and AWS adapters (DynamoDB, S3,
SQS, SNS, SageMaker) implement these. The core never imports an adapter.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any, Protocol, runtime_checkable

from .models import (
    DayState,
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
    """Durable state of the pipeline. Every write is idempotent (safe on redelivery).

    `SqliteStore` and `DynamoStore` implement it; tests/core/test_store_contract.py runs
    the same assertions against both.
    """

    def upsert_papers(self, papers: Iterable[Paper]) -> list[str]:
        """Insert new papers; merge known ones with `sources.merge.merge_papers` (stored
        record first, so a re-scrape's counts win and the first listing day is kept).
        Return the ids that were new, in order."""

    def get_paper(self, arxiv_id: str) -> Paper | None: ...

    def papers_for_day(self, day: date) -> list[Paper]:
        """The papers first listed on `day`, by arXiv id."""

    def save_score(self, score: Score, *, replace: bool = False) -> bool:
        """Store a score. Without `replace`, only the first time this (day, paper) is
        scored (True then, False on a redelivery, which leaves the stored score alone);
        `replace=True` overwrites it (signals refreshed) and returns True."""

    def save_scores(self, scores: Iterable[Score]) -> int:
        """`save_score` for many (a rank worker's batch); returns how many were new."""

    def scores_for_day(self, day: date) -> list[Score]:
        """The day's scores, best first (ties by arXiv id)."""

    def save_sources(self, day: date, statuses: list[SourceStatus]) -> None:
        """Merge by status name: each status replaces the stored one of the same name
        (each scrape unit saves its own); other names are kept."""

    def sources_for_day(self, day: date) -> list[SourceStatus]:
        """By name."""

    def save_picks(self, day: date, picks: list[Pick]) -> None:
        """Replace the day's picks."""

    def picks_for_day(self, day: date) -> list[Pick]:
        """By rank."""

    def save_implementation(self, implementation: Implementation) -> None: ...

    def get_implementation(self, arxiv_id: str) -> Implementation | None: ...

    def save_run(self, run: TrainingRun) -> None: ...

    def get_run(self, run_id: str) -> TrainingRun | None: ...

    def runs_for_day(self, day: date) -> list[TrainingRun]:
        """By run id."""

    def runs_for_paper(self, arxiv_id: str) -> list[TrainingRun]:
        """Every day's runs of the paper, oldest day first."""

    # the day's record (status, failed sources, notes, report, digest)

    def get_day_state(self, day: date) -> DayState | None: ...

    def save_day_state(self, state: DayState) -> None:
        """Plain put: one execution per day writes it."""

    def day_states_since(self, since: date) -> list[DayState]:
        """Days on or after `since`, newest first."""

    # LLM review (written only when an LLM is configured)

    def save_review(self, review: PaperReview) -> None: ...

    def reviews_for_day(self, day: date) -> dict[str, PaperReview]: ...

    def save_tournament(self, tournament: Tournament) -> None: ...

    def get_tournament(self, day: date) -> Tournament | None: ...

    def record_llm_call(self, call: LLMCall) -> None:
        """Append to the spend ledger (the daily cap and the report read it)."""

    def llm_calls_for_day(self, day: date) -> list[LLMCall]:
        """Oldest first."""


class Queue(Protocol):
    """Fan-out of work items (one per new paper)."""

    def send(self, messages: list[dict[str, Any]]) -> None: ...


class BlobStore(Protocol):
    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        """Store bytes under key; return a URI a human or a job can use."""

    def get(self, key: str) -> bytes:
        """Raise KeyError when absent."""

    def get_if_changed(self, key: str, etag: str | None) -> tuple[bytes | None, str]:
        """(bytes, etag) of the object, or (None, etag) when its etag is still `etag`
        (nothing is read). Raise KeyError when absent."""

    def exists(self, key: str) -> bool: ...

    def uri(self, key: str) -> str:
        """Where `key` lives (a path or s3:// URI), without reading it."""


class Notifier(Protocol):
    def notify(self, subject: str, text: str, report_uri: str | None = None) -> None: ...


class TrainingBackend(Protocol):
    """Trains one implementation against its baseline, in parts an orchestrator can wait
    between: `job` prepares the job (SageMaker: uploads the code, returns the
    CreateTrainingJob request; locally: the harness's arguments), the job runs (on AWS
    through Step Functions' createTrainingJob.sync; locally `SubprocessTrainer.run_job`),
    and `collect` turns its end (description or error) into the run's state."""

    name: str

    def job(self, run: TrainingRun, implementation: Implementation) -> dict[str, Any]:
        """The job to run; its "TrainingJobName" names this attempt."""

    def collect(
        self,
        run: TrainingRun,
        *,
        result: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> TrainingRun:
        """The run after its job ended; unchanged (not finished) while the job is running."""
