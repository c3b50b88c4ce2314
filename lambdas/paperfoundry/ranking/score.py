"""Explainable paper scores: a weighted sum of normalised components.

Scoring is split in two so it can fan out on AWS: `build_context` sees the whole day once
(IDF of the day's terms from the background corpus, the profile's centroid over the day's
vocabulary and its calibration, per-day maxima for normalising community signals) and
`score_paper` scores one paper against that context, independently of the others.

Relevance is calibrated on the profile (`profile.py`): 0 for a typical paper, and
`min_score / relevance weight` at the fit threshold, so a paper that fits the group as
well as `fit_recall` of its own saved papers reaches `selection.min_score` on relevance
alone (a day with no community signals still gets picks), and an off-topic paper needs
community signals to get there.
"""

from __future__ import annotations

import math
from datetime import date

from pydantic import BaseModel, Field

from ..config import Config
from ..models import Paper, Score, ScoreComponent
from .background import Background, load_background, vectorize_with
from .embeddings import EmbeddingProfile
from .profile import cached_profile, profile_texts
from .relevance import SparseVector, cosine, matched_terms, text_of, tokens, vectorize


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
    idf: dict[str, float]  # the day's terms known to the background; others: default_idf
    default_idf: float
    max_upvotes: int
    max_comments: int
    max_stars: int
    profile: SparseVector  # the profile centroid over the day's vocabulary
    liked: list[SparseVector]
    weights: dict[str, float]
    relevance_saturation: float
    exclude_categories: list[str]
    fit: FitCalibration = Field(default_factory=FitCalibration)
    # With an embedding model configured: the profile in embedding space; a paper's fit
    # is then its embedding's cosine to it, calibrated the same way (ranking/embeddings.py)
    embedding: EmbeddingProfile | None = None


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


def _restrict(vec: SparseVector, terms: set[str]) -> SparseVector:
    return {t: round(v, 6) for t, v in vec.items() if t in terms}


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
    day_terms: set[str] = set()
    for p in papers:
        day_terms.update(tokens(paper_text(p)))
    fit = FitCalibration(
        recall=config.ranking.fit_recall, at_threshold=_relevance_at_threshold(config)
    )
    profile: SparseVector = {}
    if texts:
        model = cached_profile(texts, background, config.ranking.contrast)
        profile = _restrict(model.centroid, day_terms)
        threshold = model.threshold(config.ranking.fit_recall)
        fit.profile_size, fit.typical = model.size, round(model.typical, 6)
        if threshold is not None and threshold > model.typical:
            fit.threshold = round(threshold, 6)
    return DayContext(
        day=day,
        paper_ids=sorted(p.arxiv_id for p in papers),
        idf={t: round(background.idf(t), 4) for t in day_terms if t in background.df},
        default_idf=0.0,  # terms the background lacks do not count
        max_upvotes=_signal_max(papers, "upvotes"),
        max_comments=_signal_max(papers, "comments"),
        max_stars=_signal_max(papers, "github_stars"),
        profile=profile,
        liked=[_restrict(vectorize_with(t, background), day_terms) for t in liked_texts],
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


def score_paper(paper: Paper, ctx: DayContext, embedding: list[float] | None = None) -> Score:
    vec = vectorize(paper_text(paper), ctx.idf, ctx.default_idf)
    sim = cosine(vec, ctx.profile) if ctx.profile else 0.0
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
