"""End-to-end `train`: the happy path's metrics.json (schema 2), exit codes, structured
failures for broken implementations."""

from __future__ import annotations

import re
import shutil

import pytest
from conftest import (
    BASED,
    BASED_TINY,
    FAILS_IN_TRAINING,
    TRAINER_ROOT,
    run_train,
    write_impl,
)
from paperfoundry_trainer.cli import main
from paperfoundry_trainer.spec import get_budget
from paperfoundry_trainer.validate import check_impl

SCHEMA_KEYS = {
    "schema", "status", "task", "budget", "impl", "device", "isolation", "failure", "metric",
    "setting", "outcome", "baseline", "params", "gates", "sweep", "models", "comparisons",
    "efficiency", "claims", "verdict", "curves", "tokens_per_run", "steps", "wall_seconds",
    "plots",
}  # fmt: skip
VERDICT_KEYS = {
    "outcome", "metric", "higher_is_better", "candidate_mean", "baseline_mean",
    "candidate_std", "baseline_std", "effect", "ci95", "toy_scale", "summary",
}  # fmt: skip
COMPARISON_KEYS = {"model", "against", "metric", "effect", "ci95", "ci90", "margin", "n",
                   "outcome", "summary"}  # fmt: skip
EFFICIENCY_KEYS = {"train_tokens_per_s", "infer_tokens_per_s", "peak_memory_mb",
                   "flops_per_token", "state_size", "state_size_source"}  # fmt: skip
ABLATION = "ablation:without short conv"  # declared by the BASED reference file


def metric_regexes() -> list[str]:
    """The SageMaker MetricDefinitions documented in containers/trainer/README.md."""
    text = (TRAINER_ROOT / "README.md").read_text()
    return re.findall(r"^\| [\w:]+ \| `(pf_\w+ .*)` \|$", text, re.M)


@pytest.mark.slow
def test_happy_path_writes_metrics_schema_2(based_tiny):
    m, b = based_tiny.metrics, get_budget("mqar", "tiny")
    assert set(m) >= SCHEMA_KEYS
    assert m["schema"] == 2 and m["status"] == "ok" and m["failure"] is None
    assert (m["task"], m["budget"], m["impl"]) == ("mqar", "tiny", BASED.name)
    assert (m["device"], m["isolation"]) == ("cpu", "none")
    assert m["metric"] == {"name": "query_accuracy", "higher_is_better": True, "split": "test"}
    assert m["setting"]["num_kv_pairs"] == b.task_args["num_kv_pairs"]
    assert m["steps"] == b.steps and m["tokens_per_run"] == b.steps * b.batch_size * b.spec.seq_len
    # tiny is a wiring test: every comparison and the verdict say "smoke"
    assert m["outcome"] == "smoke" and m["verdict"]["outcome"] == "smoke"
    assert set(m["verdict"]) == VERDICT_KEYS and m["verdict"]["toy_scale"] is True
    assert m["baseline"]["config"]["short_conv"] == 3  # BASELINE = {"short_conv": 3}
    assert "Zoology" in m["baseline"]["name"]
    assert abs(m["params"]["match"]) <= 0.02
    assert m["params"]["baseline"]["total"] > 0 and m["params"]["candidate"]["non_embedding"] > 0

    # models: candidate, the declared ablation, baseline, control; fresh seeds on test
    assert set(m["models"]) == {"candidate", ABLATION, "baseline", "control"}
    for name in ("candidate", ABLATION, "baseline"):
        s = m["models"][name]
        assert s["seeds"] == [1, 2] and len(s["values"]) == 2
        assert all(0 <= v <= 1 for v in s["values"]) and s["lr"] == 1e-2
        assert set(m["curves"][name]) == {"1", "2"}
        assert m["curves"][name]["1"]["step"][-1] == b.steps
    assert m["models"]["control"]["seeds"] == [1]
    # the sweep (validation split, seed 0) covers the candidate and the baseline only
    assert {(r["model"], r["seed"]) for r in m["sweep"]} == {("candidate", 0), ("baseline", 0)}
    assert m["lr_grids"] == {"candidate": [1e-2], "baseline": [1e-2]}

    gates = {g["name"]: g for g in m["gates"]}
    assert set(gates) == {"baseline_competence", "negative_control", "params_matched",
                          "causal:candidate", f"causal:{ABLATION}"}  # fmt: skip
    assert gates["causal:candidate"]["passed"] and gates[f"causal:{ABLATION}"]["passed"]
    for g in gates.values():
        assert {"name", "passed", "value", "threshold", "detail"} <= set(g)

    assert [c["model"] for c in m["comparisons"]] == ["candidate", ABLATION]
    for c in m["comparisons"]:
        assert set(c) >= COMPARISON_KEYS and c["against"] == "baseline" and c["n"] == [2, 2]
        assert c["outcome"] == "smoke" and c["margin"] == 0.03
    assert {c["id"] for c in m["claims"]} == {"recall", "recall-hard", "state", "throughput",
                                              "lm-quality"}  # fmt: skip
    for c in m["claims"]:  # tiny: never a verdict on a claim
        assert c["outcome"] in ("inconclusive", "untestable"), c
    assert m["declaration_problems"] == []

    assert set(m["efficiency"]) == set(m["models"])
    for name, e in m["efficiency"].items():
        assert set(e) >= EFFICIENCY_KEYS, name
        assert e["flops_per_token"] > 0 and e["train_tokens_per_s"] > 0
        assert len(e["infer_tokens_per_s"]) == 2 and all(
            v > 0 for v in e["infer_tokens_per_s"].values()
        )
    base_state = m["efficiency"]["baseline"]["state_size"]
    assert base_state["4096"] > base_state["16"] > 0  # the KV cache grows with the context
    cand = m["efficiency"]["candidate"]
    assert cand["state_size_source"] == ("declared by the model" if cand["state_size"] else None)
    assert m["wall_seconds"] > 0


