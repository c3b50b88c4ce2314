"""The daily report as ONE self-contained HTML page, rendered from Jinja2 templates.

`templates/report.html` lays the page out, one template per section (`templates/sections/`);
`templates/report.css` is inlined in a `<style>` block. No scripts, no external fonts,
images or stylesheets, so the file can be mailed, uploaded to S3 or opened from disk and
still render (and print) the same.

Everything that comes from papers or runs (titles, abstracts, authors, error messages...)
is untrusted: every template variable is HTML-escaped by default (autoescape), and only
the SVG charts built here from numbers (their text escaped by svg.py) are marked safe.
Link targets go through `safe_url` (absolute http(s) only) or are in-page anchors.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import cache
from importlib import resources

from jinja2 import (
    Environment,
    FileSystemBytecodeCache,
    PackageLoader,
    StrictUndefined,
    select_autoescape,
)
from jinja2.ext import Extension
from markupsafe import Markup

from ..implement import library_ids
from ..models import (
    IMAGE_TASKS,
    LLM_STEPS,
    REVIEW_CRITERIA,
    ClaimResult,
    DayReport,
    Efficiency,
    Gate,
    Implementation,
    LLMUsage,
    Paper,
    PaperReview,
    ParamCount,
    PickReport,
    StepUsage,
    Tournament,
    TrainingRun,
    Verdict,
)
from . import verdicts as vw
from .svg import (
    BASELINE_COLOUR,
    MODEL_COLOURS,
    XML_ILLEGAL,
    IntervalRow,
    interval_chart_svg,
    line_chart_svg,
    loss_curves_svg,
)

DEFAULT_TOP_N = 50
SHOWN_ROWS = 10  # ranking rows shown before the <details> that holds the rest
ABSTRACT_MAX = 1500

# Stable colours for the score components the ranker emits; unknown names cycle the rest.
COMPONENT_COLOURS = {
    "relevance": "#2563eb", "liked": "#7c3aed", "upvotes": "#ea580c", "comments": "#d97706",
    "stars": "#0d9488", "code": "#64748b",
    "review": "#059669", "tournament": "#c026d3",  # LLM mode ("combined" basis)
}  # fmt: skip
COMPONENT_LABELS = {"review": "LLM review", "tournament": "LLM tournament"}
EXTRA_COLOURS = ["#db2777", "#65a30d", "#0891b2", "#9333ea", "#b91c1c"]
OUTCOME_LABELS = {
    "better": "Better", "worse": "Worse", "equivalent": "Equivalent",
    "inconclusive": "Inconclusive", "invalid": "Invalid", "smoke": "Wiring test",
}  # fmt: skip
# pill classes: a pick's badge, a comparison's outcome, a claim's outcome, a run's status
BADGE_CLASSES = {
    "supported": "good", "contradicted": "bad", "inconclusive": "warn", "untestable": "mute",
    "invalid": "inv", "smoke": "info", "no-claims": "mute",
}  # fmt: skip
OUTCOME_CLASSES = {
    "better": "good", "worse": "bad", "equivalent": "eq", "inconclusive": "warn",
    "invalid": "inv", "smoke": "mute",
}  # fmt: skip
CLAIM_CLASSES = {
    "supported": "good", "contradicted": "bad", "inconclusive": "warn", "untestable": "mute",
    "invalid": "inv",
}  # fmt: skip
RUN_CLASSES = {
    "completed": "good", "failed": "bad", "stopped": "bad", "running": "info",
    "pending": "info", "skipped": "mute",
}  # fmt: skip
OUTCOME_COLOURS = {
    "better": "#15803d", "worse": "#b91c1c", "equivalent": "#4338ca",
    "inconclusive": "#a16207", "invalid": "#7e22ce", "smoke": "#64748b",
}  # fmt: skip
# the badge kinds counted in the stats card, in order (always shown first, then others)
BADGE_COUNTS = (
    ("supported", "supported", "good-t"), ("contradicted", "contradicted", "bad-t"),
    ("inconclusive", "inconclusive", "warn-t"), ("invalid", "invalid", "inv-t"),
    ("untestable", "untestable", "mute-t"), ("no-claims", "no claims", "mute-t"),
    ("smoke", "wiring tests", "mute-t"), ("legacy", "legacy", "mute-t"),
)  # fmt: skip
MODE_LABELS = {"llm": "LLM review", "signals-only": "signals only"}
CRITERION_SHORT = {
    "novelty": "nov", "significance": "sig", "soundness": "sound", "clarity": "clar",
    "implementability": "impl", "relevance": "rel",
}  # fmt: skip
SETTING_LABELS = {
    "num_kv_pairs": "KV pairs", "seq_len": "sequence length", "vocab_size": "vocabulary",
    "steps": "steps", "batch_size": "batch size", "corpus": "corpus", "seeds": "seeds per model",
    "dataset": "dataset", "image_size": "image size", "channels": "channels",
    "num_classes": "classes", "timesteps": "diffusion steps", "schedule": "noise schedule",
    "eval_timesteps": "scored at t",
}  # fmt: skip
NOT_RESOLVED = "not resolved yet"  # pipeline.build_report: the implement step never ran
OPTIMIZER_CONTRACT = (
    "optimizer vs AdamW: the task's baseline model trained twice from the same initial "
    "weights, on the same data and steps, once with the paper's optimizer and once with the "
    "harness's AdamW; each optimizer sweeps its own learning rate"
)


# --------------------------------------------------------------------------- small helpers


def safe_url(url: str | None) -> str | None:
    """Only absolute http(s) URLs may become links (no javascript:, data:, ...)."""
    if not url:
        return None
    url = url.strip()
    lowered = url.lower()
    if lowered.startswith(("https://", "http://")) and not any(c in url for c in "\r\n\t "):
        return url
    return None


def github_url(repo: str | None) -> str | None:
    """'owner/name', 'github.com/owner/name' or a full URL -> https URL (or None)."""
    if not repo:
        return None
    repo = repo.strip()
    if repo.lower().startswith(("http://", "https://")):
        return safe_url(repo)
    repo = repo.removeprefix("github.com/").strip("/")
    if repo.count("/") == 1 and all(part and part not in {".", ".."} for part in repo.split("/")):
        return "https://github.com/" + "/".join(
            "".join(c for c in part if c.isalnum() or c in "-_.") for part in repo.split("/")
        )
    return None


def github_label(repo: str) -> str:
    repo = repo.strip().rstrip("/")
    for prefix in ("https://github.com/", "http://github.com/", "github.com/"):
        if repo.lower().startswith(prefix):
            return repo[len(prefix) :]
    return repo


def compact_int(value: int | None) -> str:
    if value is None:
        return ""
    if abs(value) >= 1_000_000:
        return f"{value / 1_000_000:.1f}M".replace(".0M", "M")
    if abs(value) >= 10_000:
        return f"{value / 1000:.0f}k"
    if abs(value) >= 1000:
        return f"{value / 1000:.1f}k".replace(".0k", "k")
    return str(value)


def fmt(value: float | None, digits: int = 4) -> str:
    """Significant-digit formatting that never prints 'nan' as a number."""
    if value is None:
        return "–"
    return f"{value:.{digits}g}" if math.isfinite(value) else "n/a"


def fmt_signed(value: float, digits: int = 3) -> str:
    if not math.isfinite(value):
        return "n/a"
    return ("+" if value > 0 else "") + f"{value:.{digits}g}"


def fmt_time(value: datetime | None) -> str:
    if value is None:
        return "–"
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M UTC")


def fmt_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "–"
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def fmt_usd(value: float | None, digits: int = 4) -> str:
    """Dollars: 4 decimals for LLM spend (cents hide cheap calls), 2 for caps and big sums."""
    if value is None:
        return "–"
    if not math.isfinite(value):
        return "n/a"
    return f"${value:.{digits}f}" if abs(value) < 100 else f"${value:,.2f}"


def fmt_score(value: float | None) -> str:
    """A 1..10 review score (or its std) with one decimal."""
    if value is None:
        return "–"
    return f"{value:.1f}" if math.isfinite(value) else "n/a"


def clip(text: str | None, limit: int) -> str:
    if isinstance(text, Markup):  # e.g. after the join filter: clip the text, escape once
        text = text.unescape()
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def anchor(prefix: str, arxiv_id: str) -> str:
    return prefix + "".join(c if c.isalnum() else "-" for c in arxiv_id)


def pick_anchor(arxiv_id: str) -> str:
    return anchor("pick-", arxiv_id)


def review_anchor(arxiv_id: str) -> str:
    return anchor("review-", arxiv_id)


def component_colours(names: Iterable[str]) -> dict[str, str]:
    colours: dict[str, str] = {}
    for name in names:
        if name not in colours:
            extra = sum(1 for n in colours if n not in COMPONENT_COLOURS)
            colours[name] = COMPONENT_COLOURS.get(name) or EXTRA_COLOURS[extra % len(EXTRA_COLOURS)]
    return colours


def verdict_spread(verdict: Verdict) -> float:
    """Spread shown next to the effect: combined std of the two arms, sqrt(sc^2 + sb^2)."""
    return math.sqrt(verdict.candidate_std**2 + verdict.baseline_std**2)


def known_papers(report: DayReport) -> dict[str, Paper]:
    """Every paper the report knows about, by arXiv id (ranking first, then picks)."""
    papers = {rp.paper.arxiv_id: rp.paper for rp in report.ranking}
    for pick in report.picks:
        papers.setdefault(pick.paper.arxiv_id, pick.paper)
    return papers


def badge_counts(report: DayReport) -> dict[str, int]:
    """Picks per badge kind (supported, contradicted, ..., legacy)."""
    counts = {kind: 0 for kind, _, _ in BADGE_COUNTS}
    for pick in report.picks:
        badge = pick.run.badge if pick.run else None
        if badge is not None:
            counts[badge.kind] = counts.get(badge.kind, 0) + 1
    return counts


def not_attempted(impl: Implementation) -> str | None:
    """Why a pick was never implemented when the implement step did not run for it (the
    day ran without training, e.g. `--no-train`); None for any other implementation."""
    if impl.status != "not_implemented" or impl.reason != NOT_RESOLVED:
        return None
    if impl.arxiv_id in library_ids():
        return "in the reference library; not trained: the implement step did not run today"
    return "the implement step did not run today (training off)"


def candidate_name(pick: PickReport) -> str | None:
    impl = pick.implementation
    return (impl.plan.name if impl.plan and impl.plan.name else None) or impl.name


# --------------------------------------------------------------------------- views


def ranking_view(report: DayReport, top_n: int) -> dict:
    """The rows shown (up to `top_n`), component colours, the bar scale and the note.

    The bar scale is the best possible score (every component at 1), so bars compare across
    days; the day's best total when the weights do not bound the scores."""
    shown = report.ranking[:top_n]
    colours = component_colours(c.name for rp in report.ranking for c in rp.score.components)
    weight_sum = max(
        (sum(max(0.0, c.weight) for c in rp.score.components) for rp in report.ranking),
        default=0.0,
    )
    totals = [rp.score.total for rp in report.ranking if math.isfinite(rp.score.total)]
    total = report.ranked_count
    note = (
        f"Showing the top {len(shown)} of {total} ranked papers."
        if len(shown) < total
        else f"All {total} ranked papers shown."
    ) + (
        " Score = Σ value × weight; values are normalised to [0, 1]. Hover a breakdown line "
        "for the raw signal; open a paper for its authors and abstract."
    )
    if any(rp.score.basis == "combined" for rp in report.ranking):
        note += (
            " LLM mode: the signal weights are scaled down and two LLM parts are added, "
            "review (mean reviewer score, (mean − 1) / 9) and tournament (Bradley-Terry "
            "probability of beating an average paper). Papers whose text tries to steer "
            "the LLM get neither and cannot be picked."
        )
    return {
        "shown": shown,
        "colours": colours,
        "scale": max(weight_sum, max(totals, default=0.0), 1e-9),
        "picked": {p.paper.arxiv_id for p in report.picks},
        "note": note,
    }


