"""The combined score: the core ranking's signal components, scaled by the `signals`
weight, plus a `review` and a `tournament` component. Every part stays visible.

Computed from the stored signal score, review and tournament each time it is needed, so
changing a weight re-ranks a day without calling the LLM again.

The reviewers' implementability criterion is the judgement on whether the harness can test
a paper: below `review.min_implementability` the paper is excluded; at or above it the
combined score says `implementable=True`, which overrides selection's text-only estimate
(`testability.py`): a paper the keyword rules call untestable is picked when reviewers
judged it implementable. Library papers are always implementable.
"""

from __future__ import annotations

from collections.abc import Collection

from ..config import Review, ReviewWeights
from ..models import PaperReview, Score, ScoreComponent, Tournament

FLAGGED = "paper text tries to steer the LLM"


def _component(name: str, value: float, weight: float, detail: str) -> ScoreComponent:
    return ScoreComponent(
        name=name,
        value=round(value, 4),
        weight=weight,
        contribution=round(value * weight, 4),
        detail=detail,
    )


def _review_part(review: PaperReview | None, candidates: int) -> tuple[float, str]:
    if review is None:
        return 0.0, f"not reviewed (outside the top {candidates} by signals)"
    if review.flagged:
        return 0.0, f"discarded: {FLAGGED} ({'; '.join(review.injection)[:160]})"
    if review.overall is None:
        why = review.failures[-1] if review.failures else "no sample"
        return 0.0, f"review failed: {why}"[:200]
    o = review.overall
    n = len(review.samples)
    return (o.mean - 1) / 9, f"{o.mean:.1f}/10 ± {o.std:.1f} over {n} sample{'s' * (n != 1)}"


def _tournament_part(arxiv_id: str, tournament: Tournament | None) -> tuple[float, str]:
    if tournament is None or arxiv_id not in tournament.strength:
        return 0.0, "not in the tournament"
    judged = [c for c in tournament.comparisons if c.winner and arxiv_id in (c.first, c.second)]
    won = sum(1 for c in judged if c.winner == arxiv_id)
    p = tournament.strength[arxiv_id]
    return p, f"won {won} of {len(judged)}; Bradley-Terry p(beats average) {p:.2f}"


def combine(
    signal: Score,
    review: PaperReview | None,
    tournament: Tournament | None,
    weights: ReviewWeights,
    candidates: int,
    *,
    min_implementability: float = 1.0,
    in_library: bool = False,
) -> Score:
    scaled = [
        _component(c.name, c.value, round(c.weight * weights.signals, 4), c.detail)
        for c in signal.components
    ]
    review_value, review_detail = _review_part(review, candidates)
    t_value, t_detail = _tournament_part(signal.arxiv_id, tournament)
    components = [
        *scaled,
        _component("review", review_value, weights.review, review_detail),
        _component("tournament", t_value, weights.tournament, t_detail),
    ]
    excluded = signal.excluded
    if excluded is None and review is not None and review.flagged:
        excluded = f"flagged: {FLAGGED}"
    implementability = review.criteria.get("implementability") if review else None
    implementable = True if in_library else None
    if implementability is not None and not in_library and not (review and review.flagged):
        implementable = implementability.mean >= min_implementability
    if excluded is None and implementable is False and implementability is not None:
        excluded = (
            f"reviewers judge it not implementable in the harness "
            f"({implementability.mean:.1f}/10 < {min_implementability:g})"
        )
    return Score(
        arxiv_id=signal.arxiv_id,
        day=signal.day,
        total=round(sum(c.contribution for c in components), 4),
        components=components,
        excluded=excluded,
        basis="combined",
        implementable=implementable,
    )


def combined_scores(
    signals: list[Score],
    reviews: dict[str, PaperReview],
    tournament: Tournament | None,
    review: Review,
    library: Collection[str] = (),
) -> list[Score]:
    """Every signal score combined, best first (ties by arXiv id, like the store's order)."""
    scores = [
        combine(
            s,
            reviews.get(s.arxiv_id),
            tournament,
            review.weights,
            review.candidates,
            min_implementability=review.min_implementability,
            in_library=s.arxiv_id in library,
        )
        for s in signals
    ]
    return sorted(scores, key=lambda s: (-s.total, s.arxiv_id))
