"""`paperfoundry` command line: run a day, train or validate one implementation, print the
config."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

EXIT_OK, EXIT_ERROR, EXIT_RUNS_FAILED = 0, 1, 3
# `validate`: the file is invalid / it could not be run here (no jail)
EXIT_INVALID, EXIT_NOT_RUN = 2, 3


def _parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="paperfoundry",
        description="Scrape, rank, implement and train the day's best ML papers.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a whole day locally (SQLite, filesystem, local trainer)")
    run.add_argument("--date", type=_parse_day, help="listing day (default: today, UTC)")
    run.add_argument("--sample", action="store_true", help="run the bundled sample day")
    run.add_argument(
        "--offline-fallback",
        action="store_true",
        help="run the sample day when no source can be reached",
    )
    run.add_argument("--config", type=Path, help="TOML config (default: bundled defaults)")
    run.add_argument("--out", type=Path, default=Path("runs"), help="output dir (default: runs)")
    run.add_argument("--force", action="store_true", help="rescore and retrain finished runs")
    run.add_argument("--device", choices=["auto", "cpu", "cuda"], help="override training.device")
    run.add_argument("--budget", help="override training.budget (tiny|small|medium|large)")
    run.add_argument("--no-train", dest="train", action="store_false", help="stop after selection")
    run.add_argument(
        "--no-llm",
        dest="llm",
        action="store_false",
        help="signals-only ranking and library-only implementation, even with an LLM configured",
    )

    sub.add_parser(
        "train",
        help="train one implementation against the baseline (see `paperfoundry train --help`)",
        add_help=False,
    )
    sub.add_parser("prepare-data", help="download a corpus for the lm task", add_help=False)

    check = sub.add_parser(
        "validate",
        help="check an implementation file the way LLM-written code is checked",
        description="Run exactly the implementer's checks on a file: the static checks, then "
        "the harness's validation in the jail (bubblewrap). Exit code 0: valid; 2: invalid; "
        "3: not run (no jail here; PAPERFOUNDRY_ALLOW_UNJAILED=1 overrides, unsafely).",
    )
    check.add_argument("--impl", type=Path, required=True, help="the implementation file")
    check.add_argument("--task", choices=["mqar", "lm"], default="mqar", help="default: mqar")
    check.add_argument("--budget", default="tiny", help="tiny|small|medium|large (default: tiny)")
    check.add_argument(
        "--timeout", type=float, default=600.0, help="seconds for validation (default: 600)"
    )
    check.add_argument("--json", action="store_true", help="print the result as JSON")
    sub.add_parser("config", help="print the default configuration (a starting paperfoundry.toml)")
    return parser


def _run(args: argparse.Namespace) -> int:
    import logging

    from rich.console import Console
    from rich.logging import RichHandler

    from .config import ConfigError
    from .runner import RunError, RunOptions, run_day, summary_table

    console = Console()
    # Retries and skipped items are logged as warnings: show them, formatted like the rest.
    logging.basicConfig(
        level=logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False, show_time=False)],
    )
    opts = RunOptions(
        day=args.date,
        sample=args.sample,
        offline_fallback=args.offline_fallback,
        config_path=args.config,
        out=args.out,
        force=args.force,
        device=args.device,
        budget=args.budget,
        train=args.train,
        llm=args.llm,
    )
    try:
        result = run_day(opts, console)
    except (RunError, ConfigError) as exc:
        console.print(f"[bold red]error:[/] {exc}")
        return EXIT_ERROR
    console.print(summary_table(result))
    console.print(f"report: [bold]{result.report_uri}[/]")
    if result.failed_runs:
        for run in result.failed_runs:
            why = run.error or (run.failure and f"{run.failure.stage}: {run.failure.message}")
            console.print(f"[red]training {run.run_id} {run.status}[/]: {why}")
        return EXIT_RUNS_FAILED
    return EXIT_OK


def validate_file(impl: Path, task: str, budget: str, timeout: float) -> dict:
    """Static checks, then the jailed validation: the implementer's path, for one file."""
    from .adapters.local.sandbox import SandboxValidator
    from .codegen.codecheck import static_check

    source = impl.read_text()
    validator = SandboxValidator(budget, timeout)
    result: dict = {"impl": str(impl), "task": task, "budget": budget}
    failure = static_check(source, impl.name)
    if failure is not None:
        return result | {"ok": False, "ran": False, "checked_by": "static checks (code not run)",
                         "params": None, "failure": failure.model_dump()}  # fmt: skip
    checked = validator.check(source, impl.name, task)
    ok, failure = bool(checked.get("ok")), checked.get("failure")
    return result | {
        "ok": ok,
        "ran": ok or failure["stage"] != "isolation",
        "checked_by": f"static checks, then {validator.name}",
        "params": checked.get("params"),
        "failure": failure,
    }


def _validate(args: argparse.Namespace) -> int:
    import json

    from paperfoundry_trainer.spec import get_budget

    try:
        get_budget(args.task, args.budget)
        result = validate_file(args.impl, args.task, args.budget, args.timeout)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    failure = result["failure"]
    code = EXIT_OK
    if failure is not None:
        code = EXIT_NOT_RUN if failure["stage"] == "isolation" else EXIT_INVALID
    if args.json:
        print(json.dumps(result, indent=1))
        return code
    print(f"{result['impl']} (task {result['task']}, budget {result['budget']})")
    print(f"  checked by: {result['checked_by']}")
    if result["ok"]:
        print(f"  valid: {result['params']:,} trainable parameters")
    elif code == EXIT_NOT_RUN:
        print(f"  {failure['message']}")
    else:
        print(f"  invalid: stage {failure['stage']}, {failure['type']}: {failure['message']}")
        if failure.get("traceback"):
            print("    " + failure["traceback"].replace("\n", "\n    "))
    return code


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # `train` and `prepare-data` belong to the harness; pass their arguments through as-is.
    if argv and argv[0] in ("train", "prepare-data"):
        from paperfoundry_trainer.cli import main as harness_main

        return harness_main(argv)
    args = build_parser().parse_args(argv)
    if args.command == "validate":
        return _validate(args)
    if args.command == "config":
        from .config import default_config_text

        print(default_config_text(), end="")
        return EXIT_OK
    return _run(args)


if __name__ == "__main__":
    sys.exit(main())
