"""Plain-text wording of a run's verdict, shared by the HTML report and the digests.

Every sentence here is careful not to say more than the harness measured (docs/VERDICTS.md):
a pick's badge summarises its claims ("supported 1/2", never "better"), "equivalent" is
never called "better", a failed gate is explained in plain words and means "no comparison
was made", and a `smoke` run (tiny budget) is a wiring test with no verdict.

The text returned is NOT escaped: the callers escape it for HTML or Slack.
"""

from __future__ import annotations

import math

from ..models import CLAIM_METRICS, Claim, ClaimResult, Gate, ModelComparison, TrainingRun

METRIC_LABELS = {
    "query_accuracy": "query accuracy",
    "accuracy": "accuracy",
    "bpb": "bits per byte",
    "val_bpb": "validation bits per byte",
    "val_loss": "validation loss",
    "denoise_mse": "denoising MSE",
    "train_tokens_per_s": "training tokens/s",
    "infer_tokens_per_s": "inference tokens/s",
    "train_images_per_s": "training images/s",
    "infer_images_per_s": "inference images/s",
    "state_size": "state size",
    "optimizer_state": "optimizer state",
}
# what a task metric measures, and its unit (the harness README, "Tasks")
METRIC_MEANINGS = {
    "query_accuracy": "the share of recall queries answered with the bound value, 0 to 1",
    "bpb": "bits per byte of held-out text",
    "accuracy": "top-1, the share of test images classified correctly, 0 to 1",
    "denoise_mse": "mean squared error of the predicted noise on every test image at 10 "
    "fixed noise levels (t = 50, 150, ..., 950)",
}
# lower-is-better claim metrics that are sizes: "better" reads "smaller", not "lower"
SIZE_METRICS = ("state_size", "optimizer_state")
TASK_LABELS = {
    "mqar": "multi-query associative recall",
    "lm": "byte-level language modelling",
    "image": "image classification",
    "diffusion": "diffusion denoising",
}
# the harness's diffusion gate: the baseline's MSE at most this share of the best pixel-wise
# denoiser's (DIFFUSION_PIXELWISE_SHARE in paperfoundry_trainer/families.py; a test keeps
# them equal)
DIFFUSION_PIXELWISE_SHARE = 0.9
GATE_LABELS = {
    "baseline_competence": "baseline competence",
    "negative_control": "negative control",
    "candidate_causal": "candidate causal",
    "params_matched": "parameters matched",
}
OUTCOME_WORDS = {
    "better": "better",
    "worse": "worse",
    "equivalent": "equivalent",
    "inconclusive": "inconclusive",
    "invalid": "invalid (not compared)",
    "smoke": "wiring test, no verdict",
}
CLAIM_WORDS = {
    "supported": "supported",
    "contradicted": "contradicted",
    "inconclusive": "inconclusive",
    "untestable": "untestable here",
    "invalid": "invalid (not compared)",
}
SMOKE_SENTENCE = (
    "Wiring test, no verdict: the tiny budget only checks that the code trains and is "
    "evaluated end to end; its numbers are not evidence for or against the paper."
)


# --------------------------------------------------------------------------- numbers


def num(value: float | None, digits: int = 3) -> str:
    """Metric values: '0.41', '0.90', '0.972', '1.614' (at least two decimals below 10)."""
    if value is None:
        return "–"
    if not math.isfinite(value):
        return "n/a"
    if abs(value) >= 10:
        return f"{value:,.4g}" if abs(value) < 1e4 else compact(value)
    text = f"{value:.{digits}f}".rstrip("0")
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.ljust(2, '0')}"