def byline(authors: list[str], limit: int) -> str:
    more = f" + {len(authors) - limit} more" if len(authors) > limit else ""
    return ", ".join(authors[:limit]) + more


def implementation_details(impl: Implementation) -> list[str]:
    """The implementation fact's small print."""
    if impl.status == "implemented":
        details = [
            impl.origin,
            impl.name and f"module {impl.name}",
            impl.task and f"task {vw.task_label(impl.task)}",
            impl.file_name,
            impl.paper_params and f"paper: {vw.params_text(impl.paper_params)} params",
            impl.sha256 and f"sha256 {impl.sha256[:12]}",
        ]
    else:
        keep = impl.provenance == "llm" or impl.status == "failed"
        details = [impl.origin if keep else ""]
    if impl.provenance == "llm" and (impl.cost_usd or impl.tokens):
        details.append(f"{fmt_usd(impl.cost_usd)} · {compact_int(impl.tokens)} tokens")
    return [d for d in details if d]


def gate_measured(gate: Gate) -> str:
    value, threshold = gate.value, gate.threshold
    if value is None:
        return "–"
    if gate.name.startswith(("causal:", "independent:")) or gate.name == "candidate_causal":
        limit = f" (tolerance {threshold:.2g})" if threshold is not None else ""
        return f"max change {value:.2g}{limit}"
    if gate.name == "params_matched":
        limit = f" (limit ±{threshold * 100:.2g}%)" if threshold is not None else ""
        return f"{abs(value) * 100:.2g}% apart{limit}"
    if threshold is None:
        return vw.num(value)
    return f"{vw.num(value)} vs {vw.num(threshold)}"


