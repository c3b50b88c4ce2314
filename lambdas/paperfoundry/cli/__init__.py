"""`paperfoundry` command line: run a day, look at past days, train or validate one
implementation, print and check the config. docs/CLI.md has the commands, options, exit
codes, config lookup and shell completion.

Local only: typer is imported here and nowhere the Lambda handlers reach.
"""

from __future__ import annotations

from paperfoundry_trainer.exitcodes import MEANING, ExitCode

from .app import app, main

# The exit codes under their older names (ExitCode is the one definition).
EXIT_OK = ExitCode.OK
EXIT_ERROR = ExitCode.FAILED
EXIT_INVALID = ExitCode.INVALID_IMPL
EXIT_RUNS_FAILED = ExitCode.RUNS_FAILED
EXIT_NOT_RUN = ExitCode.NOT_RUN
EXIT_USAGE = ExitCode.USAGE
EXIT_CONFIG = ExitCode.CONFIG

__all__ = [
    "EXIT_CONFIG",
    "EXIT_ERROR",
    "EXIT_INVALID",
    "EXIT_NOT_RUN",
    "EXIT_OK",
    "EXIT_RUNS_FAILED",
    "EXIT_USAGE",
    "MEANING",
    "ExitCode",
    "app",
    "main",
]
