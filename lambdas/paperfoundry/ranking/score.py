"""Explainable paper scores: a weighted sum of normalised components.

Scoring is split in two so it can fan out on AWS: `build_context` sees the whole day once
(the profile's direction and its calibration, per-day maxima for normalising community
signals) and `score_paper` scores one paper against that context, independently of the
others, tokenising it once. The context's size does not grow with the day: the profile is
its mean over its own terms plus two numbers, and the term weights (IDF) and the background
mean come from the background table bundled with the package.

Relevance is calibrated on the profile (`profile.py`): 0 for a typical paper, and
`min_score / relevance weight` at the fit threshold, so a paper that fits the group as
well as `fit_recall` of its own saved papers reaches `selection.min_score` on relevance
alone (a day with no community signals still gets picks), and an off-topic paper needs
community signals to get there.
"""

from __future__ import annotations

import math
from datetime import date

from pydantic import BaseModel, Field, PrivateAttr

from ..config import Config
from ..models import Paper, Score, ScoreComponent
from .background import Background, load_background, vectorize_with
from .embeddings import EmbeddingProfile
from .profile import cached_profile, profile_texts
from .relevance import SparseVector, cosine, matched_terms, text_of


class FitCalibration(BaseModel):
    """How a paper's fit (cosine to the profile centroid) becomes the relevance value."""

    profile_size: int = 0
    typical: float = 0.0  # mean fit of the background corpus: relevance 0
    threshold: float | None = None  # reached by `recall` of the profile; None: uncalibrated
    recall: float = 0.8
    at_threshold: float = 0.5  # relevance value at the threshold


class DayContext(BaseModel):
    day: date
    paper_ids: list[str]
    background_docs: int  # the background table's size: scoring checks it has the same
    max_upvotes: int
    max_comments: int
    max_stars: int
    # The profile direction is (profile - contrast * background mean) / profile_norm; the
    # background part is read from the table when scoring (every term of it is nonzero)
    profile: SparseVector  # the mean of the profile documents' vectors
    contrast: float = 0.0
    profile_norm: float = 1.0
    liked: list[SparseVector]
    weights: dict[str, float]
    relevance_saturation: float
    exclude_categories: list[str]
    fit: FitCalibration = Field(default_factory=FitCalibration)
    # With an embedding model configured: the profile in embedding space; a paper's fit
    # is then its embedding's cosine to it, calibrated the same way (ranking/embeddings.py)
    embedding: EmbeddingProfile | None = None
    _direction: SparseVector | None = PrivateAttr(default=None)

    def direction(self, background: Background) -> SparseVector:
        """The unit profile direction over every term (built once per context: a rank
        container scores many papers against it)."""
        if self._direction is None:
            weights = {t: -self.contrast * v for t, v in background.mean.items()}
            for t, v in self.profile.items():
                weights[t] = weights.get(t, 0.0) + v
            self._direction = {t: v / self.profile_norm for t, v in weights.items()}
        return self._direction


def paper_text(paper: Paper) -> str:
    return text_of(paper.title, paper.abstract)


def _signal_max(papers: list[Paper], field: str) -> int:
    values = [getattr(s, field) or 0 for p in papers for s in p.signals.values()]
    return max(values, default=0)


def _relevance_at_threshold(config: Config) -> float:
    """The relevance value that alone makes a paper's total reach `min_score`."""
    weight = config.ranking.weights.relevance
    share = config.selection.min_score / weight if weight > 0 else 0.0
    return min(share, 0.95) if share > 0 else 0.5


def _rounded(vec: SparseVector) -> SparseVector:
    return {t: round(v, 6) for t, v in vec.items() if round(v, 6)}


def build_context(
    day: date,
    papers: list[Paper],
    config: Config,
    liked_texts: list[str] | None = None,
    *,
    background: Background | None = None,
    embedding: EmbeddingProfile | None = None,
) -> DayContext:
    """The day's ranking context. `background` replaces the bundled background corpus
    (the evaluation builds one from days it does not score)."""
    background = background or load_background()
    liked_texts = liked_texts or []
    texts = tuple(profile_texts(config.interests, liked_texts))
    fit = FitCalibration(
        recall=config.ranking.fit_recall, at_threshold=_relevance_at_threshold(config)
    )
    profile: SparseVector = {}
    contrast, norm = 0.0, 1.0
    if texts:
        model = cached_profile(texts, background, config.ranking.contrast)
        if model.norm > 0:
            profile, contrast, norm = _rounded(model.mean), config.ranking.contrast, model.norm
        threshold = model.threshold(config.ranking.fit_recall)
        fit.profile_size, fit.typical = model.size, round(model.typical, 6)
        if threshold is not None and threshold > model.typical:
            fit.threshold = round(threshold, 6)
    return DayContext(
        day=day,
        paper_ids=sorted(p.arxiv_id for p in papers),
        background_docs=background.n_docs,
        max_upvotes=_signal_max(papers, "upvotes"),
        max_comments=_signal_max(papers, "comments"),
        max_stars=_signal_max(papers, "github_stars"),
        profile=profile,
        contrast=contrast,
        profile_norm=norm,
        liked=[_rounded(vectorize_with(t, background)) for t in liked_texts],
        weights=config.ranking.weights.model_dump(),
        relevance_saturation=config.ranking.relevance_saturation,
        exclude_categories=config.interests.exclude_categories,
        fit=fit,
        embedding=embedding,
    )


def relevance_value(sim: float, ctx: DayContext) -> float:
    fit = ctx.fit
    if fit.threshold is None:  # too few profile papers to calibrate: a fixed scale
        return max(0.0, min(1.0, sim / ctx.relevance_saturation))
    return _calibrated(sim, fit.typical, fit.threshold, fit.at_threshold)


