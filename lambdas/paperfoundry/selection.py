"""Selection: the day's top papers that fit the budget and were not done before."""

from __future__ import annotations

from datetime import date

from .config import Selection
from .models import Pick, Score


def select_picks(
    day: date, scores: list[Score], policy: Selection, done_before: set[str]
) -> tuple[list[Pick], list[str]]:
    """Return the picks, best first, and a note for every paper passed over and why.

    `done_before` holds arXiv ids already implemented on an earlier day: training them
    again would spend GPU time on a verdict the group already has.
    """
    picks: list[Pick] = []
    notes: list[str] = []
    minutes_left = policy.gpu_minutes_budget
    for score in sorted(scores, key=lambda s: (-s.total, s.arxiv_id)):
        if len(picks) >= policy.max_picks:
            break
        if score.total < policy.min_score:
            notes.append(
                f"stopped at {score.arxiv_id}: score {score.total:.3f} < {policy.min_score}"
            )
            break
        if score.excluded:
            notes.append(f"skipped {score.arxiv_id}: {score.excluded}")
            continue
        if score.arxiv_id in done_before:
            notes.append(f"skipped {score.arxiv_id}: already implemented on an earlier day")
            continue
        if policy.minutes_per_pick > minutes_left:
            notes.append(
                f"stopped at {score.arxiv_id}: GPU budget of {policy.gpu_minutes_budget} min used"
            )
            break
        minutes_left -= policy.minutes_per_pick
        picks.append(
            Pick(
                arxiv_id=score.arxiv_id,
                day=day,
                rank=len(picks) + 1,
                score=score.total,
                gpu_minutes=policy.minutes_per_pick,
            )
        )
    return picks, notes
