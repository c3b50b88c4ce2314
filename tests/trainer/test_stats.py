"""The outcome rule: Welch CIs over per-seed means, margins, signs."""

from __future__ import annotations

import math
import statistics

import pytest
from paperfoundry_trainer import stats

M = 0.03  # the MQAR margin


def test_margins_are_the_documented_ones():
    assert stats.MARGINS == {"query_accuracy": 0.03, "bpb": 0.02, "accuracy": 0.02,
                             "denoise_mse": 0.005}  # fmt: skip


@pytest.mark.parametrize(
    "candidate,baseline,outcome",
    [
        ([0.90, 0.91, 0.92], [0.50, 0.52, 0.51], "better"),
        ([0.50, 0.52, 0.51], [0.90, 0.91, 0.92], "worse"),
        ([0.950, 0.952, 0.951], [0.951, 0.950, 0.952], "equivalent"),
        ([0.2, 0.9, 0.5], [0.5, 0.6, 0.4], "inconclusive"),  # too noisy to say anything
        # the CI excludes 0, but the effect is below the margin: not "better"
        ([0.520, 0.521, 0.522], [0.500, 0.501, 0.502], "equivalent"),
        # a real but small difference with a CI reaching past the margin: inconclusive
        ([0.52, 0.56, 0.60], [0.50, 0.51, 0.52], "inconclusive"),
    ],
)
def test_outcomes(candidate, baseline, outcome):
    assert stats.compare(candidate, baseline, True, M)["outcome"] == outcome


def test_lower_is_better_flips_the_sign():
    low, high = [2.00, 2.01, 2.02], [2.50, 2.51, 2.49]
    better = stats.compare(low, high, False, 0.02)
    assert better["outcome"] == "better" and better["effect"] == pytest.approx(0.49)
    assert stats.compare(high, low, False, 0.02)["outcome"] == "worse"
    assert stats.compare(low, high, True, 0.02)["outcome"] == "worse"


def test_effect_and_intervals():
    a, b = [0.8, 0.85, 0.9], [0.6, 0.62, 0.58]
    r = stats.compare(a, b, True, M)
    assert r["effect"] == pytest.approx(statistics.fmean(a) - statistics.fmean(b))
    lo95, hi95 = r["ci95"]
    lo90, hi90 = r["ci90"]
    assert lo95 < lo90 < r["effect"] < hi90 < hi95  # the 90% CI is inside the 95% CI
    assert r["effect"] == pytest.approx((lo95 + hi95) / 2)
    # Welch by hand: standard error and Welch-Satterthwaite degrees of freedom
    va, vb = statistics.variance(a) / 3, statistics.variance(b) / 3
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / 2 + vb**2 / 2)
    assert 2 < df < 3  # unequal spreads: fewer than the 4 dof of a pooled test
    assert hi95 - r["effect"] == pytest.approx(4.303 * se)  # the t row for 2 dof
    assert hi90 - r["effect"] == pytest.approx(2.920 * se)
    assert r["n"] == [3, 3] and r["margin"] == M


def test_effect_exactly_at_the_margin_counts():
    r = stats.compare([0.75, 0.75, 0.75], [0.5, 0.5, 0.5], True, 0.25)  # exact in binary
    assert r["effect"] == 0.25 and r["outcome"] == "better"
    assert stats.compare([0.5] * 3, [0.75] * 3, True, 0.25)["outcome"] == "worse"


@pytest.mark.parametrize(
    "candidate,baseline,outcome",
    [
        ([1.0, 1.0, 1.0], [1.0, 1.0, 1.0], "equivalent"),  # both solve the task every time
        ([1.0, 1.0, 1.0], [0.5, 0.5, 0.5], "better"),
        ([0.5, 0.5, 0.5], [1.0, 1.0, 1.0], "worse"),
        ([1.0, 1.0, 1.0], [0.99, 0.99, 0.99], "equivalent"),  # a difference within margin
        # one side without spread: the other side's spread alone sets the interval
        ([1.0, 1.0, 1.0], [0.40, 0.45, 0.50], "better"),
        ([1.0, 1.0, 1.0], [0.2, 0.99, 0.6], "inconclusive"),
    ],
)
def test_zero_variance(candidate, baseline, outcome):
    r = stats.compare(candidate, baseline, True, M)
    assert r["outcome"] == outcome
    assert all(math.isfinite(v) for v in (*r["ci95"], *r["ci90"]))


def test_a_single_seed_supports_no_verdict():
    """One seed per model has no spread to estimate: whatever the values, no outcome but
    `inconclusive` (a point interval would claim certainty it does not have)."""
    for cand, base in [([1.0], [0.2]), ([0.2], [1.0]), ([0.5], [0.5]), ([1.0], [0.2, 0.3])]:
        r = stats.compare(cand, base, True, M)
        assert r["outcome"] == "inconclusive", (cand, base, r)
        assert r["ci95"][0] < r["effect"] < r["ci95"][1]


def test_summary():
    s = stats.summary([0.5, 0.7, 0.6])
    assert s["mean"] == pytest.approx(0.6) and s["std"] == pytest.approx(0.1)
    half = 4.303 * 0.1 / math.sqrt(3)
    assert s["ci95"] == pytest.approx([0.6 - half, 0.6 + half])
    one = stats.summary([0.4])
    assert one["std"] == 0.0 and one["ci95"] == [-math.inf, math.inf]


def test_t_quantiles_are_conservative_between_rows():
    assert stats.t_quantile(2, 0.975) == 4.303
    assert stats.t_quantile(2.9, 0.975) == 4.303  # fractional df: the lower row (wider CI)
    assert stats.t_quantile(11, 0.975) == stats.t_quantile(10, 0.975)
    assert stats.t_quantile(0.5, 0.975) == 12.706
    assert stats.t_quantile(1000, 0.975) == 1.960
    assert stats.t_quantile(math.inf, 0.95) == 1.645
