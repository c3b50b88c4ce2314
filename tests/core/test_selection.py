from paperfoundry.config import (
    Config,
    ReviewWeights,
    Selection,
    default_config_text,
    parse_config,
)
from paperfoundry.implement import library_ids
from paperfoundry.models import Paper, PaperReview, Score, Stat
from paperfoundry.ranking import build_context, score_paper
from paperfoundry.review.combined import combine
from paperfoundry.selection import select_picks
from paperfoundry.sources.sample import load_sample_day
from paperfoundry.testability import estimate_paper

from .factories import DAY, paper


def scores(*totals: float, excluded: int | None = None) -> list[Score]:
    return [
        Score(
            arxiv_id=f"2411.0000{i}",
            day=DAY,
            total=t,
            components=[],
            excluded="only in excluded categories: cs.CR" if i == excluded else None,
        )
        for i, t in enumerate(totals)
    ]


def test_top_k_by_score():
    picks, _ = select_picks(DAY, scores(0.3, 0.9, 0.5), Selection(max_picks=2), set())
    assert [(p.arxiv_id, p.rank) for p in picks] == [("2411.00001", 1), ("2411.00002", 2)]


def test_min_score_stops_selection():
    picks, notes = select_picks(DAY, scores(0.9, 0.1), Selection(max_picks=3, min_score=0.2), set())
    assert len(picks) == 1 and "0.100 < 0.2" in notes[-1]


def test_gpu_budget_limits_picks():
    policy = Selection(max_picks=5, gpu_minutes_budget=45, minutes_per_pick=20, min_score=0)
    picks, notes = select_picks(DAY, scores(0.9, 0.8, 0.7), policy, set())
    assert len(picks) == 2 and "GPU budget" in notes[-1]


def test_skips_done_and_excluded_papers():
    policy = Selection(max_picks=2, min_score=0)
    picks, notes = select_picks(DAY, scores(0.9, 0.8, 0.7, excluded=1), policy, {"2411.00000"})
    assert [p.arxiv_id for p in picks] == ["2411.00002"]
    assert any("already implemented" in n for n in notes)
    assert any("excluded" in n for n in notes)


# -- papers the harness cannot test -----------------------------------------------------------

ARCH = "Gated Slot Attention for Efficient Linear-Time Sequence Modeling"
NORM = "Transformers without Normalization"
CODE = "CodeGen2: Lessons for Training LLMs on Programming and Natural Languages"
AGENT = "AgentGym: Evolving Large Language Model-based Agents across Diverse Environments"


def _day(*rows: tuple[str, float, str]) -> tuple[list[Score], dict[str, Paper]]:
    """(arxiv id, total, title) rows -> the scores and the papers selection reads."""
    scores = [Score(arxiv_id=i, day=DAY, total=t, components=[]) for i, t, _ in rows]
    return scores, {i: paper(i, title) for i, _, title in rows}


def test_an_untestable_top_paper_does_not_take_a_slot_from_testable_ones():
    scores, papers = _day(("2411.00001", 0.9, CODE), ("2411.00002", 0.8, ARCH),
                          ("2411.00003", 0.7, AGENT), ("2411.00004", 0.6, NORM))  # fmt: skip
    policy = Selection(max_picks=2, min_score=0.2)
    picks, notes = select_picks(DAY, scores, policy, set(), papers)
    assert [(p.arxiv_id, p.rank) for p in picks] == [("2411.00002", 1), ("2411.00004", 2)]
    assert notes == [
        "2411.00001 not picked: the harness cannot test it (about code generation)",
        "2411.00003 not picked: the harness cannot test it (about agents)",
    ]
    # without the papers' text nothing is held back: the old top-k
    picks, _ = select_picks(DAY, scores, policy, set())
    assert [p.arxiv_id for p in picks] == ["2411.00001", "2411.00002"]


