"""metrics.json schema 2 into a TrainingRun (apply_metrics), schema 1 and stored old runs,
and the badge rule of docs/VERDICTS.md."""

from __future__ import annotations

import json
import math

import pytest
from paperfoundry.models import ClaimResult, ModelComparison, TrainingRun
from paperfoundry.reporting import verdicts as vw
from paperfoundry.training import apply_metrics

from .factories import DAY, build_report, load_metrics, run_from_metrics

FIXTURES = {
    "based_mqar.json": ("supported", "supported 2/3"),
    "invalid_baseline.json": ("invalid", "invalid"),
    "smoke_tiny.json": ("smoke", "wiring test"),
    "lm_tinyshakespeare.json": ("contradicted", "contradicted 1/2"),
}


def _run(**changes) -> TrainingRun:
    return TrainingRun(
        run_id="r", arxiv_id="2402.18668", day=DAY, task="mqar", budget="medium", backend="x"
    ).model_copy(update=changes)


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_fixtures_load_with_their_badge(name):
    run = run_from_metrics(name, "2402.18668")
    assert run.status == "completed" and run.error is None, run.error
    assert run.metrics_schema == 2 and not run.legacy and run.has_results
    kind, text = FIXTURES[name]
    assert (run.badge.kind, run.badge.text) == (kind, text)
    # survives storage (report.json, SQLite, DynamoDB all go through JSON)
    again = TrainingRun.model_validate_json(run.model_dump_json())
    assert again.badge == run.badge and again.claims == run.claims
    assert again.comparisons == run.comparisons and again.efficiency == run.efficiency


def test_based_fixture_is_read_in_full():
    run = run_from_metrics("based_mqar.json", "2402.18668")
    assert run.outcome == "equivalent" and run.metric.name == "query_accuracy"
    assert run.metric.higher_is_better and run.metric.split == "test"
    assert run.setting["num_kv_pairs"] == 64 and run.device == "cuda"
    assert run.baseline.config["short_conv"] == 3
    assert run.params["candidate"].total == 5_021_312
    assert run.params["baseline"].non_embedding == 2_628_608
    assert run.params_match == pytest.approx(-0.0067)
    assert [g.name for g in run.gates] == [
        "baseline_competence",
        "negative_control",
        "candidate_causal",
        "params_matched",
    ]
    assert all(g.passed for g in run.gates)
    assert set(run.models) == {"baseline", "candidate", "control", "ablation:without short conv"}
    cand = run.models["candidate"]
    assert cand.lr == 3e-3 and cand.seeds == [1, 2, 3] and len(cand.ci95) == 2
    outcomes = {c.model: c.outcome for c in run.comparisons}
    assert outcomes == {"candidate": "equivalent", "ablation:without short conv": "worse"}
    assert run.efficiency["candidate"].state_size_source == "declared by the model"
    assert run.efficiency["baseline"].state_size == {"256": 147456, "2048": 1179648}
    assert run.params_budget == 5_000_000 and "budget" not in run.params
    assert run.control.config["kind"] == "control"
    assert run.efficiency["baseline"].infer_tokens_per_s == {"256": 341000.0, "2048": 108000.0}
    recall, throughput, state = run.claims
    assert recall.outcome == "supported" and recall.evidence.effect == pytest.approx(0.00367)
    assert throughput.outcome == "untestable" and not throughput.testable
    assert "fused CUDA kernels" in throughput.reason
    assert state.outcome == "supported" and state.at_seq_len == 2048
    assert state.evidence.ratio == pytest.approx(43.89) and state.evidence.effect is None
    assert vw.claim_evidence(state) == "43.89x smaller than the baseline's (26.9k vs 1.18M)"
    assert run.verdict.outcome == "equivalent" and run.verdict.ci95 == run.comparisons[0].ci95
    assert len(run.sweep) == 16 and run.tokens_per_run == 4000 * 128 * 256


def test_invalid_verdict_without_an_effect_reads_as_nan():
    run = run_from_metrics("invalid_baseline.json", "2402.18668")
    assert run.verdict.outcome == "invalid" and math.isnan(run.verdict.effect)
    assert not run.gates[0].passed and run.gates[0].value == pytest.approx(0.41)
    assert run.gates[-1].name == "causal:candidate" and run.gates[-1].scope == "candidate"
    assert run.comparisons[0].reason.startswith("the attention baseline reached 0.41")
    memory = run.claims[1]  # untestable: no task, no comparison (as the harness stores it)
    assert memory.task == "" and memory.comparison == "" and memory.outcome == "untestable"
    assert run.declaration_problems == ["ablation 'no gate' must map a name to keyword arguments"]
    again = TrainingRun.model_validate_json(run.model_dump_json())
    assert math.isnan(again.verdict.effect)
    assert vw.no_comparison_sentence(run) == (
        "the attention baseline did not learn the task (0.41 < 0.90), so no comparison was made"
    )


def test_smoke_run_has_no_verdict_object():
    run = run_from_metrics("smoke_tiny.json", "2402.18668")
    assert run.verdict is None and run.outcome == "smoke"
    assert vw.headline(run).startswith("Wiring test, no verdict")