def signed(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "–"
    if not math.isfinite(value):
        return "n/a"
    text = f"{value:+.{digits}f}".rstrip("0").rstrip(".")
    return "+0" if text in ("+0", "-0") else text.replace("-", "−")


def interval(ci: list[float | None] | None, digits: int = 4) -> str:
    """'[−0.0092, +0.0165]' (or '–' when the harness gave none)."""
    if not ci or len(ci) < 2 or ci[0] is None or ci[1] is None:
        return "–"
    return f"[{signed(ci[0], digits)}, {signed(ci[1], digits)}]"


def compact(value: float | None, unit: str = "") -> str:
    """1.2M, 341k, 950 (throughputs, FLOPs, state sizes)."""
    if value is None:
        return "–"
    if not math.isfinite(value):
        return "n/a"
    mag = abs(value)
    for limit, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if mag >= limit:
            text = f"{value / limit:.3g}{suffix}"
            break
    else:
        text = f"{value:.3g}"
    return text + unit


def params_text(count: int | None) -> str:
    """'5.02M', '26.1k', '1.3B' parameters."""
    if count is None:
        return "–"
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(count) >= limit:
            return f"{count / limit:.3g}{suffix}"
    return str(count)


# --------------------------------------------------------------------------- words


def metric_label(name: str | None) -> str:
    return METRIC_LABELS.get(name or "", name or "metric")


def task_label(task: str | None) -> str:
    """'image classification (image)': the harness's task in words, with its name."""
    if not task:
        return "–"
    return f"{TASK_LABELS[task]} ({task})" if task in TASK_LABELS else task


def metric_meaning(run: TrainingRun) -> str:
    """'denoising MSE (lower is better): mean squared error of ...', or '' when unknown."""
    name = run.metric.name if run.metric else ""
    if name not in METRIC_MEANINGS:
        return ""
    return f"{metric_label(name)} ({direction(run)}): {METRIC_MEANINGS[name]}"


def direction(run: TrainingRun) -> str:
    higher = run.metric.higher_is_better if run.metric else True
    return "higher is better" if higher else "lower is better"


BASELINE_KINDS = {"attention": "attention", "gpt": "GPT", "vit": "ViT", "resnet": "ResNet"}
# diffusion baselines and references: DiT's conditioning (BASELINE = {"conditioning": ...})
CONDITIONINGS = {"adaln-zero": "adaLN-Zero DiT", "in-context": "in-context DiT"}
REFERENCE_NAMES = {"vit": "ViT", "resnet": "ResNet", **CONDITIONINGS}


def optimizer_run(run: TrainingRun) -> bool:
    """A run of the optimizer contract: the paper's optimizer against the harness's AdamW,
    both training the task's baseline model (metrics.json's `contract`). A run stored before
    TrainingRun kept `contract` has None there; the harness (which has always written
    `contract` for optimizers) named its baseline "AdamW-trained <model>"."""
    if run.contract is not None:
        return run.contract == "optimizer"
    return run.baseline is not None and run.baseline.name.startswith("AdamW-trained")


def model_short(run: TrainingRun) -> str:
    """The baseline's architecture: 'attention', 'GPT', 'ViT', 'adaLN-Zero DiT', or ''."""
    if run.baseline is None:
        return ""
    config = run.baseline.config
    kind = str(config.get("kind", "")).lower()
    if kind == "dit":
        return CONDITIONINGS.get(str(config.get("conditioning", "")), "DiT")
    return BASELINE_KINDS.get(kind, "")


def baseline_short(run: TrainingRun) -> str:
    """'attention' (Zoology-style MQAR baseline), 'GPT', 'ViT', 'AdamW' (an optimizer's
    baseline), or '' when unknown."""
    if run.baseline is None:
        return ""
    if optimizer_run(run):
        return "AdamW"
    short = model_short(run)
    if short:
        return short
    name = run.baseline.name.strip()
    if name.lower().startswith("gpt"):
        return "GPT"
    if "attention" in name.lower():
        return "attention"
    short = name.split(" (")[0].split(" +")[0].split(",")[0].strip()
    return "" if short.lower() in ("", "baseline") or len(short) > 24 else short


def the_baseline(run: TrainingRun) -> str:
    short = baseline_short(run)
    return f"the {short} baseline" if short else "the baseline"


def model_label(model: str, run: TrainingRun | None = None, candidate: str | None = None) -> str:
    """Display name of a `<model>` key: candidate (NAME), baseline (attention), ablation: X,
    ResNet reference; for an optimizer: candidate optimizer (NAME), AdamW (baseline)."""
    if model.startswith("ablation:"):
        return "ablation: " + model.removeprefix("ablation:").strip()
    if model.startswith("baseline:"):
        name = model.removeprefix("baseline:")
        return f"{REFERENCE_NAMES.get(name, name)} reference"
    if run is not None and optimizer_run(run) and model in ("candidate", "baseline"):
        if model == "baseline":
            return "AdamW (baseline)"
        return f"candidate optimizer ({candidate})" if candidate else "candidate optimizer"
    if model == "candidate" and candidate:
        return f"candidate ({candidate})"
    if model == "baseline" and run is not None and baseline_short(run):
        return f"baseline ({baseline_short(run)})"
    if model == "control" and run is not None:
        task = run.task or ""
        return "control (bigram reference)" if task.startswith("lm") else "control (no mixing)"
    return model


def model_order(models: list[str]) -> list[str]:
    rank = {"candidate": 0, "baseline": 1, "control": 3}
    return sorted(dict.fromkeys(models), key=lambda m: (rank.get(m, 2), m))


def gate_label(name: str) -> str:
    if name.startswith("causal:"):
        return "causal: " + model_label(name.removeprefix("causal:"))
    if name.startswith("independent:"):
        return "batch independence: " + model_label(name.removeprefix("independent:"))
    if name.startswith("baseline_competence:"):  # a second reference's own gate
        reference = model_label("baseline:" + name.removeprefix("baseline_competence:"))
        return f"baseline competence ({reference})"
    return GATE_LABELS.get(name, name)


def competence_sentence(gate: Gate, run: TrainingRun, who: str) -> str:
    """Whether `who` (the baseline or a second reference) learned the task, in the
    direction of the task's metric."""
    value, threshold = num(gate.value), num(gate.threshold)
    if run.task == "diffusion":  # lower is better: the bar is a ceiling
        bar = f"{DIFFUSION_PIXELWISE_SHARE:g}× the best pixel-wise denoiser's MSE"
        if gate.passed:
            return (
                f"{who} uses spatial context: its denoising MSE {value} ≤ {threshold}, at "
                f"most {bar} (lower is better)"
            )
        return (
            f"{who} did not learn to denoise: its denoising MSE {value} > {threshold}, "
            f"above {bar} (lower is better)"
        )
    unit = " test accuracy" if run.task == "image" else ""
    if gate.passed:
        return f"{who} learned the task ({value} ≥ {threshold}{unit})"
    return f"{who} did not learn the task ({value} < {threshold}{unit})"


def gate_sentence(gate: Gate, run: TrainingRun) -> str:
    """A gate's result in plain words (the harness's own detail is shown next to it)."""
    value, threshold = gate.value, gate.threshold
    if gate.name.startswith("causal:"):
        who = model_label(gate.name.removeprefix("causal:"))
        if gate.passed:
            return f"the {who} is causal (its past logits do not change with future tokens)"
        return f"the {who} sees the future (its past logits change when later tokens change)"
    if gate.name.startswith("independent:"):
        who = model_label(gate.name.removeprefix("independent:"))
        if gate.passed:
            return f"the {who} scores each example independently of the rest of its batch"
        return (
            f"the {who}'s output for an example changes with the rest of its batch (it "
            "could see other test examples)"
        )
    if gate.name.startswith("baseline_competence:"):
        reference = model_label("baseline:" + gate.name.removeprefix("baseline_competence:"))
        return competence_sentence(gate, run, f"the {reference}")
    lm = (run.task or "").startswith("lm")
    if gate.name == "baseline_competence":
        base = the_baseline(run)
        if lm:
            if gate.passed:
                return f"{base} learned the corpus (beats the unigram and bigram references)"
            return (
                f"{base} did not beat the simple references ({num(value)} ≥ {num(threshold)} "
                "bits per byte)"
            )
        return competence_sentence(gate, run, base)
    if gate.name == "negative_control":
        if lm:
            return (
                "the bigram reference is below the unigram entropy"
                if gate.passed
                else "the bigram reference is not below the unigram entropy"
            )
        if gate.passed:
            return (
                "a model with no mixing across positions failed recall, as it should "
                f"({num(value)} < {num(threshold)})"
            )
        return (
            "a model with no mixing across positions solved the task "
            f"({num(value)} ≥ {num(threshold)}), so the task does not test mixing"
        )
    if gate.name == "candidate_causal":
        return (
            "the candidate is causal (its past logits do not change with future tokens)"
            if gate.passed
            else "the candidate sees the future (its past logits change when later tokens change)"
        )
    if gate.name == "params_matched":
        off = f"{abs(value) * 100:.2g}%" if value is not None and math.isfinite(value) else "?"
        limit = f"{threshold * 100:.2g}%" if threshold is not None else "2%"
        if gate.passed:
            return f"baseline and candidate sizes within ±{limit} ({off} apart)"
        return f"baseline and candidate sizes differ by {off} (limit ±{limit})"
    verdict = "passed" if gate.passed else "failed"
    measured = f" ({num(value)} vs {num(threshold)})" if value is not None else ""
    return f"{gate_label(gate.name)} {verdict}{measured}"


def failed_gates(run: TrainingRun) -> list[Gate]:
    """Failed gates that stop a comparison (not the report-only ones, e.g. params_matched)."""
    return [g for g in run.gates if not g.passed and g.scope != "report"] or [
        g for g in run.gates if not g.passed
    ]


def no_comparison_sentence(run: TrainingRun) -> str:
    """'the attention baseline did not learn the task (0.41 < 0.90), so no comparison was
    made' (for invalid runs)."""
    failed = failed_gates(run)
    if not failed:
        return "a control failed, so no comparison was made"
    why = "; ".join(gate_sentence(g, run) for g in failed)
    if all(g.name == "candidate_causal" or g.name.startswith("causal:") for g in failed):
        return f"{why}, so its comparisons are invalid"
    return f"{why}, so no comparison was made"


def comparison_phrase(comparison: ModelComparison, run: TrainingRun) -> str:
    """'equivalent (effect +0.0037, 95% CI [−0.0092, +0.0165], margin ±0.03)'."""
    if comparison.outcome == "smoke":
        return "wiring test, no verdict"
    if comparison.outcome == "invalid":
        return "not compared (a gate failed)"
    margin = f", margin ±{num(comparison.margin)}" if comparison.margin is not None else ""
    return (
        f"{OUTCOME_WORDS.get(comparison.outcome, comparison.outcome)} (effect "
        f"{signed(comparison.effect)}, 95% CI {interval(comparison.ci95)}{margin})"
    )


def candidate_comparison(run: TrainingRun) -> ModelComparison | None:
    return next((c for c in run.comparisons if c.model == "candidate"), None)


def claims_count_sentence(claims: list[ClaimResult]) -> str:
    """'1 of 2 claims supported, 1 untestable here.'"""
    if not claims:
        return "No claims declared."
    n = len(claims)
    parts = []
    for key in ("supported", "contradicted", "inconclusive", "untestable", "invalid"):
        k = sum(1 for c in claims if c.outcome == key)
        if k:
            parts.append(f"{k} {CLAIM_WORDS[key]}")
    return f"{n} claim{'s' if n != 1 else ''}: " + ", ".join(parts) + "."


def headline(run: TrainingRun) -> str:
    """The one or two sentences a reader sees first (badge wording, never stronger)."""
    badge = run.badge
    if badge is None:
        return ""
    if badge.kind == "smoke":
        return SMOKE_SENTENCE
    if badge.kind == "invalid":
        return "No verdict: " + no_comparison_sentence(run) + "."
    if badge.kind == "legacy":
        assert run.verdict is not None
        return (
            f"Legacy verdict (no controls): {run.verdict.outcome} on "
            f"{metric_label(run.verdict.metric)}. This run predates the harness's gates, "
            "claims and confidence intervals."
        )
    text = claims_count_sentence(run.claims)
    comp = candidate_comparison(run)
    if comp is not None:
        split = f", {run.metric.split} split" if run.metric and run.metric.split else ""
        seeds = f", {comp.n[0]} vs {comp.n[1]} seeds" if len(comp.n) == 2 else ""
        text += (
            f" {contestants(run)} on {metric_label(comp.metric or _metric(run))}"
            f" ({direction(run)}{split}{seeds}): {comparison_phrase(comp, run)}."
        )
    return text


def contestants(run: TrainingRun) -> str:
    """'Candidate vs the attention baseline', or for an optimizer 'Optimizer vs AdamW (...)'."""
    if not optimizer_run(run):
        return f"Candidate vs {the_baseline(run)}"
    model = f"the harness's {model_short(run)}" if model_short(run) else "the same model"
    return f"Optimizer vs AdamW ({model}, same initial weights, data and steps)"


def _metric(run: TrainingRun) -> str:
    return run.metric.name if run.metric else ""


def short_result(run: TrainingRun) -> str:
    """One clause for a glance line / digest: what the numbers say, in the badge's terms."""
    badge = run.badge
    if badge is None:
        return ""
    if badge.kind == "smoke":
        return "wiring test, no verdict"
    if badge.kind == "invalid":
        return "no comparison: " + no_comparison_sentence(run).removesuffix(
            ", so no comparison was made"
        )
    comp = candidate_comparison(run)
    if comp is None:
        return claims_count_sentence(run.claims).rstrip(".")
    metric = metric_label(comp.metric or _metric(run))
    if optimizer_run(run):
        return f"optimizer vs AdamW on {metric}: {comparison_phrase(comp, run)}"
    return f"{metric} vs {the_baseline(run)}: {comparison_phrase(comp, run)}"


def claim_evidence(claim: ClaimResult, against: str = "the baseline") -> str:
    """'effect +0.0037, 95% CI [−0.0092, +0.0165]', '1.21x the baseline (412k vs 341k)',
    '2.00x smaller than AdamW's (30k vs 59.9k)' or ''."""
    ev = claim.evidence
    if ev is not None and ev.effect is None and ev.ratio is not None:
        figures = f"({compact(ev.candidate)} vs {compact(ev.baseline)})"
        if better_means(claim.metric) == "smaller" and ev.ratio > 0:  # ratio: base/cand
            factor, word = (ev.ratio, "smaller") if ev.ratio >= 1 else (1 / ev.ratio, "larger")
            return f"{factor:.2f}x {word} than {against}'s {figures}"
        return f"{ev.ratio:.2f}x {against} {figures}"
    if ev is None or ev.effect is None:
        return ""
    ci = f", 95% CI {interval(ev.ci95)}" if ev.ci95 else ""
    return f"effect {signed(ev.effect)}{ci}"


def better_means(metric: str) -> str | None:
    """'lower' or 'smaller' where a claim's "better" means a smaller figure
    (models.CLAIM_METRICS), None where it means higher or the metric is unknown."""
    known = CLAIM_METRICS.get(metric)
    if known is None or known.higher_is_better:
        return None
    return "smaller" if metric in SIZE_METRICS else "lower"


def claim_test(claim: Claim, against: str = "the baseline") -> str:
    """'query accuracy, equivalent to the baseline (condition: num_kv_pairs >= 8)',
    'denoising MSE, better (lower) than the baseline', 'accuracy, equivalent to AdamW'."""
    parts = [metric_label(claim.metric)]
    if claim.comparison == "better":
        means = better_means(claim.metric)
        parts.append(f"better ({means}) than {against}" if means else f"better than {against}")
    elif claim.comparison == "equivalent":
        parts.append(f"equivalent to {against}")
    text = ", ".join(parts)
    if claim.at_seq_len:
        text += f" at length {claim.at_seq_len}"
    return text + (f" (condition: {claim.condition})" if claim.condition else "")


def claim_line(claim: ClaimResult, against: str = "the baseline") -> str:
    """One line per claim for the digests: outcome, statement, evidence or reason."""
    why = claim_evidence(claim, against) or claim.reason or claim.why_untestable
    tail = f" ({why})" if why else ""
    return f"{CLAIM_WORDS.get(claim.outcome, claim.outcome)}: {claim.statement or claim.id}{tail}"


def ablation_lines(run: TrainingRun) -> list[str]:
    """'ablation without short conv: worse (effect −0.2693, 95% CI [...])' per ablation."""
    return [
        f"{model_label(c.model)} vs {against_label(c.against, run)}: {comparison_phrase(c, run)}"
        for c in run.comparisons
        if c.model.startswith("ablation:")
    ]


def against_label(against: str, run: TrainingRun) -> str:
    """What a comparison is against: 'baseline', 'AdamW' (an optimizer's), 'ResNet reference'."""
    if against == "baseline":
        return "AdamW" if optimizer_run(run) else "baseline"
    return model_label(against, run)


def versus(run: TrainingRun) -> str:
    """What claims are measured against, in a sentence: 'the baseline', or 'AdamW'."""
    return "AdamW" if optimizer_run(run) else "the baseline"


def toy_scale(run: TrainingRun) -> bool:
    """Worth a 'toy scale' tag: a verdict was reached far below the paper's scale (not for
    wiring tests or runs where nothing was compared)."""
    badge = run.badge
    if badge is None or badge.kind in ("smoke", "invalid"):
        return False
    return bool(run.verdict is not None and run.verdict.toy_scale)
