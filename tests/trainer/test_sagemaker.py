"""SageMaker mode: the /opt/ml contract in a tmp tree, string hyperparameters, channels."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from conftest import BASED, make_opt_ml
from paperfoundry_trainer.cli import main
from paperfoundry_trainer.sagemaker import CHECKPOINT_FILE, hyperparameters


def opt_ml(tmp_path, monkeypatch, impl, hps):
    return make_opt_ml(tmp_path / "opt_ml", monkeypatch, impl, hps)


def test_hyperparameters_are_parsed_from_strings(tmp_path, monkeypatch):
    opt_ml(
        tmp_path,
        monkeypatch,
        BASED,
        {"steps": "20", "lrs": "[0.001, 0.01]", "compile": "false", "task": "mqar", "x": "1e-3"},
    )
    hp = hyperparameters()
    assert hp == {"steps": 20, "lrs": [0.001, 0.01], "compile": False, "task": "mqar", "x": 0.001}
    monkeypatch.setenv("SM_HPS", json.dumps({"steps": "7"}))
    assert hyperparameters() == {"steps": 7}


@pytest.mark.slow
def test_sagemaker_mode_lm_tiny_offline_end_to_end(lm_tiny_sagemaker):
    """No data channel: `lm` trains on the built-in corpus; tiny finishes and writes every
    SageMaker output. (Its candidate reads ahead: test_verdicts.py checks that verdict.)"""
    run, root, m = lm_tiny_sagemaker, lm_tiny_sagemaker.root, lm_tiny_sagemaker.metrics
    assert run.rc == 0, run.stderr[-3000:]
    assert m["schema"] == 2 and m["status"] == "ok" and m["failure"] is None
    assert (m["task"], m["budget"], m["steps"], m["impl"]) == ("lm", "tiny", 10, "peek.py")
    assert m["metric"] == {"name": "bpb", "higher_is_better": False, "split": "test"}
    assert m["verdict"]["toy_scale"] is True  # paper_params 1.3B
    assert set(m["models"]) == {"candidate", "baseline", "control"}
    assert m["models"]["candidate"]["seeds"] == [1, 2] and m["models"]["baseline"]["lr"] == 0.003
    assert all(0 < v < 9 for s in m["models"].values() for v in s["values"])
    assert (root / "output" / "data" / "metrics.json").read_text() == (
        root / "model" / "metrics.json"
    ).read_text()
    assert (root / "checkpoints" / CHECKPOINT_FILE).is_file()
    assert not (root / "output" / "failure").exists()
    assert "built-in corpus" in run.stderr and (run.corpus / "test.bin").is_file()
    assert not list((root / "model").glob("**/*.bin"))  # the corpus is not a model artifact
    assert re.search(r"^pf_verdict outcome=\w+ effect=", run.stdout, re.M)


def test_sagemaker_failure_file(tmp_path, monkeypatch):
    bad = tmp_path / "bad_impl.py"
    bad.write_text("def build_model(spec):\n    return None\n")
    root = opt_ml(tmp_path, monkeypatch, bad, {"task": "mqar", "budget": "tiny"})
    assert main(["sagemaker"]) == 2
    text = (root / "output" / "failure").read_text()
    assert "stage: build" in text and "ContractError" in text and "bad_impl.py" in text
    m = json.loads((root / "model" / "metrics.json").read_text())
    assert m["schema"] == 2 and m["status"] == "failed" and m["failure"]["stage"] == "build"
    assert (root / "output" / "data" / "metrics.json").is_file()


def test_sagemaker_missing_impl_channel(tmp_path, monkeypatch):
    root = opt_ml(tmp_path, monkeypatch, BASED, {"task": "mqar"})
    monkeypatch.setenv("SM_CHANNEL_IMPL", str(tmp_path / "nowhere"))
    shutil.rmtree(root / "input" / "data" / "impl")
    assert main([]) == 1
    assert "impl" in (root / "output" / "failure").read_text()


def test_sagemaker_bad_hyperparameter_is_a_setup_failure(tmp_path, monkeypatch):
    root = opt_ml(tmp_path, monkeypatch, BASED, {"task": "mqar", "budget": "enormous"})
    assert main([]) == 1
    assert "enormous" in (root / "output" / "failure").read_text()


def test_sagemaker_single_lr_hyperparameter(tmp_path, monkeypatch):
    bad = tmp_path / "bad_impl.py"  # fails validation: the run itself stays short
    bad.write_text("def build_model(spec):\n    return None\n")
    opt_ml(tmp_path, monkeypatch, bad, {"task": "mqar", "budget": "tiny", "lrs": "0.003"})
    assert main([]) == 2
