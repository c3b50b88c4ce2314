"""The controller's decisions without training: LR grid extension, and gates -> outcomes ->
claims in the report (finished runs are synthetic here; end-to-end runs are elsewhere)."""

from __future__ import annotations

import copy
import json
import math
import time

import pytest
import torch
from conftest import by_name
from paperfoundry_trainer import claims as claims_mod
from paperfoundry_trainer.compare import SWEEP_SEED, Arm, Comparison, Job, _skeleton, _write_outputs
from paperfoundry_trainer.sagemaker import Paths, StopFlag
from paperfoundry_trainer.spec import get_budget
from paperfoundry_trainer.tasks import make_task

CPU = torch.device("cpu")


def make_comparison(tmp_path, budget: str, **overrides) -> Comparison:
    b = get_budget("mqar", budget, **overrides)
    impl = tmp_path / "cand.py"
    impl.write_text("def build_model(spec):\n    raise NotImplementedError\n")
    job = Job(impl=impl, task="mqar", budget=b, paths=Paths(model_dir=tmp_path / "out"))
    c = Comparison(job, CPU, _skeleton(job, CPU), StopFlag(), time.time())
    c.task = make_task("mqar", b.spec, b.task_args)
    c.wall_before = 0.0
    # what run() records before any training
    c.metrics["metric"] = {"name": "query_accuracy", "higher_is_better": True, "split": "test"}
    c.metrics["setting"] = {**b.task_args, "seq_len": b.spec.seq_len, "steps": b.steps}
    return c


# -- LR sweep: grid extension at an edge ------------------------------------------------------


def sweep(c: Comparison, curves: dict, diverged=lambda name, lr: False):
    """Run c._sweep with runs answered by curves[name](lr); returns (best, runs asked)."""
    asked = []

    def fake_parallel(runs, split):
        assert split == "val"
        asked.append([(a.name, lr, s) for a, lr, s in runs])
        return [
            {"model": a.name, "lr": lr, "seed": s, "value": curves[a.name](lr),
             "final_loss": 1.0, "diverged": diverged(a.name, lr)}
            for a, lr, s in runs
        ]  # fmt: skip

    c._parallel = fake_parallel
    arms = [Arm(name, {"source": "reference", "config": {}}, True) for name in curves]
    return c._sweep(arms), asked


def rising(lr):  # the larger the LR the better, without limit
    return math.log10(lr)


def peak_at(best):
    return lambda lr: -abs(math.log10(lr) - math.log10(best))


def test_grid_grows_past_a_winning_edge_at_most_max_extensions_times(tmp_path):
    c = make_comparison(tmp_path, "small", lrs=(1e-3, 3e-3, 1e-2))
    assert c.b.max_extensions == 2
    best, asked = sweep(c, {"candidate": rising, "baseline": peak_at(3e-3)})
    grid = c.metrics["lr_grids"]["candidate"]
    assert grid == pytest.approx([1e-3, 3e-3, 1e-2, 3e-2, 9e-2])  # x3 each time, twice
    assert best["candidate"] == pytest.approx(9e-2)
    assert c.metrics["lr_grids"]["baseline"] == [1e-3, 3e-3, 1e-2]  # peak inside: no growth
    assert best["baseline"] == 3e-3
    # the first round is the whole grid for both; each later round one new LR, seed 0 only
    assert len(asked) == 3 and len(asked[0]) == 6
    assert [[(n, round(lr, 6)) for n, lr, _ in r] for r in asked[1:]] == [
        [("candidate", 0.03)],
        [("candidate", 0.09)],
    ]
    assert {s for r in asked for _, _, s in r} == {SWEEP_SEED}
    rows = [(r["model"], round(r["lr"], 6)) for r in c.metrics["sweep"]]
    assert rows.count(("candidate", 0.09)) == 1 and len(rows) == 8


