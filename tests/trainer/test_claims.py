"""Declarations read as literals (never executed) and the claim-outcome table."""

from __future__ import annotations

import json

import pytest
from conftest import BASED, write_impl
from paperfoundry_trainer import claims
from paperfoundry_trainer.compare import _json_safe


def test_based_declarations():
    decl = claims.read_declarations(BASED)
    assert decl.problems == []
    assert decl.ablations == {"without short conv": {"short_conv": False}}
    assert decl.baseline == {"short_conv": 3}
    ids = [c["id"] for c in decl.claims]
    assert ids == ["recall", "recall-hard", "state", "throughput", "lm-quality"]
    recall = decl.claims[0]
    assert recall["metric"] == "query_accuracy" and recall["comparison"] == "equivalent"
    assert recall["min_kv_pairs"] == 8 and recall["testable"] is True
    assert decl.claims[2]["at_seq_len"] == 4096
    assert decl.claims[3]["testable"] is False and decl.claims[3]["why_untestable"]


def test_non_literal_declarations_are_reported_not_executed(tmp_path):
    canary = tmp_path / "executed"
    impl = write_impl(
        tmp_path,
        "sneaky.py",
        f"""
import pathlib

CLAIMS = open('/etc/passwd').read()
ABLATIONS = {{"x": pathlib.Path({str(canary)!r}).write_text("ran")}}
BASELINE = dict(short_conv=__import__("os").system("touch {canary}"))


def build_model(spec):
    raise AssertionError("the controller must not import the file")
""",
    )
    decl = claims.read_declarations(impl)
    assert not canary.exists()
    assert decl.claims == [] and decl.ablations == {}
    assert decl.baseline.get("short_conv", 0) == 0
    assert sorted(decl.problems) == [
        "ABLATIONS is not a literal",
        "BASELINE is not a literal",
        "CLAIMS is not a literal",
    ]


def test_only_module_level_assignments_count(tmp_path):
    impl = write_impl(
        tmp_path,
        "nested.py",
        """
def build_model(spec, **kw):
    CLAIMS = [{"id": "inner", "metric": "bpb", "comparison": "better"}]
    return None

if True:
    ABLATIONS = {"hidden": {"x": 1}}
""",
    )
    decl = claims.read_declarations(impl)
    assert (decl.claims, decl.ablations, decl.problems) == ([], {}, [])


def test_bad_entries_are_problems_and_good_ones_are_kept(tmp_path):
    impl = write_impl(
        tmp_path,
        "mixed.py",
        """
CLAIMS = [
    {"id": "ok", "metric": "bpb", "comparison": "better", "task": "lm"},
    {"id": "bad-comparison", "metric": "bpb", "comparison": "worse"},
    {"id": "bad-metric", "metric": "perplexity", "comparison": "better"},
    "not a dict",
    {"id": "untestable", "metric": "whatever", "comparison": "n/a", "testable": False},
]
ABLATIONS = {"fine": {"k": 1}, "broken": ["k", 1], 3: {"k": 2}}
BASELINE = {"short_conv": 99}
""",
    )
    decl = claims.read_declarations(impl)
    assert [c["id"] for c in decl.claims] == ["ok", "untestable"]
    assert decl.ablations == {"fine": {"k": 1}}
    assert decl.baseline == {}
    text = " | ".join(decl.problems)
    for word in ("bad-comparison", "perplexity", "not a dict", "broken", "short_conv"):
        assert word in text, (word, decl.problems)


def test_unparsable_file_is_a_problem(tmp_path):
    decl = claims.read_declarations(write_impl(tmp_path, "broken.py", "CLAIMS = [\n"))
    assert decl.claims == [] and len(decl.problems) == 1 and "parse" in decl.problems[0]


def test_limits_on_counts_and_lengths(tmp_path):
    many = [
        {"id": f"c{i}" * 50, "metric": "bpb", "comparison": "better", "statement": "s" * 1000}
        for i in range(20)
    ]
    impl = write_impl(tmp_path, "many.py", f"CLAIMS = {many!r}\n")
    decl = claims.read_declarations(impl)
    assert len(decl.claims) == claims.MAX_CLAIMS
    assert all(len(c["id"]) <= 40 and len(c["statement"]) <= 300 for c in decl.claims)


def test_hostile_literals_cannot_break_the_controller(tmp_path):
    """Literals the file may legally contain but JSON cannot carry (sets, bytes, complex,
    1e999): problems or plain strings, never an exception, and metrics.json stays JSON."""
    impl = write_impl(
        tmp_path,
        "hostile.py",
        """
CLAIMS = [
    {"id": "set-task", "task": {"mqar", "lm"}, "metric": "query_accuracy",
     "comparison": "better"},
    {"id": "inf", "metric": "query_accuracy", "comparison": "better", "min_kv_pairs": 1e999},
    {"id": "bytes", "statement": b"raw", "metric": "bpb", "comparison": "better"},
]
ABLATIONS = {"odd": {"k": {1, 2}}, "cplx": {"k": 1j}, "fine": {"k": [1, "a", None]}}
""",
    )
    decl = claims.read_declarations(impl)
    assert [c["id"] for c in decl.claims] == ["set-task", "bytes"]
    assert decl.ablations == {"fine": {"k": [1, "a", None]}}
    assert len(decl.problems) == 3, decl.problems
    out = claims.evaluate(decl.claims, task="mqar", setting={"num_kv_pairs": 8},
                          comparison=COMP["better"], efficiency={}, invalid_reason=None,
                          smoke=False)  # fmt: skip
    json.dumps(_json_safe({"claims": out, "problems": decl.problems}), allow_nan=False)
    json.dumps(decl.ablations)  # travels to the worker as JSON