def test_schema_1_metrics_still_load_as_legacy():
    metrics = {
        "schema": 1,
        "status": "ok",
        "params": {"baseline": 26240, "candidate": 26112, "budget": 26000},
        "verdict": {
            "outcome": "better",
            "metric": "query_accuracy",
            "higher_is_better": True,
            "candidate_mean": 0.9,
            "baseline_mean": 0.6,
            "candidate_std": 0.01,
            "baseline_std": 0.02,
            "effect": 0.3,
            "toy_scale": True,
            "summary": "candidate better",
        },
        "curves": {"baseline": {"0": {"step": [0, 1], "loss": [2.0, None]}}},
    }
    run = apply_metrics(_run(), metrics)
    assert run.status == "completed" and run.metrics_schema == 1 and run.legacy
    assert run.badge.kind == "legacy" and "no controls" in run.badge.title
    assert run.params["candidate"].total == 26112 and run.params_budget == 26000
    assert not run.has_results and run.claims == [] and run.gates == []
    # no "schema" key at all (the oldest harness) reads the same way
    del metrics["schema"]
    assert apply_metrics(_run(), metrics).legacy


def test_runs_stored_before_schema_2_still_load():
    stored = build_report().picks[0].run.model_dump(mode="json")
    for key in ("metrics_schema", "outcome", "claims", "gates", "comparisons", "efficiency"):
        stored.pop(key)
    run = TrainingRun.model_validate(stored)
    assert run.legacy and run.badge.kind == "legacy" and run.verdict.outcome == "better"


def test_a_retried_run_does_not_keep_the_last_attempts_results():
    first = run_from_metrics("based_mqar.json", "2402.18668")
    failed = apply_metrics(
        first, {"schema": 2, "status": "failed", "failure": {"stage": "import", "type": "E"}}
    )
    assert failed.status == "failed" and failed.claims == [] and failed.comparisons == []
    assert failed.badge is None


def test_malformed_schema_2_marks_the_run_failed():
    metrics = load_metrics("based_mqar.json")
    metrics["claims"][0]["outcome"] = "probably"
    run = apply_metrics(_run(), metrics)
    assert run.status == "failed" and "unreadable metrics.json" in run.error


def _claim(outcome: str, **extra) -> ClaimResult:
    return ClaimResult(id=outcome, statement=outcome, outcome=outcome, **extra)


def _comparison(outcome: str, model: str = "candidate") -> ModelComparison:
    return ModelComparison(model=model, outcome=outcome)


@pytest.mark.parametrize(
    ("outcome", "comparisons", "claims", "expected"),
    [
        # any invalid comparison wins, even over a supported claim
        (
            "better",
            ["better", "invalid"],
            ["supported"],
            ("invalid", "invalid"),
        ),
        # a contradicted claim wins over supported ones
        (
            "better",
            ["better"],
            ["supported", "contradicted", "supported"],
            ("contradicted", "contradicted 1/3"),
        ),
        ("equivalent", ["equivalent"], ["supported", "untestable"], ("supported", "supported 1/2")),
        ("inconclusive", ["inconclusive"], ["inconclusive", "untestable"], ("inconclusive",) * 2),
        ("better", ["better"], ["untestable", "untestable"], ("untestable", "untestable")),
        ("better", ["better"], [], ("no-claims", "no claims")),
        ("smoke", ["smoke"], ["inconclusive"], ("smoke", "wiring test")),
        ("better", ["better"], ["contradicted"], ("contradicted", "contradicted")),
    ],
)
def test_the_badge_never_says_more_than_the_claims(outcome, comparisons, claims, expected):
    run = _run(
        status="completed",
        metrics_schema=2,
        outcome=outcome,
        comparisons=[_comparison(o) for o in comparisons],
        claims=[_claim(c) for c in claims],
    )
    assert (run.badge.kind, run.badge.text) == expected
    assert run.badge.text not in ("better", "worse", "equivalent")


def test_equivalent_is_never_called_better():
    run = run_from_metrics("lm_tinyshakespeare.json", "2402.18668")
    text = vw.headline(run) + " " + vw.short_result(run)
    assert "equivalent" in text and "better (effect" not in text
    assert "1 contradicted" in vw.headline(run)


def test_gate_sentences_are_plain_words():
    run = run_from_metrics("based_mqar.json", "2402.18668")
    words = [vw.gate_sentence(g, run) for g in run.gates]
    assert words[0] == "the attention baseline learned the task (0.972 ≥ 0.90)"
    assert "no mixing across positions failed recall" in words[1]
    assert words[3] == "baseline and candidate sizes within ±2% (0.67% apart)"
    failed = run.gates[2].model_copy(update={"passed": False})
    assert "sees the future" in vw.gate_sentence(failed, run)


def test_fixture_files_are_strict_json():
    for name in FIXTURES:
        text = json.dumps(load_metrics(name), allow_nan=False)  # no NaN/Infinity literals
        assert '"schema": 2' in text


def test_a_failed_causality_gate_invalidates_the_candidate_only():
    metrics = load_metrics("lm_tinyshakespeare.json")
    causal = next(g for g in metrics["gates"] if g["name"] == "causal:candidate")
    causal.update(passed=False, value=0.4, detail="candidate is not causal: logits changed")
    metrics["comparisons"][0].update(outcome="invalid", reason=causal["detail"])
    for claim in metrics["claims"]:
        if claim["outcome"] != "untestable":
            claim.update(outcome="invalid", reason=causal["detail"], evidence=None)
    run = apply_metrics(_run(task="lm"), metrics)
    assert run.badge.kind == "invalid"
    assert vw.no_comparison_sentence(run) == (
        "the candidate sees the future (its past logits change when later tokens change), "
        "so its comparisons are invalid"
    )
    assert vw.gate_label("causal:ablation:without gate") == "causal: ablation: without gate"


def test_what_better_means_comes_from_the_claim_metrics():
    assert vw.better_means("bpb") == "lower" and vw.better_means("denoise_mse") == "lower"
    assert vw.better_means("state_size") == "smaller"
    assert vw.better_means("optimizer_state") == "smaller"
    for metric in ("accuracy", "query_accuracy", "train_images_per_s", "no_such_metric"):
        assert vw.better_means(metric) is None, metric
