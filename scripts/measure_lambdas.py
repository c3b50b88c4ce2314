#!/usr/bin/env python3
"""Measure the Lambda code asset: bundle size (unzipped / zipped) and each handler's
cold-start import time.

The bundle is built the way the CDK local bundling does it (stacks/bundling.py): pip
installs lambdas/requirements.txt as manylinux2014_x86_64 / CPython 3.12 wheels into a
directory and the contents of lambdas/ (the domain package + handlers) are copied next to
them. boto3/botocore (Lambda runtime) and Powertools + pydantic (the Powertools layer) are
not in the bundle; this venv's copies stand in for them.

Import time: `python -X importtime -c "import handlers.<name>"` in a fresh interpreter with
site-packages disabled (-S) and PYTHONPATH = bundle + a directory of links to the
runtime/layer packages, with PYTHONDONTWRITEBYTECODE=1 (Lambda's /var/task is read-only and
the bundle is built with --no-compile, so cold starts compile our modules from source).
The figure is the sum of the cumulative times of the top-level imports; the best of
`--runs` runs is reported (first-run disk-cache effects excluded).

Usage: .venv/bin/python scripts/measure_lambdas.py [--runs 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import importlib.metadata as metadata
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAMBDAS = ROOT / "lambdas"
REQUIREMENTS = LAMBDAS / "requirements.txt"
HANDLERS = ["scrape", "rank", "select", "report", "slack"]
# What the Lambda Python runtime and the Powertools v3 layer provide.
RUNTIME_DISTS = [
    "aws-lambda-powertools",
    "pydantic",
    "pydantic-core",
    "typing-extensions",
    "annotated-types",
    "typing-inspection",
    "aws-xray-sdk",
    "wrapt",
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "python-dateutil",
    "six",
    "urllib3",
]
IMPORT_GOAL_MS = 500
SIZE_GOAL_MB = 50


def build_bundle(out: Path) -> None:
    """Exactly what `cdk synth` does for the Lambda asset (stacks/bundling.py)."""
    sys.path.insert(0, str(ROOT))
    from stacks.bundling import PipLocalBundling  # imports the CDK (starts its jsii runtime)

    PipLocalBundling(LAMBDAS, REQUIREMENTS).try_bundle(str(out), image=None)


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def zipped_size(path: Path, zip_path: Path) -> int:
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for p in sorted(path.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(path))
    return zip_path.stat().st_size


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_dir(out: Path) -> Path:
    """Links to the top-level modules of the runtime/layer distributions in this venv."""
    wanted = {_norm(n) for n in RUNTIME_DISTS}
    out.mkdir(parents=True, exist_ok=True)
    found = set()
    for dist in metadata.distributions():
        if _norm(dist.metadata["Name"] or "") not in wanted:
            continue
        found.add(_norm(dist.metadata["Name"]))
        for file in dist.files or []:
            top = file.parts[0]
            if top.endswith((".dist-info", ".egg-info")) or top in ("..", "__pycache__"):
                continue
            source = Path(dist.locate_file(top))
            target = out / top
            if source.exists() and not target.exists():
                target.symlink_to(source, target_is_directory=source.is_dir())
    missing = wanted - found
    if missing:
        print(
            f"warning: not in this venv (not measured): {', '.join(sorted(missing))}",
            file=sys.stderr,
        )
    return out


_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)")


def import_time_us(
    module: str, pythonpath: str, *, tracing: bool = True
) -> tuple[int, list[tuple[int, str]]]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": pythonpath,
        "PYTHONDONTWRITEBYTECODE": "1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "paperfoundry",
        "POWERTOOLS_METRICS_NAMESPACE": "PaperFoundry",
        "POWERTOOLS_TRACE_DISABLED": "false" if tracing else "true",
    }
    proc = subprocess.run(
        [sys.executable, "-S", "-X", "importtime", "-c", f"import {module}"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"import {module} failed:\n{proc.stderr[-3000:]}")
    top: list[tuple[int, str]] = []
    second: list[tuple[int, str]] = []
    for line in proc.stderr.splitlines():
        match = _LINE.match(line)
        if match and len(match.group(3)) <= 1:  # one space after '|' = top level
            top.append((int(match.group(2)), match.group(4)))
        elif match and len(match.group(3)) == 3:  # second level: what the handler pulls in
            second.append((int(match.group(2)), match.group(4)))
    return sum(us for us, _ in top), sorted(second, reverse=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="build the bundle here and keep it")
    parser.add_argument("--top", type=int, default=3, help="heaviest top-level imports shown")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="pf-measure-"))
    try:
        bundle = args.keep or tmp / "bundle"
        if bundle.exists():
            shutil.rmtree(bundle)
        bundle.mkdir(parents=True)
        build_bundle(bundle)
        unzipped = dir_size(bundle)
        zipped = zipped_size(bundle, tmp / "bundle.zip")
        layer = runtime_dir(tmp / "runtime")
        pythonpath = os.pathsep.join([str(bundle), str(layer)])

        rows = []
        for name in HANDLERS:
            best, heaviest, untraced = None, [], None
            for _ in range(max(1, args.runs)):
                total, top = import_time_us(f"handlers.{name}", pythonpath)
                if best is None or total < best:
                    best, heaviest = total, top
                off, _top = import_time_us(f"handlers.{name}", pythonpath, tracing=False)
                untraced = off if untraced is None else min(untraced, off)
            rows.append((name, best / 1000, untraced / 1000, heaviest[: args.top]))

        mb = 1024 * 1024
        deps = "requirements.txt"
        print(f"bundle (lambdas/ + {deps}, manylinux2014_x86_64 cp312)")
        print(
            f"  unzipped {unzipped / mb:8.2f} MB   goal < {SIZE_GOAL_MB} MB   "
            f"{'OK' if unzipped < SIZE_GOAL_MB * mb else 'OVER'}"
        )
        print(f"  zipped   {zipped / mb:8.2f} MB")
        print()
        # The stack deploys with X-Ray off unless context enableTracing=true, so the goal
        # applies to the default; the traced column is the cost of opting in.
        print(
            f"{'handler':<8} {'import ms':>9} {'goal':>5} {'with X-Ray ms':>13}  "
            "heaviest imports of the handler (cumulative ms)"
        )
        print("-" * 100)
        for name, traced, ms, heaviest in rows:
            status = "OK" if ms < IMPORT_GOAL_MS else "SLOW"
            top = ", ".join(f"{mod} {us / 1000:.0f}" for us, mod in heaviest)
            print(f"{name:<8} {ms:>9.1f} {status:>5} {traced:>13.1f}  {top}")
        print()
        print(
            f"Python {sys.version.split()[0]} here (Lambda runs 3.12); import goal < "
            f"{IMPORT_GOAL_MS} ms; best of {args.runs} runs, bytecode not cached."
        )
        print(
            "'import ms': the deployed default (POWERTOOLS_TRACE_DISABLED=true, no X-Ray SDK); "
            "'with X-Ray ms': context enableTracing=true."
        )
        ok = all(ms < IMPORT_GOAL_MS for _, _, ms, _ in rows) and unzipped < SIZE_GOAL_MB * mb
        return 0 if ok else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