def test_untestable_papers_fill_slots_only_when_no_testable_candidate_is_left():
    scores, papers = _day(("2411.00001", 0.9, CODE), ("2411.00002", 0.8, ARCH),
                          ("2411.00003", 0.7, AGENT), ("2411.00004", 0.1, NORM))  # fmt: skip
    picks, notes = select_picks(DAY, scores, Selection(max_picks=3, min_score=0.2), set(), papers)
    # NORM is below min_score: the untestable ones above it take the slots that remain
    assert [(p.arxiv_id, p.rank) for p in picks] == [
        ("2411.00002", 1), ("2411.00001", 2), ("2411.00003", 3)
    ]  # fmt: skip
    assert notes[0] == "stopped at 2411.00004: score 0.100 < 0.2"
    assert notes[1] == (
        "2411.00001 picked although the harness may not test it (about code generation):"
        " no testable candidate at or above 0.2 left"
    )


def test_untestable_fill_respects_the_gpu_budget():
    scores, papers = _day(("2411.00001", 0.9, CODE), ("2411.00002", 0.8, ARCH),
                          ("2411.00003", 0.7, AGENT))  # fmt: skip
    policy = Selection(max_picks=3, gpu_minutes_budget=45, minutes_per_pick=20, min_score=0)
    picks, notes = select_picks(DAY, scores, policy, set(), papers)
    assert [p.arxiv_id for p in picks] == ["2411.00002", "2411.00001"]
    assert notes[-1] == "2411.00003 not picked: the harness cannot test it (about agents)"


def test_reviewers_judgement_and_the_library_override_the_estimate():
    scores, papers = _day(("2411.00001", 0.9, CODE), ("2402.18668", 0.8, AGENT),
                          ("2411.00003", 0.7, ARCH))  # fmt: skip
    scores[0] = scores[0].model_copy(update={"basis": "combined", "implementable": True})
    picks, notes = select_picks(DAY, scores, Selection(max_picks=2, min_score=0), set(), papers)
    # reviewers judged CodeGen2-like 2411.00001 implementable; 2402.18668 (BASED) is in
    # the reference library whatever its text says
    assert [p.arxiv_id for p in picks] == ["2411.00001", "2402.18668"] and notes == []


def _review(implementability: float) -> PaperReview:
    return PaperReview(
        arxiv_id="2411.00001",
        day=DAY,
        model="m",
        prompt_version="v",
        criteria={"implementability": Stat(mean=implementability, std=0.0)},
        overall=Stat(mean=6.0, std=0.0),
    )


def test_combined_score_carries_the_reviewers_implementability():
    signal = Score(arxiv_id="2411.00001", day=DAY, total=0.5, components=[])
    w = ReviewWeights()
    judged = combine(signal, _review(7.0), None, w, 20, min_implementability=4)
    assert judged.implementable is True and judged.excluded is None
    rejected = combine(signal, _review(2.0), None, w, 20, min_implementability=4)
    assert rejected.implementable is False and "not implementable" in rejected.excluded
    assert combine(signal, None, None, w, 20).implementable is None  # nobody judged it
    library = combine(signal, _review(2.0), None, w, 20, min_implementability=4, in_library=True)
    assert library.implementable is True and library.excluded is None


def test_sample_day_signals_only_codegen2_is_not_picked():
    """The bundled day, ranked by the ranking module as it is: CodeGen2 (a code model the
    harness cannot test) was the third pick; testable papers take the slots instead."""
    day, sample = load_sample_day()
    config = Config()
    context = build_context(day, sample, config)
    scores = [score_paper(p, context) for p in sample]
    by_id = {p.arxiv_id: p for p in sample}
    before, _ = select_picks(day, scores, config.selection, set())
    picks, notes = select_picks(day, scores, config.selection, set(), by_id)
    codegen2 = "2305.02309"
    assert codegen2 not in [p.arxiv_id for p in picks]
    assert len(picks) == config.selection.max_picks
    assert all(estimate_paper(by_id[p.arxiv_id]).testable for p in picks)
    assert [p.rank for p in picks] == list(range(1, len(picks) + 1))
    if codegen2 in [p.arxiv_id for p in before]:  # today: BASED, TokenFormer, CodeGen2
        assert f"{codegen2} not picked: the harness cannot test it (about code generation)" in notes