def claim_why(claim: ClaimResult) -> str:
    """Why a claim came out as it did (its reason, and why it is untestable here)."""
    why = claim.reason or (claim.why_untestable if not claim.testable else "")
    if claim.outcome == "untestable" and claim.why_untestable and claim.why_untestable != why:
        why = f"{why}; {claim.why_untestable}" if why else claim.why_untestable
    return why


def param_size(count: ParamCount | None) -> str:
    if count is None or count.total is None:
        return "–"
    non_emb = count.non_embedding
    return f"{count.total:,}" + (f" ({vw.params_text(non_emb)} non-emb.)" if non_emb else "")


def ci_text(ci: list[float | None] | None) -> str:
    if not ci or len(ci) < 2 or ci[0] is None or ci[1] is None:
        return "–"
    return f"[{vw.num(ci[0])}, {vw.num(ci[1])}]"


def model_colours(models: list[str]) -> dict[str, str]:
    colours = {"baseline": BASELINE_COLOUR, "candidate": MODEL_COLOURS[0], "control": "#94a3b8"}
    others = [m for m in models if m not in colours]
    colours.update({m: MODEL_COLOURS[(i + 1) % len(MODEL_COLOURS)] for i, m in enumerate(others)})
    return colours


def _figure(svg: str, caption: str, *, wide: bool = False) -> dict:
    return {"svg": Markup(svg), "caption": caption, "wide": wide}  # noqa: S704 - svg.py escapes


