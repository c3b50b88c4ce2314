"""Selection: the day's top papers that fit the budget and were not done before.

Papers the harness cannot test do not take a pick slot (and its GPU minutes) while a
testable candidate at or above `min_score` is left: they are passed over with a note and
fill the slots that remain only once no testable candidate is left. Whether a paper is
testable: the reviewers' judgement on a combined score (`Score.implementable`), else yes
for a paper with a reference implementation in the library, else the text estimate of
`testability.py` from the paper's title and abstract (when `papers` has the paper; a
paper without text is not held back).

Without an LLM (a signals-only day) nobody can write code for a paper outside the
reference library, so such a paper never takes a pick slot: it would only come back "not
implemented". Papers with code (the library's, or code stored on an earlier day) stay
pickable, and one note names the higher-ranked papers passed over for that reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from datetime import date

from .config import Selection
from .implement import library_ids
from .models import Paper, Pick, Score
from .testability import estimate_paper


def untestable_reason(score: Score, paper: Paper | None) -> str | None:
    """Why the harness cannot test this paper, or None when it can (or nobody can tell)."""
    if score.implementable is not None:
        return None if score.implementable else "reviewers judge it not implementable"
    if paper is None or score.arxiv_id in library_ids():
        return None
    estimate = estimate_paper(paper)
    return None if estimate.testable else estimate.reason


def select_picks(
    day: date,
    scores: list[Score],
    policy: Selection,
    done_before: set[str],
    papers: Mapping[str, Paper] | None = None,
    *,
    llm: bool = True,
    stored_code: Set[str] = frozenset(),
) -> tuple[list[Pick], list[str]]:
    """Return the picks, best first, and a note for every paper passed over and why.

    `done_before` holds arXiv ids already implemented on an earlier day: training them
    again would spend GPU time on a verdict the group already has. `papers` (arXiv id ->
    paper) lets selection estimate from the text which papers the harness can test.
    `llm` says whether an LLM can write code today; without one only papers in the
    reference library or in `stored_code` (an implementation already stored) are picked.
    """
    picks: list[Pick] = []
    notes: list[str] = []
    untestable: list[tuple[Score, str]] = []
    no_code: list[str] = []  # passed over: nobody can implement them today
    has_code = library_ids() | set(stored_code)
    minutes_left = policy.gpu_minutes_budget
    budget_spent = False

    def pick(score: Score) -> None:
        nonlocal minutes_left
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
        if not llm and score.arxiv_id not in has_code:
            no_code.append(score.arxiv_id)
            continue
        reason = untestable_reason(score, (papers or {}).get(score.arxiv_id))
        if reason is not None:
            untestable.append((score, reason))
            continue
        if policy.minutes_per_pick > minutes_left:
            notes.append(
                f"stopped at {score.arxiv_id}: GPU budget of {policy.gpu_minutes_budget} min used"
            )
            budget_spent = True
            break
        pick(score)
    if no_code:
        notes.append(no_code_note(no_code))
    for score, reason in untestable:  # no testable candidate left: they may fill the slots
        if len(picks) < policy.max_picks and not budget_spent:
            if policy.minutes_per_pick <= minutes_left:
                pick(score)
                notes.append(
                    f"{score.arxiv_id} picked although the harness may not test it ({reason}):"
                    f" no testable candidate at or above {policy.min_score} left"
                )
                continue
            budget_spent = True
        notes.append(f"{score.arxiv_id} not picked: the harness cannot test it ({reason})")
    return picks, notes


NO_CODE_SHOWN = 10  # ids named in the note; a big day would otherwise list hundreds


def no_code_note(arxiv_ids: list[str]) -> str:
    """One note for the papers passed over because nobody can implement them today."""
    more = len(arxiv_ids) - NO_CODE_SHOWN
    shown = ", ".join(arxiv_ids[:NO_CODE_SHOWN]) + (f" and {more} more" if more > 0 else "")
    return (
        f"not picked, no code without an LLM: {shown} (signals-only: no LLM is configured to"
        " implement a paper, so only papers with a reference implementation can be picked)"
    )
