"""End-to-end `train` for the image and diffusion families and the optimizer contract: the
same CLI, controller and worker path as mqar/lm, at the tiny budget with one learning rate
and short runs (wiring, not verdicts: tiny is a smoke budget)."""

from __future__ import annotations

import os

import pytest
from conftest import LIBRARY, by_name, run_train, write_impl
from paperfoundry_trainer import jail
from paperfoundry_trainer.data import prepare_data

SHORT = ["--budget", "tiny", "--device", "cpu", "--steps", "20", "--seeds", "2"]

# A small convnet with a claim about the ResNet reference: the run trains the ViT baseline
# and the ResNet as well.
IMAGE_CANDIDATE = """
import torch
import torch.nn as nn

CLAIMS = [{"id": "vs-resnet", "statement": "as good as a ResNet", "task": "image",
           "metric": "accuracy", "comparison": "equivalent", "against": "resnet"}]


class Model(nn.Module):
    def __init__(self, spec, d):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(spec.channels, d, 3, padding=1), nn.BatchNorm2d(d))
        self.head = nn.Linear(d, spec.num_classes)

    def forward(self, x):
        return self.head(torch.relu(self.stem(x)).mean((2, 3)))


def build_model(spec):
    d = round((spec.param_budget - spec.num_classes) / (9 * spec.channels + 3 + spec.num_classes))
    return Model(spec, d)
"""


@pytest.mark.slow
def test_image_family_end_to_end(tmp_path):
    impl = write_impl(tmp_path, "convnet.py", IMAGE_CANDIDATE)
    run = run_train(["--impl", str(impl), "--task", "image", *SHORT, "--lrs", "1e-2"],
                    tmp_path / "out")  # fmt: skip
    assert run.rc == 0, run.stderr[-3000:]
    m = run.metrics
    assert m["status"] == "ok" and m["outcome"] == "smoke" and m["contract"] == "model"
    assert m["metric"] == {"name": "accuracy", "higher_is_better": True, "split": "test"}
    assert m["setting"]["dataset"] == "digits" and m["setting"]["image_size"] == 8
    assert set(m["models"]) == {"candidate", "baseline", "baseline:resnet"}
    assert all(0.0 <= v <= 1.0 for s in m["models"].values() for v in s["values"])
    assert [(c["model"], c["against"]) for c in m["comparisons"]] == [
        ("candidate", "baseline"), ("candidate", "baseline:resnet")]  # fmt: skip
    assert by_name(m["gates"], "independent:candidate")["passed"]
    assert {g["name"] for g in m["gates"]} >= {"baseline_competence",
                                               "baseline_competence:resnet"}  # fmt: skip
    assert m["efficiency"]["candidate"]["train_images_per_s"] > 0
    assert m["efficiency"]["baseline"]["flops_per_image"] > 0
    assert m["images_per_run"] == 20 * 32 and m["tokens_per_run"] is None
    assert m["claims"][0]["against"] == "resnet"
    assert "pf_verdict outcome=smoke" in run.stdout


@pytest.mark.slow
def test_diffusion_family_end_to_end_from_an_image_directory(tmp_path):
    """DiT (the library's reference) on a prepared image directory; in the jail when one
    works here, so the jailed worker reads the training split it is given."""
    assert prepare_data("digits", tmp_path / "digits") == 0
    isolation = "jail" if jail.probe() is None else "none"
    if isolation == "none" and os.environ.get("PAPERFOUNDRY_REQUIRE_JAIL") == "1":
        pytest.fail(f"no jail here: {jail.probe()}")
    dit, data = str(LIBRARY / "dit_2212_09748.py"), str(tmp_path / "digits")
    args = ["--impl", dit, "--task", "diffusion", *SHORT, "--lrs", "3e-3", "--data", data,
            "--isolation", isolation]  # fmt: skip
    run = run_train(args, tmp_path / "out")
    assert run.rc == 0, run.stderr[-3000:]
    m = run.metrics
    assert m["status"] == "ok" and m["isolation"] == isolation
    assert m["metric"]["name"] == "denoise_mse" and m["metric"]["higher_is_better"] is False
    assert m["baseline"]["config"]["conditioning"] == "in-context"  # BASELINE declared
    refs = m["references"]
    assert 0 < refs["linear"]["value"] < refs["pixelwise"]["value"] < 1
    gate = by_name(m["gates"], "baseline_competence")
    assert gate["threshold"] == pytest.approx(0.9 * refs["pixelwise"]["value"])
    assert set(m["models"]) == {"candidate", "ablation:without zero init", "baseline"}
    assert all(0 < v < 2 for s in m["models"].values() for v in s["values"])
    assert by_name(m["gates"], "independent:candidate")["passed"]
    assert m["setting"]["eval_timesteps"][0] == 50


@pytest.mark.slow
def test_optimizer_contract_end_to_end(tmp_path):
    args = ["--impl", str(LIBRARY / "lion_2302_06675.py"), "--task", "image", *SHORT,
            "--lrs", "1e-2"]  # fmt: skip
    run = run_train(args, tmp_path / "out")
    assert run.rc == 0, run.stderr[-3000:]
    m = run.metrics
    assert m["status"] == "ok" and m["contract"] == "optimizer"
    assert m["models"]["candidate"]["lr"] == pytest.approx(1e-3)  # lr_scale 0.1
    assert m["models"]["baseline"]["lr"] == pytest.approx(1e-2)
    assert m["params"]["candidate"]["total"] == m["params"]["baseline"]["total"]
    assert "AdamW" in m["baseline"]["name"] and "lion" in m["candidate_model"]["name"]
    eff = m["efficiency"]
    assert (
        eff["baseline"]["optimizer_state_floats"] == 2 * eff["candidate"]["optimizer_state_floats"]
    )  # AdamW keeps two moments, Lion one
    claims = {c["id"]: c["outcome"] for c in m["claims"]}
    assert claims["lm"] == "untestable" and claims["diffusion"] == "untestable"
    assert claims["image"] == "inconclusive"  # smoke budget: no verdict
    assert "vs baseline: SMOKE" in run.stdout and "AdamW baseline" in run.stdout
