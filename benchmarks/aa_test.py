"""A/A test: the harness's false-call rate, the baseline against itself.

Each repetition runs the full comparison protocol (LR sweep on validation, fresh seeds on
test, gates, Welch CIs) with a "candidate" that is the baseline model itself, built from a
different initialisation stream (the data stream is the same). Any `better` or `worse` is
a false call; the goal is zero in 10 repetitions at `small`.

  python benchmarks/aa_test.py [--budget small] [--reps 10] [--task mqar] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRAINER = ROOT / "containers" / "trainer"

IMPL = '''"""A/A candidate: the harness's own baseline, initialised from a shifted stream."""
import torch
from paperfoundry_trainer import baseline as ref

BASELINE = {{"short_conv": {conv}}}


def build_model(spec):
    torch.randn({shift})  # consume the init stream: same seed, different initial weights
    return ref.build(ref.size_to(spec.task, spec, spec.param_budget, {conv}))
'''


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--budget", default="small")
    ap.add_argument("--task", default="mqar", choices=("mqar", "lm"))
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "bench" / "aa")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    env = dict(os.environ, PYTHONPATH=str(TRAINER), PYTHONWARNINGS="ignore")
    conv = 3 if args.task == "mqar" else 0
    rows, counts, started = [], Counter(), time.time()
    for rep in range(args.reps):
        out = args.out / f"rep{rep}"
        impl = out / "impl" / "aa_baseline.py"
        impl.parent.mkdir(parents=True, exist_ok=True)
        impl.write_text(IMPL.format(shift=1000 + 7919 * rep, conv=conv))
        t = time.time()
        proc = subprocess.run(
            [sys.executable, "-m", "paperfoundry_trainer", "train", "--impl", str(impl),
             "--task", args.task, "--budget", args.budget, "--device", args.device,
             "--out", str(out), "--checkpoint-dir", str(out / "checkpoints")],
            env=env, capture_output=True, text=True,
        )  # fmt: skip
        metrics = json.loads((out / "metrics.json").read_text())
        if metrics["status"] != "ok":
            print(f"rep {rep}: harness failed (exit {proc.returncode}): {metrics['failure']}")
            counts["failed"] += 1
            continue
        comp = metrics["comparisons"][0]
        counts[comp["outcome"]] += 1
        lo, hi = comp["ci95"]
        row = (
            f"rep {rep}: {comp['outcome']:12s} effect {comp['effect']:+.4f} "
            f"95% CI [{lo:+.4f}, {hi:+.4f}]  baseline {metrics['models']['baseline']['mean']:.4f}"
            f"  ({time.time() - t:.0f}s)"
        )
        rows.append(row)
        print(row, flush=True)
    false_calls = counts["better"] + counts["worse"]
    done = sum(v for k, v in counts.items() if k != "failed")
    print(f"\nA/A at {args.task}/{args.budget}: {dict(counts)}")
    print(f"false calls (better/worse): {false_calls} of {done} ({time.time() - started:.0f}s)")
    return 0 if false_calls == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