# -- claim outcomes ---------------------------------------------------------------------------


def comp(outcome: str) -> dict:
    return {"outcome": outcome, "effect": 0.01, "ci95": [-0.01, 0.03]}


COMP = {o: comp(o) for o in ("better", "worse", "equivalent", "inconclusive")}
SETTING = {"num_kv_pairs": 8, "seq_len": 32}


def claim(comparison="equivalent", metric="query_accuracy", **extra) -> dict:
    raw = {"id": "c", "metric": metric, "comparison": comparison, **extra}
    return claims._clean_claim(raw, 0)


def evaluate(c, outcome="equivalent", *, task="mqar", invalid=None, smoke=False,
             efficiency=None, setting=SETTING):  # fmt: skip
    (result,) = claims.evaluate([c], task=task, setting=setting, comparison=COMP.get(outcome),
                                efficiency=efficiency or {}, invalid_reason=invalid,
                                smoke=smoke)  # fmt: skip
    return result


@pytest.mark.parametrize(
    "says,outcome,expected",
    [
        ("better", "better", "supported"),
        ("better", "worse", "contradicted"),
        ("better", "equivalent", "contradicted"),
        ("better", "inconclusive", "inconclusive"),
        ("equivalent", "equivalent", "supported"),
        ("equivalent", "better", "supported"),
        ("equivalent", "worse", "contradicted"),
        ("equivalent", "inconclusive", "inconclusive"),
    ],
)
def test_claim_table(says, outcome, expected):
    r = evaluate(claim(says), outcome)
    assert r["outcome"] == expected, r
    assert r["evidence"] == {"effect": 0.01, "ci95": [-0.01, 0.03]}
    assert r["reason"]


@pytest.mark.parametrize("says", ["better", "equivalent"])
def test_invalid_and_smoke(says):
    r = evaluate(claim(says), "better", invalid="the baseline did not learn the task")
    assert (r["outcome"], r["reason"]) == ("invalid", "the baseline did not learn the task")
    r = evaluate(claim(says), "better", smoke=True)
    assert r["outcome"] == "inconclusive" and "smoke" in r["reason"]
    # a smoke run that found the model reads ahead: invalid, like its comparison
    r = evaluate(claim(says), "better", smoke=True, invalid="candidate is not causal")
    assert r["outcome"] == "invalid"


def test_untestable_claims():
    r = evaluate(claim(testable=False, why_untestable="needs 1.3B parameters"))
    assert (r["outcome"], r["reason"]) == ("untestable", "needs 1.3B parameters")
    # a condition the budget does not meet: untestable, even when the run is invalid
    r = evaluate(claim(min_kv_pairs=64), "better", invalid="baseline gate failed")
    assert r["outcome"] == "untestable" and "64" in r["reason"]
    assert evaluate(claim(min_kv_pairs=8), "better")["outcome"] == "supported"
    # a claim about the other task
    r = evaluate(claim(metric="bpb"), "better", task="mqar")
    assert r["outcome"] == "untestable" and "lm" in r["reason"]


EFF = {
    "candidate": {"train_tokens_per_s": 2000.0, "infer_tokens_per_s": {"32": 950.0},
                  "state_size": {"32": 100, "4096": 100}},
    "baseline": {"train_tokens_per_s": 1000.0, "infer_tokens_per_s": {"32": 1000.0},
                 "state_size": {"32": 3000, "4096": 400_000}},
}  # fmt: skip


@pytest.mark.parametrize(
    "metric,says,extra,expected",
    [
        ("train_tokens_per_s", "better", {}, "supported"),  # 2x
        ("infer_tokens_per_s", "better", {}, "contradicted"),  # 0.95x
        ("infer_tokens_per_s", "equivalent", {}, "supported"),  # within 10%
        ("state_size", "better", {"at_seq_len": 4096}, "supported"),  # smaller is better
        ("infer_tokens_per_s", "better", {"at_seq_len": 4096}, "untestable"),  # not measured
    ],
)
def test_efficiency_claims(metric, says, extra, expected):
    # efficiency does not depend on learning: judged even when the task comparison is invalid
    r = evaluate(claim(says, metric, **extra), "worse", efficiency=EFF, invalid="gate failed")
    assert r["outcome"] == expected, r


def test_state_size_claim_needs_a_declared_state():
    eff = {"candidate": {"state_size": None}, "baseline": EFF["baseline"]}
    r = evaluate(claim("better", "state_size"), efficiency=eff)
    assert r["outcome"] == "untestable" and "state_size" in r["reason"]
