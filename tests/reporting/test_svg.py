"""loss_curves_svg: structure and robustness."""

from __future__ import annotations

import math
import re

import defusedxml.ElementTree as ET
import pytest
from paperfoundry.models import Curve
from paperfoundry.reporting import loss_curves_svg
from paperfoundry.reporting.svg import MAX_POINTS, downsample, nice_ticks

NS = "{http://www.w3.org/2000/svg}"


def polylines(svg: str) -> list[list[tuple[float, float]]]:
    root = ET.fromstring(svg)  # must be well-formed XML
    out = []
    for el in root.iter(f"{NS}polyline"):
        pts = [tuple(map(float, p.split(","))) for p in el.get("points").split()]
        out.append(pts)
    return out


def test_chart_structure(report):
    run = report.picks[0].run
    svg = loss_curves_svg(run.curves, title="Loss <GLA> & friends")
    root = ET.fromstring(svg)
    assert root.tag == f"{NS}svg"
    assert root.get("role") == "img"
    assert root.find(f"{NS}title").text == "Loss <GLA> & friends"  # escaped in source
    assert "&lt;GLA&gt; &amp; friends" in svg
    assert root.find(f"{NS}desc") is not None
    lines = polylines(svg)
    assert len(lines) == 6
    assert all(2 <= len(pts) <= MAX_POINTS for pts in lines)
    # two colours (baseline vs candidate), three dash styles (seeds)
    colours = {el.get("stroke") for el in root.iter(f"{NS}polyline")}
    dashes = {el.get("stroke-dasharray") for el in root.iter(f"{NS}polyline")}
    assert len(colours) == 2 and len(dashes) == 3
    # legend names both models and the seeds
    texts = [t.text for t in root.iter(f"{NS}text")]
    assert "baseline" in texts and "candidate" in texts and "seed 2" in texts
    # all points inside the viewBox
    width, height = (float(v) for v in root.get("viewBox").split()[2:])
    for pts in lines:
        assert all(0 <= x <= width and 0 <= y <= height for x, y in pts)


def test_empty_inputs():
    for curves in ({}, {"baseline": {}}, {"baseline": {"0": Curve(step=[], loss=[])}}):
        svg = loss_curves_svg(curves, title="empty")
        root = ET.fromstring(svg)
        assert "no curve data" in svg
        assert root.find(f"{NS}title") is not None
        assert not polylines(svg)


def test_single_point_and_constant():
    svg = loss_curves_svg({"m": {"0": Curve(step=[5], loss=[1.0])}}, title="one")
    root = ET.fromstring(svg)
    assert len(list(root.iter(f"{NS}circle"))) == 1
    svg = loss_curves_svg({"m": {"0": Curve(step=[0, 1, 2], loss=[2.0, 2.0, 2.0])}}, title="c")
    (pts,) = polylines(svg)
    assert len(pts) == 3 and len({y for _, y in pts}) == 1


def test_non_finite_values_are_skipped():
    nan, inf = float("nan"), float("inf")
    curve = Curve(step=[0, 1, 2, 3, 4, 5], loss=[3.0, nan, 2.5, inf, -inf, 2.0])
    svg = loss_curves_svg({"candidate": {"0": curve}}, title="nan")
    assert "nan" not in svg.lower().replace('"nan"', "").replace(">nan<", "")
    assert "inf" not in svg.replace("Information", "")
    (pts,) = polylines(svg)
    assert len(pts) == 3
    all_bad = Curve(step=[0, 1], loss=[nan, inf])
    assert "no curve data" in loss_curves_svg({"m": {"0": all_bad}}, title="bad")


def test_huge_lists_are_downsampled_keeping_spikes():
    n = 100_000
    loss = [3.0 - i / n for i in range(n)]
    loss[54_321] = 50.0  # a spike must survive downsampling
    curves = {"baseline": {"0": Curve(step=list(range(n)), loss=loss)}}
    svg = loss_curves_svg(curves, title="big")
    (pts,) = polylines(svg)
    assert len(pts) <= MAX_POINTS
    top = min(y for _, y in pts)  # the spike is the highest point -> smallest SVG y
    assert top < 60
    assert len(svg) < 60_000


def test_log_scale_for_wide_ranges_and_linear_otherwise():
    wide = {
        "m": {"0": Curve(step=list(range(100)), loss=[100 * 0.9**i + 0.01 for i in range(100)])}
    }
    assert "(log scale)" in loss_curves_svg(wide, title="w")
    assert "(log scale)" not in loss_curves_svg(wide, title="w", log_y=False)
    narrow = {"m": {"0": Curve(step=[0, 1, 2], loss=[3.0, 2.5, 2.4])}}
    assert "(log scale)" not in loss_curves_svg(narrow, title="n")
    negative = {"m": {"0": Curve(step=[0, 1], loss=[-1.0, 100.0])}}
    assert "(log scale)" not in loss_curves_svg(negative, title="neg", log_y=True)


def test_mismatched_lengths_and_tiny_sizes():
    curves = {"m": {"0": Curve(step=[0, 1, 2, 3], loss=[1.0, 0.5])}}
    svg = loss_curves_svg(curves, title="x", width=10, height=10)
    root = ET.fromstring(svg)
    assert float(root.get("width")) >= 240
    (pts,) = polylines(svg)
    assert len(pts) == 2


@pytest.mark.parametrize(
    ("lo", "hi"), [(0, 1), (2.27, 4.31), (0, 2400), (-3, 7), (1e-5, 3e-5), (5, 5), (0, 1e9)]
)
def test_nice_ticks_cover_range(lo, hi):
    ticks = nice_ticks(lo, hi)
    assert ticks[0] <= lo and ticks[-1] >= hi
    assert 2 <= len(ticks) <= 12
    steps = {round(b - a, 9) for a, b in zip(ticks, ticks[1:], strict=False)}
    assert len(steps) == 1
    step = steps.pop()
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert any(math.isclose(mantissa, m) for m in (1, 2, 2.5, 5))


def test_downsample_small_input_untouched():
    pts = [(float(i), float(i)) for i in range(10)]
    assert downsample(pts) == pts
    assert len(downsample(pts, max_points=3)) == 3


def test_ids_are_unique_per_chart(report):
    run = report.picks[0].run
    a = loss_curves_svg(run.curves, title="A")
    b = loss_curves_svg(run.curves, title="B")
    ida = re.search(r'<title id="([^"]+)"', a).group(1)
    idb = re.search(r'<title id="([^"]+)"', b).group(1)
    assert ida != idb
