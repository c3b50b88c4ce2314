from paperfoundry.config import Selection
from paperfoundry.models import Score
from paperfoundry.selection import select_picks

from .factories import DAY


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
