"""Domain models shared by every runtime (local CLI, Lambdas, reports).

Pure data: no I/O here. Everything that crosses a boundary (SQLite row, DynamoDB item,
SQS message, report.json) is one of these models serialised with `model_dump(mode="json")`.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# arXiv identifiers: new style 2402.18668 (optionally v2) or old style cs/0112017.
ARXIV_ID_RE = re.compile(r"^(?P<id>\d{4}\.\d{4,5}|[a-z\-]+(?:\.[A-Z]{2})?/\d{7})(?:v(?P<v>\d+))?$")


def split_arxiv_id(raw: str) -> tuple[str, int | None]:
    """'2402.18668v2' -> ('2402.18668', 2); raises ValueError on anything else."""
    match = ARXIV_ID_RE.match(raw.strip())
    if not match:
        raise ValueError(f"not an arXiv id: {raw!r}")
    version = match.group("v")
    return match.group("id"), int(version) if version else None


class Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=False)


SourceName = Literal["huggingface", "arxiv", "sample"]


class SourceSignals(Model):
    """What one source said about a paper. `synthetic` marks made-up values (sample day)."""

    source: SourceName
    upvotes: int | None = None
    comments: int | None = None
    github_repo: str | None = None
    github_stars: int | None = None
    project_page: str | None = None
    keywords: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    announce_type: str | None = None
    organization: str | None = None
    synthetic: bool = False


class Paper(Model):
    arxiv_id: str
    version: int | None = None
    title: str
    abstract: str = ""
    authors: list[str] = Field(default_factory=list)
    published: datetime | None = None
    day: date  # the listing day this paper belongs to
    categories: list[str] = Field(default_factory=list)
    signals: dict[str, SourceSignals] = Field(default_factory=dict)

    @field_validator("arxiv_id")
    @classmethod
    def _bare_id(cls, value: str) -> str:
        return split_arxiv_id(value)[0]

    @property
    def arxiv_url(self) -> str:
        return f"https://arxiv.org/abs/{self.arxiv_id}"

    @property
    def hf_url(self) -> str:
        return f"https://huggingface.co/papers/{self.arxiv_id}"

    @property
    def github_repo(self) -> str | None:
        return next((s.github_repo for s in self.signals.values() if s.github_repo), None)

    @property
    def github_stars(self) -> int | None:
        return next((s.github_stars for s in self.signals.values() if s.github_stars), None)


class ScoreComponent(Model):
    """One explainable term of a score: contribution = weight * value."""

    name: str
    value: float  # normalised to [0, 1]
    weight: float
    contribution: float
    detail: str = ""


class Score(Model):
    arxiv_id: str
    day: date
    total: float
    components: list[ScoreComponent]
    excluded: str | None = None  # why the paper may not be picked (e.g. excluded category)
    # "signals": community signals and interest match only; "combined": signals plus the
    # LLM review and tournament parts (computed from stored reviews, never stored itself)
    basis: Literal["signals", "combined"] = "signals"


class Pick(Model):
    arxiv_id: str
    day: date
    rank: int
    score: float
    gpu_minutes: float


ImplementationStatus = Literal["implemented", "not_implemented", "failed"]


class Failure(Model):
    stage: str
    type: str
    message: str
    traceback: str = ""


class ImplementationPlan(Model):
    """What the implementer decided before writing code (shown in the report)."""

    task: Literal["mqar", "lm"] = "mqar"
    name: str = ""
    summary: str = ""
    changes: list[str] = Field(default_factory=list)  # relative to the GPT baseline
    simplifications: list[str] = Field(default_factory=list)


class ImplementationAttempt(Model):
    number: int
    ok: bool
    failure: Failure | None = None  # stage "static" = rejected before running
    sha256: str | None = None
    source_code: str | None = None
    checked_by: str = ""  # where the code ran, e.g. "local sandbox (no network)"


class Implementation(Model):
    arxiv_id: str
    status: ImplementationStatus
    name: str | None = None
    task: str | None = None
    file_name: str | None = None
    source_code: str | None = None
    sha256: str | None = None
    provenance: Literal["reference", "llm", "none"] = "none"
    origin: str = ""  # e.g. "paperfoundry reference library" or the LLM model id
    reason: str | None = None  # why not implemented / failed
    paper_params: int | None = None
    # LLM provenance (provenance == "llm")
    model: str | None = None
    prompt_version: str | None = None
    plan: ImplementationPlan | None = None
    attempts: list[ImplementationAttempt] = Field(default_factory=list)
    cost_usd: float = 0.0
    tokens: int = 0
    # False until the harness accepted the code: on AWS validation happens inside the
    # network-isolated training job, so a failed job can still send the code to repair.
    validated: bool = True
    code_uri: str | None = None  # the file in the implementation library (LLM code)


RunStatus = Literal["pending", "running", "completed", "failed", "stopped", "skipped"]


class Verdict(Model):
    outcome: Literal["better", "worse", "inconclusive"]
    metric: str
    higher_is_better: bool
    candidate_mean: float
    baseline_mean: float
    candidate_std: float
    baseline_std: float
    effect: float
    toy_scale: bool
    summary: str


class Curve(Model):
    step: list[int]
    loss: list[float | None]  # None where the loss was not finite (JSON has no NaN)

    @field_validator("loss", mode="before")
    @classmethod
    def _finite(cls, values: list) -> list:
        return [v if v is None or math.isfinite(v) else None for v in values]


class TrainingRun(Model):
    run_id: str  # deterministic: pf-<day>-<arxiv id>-<task>, so reruns are idempotent
    arxiv_id: str
    day: date
    task: str
    budget: str
    backend: str
    attempt: int = 1  # incremented when a failed or stopped run is trained again
    status: RunStatus = "pending"
    job_name: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    wall_seconds: float | None = None
    verdict: Verdict | None = None
    failure: Failure | None = None
    error: str | None = None  # backend-level error (job failed to start, timed out, ...)
    curves: dict[str, dict[str, Curve]] = Field(default_factory=dict)
    metrics_uri: str | None = None
    plot_uri: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in ("completed", "failed", "stopped", "skipped")


# -- LLM review and accounting ---------------------------------------------------------

RankingMode = Literal["signals-only", "llm"]
LLM_STEPS = ("review", "compare", "plan", "code")  # the steps that call the LLM, in order
REVIEW_CRITERIA = (
    "novelty",
    "significance",
    "soundness",
    "clarity",
    "implementability",
    "relevance",
)


class LLMCall(Model):
    """One billed request (or a failed one, at no cost): the spend ledger's row."""

    day: date
    step: str  # review | compare | plan | code
    arxiv_id: str | None = None
    model: str
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    ok: bool = True
    error: str | None = None
    at: datetime