def test_grid_grows_downward_and_stops_when_the_edge_stops_winning(tmp_path):
    c = make_comparison(tmp_path, "small", lrs=(1e-3, 1e-2))
    best, _ = sweep(c, {"candidate": peak_at(1e-4)})  # below the grid
    assert c.metrics["lr_grids"]["candidate"] == pytest.approx([1e-5, 1e-4, 1e-3, 1e-2])
    assert best["candidate"] == pytest.approx(1e-4)
    c = make_comparison(tmp_path, "small", lrs=(1e-3, 1e-2))
    best, asked = sweep(c, {"candidate": peak_at(6e-4)})
    # 1e-4 is added (1e-3 won at the edge), loses to 1e-3: no second extension
    assert c.metrics["lr_grids"]["candidate"] == pytest.approx([1e-4, 1e-3, 1e-2])
    assert best["candidate"] == pytest.approx(1e-3) and len(asked) == 2


def test_lower_is_better_metrics_extend_the_same_way(tmp_path):
    c = make_comparison(tmp_path, "small", lrs=(1e-3, 3e-3))
    c.task.higher_is_better = False  # an instance attribute: bpb-like
    best, _ = sweep(c, {"candidate": lambda lr: -rising(lr)})  # lower value at larger LR
    assert best["candidate"] == pytest.approx(3e-3 * (3e-3 / 1e-3) ** 2)


def test_a_diverged_edge_is_not_extended_past(tmp_path):
    c = make_comparison(tmp_path, "small", lrs=(1e-3, 3e-3, 1e-2))
    best, asked = sweep(c, {"candidate": rising}, diverged=lambda n, lr: lr > 5e-3)
    assert c.metrics["lr_grids"]["candidate"] == [1e-3, 3e-3, 1e-2]
    assert best["candidate"] == 3e-3 and len(asked) == 1
    assert [r["diverged"] for r in c.metrics["sweep"]] == [False, False, True]


def test_everything_diverged_tries_smaller_learning_rates(tmp_path):
    c = make_comparison(tmp_path, "small", lrs=(1e-3, 3e-3, 1e-2))
    best, _ = sweep(c, {"candidate": rising}, diverged=lambda n, lr: True)
    grid = c.metrics["lr_grids"]["candidate"]
    assert grid == pytest.approx([1e-3 / 9, 1e-3 / 3, 1e-3, 3e-3, 1e-2])
    assert best["candidate"] == pytest.approx(1e-3 / 9)


def test_no_extension_for_tiny_or_a_single_lr(tmp_path):
    c = make_comparison(tmp_path, "tiny")
    assert c.b.max_extensions == 0
    best, asked = sweep(c, {"candidate": rising})
    assert c.metrics["lr_grids"]["candidate"] == sorted(c.b.lrs) and len(asked) == 1
    c = make_comparison(tmp_path, "small", lrs=(3e-3,))
    best, asked = sweep(c, {"candidate": rising})
    assert best == {"candidate": 3e-3} and len(asked) == 1


def test_ties_take_the_middle_of_the_plateau(tmp_path):
    # MQAR: several LRs solve the validation set; the plateau's edge is where a fresh seed
    # is likeliest to fail, so the middle LR is chosen, and the grid is not extended
    c = make_comparison(tmp_path, "small", lrs=(1e-3, 3e-3, 1e-2))
    best, asked = sweep(c, {"candidate": lambda lr: 1.0})
    assert best["candidate"] == 3e-3 and len(asked) == 1  # one round: no extension
    c = make_comparison(tmp_path, "small", lrs=(1e-3, 3e-3, 1e-2))
    best, _ = sweep(c, {"candidate": lambda lr: 1.0 if lr > 2e-3 else 0.2})
    assert best["candidate"] in (3e-3, 1e-2)


# -- the report: gates, outcomes, claims -------------------------------------------------------