def _calibrated(sim: float, typical: float, threshold: float, at_threshold: float) -> float:
    # x = 0 for a typical paper, 1 at the threshold; relevance 0, at_threshold, then on
    # towards 1 without reaching it (no ties among the best fits)
    x = (sim - typical) / (threshold - typical)
    return 1.0 - (1.0 - at_threshold) ** x if x > 0 else 0.0


def _embedding_relevance(vector: list[float], ctx: DayContext) -> tuple[float, str] | None:
    """Relevance from the paper's embedding, when the day has an embedding profile that
    can be calibrated; None: use the TF-IDF fit."""
    emb = ctx.embedding
    if emb is None or emb.typical is None or len(vector) != len(emb.mean):
        return None
    threshold = emb.threshold(ctx.fit.recall)
    if threshold is None or threshold <= emb.typical:
        return None
    sim = emb.fit(vector)
    value = _calibrated(sim, emb.typical, threshold, ctx.fit.at_threshold)
    detail = (
        f"embedding fit {sim:.3f} ({emb.model}); threshold {threshold:.3f} (reached by "
        f"{ctx.fit.recall:.0%} of {emb.size} profile papers), typical paper {emb.typical:.3f}"
    )
    return value, detail


def _relevance_detail(sim: float, vec: SparseVector, ctx: DayContext) -> str:
    fit = ctx.fit
    terms = ", ".join(matched_terms(vec, ctx.profile)) or "none"
    if not ctx.profile:
        return "no interests configured"
    if fit.threshold is None:
        return f"cosine {sim:.3f} to {fit.profile_size} profile documents; terms: {terms}"
    return (
        f"fit {sim:.3f}; threshold {fit.threshold:.3f} (reached by {fit.recall:.0%} of "
        f"{fit.profile_size} profile papers), typical paper {fit.typical:.3f}; terms: {terms}"
    )


def _log_share(value: int | None, day_max: int) -> float:
    """log-scaled share of the day's maximum, so one viral paper doesn't flatten the rest."""
    if not value or day_max <= 0:
        return 0.0
    return math.log1p(value) / math.log1p(day_max)


def _best(paper: Paper, field: str) -> int | None:
    values = [getattr(s, field) for s in paper.signals.values() if getattr(s, field) is not None]
    return max(values) if values else None


def _observed(paper: Paper) -> str:
    """When the community counts were read (they grow through the day; a refresh the
    next day reads them again)."""
    seen = [s.observed_at for s in paper.signals.values() if s.observed_at is not None]
    return f" (as of {max(seen):%Y-%m-%d %H:%M} UTC)" if seen else ""


def profile_fit(vec: SparseVector, ctx: DayContext, background: Background) -> float:
    """Cosine of a unit paper vector to the profile direction."""
    if not ctx.profile:
        return 0.0
    return cosine(vec, ctx.direction(background))


def score_paper(
    paper: Paper,
    ctx: DayContext,
    embedding: list[float] | None = None,
    *,
    background: Background | None = None,
) -> Score:
    """`background`: the table the context was built with (default: the bundled one)."""
    background = background or load_background()
    if background.n_docs != ctx.background_docs:
        raise ValueError(
            f"the context of {ctx.day} was built with another background table "
            f"({ctx.background_docs} documents, this one has {background.n_docs})"
        )
    vec = vectorize_with(paper_text(paper), background)
    sim = profile_fit(vec, ctx, background)
    liked_sim = max((cosine(vec, v) for v in ctx.liked), default=0.0)
    upvotes, comments, stars = (_best(paper, f) for f in ("upvotes", "comments", "github_stars"))
    synthetic = any(s.synthetic for s in paper.signals.values())
    tag = " (synthetic sample signal)" if synthetic else _observed(paper)

    relevance = (relevance_value(sim, ctx), _relevance_detail(sim, vec, ctx))
    if embedding is not None and (by_embedding := _embedding_relevance(embedding, ctx)):
        relevance = (by_embedding[0], f"{by_embedding[1]}; TF-IDF: {relevance[1]}")
    values = {
        "relevance": relevance,
        "liked": (
            min(1.0, liked_sim / ctx.relevance_saturation),
            f"max cosine {liked_sim:.3f} to {len(ctx.liked)} liked papers",
        ),
        "upvotes": (
            _log_share(upvotes, ctx.max_upvotes),
            f"{upvotes or 0} of day max {ctx.max_upvotes}{tag}",
        ),
        "comments": (
            _log_share(comments, ctx.max_comments),
            f"{comments or 0} of day max {ctx.max_comments}{tag}",
        ),
        "stars": (_log_share(stars, ctx.max_stars), f"{stars or 0} GitHub stars{tag}"),
        "code": (1.0 if paper.github_repo else 0.0, paper.github_repo or "no code linked"),
    }
    # plain construction: pydantic-core validates five fields faster than model_construct
    # copies them in Python (2 vs 5 us; measured, benchmarks/pipeline.py)
    components = [
        ScoreComponent(
            name=name,
            value=round(value, 4),
            weight=ctx.weights.get(name, 0.0),
            contribution=round(value * ctx.weights.get(name, 0.0), 4),
            detail=detail,
        )
        for name, (value, detail) in values.items()
    ]
    cats = set(paper.categories)
    excluded = None
    if cats and cats <= set(ctx.exclude_categories):
        excluded = f"only in excluded categories: {', '.join(sorted(cats))}"
    return Score(
        arxiv_id=paper.arxiv_id,
        day=ctx.day,
        total=round(sum(c.contribution for c in components), 4),
        components=components,
        excluded=excluded,
    )
