"""Explainable paper scores: a weighted sum of normalised components.

Scoring is split in two so it can fan out on AWS: `build_context` sees the whole day once
(IDF table, per-day maxima for normalising community signals, the interest profile) and
`score_paper` scores one paper against that context, independently of the others.
"""

from __future__ import annotations

import math
from datetime import date

from pydantic import BaseModel

from ..config import Config
from ..models import Paper, Score, ScoreComponent
from .relevance import (
    SparseVector,
    cosine,
    inverse_document_frequency,
    matched_terms,
    vectorize,
)


class DayContext(BaseModel):
    day: date
    paper_ids: list[str]
    idf: dict[str, float]
    default_idf: float
    max_upvotes: int
    max_comments: int
    max_stars: int
    profile: SparseVector
    liked: list[SparseVector]
    weights: dict[str, float]
    relevance_saturation: float
    exclude_categories: list[str]


def paper_text(paper: Paper) -> str:
    # The title is the densest statement of a paper's topic: count it twice.
    return f"{paper.title}. {paper.title}. {paper.abstract}"


def _signal_max(papers: list[Paper], field: str) -> int:
    values = [getattr(s, field) or 0 for p in papers for s in p.signals.values()]
    return max(values, default=0)


def build_context(
    day: date, papers: list[Paper], config: Config, liked_texts: list[str] | None = None
) -> DayContext:
    interests = config.interests
    profile_text = " . ".join(interests.topics + interests.keywords)
    liked_texts = liked_texts or []
    idf = inverse_document_frequency([paper_text(p) for p in papers] + [profile_text, *liked_texts])
    default_idf = max(idf.values(), default=1.0)
    return DayContext(
        day=day,
        paper_ids=sorted(p.arxiv_id for p in papers),
        idf=idf,
        default_idf=default_idf,
        max_upvotes=_signal_max(papers, "upvotes"),
        max_comments=_signal_max(papers, "comments"),
        max_stars=_signal_max(papers, "github_stars"),
        profile=vectorize(profile_text, idf, default_idf) if profile_text.strip() else {},
        liked=[vectorize(t, idf, default_idf) for t in liked_texts],
        weights=config.ranking.weights.model_dump(),
        relevance_saturation=config.ranking.relevance_saturation,
        exclude_categories=interests.exclude_categories,
    )


def _log_share(value: int | None, day_max: int) -> float:
    """log-scaled share of the day's maximum, so one viral paper doesn't flatten the rest."""
    if not value or day_max <= 0:
        return 0.0
    return math.log1p(value) / math.log1p(day_max)


def _best(paper: Paper, field: str) -> int | None:
    values = [getattr(s, field) for s in paper.signals.values() if getattr(s, field) is not None]
    return max(values) if values else None


def score_paper(paper: Paper, ctx: DayContext) -> Score:
    vec = vectorize(paper_text(paper), ctx.idf, ctx.default_idf)
    sim = cosine(vec, ctx.profile) if ctx.profile else 0.0
    liked_sim = max((cosine(vec, v) for v in ctx.liked), default=0.0)
    upvotes, comments, stars = (_best(paper, f) for f in ("upvotes", "comments", "github_stars"))
    synthetic = any(s.synthetic for s in paper.signals.values())
    tag = " (synthetic sample signal)" if synthetic else ""

    values = {
        "relevance": (
            min(1.0, sim / ctx.relevance_saturation),
            f"cosine {sim:.3f}; terms: {', '.join(matched_terms(vec, ctx.profile)) or 'none'}",
        ),
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
