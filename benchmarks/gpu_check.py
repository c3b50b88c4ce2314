"""The GPU check: CUDA tests, throughput and MFU, one training verdict, in one JSON file.

Run it through `benchmarks/gpu_check.sh` (which finds or installs the environment first);
`python benchmarks/gpu_check.py --dry-run` (or PF_GPU_CHECK_DRY=1) runs every phase on the CPU
with tiny sizes and few steps in well under a minute and writes the same JSON schema
(tests/benchmarks/test_gpu_check.py keeps it from rotting). Phases, in order, each guarded
by what is left of --budget-s so that the JSON is always written:

  1. environment  torch, CUDA, the GPU, its peak bf16 FLOP/s (harness_throughput's table)
  2. cuda_tests   pytest tests/benchmarks/test_cuda.py (bf16, TF32, fused AdamW, compile,
                  the worker's ops, a tiny comparison); on a GPU none may be skipped
  3. throughput   the baseline GPT at 3 sizes up to ~127M parameters, bf16 autocast + TF32
                  + fused AdamW: harness vs plain loop, training and inference, interleaved
                  (harness_throughput.measure_size), eager and then torch.compile (largest
                  first, so the figure the MFU goal is about comes before the budget ends)
  4. verdict      `paperfoundry_trainer train` on the BASED reference implementation
                  (lambdas/paperfoundry/library) at the `small` mqar budget on the GPU
  5. targets      a PASS / FAIL / INFO line per target (MFU_GOALS and the other goals below;
                  docs/BENCHMARKS.md); INFO: reported, no goal here (a dry run, another GPU)

Exit code: 0 when no target failed, 1 otherwise (2: bad usage).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
import xml.etree.ElementTree as ET
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import harness_throughput as ht  # noqa: E402

SCHEMA = 1
VERDICT_IMPL = ROOT / "lambdas" / "paperfoundry" / "library" / "based_2402_18668.py"
CUDA_TESTS = ROOT / "tests" / "benchmarks" / "test_cuda.py"

# MFU goals for the compiled training step of the largest size (~127M parameters), by GPU
# class: the first class whose name appears in torch.cuda.get_device_name() applies.
MFU_GOALS = {
    "H100/H200": (("H100", "H200"), 0.45, "goal"),
    "A10G": (("A10G",), 0.35, "expectation"),
}
HARNESS_RATIO_GOAL = 0.95  # harness/plain tokens/s (median over pairs), eager, every size
END_TO_END_GOAL_S = 480.0  # install + check on a GPU machine
DRY_END_TO_END_GOAL_S = 60.0

GPU_PLAN = {
    "sizes": ht.GPU_SIZES,
    "reps": 3,
    "sub_blocks": 3,
    "block_seconds": 0.25,
    "warmup": 3,
    "compile": True,  # inductor, as the harness's --compile
    "compiled_sizes": 3,
    "verdict": "--budget small --workers 4".split(),  # 4 runs at a time share the GPU
    "verdict_timeout_s": 300,
}
DRY_PLAN = {
    "sizes": ht.TINY_SIZES,
    "reps": 2,
    "sub_blocks": 1,
    "block_seconds": None,  # fixed steps instead
    "steps": 2,
    "warmup": 1,
    "compile": "eager",  # dynamo tracing without inductor: seconds on a CPU, no compiler
    "compiled_sizes": 1,  # the largest only: the path is exercised, the figure meaningless
    "verdict": "--budget tiny --steps 10 --seeds 2 --lrs 1e-2 --workers 2".split(),
    "verdict_timeout_s": 120,
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class Clock:
    def __init__(self, budget_s: float):
        self.t0, self.budget = time.monotonic(), budget_s

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def left(self) -> float:
        return self.budget - self.elapsed()


def gpu_class(name: str) -> str | None:
    for cls, (keys, _goal, _kind) in MFU_GOALS.items():
        if any(k in name for k in keys):
            return cls
    return None


def environment(device, dry: bool) -> dict:
    peak, src = ht.peak_flops(device, None)
    env = ht.environment(device, peak, src, torch.get_num_threads())
    env["gpu_class"] = gpu_class(env["device_name"]) if device.type == "cuda" else None
    env["bf16_supported"] = bool(device.type == "cuda" and torch.cuda.is_bf16_supported())
    env["device_count"] = torch.cuda.device_count() if torch.cuda.is_available() else 0
    env["compile_backend"] = "eager" if dry else "inductor"
    env["executable"] = sys.executable
    return env


# -- phase 2: the CUDA tests --------------------------------------------------------------
def run_cuda_tests(timeout_s: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "junit.xml"
        cmd = [sys.executable, "-m", "pytest", str(CUDA_TESTS.relative_to(ROOT)), "-q", "-rs",
               "-p", "no:cacheprovider", f"--junitxml={xml}"]  # fmt: skip
        out = {"ran": True, "command": cmd[1:], "exit_code": None, "tests": 0, "passed": 0,
               "failed": 0, "skipped": 0, "seconds": 0.0, "note": None}  # fmt: skip
        t0 = time.monotonic()
        try:
            proc = subprocess.run(
                cmd, cwd=ROOT, capture_output=True, text=True, timeout=max(10.0, timeout_s)
            )
            out["exit_code"] = proc.returncode
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-15:]
            log("\n".join(tail))
        except subprocess.TimeoutExpired:
            out["note"] = f"timed out after {timeout_s:.0f} s"
        out["seconds"] = round(time.monotonic() - t0, 2)
        if xml.is_file():
            suite = ET.parse(xml).getroot()  # noqa: S314 - written by our own pytest run
            suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
            n = int(suite.get("tests", 0))
            bad = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
            skipped = int(suite.get("skipped", 0))
            out.update(tests=n, failed=bad, skipped=skipped, passed=n - bad - skipped)
    return out


# -- phase 3: throughput ------------------------------------------------------------------
def _slim(r: dict) -> dict:
    """One measure_size result without the raw block times (kept: per-pair figures)."""
    for kind in ("train", "infer"):
        if kind in r:
            r[kind] = {k: v for k, v in r[kind].items() if k != "block_seconds"}
    return r


def measure(size, device, plan, compile, peak) -> dict:
    r = ht.measure_size(
        size,
        device,
        reps=plan["reps"],
        steps=plan.get("steps"),
        warmup=plan["warmup"],
        block_seconds=plan["block_seconds"] or 0.0,
        compile=compile,
        peak=peak,
        sub_blocks=plan["sub_blocks"],
    )
    r["mode"] = "compiled" if compile else "eager"
    log("\n".join(ht.format_size(r)))
    return _slim(r)


def _try_measure(size, device, plan, compile, peak, runs: list, skipped: list) -> None:
    """One size into `runs`, or into `skipped` when it does not fit in the GPU's memory."""
    try:
        runs.append(measure(size, device, plan, compile, peak))
        return
    except torch.cuda.OutOfMemoryError:
        pass
    mode = "compiled" if compile else "eager"
    skipped.append({"name": size.name, "mode": mode, "reason": "out of GPU memory"})
    log(f"gpu_check: {size.name} ({mode}) does not fit in GPU memory; skipped")
    gc.collect()  # the failed attempt's models, now unreferenced
    torch.cuda.empty_cache()