def charts(run: TrainingRun, pick: PickReport) -> list[dict]:
    """The run's figures: the metric the verdict is on (per seed and model, or a legacy
    verdict's means), then the training loss next to it, then the effects with their CIs
    and the LR sweep on the same metric. A wiring test gets its loss curve only."""
    name = candidate_name(pick)
    figures = []
    results = run.has_results and run.outcome != "smoke"
    if results and run.models:
        figures.append(_models_chart(run, name))
    elif run.legacy and run.verdict is not None:
        figures.append(_legacy_chart(run.verdict))
    if run.curves:
        title = f"Training loss · {clip(pick.paper.title, 40)}"
        caption = (
            "Training loss as each model's own process reports it (the candidate's code "
            "reports its own); no verdict depends on it."
        )
        alone = not figures  # a failed run or a wiring test: the loss is all there is
        svg = loss_curves_svg(run.curves, title=title, width=760 if alone else 560, height=330)
        figures.append(_figure(svg, caption, wide=alone))
    comps = [
        c for c in run.comparisons if c.effect is not None and c.outcome not in ("invalid", "smoke")
    ]
    if results and comps:
        figures.append(_effects_chart(run, comps, name))
    if results and run.sweep:
        figures.append(_sweep_chart(run, name))
    return figures


def _models_chart(run: TrainingRun, name: str | None) -> dict:
    metric = vw.metric_label(run.metric.name if run.metric else None)
    split = run.metric.split if run.metric else "test"
    models = vw.model_order(list(run.models))
    colours = model_colours(models)
    rows = [
        IntervalRow(
            vw.model_label(m, run, name),
            colour=colours[m],
            points=run.models[m].values,
            centre=run.models[m].mean,
            wide=run.models[m].ci95,
            note=vw.num(run.models[m].mean) if run.models[m].mean is not None else "",
        )
        for m in models
    ]
    refs = [
        (g.threshold, f"{vw.gate_label(g.name)} {vw.num(g.threshold)}")
        for g in run.gates
        if g.name == "baseline_competence" and g.threshold is not None
    ][:1]
    title = f"{metric} on the {split} split per model ({vw.direction(run)})"
    svg = interval_chart_svg(rows, title=title, x_label=metric, refs=refs, width=560)
    gate = "Dashed line: the baseline competence gate. " if refs else ""
    caption = (
        f"What the verdict is on: {metric}, {split} split. Dots: one per seed; bar: mean; "
        f"whiskers: 95% CI over seeds. {gate}"
    )
    return _figure(svg, caption.strip())


