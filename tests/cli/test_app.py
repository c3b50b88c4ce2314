"""The app itself: version, help, completion, the exit-code table, the harness's options,
and that the Lambda handlers never import it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import typer
from paperfoundry.cli import ExitCode, app
from paperfoundry_trainer.cli import build_parser
from paperfoundry_trainer.exitcodes import MEANING

ROOT = Path(__file__).resolve().parents[2]


def test_version(pf):
    code, out, _ = pf("--version")
    assert code == ExitCode.OK and re.fullmatch(
        r"paperfoundry \S+ \(harness \S+, Python \S+\)\n", out
    )


def test_help_is_exit_0_and_a_bare_call_shows_it(pf):
    code, out, _ = pf("run", "--help")
    assert code == ExitCode.OK and "--only" in out and "--offline-fallback" in out
    code, out, _ = pf()
    assert code == ExitCode.USAGE and "run" in out and "show" in out


def test_every_exit_code_is_documented_once():
    text = (ROOT / "docs" / "CLI.md").read_text()
    rows = re.findall(r"^\| (\d+) \| ([A-Z_]+) \| ", text, re.MULTILINE)
    assert [(int(c), n) for c, n in rows] == [(int(c), c.name) for c in ExitCode]
    assert set(MEANING) == set(ExitCode)


def test_train_takes_the_harness_options():
    harness = build_parser()
    sub = next(a for a in harness._actions if a.dest == "command").choices["train"]
    harness_opts = {o for a in sub._actions for o in a.option_strings} - {"-h", "--help"}
    command = typer.main.get_command(app).commands["train"]
    ours = {o for p in command.params for o in p.opts} - {"-h", "--help"}
    assert ours == harness_opts | {"--backend"}  # where to train: ours only


def test_choices_are_the_harness_choices():
    from paperfoundry.cli.app import Budget, Device, Task
    from paperfoundry_trainer.cli import DEVICES
    from paperfoundry_trainer.spec import BUDGET_NAMES, TASKS

    assert [b.value for b in Budget] == list(BUDGET_NAMES)
    assert [t.value for t in Task] == list(TASKS)
    assert [d.value for d in Device] == list(DEVICES)


def test_shell_completion(monkeypatch, capsys):
    from paperfoundry.cli import main

    code = main(["--show-completion", "bash"])
    assert code == ExitCode.OK and "_PAPERFOUNDRY_COMPLETE" in capsys.readouterr().out
    env = {"_PAPERFOUNDRY_COMPLETE": "complete_bash", "COMP_WORDS": "paperfoundry run --budget ",
           "COMP_CWORD": "3"}  # fmt: skip
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main([]) == ExitCode.OK
    assert capsys.readouterr().out.split() == ["tiny", "small", "medium", "large"]


def test_the_lambda_handlers_never_import_the_cli():
    code = (
        "import sys\n"
        "import handlers.steps, handlers.rank, handlers.start, handlers.watchdog, handlers.slack\n"
        "names = ('typer', 'paperfoundry.cli', 'paperfoundry.runner')\n"
        "bad = [m for m in names if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    env_path = f"{ROOT / 'lambdas'}:{ROOT / 'containers' / 'trainer'}"
    proc = subprocess.run([sys.executable, "-c", code], env={"PYTHONPATH": env_path},
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def test_validate_trusted_is_the_harness_validation_without_a_jail(pf, tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("import torch\nraise RuntimeError('not a model')\n")
    code, out, _ = pf("validate", "--trusted", "--impl", broken, "--json")
    result = json.loads(out)
    assert code == ExitCode.INVALID_IMPL and result["ran"] and not result["ok"]
    assert result["failure"]["stage"] == "import" and "no jail" in result["checked_by"]