def run_eager(device, plan, peak) -> tuple[list, list]:
    runs, skipped = [], []
    for size in plan["sizes"]:
        _try_measure(size, device, plan, False, peak, runs, skipped)
    return runs, skipped


def run_compiled(device, plan, peak, clock: Clock, sizes) -> tuple[list, list]:
    runs, skipped = [], []
    for size in sizes:
        # a compiled size costs its compilation (tens of seconds on a GPU) plus the timing
        need = 5.0 if device.type == "cpu" else 45.0 + 2 * size.n_layer
        if clock.left() < need:
            skipped.append({"name": size.name, "mode": "compiled", "reason": "time budget"})
            log(f"gpu_check: skipping compiled {size.name}: {clock.left():.0f} s left")
            continue
        _try_measure(size, device, plan, plan["compile"], peak, runs, skipped)
    return runs, skipped


# -- phase 4: one training verdict --------------------------------------------------------
def run_verdict(device, plan, timeout_s: float) -> dict:
    out = {"ran": True, "command": None, "exit_code": None, "seconds": 0.0, "status": None,
           "outcome": None, "task": "mqar", "budget": None, "impl": VERDICT_IMPL.name,
           "device": device.type, "gates": {}, "candidate": None, "baseline": None,
           "train_tokens_per_s": {}, "wall_seconds": None, "note": None}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "paperfoundry_trainer", "train", "--impl",
               str(VERDICT_IMPL), "--task", "mqar", "--device", device.type, "--out", tmp,
               *plan["verdict"]]  # fmt: skip
        out["command"] = cmd[1:]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(ROOT / "containers" / "trainer"), env.get("PYTHONPATH", "")]
        ).rstrip(os.pathsep)
        t0 = time.monotonic()
        try:
            proc = subprocess.run(
                cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout_s
            )
            out["exit_code"] = proc.returncode
            log("\n".join(proc.stdout.strip().splitlines()[-12:]))
            if proc.returncode != 0:
                log("\n".join(proc.stderr.strip().splitlines()[-12:]))
        except subprocess.TimeoutExpired:
            out["note"] = f"timed out after {timeout_s:.0f} s"
        out["seconds"] = round(time.monotonic() - t0, 2)
        path = Path(tmp) / "metrics.json"
        if path.is_file():
            m = json.loads(path.read_text())
            verdict = m.get("verdict") or {}
            out.update(
                status=m.get("status"),
                outcome=m.get("outcome"),
                budget=m.get("budget"),
                wall_seconds=m.get("wall_seconds"),
                gates={g["name"]: bool(g["passed"]) for g in m.get("gates", [])},
                candidate=verdict.get("candidate_mean"),
                baseline=verdict.get("baseline_mean"),
                train_tokens_per_s={
                    name: eff.get("train_tokens_per_s")
                    for name, eff in (m.get("efficiency") or {}).items()
                },
            )
            if m.get("failure"):
                out["note"] = f"{m['failure'].get('type')}: {m['failure'].get('message')}"
    return out