def _legacy_chart(verdict: Verdict) -> dict:
    rows = [
        IntervalRow(
            arm,
            colour=colour,
            centre=mean,
            wide=[mean - std, mean + std] if math.isfinite(std) else None,
            note=fmt(mean),
        )
        for arm, colour, mean, std in (
            ("candidate", MODEL_COLOURS[0], verdict.candidate_mean, verdict.candidate_std),
            ("baseline", BASELINE_COLOUR, verdict.baseline_mean, verdict.baseline_std),
        )
    ]
    direction = "higher" if verdict.higher_is_better else "lower"
    title = f"{verdict.metric}: candidate vs baseline ({direction} is better)"
    svg = interval_chart_svg(rows, title=title, x_label=verdict.metric, width=560)
    caption = f"What the verdict is on: {verdict.metric}. Bar: mean over seeds; whiskers: ± std."
    return _figure(svg, caption)


def _effects_chart(run: TrainingRun, comps: list, name: str | None) -> dict:
    metric = vw.metric_label(run.metric.name if run.metric else None)
    margin = next((c.margin for c in comps if c.margin), None)
    rows = [
        IntervalRow(
            vw.model_label(c.model, run, name)
            + (f" vs {vw.against_label(c.against, run)}" if c.against != "baseline" else ""),
            colour=OUTCOME_COLOURS.get(c.outcome, BASELINE_COLOUR),
            centre=c.effect,
            wide=c.ci95,
            narrow=c.ci90,
            note=OUTCOME_LABELS.get(c.outcome, c.outcome).lower(),
        )
        for c in comps
    ]
    higher = run.metric.higher_is_better if run.metric else True
    svg = interval_chart_svg(
        rows,
        title=f"Effect vs {vw.versus(run)} on {metric} (positive = better)",
        x_label=f"effect on {metric} ({'model − baseline' if higher else 'baseline − model'})",
        refs=[(0.0, "no difference")],
        band=(-margin, margin, f"equivalence margin ±{vw.num(margin)}") if margin else None,
        left_hint="← worse",
        right_hint="better →",
        width=560,
    )
    caption = (
        "Bar: effect; thin whiskers: 95% CI (better/worse needs it to exclude 0); thick band: "
        "90% CI (equivalent needs it inside the shaded margin)."
    )
    return _figure(svg, caption)


def _sweep_chart(run: TrainingRun, name: str | None) -> dict:
    """The verdict's metric on the validation split against the learning rate, per model."""
    metric = vw.metric_label(run.metric.name if run.metric else None)
    models = vw.model_order([p.model for p in run.sweep])
    colours = model_colours(models)
    labels = {m: vw.model_label(m, run, name) for m in models}
    points = [(p.model, p.lr, p.value) for p in run.sweep if p.value is not None]
    series = {labels[m]: {"0": [(x, y) for k, x, y in points if k == m]} for m in models}
    svg = line_chart_svg(
        series,
        title=f"{metric} on the validation split by learning rate (seed 0)",
        width=560,
        height=300,
        log_x=True,
        log_y=False,
        y_label=metric,
        x_label="learning rate (log scale)",
        colours={labels[m]: colours[m] for m in models},
    )
    caption = "The LR sweep: each model trains at the LR that is best here, then on fresh seeds."
    return _figure(svg, caption)