DECL = claims_mod.Declarations(
    claims=[
        claims_mod._clean_claim(c, i)
        for i, c in enumerate(
            [
                {
                    "id": "recall",
                    "metric": "query_accuracy",
                    "comparison": "equivalent",
                    "min_kv_pairs": 8,
                },
                {"id": "any-recall", "metric": "query_accuracy", "comparison": "better"},
                {
                    "id": "recall-hard",
                    "metric": "query_accuracy",
                    "comparison": "equivalent",
                    "min_kv_pairs": 64,
                },
                {"id": "speed", "metric": "train_tokens_per_s", "comparison": "better"},
            ]
        )
    ],  # fmt: skip
    ablations={"without conv": {"conv": False}},
)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A Comparison after setup (baseline and control sized) for small and tiny."""
    out = {}
    for budget in ("small", "tiny"):
        c = make_comparison(tmp_path_factory.mktemp(budget), budget)
        arms = c._arms(c.spec.param_budget, DECL)
        out[budget] = (c, arms)
    return out


def fake_run(model, seed, value, *, causal=True, diverged=False):
    r = {
        "model": model, "lr": 1e-2, "seed": seed, "split": "test", "value": value,
        "final_loss": 1.0, "diverged": diverged, "curve": {"step": [10], "loss": [1.0]},
        "params": 30_000, "embedding_params": 4_000, "state_size": None,
        "train_tokens_per_s": 2000.0 if model == "candidate" else 1000.0,
    }  # fmt: skip
    if model not in ("baseline", "control") and not diverged:
        bad = [] if causal else [{"batch": 16, "length": 32, "t": 5, "max_change": 0.5}]
        r["causality"] = {"passed": causal, "shapes": [[16, 32], [1, 32]], "failed": bad,
                          "max_relative_change": 0.5 - 0.5 * causal, "tolerance": 1e-3}  # fmt: skip
    if seed == 1 and not diverged:
        r["infer_tokens_per_s"] = {"32": 1000.0, "8": 4000.0}
        r["peak_memory"] = {"peak_mb": 100.0, "kind": "process rss"}
    return r


GOOD = {
    "candidate": [0.97, 0.98, 0.99],
    "ablation:without conv": [0.20, 0.25, 0.22],
    "baseline": [0.98, 0.975, 0.985],
    "control": [0.10],
}


def report(prepared, budget="small", values=GOOD, causal=(), diverged=(), match=None):
    """Run _report on synthetic finished runs; returns the metrics (as written to disk)."""
    c0, arms = prepared[budget]
    c = copy.copy(c0)
    c.metrics = copy.deepcopy(c0.metrics)
    if match is not None:
        c.metrics["params"]["match"] = match
    finals = [
        fake_run(model, seed, v, causal=model not in causal, diverged=model in diverged)
        for model, vs in values.items()
        for seed, v in enumerate(vs, start=1)
    ]
    c._report(arms, {}, finals, DECL)
    _write_outputs(c.job, c.metrics)
    return json.loads((c.job.paths.model_dir / "metrics.json").read_text())


def outcomes(m) -> dict:
    return {c["model"]: c["outcome"] for c in m["comparisons"]}


def claim_outcomes(m) -> dict:
    return {c["id"]: c["outcome"] for c in m["claims"]}


def test_all_gates_pass(prepared):
    m = report(prepared)
    assert all(g["passed"] for g in m["gates"]), m["gates"]
    names = [g["name"] for g in m["gates"]]
    assert names == ["baseline_competence", "negative_control", "params_matched",
                     "causal:candidate", "causal:ablation:without conv"]  # fmt: skip
    assert m["status"] == "ok" and m["outcome"] == "equivalent"
    assert outcomes(m) == {"candidate": "equivalent", "ablation:without conv": "worse"}
    assert claim_outcomes(m) == {"recall": "supported", "any-recall": "contradicted",
                                 "recall-hard": "untestable", "speed": "supported"}  # fmt: skip
    v = m["verdict"]
    assert v["outcome"] == "equivalent" and v["baseline_mean"] == pytest.approx(0.98)
    assert v["candidate_mean"] == pytest.approx(0.98) and v["toy_scale"] is True
    assert m["models"]["control"]["ci95"] == [None, None]  # one seed: no interval (JSON null)
    eff = m["efficiency"]
    assert eff["baseline"]["state_size"][str(prepared["small"][0].spec.seq_len)] > 0
    assert eff["baseline"]["state_size_source"] == "computed by the harness"
    assert eff["candidate"]["state_size"] is None and eff["candidate"]["flops_per_token"] > 0
    assert eff["candidate"]["train_tokens_per_s"] == 2000.0


def test_a_baseline_that_did_not_learn_invalidates_every_comparison(prepared):
    m = report(prepared, values={**GOOD, "baseline": [0.50, 0.55, 0.60]})
    gate = by_name(m["gates"], "baseline_competence")
    assert not gate["passed"] and gate["threshold"] == 0.9
    assert m["outcome"] == "invalid" and set(outcomes(m).values()) == {"invalid"}
    assert all("did not learn" in c["reason"] for c in m["comparisons"])
    assert claim_outcomes(m) == {"recall": "invalid", "any-recall": "invalid",
                                 "recall-hard": "untestable", "speed": "supported"}  # fmt: skip
    assert "could not be compared" in m["verdict"]["summary"]


def test_a_control_that_solves_recall_invalidates_every_comparison(prepared):
    m = report(prepared, values={**GOOD, "control": [0.8]})
    assert not by_name(m["gates"], "negative_control")["passed"]
    assert set(outcomes(m).values()) == {"invalid"}
    assert all("leaks" in c["reason"] for c in m["comparisons"])


def test_a_non_causal_model_is_invalid_alone(prepared):
    m = report(prepared, causal=("candidate",))
    gate = by_name(m["gates"], "causal:candidate")
    assert not gate["passed"] and gate["scope"] == "candidate" and "not causal" in gate["detail"]
    assert by_name(m["gates"], "causal:ablation:without conv")["passed"]
    assert outcomes(m) == {"candidate": "invalid", "ablation:without conv": "worse"}
    assert claim_outcomes(m)["recall"] == "invalid"


def test_a_candidate_whose_final_runs_all_diverged_is_reported_not_a_crash(prepared):
    m = report(prepared, values={**GOOD, "candidate": [0.0, 0.0, 0.0]}, diverged=("candidate",))
    assert m["status"] == "ok"
    assert "causal:candidate" not in [g["name"] for g in m["gates"]]
    assert outcomes(m)["candidate"] == "worse"
    assert claim_outcomes(m)["recall"] == "contradicted"


def test_smoke_budget_states_no_verdict_but_still_flags_reading_ahead(prepared):
    m = report(prepared, "tiny", values={**GOOD, "baseline": [0.3, 0.2]})
    assert not by_name(m["gates"], "baseline_competence")["passed"]
    assert set(outcomes(m).values()) == {"smoke"} and m["outcome"] == "smoke"
    assert claim_outcomes(m) == {"recall": "untestable", "any-recall": "inconclusive",
                                 "recall-hard": "untestable", "speed": "inconclusive"}  # fmt: skip
    m = report(prepared, "tiny", causal=("candidate",))
    assert outcomes(m) == {"candidate": "invalid", "ablation:without conv": "smoke"}
    assert claim_outcomes(m)["any-recall"] == "invalid"  # as its comparison


def test_a_parameter_mismatch_is_reported_but_does_not_invalidate(prepared):
    m = report(prepared, match=0.05)
    gate = by_name(m["gates"], "params_matched")
    assert not gate["passed"] and gate["scope"] == "report"
    assert m["outcome"] == "equivalent"


def test_metrics_json_is_strict_json(prepared, tmp_path):
    c0, _ = prepared["small"]
    job = copy.copy(c0.job)
    job.paths = Paths(model_dir=tmp_path / "strict", output_data_dir=tmp_path / "copy")
    _write_outputs(job, {**c0.metrics, "status": "ok", "x": [math.nan, math.inf, -math.inf]})
    text = (tmp_path / "strict" / "metrics.json").read_text()
    assert json.loads(text)["x"] == [None, None, None] and "NaN" not in text
    assert (tmp_path / "copy" / "metrics.json").read_text() == text