# -- signals-only days: no LLM to write code ---------------------------------------------------

BASED, VITC = "2402.18668", "2106.14881"  # in the reference library


def test_without_an_llm_only_papers_with_code_take_a_slot():
    scores, papers = _day(("2411.00001", 0.9, ARCH), (BASED, 0.8, ARCH),
                          ("2411.00003", 0.7, NORM), (VITC, 0.6, "Early Convolutions"))  # fmt: skip
    policy = Selection(max_picks=3, min_score=0.2)
    picks, notes = select_picks(DAY, scores, policy, set(), papers, llm=False)
    assert [(p.arxiv_id, p.rank) for p in picks] == [(BASED, 1), (VITC, 2)]
    assert notes == [
        "not picked, no code without an LLM: 2411.00001, 2411.00003 (signals-only: no LLM is"
        " configured to implement a paper, so only papers with a reference implementation can"
        " be picked)"
    ]
    # with an LLM the same day picks by rank (both papers are testable)
    picks, _ = select_picks(DAY, scores, policy, set(), papers)
    assert [p.arxiv_id for p in picks] == ["2411.00001", BASED, "2411.00003"]


def test_without_an_llm_stored_code_keeps_a_paper_pickable_and_untestable_ones_wait():
    scores, papers = _day(("2411.00001", 0.9, CODE), ("2411.00002", 0.8, ARCH),
                          ("2411.00003", 0.7, AGENT))  # fmt: skip
    policy = Selection(max_picks=3, min_score=0)
    picks, notes = select_picks(
        DAY, scores, policy, set(), papers, llm=False, stored_code={"2411.00002"}
    )
    # an untestable paper without code cannot even fill a slot that is left
    assert [p.arxiv_id for p in picks] == ["2411.00002"]
    assert notes == [
        "not picked, no code without an LLM: 2411.00001, 2411.00003 (signals-only: no LLM is"
        " configured to implement a paper, so only papers with a reference implementation can"
        " be picked)"
    ]


def test_the_no_code_note_names_ten_papers_then_counts():
    scores = [Score(arxiv_id=f"2411.{i:05d}", day=DAY, total=0.9 - i / 100, components=[])
              for i in range(25)]  # fmt: skip
    picks, notes = select_picks(DAY, scores, Selection(max_picks=3, min_score=0), set(), llm=False)
    assert picks == [] and len(notes) == 1
    assert notes[0].startswith("not picked, no code without an LLM: 2411.00000, 2411.00001,")
    assert "2411.00009 and 15 more (signals-only" in notes[0]


def test_sample_day_signals_only_spends_no_pick_on_a_paper_nobody_can_implement():
    """The bundled day without an LLM: every pick has a reference implementation (so it
    trains), the image family's ViT_C among them; better-ranked papers are named. Ranked
    with the bundled configuration, as `make run` ranks it."""
    day, sample = load_sample_day()
    config = parse_config(default_config_text())
    context = build_context(day, sample, config)
    scores = [score_paper(p, context) for p in sample]
    by_id = {p.arxiv_id: p for p in sample}
    picks, notes = select_picks(day, scores, config.selection, set(), by_id, llm=False)
    picked = [p.arxiv_id for p in picks]
    assert set(picked) <= library_ids() and len(picks) == config.selection.max_picks
    assert {BASED, "2410.23168", VITC} == set(picked)  # mqar, lm and image
    ranked = sorted(scores, key=lambda s: -s.total)
    above = [s.arxiv_id for s in ranked[: [s.arxiv_id for s in ranked].index(picked[-1])]]
    passed_over = [i for i in above if i not in library_ids()]
    assert passed_over and notes[-1].startswith(
        f"not picked, no code without an LLM: {', '.join(passed_over[:10])}"
    )