# -- phase 5: targets ---------------------------------------------------------------------
def target(name, value, goal, ok, note) -> dict:
    return {"name": name, "value": value, "goal": goal, "pass": ok, "note": note}


def _largest(runs, mode):
    mine = [r for r in runs if r["mode"] == mode]
    return max(mine, key=lambda r: r["params"]) if mine else None


def targets(report: dict, dry: bool) -> list[dict]:
    env, out = report["environment"], []
    gpu = env["device"] == "cuda"
    tests = report["cuda_tests"]
    if tests.get("ran"):
        clean = tests["exit_code"] == 0 and tests["failed"] == 0
        if gpu:
            ok = clean and tests["skipped"] == 0 and tests["tests"] > 0
            note = f"{tests['passed']} passed, {tests['failed']} failed, {tests['skipped']} skipped"
        else:
            ok = None if clean else False  # skipped without a GPU: nothing to judge
            note = f"no GPU: {tests['skipped']} skipped (the run itself works)"
        out.append(target("cuda_tests", tests["passed"], tests["tests"], ok, note))
    runs = report["throughput"]["runs"]
    compiled, eager = _largest(runs, "compiled"), _largest(runs, "eager")
    goal = MFU_GOALS.get(env.get("gpu_class") or "")
    best = compiled or eager
    mfu = best["train"]["harness"]["mfu"] if best else None
    name = f"mfu_train_{best['name'] if best else 'largest'}_{best['mode'] if best else ''}"
    if not gpu:
        ok, why = None, "dry run on the CPU"
    elif not goal:
        ok, why = None, f"no MFU goal for {env['device_name']}"
    elif not compiled:
        ok, why = False, "no compiled run (time budget)"
    else:
        ok = mfu is not None and mfu >= goal[1]
        why = f"{goal[2]} on {env['gpu_class']}: compiled training step, bf16, harness path"
    out.append(target(name, mfu, goal[1] if goal else None, ok, why))
    for kind in ("train", "infer"):
        ratios = [r[kind]["ratio"]["median"] for r in runs if r["mode"] == "eager"]
        worst = min(ratios) if ratios else None
        ok = (worst is not None and worst >= HARNESS_RATIO_GOAL) if gpu else None
        note = "harness/plain, median over interleaved pairs, worst size (eager)"
        if not gpu:
            note += "; CPU tiny sizes: informational"
        out.append(target(f"harness_vs_plain_{kind}", worst, HARNESS_RATIO_GOAL, ok, note))
    if compiled and eager and compiled["name"] == eager["name"]:
        speedup = compiled["train"]["harness"]["median"] / eager["train"]["harness"]["median"]
        ok = speedup >= 1.0 if gpu else None
        note = "compiled / eager harness training tokens/s"
        out.append(target(f"compile_speedup_{compiled['name']}", speedup, 1.0, ok, note))
    else:
        note = "no compiled run of the largest size"
        out.append(target("compile_speedup", None, 1.0, False if gpu else None, note))
    v = report["verdict"]
    if v.get("ran"):
        ok = v["status"] == "ok" and v["outcome"] not in (None, "invalid")
        if gpu:
            ok = ok and v["gates"].get("baseline_competence") is True
        note = f"{v['impl']} mqar/{v['budget']}: status {v['status']}, outcome {v['outcome']}"
        if v.get("note"):
            note += f" ({v['note']})"
        out.append(target("verdict", v["outcome"], "a verdict, gates passed", ok, note))
    else:
        note = v.get("note") or "not run"
        ok = None if note.startswith("skipped (--skip-verdict)") else False
        out.append(target("verdict", None, "a verdict, gates passed", ok, note))
    e2e = report["end_to_end_seconds"]
    if dry:  # informational: a loaded CPU must not fail the dry run
        note = "dry run on the CPU (informational)"
        out.append(target("end_to_end_seconds", e2e, DRY_END_TO_END_GOAL_S, None, note))
    else:
        ok = e2e <= END_TO_END_GOAL_S
        note = "install (gpu_check.sh) + this check"
        out.append(target("end_to_end_seconds", e2e, END_TO_END_GOAL_S, ok, note))
    return out


