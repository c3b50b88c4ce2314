"""Dependency-free SVG line charts for training loss curves.

Runs inside a Lambda, so this is stdlib only: no matplotlib, no numpy. The output is a
self-contained `<svg>` element meant to be inlined in the HTML report (it uses no external
fonts, scripts or stylesheets, and every piece of text is XML-escaped).

Conventions
-----------
* one colour per model (``baseline`` is always slate grey, candidates get saturated colours);
* one dash pattern per seed (solid, dashed, dotted, ...), shared across models;
* the y axis switches to a log scale when all losses are positive and span more than
  ``LOG_SPAN`` (a factor of 20), otherwise linear; ticks are "nice" (1, 2, 2.5, 5 x 10^k);
* non-finite points are skipped, lines longer than ``MAX_POINTS`` are downsampled with a
  min/max bucket scheme that keeps spikes visible.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from html import escape

from ..models import Curve

MAX_POINTS = 500
LOG_SPAN = 20.0

BASELINE_COLOUR = "#64748b"  # slate
MODEL_COLOURS = ["#ea580c", "#2563eb", "#16a34a", "#9333ea", "#db2777", "#0891b2", "#ca8a04"]
SEED_DASHES = ["", "7 4", "2 3", "10 3 2 3", "4 2", "1 5"]
LEGEND_ROW, LEGEND_ROWS = 15, 3  # legend row height; at most this many rows

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"

Point = tuple[float, float]


# --------------------------------------------------------------------------- helpers


# control characters XML 1.0 does not allow (dropped from any text that is written out)
XML_ILLEGAL = dict.fromkeys([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0xFFFE, 0xFFFF])


def _x(value: str) -> str:
    """XML-escape text and attribute values."""
    return escape(value.translate(XML_ILLEGAL), quote=True)


def _num(value: float) -> str:
    """Compact coordinate formatting (1 decimal, no trailing zeros)."""
    text = f"{value:.1f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def is_baseline(model: str) -> bool:
    return "baseline" in model.lower()


def model_order(models: Iterable[str]) -> list[str]:
    """Baseline(s) first, then candidates, each group in name order (stable colours)."""
    return sorted(models, key=lambda m: (not is_baseline(m), m))


def model_colours(models: Iterable[str]) -> dict[str, str]:
    colours: dict[str, str] = {}
    i = 0
    for model in model_order(models):
        if is_baseline(model) and BASELINE_COLOUR not in colours.values():
            colours[model] = BASELINE_COLOUR
        else:
            colours[model] = MODEL_COLOURS[i % len(MODEL_COLOURS)]
            i += 1
    return colours


def clean_points(curve: Curve) -> list[Point]:
    """(step, loss) pairs with non-finite values dropped, sorted by step."""
    points: list[Point] = []
    for step, loss in zip(curve.step, curve.loss, strict=False):
        try:
            x, y = float(step), float(loss)
        except (TypeError, ValueError):
            continue
        if math.isfinite(x) and math.isfinite(y):
            points.append((x, y))
    points.sort(key=lambda p: p[0])
    return points


def downsample(points: Sequence[Point], max_points: int = MAX_POINTS) -> list[Point]:
    """Keep at most `max_points`: first and last point, plus min and max of each bucket.

    Min/max bucketing (rather than a plain stride) keeps loss spikes visible.
    """
    n = len(points)
    if n <= max_points:
        return list(points)
    if max_points < 4:
        step = (n - 1) / max(1, max_points - 1)
        return [points[round(i * step)] for i in range(max_points)]
    inner = points[1:-1]
    buckets = (max_points - 2) // 2
    size = len(inner) / buckets
    out: list[Point] = [points[0]]
    for b in range(buckets):
        chunk = inner[int(b * size) : int((b + 1) * size)]
        if not chunk:
            continue
        lo = min(range(len(chunk)), key=lambda i: chunk[i][1])
        hi = max(range(len(chunk)), key=lambda i: chunk[i][1])
        for i in sorted({lo, hi}):
            out.append(chunk[i])
    out.append(points[-1])
    return out


def nice_step(span: float, target: int = 5) -> float:
    """A 1/2/2.5/5 x 10^k step giving about `target` intervals over `span`."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / max(1, target)
    exp = math.floor(math.log10(raw))
    base = 10.0**exp
    for mult in (1.0, 2.0, 2.5, 5.0, 10.0):
        if raw <= mult * base * 1.0000001:
            return mult * base
    return 10.0 * base


