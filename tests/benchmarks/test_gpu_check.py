"""benchmarks/gpu_check.sh in its dry mode (CPU, tiny sizes, few steps): every phase runs and
the JSON it writes has the schema a GPU run writes, so the GPU check cannot rot unseen."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NONE = type(None)
NUM = (int, float)

TOP = {
    "schema": int, "kind": str, "dry_run": bool, "started_at": str, "wall_seconds": NUM,
    "install_seconds": (NUM, NONE), "end_to_end_seconds": NUM, "phase_seconds": dict,
    "environment": dict, "cuda_tests": dict, "throughput": dict, "verdict": dict,
    "targets": list, "errors": list, "passed": bool,
}  # fmt: skip
ENVIRONMENT = {
    "device": str, "device_name": str, "peak_flops": (NUM, NONE), "peak_source": str,
    "threads": int, "torch": str, "cuda": (str, NONE), "python": str, "tf32": (bool, NONE),
    "autocast": (str, NONE), "fused_adamw": bool, "gpu_class": (str, NONE),
    "bf16_supported": bool, "device_count": int, "compile_backend": str, "executable": str,
}  # fmt: skip
CUDA_TESTS = {
    "ran": bool, "command": list, "exit_code": (int, NONE), "tests": int, "passed": int,
    "failed": int, "skipped": int, "seconds": NUM, "note": (str, NONE),
}  # fmt: skip
SETTINGS = {
    "reps": int, "sub_blocks": int, "block_seconds": (NUM, NONE), "steps": (int, NONE),
    "warmup": int, "compile_backend": str, "sizes": list,
}  # fmt: skip
RUN = {
    "name": str, "n_layer": int, "d_model": int, "n_head": int, "seq_len": int, "batch": int,
    "params": int, "flops_per_token": dict, "compile": str, "plain": str, "mode": str,
    "train": dict, "infer": dict, "seconds": NUM, "peak_memory_mb": (NUM, NONE),
    "machine": dict,
}  # fmt: skip
MACHINE = {"loadavg_1min": list, "cores": int, "cpu_share": (NUM, NONE)}
CONTEST = {
    "steps_per_block": int, "tokens_per_block": int, "harness": dict, "plain": dict,
    "ratio": dict, "warmup_step_seconds": dict,
}  # fmt: skip
PATH = {"values": list, "median": NUM, "min": NUM, "max": NUM, "q1": NUM, "q3": NUM,
        "mfu": (NUM, NONE)}  # fmt: skip
RATIO = {"values": list, "median": NUM, "min": NUM, "max": NUM, "q1": NUM, "q3": NUM,
         "of_medians": NUM, "of_best": NUM, "slower": bool}  # fmt: skip
VERDICT = {
    "ran": bool, "command": list, "exit_code": (int, NONE), "seconds": NUM,
    "status": (str, NONE), "outcome": (str, NONE), "task": str, "budget": (str, NONE),
    "impl": str, "device": str, "gates": dict, "candidate": (NUM, NONE),
    "baseline": (NUM, NONE), "train_tokens_per_s": dict, "wall_seconds": (NUM, NONE),
    "note": (str, NONE),
}  # fmt: skip
TARGET = {"name": str, "value": (NUM, str, NONE), "goal": (NUM, str, NONE),
          "pass": (bool, NONE), "note": str}  # fmt: skip


def check(obj: dict, schema: dict, where: str) -> None:
    assert set(obj) == set(schema), f"{where}: keys {sorted(set(obj) ^ set(schema))}"
    for key, kind in schema.items():
        value = obj[key]
        # bool is an int in Python: a bool where a number belongs is a type error here
        assert isinstance(value, kind) and not (
            isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,))
        ), f"{where}.{key}: {type(value).__name__} {value!r}"


def test_dry_run_writes_the_gpu_schema(tmp_path):
    """The whole script, gpu_check.sh included (told which Python to use: no install)."""
    out = tmp_path / "gpu_check.json"
    env = {**os.environ, "PF_GPU_CHECK_DRY": "1", "PF_PYTHON": sys.executable}
    proc = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())
    check(report, TOP, "report")
    assert report["dry_run"] is True and report["kind"] == "gpu_check" and report["passed"]
    assert report["errors"] == [] and report["install_seconds"] is not None
    assert set(report["phase_seconds"]) == {
        "setup", "cuda_tests", "throughput_eager", "throughput_compiled", "verdict"
    }  # fmt: skip
    check(report["environment"], ENVIRONMENT, "environment")
    assert report["environment"]["device"] == "cpu"

    tests = report["cuda_tests"]
    check(tests, CUDA_TESTS, "cuda_tests")
    assert tests["exit_code"] == 0 and tests["tests"] >= 5 and tests["failed"] == 0

    tp = report["throughput"]
    assert set(tp) == {"settings", "runs", "skipped"}
    check(tp["settings"], SETTINGS, "settings")
    modes = [(r["name"], r["mode"]) for r in tp["runs"]]
    assert [m for _, m in modes].count("eager") == 3 and ("tiny-c", "compiled") in modes
    for run in tp["runs"]:
        check(run, RUN, f"run {run['name']}")
        assert set(run["flops_per_token"]) == {"train", "infer"}
        check(run["machine"], MACHINE, f"run {run['name']}.machine")
        for kind in ("train", "infer"):
            contest = run[kind]
            check(contest, CONTEST, f"{run['name']}.{kind}")
            check(contest["harness"], PATH, f"{run['name']}.{kind}.harness")
            check(contest["plain"], PATH, f"{run['name']}.{kind}.plain")
            check(contest["ratio"], RATIO, f"{run['name']}.{kind}.ratio")
            assert len(contest["ratio"]["values"]) == tp["settings"]["reps"]
    for skipped in tp["skipped"]:
        assert set(skipped) == {"name", "mode", "reason"}

    verdict = report["verdict"]
    check(verdict, VERDICT, "verdict")
    assert verdict["status"] == "ok" and verdict["outcome"] == "smoke"
    assert verdict["exit_code"] == 0 and verdict["gates"]

    names = [t["name"] for t in report["targets"]]
    for t in report["targets"]:
        check(t, TARGET, f"target {t['name']}")
    for expected in ("cuda_tests", "harness_vs_plain_train", "harness_vs_plain_infer",
                     "verdict", "end_to_end_seconds"):  # fmt: skip
        assert expected in names
    assert any(n.startswith("mfu_train_") for n in names)
    assert any(n.startswith("compile_speedup") for n in names)
    assert "PASS gpu_check" in proc.stdout