def print_targets(rows: list[dict]) -> None:
    for t in rows:
        word = {True: "PASS", False: "FAIL", None: "INFO"}[t["pass"]]
        value, goal = t["value"], t["goal"]
        if isinstance(value, float):
            value = f"{value:.3f}"
        if isinstance(goal, float):
            goal = f"{goal:.3f}"
        print(f"{word} {t['name']}: {value} (goal {goal}) - {t['note']}", flush=True)


# -- main ---------------------------------------------------------------------------------
def skeleton(dry: bool, install_s) -> dict:
    return {
        "schema": SCHEMA,
        "kind": "gpu_check",
        "dry_run": dry,
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "wall_seconds": None,
        "install_seconds": install_s,
        "end_to_end_seconds": None,
        "phase_seconds": {},
        "environment": {},
        "cuda_tests": {"ran": False, "note": None},
        "throughput": {"settings": {}, "runs": [], "skipped": []},
        "verdict": {"ran": False, "note": None},
        "targets": [],
        "errors": [],
        "passed": False,
    }


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--dry-run", action="store_true", help="CPU, tiny sizes (or PF_GPU_CHECK_DRY=1)"
    )
    ap.add_argument("--out", type=Path, default=Path("gpu_check.json"))
    ap.add_argument(
        "--budget-s", type=float, help="seconds for this check (470 - install, <= 420; dry 120)"
    )
    ap.add_argument("--install-seconds", type=float, help="time gpu_check.sh spent installing")
    ap.add_argument("--skip-tests", action="store_true")
    ap.add_argument("--skip-verdict", action="store_true")
    ap.add_argument("--skip-compile", action="store_true")
    return ap