@pytest.mark.slow
def test_happy_path_output_lines(based_tiny):
    out = based_tiny.stdout
    regexes = metric_regexes()
    assert len(regexes) >= 7
    for rx in regexes:
        assert re.search(rx, out, re.M), rx
    assert "gate baseline_competence:" in out and "candidate vs baseline: SMOKE" in out
    assert "Traceback" not in based_tiny.stderr


@pytest.mark.slow
def test_rerun_of_a_finished_comparison_reuses_every_run(based_tiny, tmp_path):
    out = tmp_path / "again"
    shutil.copytree(based_tiny.out, out)
    (out / "metrics.json").unlink()
    again = run_train(BASED_TINY, out)
    assert again.rc == 0, again.stderr[-3000:]
    assert "resuming from checkpoint" in again.stderr
    assert "pf_metric " not in again.stdout  # nothing trained again
    assert again.metrics["models"] == based_tiny.metrics["models"]
    assert again.metrics["comparisons"] == based_tiny.metrics["comparisons"]


BROKEN = {
    "syntax": ("import\n", "import", "SyntaxError"),
    "missing_module": (
        "import flash_attn_does_not_exist\n\ndef build_model(spec):\n    pass\n",
        "import",
        "ModuleNotFoundError",
    ),
    "no_build_model": ("import torch\n", "import", "ContractError"),
    "returns_none": ("def build_model(spec):\n    return None\n", "build", "ContractError"),
    "wrong_shape": (
        """
import torch.nn as nn

def build_model(spec):
    d = spec.param_budget // (2 * spec.vocab_size)
    return nn.Sequential(nn.Embedding(spec.vocab_size, d), nn.Linear(d, spec.vocab_size + 1))
""",
        "shape",
        "ShapeError",
    ),
    "nan_output": (
        """
import torch.nn as nn

class M(nn.Module):
    def __init__(self, spec):
        super().__init__()
        d = spec.param_budget // (2 * spec.vocab_size)
        self.emb, self.out = nn.Embedding(spec.vocab_size, d), nn.Linear(d, spec.vocab_size)

    def forward(self, idx):
        return self.out(self.emb(idx)) * float("nan")

def build_model(spec):
    return M(spec)
""",
        "finite",
        "NonFiniteError",
    ),
    "over_budget": (
        """
import torch.nn as nn

def build_model(spec):
    n = 3 * spec.param_budget // spec.vocab_size
    return nn.Sequential(nn.Embedding(spec.vocab_size, n), nn.Linear(n, spec.vocab_size))
""",
        "budget",
        "BudgetError",
    ),
    "runtime_error_in_forward": (
        """
import torch.nn as nn

class M(nn.Module):
    def __init__(self, spec):
        super().__init__()
        d = spec.param_budget // (2 * spec.vocab_size)
        self.emb, self.out = nn.Embedding(spec.vocab_size, d), nn.Linear(d, spec.vocab_size)

    def forward(self, idx):
        return self.out(self.emb(idx).transpose(1, 2))  # wrong dim

def build_model(spec):
    return M(spec)
""",
        "forward",
        "RuntimeError",
    ),
    "reads_ahead": (
        """
import torch.nn as nn

class M(nn.Module):
    def __init__(self, spec):
        super().__init__()
        d = spec.param_budget // (2 * spec.vocab_size)
        self.emb, self.out = nn.Embedding(spec.vocab_size, d), nn.Linear(d, spec.vocab_size)

    def forward(self, idx):
        h = self.emb(idx)
        return self.out(h + h.mean(1, keepdim=True))  # every position sees the future

def build_model(spec):
    return M(spec)
""",
        "forward",
        "CausalityError",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_impl_gives_structured_failure(case, tmp_path):
    """What validation reports for each kind of breakage (in this process: fast)."""
    source, stage, exc_type = BROKEN[case]
    impl = write_impl(tmp_path / "impls", f"{case}.py", source)
    result = check_impl(impl, get_budget("mqar", "tiny").spec)
    assert result["ok"] is False
    f = result["failure"]
    assert set(f) == {"stage", "type", "message", "traceback"}
    assert (f["stage"], f["type"]) == (stage, exc_type), f
    assert f["message"] and str(tmp_path) not in f["traceback"] + f["message"]
    if case in ("syntax", "runtime_error_in_forward"):
        assert impl.name in f["traceback"]  # relative to the impl file


@pytest.mark.parametrize("case", ["syntax", "reads_ahead"])
def test_broken_impl_exits_2_with_failure_in_metrics(case, tmp_path):
    """The same through `train`: validation in a subprocess, exit 2, metrics.json."""
    source, stage, exc_type = BROKEN[case]
    impl = write_impl(tmp_path / "impls", f"{case}.py", source)
    run = run_train(["--impl", str(impl), "--task", "mqar", "--budget", "tiny"], tmp_path / "out")
    assert run.rc == 2, run.stderr[-2000:]
    m = run.metrics
    assert m["schema"] == 2 and m["status"] == "failed" and m["verdict"] is None
    assert m["outcome"] is None and m["models"] == {} and m["comparisons"] == []
    f = m["failure"]
    assert set(f) == {"stage", "type", "message", "traceback"}
    assert (f["stage"], f["type"]) == (stage, exc_type), f
    assert str(tmp_path) not in f["traceback"]
    assert "pf_metric" not in run.stdout  # nothing was trained
    assert f"FAILED at stage {stage}" in run.stderr


@pytest.mark.slow
def test_candidate_failing_in_training_stops_the_runs_beside_it(based_tiny, tmp_path):
    """Validation passes (batch 2); training (batch 16) raises in the worker: exit 2 with
    the worker's structured failure, and the baseline's run that was training in parallel
    checkpoints and stops instead of training to the end. The checkpoint dir starts with
    another comparison's checkpoint, which must not be used."""
    out = tmp_path / "out"
    shutil.copytree(based_tiny.out / "checkpoints", out / "checkpoints")
    impl = write_impl(tmp_path / "impls", "fails.py", FAILS_IN_TRAINING)
    args = ["--impl", str(impl), "--task", "mqar", "--budget", "tiny", "--lrs", "1e-2",
            "--steps", "400", "--workers", "2"]  # fmt: skip
    run = run_train(args, out)
    assert run.rc == 2, run.stderr[-3000:]
    assert "belongs to a different comparison" in run.stderr
    assert "resuming" not in run.stderr
    f = run.metrics["failure"]
    assert (f["stage"], f["type"]) == ("train", "RuntimeError"), f
    assert "only works at batch size 2" in f["message"] and "fails.py" in f["traceback"]
    assert str(tmp_path) not in f["traceback"]
    # the baseline saw the stop: its state is saved, it did not train to step 400
    assert list((out / "checkpoints" / "partial").glob("**/baseline*")), run.stderr[-3000:]
    assert "pf_metric model=baseline seed=0 lr=0.01 step=400 " not in run.stdout


def test_bad_usage_exits_64(tmp_path):
    assert main(["train", "--impl", "x.py", "--task", "nope"]) == 64
    assert main(["train", "--impl", "x.py", "--task", "mqar", "--budget", "huge"]) == 64
    assert main(["train", "--task", "mqar"]) == 64  # --impl is required
    assert main(["frobnicate"]) == 64
    assert not (tmp_path / "metrics.json").exists()


def test_missing_impl_file_is_a_setup_failure(tmp_path):
    run = run_train(["--impl", str(tmp_path / "nope.py"), "--task", "mqar", "--budget", "tiny"],
                    tmp_path / "out")  # fmt: skip
    assert run.rc == 1
    assert run.metrics["status"] == "failed" and run.metrics["failure"]["stage"] == "setup"
    assert run.metrics["failure"]["type"] == "FileNotFoundError"