def size_text(run: TrainingRun, pick: PickReport) -> str:
    """The paper's own scale, labelled as the paper's, vs the scale tested here."""
    paper = pick.implementation.paper_params
    cand, base = run.params.get("candidate"), run.params.get("baseline")
    parts = [
        f"paper: {vw.params_text(paper)} params (the paper's own model)"
        if paper
        else "paper: size not recorded"
    ]
    if cand is not None and cand.total is not None:
        here = f"tested at ~{vw.params_text(cand.total)} params (candidate {cand.total:,}"
        if base is not None and base.total is not None:
            here += f", baseline {base.total:,}"
            if run.params_match is not None:
                here += f", {vw.signed(run.params_match * 100, 2)}%"
        parts.append(here + ")")
    elif run.params_budget:
        parts.append(f"tested at ~{vw.params_text(run.params_budget)} params (budget)")
    return " · ".join(parts)


def setting_value(value: object) -> str:
    """A setting's value: lists (the diffusion's scored timesteps) without brackets."""
    if isinstance(value, list | tuple):
        return "/".join(str(v) for v in value)
    return str(value)


def setting_items(run: TrainingRun, pick: PickReport) -> list[tuple[str, str]]:
    setting = ", ".join(
        f"{SETTING_LABELS.get(k, k)} {setting_value(v)}"
        for k, v in run.setting.items()
        if v is not None
    )
    task = f"{vw.task_label(run.task)} · budget {run.budget}"
    items = [("task", task + (f" · {setting}" if setting else ""))]
    if vw.metric_meaning(run):
        items.append(("metric", vw.metric_meaning(run)))
    if vw.optimizer_run(run):
        items.append(("contract", OPTIMIZER_CONTRACT))
    if run.tokens_per_run:
        items.append(("tokens per run", f"{run.tokens_per_run:,}"))
    if run.images_per_run:
        items.append(("images per run", f"{run.images_per_run:,}"))
    items.append(("size", size_text(run, pick)))
    if run.baseline is not None:
        items.append(("baseline", described(run.baseline.name, run.baseline.config)))
    for key, ref in run.references.items():
        if ref.name:  # a second reference model (a claim is about it)
            items.append((vw.model_label(key, run), described(ref.name, ref.config)))
        elif ref.value is not None:  # a closed-form reference (diffusion's denoisers)
            figure = f"{vw.metric_label(run.metric.name if run.metric else '')} {vw.num(ref.value)}"
            items.append((f"{key} reference", f"{figure}: {ref.detail}" if ref.detail else figure))
    seeds = sorted({s for r in run.models.values() for s in r.seeds})
    if seeds:
        items.append(("seeds", ", ".join(map(str, seeds)) + " (fresh; the LR sweep used seed 0)"))
    where = " · ".join(x for x in (run.device, run.isolation) if x)
    return items + ([("ran on", where)] if where else [])


def described(name: str, config: dict) -> str:
    """'ViT (patch 2, ...) (kind=vit, image_size=8, ...)': a model and its config."""
    text = ", ".join(f"{k}={v}" for k, v in config.items())
    return name + (f" ({text})" if text else "")


def length_key(length: str) -> tuple[int, float, str]:
    try:
        return (0, float(length), length)
    except ValueError:
        return (1, 0.0, length)


def state_lines(eff: Efficiency) -> list[str]:
    """['26.9k'] or, by sequence length, ['T=256: 26.9k', 'T=4096: 26.9k']."""
    state = eff.state_size
    if state is None or state == {}:
        return ["not declared"]
    if isinstance(state, dict):
        items = sorted(state.items(), key=lambda kv: length_key(kv[0]))
        return [f"T={t}: {vw.compact(v)}" for t, v in items]
    return [vw.compact(state)]


def state_source(source: str | None) -> str:
    words = {"declared": "declared by the model", "computed": "computed by the harness"}
    return words.get((source or "").lower(), source or "")