class StepUsage(Model):
    calls: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


class LLMUsage(Model):
    models: dict[str, str] = Field(default_factory=dict)  # step -> model
    cap_usd: float
    cap_reached: bool = False
    total: StepUsage = Field(default_factory=StepUsage)
    by_step: dict[str, StepUsage] = Field(default_factory=dict)


class CriterionScore(Model):
    score: float  # 1..10 (clamped on the way in)
    rationale: str = ""


class ReviewSample(Model):
    """One reviewer sample; parsed from the LLM's JSON, then clamped and truncated."""

    novelty: CriterionScore
    significance: CriterionScore
    soundness: CriterionScore
    clarity: CriterionScore
    implementability: CriterionScore
    relevance: CriterionScore
    summary: str = ""
    steering_detected: bool = False  # the model saw instructions aimed at it in the text


class Stat(Model):
    mean: float
    std: float


class PaperReview(Model):
    arxiv_id: str
    day: date
    model: str
    prompt_version: str
    samples: list[ReviewSample] = Field(default_factory=list)
    failures: list[str] = Field(default_factory=list)  # refusals, invalid output, timeouts
    criteria: dict[str, Stat] = Field(default_factory=dict)
    overall: Stat | None = None  # mean of the criteria, 1..10, spread over samples
    summary: str = ""
    injection: list[str] = Field(default_factory=list)  # why the text looks like steering

    @property
    def flagged(self) -> bool:
        return bool(self.injection)


class Comparison(Model):
    first: str  # shown to the judge as paper A
    second: str
    winner: str | None = None  # an arXiv id, None when the comparison failed
    reason: str = ""
    error: str | None = None


class Tournament(Model):
    day: date
    model: str
    participants: list[str]
    comparisons: list[Comparison] = Field(default_factory=list)
    # Bradley-Terry win probability against an average participant, 0..1
    strength: dict[str, float] = Field(default_factory=dict)


class SourceStatus(Model):
    name: str
    ok: bool
    papers: int = 0
    error: str | None = None


class RankedPaper(Model):
    paper: Paper
    score: Score


class PickReport(Model):
    pick: Pick
    paper: Paper
    implementation: Implementation
    run: TrainingRun | None = None


class DayReport(Model):
    day: date
    generated_at: datetime
    sources: list[SourceStatus]
    sample: bool = False
    ranking: list[RankedPaper]
    picks: list[PickReport]
    notes: list[str] = Field(default_factory=list)
    mode: RankingMode = "signals-only"
    llm: LLMUsage | None = None
    reviews: dict[str, PaperReview] = Field(default_factory=dict)
    tournament: Tournament | None = None

    @property
    def failed_sources(self) -> list[SourceStatus]:
        return [s for s in self.sources if not s.ok]
