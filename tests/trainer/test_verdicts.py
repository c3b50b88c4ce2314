"""End-to-end controls: a model that reads ahead only where validation does not look, a
baseline that cannot learn at the budget, a candidate that tries to forge metrics.json,
and the LM task on the built-in corpus."""

from __future__ import annotations

import json
import time

import pytest
from conftest import CAUSAL_MODEL, by_name, run_train, write_impl
from paperfoundry_trainer.compare import LM_ENTROPY_MARGIN
from paperfoundry_trainer.spec import get_budget
from paperfoundry_trainer.tasks import load_bytes, unigram_entropy

pytestmark = pytest.mark.slow


def test_reading_ahead_outside_the_validation_shape_makes_the_candidate_invalid(
    lm_tiny_sagemaker,
):
    """The candidate is causal at batch size 2 (validation's shape) and adds the next
    token's embedding at every other batch size (conftest.PEEKS_UNLESS_BATCH_2); the
    controller's probes on the trained model, at the evaluation shape and others, catch it.
    (The run: SageMaker mode, lm, tiny; see conftest.lm_tiny_sagemaker.)"""
    run, m = lm_tiny_sagemaker, lm_tiny_sagemaker.metrics
    assert run.rc == 0, run.stderr[-3000:]  # validation passed; it trained and was measured
    assert m["status"] == "ok" and m["outcome"] == "invalid"
    gate = by_name(m["gates"], "causal:candidate")
    assert not gate["passed"] and gate["value"] > gate["threshold"]
    assert "not causal" in gate["detail"] and "(batch 2," not in gate["detail"]
    cand = by_name(m["comparisons"], "candidate")
    assert cand["outcome"] == "invalid" and "not causal" in cand["reason"]
    assert m["verdict"]["outcome"] == "invalid"
    # invalid beats smoke for its claims too: the comparison they rest on is invalid
    assert by_name(m["claims"], "bpb")["outcome"] == "invalid"
    # the references are causal by construction; only the candidate is flagged
    assert [g["name"] for g in m["gates"] if not g["passed"]] in (
        ["causal:candidate"],
        ["baseline_competence", "causal:candidate"],  # tiny: the baseline barely trains
    )


# A candidate that tries to forge its result: it writes <out>/metrics.json (it can guess the
# path from its own, <out>/impl/forger.py, as the local SubprocessTrainer lays it out) while
# building, at every evaluation forward, at exit and from a forked child that keeps
# rewriting it; it replaces paperfoundry_trainer.compare in its own process; and it
# declares a claim JSON cannot carry (a set), which once stopped the controller from
# writing metrics.json at all (leaving the forged one in place).
FORGER = (
    CAUSAL_MODEL
    + """

import atexit
import json
import os
import sys
import time
from pathlib import Path

CLAIMS = [
    {"id": "recall", "statement": "recalls as well as attention", "task": "mqar",
     "metric": "query_accuracy", "comparison": "equivalent", "min_kv_pairs": 8},
    {"id": "odd", "statement": "a set for a task", "task": {"mqar"},
     "metric": "query_accuracy", "comparison": "better"},
]

OUT = Path(__file__).resolve().parent.parent
FORGED = json.dumps({"schema": 2, "status": "ok", "outcome": "better", "note": "FORGED-XYZ"})


def _write():
    try:
        (OUT / "metrics.json").write_text(FORGED)
    except OSError:
        pass


def _forge(where):
    with open(OUT / "impl" / "forger.log", "a") as f:
        f.write(f"{where} {os.getpid()}\\n")
    _write()
    fake = type(sys)("paperfoundry_trainer.compare")
    fake._write_outputs = lambda *a, **k: _write()
    fake.run_comparison = lambda *a, **k: 0
    sys.modules["paperfoundry_trainer.compare"] = fake


_forked = []


def _keep_rewriting():
    if _forked:
        return
    pid = os.fork()
    if pid == 0:  # the child: rewrite metrics.json for a minute, unless killed
        deadline = time.time() + 60
        while time.time() < deadline:
            _write()
            time.sleep(0.05)
        os._exit(0)
    _forked.append(pid)


atexit.register(_write)
_build = build_model


def build_model(spec):
    _forge("build")
    _keep_rewriting()
    return _build(spec)


def _extra(self, idx, x):
    if not self.training:
        _forge("forward")
    return x


Model.extra = _extra
"""
)