def nice_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (the returned range may extend slightly)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0, 1.0]
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    step = nice_step(hi - lo, target)
    start = math.floor(lo / step + 1e-9) * step
    end = math.ceil(hi / step - 1e-9) * step
    count = min(50, max(1, round((end - start) / step)))
    return [round(start + i * step, 12) for i in range(count + 1)]


def log_ticks(lo: float, hi: float) -> list[float]:
    """Ticks for a log axis over [lo, hi] (lo > 0): decades, plus 2 and 5 if few decades."""
    lo_exp = math.floor(math.log10(lo))
    hi_exp = math.ceil(math.log10(hi))
    decades = hi_exp - lo_exp
    mults = (1.0,) if decades > 3 else (1.0, 2.0, 5.0)
    ticks = [m * 10.0**e for e in range(lo_exp, hi_exp + 1) for m in mults]
    inside = [t for t in ticks if lo * 0.999 <= t <= hi * 1.001]
    if len(inside) >= 2:
        return inside
    return [10.0**lo_exp, 10.0**hi_exp]


def format_tick(value: float, step: float | None = None) -> str:
    """Human tick labels: 1.5k, 20k, 2M for big numbers, compact decimals otherwise."""
    if value == 0:
        return "0"
    mag = abs(value)
    if mag >= 1e6:
        return f"{value / 1e6:g}M"
    if mag >= 1e4:
        return f"{value / 1e3:g}k"
    if step is not None and step > 0:
        decimals = max(0, -math.floor(math.log10(step) + 1e-9))
        if step * 10**decimals % 1 > 1e-6:  # e.g. 0.25 needs two decimals, not one
            decimals += 1
        return f"{value:.{min(decimals, 8)}f}"
    return f"{value:.3g}"


# --------------------------------------------------------------------------- chart


def _empty_chart(title: str, width: int, height: int, message: str, uid: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="pf-chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'aria-labelledby="{uid}-t" font-family="{_x(FONT)}">'
        f'<title id="{uid}-t">{_x(title)}: {_x(message)}</title>'
        f'<rect x="0.5" y="0.5" width="{width - 1}" height="{height - 1}" rx="6" '
        f'fill="#f8fafc" stroke="#e2e8f0"/>'
        f'<text x="{width / 2:g}" y="{height / 2:g}" text-anchor="middle" '
        f'font-size="14" fill="#64748b">{_x(message)}</text>'
        "</svg>"
    )


def loss_curves_svg(
    curves: dict[str, dict[str, Curve]],
    *,
    title: str,
    width: int = 640,
    height: int = 320,
    log_y: bool | None = None,
    y_label: str = "loss",
    x_label: str = "step",
) -> str:
    """Inline SVG line chart of `curves[model][seed] -> Curve(step, loss)`.

    `log_y=None` picks the scale automatically (log when all losses are positive and span
    more than a factor of 20). Returns a complete `<svg>` element (string); never raises on
    odd data: empty dicts, empty or single-point curves and NaN/inf values are handled.
    """
    series = {m: {s: clean_points(c) for s, c in seeds.items()} for m, seeds in curves.items()}
    return line_chart_svg(
        series, title=title, width=width, height=height, log_y=log_y, y_label=y_label,
        x_label=x_label,
    )  # fmt: skip


