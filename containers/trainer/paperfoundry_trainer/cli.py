"""Command line: `python -m paperfoundry_trainer <command>`; no command = SageMaker mode.

  train         --impl FILE --task mqar|lm [--budget ...] [--out DIR] [--device ...] ...
  validate      --impl FILE --task mqar|lm [--budget ...]     (prints the validation JSON)
  prepare-data  --corpus tiny-shakespeare --out DIR [--url URL]
  sagemaker     read /opt/ml (or $PF_OPT_ML): hyperparameters, channels, model dir

The same commands, with the same options and exit codes, are `paperfoundry train`,
`paperfoundry validate --trusted` and `paperfoundry prepare-data` (docs/CLI.md).

Exit codes (exitcodes.py, one meaning each across every paperfoundry command):
0 ok, 1 harness/setup error (or the --impl file does not exist), 2 invalid implementation,
4 not validated: no isolation here, 64 bad usage, 143 stopped by SIGTERM after
checkpointing (rerun to resume).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .exitcodes import ExitCode
from .spec import BUDGET_NAMES, TASKS, get_budget

EXIT_USAGE = ExitCode.USAGE  # kept for callers of the old name
PROG = "python -m paperfoundry_trainer"
DEVICES = ("auto", "cpu", "cuda")
ISOLATIONS = ("none", "jail")
CORPUS_HELP = (
    "tiny-shakespeare (downloaded) or python-docs (built in, offline); any name with --url "
    "(default: tiny-shakespeare)"
)


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse would exit 2, which means "invalid implementation"
        print(f"{self.prog}: error: {message} (see `{self.prog} --help`)", file=sys.stderr)
        raise SystemExit(ExitCode.USAGE)


def _error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)


def _lrs(text: str) -> list[float]:
    try:
        return [float(x) for x in str(text).strip("[]").split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers (e.g. 1e-3,3e-3), got {text!r}"
        ) from None


# What each option means; `paperfoundry train` shows the same text (a test keeps the two
# option lists equal).
TRAIN_HELP = {
    "impl": "the implementation file (the harness contract: containers/trainer/README.md)",
    "task": "mqar: associative recall; lm: byte-level language modelling",
    "budget": "model size, data and training length (docs/VERDICTS.md)",
    "out": "where metrics.json, loss_curves.png and the log go",
    "device": "auto: CUDA when available, else CPU",
    "data": "lm corpus dir (train/val .bin or .txt; default: the built-in offline corpus)",
    "checkpoint_dir": "default: <out>/checkpoints (a rerun resumes from here)",
    "checkpoint_interval": "seconds between checkpoints",
    "compile": "torch.compile both models",
    "paper_params": "the paper's model size (marks the verdict toy-scale below it)",
    "validate_timeout": "seconds for validating the implementation",
    "threads": "CPU threads per run (default: 1 for tiny/small)",
    "workers": "runs in parallel (default: CPU cores, 1 on CUDA)",
    "isolation": "jail: run the implementation only in a bubblewrap jail (LLM-written code)",
    "steps": "override the budget's steps per run",
    "seeds": "override the number of fresh final seeds (>= 2)",
    "lrs": "override the LR sweep, e.g. 1e-3,3e-3,1e-2",
    "batch_size": "override the budget's batch size",
    "param_budget": "override the parameter budget the models are sized to",
}


def _add_overrides(p: argparse.ArgumentParser) -> None:
    h = TRAIN_HELP
    p.add_argument("--steps", type=int, help=h["steps"])
    p.add_argument("--seeds", type=int, help=h["seeds"])
    p.add_argument("--lrs", type=_lrs, help=h["lrs"])
    p.add_argument("--batch-size", type=int, help=h["batch_size"])
    p.add_argument("--param-budget", type=int, help=h["param_budget"])


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    ap = _Parser(
        prog=prog,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = ap.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")

    h = TRAIN_HELP
    t = sub.add_parser("train", help="compare an implementation against the baseline")
    t.add_argument("--impl", required=True, type=Path, metavar="FILE", help=h["impl"])
    t.add_argument("--task", required=True, choices=TASKS, help=h["task"])
    t.add_argument("--budget", default="small", choices=BUDGET_NAMES,
                   help=h["budget"] + " (default: small)")  # fmt: skip
    t.add_argument("--out", type=Path, default=Path("runs/trainer"), metavar="DIR",
                   help=h["out"] + " (default: runs/trainer)")  # fmt: skip
    t.add_argument("--device", default="auto", choices=DEVICES, help=h["device"])
    t.add_argument("--data", type=Path, metavar="DIR", help=h["data"])
    t.add_argument("--checkpoint-dir", type=Path, metavar="DIR", help=h["checkpoint_dir"])
    t.add_argument("--checkpoint-interval", type=float, default=300.0, metavar="SECONDS",
                   help=h["checkpoint_interval"] + " (default: 300)")  # fmt: skip
    t.add_argument("--compile", action="store_true", help=h["compile"])
    t.add_argument("--paper-params", type=int, metavar="N", help=h["paper_params"])
    t.add_argument("--validate-timeout", type=float, default=600.0, metavar="SECONDS",
                   help=h["validate_timeout"] + " (default: 600)")  # fmt: skip
    t.add_argument("--threads", type=int, help=h["threads"])
    t.add_argument("--workers", type=int, help=h["workers"])
    t.add_argument("--isolation", default="none", choices=ISOLATIONS, help=h["isolation"])
    _add_overrides(t)

    v = sub.add_parser(
        "validate",
        help="validate an implementation only (in the jail)",
        description="Validate an implementation in the bubblewrap jail and print the "
        "harness's JSON result. Exit code 0 valid, 2 invalid, 4 not run (no jail here).",
    )
    v.add_argument("--impl", required=True, type=Path, metavar="FILE", help=h["impl"])
    v.add_argument("--task", required=True, choices=TASKS, help=h["task"])
    v.add_argument("--budget", default="small", choices=BUDGET_NAMES,
                   help=h["budget"] + " (default: small)")  # fmt: skip
    v.add_argument("--device", default="cpu", choices=DEVICES, help="default: cpu")
    v.add_argument("--param-budget", type=int, help=h["param_budget"])
    v.add_argument("--timeout", type=float, default=600.0, metavar="SECONDS",
                   help="seconds for validation (default: 600)")  # fmt: skip
    v.add_argument(
        "--isolation",
        default="jail",
        choices=ISOLATIONS,
        help="none: a plain child process, for code you trust (default: jail)",
    )

    d = sub.add_parser("prepare-data", help="download a corpus and write train/val splits")
    d.add_argument("--corpus", default="tiny-shakespeare", help=CORPUS_HELP)
    d.add_argument("--out", required=True, type=Path, metavar="DIR", help="where the splits go")
    d.add_argument("--url", help="override the download URL (or env PF_CORPUS_URL)")

    sub.add_parser("sagemaker", help="run from the SageMaker /opt/ml contract (the default)")
    return ap


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv or ["sagemaker"])
    except SystemExit as exc:  # --help: 0; bad usage: 64 (_Parser.error)
        return int(exc.code or 0)
    try:
        if args.command == "train":
            return _train(args)
        if args.command == "validate":
            return _validate(args)
        if args.command == "prepare-data":
            from .data import prepare_data

            return prepare_data(args.corpus, args.out, args.url)
        return sagemaker_main()
    except KeyboardInterrupt:
        _error("interrupted")
        return ExitCode.INTERRUPTED


def _train(args) -> int:
    from .compare import Job, run_comparison
    from .sagemaker import Paths, StopFlag

    try:
        budget = get_budget(
            args.task,
            args.budget,
            steps=args.steps,
            seeds=args.seeds,
            lrs=args.lrs,
            batch_size=args.batch_size,
            param_budget=args.param_budget,
        )
    except ValueError as exc:
        _error(str(exc))
        return ExitCode.USAGE
    paths = Paths(
        model_dir=args.out, checkpoint_dir=args.checkpoint_dir or args.out / "checkpoints"
    )
    job = Job(
        impl=args.impl,
        task=args.task,
        budget=budget,
        paths=paths,
        device=args.device,
        data_dir=args.data,
        compile=args.compile,
        paper_params=args.paper_params,
        checkpoint_interval_s=args.checkpoint_interval,
        validate_timeout_s=args.validate_timeout,
        threads=args.threads,
        workers=args.workers,
        isolation=args.isolation,
    )
    return run_comparison(job, StopFlag().install())


def validation_exit_code(result: dict) -> ExitCode:
    """0 valid, 4 not run (no isolation here), 2 invalid."""
    if result.get("ok"):
        return ExitCode.OK
    if (result.get("failure") or {}).get("stage") == "isolation":
        return ExitCode.NOT_RUN
    return ExitCode.INVALID_IMPL


def _validate(args) -> int:
    from .validate import validate_in_subprocess

    if not args.impl.is_file():
        _error(f"--impl {args.impl}: no such file")
        return ExitCode.FAILED
    try:
        spec = get_budget(args.task, args.budget, param_budget=args.param_budget).spec
    except ValueError as exc:
        _error(str(exc))
        return ExitCode.USAGE
    result = validate_in_subprocess(
        args.impl, spec, args.device, args.timeout, isolation=args.isolation
    )
    print(json.dumps(result, indent=1))
    return validation_exit_code(result)


def sagemaker_main() -> int:
    """Hyperparameters (all optional except task): task, budget, impl, device, compile,
    steps, seeds, lrs, batch_size, param_budget, paper_params, checkpoint_interval_s,
    validate_timeout_s, threads."""
    from .compare import Job, run_comparison
    from .sagemaker import StopFlag, channel, find_impl, hyperparameters, sagemaker_paths

    stop = StopFlag().install()  # first thing: a stop may arrive at any moment
    paths = sagemaker_paths()
    hp = hyperparameters()
    impl_dir = channel("impl")
    impl_name = hp.get("impl")
    try:
        if impl_dir is None:
            raise FileNotFoundError(
                "no 'impl' channel (SM_CHANNEL_IMPL or <opt_ml>/input/data/impl)"
            )
        impl = find_impl(impl_dir, impl_name)
        lrs = hp.get("lrs")
        budget = get_budget(
            str(hp.get("task", "mqar")),
            str(hp.get("budget", "small")),
            steps=hp.get("steps"),
            seeds=hp.get("seeds"),
            # "0.003" arrives parsed as a float: a one-LR grid
            lrs=_lrs(lrs)
            if isinstance(lrs, str)
            else [lrs]
            if isinstance(lrs, int | float)
            else lrs,
            batch_size=hp.get("batch_size"),
            param_budget=hp.get("param_budget"),
        )
    except (FileNotFoundError, ValueError) as exc:
        msg = f"paperfoundry_trainer: bad SageMaker job setup: {exc}"
        print(msg, file=sys.stderr)
        paths.failure_file.parent.mkdir(parents=True, exist_ok=True)
        paths.failure_file.write_text(msg + "\n")
        return 1
    job = Job(
        impl=impl,
        task=str(hp.get("task", "mqar")),
        budget=budget,
        paths=paths,
        device=str(hp.get("device", "auto")),
        data_dir=channel("data"),
        compile=bool(hp.get("compile", False)),
        paper_params=hp.get("paper_params"),
        checkpoint_interval_s=float(hp.get("checkpoint_interval_s", 300)),
        validate_timeout_s=float(hp.get("validate_timeout_s", 600)),
        sagemaker=True,
        threads=hp.get("threads"),
        isolation=str(hp.get("isolation", "none")),
    )
    return run_comparison(job, stop)