def run_check(args, dry: bool, clock: Clock, report: dict) -> None:
    """Phases 1-4 into `report` (phase 5, the targets, is main's)."""
    plan = DRY_PLAN if dry else GPU_PLAN
    if not dry and not torch.cuda.is_available():
        raise RuntimeError(
            f"no CUDA device visible to torch {torch.__version__} (built for CUDA "
            f"{torch.version.cuda}): a CPU-only wheel, or no driver? See docs/BENCHMARKS.md "
            "(or use --dry-run)"
        )
    phases, mark = report["phase_seconds"], [0.0]

    def lap(name: str) -> None:  # seconds since the previous lap, added to phases[name]
        now = clock.elapsed()
        phases[name] = round(phases.get(name, 0.0) + now - mark[0], 2)
        mark[0] = now

    device = ht.setup_device("cpu" if dry else "cuda")  # TF32 on for CUDA
    if dry:
        torch.set_num_threads(1)  # stable and cheap; the verdict's workers run alongside
    report["environment"] = env = environment(device, dry)
    log(f"gpu_check: {env['device_name']} ({env['peak_source']}), torch {env['torch']}")
    lap("setup")
    if not args.skip_tests:
        report["cuda_tests"] = run_cuda_tests(min(180.0, clock.left() - 20))
    lap("cuda_tests")

    keys = ("reps", "sub_blocks", "block_seconds", "steps", "warmup")
    report["throughput"]["settings"] = {k: plan.get(k) for k in keys} | {
        "compile_backend": env["compile_backend"],
        "sizes": [size.name for size in plan["sizes"]],
    }
    peak, runs = env["peak_flops"], report["throughput"]["runs"]
    skipped = report["throughput"]["skipped"]
    more, left_out = run_eager(device, plan, peak)
    runs += more
    skipped += left_out
    lap("throughput_eager")

    # compiled: largest first, so the figure the MFU goal is about comes before the verdict
    order = sorted(plan["sizes"], key=lambda s: (-s.d_model, -s.n_layer))
    n = 0 if args.skip_compile else plan["compiled_sizes"]
    why = "--skip-compile" if args.skip_compile else "not planned"
    skipped += [{"name": s.name, "mode": "compiled", "reason": why} for s in order[n:]]
    more, left_out = run_compiled(device, plan, peak, clock, order[:n][:1])
    runs += more
    skipped += left_out
    lap("throughput_compiled")

    timeout = min(plan["verdict_timeout_s"], clock.left() - 5)
    if args.skip_verdict:
        report["verdict"] = {"ran": False, "note": "skipped (--skip-verdict)"}
    elif timeout > 30:
        report["verdict"] = run_verdict(device, plan, timeout)
    else:
        report["verdict"] = {"ran": False, "note": "skipped: time budget"}
    lap("verdict")

    more, left_out = run_compiled(device, plan, peak, clock, order[:n][1:])
    runs += more
    skipped += left_out
    lap("throughput_compiled")


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    dry = args.dry_run or os.environ.get("PF_GPU_CHECK_DRY", "") not in ("", "0")
    # the whole check, install included, should end within END_TO_END_GOAL_S
    default = 120.0 if dry else min(420.0, max(150.0, 470.0 - (args.install_seconds or 0)))
    clock = Clock(args.budget_s or default)
    report = skeleton(dry, args.install_seconds)
    ok = False
    try:
        run_check(args, dry, clock, report)
        ok = True
    except Exception as exc:  # noqa: BLE001 - recorded in the JSON, which is always written
        report["errors"].append(f"{type(exc).__name__}: {exc}")
        log(traceback.format_exc())
    report["wall_seconds"] = round(clock.elapsed(), 2)
    report["end_to_end_seconds"] = round(report["wall_seconds"] + (args.install_seconds or 0), 2)
    if report["environment"]:
        report["targets"] = targets(report, dry)
    else:
        why = report["errors"][-1] if report["errors"] else ""
        report["targets"] = [target("environment", None, "a CUDA device", False, why)]
    print_targets(report["targets"])
    report["passed"] = ok and all(t["pass"] is not False for t in report["targets"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    word = "PASS" if report["passed"] else "FAIL"
    what = f"{'dry run, ' if dry else ''}{report['wall_seconds']:.0f} s"
    print(f"{word} gpu_check ({what}): wrote {args.out}", flush=True)
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
