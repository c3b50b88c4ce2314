"""The `paperfoundry` commands (typer). Local only: the Lambda handlers never import this.

Every command returns an `ExitCode` (docs/CLI.md); user errors are one line on stderr,
never a traceback. `main` runs the app and maps typer's own usage errors to 64.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from paperfoundry_trainer.exitcodes import MEANING, ExitCode
from paperfoundry_trainer.spec import BUDGET_NAMES, TASKS

from .checks import UsageError, parse_day

PROG = "paperfoundry"


Budget = StrEnum("Budget", {name: name for name in BUDGET_NAMES})


class Device(StrEnum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


# the harness's tasks, as it defines them (mqar, lm, ...)
Task = StrEnum("Task", {name: name for name in TASKS})
SMALL, TINY, MQAR = Budget("small"), Budget("tiny"), Task("mqar")  # defaults


class Isolation(StrEnum):
    none = "none"
    jail = "jail"


def _exit_codes_epilog() -> str:
    rows = "\n".join(f"  {int(code):>3}  {MEANING[code]}" for code in ExitCode)
    return f"Exit codes (docs/CLI.md):\n\n{rows}"


app = typer.Typer(
    name=PROG,
    help="Scrape, rank, implement and train the day's best ML papers, and report honest "
    "verdicts. Config: --config FILE, else $PAPERFOUNDRY_CONFIG, else ./paperfoundry.toml, "
    "else the bundled defaults (`paperfoundry config`).",
    epilog="Exit codes: 0 ok, 1 failed, 2 invalid implementation, 3 training run failed, "
    "4 not run (no isolation), 64 bad usage, 78 bad config, 130 interrupted, "
    "143 stopped (resume by rerunning). See docs/CLI.md.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@dataclass
class Settings:
    verbosity: int = 0  # -1 quiet, 0 normal, 1 -v, 2 -vv


def _version(value: bool) -> None:
    if not value:
        return
    from importlib.metadata import PackageNotFoundError, version

    import paperfoundry_trainer

    from .. import __version__

    try:
        ours = version("paperfoundry")
    except PackageNotFoundError:
        ours = __version__
    python = ".".join(map(str, sys.version_info[:3]))
    typer.echo(f"{PROG} {ours} (harness {paperfoundry_trainer.__version__}, Python {python})")
    raise typer.Exit(ExitCode.OK)


def _verbosity(ctx: typer.Context, quiet: bool, verbose: int) -> int:
    if quiet and verbose:
        raise UsageError("-q/--quiet and -v/--verbose cannot go together")
    parent = ctx.find_object(Settings)
    if quiet:
        return -1
    if verbose:
        return verbose
    return parent.verbosity if parent is not None else 0


Quiet = Annotated[
    bool, typer.Option("--quiet", "-q", help="only errors and the result (no progress)")
]
Verbose = Annotated[
    int,
    typer.Option("--verbose", "-v", count=True, help="more detail: -v info logs, -vv debug"),
]


@app.callback()
def _root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="print the version"),
    ] = False,
    quiet: Quiet = False,
    verbose: Verbose = 0,
) -> None:
    ctx.obj = Settings(_verbosity(ctx, quiet, verbose))


def _err(message: str, where: str = PROG) -> None:
    """A user error: one line per problem on stderr, no traceback."""
    for line in str(message).splitlines() or [""]:
        print(f"{where}: error: {line}", file=sys.stderr)


def _where(argv: list[str]) -> str:
    """`paperfoundry run` for an error in `run`: the first word that names a command."""
    names = {c.name or c.callback.__name__ for c in app.registered_commands if c.callback}
    command = next((a for a in argv if a in names), None)
    return f"{PROG} {command}" if command else PROG


def _setup_logging(verbosity: int, console) -> None:
    """Logs through rich, like the rest of the output (a no-op where logging is set up
    already, e.g. under pytest). -q: errors only, on stderr."""
    from rich.console import Console
    from rich.logging import RichHandler

    level = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    target = Console(stderr=True) if verbosity < 0 else console
    # Retries and skipped items are logged as warnings: show them, formatted like the rest.
    logging.basicConfig(
        level=level,
        format="%(message)s",
        handlers=[RichHandler(console=target, show_path=False, show_time=False)],
    )


# -- run -----------------------------------------------------------------------------------


@app.command()
def run(
    ctx: typer.Context,
    date: Annotated[
        str | None,
        typer.Option("--date", metavar="YYYY-MM-DD", help="listing day (default: today, UTC)"),
    ] = None,
    sample: Annotated[
        bool, typer.Option("--sample", help="run the bundled sample day (offline)")
    ] = False,
    offline_fallback: Annotated[
        bool,
        typer.Option("--offline-fallback", help="run the sample day when no source answers"),
    ] = False,
    config: Annotated[
        Path | None,
        typer.Option("--config", metavar="FILE", help="TOML config laid over the defaults"),
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", metavar="DIR", help="store, reports, training outputs")
    ] = Path("runs"),
    force: Annotated[
        bool,
        typer.Option("--force", help="rescore and retrain (with --only: retrain that paper)"),
    ] = False,
    device: Annotated[
        Device | None, typer.Option("--device", help="override training.device")
    ] = None,
    budget: Annotated[
        Budget | None, typer.Option("--budget", help="override training.budget")
    ] = None,
    no_train: Annotated[bool, typer.Option("--no-train", help="stop after selection")] = False,
    no_llm: Annotated[
        bool,
        typer.Option("--no-llm", help="signals-only ranking, library-only implementation"),
    ] = False,
    only: Annotated[
        str | None,
        typer.Option(
            "--only",
            metavar="ARXIV_ID",
            help="implement and train only this paper of the day: one of its picks (re-run "
            "it with --force), or any paper of the day (picked by hand)",
        ),
    ] = None,
    quiet: Quiet = False,
    verbose: Verbose = 0,
) -> int:
    """Run a whole day locally: scrape, rank, review, pick, implement, train, report."""
    from rich.console import Console

    from ..config import ConfigError, normalize_arxiv_id
    from ..ranking.profile import ProfileError
    from .checks import check_config

    verbosity = _verbosity(ctx, quiet, verbose)
    day = parse_day(date) if date is not None else None
    if sample and day is not None:
        raise UsageError("--sample runs the bundled sample day; it cannot take --date")
    if only is not None:
        try:
            only = normalize_arxiv_id(only)
        except ValueError as exc:
            raise UsageError(f"--only: {exc}") from None
        if no_train:
            raise UsageError("--only trains one paper; it cannot go with --no-train")
    checked = check_config(
        config,
        llm=not no_llm,
        train=not no_train,
        device=device.value if device else None,
        budget=budget.value if budget else None,
    )
    from ..runner import RunError, RunOptions, run_day, summary_table

    console = Console(quiet=verbosity < 0)
    _setup_logging(verbosity, console)
    console.print(f"config: {checked.where}", soft_wrap=True)
    opts = RunOptions(
        day=day, sample=sample, offline_fallback=offline_fallback, config_path=checked.path,
        out=out, force=force, device=device.value if device else None,
        budget=budget.value if budget else None, train=not no_train, llm=not no_llm,
        config=checked.config, only=only,
    )  # fmt: skip
    try:
        result = run_day(opts, console)
    except RunError as exc:
        _err(str(exc), f"{PROG} run")
        return ExitCode.FAILED
    except (ConfigError, ProfileError) as exc:
        _err(str(exc), f"{PROG} run")
        return ExitCode.CONFIG
    except KeyboardInterrupt:
        _err("interrupted", f"{PROG} run")
        return ExitCode.INTERRUPTED
    console.print(summary_table(result))
    print(f"report: {result.report_uri}")
    if result.failed_runs:
        for failed in result.failed_runs:
            why = failed.error or (
                failed.failure and f"{failed.failure.stage}: {failed.failure.message}"
            )
            print(f"training {failed.run_id} {failed.status}: {why}")
        return ExitCode.RUNS_FAILED
    return ExitCode.OK


# -- the harness: train, validate, prepare-data ---------------------------------------------


def _lrs(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        numbers = [float(x) for x in value.strip("[]").split(",") if x.strip()]
    except ValueError:
        numbers = []
    if not numbers:
        raise typer.BadParameter(
            f"expected comma-separated numbers (e.g. 1e-3,3e-3), got {value!r}"
        )
    return value


def _train_help(name: str) -> str:
    from paperfoundry_trainer.cli import TRAIN_HELP

    return TRAIN_HELP[name]


class TrainBackend(StrEnum):
    local = "local"
    sagemaker = "sagemaker"


@app.command()
def train(
    ctx: typer.Context,
    impl: Annotated[Path, typer.Option("--impl", metavar="FILE", help=_train_help("impl"))],
    task: Annotated[Task, typer.Option("--task", help=_train_help("task"))],
    budget: Annotated[Budget, typer.Option("--budget", help=_train_help("budget"))] = SMALL,
    out: Annotated[Path, typer.Option("--out", metavar="DIR", help=_train_help("out"))] = Path(
        "runs/trainer"
    ),
    device: Annotated[Device, typer.Option("--device", help=_train_help("device"))] = (Device.auto),
    data: Annotated[
        Path | None, typer.Option("--data", metavar="DIR", help=_train_help("data"))
    ] = None,
    checkpoint_dir: Annotated[
        Path | None,
        typer.Option("--checkpoint-dir", metavar="DIR", help=_train_help("checkpoint_dir")),
    ] = None,
    checkpoint_interval: Annotated[
        float,
        typer.Option(
            "--checkpoint-interval",
            metavar="SECONDS",
            min=1,
            help=_train_help("checkpoint_interval"),
        ),  # fmt: skip
    ] = 300.0,
    compile: Annotated[bool, typer.Option("--compile", help=_train_help("compile"))] = False,
    paper_params: Annotated[
        int | None,
        typer.Option("--paper-params", metavar="N", min=1, help=_train_help("paper_params")),
    ] = None,
    validate_timeout: Annotated[
        float,
        typer.Option(
            "--validate-timeout", metavar="SECONDS", min=1, help=_train_help("validate_timeout")
        ),
    ] = 600.0,
    threads: Annotated[
        int | None, typer.Option("--threads", min=1, help=_train_help("threads"))
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help=_train_help("workers"))
    ] = None,
    isolation: Annotated[
        Isolation, typer.Option("--isolation", help=_train_help("isolation"))
    ] = Isolation.none,
    steps: Annotated[int | None, typer.Option("--steps", min=1, help=_train_help("steps"))] = None,
    seeds: Annotated[int | None, typer.Option("--seeds", min=2, help=_train_help("seeds"))] = None,
    lrs: Annotated[
        str | None,
        typer.Option("--lrs", metavar="LR,LR,...", callback=_lrs, help=_train_help("lrs")),
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", min=1, help=_train_help("batch_size"))
    ] = None,
    param_budget: Annotated[
        int | None, typer.Option("--param-budget", min=1, help=_train_help("param_budget"))
    ] = None,
    backend: Annotated[
        TrainBackend,
        typer.Option(
            "--backend",
            help="local: here, the harness in this process; sagemaker: a SageMaker training "
            "job as the day's pipeline starts it, waited for and collected (PAPERFOUNDRY_* "
            "settings: docs/CLI.md)",
        ),
    ] = TrainBackend.local,
) -> int:
    """Train one implementation against the baseline the field uses.

    LR sweep, fresh seeds, controls and a verdict per claim; metrics.json goes to --out.
    The same as `python -m paperfoundry_trainer train`; with --backend sagemaker, the same
    as the day's training job on SageMaker.
    """
    if backend is TrainBackend.sagemaker:
        return _train_on_sagemaker(ctx, impl, task, budget, out, paper_params)
    if not impl.is_file():
        _err(f"--impl {impl}: no such file", f"{PROG} train")
        return ExitCode.FAILED
    argv = [
        "train", "--impl", str(impl), "--task", task.value, "--budget", budget.value,
        "--out", str(out), "--device", device.value,
        "--checkpoint-interval", str(checkpoint_interval),
        "--validate-timeout", str(validate_timeout), "--isolation", isolation.value,
    ]  # fmt: skip
    optional = {
        "--data": data, "--checkpoint-dir": checkpoint_dir, "--paper-params": paper_params,
        "--threads": threads, "--workers": workers, "--steps": steps, "--seeds": seeds,
        "--lrs": lrs, "--batch-size": batch_size, "--param-budget": param_budget,
    }  # fmt: skip
    for flag, value in optional.items():
        if value is not None:
            argv += [flag, str(value)]
    if compile:
        argv.append("--compile")
    from paperfoundry_trainer.cli import main as harness_main

    return harness_main(argv)


def _train_on_sagemaker(
    ctx: typer.Context,
    impl: Path,
    task: Task,
    budget: Budget,
    out: Path,
    paper_params: int | None,
) -> int:
    """`train --backend sagemaker`: only the options the job's contract carries."""
    from .remote import OPTIONS, RemoteError, train_on_sagemaker

    given = {p.name: p.opts[0] for p in ctx.command.params if p.name not in OPTIONS}
    local = [
        option
        for name, option in given.items()
        if getattr(ctx.get_parameter_source(name), "name", None) == "COMMANDLINE"
    ]
    if local:
        raise UsageError(
            f"{', '.join(local)}: local only; --backend sagemaker trains as the day's "
            "pipeline does (task, budget, --paper-params)"
        )
    if not impl.is_file():
        _err(f"--impl {impl}: no such file", f"{PROG} train")
        return ExitCode.FAILED
    try:
        return train_on_sagemaker(impl, task.value, budget.value, out, paper_params=paper_params)
    except RemoteError as exc:
        _err(str(exc), f"{PROG} train")
        return ExitCode.FAILED