def line_chart_svg(
    series: dict[str, dict[str, list[Point]]],
    *,
    title: str,
    width: int = 640,
    height: int = 320,
    log_y: bool | None = None,
    log_x: bool = False,
    y_label: str = "loss",
    x_label: str = "step",
    colours: dict[str, str] | None = None,
) -> str:
    """Line chart of `series[model][seed] -> [(x, y), ...]` (one colour per model, one dash
    per seed); `log_x` for positive x values (a learning rate), `colours` to fix them."""
    width = max(240, int(width))
    height = max(160, int(height))
    digest = hashlib.sha1(
        repr((title, sorted((m, sorted(s)) for m, s in series.items()))).encode(),
        usedforsecurity=False,
    ).hexdigest()[:8]
    uid = f"pfc{digest}"

    lines: list[tuple[str, str, list[Point]]] = []  # (model, seed, points)
    models = model_order(series)
    seeds: list[str] = []
    for model in models:
        for seed in sorted(series[model], key=_seed_key):
            points = sorted(
                (x, y)
                for x, y in series[model][seed]
                if math.isfinite(x) and math.isfinite(y) and (x > 0 or not log_x)
            )
            points = downsample(points)
            if points:
                lines.append((model, seed, points))
                if seed not in seeds:
                    seeds.append(seed)
    seeds.sort(key=_seed_key)
    if not lines:
        return _empty_chart(title, width, height, "no curve data", uid)

    xs = [p[0] for _, _, pts in lines for p in pts]
    ys = [p[1] for _, _, pts in lines for p in pts]
    x_lo, x_hi = min(xs), max(xs)
    y_lo, y_hi = min(ys), max(ys)
    use_log = log_y if log_y is not None else (y_lo > 0 and y_hi / y_lo > LOG_SPAN)
    if use_log and y_lo <= 0:
        use_log = False

    # ---- axes domains and ticks
    if log_x and x_lo != x_hi:
        x_ticks = log_ticks(x_lo, x_hi)
        x_min, x_max, x_step = min(x_lo, x_ticks[0]), max(x_hi, x_ticks[-1]), None
    else:
        log_x = False
        x_ticks = nice_ticks(x_lo, x_hi, target=max(2, width // 110))
        x_step = x_ticks[1] - x_ticks[0] if len(x_ticks) > 1 else None
        x_min, x_max = (x_ticks[0], x_ticks[-1]) if x_lo != x_hi else (x_lo - 1, x_hi + 1)
    if x_lo == x_hi:
        x_ticks = [x_lo]
    if use_log:
        y_ticks = log_ticks(y_lo, y_hi)
        y_min, y_max = min(y_lo, y_ticks[0]), max(y_hi, y_ticks[-1])
        y_step = None
    else:
        y_ticks = nice_ticks(y_lo, y_hi, target=max(3, height // 55))
        y_min, y_max = y_ticks[0], y_ticks[-1]
        y_step = y_ticks[1] - y_ticks[0] if len(y_ticks) > 1 else None

    # ---- layout
    y_labels = [format_tick(t, y_step) for t in y_ticks]
    left = 18 + 7 * max(len(s) for s in y_labels) + 14
    right, bottom = 16, 44
    colours = {**model_colours(models), **(colours or {})}
    dashes = {seed: SEED_DASHES[i % len(SEED_DASHES)] for i, seed in enumerate(seeds)}
    legend, rows = _legend(models, colours, seeds, dashes, left, width - right)
    top = 40 + LEGEND_ROW * (rows - 1)
    pw, ph = width - left - right, height - top - bottom

    def sx(value: float) -> float:
        if log_x:
            lo, hi = math.log10(x_min), math.log10(x_max)
            return left + (math.log10(value) - lo) / (hi - lo) * pw
        return left + (value - x_min) / (x_max - x_min) * pw

    def sy(value: float) -> float:
        if use_log:
            lo, hi = math.log10(y_min), math.log10(y_max)
            frac = (math.log10(value) - lo) / (hi - lo) if hi > lo else 0.5
        else:
            frac = (value - y_min) / (y_max - y_min) if y_max > y_min else 0.5
        return top + ph - frac * ph

    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="pf-chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'aria-labelledby="{uid}-t {uid}-d" font-family="{_x(FONT)}">',
        f'<title id="{uid}-t">{_x(title)}</title>',
        f'<desc id="{uid}-d">{_x(_describe(lines, use_log, y_label, x_label))}</desc>',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{left}" y="16" font-size="13" font-weight="600" fill="#0f172a">'
        f"{_x(_clip(title, width // 7))}</text>",
    ]

    # grid + tick labels
    out.append('<g font-size="11" fill="#475569">')
    for tick, label in zip(y_ticks, y_labels, strict=True):
        y = sy(tick)
        out.append(
            f'<line x1="{left}" x2="{left + pw}" y1="{_num(y)}" y2="{_num(y)}" '
            f'stroke="#e2e8f0" stroke-width="1"/>'
            f'<text x="{left - 6}" y="{_num(y + 4)}" text-anchor="end">{_x(label)}</text>'
        )
    for tick in x_ticks:
        x = sx(tick)
        out.append(
            f'<line x1="{_num(x)}" x2="{_num(x)}" y1="{top}" y2="{top + ph}" '
            f'stroke="#f1f5f9" stroke-width="1"/>'
            f'<text x="{_num(x)}" y="{top + ph + 16}" text-anchor="middle">'
            f"{_x(format_tick(tick, x_step))}</text>"
        )
    out.append("</g>")
    # axes frame
    out.append(
        f'<path d="M{left} {top}V{top + ph}H{left + pw}" fill="none" stroke="#94a3b8" '
        f'stroke-width="1"/>'
    )
    out.append(
        f'<text x="{left + pw / 2:g}" y="{height - 6}" text-anchor="middle" font-size="11" '
        f'fill="#475569">{_x(x_label)}</text>'
        f'<text transform="translate(12 {top + ph / 2:g}) rotate(-90)" text-anchor="middle" '
        f'font-size="11" fill="#475569">{_x(y_label + (" (log scale)" if use_log else ""))}'
        "</text>"
    )

    # lines (clipped to the plot area)
    out.append(
        f'<clipPath id="{uid}-c"><rect x="{left - 5}" y="{top - 5}" width="{pw + 10}" '
        f'height="{ph + 10}"/></clipPath><g clip-path="url(#{uid}-c)" fill="none" '
        f'stroke-width="1.5" stroke-opacity="0.9" stroke-linejoin="round" stroke-linecap="round">'
    )
    for model, seed, points in lines:
        colour = colours[model]
        dash = dashes[seed]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        label = _x(f"{model} seed {seed}")
        if len(points) == 1:
            x, y = points[0]
            out.append(
                f'<circle cx="{_num(sx(x))}" cy="{_num(sy(y))}" r="3.5" fill="{colour}" '
                f'stroke="none" data-series="{label}"><title>{label}</title></circle>'
            )
            continue
        coords = " ".join(f"{_num(sx(x))},{_num(sy(y))}" for x, y in points)
        out.append(
            f'<polyline points="{coords}" stroke="{colour}"{dash_attr} '
            f'data-series="{label}"><title>{label}</title></polyline>'
        )
    out.append("</g>")

    out.append(legend)
    out.append("</svg>")
    return "".join(out)


def _legend(
    models: list[str],
    colours: dict[str, str],
    seeds: list[str],
    dashes: dict[str, str],
    x0: float,
    x_max: float,
) -> tuple[str, int]:
    """Rows under the title (at most LEGEND_ROWS): colour per model, then dash style per
    seed (if > 1 seed). Returns the SVG and the number of rows."""
    items: list[tuple[str, str, str]] = [(m, colours[m], "") for m in models]
    if len(seeds) > 1:
        items += [(f"seed {s}", "#334155", dashes[s]) for s in seeds]
    parts = ['<g font-size="11" fill="#334155">']
    x, y, rows = float(x0), 31.0, 1
    for label, colour, dash in items:
        text = _clip(label, 30)
        w = 24 + 6 + 6.2 * len(text) + 14
        if x + w > x_max and x > x0:
            if rows == LEGEND_ROWS:
                break  # out of room: the <title>/<desc> still name every series
            x, y, rows = float(x0), y + LEGEND_ROW, rows + 1
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<line x1="{_num(x)}" x2="{_num(x + 24)}" y1="{_num(y - 4)}" y2="{_num(y - 4)}" '
            f'stroke="{colour}" stroke-width="2.2"{dash_attr}/>'
            f'<text x="{_num(x + 30)}" y="{_num(y)}">{_x(text)}</text>'
        )
        x += w
    parts.append("</g>")
    return "".join(parts), rows


def _describe(lines: list[tuple[str, str, list[Point]]], use_log: bool, y: str, x: str) -> str:
    parts = [
        f"{model} seed {seed}: {len(points)} points, last {y} {points[-1][1]:.4g} at "
        f"{x} {points[-1][0]:g}"
        for model, seed, points in lines
    ]
    scale = "log" if use_log else "linear"
    return f"{y} against {x} ({scale} y axis). " + "; ".join(parts) + "."


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(1, limit - 1)] + "…"


def _seed_key(seed: str) -> tuple[int, float, str]:
    try:
        return (0, float(seed), seed)
    except ValueError:
        return (1, 0.0, seed)


# --------------------------------------------------------------------------- interval charts


class IntervalRow:
    """One row of an interval chart: a label, points (seeds), a centre and its intervals."""

    def __init__(
        self,
        label: str,
        *,
        colour: str = BASELINE_COLOUR,
        points: Sequence[float | None] = (),
        centre: float | None = None,
        wide: Sequence[float | None] | None = None,  # e.g. the 95% CI (thin whisker)
        narrow: Sequence[float | None] | None = None,  # e.g. the 90% CI (thick bar)
        note: str = "",  # right-hand text (outcome)
    ) -> None:
        self.label = label
        self.colour = colour
        self.points = [p for p in points if p is not None and math.isfinite(p)]
        self.centre = centre if centre is not None and math.isfinite(centre) else None
        self.wide = _pair(wide)
        self.narrow = _pair(narrow)
        self.note = note

    def values(self) -> list[float]:
        out = list(self.points)
        if self.centre is not None:
            out.append(self.centre)
        for pair in (self.wide, self.narrow):
            if pair:
                out += list(pair)
        return out


def _pair(values: Sequence[float | None] | None) -> tuple[float, float] | None:
    if not values or len(values) < 2:
        return None
    lo, hi = values[0], values[1]
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return None
    return (min(lo, hi), max(lo, hi))


def interval_chart_svg(
    rows: Sequence[IntervalRow],
    *,
    title: str,
    x_label: str,
    width: int = 760,
    refs: Sequence[tuple[float, str]] = (),  # vertical dashed lines (value, label)
    band: tuple[float, float, str] | None = None,  # shaded x range (lo, hi, label)
    left_hint: str = "",
    right_hint: str = "",
) -> str:
    """Horizontal dot-and-interval chart (stdlib only): seeds as dots, the mean as a tick,
    intervals as whiskers; optional reference lines (zero, a gate threshold) and a shaded
    band (an equivalence margin). Used for per-model test values and for effects."""
    width = max(360, int(width))
    rows = [r for r in rows if r.values()]
    uid = (
        "pfi"
        + hashlib.sha1(
            repr((title, [r.label for r in rows])).encode(), usedforsecurity=False
        ).hexdigest()[:8]
    )
    row_h, top = 30, (50 if refs else 36)
    height = top + row_h * max(1, len(rows)) + 46
    if not rows:
        return _empty_chart(title, width, height, "no results", uid)
    values = [v for r in rows for v in r.values()]
    values += [v for v, _ in refs if math.isfinite(v)]
    if band is not None:  # show the band with some room on both sides
        pad = 0.6 * abs(band[1] - band[0]) / 2
        values += [min(band[0], band[1]) - pad, max(band[0], band[1]) + pad]
    lo, hi = min(values), max(values)
    ticks = nice_ticks(lo, hi, target=max(3, width // 130))
    step = ticks[1] - ticks[0] if len(ticks) > 1 else None
    x_min, x_max = ticks[0], ticks[-1]
    label_w = min(250, 20 + 7.0 * max(len(_clip(r.label, 34)) for r in rows))
    note_w = min(160, 14 + 7.2 * max((len(_clip(r.note, 22)) for r in rows), default=0))
    left, right = label_w, width - note_w - 10
    pw = right - left

    def sx(value: float) -> float:
        frac = (value - x_min) / (x_max - x_min) if x_max > x_min else 0.5
        return left + frac * pw

    bottom = top + row_h * len(rows)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="pf-chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'aria-labelledby="{uid}-t {uid}-d" font-family="{_x(FONT)}">',
        f'<title id="{uid}-t">{_x(title)}</title>',
        f'<desc id="{uid}-d">{_x(_describe_rows(rows))}</desc>',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="8" y="16" font-size="13" font-weight="600" fill="#0f172a">'
        f"{_x(_clip(title, width // 7))}</text>",
    ]
    if band is not None:
        b0, b1 = sorted((band[0], band[1]))
        out.append(
            f'<rect x="{_num(sx(b0))}" y="{top - 6}" width="{_num(sx(b1) - sx(b0))}" '
            f'height="{bottom - top + 6}" fill="#e0f2fe" stroke="none">'
            f"<title>{_x(band[2])}</title></rect>"
        )
    out.append('<g font-size="11" fill="#475569">')
    for tick in ticks:
        x = sx(tick)
        out.append(
            f'<line x1="{_num(x)}" x2="{_num(x)}" y1="{top - 6}" y2="{bottom}" '
            f'stroke="#eef2f7" stroke-width="1"/>'
            f'<text x="{_num(x)}" y="{bottom + 15}" text-anchor="middle">'
            f"{_x(format_tick(tick, step))}</text>"
        )
    out.append("</g>")
    for value, label in refs:
        if not math.isfinite(value):
            continue
        x = sx(value)
        text = _clip(label, 40)
        # the label sits right of its line unless that would run off the chart
        anchor, tx = ("end", x - 4) if x + 4 + 6 * len(text) > width else ("start", x + 4)
        out.append(
            f'<line x1="{_num(x)}" x2="{_num(x)}" y1="{top - 10}" y2="{bottom}" '
            f'stroke="#0f172a" stroke-width="1" stroke-dasharray="4 3"/>'
            f'<text x="{_num(tx)}" y="{top - 12}" font-size="10.5" fill="#334155" '
            f'text-anchor="{anchor}">{_x(text)}</text>'
        )
    out.append(
        f'<path d="M{_num(left)} {bottom}H{_num(right)}" stroke="#94a3b8" stroke-width="1"/>'
    )
    for i, row in enumerate(rows):
        y = top + row_h * i + row_h / 2
        out.append(
            f'<text x="{_num(left - 10)}" y="{_num(y + 4)}" text-anchor="end" font-size="12" '
            f'fill="#0f172a">{_x(_clip(row.label, 34))}</text>'
        )
        if row.wide:
            out.append(
                f'<line x1="{_num(sx(row.wide[0]))}" x2="{_num(sx(row.wide[1]))}" '
                f'y1="{_num(y)}" y2="{_num(y)}" stroke="{row.colour}" stroke-width="1.6"/>'
                + "".join(
                    f'<line x1="{_num(sx(v))}" x2="{_num(sx(v))}" y1="{_num(y - 5)}" '
                    f'y2="{_num(y + 5)}" stroke="{row.colour}" stroke-width="1.6"/>'
                    for v in row.wide
                )
            )
        if row.narrow:
            out.append(
                f'<line x1="{_num(sx(row.narrow[0]))}" x2="{_num(sx(row.narrow[1]))}" '
                f'y1="{_num(y)}" y2="{_num(y)}" stroke="{row.colour}" stroke-width="6" '
                'stroke-opacity="0.45"/>'
            )
        for p in row.points:
            out.append(
                f'<circle cx="{_num(sx(p))}" cy="{_num(y)}" r="3.6" fill="{row.colour}" '
                'fill-opacity="0.55" stroke="#fff" stroke-width="0.8"/>'
            )
        if row.centre is not None:
            c = sx(row.centre)
            out.append(
                f'<rect x="{_num(c - 2)}" y="{_num(y - 8)}" width="4" height="16" '
                f'fill="{row.colour}"><title>{_x(row.label)}: {row.centre:.4g}</title></rect>'
            )
        if row.note:
            out.append(
                f'<text x="{_num(right + 10)}" y="{_num(y + 4)}" font-size="11.5" '
                f'font-weight="600" fill="{row.colour}">{_x(_clip(row.note, 22))}</text>'
            )
    axis_y = bottom + 31
    out.append(
        f'<text x="{_num(left + pw / 2)}" y="{axis_y}" text-anchor="middle" font-size="11" '
        f'fill="#475569">{_x(x_label)}</text>'
    )
    if left_hint:
        out.append(
            f'<text x="{_num(left)}" y="{axis_y}" font-size="10.5" fill="#64748b">'
            f"{_x(left_hint)}</text>"
        )
    if right_hint:
        out.append(
            f'<text x="{_num(right)}" y="{axis_y}" text-anchor="end" font-size="10.5" '
            f'fill="#64748b">{_x(right_hint)}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def _describe_rows(rows: Sequence[IntervalRow]) -> str:
    parts = []
    for row in rows:
        bits = [row.label]
        if row.centre is not None:
            bits.append(f"{row.centre:.4g}")
        if row.wide:
            bits.append(f"interval [{row.wide[0]:.4g}, {row.wide[1]:.4g}]")
        if row.points:
            bits.append(f"{len(row.points)} seeds")
        if row.note:
            bits.append(row.note)
        parts.append(" ".join(bits))
    return "; ".join(parts) + "."