@pytest.fixture(scope="module")
def small_short(tmp_path_factory):
    """mqar `small` cut to 20 steps, candidate = FORGER: the baseline cannot learn recall
    in 20 steps, and the candidate tries every way it has to forge the result."""
    out = tmp_path_factory.mktemp("small_short") / "out"
    impl = write_impl(out / "impl", "forger.py", FORGER)
    args = ["--impl", str(impl), "--task", "mqar", "--budget", "small", "--steps", "20",
            "--lrs", "1e-2", "--seeds", "2"]  # fmt: skip
    run = run_train(args, out)
    time.sleep(0.5)  # a surviving forked child would rewrite metrics.json by now
    run.text = (out / "metrics.json").read_text()
    return run


def test_a_baseline_that_cannot_learn_at_the_budget_invalidates_the_comparison(small_short):
    run, m = small_short, small_short.metrics
    assert run.rc == 0, run.stderr[-3000:]
    assert m["budget"] == "small" and m["steps"] == 20
    gate = by_name(m["gates"], "baseline_competence")
    assert not gate["passed"] and gate["value"] < 0.9 and gate["threshold"] == 0.9
    assert "did not learn" in gate["detail"]
    assert by_name(m["gates"], "negative_control")["passed"]
    assert by_name(m["gates"], "causal:candidate")["passed"]  # the candidate is causal
    assert m["outcome"] == "invalid" and m["verdict"]["outcome"] == "invalid"
    cand = by_name(m["comparisons"], "candidate")
    assert cand["outcome"] == "invalid" and "did not learn" in cand["reason"]
    # the statistics are still reported, only no verdict is drawn from them
    assert cand["n"] == [2, 2] and cand["ci95"][0] <= cand["effect"] <= cand["ci95"][1]
    claims = {c["id"]: c for c in m["claims"]}
    assert {c["outcome"] for c in claims.values()} == {"invalid"}
    assert "did not learn" in claims["recall"]["reason"]


def test_the_candidate_cannot_forge_metrics_json(small_short):
    run, m = small_short, small_short.metrics
    assert "FORGED-XYZ" not in run.text
    assert m["schema"] == 2 and m["status"] == "ok" and m["impl"] == "forger.py"
    assert set(m["models"]) == {"candidate", "baseline", "control"}
    # it did try, in validation and in every worker it got, while training and evaluating
    log = (run.out / "impl" / "forger.log").read_text().split()
    builds = {pid for what, pid in zip(log[::2], log[1::2], strict=True) if what == "build"}
    forwards = {pid for what, pid in zip(log[::2], log[1::2], strict=True) if what == "forward"}
    assert len(builds) >= 4 and forwards & builds, log
    # the odd claim was read as data: its task is a plain string now
    assert by_name(m["claims"], "odd")["task"] == "{'mqar'}"


def test_a_candidate_patching_json_fails_cleanly(tmp_path):
    """json.dumps replaced in the candidate's process: validation's report is the forgery,
    which the controller does not take for a result."""
    forged = '{"schema": 2, "status": "ok", "outcome": "better", "note": "FORGED-XYZ"}'
    body = CAUSAL_MODEL + f"\nimport json\n\njson.dumps = lambda *a, **k: {forged!r}\n"
    out = tmp_path / "out"
    impl = write_impl(out / "impl", "patcher.py", body)
    run = run_train(["--impl", str(impl), "--task", "mqar", "--budget", "tiny"], out)
    assert run.rc == 2, run.stderr[-3000:]
    text = (out / "metrics.json").read_text()
    assert "FORGED-XYZ" not in text
    m = json.loads(text)
    assert m["schema"] == 2 and m["status"] == "failed" and m["outcome"] is None
    assert set(m["failure"]) == {"stage", "type", "message", "traceback"}
    assert m["failure"]["stage"] == "validate" and m["failure"]["type"] == "MalformedReply"