def efficiency_view(run: TrainingRun, name: str | None) -> dict:
    """The efficiency table: per-token figures (throughput by length, FLOPs, state) for the
    sequence tasks, per-image ones (throughput, FLOPs) for the image tasks; peak memory and,
    where measured, the optimizer's state for every task."""
    models = vw.model_order(list(run.efficiency))
    tokens = run.task not in IMAGE_TASKS
    lengths = sorted(
        {t for eff in run.efficiency.values() for t in eff.infer_tokens_per_s}, key=length_key
    )
    optimizer_state = sorted(
        {e.optimizer_state_source or "" for e in run.efficiency.values()
         if e.optimizer_state_floats is not None}
    )  # fmt: skip
    cpu = (run.device or "").startswith("cpu")
    flops: dict[str, list[str]] = {}
    rows = []
    for m in models:
        eff = run.efficiency[m]
        memory = (
            f"{eff.peak_memory_mb:,.0f} MB"
            if eff.peak_memory_mb is not None and math.isfinite(eff.peak_memory_mb)
            else ("not measured (CPU)" if cpu else "–")
        )
        rows.append((vw.model_label(m, run, name), eff, memory))
        if eff.flops_source:
            flops.setdefault(eff.flops_source, []).append(vw.model_label(m, run, name))
    return {
        "rows": rows,
        "lengths": lengths if tokens else [],
        "flops": flops,
        "unit": "token" if tokens else "image",
        "tokens": tokens,
        "optimizer_state": bool(optimizer_state),  # a column, and how it was counted
        "optimizer_state_source": "; ".join(s for s in optimizer_state if s),
    }


def sweep_view(run: TrainingRun, name: str | None) -> dict:
    lrs = sorted({p.lr for p in run.sweep})
    cells = {(p.model, p.lr): p for p in run.sweep}
    rows = []
    for m in vw.model_order([p.model for p in run.sweep]):
        chosen = run.models[m].lr if m in run.models else None
        row = []
        for lr in lrs:
            point = cells.get((m, lr))
            text = "–" if point is None else "diverged" if point.diverged else vw.num(point.value)
            row.append((text, chosen is not None and math.isclose(lr, chosen)))
        rows.append((vw.model_label(m, run, name), row))
    return {"lrs": lrs, "rows": rows}


def review_order(review: PaperReview) -> tuple[int, float, str]:
    mean = review.overall.mean if review.overall is not None else -math.inf
    return (1 if review.flagged else 0, -mean if math.isfinite(mean) else math.inf, review.arxiv_id)


def tournament_view(t: Tournament) -> dict:
    """Standings (strongest first, with judged wins) and failed comparisons."""
    records = {pid: [0, 0] for pid in t.participants}  # wins, judged (failed not counted)
    for c in t.comparisons:
        if c.winner is not None:
            for pid in (c.first, c.second):
                record = records.setdefault(pid, [0, 0])
                record[0] += c.winner == pid
                record[1] += 1
    ids = sorted(
        dict.fromkeys([*t.participants, *t.strength]), key=lambda p: (-t.strength.get(p, -1.0), p)
    )
    standings = [(pid, t.strength.get(pid), *records.get(pid, [0, 0])) for pid in ids]
    return {"standings": standings, "failed": sum(1 for c in t.comparisons if c.winner is None)}


def usage_rows(llm: LLMUsage) -> list[tuple[str, StepUsage]]:
    """(step, usage) in LLM_STEPS order, then any other step; zeros for a step never run."""
    steps = [s for s in LLM_STEPS if s in llm.by_step or s in llm.models]
    steps = list(dict.fromkeys([*steps, *llm.by_step, *llm.models]))
    return [(step, llm.by_step.get(step) or StepUsage()) for step in steps]


def pick_status(pick: PickReport) -> tuple[str, str]:
    """(pill class, text) of a pick in one word or two: its badge, else what stopped it."""
    run, impl = pick.run, pick.implementation
    badge = run.badge if run is not None else None
    if badge is not None and badge.kind != "legacy":
        return BADGE_CLASSES.get(badge.kind, "mute"), badge.text
    if run is not None and run.verdict is not None:
        return OUTCOME_CLASSES.get(run.verdict.outcome, "mute"), f"legacy: {run.verdict.outcome}"
    if impl.status == "failed":
        return "bad", "implementation failed"
    if impl.status != "implemented":
        return "mute", "not attempted" if not_attempted(impl) else "not implemented"
    if run is None:
        return "mute", "not started"
    return RUN_CLASSES.get(run.status, "mute"), run.status


