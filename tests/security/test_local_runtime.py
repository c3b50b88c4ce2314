"""The local runtime's use of the jail: the implementer's validator, the local trainer and
`paperfoundry validate`; LLM-written code never runs without a jail unless opted in, loudly.
"""

from __future__ import annotations

import json
import os
import stat
import time
import uuid
from datetime import date
from importlib import resources
from pathlib import Path

import pytest
from paperfoundry.adapters.local import sandbox
from paperfoundry.adapters.local.sandbox import ALLOW_UNJAILED_ENV, SandboxValidator
from paperfoundry.adapters.local.subprocess_trainer import SubprocessTrainer
from paperfoundry.cli import EXIT_INVALID, EXIT_NOT_RUN, EXIT_OK, main
from paperfoundry.models import Implementation, TrainingRun
from paperfoundry_trainer import jail

from .conftest import BENIGN, marker, processes_with, require_jail

NO_JAIL = "bubblewrap (bwrap) is not installed; to enable: install bubblewrap"
NOT_RUN = f"not run: no isolation available ({NO_JAIL})"
LIBRARY_FILE = Path(str(resources.files("paperfoundry.library").joinpath("based_2402_18668.py")))


@pytest.fixture
def no_jail(monkeypatch):
    monkeypatch.setattr(jail, "probe", lambda: NO_JAIL)
    monkeypatch.delenv(ALLOW_UNJAILED_ENV, raising=False)


def canary(path: Path) -> str:
    """Implementation code that leaves a file on the host if it runs unjailed."""
    return f"open({str(path)!r}, 'w').write('ran')\n" + BENIGN


# -- the implementer's validator ------------------------------------------------------------


def test_without_a_jail_llm_code_is_not_run(no_jail, tmp_path):
    ran = tmp_path / "ran"
    validator = SandboxValidator("tiny", 60)
    failure = validator.validate(canary(ran), "llm_x.py", "mqar")
    assert failure is not None and failure.stage == "isolation"
    assert failure.type == "IsolationUnavailable" and failure.message == NOT_RUN
    assert validator.unavailable == NOT_RUN
    assert "no isolation available" in validator.name
    assert not ran.exists()


def test_the_opt_in_runs_it_unjailed_and_says_so(no_jail, monkeypatch, tmp_path, capfd):
    monkeypatch.setenv(ALLOW_UNJAILED_ENV, "1")
    validator = SandboxValidator("tiny", 120)
    assert validator.unavailable is None and "WITHOUT a jail" in validator.name
    ran = tmp_path / "ran"
    assert validator.validate(canary(ran), "llm_x.py", "mqar") is None
    assert ran.exists()  # it really ran, outside any jail
    assert "WARNING" in capfd.readouterr().err  # printed at each run (training too, below)


def test_with_a_jail_llm_code_validates_inside_it(tmp_path):
    require_jail()
    ran = tmp_path / "ran"
    result = SandboxValidator("tiny", 120).check(canary(ran), "llm_x.py", "mqar")
    assert not result["ok"] and result["failure"]["type"] == "FileNotFoundError", result
    assert not ran.exists()  # the host's directory is not even visible from the jail
    assert "bubblewrap jail" in sandbox.describe() and "no network" in sandbox.describe()


# -- the local trainer ----------------------------------------------------------------------


def run_for() -> TrainingRun:
    day = date(2026, 11, 20)
    return TrainingRun(run_id="pf-20261120-jail-mqar", arxiv_id="2402.18668", day=day,
                       task="mqar", budget="tiny", backend="local")  # fmt: skip


def implementation(provenance: str) -> Implementation:
    return Implementation(arxiv_id="2402.18668", status="implemented", name="x",
                          task="mqar", file_name="llm_x.py", source_code=BENIGN,
                          provenance=provenance)  # fmt: skip


def fake_harness(tmp_path: Path, body: str = "exit 1") -> tuple[Path, Path]:
    """A stand-in for `python -m paperfoundry_trainer train ...` that records how it was run."""
    record = tmp_path / "record"
    script = tmp_path / "fake-python"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {record}\nenv >> {record}\n{body}\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script, record


@pytest.mark.parametrize(
    ("provenance", "expected"), [("llm", "jail"), ("reference", "none")], ids=["llm", "reference"]
)
def test_the_harness_is_told_how_to_isolate(monkeypatch, tmp_path, provenance, expected):
    monkeypatch.setattr(jail, "probe", lambda: None)  # the command line, not a real run
    secret = f"pfsecret-{uuid.uuid4().hex}"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    python, record = fake_harness(tmp_path)
    trainer = SubprocessTrainer(tmp_path / "runs", device="cpu", echo=lambda line: None,
                                python=str(python))  # fmt: skip
    run = trainer.submit(run_for(), implementation(provenance))
    assert run.status == "failed" and "harness exited with code 1" in run.error
    args = record.read_text().splitlines()
    assert args[:3] == ["-m", "paperfoundry_trainer", "train"]
    assert args[args.index("--isolation") + 1] == expected
    if provenance == "llm":  # the trusted harness still gets no credentials for LLM code
        assert secret not in record.read_text()


