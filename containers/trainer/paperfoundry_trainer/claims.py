"""What an implementation declares (claims, ablations, baseline match) and claim verdicts.

Declarations are module-level literals in the implementation file, read with
`ast.literal_eval` so the trusted controller never executes the candidate's code:

    CLAIMS = [{"id": "recall", "statement": "...", "task": "mqar",
               "metric": "query_accuracy", "comparison": "equivalent",
               "condition": "num_kv_pairs >= 8", "min_kv_pairs": 8}]
    ABLATIONS = {"without short conv": {"short_conv": False}}   # build_model(spec, **kwargs)
    BASELINE = {"short_conv": 3}   # give the baseline the same short causal conv
    BASELINE = {"arch": "resnet"}  # image: the primary backbone (vit | resnet)
    BASELINE = {"conditioning": "in-context"}  # diffusion: the DiT baseline's conditioning
    OPTIMIZER = {"lr_scale": 0.1}  # optimizer files: sweep the candidate at 0.1x the grid

A claim may name a second reference with "against" (image: "vit" | "resnet"; diffusion:
"adaln-zero" | "in-context"); the harness then trains that reference too and judges the
claim on the candidate's comparison with it.

The contract is read from the file's top level the same way: a plain `def build_model` is a
model (the default), a `def build_optimizer` without `build_model` an optimizer.
"""

from __future__ import annotations

import ast
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

TASK_METRICS = {"query_accuracy": "mqar", "bpb": "lm", "accuracy": "image",
                "denoise_mse": "diffusion"}  # fmt: skip
EFFICIENCY_METRICS = ("train_tokens_per_s", "infer_tokens_per_s", "state_size",
                      "train_images_per_s", "infer_images_per_s", "optimizer_state")  # fmt: skip
BASELINE_OPTIONS = {"arch": ("vit", "resnet"), "conditioning": ("adaln-zero", "in-context")}
AGAINST = (*BASELINE_OPTIONS["arch"], *BASELINE_OPTIONS["conditioning"])
LR_SCALE_RANGE = (1e-3, 10.0)
COMPARISONS = ("better", "equivalent")
MAX_CLAIMS, MAX_ABLATIONS = 8, 4
EFFICIENCY_MARGIN = 0.10  # efficiency figures differ "really" only beyond 10%


@dataclass
class Declarations:
    claims: list[dict] = field(default_factory=list)
    ablations: dict[str, dict] = field(default_factory=dict)
    baseline: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # shown in metrics.json, never fatal
    contract: str = "model"  # "model" (build_model) | "optimizer" (build_optimizer)
    optimizer: dict = field(default_factory=dict)  # OPTIMIZER: {"lr_scale": float}
    against: tuple[str, ...] = ()  # second references the claims are about

    @property
    def contract_def(self) -> str:
        return "build_optimizer" if self.contract == "optimizer" else "build_model"


def _top_level_names(tree: ast.Module) -> set[str]:
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def contract_of(source: str) -> str:
    """ "optimizer" when the top level defines build_optimizer and not build_model."""
    names = _top_level_names(ast.parse(source))
    return "optimizer" if "build_optimizer" in names and "build_model" not in names else "model"