@app.command()
def validate(
    impl: Annotated[Path, typer.Option("--impl", metavar="FILE", help="the implementation file")],
    task: Annotated[Task, typer.Option("--task", help="the harness task")] = MQAR,
    budget: Annotated[
        Budget, typer.Option("--budget", help="the budget whose model spec it must fit")
    ] = TINY,
    timeout: Annotated[
        float, typer.Option("--timeout", metavar="SECONDS", min=1, help="for validation")
    ] = 600.0,
    json_out: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
    trusted: Annotated[
        bool,
        typer.Option(
            "--trusted",
            help="your own code: skip the static checks and the jail, run only the "
            "harness's validation in a plain child process",
        ),
    ] = False,
    device: Annotated[
        Device, typer.Option("--device", help="with --trusted (the jail runs on CPU)")
    ] = Device.cpu,
    param_budget: Annotated[
        int | None,
        typer.Option("--param-budget", min=1, help="with --trusted: override the budget's"),
    ] = None,
) -> int:
    """Check an implementation file the way LLM-written code is checked.

    The static checks, then the harness's validation in the bubblewrap jail. Exit code
    0 valid, 2 invalid, 4 not run (no jail here; PAPERFOUNDRY_ALLOW_UNJAILED=1 overrides,
    unsafely). --trusted: only the harness's validation, no jail (your own code).
    """
    import json

    from paperfoundry_trainer.cli import validation_exit_code

    from .checks import validate_file, validate_trusted

    if not trusted and (device != Device.cpu or param_budget is not None):
        raise UsageError("--device and --param-budget need --trusted (the jail runs on CPU)")
    if not impl.is_file():
        _err(f"--impl {impl}: no such file", f"{PROG} validate")
        return ExitCode.FAILED
    if trusted:
        result = validate_trusted(
            impl, task.value, budget.value, timeout, device.value, param_budget
        )
    else:
        result = validate_file(impl, task.value, budget.value, timeout)
    code = validation_exit_code(result)
    if json_out:
        print(json.dumps(result, indent=1))
        return code
    failure = result["failure"]
    print(f"{result['impl']} (task {result['task']}, budget {result['budget']})")
    print(f"  checked by: {result['checked_by']}")
    if result["ok"]:
        print(f"  valid: {result['params']:,} trainable parameters")
    elif code == ExitCode.NOT_RUN:
        print(f"  {failure['message']}")
    else:
        print(f"  invalid: stage {failure['stage']}, {failure['type']}: {failure['message']}")
        if failure.get("traceback"):
            print("    " + failure["traceback"].replace("\n", "\n    "))
    return code