# --------------------------------------------------------------------------- environment


class Compact(Extension):
    """Drop the templates' own indentation and line breaks (never the data's): templates
    stay readable while the page has no stray whitespace. Text that continues on the next
    template line needs its space written out."""

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        return "".join(line.lstrip() for line in source.splitlines())


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _finalize(value: object) -> object:
    """Every `{{ value }}`: None prints nothing, and control characters XML forbids are
    dropped from untrusted text (the feed must parse; HTML does not need them either)."""
    if value is None:
        return ""
    if isinstance(value, str) and not isinstance(value, Markup):
        return value.translate(XML_ILLEGAL)
    return value


def _bytecode_cache() -> FileSystemBytecodeCache | None:
    """Compiled templates kept in a per-user temp directory (jinja checks its owner and
    mode): compiling the 14 templates costs 0.3 s in every new process otherwise."""
    try:
        return FileSystemBytecodeCache()
    except (OSError, RuntimeError):  # no usable temp directory: compile each time
        return None


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("paperfoundry.reporting", "templates"),
        bytecode_cache=_bytecode_cache(),
        autoescape=select_autoescape(("html", "xml"), default_for_string=True, default=True),
        undefined=StrictUndefined,
        extensions=[Compact],
        finalize=_finalize,
    )
    env.filters.update(
        fmt=fmt, signed3=fmt_signed, time=fmt_time, duration=fmt_duration, usd=fmt_usd,
        score=fmt_score, compact_int=compact_int, clip=clip, plural=plural, num=vw.num,
        signed=vw.signed, interval=vw.interval, compact=vw.compact, params=vw.params_text,
        safe_url=safe_url,
    )  # fmt: skip
    env.tests["finite"] = _finite
    env.globals.update(
        vw=vw, css=Markup(CSS), pick_anchor=pick_anchor, review_anchor=review_anchor,  # noqa: S704
        github_url=github_url, github_label=github_label, OUTCOME_LABELS=OUTCOME_LABELS,
        BADGE_CLASSES=BADGE_CLASSES, OUTCOME_CLASSES=OUTCOME_CLASSES, RUN_CLASSES=RUN_CLASSES,
        CLAIM_CLASSES=CLAIM_CLASSES, BADGE_COUNTS=BADGE_COUNTS, MODE_LABELS=MODE_LABELS,
        COMPONENT_LABELS=COMPONENT_LABELS, CRITERION_SHORT=CRITERION_SHORT,
        REVIEW_CRITERIA=REVIEW_CRITERIA, SHOWN_ROWS=SHOWN_ROWS, ABSTRACT_MAX=ABSTRACT_MAX,
        badge_counts=badge_counts, not_attempted=not_attempted, candidate_name=candidate_name,
        implementation_details=implementation_details, verdict_spread=verdict_spread,
        gate_measured=gate_measured, charts=charts, setting_items=setting_items,
        state_lines=state_lines, state_source=state_source, efficiency_view=efficiency_view,
        sweep_view=sweep_view, known_papers=known_papers, review_order=review_order,
        tournament_view=tournament_view,
        usage_rows=usage_rows, ranking_view=ranking_view, byline=byline, claim_why=claim_why,
        param_size=param_size, ci_text=ci_text, sorted=sorted,
    )  # fmt: skip
    return env


CSS = resources.files(__package__).joinpath("templates/report.css").read_text(encoding="utf-8")


def render_html(report: DayReport, *, top_n: int = DEFAULT_TOP_N) -> str:
    """Render `report` as one self-contained HTML document (str).

    The ranking shows its first SHOWN_ROWS rows, the rest up to `top_n` behind a
    <details> (a note says how many were ranked in total); every pick gets its own card.
    """
    template = environment().get_template("report.html")
    return template.render(report=report, top_n=max(0, top_n)) + "\n"
