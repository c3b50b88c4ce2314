"""The comparison's statistics: Welch confidence intervals and the outcome rule.

With a handful of seeds per model, the seed-to-seed spread is the noise that matters (the
test sets are thousands of examples), so the unit of analysis is the per-seed test mean.
"""

from __future__ import annotations

import math
import statistics

# Student t quantiles for two-sided 95% (0.975) and 90% (0.95) intervals, by degrees of
# freedom; a fractional Welch df uses the next lower row (conservative).
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
         9: 2.262, 10: 2.228, 12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042, 60: 2.000,
         120: 1.980}  # fmt: skip
_T95 = {1: 6.314, 2: 2.920, 3: 2.353, 4: 2.132, 5: 2.015, 6: 1.943, 7: 1.895, 8: 1.860,
        9: 1.833, 10: 1.812, 12: 1.782, 15: 1.753, 20: 1.725, 30: 1.697, 60: 1.671,
        120: 1.658}  # fmt: skip
_Z = {0.975: 1.960, 0.95: 1.645}

# equivalence margins (metric units): accuracy in points of the test split, denoise_mse in
# the MSE of predicted noise (unit-variance noise; ~2% of a small DiT's on the digits)
MARGINS = {"query_accuracy": 0.03, "bpb": 0.02, "accuracy": 0.02, "denoise_mse": 0.005}


def t_quantile(df: float, q: float) -> float:
    table = _T975 if q == 0.975 else _T95
    if not math.isfinite(df) or df > 120:
        return _Z[q]
    rows = [k for k in table if k <= max(1.0, df)]
    return table[max(rows)]


def summary(values: list[float]) -> dict:
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    n = len(values)
    half = t_quantile(n - 1, 0.975) * std / math.sqrt(n) if n > 1 else math.inf
    return {"values": values, "mean": mean, "std": std, "ci95": [mean - half, mean + half]}


def welch(a: list[float], b: list[float], q: float) -> tuple[float, float, float]:
    """mean(a) - mean(b) and its two-sided CI at quantile q (0.975 -> 95%, 0.95 -> 90%)."""
    ma, mb = statistics.fmean(a), statistics.fmean(b)
    diff = ma - mb
    if len(a) < 2 or len(b) < 2:  # one seed has no spread to estimate: no interval
        return diff, -math.inf, math.inf
    va = statistics.variance(a) / len(a)
    vb = statistics.variance(b) / len(b)
    se = math.sqrt(va + vb)
    if se == 0.0:  # both spreads zero (e.g. every seed solves the task): the CI is a point
        return diff, diff, diff
    num = (va + vb) ** 2
    den = (va**2 / (len(a) - 1) if len(a) > 1 else 0) + (vb**2 / (len(b) - 1) if len(b) > 1 else 0)
    df = num / den if den else math.inf
    half = t_quantile(df, q) * se
    return diff, diff - half, diff + half


def compare(candidate: list[float], baseline: list[float], higher_is_better: bool, margin: float):
    """Effect (positive = candidate better), 95% and 90% CIs, and the outcome.

    better: 95% CI above 0 and the effect at least the margin; worse: the mirror image;
    equivalent: the 90% CI inside [-margin, margin] (two one-sided tests at alpha 0.05);
    otherwise inconclusive.
    """
    sign = 1.0 if higher_is_better else -1.0
    c = [sign * v for v in candidate]
    b = [sign * v for v in baseline]
    effect, lo95, hi95 = welch(c, b, 0.975)
    _, lo90, hi90 = welch(c, b, 0.95)
    if lo95 > 0 and effect >= margin:
        outcome = "better"
    elif hi95 < 0 and effect <= -margin:
        outcome = "worse"
    elif -margin < lo90 and hi90 < margin:
        outcome = "equivalent"
    else:
        outcome = "inconclusive"
    return {
        "effect": effect,
        "ci95": [lo95, hi95],
        "ci90": [lo90, hi90],
        "margin": margin,
        "n": [len(candidate), len(baseline)],
        "outcome": outcome,
    }
