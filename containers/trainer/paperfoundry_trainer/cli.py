"""Command line: `python -m paperfoundry_trainer <command>`; no command = SageMaker mode.

  train         --impl FILE --task mqar|lm [--budget ...] [--out DIR] [--device ...] ...
  validate      --impl FILE --task mqar|lm [--budget ...]     (prints the validation JSON)
  prepare-data  --corpus tiny-shakespeare --out DIR [--url URL]
  sagemaker     read /opt/ml (or $PF_OPT_ML): hyperparameters, channels, model dir

Exit codes: 0 ok, 1 harness/setup error, 2 invalid implementation, 64 bad usage,
143 stopped by SIGTERM after checkpointing (rerun to resume).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .spec import BUDGET_NAMES, TASKS, get_budget

EXIT_USAGE = 64


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse would exit 2, which we reserve for invalid impls
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _lrs(text: str) -> list[float]:
    return [float(x) for x in str(text).strip("[]").split(",") if x.strip()]


def _add_overrides(p: argparse.ArgumentParser) -> None:
    p.add_argument("--steps", type=int, help="override the budget's steps per run")
    p.add_argument("--seeds", type=int, help="override the number of fresh final seeds (>= 2)")
    p.add_argument("--lrs", type=_lrs, help="override the LR sweep, e.g. 1e-3,3e-3,1e-2")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--param-budget", type=int)


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(
        prog="paperfoundry_trainer",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = ap.add_subparsers(dest="command", parser_class=_Parser)

    t = sub.add_parser("train", help="compare an implementation against the baseline")
    t.add_argument("--impl", required=True, type=Path)
    t.add_argument("--task", required=True, choices=TASKS)
    t.add_argument("--budget", default="small", choices=BUDGET_NAMES)
    t.add_argument("--out", type=Path, default=Path("runs/trainer"))
    t.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    t.add_argument("--data", type=Path, help="lm corpus dir (train/val .bin or .txt)")
    t.add_argument("--checkpoint-dir", type=Path, help="default: <out>/checkpoints")
    t.add_argument("--checkpoint-interval", type=float, default=300.0, help="seconds")
    t.add_argument("--compile", action="store_true", help="torch.compile both models")
    t.add_argument("--paper-params", type=int, help="the paper's model size (for toy_scale)")
    t.add_argument("--validate-timeout", type=float, default=600.0)
    t.add_argument("--threads", type=int, help="CPU threads per run (default: 1 for tiny/small)")
    t.add_argument("--workers", type=int, help="runs in parallel (default: CPU cores, 1 on CUDA)")
    t.add_argument(
        "--isolation",
        default="none",
        choices=("none", "jail"),
        help="jail: run the implementation's code only in a bubblewrap jail (LLM-written code)",
    )
    _add_overrides(t)

    v = sub.add_parser("validate", help="validate an implementation only")
    v.add_argument("--impl", required=True, type=Path)
    v.add_argument("--task", required=True, choices=TASKS)
    v.add_argument("--budget", default="small", choices=BUDGET_NAMES)
    v.add_argument("--device", default="cpu")
    v.add_argument("--param-budget", type=int)
    v.add_argument("--timeout", type=float, default=600.0)

    d = sub.add_parser("prepare-data", help="download a corpus and write train/val splits")
    d.add_argument("--corpus", default="tiny-shakespeare")
    d.add_argument("--out", required=True, type=Path)
    d.add_argument("--url", help="override the download URL (or env PF_CORPUS_URL)")

    sub.add_parser("sagemaker", help="run from the SageMaker /opt/ml contract")
    return ap


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv or ["sagemaker"])
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.command == "train":
        return _train(args)
    if args.command == "validate":
        return _validate(args)
    if args.command == "prepare-data":
        from .data import prepare_data

        return prepare_data(args.corpus, args.out, args.url)
    return sagemaker_main()


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
        print(f"paperfoundry_trainer: {exc}", file=sys.stderr)
        return EXIT_USAGE
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


def _validate(args) -> int:
    from .validate import validate_in_subprocess

    spec = get_budget(args.task, args.budget, param_budget=args.param_budget).spec
    result = validate_in_subprocess(args.impl, spec, args.device, args.timeout)
    print(json.dumps(result, indent=1))
    return 0 if result["ok"] else 2


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