def _literals(source: str) -> dict:
    found = {}
    for node in ast.parse(source).body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id in ("CLAIMS", "ABLATIONS", "BASELINE", "OPTIMIZER")
        ):
            try:
                found[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                found[node.targets[0].id] = ValueError(f"{node.targets[0].id} is not a literal")
    return found


def _clean_claim(raw, i: int) -> dict:
    if not isinstance(raw, dict):
        raise ValueError(f"claim {i} is not a dict")
    claim = {
        "id": str(raw.get("id") or f"claim{i + 1}")[:40],
        "statement": str(raw.get("statement", ""))[:300],
        "task": None if raw.get("task") is None else str(raw["task"])[:20],  # JSON-safe
        "metric": str(raw.get("metric", "")),
        "comparison": str(raw.get("comparison", "")),
        "condition": str(raw.get("condition", ""))[:200],
        "testable": bool(raw.get("testable", True)),
        "why_untestable": str(raw.get("why_untestable", ""))[:300],
    }
    for key in ("min_kv_pairs", "at_seq_len"):
        if raw.get(key) is not None:
            claim[key] = int(raw[key])
    if raw.get("against") not in (None, "", "baseline"):
        claim["against"] = str(raw["against"]).strip().lower()[:20]
        if claim["testable"] and claim["against"] not in AGAINST:
            raise ValueError(f"claim {claim['id']!r}: against must be one of {AGAINST}")
    if claim["testable"]:
        if claim["comparison"] not in COMPARISONS:
            raise ValueError(f"claim {claim['id']!r}: comparison must be one of {COMPARISONS}")
        if claim["metric"] not in (*TASK_METRICS, *EFFICIENCY_METRICS):
            raise ValueError(f"claim {claim['id']!r}: unknown metric {claim['metric']!r}")
    return claim


def _json_ok(value) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def read_declarations(path) -> Declarations:
    decl = Declarations()
    try:
        source = Path(path).read_text()
        found = _literals(source)
        decl.contract = contract_of(source)
    except (SyntaxError, UnicodeDecodeError) as exc:
        decl.problems.append(f"cannot parse declarations: {exc}")
        return decl
    for name, value in found.items():
        if isinstance(value, ValueError):
            decl.problems.append(str(value))
            found[name] = None
    for i, raw in enumerate((found.get("CLAIMS") or [])[:MAX_CLAIMS]):
        try:
            decl.claims.append(_clean_claim(raw, i))
        except (ValueError, TypeError, OverflowError) as exc:  # e.g. min_kv_pairs=1e999
            decl.problems.append(str(exc))
    ablations = found.get("ABLATIONS") or {}
    if isinstance(ablations, dict):
        for name, kwargs in list(ablations.items())[:MAX_ABLATIONS]:
            if isinstance(name, str) and isinstance(kwargs, dict) and _json_ok(kwargs):
                decl.ablations[name[:40]] = {str(k): v for k, v in kwargs.items()}
            else:  # kwargs travel to the worker as JSON: no sets, bytes, complex numbers
                decl.problems.append(
                    f"ablation {name!r} must map a name to JSON-compatible keyword arguments"
                )
    baseline = found.get("BASELINE") or {}
    if isinstance(baseline, dict):
        conv = baseline.get("short_conv", 0)
        if isinstance(conv, int) and 0 <= conv <= 8:
            decl.baseline["short_conv"] = conv
        else:
            decl.problems.append("BASELINE short_conv must be a kernel size 0..8")
        for key, allowed in BASELINE_OPTIONS.items():
            if key in baseline:
                value = str(baseline[key]).strip().lower()
                if value in allowed:
                    decl.baseline[key] = value
                else:
                    decl.problems.append(f"BASELINE {key} must be one of {allowed}")
        for key in set(baseline) - {"short_conv", *BASELINE_OPTIONS}:
            decl.problems.append(f"BASELINE: unknown option {str(key)[:40]!r}")
    optimizer = found.get("OPTIMIZER") or {}
    if isinstance(optimizer, dict) and "lr_scale" in optimizer:
        scale = optimizer["lr_scale"]
        lo, hi = LR_SCALE_RANGE
        if isinstance(scale, int | float) and lo <= scale <= hi:
            decl.optimizer["lr_scale"] = float(scale)
        else:
            decl.problems.append(f"OPTIMIZER lr_scale must be a number in [{lo:g}, {hi:g}]")
    decl.against = tuple(
        dict.fromkeys(c["against"] for c in decl.claims if c.get("against") and c["testable"])
    )
    return decl


# -- claim verdicts ------------------------------------------------------------------------

_FROM_COMPARISON = {
    "better": {"better": "supported", "worse": "contradicted", "equivalent": "contradicted"},
    "equivalent": {"better": "supported", "equivalent": "supported", "worse": "contradicted"},
}


def _result(claim, outcome, reason, evidence=None) -> dict:
    return {**claim, "outcome": outcome, "reason": reason, "evidence": evidence}


def _ratio_claim(claim, cand: float | None, base: float | None, higher_is_better: bool, what):
    if cand is None or base is None or base <= 0 or cand <= 0:
        return _result(claim, "untestable", f"{what} was not measured for both models")
    ratio = cand / base if higher_is_better else base / cand  # > 1 means candidate better
    ev = {"candidate": cand, "baseline": base, "ratio": ratio}
    better = "higher" if higher_is_better else "lower"
    figures = (
        f"{what}: {cand / base:.2f}x the baseline's ({cand:.4g} vs {base:.4g}; {better} is better)"
    )
    if claim["comparison"] == "better":
        outcome = "supported" if ratio >= 1 + EFFICIENCY_MARGIN else "contradicted"
    elif abs(math.log(ratio)) <= math.log(1 + EFFICIENCY_MARGIN) or ratio > 1:
        outcome = "supported"
    else:
        outcome = "contradicted"
    return _result(claim, outcome, figures, ev)


def evaluate(claims: list[dict], *, task: str, setting: dict, comparison: dict | None,
             efficiency: dict, invalid_reason: str | None, smoke: bool,
             others: dict | None = None, primary: str | None = None) -> list[dict]:  # fmt: skip
    """Each claim's outcome, from the candidate-vs-baseline comparison and efficiency; a
    claim `against` a second reference uses the candidate's comparison with it (`others`,
    keyed by the reference's name); `primary` is the name the baseline itself answers to."""
    out = []
    for claim in claims:
        against = claim.get("against")
        if against and against != primary and claim["testable"]:
            other = (others or {}).get(against)
            if other is None:
                out.append(_result(claim, "untestable",
                                   f"no {against} reference in this {task} run"))  # fmt: skip
                continue
            reason = other.get("reason") if other["outcome"] == "invalid" else None
            claim_out = evaluate([{**claim, "against": None}], task=task, setting=setting,
                                 comparison=other, efficiency={}, invalid_reason=reason,
                                 smoke=smoke)[0]  # fmt: skip
            out.append({**claim_out, "against": against})
            continue
        if not claim["testable"]:
            why = claim["why_untestable"] or "the implementation marks it untestable"
            out.append(_result(claim, "untestable", why))
            continue
        metric = claim["metric"]
        if metric in TASK_METRICS and TASK_METRICS[metric] != task:
            out.append(
                _result(claim, "untestable", f"about {TASK_METRICS[metric]}; this run is {task}")
            )
            continue
        if claim.get("min_kv_pairs") and setting.get("num_kv_pairs", 0) < claim["min_kv_pairs"]:
            out.append(
                _result(
                    claim,
                    "untestable",
                    f"needs >= {claim['min_kv_pairs']} kv pairs; this budget uses "
                    f"{setting.get('num_kv_pairs')} (run a larger budget on a GPU)",
                )
            )
            continue
        if invalid_reason and metric in TASK_METRICS:  # even at smoke: the table's "invalid"
            out.append(_result(claim, "invalid", invalid_reason))
        elif smoke:
            out.append(_result(claim, "inconclusive", "smoke-test budget: no verdict"))
        elif metric not in TASK_METRICS:  # efficiency figures do not depend on learning
            out.append(_efficiency_claim(claim, efficiency, setting))
        else:
            out.append(_task_claim(claim, comparison))
    return out


def _task_claim(claim, comparison):
    outcome = comparison["outcome"]
    ev = {"effect": comparison["effect"], "ci95": comparison["ci95"]}
    lo, hi = comparison["ci95"]
    detail = f"effect {comparison['effect']:+.3f} (95% CI {lo:+.3f}..{hi:+.3f})"
    if outcome == "inconclusive":
        return _result(claim, "inconclusive", f"{detail}: neither shown nor ruled out", ev)
    verdict = _FROM_COMPARISON[claim["comparison"]][outcome]
    relation = "equivalent to" if outcome == "equivalent" else f"{outcome} than"
    return _result(claim, verdict, f"{relation} the baseline: {detail}", ev)


def _efficiency_claim(claim, efficiency, setting):
    cand, base = efficiency.get("candidate") or {}, efficiency.get("baseline") or {}
    metric = claim["metric"]
    if metric in ("train_tokens_per_s", "train_images_per_s"):
        return _ratio_claim(claim, cand.get(metric), base.get(metric), True, "training throughput")
    if metric == "infer_images_per_s":
        return _ratio_claim(claim, cand.get(metric), base.get(metric), True,
                            "inference throughput")  # fmt: skip
    if metric == "optimizer_state":
        c, b = cand.get("optimizer_state_floats"), base.get("optimizer_state_floats")
        return _ratio_claim(claim, c, b, False, "optimizer state (floats kept between steps)")
    length = str(claim.get("at_seq_len") or setting.get("seq_len"))
    if metric == "infer_tokens_per_s":
        c, b = (cand.get(metric) or {}).get(length), (base.get(metric) or {}).get(length)
        if c is None or b is None:
            return _result(claim, "untestable", f"inference throughput not measured at {length}")
        return _ratio_claim(claim, c, b, True, f"inference throughput at length {length}")
    # state_size: smaller is better; the candidate's figure is what its model declares
    c, b = (cand.get("state_size") or {}).get(length), (base.get("state_size") or {}).get(length)
    if c is None:
        return _result(claim, "untestable", "the model does not declare state_size(seq_len)")
    return _ratio_claim(claim, c, b, False, f"recurrent state at length {length} (declared)")