def test_without_a_jail_llm_code_is_not_trained(no_jail, tmp_path):
    python, record = fake_harness(tmp_path)
    trainer = SubprocessTrainer(tmp_path / "runs", device="cpu", echo=lambda line: None,
                                python=str(python))  # fmt: skip
    run = trainer.submit(run_for(), implementation("llm"))
    assert run.status == "failed" and run.error == NOT_RUN
    assert not record.exists()  # the harness was never started
    assert not (tmp_path / "runs").exists()  # nor was the code written anywhere
    # shipped reference code is trusted: it still runs where no jail exists
    trainer.submit(run_for(), implementation("reference"))
    assert record.exists()


def test_the_opt_in_trains_unjailed_loudly(no_jail, monkeypatch, tmp_path, capfd):
    monkeypatch.setenv(ALLOW_UNJAILED_ENV, "1")
    python, record = fake_harness(tmp_path)
    trainer = SubprocessTrainer(tmp_path / "runs", device="cpu", echo=lambda line: None,
                                python=str(python))  # fmt: skip
    trainer.submit(run_for(), implementation("llm"))
    args = record.read_text().splitlines()
    assert args[args.index("--isolation") + 1] == "none"
    assert "WITHOUT a jail" in capfd.readouterr().err


def test_a_grandchild_holding_the_harness_output_does_not_hang_it(tmp_path):
    word = marker()
    # a background process that inherits the output pipe, named by `word`
    python, _ = fake_harness(tmp_path, f"sh -c 'sleep 300' {word} &\necho started\nexit 1")
    trainer = SubprocessTrainer(tmp_path / "runs", device="cpu", echo=lambda line: None,
                                python=str(python))  # fmt: skip
    started = time.monotonic()
    run = trainer.submit(run_for(), implementation("reference"))
    assert time.monotonic() - started < 15
    assert run.status == "failed" and "started" in run.error
    assert processes_with(word) == []


def test_timeout_kills_the_harness_group_even_if_it_ignores_sigterm(tmp_path):
    word = marker()
    body = f"trap '' TERM\nsh -c 'sleep 300' {word} &\nwhile true; do sleep 0.2; done"
    python, _ = fake_harness(tmp_path, body)
    trainer = SubprocessTrainer(tmp_path / "runs", device="cpu", echo=lambda line: None,
                                python=str(python), timeout_minutes=2 / 60,
                                grace_seconds=1)  # fmt: skip
    started = time.monotonic()
    run = trainer.submit(run_for(), implementation("reference"))
    assert time.monotonic() - started < 12
    assert run.status == "stopped" and "timed out" in run.error
    assert processes_with(word) == []


# -- paperfoundry validate ------------------------------------------------------------------


def test_validate_command_accepts_a_valid_file(capsys):
    require_jail()
    code = main(["validate", "--impl", str(LIBRARY_FILE), "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == EXIT_OK and result["ok"] and result["ran"]
    assert result["params"] > 0 and "bubblewrap jail" in result["checked_by"]


def test_validate_command_rejects_an_invalid_file(tmp_path, capsys):
    require_jail()
    impl = tmp_path / "small.py"
    impl.write_text("import torch.nn as nn\n\n\ndef build_model(spec):\n    return nn.Linear(2, 2)")
    assert main(["validate", "--impl", str(impl)]) == EXIT_INVALID
    out = capsys.readouterr().out
    assert "invalid: stage budget, BudgetError" in out


def test_validate_command_rejects_forbidden_code_before_running_it(tmp_path, capsys):
    impl = tmp_path / "bad.py"
    impl.write_text("import os\n\nos.system('id')\n\n\ndef build_model(spec):\n    return None\n")
    assert main(["validate", "--impl", str(impl), "--json"]) == EXIT_INVALID
    result = json.loads(capsys.readouterr().out)
    assert result["failure"]["stage"] == "static" and result["ran"] is False


def test_validate_command_without_a_jail_says_not_run(no_jail, capsys):
    assert main(["validate", "--impl", str(LIBRARY_FILE)]) == EXIT_NOT_RUN
    assert NOT_RUN in capsys.readouterr().out


def test_validate_command_reports_a_missing_file(tmp_path, capsys):
    assert main(["validate", "--impl", str(tmp_path / "nope.py")]) == 1
    assert "nope.py" in capsys.readouterr().err


def test_jail_is_the_default_for_validation(no_jail, tmp_path):
    from paperfoundry_trainer.spec import get_budget
    from paperfoundry_trainer.validate import validate_in_subprocess

    ran = tmp_path / "ran"
    impl = tmp_path / "impl.py"
    impl.write_text(canary(ran))
    result = validate_in_subprocess(impl, get_budget("mqar", "tiny").spec, "cpu", 60)
    assert result["failure"]["stage"] == "isolation" and not ran.exists()
    assert os.environ.get(ALLOW_UNJAILED_ENV) is None
