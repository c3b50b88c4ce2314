"""SIGTERM mid-training: clean exit with a checkpoint (finished runs and each in-progress
run's worker state); a rerun resumes and ends where an uninterrupted run ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import BASED_TINY, run_train, subprocess_env
from paperfoundry_trainer.sagemaker import CHECKPOINT_FILE, load_checkpoint, save_checkpoint
from paperfoundry_trainer.spec import get_budget

pytestmark = pytest.mark.slow


# Loaded (as sitecustomize) by every process of the interrupted comparison, workers
# included: the candidate's worker waits at step 15 of its sweep run until the test says go.
# That pins the moment of the SIGTERM (tiny runs train in a fraction of a second) without
# changing any number: the baseline's run has finished, the candidate's is in progress.
PAUSE_HOOK = """
import importlib.abc
import importlib.machinery
import os
import sys
import time

PAUSE = os.environ["PF_TEST_PAUSE_DIR"]


def _patch(trainer_cls):
    step = trainer_cls.train_step

    def train_step(self):
        go = os.path.join(PAUSE, "go")
        if self.step == 15 and self.seed == 0 and type(self.model).__name__ != "ReferenceLM":
            open(os.path.join(PAUSE, "paused"), "w").close()
            while not os.path.exists(go):
                time.sleep(0.02)
        return step(self)

    trainer_cls.train_step = train_step


class _Hook(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "paperfoundry_trainer.train":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            _patch(module.Trainer)

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, _Hook())
"""


def wait_for(path, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.05)


def test_sigterm_checkpoints_and_resume_matches_uninterrupted(based_tiny, tmp_path):
    out, pause = tmp_path / "interrupted", tmp_path / "pause"
    ckdir = out / "checkpoints"
    pause.mkdir()
    (pause / "sitecustomize.py").write_text(PAUSE_HOOK)
    env = subprocess_env()
    env["PYTHONPATH"] = os.pathsep.join([str(pause), env["PYTHONPATH"]])
    env["PF_TEST_PAUSE_DIR"] = str(pause)
    cmd = [sys.executable, "-m", "paperfoundry_trainer", "train", *BASED_TINY, "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)  # fmt: skip
    seen = []
    try:
        for line in proc.stdout:  # the baseline's sweep run finishes...
            seen.append(line)
            if line.startswith("pf_eval model=baseline seed=0 "):
                break
        wait_for(pause / "paused")  # ...while the candidate's waits at step 15
        proc.send_signal(signal.SIGTERM)
        (pause / "go").touch()
        rest, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
        (pause / "go").touch()
    assert proc.returncode == 143, "".join(seen) + rest + err[-3000:]
    assert "pf_interrupted" in rest
    assert not (out / "metrics.json").exists()  # no result from an interrupted comparison
    state = load_checkpoint(ckdir)
    assert list(state["done"]) == ["baseline:lr=0.01:seed=0:val"]  # kept
    partials = list((ckdir / "partial").glob("**/*.pt"))
    assert [p.name for p in partials] == ["candidate_lr=0.01_seed=0_val.pt"]  # saved

    # The MQAR test set is drawn from a random seed per comparison (in the checkpoint). To
    # compare final results with the uninterrupted run's exactly, give this comparison the
    # same test seed: no test-split result exists yet, so nothing else depends on it.
    clean = load_checkpoint(based_tiny.out / "checkpoints")
    assert state["fingerprint"] == clean["fingerprint"]
    state["test_seed"] = clean["test_seed"]
    save_checkpoint(ckdir, state)

    resumed = run_train(BASED_TINY, out)
    assert resumed.rc == 0, resumed.stderr[-3000:]
    assert "resuming from checkpoint" in resumed.stderr and "1 runs done" in resumed.stderr
    # the candidate's run continued at step 20 (the end of the chunk it was training)
    assert "pf: candidate:lr=0.01:seed=0:val: resumed at step 20" in resumed.stderr
    assert "pf_metric model=candidate seed=0 lr=0.01 step=10 " not in resumed.stdout
    assert "pf_metric model=candidate seed=0 lr=0.01 step=30 " in resumed.stdout
    for key in state["done"]:  # finished runs were not trained again
        model, lr, seed, _ = key.split(":")
        assert f"pf_metric model={model} seed={seed[5:]} {lr} " not in resumed.stdout
    assert not list((ckdir / "partial").glob("**/*.pt"))  # finished runs leave no state

    a, b = resumed.metrics, based_tiny.metrics
    steps = get_budget("mqar", "tiny").steps
    assert a["steps"] == b["steps"] == steps
    # Same training: the same curves (up to CPU float rounding across processes), the same
    # validation results, and on the same test set the same final results.
    assert a["curves"].keys() == b["curves"].keys()
    for model, seeds in a["curves"].items():
        for seed, curve in seeds.items():
            assert curve["step"] == b["curves"][model][seed]["step"]
            assert curve["loss"] == pytest.approx(b["curves"][model][seed]["loss"], rel=1e-4)
    key = [(r["model"], r["lr"], r["seed"]) for r in a["sweep"]]
    assert key == [(r["model"], r["lr"], r["seed"]) for r in b["sweep"]]
    assert [r["value"] for r in a["sweep"]] == pytest.approx([r["value"] for r in b["sweep"]])
    for model, summ in a["models"].items():
        assert summ["seeds"] == b["models"][model]["seeds"]
        assert summ["values"] == pytest.approx(b["models"][model]["values"], abs=0.01)
    assert a["outcome"] == b["outcome"]
    assert torch.load(ckdir / CHECKPOINT_FILE, weights_only=True)["test_seed"] == clean["test_seed"]