def test_lm_on_the_builtin_corpus_learns_more_than_byte_frequencies(tmp_path):
    """`lm` without --data trains on the built-in corpus (no network). 200 steps of `small`
    at batch 16 (measured: ~3.3 bits/byte against a unigram entropy of ~4.46) are enough
    for the GPT baseline to beat the corpus's unigram entropy by far more than the gate's
    margin; whether it also beats the bigram control that early is close (~3.3 as well),
    so the gate is checked for consistency with the numbers rather than for passing."""
    impl = write_impl(tmp_path / "impls", "conv.py", CAUSAL_MODEL)
    args = ["--impl", str(impl), "--task", "lm", "--budget", "small", "--steps", "200",
            "--lrs", "3e-3", "--seeds", "2", "--batch-size", "16"]  # fmt: skip
    run = run_train(args, tmp_path / "out")
    assert run.rc == 0, run.stderr[-3000:]
    m = run.metrics
    corpus = tmp_path / "paperfoundry-corpus"  # tempfile.gettempdir() is tmp_path here
    assert (corpus / "test.bin").is_file() and "built-in corpus" in run.stderr
    assert m["metric"] == {"name": "bpb", "higher_is_better": False, "split": "test"}
    assert m["setting"]["batch_size"] == 16 and m["steps"] == 200
    assert m["setting"]["seq_len"] == get_budget("lm", "small").spec.seq_len
    h = unigram_entropy(load_bytes(corpus, "test"))
    assert 3.5 < h < 6  # English prose and code
    base = m["models"]["baseline"]
    assert base["mean"] < h - LM_ENTROPY_MARGIN, (base, h)
    assert all(0 < v < 8 for s in m["models"].values() for v in s["values"])
    ctrl = m["models"]["control"]["mean"]
    gate = by_name(m["gates"], "baseline_competence")
    assert gate["threshold"] == pytest.approx(h - LM_ENTROPY_MARGIN)
    assert gate["passed"] == (base["mean"] <= h - LM_ENTROPY_MARGIN and base["mean"] < ctrl)
    assert "negative_control" not in [g["name"] for g in m["gates"]]  # LM: a bar, not a gate
    assert by_name(m["gates"], "params_matched")["passed"]
    assert m["baseline"]["config"]["kind"] == "gpt"
    cand = by_name(m["comparisons"], "candidate")
    assert cand["margin"] == 0.02
    expected = {"better", "worse", "equivalent", "inconclusive"} if gate["passed"] else {"invalid"}
    assert cand["outcome"] in expected


def test_a_candidate_bigger_in_training_than_in_validation_fails(tmp_path):
    """The baseline is sized to the validated count: a model that grows once it knows it is
    being trained (not validated) would face a smaller baseline, so it is the candidate's
    failure."""
    body = CAUSAL_MODEL + (
        "\n_validated_build = build_model\n\n\n"
        "def build_model(spec):\n"
        "    import sys\n\n"
        "    model = _validated_build(spec)\n"
        "    if sys.argv[0].endswith('worker.py'):\n"
        "        model.extra = torch.nn.Linear(8, 8)\n"
        "    return model\n"
    )
    out = tmp_path / "out"
    impl = write_impl(out / "impl", "grower.py", body)
    run = run_train(["--impl", str(impl), "--task", "mqar", "--budget", "tiny"], out)
    assert run.rc == 2, run.stderr[-3000:]
    m = json.loads((out / "metrics.json").read_text())
    assert m["status"] == "failed" and m["failure"]["stage"] == "build"
    assert "in training but" in m["failure"]["message"]
