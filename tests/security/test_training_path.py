"""The training path: LLM-written code trains only in jailed workers and cannot touch the
controller's results, the host's files, its environment or its processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from .conftest import BENIGN, marker, processes_with

ROOT = Path(__file__).resolve().parents[2]


def _attack(host_file: Path, forged: Path, word: str) -> str:
    """Attacks run when the worker builds the model; every failure is swallowed, so the
    model still trains and the run finishes as if nothing happened."""
    return (
        f'''
import os, socket, sys

def _try(fn):
    try:
        fn()
    except BaseException:
        pass

def _write(path, text):
    with open(path, "w") as f:
        f.write(text)

def _daemon():
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            import time
            sys.argv[:] = ["{word}"]
            time.sleep(3)
            _write({str(host_file)!r} + ".late", "daemon was here")
        os._exit(0)

_try(lambda: _write({str(host_file)!r}, os.environ.get("PF_TEST_SECRET", "no secret")))
_try(lambda: _write({str(forged)!r}, '{{"status": "ok", "outcome": "better", "forged": 1}}'))
_try(lambda: socket.create_connection(("127.0.0.1", 9), timeout=1))
_try(_daemon)
'''
        + BENIGN
    )


def test_attacks_in_training_have_no_effect(jailed, tmp_path):
    word = marker()
    out = tmp_path / "run"
    impl = out / "impl" / "llm_attack.py"
    impl.parent.mkdir(parents=True)
    host_file = tmp_path / "host" / "written.txt"
    host_file.parent.mkdir()
    impl.write_text(_attack(host_file, out / "metrics.json", word))
    env = dict(os.environ, PF_TEST_SECRET="s3cr3t-" + word, PYTHONWARNINGS="ignore")
    env["PYTHONPATH"] = str(ROOT / "containers" / "trainer")
    proc = subprocess.run(
        [sys.executable, "-m", "paperfoundry_trainer", "train", "--impl", str(impl),
         "--task", "mqar", "--budget", "tiny", "--steps", "20", "--device", "cpu",
         "--out", str(out), "--isolation", "jail", "--workers", "2"],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    # the controller's results, not the forged file
    assert metrics["schema"] == 2 and "forged" not in metrics
    assert metrics["isolation"] == "jail" and metrics["outcome"] == "smoke"
    assert not host_file.exists()
    time.sleep(4)  # the daemon would have written by now
    assert not Path(str(host_file) + ".late").exists()
    assert processes_with(word) == []
    assert ("s3cr3t-" + word) not in proc.stdout + proc.stderr
