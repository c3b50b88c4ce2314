"""Exit codes of every paperfoundry command: `paperfoundry ...` and the harness's own
`python -m paperfoundry_trainer ...` (SageMaker, the local trainer's child process).

Defined once, here (the harness's package is the one both sides import; the container has
nothing else). Each code means one thing, whichever command returns it; docs/CLI.md lists
them and a test keeps that table equal to this one.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    INVALID_IMPL = 2
    RUNS_FAILED = 3
    NOT_RUN = 4
    USAGE = 64
    CONFIG = 78
    INTERRUPTED = 130
    STOPPED = 143


MEANING: dict[ExitCode, str] = {
    ExitCode.OK: "done",
    ExitCode.FAILED: (
        "the command could not do its job: every paper source failed (without "
        "--offline-fallback), a harness or setup error, a file, day or paper it was given "
        "does not exist"
    ),
    ExitCode.INVALID_IMPL: (
        "the implementation is invalid: the static checks or the harness's validation "
        "rejected it (validate, train)"
    ),
    ExitCode.RUNS_FAILED: (
        "the day completed, but a training run failed or was stopped (run; details in the report)"
    ),
    ExitCode.NOT_RUN: (
        "the implementation could not be checked here: no isolation (bubblewrap) for "
        "LLM-written code (validate)"
    ),
    ExitCode.USAGE: (
        "bad command line: unknown command or option, a value out of its choices, a "
        "missing argument, options that cannot go together, a day in the future"
    ),
    ExitCode.CONFIG: (
        "the configuration is invalid or incomplete: unreadable file, unknown key, value "
        "out of range, the configured LLM provider's credentials missing, CUDA asked for "
        "where there is none"
    ),
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C)",
    ExitCode.STOPPED: (
        "training stopped by SIGTERM after saving a checkpoint; run it again to resume (train)"
    ),
}
