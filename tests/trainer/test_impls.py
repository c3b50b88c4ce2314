"""Reference implementations and the baseline validate and hit their budgets."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import BASED, LIBRARY, TOKENFORMER
from paperfoundry_trainer.baseline import build_baseline, count_params, size_to_budget
from paperfoundry_trainer.spec import BUDGET_NAMES, TASKS, get_budget
from paperfoundry_trainer.validate import check_impl, load_impl


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("impl", [BASED, TOKENFORMER], ids=["based", "tokenformer"])
def test_reference_impls_validate(impl, task):
    spec = get_budget(task, "tiny").spec
    result = check_impl(impl, spec)
    assert result["ok"], result
    assert abs(result["params"] - spec.param_budget) <= 0.15 * spec.param_budget


@pytest.mark.parametrize("budget", BUDGET_NAMES)
@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("impl", [BASED, TOKENFORMER], ids=["based", "tokenformer"])
def test_reference_impls_hit_every_budget(impl, task, budget):
    spec = get_budget(task, budget).spec
    module = load_impl(impl)
    with torch.device("meta"):  # sizes only, no memory
        model = module.build_model(spec)
    n = sum(p.numel() for p in model.parameters())
    assert abs(n - spec.param_budget) <= 0.15 * spec.param_budget, (n, spec.param_budget)


@pytest.mark.parametrize("budget", BUDGET_NAMES)
@pytest.mark.parametrize("task", TASKS)
def test_baseline_hits_budget(task, budget):
    spec = get_budget(task, budget).spec
    cfg = size_to_budget(spec)
    assert abs(count_params(cfg) - spec.param_budget) <= 0.05 * spec.param_budget
    if budget in ("tiny", "small"):
        model = build_baseline(spec)
        assert sum(p.numel() for p in model.parameters()) == count_params(cfg)


def test_baseline_validates_as_an_impl(tmp_path):
    impl = tmp_path / "gpt.py"
    impl.write_text(
        "from paperfoundry_trainer.baseline import build_baseline\n\n"
        "def build_model(spec):\n    return build_baseline(spec)\n"
    )
    assert check_impl(impl, get_budget("lm", "tiny").spec)["ok"]


def test_based_chunked_scan_matches_full_quadratic_form():
    based = load_impl(BASED)
    g = torch.Generator().manual_seed(0)
    fq, fk = torch.rand(2, 2, 150, 5, generator=g), torch.rand(2, 2, 150, 5, generator=g)
    v = torch.randn(2, 2, 150, 3, generator=g)
    chunked = based.causal_linear_attention(fq, fk, v, chunk=64)
    full = based.causal_linear_attention(fq, fk, v, chunk=1000)
    torch.testing.assert_close(chunked, full, rtol=1e-4, atol=1e-5)


def test_catalog_lists_the_reference_files():
    catalog = json.loads((LIBRARY / "catalog.json").read_text())
    assert {e["arxiv_id"] for e in catalog} == {"2402.18668", "2410.23168"}
    for entry in catalog:
        assert (LIBRARY / entry["file"]).is_file()
        assert entry["task"] in TASKS and set(entry["tasks"]) <= set(TASKS)
        assert entry["paper_params"] > 0 and entry["paper_title"]


def test_readme_minimal_example_is_a_valid_impl(tmp_path):
    import re

    from conftest import TRAINER_ROOT

    text = (TRAINER_ROOT / "README.md").read_text()
    example = next(c for c in re.findall(r"```python\n(.*?)```", text, re.S) if "Model(" in c)
    impl = tmp_path / "example.py"
    impl.write_text(example)
    for task in TASKS:
        assert check_impl(impl, get_budget(task, "small").spec)["ok"]
