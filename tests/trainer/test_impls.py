"""Reference implementations validate and fit every budget; the baseline matches a
candidate's parameter count."""

from __future__ import annotations

import json
import re

import pytest
import torch
from conftest import BASED, LIBRARY, TOKENFORMER, TRAINER_ROOT
from paperfoundry_trainer import baseline as ref
from paperfoundry_trainer.spec import BUDGET_NAMES, SEQUENCE_TASKS, TASKS, get_budget
from paperfoundry_trainer.validate import check_impl, load_impl


@pytest.mark.parametrize("task", SEQUENCE_TASKS)
@pytest.mark.parametrize("impl", [BASED, TOKENFORMER], ids=["based", "tokenformer"])
def test_reference_impls_validate(impl, task):
    spec = get_budget(task, "tiny").spec
    result = check_impl(impl, spec)
    assert result["ok"], result
    assert abs(result["params"] - spec.param_budget) <= 0.15 * spec.param_budget


@pytest.mark.parametrize("budget", BUDGET_NAMES)
@pytest.mark.parametrize("task", SEQUENCE_TASKS)
@pytest.mark.parametrize("impl", [BASED, TOKENFORMER], ids=["based", "tokenformer"])
def test_reference_impls_hit_every_budget(impl, task, budget):
    spec = get_budget(task, budget).spec
    module = load_impl(impl)
    with torch.device("meta"):  # sizes only, no memory
        model = module.build_model(spec)
    n = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert abs(n - spec.param_budget) <= 0.15 * spec.param_budget, (n, spec.param_budget)


# (task, budget, short conv, target as a fraction of the budget): candidates may sit
# anywhere in the +-15% band, and BASED declares a kernel-3 conv for the baseline.
SIZING = [
    ("mqar", "tiny", 3, 1.0),
    ("mqar", "tiny", 3, 0.87),
    ("mqar", "tiny", 0, 1.13),
    ("mqar", "small", 3, 1.0),
    ("mqar", "small", 0, 0.87),
    ("mqar", "small", 3, 1.13),
    ("lm", "tiny", 0, 1.0),
    ("lm", "tiny", 0, 0.87),
    ("lm", "tiny", 0, 1.13),
    ("lm", "small", 0, 1.0),
]


@pytest.mark.parametrize("task,budget,conv,frac", SIZING)
def test_baseline_is_sized_to_the_candidate_within_2_percent(task, budget, conv, frac):
    spec = get_budget(task, budget).spec
    target = int(spec.param_budget * frac)
    cfg = ref.size_to(task, spec, target, conv)
    n = ref.count_params(cfg)
    assert abs(n - target) <= ref.MATCH_TOLERANCE * target, (cfg, n, target)
    assert cfg.short_conv == conv and cfg.vocab_size == spec.vocab_size
    if task == "mqar":  # Zoology: two layers of single-head attention, no MLP
        assert (cfg.kind, cfg.n_layer, cfg.n_head, cfg.mlp) == ("attention", 2, 1, False)
    else:
        assert (cfg.kind, cfg.mlp) == ("gpt", True)
    if budget == "tiny":  # the count on the meta device is the real model's count
        model = ref.build(cfg.to_dict())
        assert sum(p.numel() for p in model.parameters() if p.requires_grad) == n


@pytest.mark.parametrize("budget", ["medium", "large"])
@pytest.mark.parametrize("task", SEQUENCE_TASKS)
def test_big_baselines_split_their_width_evenly_across_heads(task, budget):
    """lm medium once chose d_model 368 for 6 heads, which cannot be built."""
    spec = get_budget(task, budget).spec
    cfg = ref.size_to(task, spec, spec.param_budget)
    assert cfg.d_model % cfg.n_head == 0, cfg
    assert abs(ref.count_params(cfg) - spec.param_budget) <= ref.MATCH_TOLERANCE * spec.param_budget
    with torch.device("meta"):  # shapes only: a forward pass without memory
        model = ref.build(cfg.to_dict())
        logits = model(torch.zeros(2, spec.seq_len, dtype=torch.long))
    assert logits.shape == (2, spec.seq_len, spec.vocab_size)


@pytest.mark.parametrize("task", SEQUENCE_TASKS)
def test_control_cannot_mix_positions(task):
    spec = get_budget(task, "tiny").spec
    cfg = ref.control_for(spec, spec.param_budget)
    assert cfg.kind == "control"
    model = ref.build(cfg).eval()
    k = spec.seq_len // 2
    x = torch.randint(0, spec.vocab_size, (3, spec.seq_len))
    x2 = torch.randint(0, spec.vocab_size, (3, spec.seq_len))
    x2[:, k] = x[:, k]
    with torch.no_grad():  # position k sees token k only, whatever comes before or after
        torch.testing.assert_close(model(x)[:, k], model(x2)[:, k])
    assert ref.count_params(cfg) <= 1.2 * spec.param_budget


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
    assert {e["arxiv_id"] for e in catalog} == {
        "2402.18668", "2410.23168", "2106.14881", "2212.09748", "2302.06675"}  # fmt: skip
    for entry in catalog:
        assert (LIBRARY / entry["file"]).is_file()
        assert entry["task"] in TASKS and set(entry["tasks"]) <= set(TASKS)
        assert entry["paper_params"] > 0 and entry["paper_title"]


@pytest.mark.parametrize("task", SEQUENCE_TASKS)
def test_readme_minimal_example_is_a_valid_impl(task, tmp_path):
    text = (TRAINER_ROOT / "README.md").read_text()
    example = next(c for c in re.findall(r"```python\n(.*?)```", text, re.S) if "Model(" in c)
    impl = tmp_path / "example.py"
    impl.write_text(example)
    result = check_impl(impl, get_budget(task, "tiny").spec)
    assert result["ok"], result
