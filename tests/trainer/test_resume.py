"""SIGTERM mid-training: clean exit + checkpoint; a rerun resumes and matches a clean run."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
from conftest import BASED, subprocess_env
from paperfoundry_trainer.sagemaker import CHECKPOINT_FILE

ARGS = [
    "--impl",
    str(BASED),
    "--task",
    "mqar",
    "--budget",
    "tiny",
    "--device",
    "cpu",
    "--steps",
    "80",
    "--lrs",
    "1e-3,3e-3,1e-2",
]


def train_cmd(out):
    return [sys.executable, "-m", "paperfoundry_trainer", "train", *ARGS, "--out", str(out)]


def test_sigterm_checkpoints_and_resume_matches_uninterrupted(tmp_path):
    out = tmp_path / "interrupted"
    proc = subprocess.Popen(
        train_cmd(out),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=subprocess_env(),
    )
    seen = []
    for line in proc.stdout:  # wait until training is under way (2nd run, mid-run)
        seen.append(line)
        if line.startswith("pf_metric model=baseline seed=0 lr=0.003 step=20"):
            proc.send_signal(signal.SIGTERM)
            break
    rest = proc.communicate(timeout=120)[0]
    assert proc.returncode == 143, "".join(seen) + rest
    assert "pf_interrupted" in rest
    assert (out / "checkpoints" / CHECKPOINT_FILE).is_file()
    assert not (out / "metrics.json").exists()

    resumed = subprocess.run(
        train_cmd(out), capture_output=True, text=True, timeout=300, env=subprocess_env()
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from checkpoint" in resumed.stderr
    # the interrupted run continued from its checkpoint, not from step 0
    assert "model=baseline seed=0 lr=0.003 step=10 " not in resumed.stdout
    assert "model=baseline seed=0 lr=0.003 step=30 " in resumed.stdout

    clean = subprocess.run(
        train_cmd(tmp_path / "clean"),
        capture_output=True,
        text=True,
        timeout=300,
        env=subprocess_env(),
    )
    assert clean.returncode == 0, clean.stderr[-3000:]

    a = json.loads((out / "metrics.json").read_text())
    b = json.loads((tmp_path / "clean" / "metrics.json").read_text())
    assert a["steps"] == b["steps"] == 80
    # Same steps and, up to CPU BLAS rounding (results can differ in the last bits with
    # memory alignment, which a resumed process does not reproduce), the same losses.
    assert a["curves"].keys() == b["curves"].keys()
    for model, seeds in a["curves"].items():
        for seed, curve in seeds.items():
            assert curve["step"] == b["curves"][model][seed]["step"]
            assert curve["loss"] == pytest.approx(b["curves"][model][seed]["loss"], rel=1e-3)
    assert [r["value"] for r in a["sweep"]] == pytest.approx(
        [r["value"] for r in b["sweep"]], abs=0.02
    )
    assert a["verdict"]["outcome"] == b["verdict"]["outcome"]