@app.command("prepare-data")
def prepare_data(
    out: Annotated[Path, typer.Option("--out", metavar="DIR", help="where the splits go")],
    corpus: Annotated[
        str,
        typer.Option(
            "--corpus",
            help="tiny-shakespeare (downloaded) or python-docs (built in, offline); any "
            "name with --url",
        ),
    ] = "tiny-shakespeare",
    url: Annotated[
        str | None,
        typer.Option("--url", help="override the download URL (or env PF_CORPUS_URL)"),
    ] = None,
) -> int:
    """Write train/val/test splits of a corpus for the lm task (`train --data DIR`)."""
    from paperfoundry_trainer.data import prepare_data as harness_prepare

    return harness_prepare(corpus, out, url)


# -- config ----------------------------------------------------------------------------------


@app.command("config")
def config_command(
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="check the config a run would use (file, keys, values, LLM credentials, "
            "profile) without any network call",
        ),
    ] = False,
    effective: Annotated[
        bool,
        typer.Option("--effective", help="print the config a run would use, every key"),
    ] = False,
    config: Annotated[
        Path | None,
        typer.Option("--config", metavar="FILE", help="the file to check (default: as run)"),
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", metavar="DIR", help="the store liked ids are looked up in")
    ] = Path("runs"),
    no_llm: Annotated[
        bool, typer.Option("--no-llm", help="do not check the LLM's credentials")
    ] = False,
) -> int:
    """Print every config key with its default, or check (--check) the config a run uses.

    `paperfoundry config > paperfoundry.toml` starts a config; `run` finds it there.
    --effective prints the config a run would use (the file over the defaults).
    """
    from ..config import default_config_text
    from .checks import check_config, liked_not_in_store

    if not (check or effective):
        if config is not None:
            raise UsageError("--config goes with --check or --effective")
        print(default_config_text(), end="")
        return ExitCode.OK
    checked = check_config(config, llm=not no_llm, train=True)
    if effective:
        from ..config import config_toml

        print(config_toml(checked.config), end="")
        if not check:
            return ExitCode.OK
    out_lines = [f"config: {checked.where}: ok", f"  llm: {checked.llm}"]
    out_lines += [f"  {note}" for note in checked.notes]
    liked = checked.config.interests.liked
    if liked:
        missing = liked_not_in_store(checked.config, out)
        line = f"  interests.liked: {len(liked)} papers"
        if missing:
            line += (
                f"; not in {out} yet: {', '.join(missing)} (the next run fetches them from "
                "arXiv by id)"
            )
        out_lines.append(line)
    stream = sys.stderr if effective else sys.stdout
    print("\n".join(out_lines), file=stream)
    return ExitCode.OK


