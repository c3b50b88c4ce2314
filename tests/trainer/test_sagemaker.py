"""SageMaker mode: /opt/ml contract in a tmp tree, string hyperparameters, channels."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import BASED, TOKENFORMER, make_corpus
from paperfoundry_trainer.cli import main
from paperfoundry_trainer.sagemaker import CHECKPOINT_FILE, hyperparameters


def opt_ml(tmp_path, monkeypatch, impl, hps, data=False):
    root = tmp_path / "opt_ml"
    (root / "input" / "config").mkdir(parents=True)
    (root / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hps))
    impl_dir = root / "input" / "data" / "impl"
    impl_dir.mkdir(parents=True)
    shutil.copy(impl, impl_dir / impl.name)
    monkeypatch.setenv("PF_OPT_ML", str(root))
    for var in ("SM_HPS", "SM_MODEL_DIR", "SM_OUTPUT_DATA_DIR", "SM_CHANNEL_DATA"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SM_CHANNEL_IMPL", str(impl_dir))
    monkeypatch.setenv("SM_MODEL_DIR", str(root / "model"))
    if data:
        monkeypatch.setenv("SM_CHANNEL_DATA", str(make_corpus(root / "input" / "data" / "data")))
    return root


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


@pytest.mark.parametrize("task,impl", [("mqar", BASED), ("lm", TOKENFORMER)])
def test_sagemaker_mode_end_to_end(task, impl, tmp_path, monkeypatch):
    root = opt_ml(
        tmp_path,
        monkeypatch,
        impl,
        {
            "task": task,
            "budget": "tiny",
            "steps": "20",
            "seeds": "2",
            "device": "cpu",
            "paper_params": "1300000000",
            "lrs": "0.001,0.003,0.01",
        },
        data=task == "lm",
    )
    assert main([]) == 0
    m = json.loads((root / "model" / "metrics.json").read_text())
    assert m["status"] == "ok" and m["task"] == task and m["steps"] == 20
    assert m["metric"]["name"] == ("val_bpb" if task == "lm" else "query_accuracy")
    assert m["verdict"]["toy_scale"] is True
    assert (root / "model" / "loss_curves.png").is_file()
    assert (root / "output" / "data" / "metrics.json").is_file()
    assert (root / "checkpoints" / CHECKPOINT_FILE).is_file()
    assert not (root / "output" / "failure").exists()


def test_sagemaker_failure_file(tmp_path, monkeypatch):
    bad = tmp_path / "bad_impl.py"
    bad.write_text("def build_model(spec):\n    return None\n")
    root = opt_ml(tmp_path, monkeypatch, bad, {"task": "mqar", "budget": "tiny"})
    assert main(["sagemaker"]) == 2
    text = (root / "output" / "failure").read_text()
    assert "stage: build" in text and "ContractError" in text
    m = json.loads((root / "model" / "metrics.json").read_text())
    assert m["status"] == "failed" and m["failure"]["stage"] == "build"


def test_sagemaker_missing_impl_channel(tmp_path, monkeypatch):
    root = opt_ml(tmp_path, monkeypatch, BASED, {"task": "mqar"})
    monkeypatch.setenv("SM_CHANNEL_IMPL", str(tmp_path / "nowhere"))
    shutil.rmtree(root / "input" / "data" / "impl")
    assert main([]) == 1
    assert "impl" in (root / "output" / "failure").read_text()
