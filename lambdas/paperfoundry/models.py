"""Domain models shared by every runtime (local CLI, Lambdas, reports).

Pure data: no I/O here. Everything that crosses a boundary (SQLite row, DynamoDB item,
SQS message, report.json) is one of these models serialised with `model_dump(mode="json")`.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from typing import Any, Literal, NamedTuple, get_args

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
    observed_at: datetime | None = None


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
    # combined scores: the reviewers' judgement that the harness can test the paper
    # (implementability at or above `review.min_implementability`, or a library paper);
    # None where nobody judged it. Overrides selection's text estimate (testability.py).
    implementable: bool | None = None


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


# -- claims (docs/VERDICTS.md) ------------------------------------------------------------

ClaimComparison = Literal["better", "equivalent"]
ClaimOutcome = Literal["supported", "contradicted", "inconclusive", "untestable", "invalid"]
HarnessTask = Literal["mqar", "lm", "image", "diffusion"]  # the harness's task families
HARNESS_TASKS: tuple[str, ...] = get_args(HarnessTask)
SEQUENCE_TASKS = ("mqar", "lm")
IMAGE_TASKS = ("image", "diffusion")
# what an implementation file defines: build_model (a model for the task) or build_optimizer
# (an optimizer, trained on the task's baseline model against AdamW)
Contract = Literal["model", "optimizer"]


class ClaimMetric(NamedTuple):
    tasks: tuple[str, ...]  # the task families whose runs measure it
    higher_is_better: bool  # what a claim's "better" means: higher, or lower, than the baseline
    means: str


# The metrics a claim may be about, named as the harness reports them (its claims.py):
# task metrics first, then efficiency figures.
CLAIM_METRICS: dict[str, ClaimMetric] = {
    "query_accuracy": ClaimMetric(("mqar",), True, "recall accuracy at query positions"),
    "bpb": ClaimMetric(("lm",), False, "bits per byte on held-out text"),
    "accuracy": ClaimMetric(("image",), True, "test top-1 accuracy"),
    "denoise_mse": ClaimMetric(("diffusion",), False, "noise-prediction MSE at fixed noise levels"),
    "train_tokens_per_s": ClaimMetric(SEQUENCE_TASKS, True, "training throughput"),
    "infer_tokens_per_s": ClaimMetric(SEQUENCE_TASKS, True, "inference throughput"),
    "state_size": ClaimMetric(SEQUENCE_TASKS, False, "floats of state per sequence, as declared"),
    "train_images_per_s": ClaimMetric(IMAGE_TASKS, True, "training throughput"),
    "infer_images_per_s": ClaimMetric(IMAGE_TASKS, True, "inference throughput"),
    "optimizer_state": ClaimMetric(HARNESS_TASKS, False, "floats the optimizer keeps"),
}


class Claim(Model):
    """One central claim of a paper, in the schema the harness tests (docs/VERDICTS.md).

    Written by the LLM plan step or declared in the implementation file (`CLAIMS = [...]`).
    """

    id: str
    statement: str = ""
    task: str = ""  # one of HARNESS_TASKS; empty for an efficiency figure of any run
    metric: str = ""  # one of CLAIM_METRICS
    comparison: ClaimComparison = "better"  # better than / equivalent to the baseline
    condition: str = ""  # e.g. "num_kv_pairs >= 8"
    min_kv_pairs: int | None = None
    at_seq_len: int | None = None  # efficiency claims: the length they are about
    # a second reference the claim is about (image: vit | resnet; diffusion: adaln-zero |
    # in-context); the harness then trains it too. None: the task's baseline
    against: str | None = None
    testable: bool = True
    why_untestable: str = ""

    @field_validator("task", "statement", "condition", "why_untestable", mode="before")
    @classmethod
    def _none_is_empty(cls, value: object) -> object:
        return "" if value is None else value


class Evidence(Model):
    effect: float | None = None  # task metrics: positive = candidate better
    ci95: list[float | None] | None = None
    # efficiency claims: the two figures and their ratio (> 1 = candidate better)
    candidate: float | None = None
    baseline: float | None = None
    ratio: float | None = None


class ClaimResult(Claim):
    """A claim as the harness judged it (an untestable one may carry any comparison)."""

    comparison: str = ""  # type: ignore[assignment]
    outcome: ClaimOutcome
    reason: str = ""
    evidence: Evidence | None = None


class ImplementationPlan(Model):
    """What the implementer decided before writing code (shown in the report)."""

    task: HarnessTask = "mqar"  # an optimizer: the task its baseline model is trained on
    contract: Contract = "model"
    name: str = ""
    summary: str = ""
    changes: list[str] = Field(default_factory=list)  # vs the task's baseline (or AdamW)
    simplifications: list[str] = Field(default_factory=list)
    claims: list[Claim] = Field(default_factory=list)  # the paper's central claims


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


Outcome = Literal["better", "worse", "equivalent", "inconclusive", "invalid", "smoke"]


def _nan_if_none(value: object) -> object:
    """Harness JSON writes non-finite numbers as null; numbers stay floats (NaN = unknown)."""
    return math.nan if value is None else value


class Verdict(Model):
    """The candidate-vs-baseline comparison in the form every reader understands.

    Schema 1 runs (`better | worse | inconclusive`, no controls) have only this; schema 2
    runs also carry gates, claims and comparisons on the run (see TrainingRun).
    """

    outcome: Outcome
    metric: str
    higher_is_better: bool
    candidate_mean: float
    baseline_mean: float
    candidate_std: float
    baseline_std: float
    effect: float
    toy_scale: bool = False
    summary: str = ""
    ci95: list[float | None] | None = None  # schema 2: Welch 95% CI of the effect

    @field_validator(
        "candidate_mean", "baseline_mean", "candidate_std", "baseline_std", "effect",
        mode="before",
    )  # fmt: skip
    @classmethod
    def _null_is_nan(cls, value: object) -> object:
        return _nan_if_none(value)


class MetricInfo(Model):
    name: str
    higher_is_better: bool = True
    split: str = "test"


class BaselineInfo(Model):
    name: str = "baseline"
    config: dict[str, Any] = Field(default_factory=dict)


class ParamCount(Model):
    total: int | None = None
    non_embedding: int | None = None


class Gate(Model):
    """A control checked before any comparison (baseline competence, negative control...)."""

    name: str  # baseline_competence | negative_control | params_matched | causal:<model>
    passed: bool
    value: float | None = None
    threshold: float | None = None
    detail: str = ""
    scope: str = ""  # all (a failure invalidates every comparison) | report | <model>


class SweepPoint(Model):
    model: str
    lr: float
    seed: int | None = None
    value: float | None = None  # validation split
    final_loss: float | None = None
    diverged: bool = False


class ModelResult(Model):
    """One model at its chosen LR over fresh seeds, on the test split."""

    lr: float | None = None
    seeds: list[int] = Field(default_factory=list)
    values: list[float | None] = Field(default_factory=list)
    mean: float | None = None
    std: float | None = None
    ci95: list[float | None] | None = None


class ModelComparison(Model):
    """A candidate or an ablation against the baseline (effect > 0: `model` better).

    (Named apart from `Comparison`, the tournament's pairwise judgement.)
    """

    model: str  # candidate | ablation:<name>
    against: str = "baseline"
    metric: str = ""
    effect: float | None = None
    ci95: list[float | None] | None = None
    ci90: list[float | None] | None = None
    margin: float | None = None
    n: list[int] = Field(default_factory=list)  # [n_model, n_baseline]
    outcome: Outcome
    summary: str = ""
    reason: str = ""  # why it is invalid


class Efficiency(Model):
    """One model's efficiency figures: per token for the sequence tasks, per image for the
    image tasks (IMAGE_TASKS); memory and optimizer state for every task."""

    train_tokens_per_s: float | None = None
    infer_tokens_per_s: dict[str, float | None] = Field(default_factory=dict)  # by length
    train_images_per_s: float | None = None
    infer_images_per_s: float | None = None  # at the task's image size
    peak_memory_mb: float | None = None
    peak_memory_kind: str | None = None  # cuda | process rss
    flops_per_token: float | None = None
    flops_per_image: float | None = None  # None for a candidate model (not counted)
    flops_source: str | None = None  # how the estimate was made
    # floats per sequence, one figure or by sequence length
    state_size: float | dict[str, float | None] | None = None
    state_size_source: str | None = None  # declared by the model / computed by the harness
    optimizer_state_floats: int | None = None  # floats the optimizer keeps between steps
    optimizer_state_source: str | None = None  # how they were counted


class Reference(Model):
    """metrics.json `references`: a second reference model a claim is about (key
    `baseline:<name>`, with its name and config) or a closed-form one (diffusion's
    `pixelwise` and `linear` denoisers, with their value on the test split)."""

    name: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    value: float | None = None
    detail: str = ""


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
    code_sha256: str | None = None  # the implementation this attempt trains
    started_at: datetime | None = None
    finished_at: datetime | None = None
    wall_seconds: float | None = None
    verdict: Verdict | None = None
    failure: Failure | None = None
    error: str | None = None  # backend-level error (job failed to start, timed out, ...)
    curves: dict[str, dict[str, Curve]] = Field(default_factory=dict)
    metrics_uri: str | None = None
    plot_uri: str | None = None
    # -- from metrics.json schema 2 (docs/VERDICTS.md); empty for schema 1 / stored old runs
    metrics_schema: int | None = None
    outcome: Outcome | None = None  # the candidate-vs-baseline comparison
    metric: MetricInfo | None = None
    setting: dict[str, Any] = Field(default_factory=dict)
    device: str | None = None
    isolation: str | None = None
    baseline: BaselineInfo | None = None
    control: BaselineInfo | None = None  # the negative control (no mixing across positions)
    params: dict[str, ParamCount] = Field(default_factory=dict)  # by model
    params_match: float | None = None  # baseline vs candidate trainable parameters
    params_budget: int | None = None  # schema 1: the harness's parameter budget
    gates: list[Gate] = Field(default_factory=list)
    sweep: list[SweepPoint] = Field(default_factory=list)
    models: dict[str, ModelResult] = Field(default_factory=dict)
    comparisons: list[ModelComparison] = Field(default_factory=list)
    efficiency: dict[str, Efficiency] = Field(default_factory=dict)
    claims: list[ClaimResult] = Field(default_factory=list)
    declaration_problems: list[str] = Field(default_factory=list)  # CLAIMS/ABLATIONS/BASELINE
    tokens_per_run: int | None = None  # sequence tasks
    images_per_run: int | None = None  # image tasks
    steps: int | None = None
    # None: stored before TrainingRun kept it (verdicts.optimizer_run falls back to the name)
    contract: Contract | None = None
    # the optimizer contract: the baseline's model, trained with the candidate optimizer
    candidate_model: BaselineInfo | None = None
    references: dict[str, Reference] = Field(default_factory=dict)  # by key, e.g. pixelwise

    @property
    def finished(self) -> bool:
        return self.status in ("completed", "failed", "stopped", "skipped")

    @property
    def legacy(self) -> bool:
        """A verdict without controls (schema 1 metrics, or a run stored before schema 2)."""
        return self.verdict is not None and (self.metrics_schema or 1) < 2

    @property
    def has_results(self) -> bool:
        """Schema 2 results of a completed run (a verdict, gates, comparisons or claims)."""
        return (
            (self.metrics_schema or 1) >= 2
            and self.status == "completed"
            and bool(self.outcome or self.gates or self.comparisons or self.claims)
        )

    @property
    def badge(self) -> Badge | None:
        return run_badge(self)


BadgeKind = Literal[
    "supported",
    "contradicted",
    "inconclusive",
    "untestable",
    "invalid",
    "smoke",
    "no-claims",
    "legacy",
]


class Badge(Model):
    """A pick's one-word summary; never says more than its claims support."""

    kind: BadgeKind
    text: str  # e.g. "supported 1/2", "invalid", "wiring test"
    title: str = ""  # a sentence for tooltips and digests


def run_badge(run: TrainingRun) -> Badge | None:
    """The badge rule of docs/VERDICTS.md (None: nothing to summarise yet).

    `invalid` if any comparison is invalid; else `contradicted` if any claim is; else
    `supported k/n` if any claim is supported; else `inconclusive` / `untestable`. A smoke
    run (tiny budget) is a wiring test and never a verdict; a schema 1 verdict is `legacy`.
    """
    if run.legacy:
        assert run.verdict is not None
        return Badge(
            kind="legacy",
            text=f"legacy: {run.verdict.outcome}",
            title="legacy verdict (no controls): schema 1 harness, no gates, no claims",
        )
    if not run.has_results:
        return None
    outcomes = [c.outcome for c in run.comparisons] + ([run.outcome] if run.outcome else [])
    if run.outcome == "smoke" or (outcomes and all(o == "smoke" for o in outcomes)):
        return Badge(kind="smoke", text="wiring test", title="wiring test, no verdict")
    if "invalid" in outcomes or any(c.outcome == "invalid" for c in run.claims):
        failed = [g.name for g in run.gates if not g.passed]
        why = f" ({', '.join(failed)} failed)" if failed else ""
        return Badge(kind="invalid", text="invalid", title=f"no valid comparison{why}")
    claims = run.claims
    n = len(claims)
    if not n:
        return Badge(
            kind="no-claims",
            text="no claims",
            title=f"no claims declared; candidate vs baseline: {run.outcome or 'unknown'}",
        )
    counts = {k: sum(1 for c in claims if c.outcome == k) for k in ("supported", "contradicted")}
    if counts["contradicted"]:
        k = counts["contradicted"]
        return Badge(
            kind="contradicted",
            text="contradicted" if n == 1 else f"contradicted {k}/{n}",
            title=f"{k} of {n} claims contradicted",
        )
    if counts["supported"]:
        k = counts["supported"]
        return Badge(
            kind="supported", text=f"supported {k}/{n}", title=f"{k} of {n} claims supported"
        )
    if all(c.outcome == "untestable" for c in claims):
        return Badge(kind="untestable", text="untestable", title="no claim is testable here")
    return Badge(kind="inconclusive", text="inconclusive", title="no claim decided either way")


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


DayStatus = Literal["pending", "complete", "partial", "failed"]


class DayState(Model):
    """One day's record, shared by the local runner and the Step Functions execution
    (one execution per day writes it, so it is a plain put)."""

    day: date
    status: DayStatus = "pending"
    failed_sources: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    report_uri: str | None = None
    digest_sent_at: datetime | None = None
    attempts: int = 0
    updated_at: datetime | None = None


class RankedPaper(Model):
    paper: Paper
    score: Score


class RankedRow(Model):
    """A paper below the report's full records: where it ranked, and nothing to read."""

    arxiv_id: str
    title: str
    total: float
    excluded: str | None = None


# report.json keeps every paper of the day: the top ones in full (paper, score and its
# components), the rest as rows (~150 bytes each), so its size is about
# REPORT_FULL_RECORDS * 6 KB + 150 B per paper (1.7 MB at 10,000 papers) instead of the
# whole day in full (38 MB at 10,000).
REPORT_FULL_RECORDS = 50


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
    ranking: list[RankedPaper]  # the top REPORT_FULL_RECORDS, in order
    picks: list[PickReport]
    notes: list[str] = Field(default_factory=list)
    mode: RankingMode = "signals-only"
    llm: LLMUsage | None = None
    reviews: dict[str, PaperReview] = Field(default_factory=dict)
    tournament: Tournament | None = None
    rest: list[RankedRow] = Field(default_factory=list)  # the ranking after `ranking`

    @property
    def failed_sources(self) -> list[SourceStatus]:
        return [s for s in self.sources if not s.ok]

    @property
    def ranked_count(self) -> int:
        return len(self.ranking) + len(self.rest)