# -- the days: list, show --------------------------------------------------------------------


@app.command("list")
def list_command(
    out: Annotated[Path, typer.Option("--out", metavar="DIR", help="the runs folder")] = Path(
        "runs"
    ),
    json_out: Annotated[bool, typer.Option("--json", help="print the days as JSON")] = False,
) -> int:
    """The days in the local store, newest first: status, papers, picks, training, report."""
    import json

    from rich.console import Console

    from .days import list_days, list_table

    rows = list_days(out)
    if json_out:
        data = [{"day": r.day.isoformat(), "status": r.status, "papers": r.papers,
                 "picks": r.picks, "runs": r.runs,
                 "report": str(r.report) if r.report else None} for r in rows]  # fmt: skip
        print(json.dumps(data, indent=1))
        return ExitCode.OK
    if not rows:
        print(f"no days in {out} yet (`paperfoundry run` runs today)")
        return ExitCode.OK
    Console().print(list_table(rows))
    return ExitCode.OK


@app.command("show")
def show_command(
    day: Annotated[
        str, typer.Argument(metavar="DAY", help="YYYY-MM-DD, or latest", show_default=False)
    ],
    out: Annotated[Path, typer.Option("--out", metavar="DIR", help="the runs folder")] = Path(
        "runs"
    ),
    json_out: Annotated[
        bool, typer.Option("--json", help="print the day's report.json as written")
    ] = False,
) -> int:
    """A past day: its sources, ranking, picks and verdicts (or its report.json)."""
    from rich.console import Console

    from .days import NotFound, latest_day, report_json, show

    try:
        which = latest_day(out) if day == "latest" else parse_day(day)
        if json_out:
            print(report_json(out, which), end="")
        else:
            show(out, which, Console())
    except NotFound as exc:
        _err(str(exc), f"{PROG} show")
        return ExitCode.FAILED
    return ExitCode.OK


# -- the entry point -------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run the app; returns the exit code (never raises for a user error)."""
    from ..config import ConfigError

    argv = list(sys.argv[1:] if argv is None else argv)
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name=PROG, standalone_mode=False)
    except UsageError as exc:
        _err(str(exc), _where(argv))
        return ExitCode.USAGE
    except ConfigError as exc:
        _err(str(exc), _where(argv))
        return ExitCode.CONFIG
    except typer.TyperException as exc:  # typer's (click's) own errors: parsing, values
        return _typer_error(exc)
    except OSError as exc:  # the machine said no: a folder not writable, a full disk
        where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
        _err(f"{exc.strerror or exc}:{where}", _where(argv))
        return ExitCode.FAILED
    except typer.Abort:
        _err("aborted")
        return ExitCode.INTERRUPTED
    except KeyboardInterrupt:
        _err("interrupted")
        return ExitCode.INTERRUPTED
    except SystemExit as exc:  # shell completion answers and exits
        return exc.code if isinstance(exc.code, int) else ExitCode.FAILED
    if code is None:
        return ExitCode.OK
    return int(code)


def _typer_error(exc: Exception) -> int:
    ctx = getattr(exc, "ctx", None)
    if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
        print(ctx.get_help())
        return ExitCode.USAGE
    is_usage = getattr(exc, "exit_code", 1) == 2  # click's UsageError and its subclasses
    where = ctx.command_path if ctx is not None else PROG
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    message = " ".join(message.split()).replace("Value error, ", "")
    hint = f" (see `{where} --help`)" if is_usage else ""
    print(f"{where}: error: {message}{hint}", file=sys.stderr)
    return ExitCode.USAGE if is_usage else ExitCode.FAILED
