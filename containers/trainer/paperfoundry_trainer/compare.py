"""The fair comparison: candidate vs matched baseline, same data, same optimiser, same budget.

  1. validate the candidate in a fresh subprocess (structured failure -> exit 2)
  2. LR sweep, seed 0, for each model over budget.lrs
  3. extra seeds (1..seeds-1) at each model's best LR (the sweep run is seed 0)
  4. verdict from mean/std over seeds; metrics.json, loss-curve PNG, a table on stdout

The whole comparison state (finished runs + the current run's model/optimizer/step/RNG) is
checkpointed after each run, every `checkpoint_interval_s`, and on SIGTERM, so a restarted
job resumes where it stopped and ends with the same total number of steps.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from . import plot
from .baseline import build_baseline
from .sagemaker import Paths, StopFlag, load_checkpoint, save_checkpoint
from .spec import Budget
from .tasks import make_task
from .train import Interrupted, TrainConfig, Trainer, setup_device
from .train import run as train_run
from .validate import failure, load_impl, validate_in_subprocess

EXIT_OK, EXIT_ERROR, EXIT_INVALID_IMPL, EXIT_INTERRUPTED = 0, 1, 2, 143
MIN_EFFECT = {"query_accuracy": 0.02, "val_bpb": 0.01}  # smaller effects are never "real"
TOY_PARAMS = 10_000_000  # without paper_params, budgets below this are toy scale


@dataclass
class Job:
    impl: Path
    task: str
    budget: Budget
    paths: Paths
    device: str = "auto"
    data_dir: Path | None = None
    compile: bool = False
    paper_params: int | None = None
    checkpoint_interval_s: float = 300.0
    validate_timeout_s: float = 600.0
    sagemaker: bool = False
    threads: int | None = None  # CPU intra-op threads; default 1 for tiny/small, else torch's
    extra: dict = field(default_factory=dict)


class CandidateFailed(Exception):
    def __init__(self, info: dict):
        super().__init__(info["message"])
        self.info = info


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def emit(line: str) -> None:
    """Machine-readable lines (SageMaker MetricDefinitions parse these) go to stdout."""
    print(line, flush=True)


def run_comparison(job: Job, stop: StopFlag | None = None) -> int:
    t0 = time.time()
    stop = stop or StopFlag()
    device = setup_device(job.device)
    if device.type == "cpu" and job.budget.name in ("tiny", "small") and job.threads is None:
        # toy models are dispatch-bound: extra intra-op threads only add contention
        torch.set_num_threads(1)
    elif job.threads:
        torch.set_num_threads(job.threads)
    metrics = _skeleton(job, device)
    try:
        code = _compare(job, device, metrics, stop, t0)
    except Interrupted:
        log(
            f"pf: stop requested; checkpoint saved in {job.paths.checkpoint_dir}; exiting "
            f"with {EXIT_INTERRUPTED} (rerun with the same checkpoint dir to resume)"
        )
        emit("pf_interrupted")
        return EXIT_INTERRUPTED
    except CandidateFailed as exc:
        metrics.update(status="failed", failure=exc.info)
        code = EXIT_INVALID_IMPL
    except Exception as exc:  # noqa: BLE001 - harness/setup errors are reported, not raised
        info = failure("harness", exc, job.impl)
        if isinstance(exc, FileNotFoundError | ValueError):
            info["stage"] = "setup"
        metrics.update(status="failed", failure=info)
        code = EXIT_ERROR
    if metrics["wall_seconds"] is None:
        metrics["wall_seconds"] = time.time() - t0
    metrics["wall_seconds"] = round(metrics["wall_seconds"], 3)
    _write_outputs(job, metrics)
    if metrics["status"] == "failed":
        f = metrics["failure"]
        log(f"pf: FAILED at stage {f['stage']}: {f['type']}: {f['message']}")
        if f.get("traceback"):
            log(f["traceback"])
    return code


def _skeleton(job: Job, device) -> dict:
    return {
        "schema": 1,
        "status": "failed",
        "task": job.task,
        "budget": job.budget.name,
        "impl": job.impl.name,
        "device": device.type,
        "failure": None,
        "metric": None,
        "params": {"baseline": None, "candidate": None, "budget": job.budget.spec.param_budget},
        "sweep": [],
        "final": None,
        "verdict": None,
        "curves": {},
        "tokens_per_run": job.budget.steps * job.budget.batch_size * job.budget.spec.seq_len,
        "steps": job.budget.steps,
        "wall_seconds": None,
        "plots": [],
    }


def _fingerprint(job: Job, impl_bytes: bytes) -> str:
    """A checkpoint is only resumed by the exact same comparison."""
    key = json.dumps(
        {
            "impl": hashlib.sha256(impl_bytes).hexdigest(),
            "task": job.task,
            "budget": asdict(job.budget),
            "device": job.device,
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(key.encode()).hexdigest()


def _compare(job: Job, device, metrics: dict, stop: StopFlag, t0: float) -> int:
    b, spec = job.budget, job.budget.spec
    if not job.impl.is_file():
        raise FileNotFoundError(f"implementation file not found: {job.impl}")

    # 1. validate in a fresh interpreter: syntax errors, hangs and crashes stay over there
    log(
        f"pf: validating {job.impl.name} (task={job.task}, budget={b.name}, "
        f"param_budget={spec.param_budget:,}, device={device.type})"
    )
    check = validate_in_subprocess(job.impl, spec, device.type, job.validate_timeout_s)
    if not check["ok"]:
        raise CandidateFailed(check["failure"])
    module = load_impl(job.impl)

    task = make_task(job.task, spec, b.task_args, device, job.data_dir)
    metrics["metric"] = {"name": task.metric, "higher_is_better": task.higher_is_better}
    eval_batches = task.eval_batches(b.batch_size, b.eval_batches)
    builders = {
        "baseline": lambda: build_baseline(spec),
        "candidate": lambda: module.build_model(spec),
    }
    metrics["params"]["candidate"] = check["params"]
    metrics["params"]["baseline"] = sum(p.numel() for p in build_baseline(spec).parameters())

    fp = _fingerprint(job, job.impl.read_bytes())
    state = {"fingerprint": fp, "done": {}, "current": None, "wall_seconds": 0.0}
    ckdir = job.paths.checkpoint_dir
    saved = load_checkpoint(ckdir)
    if saved and saved.get("fingerprint") == fp:
        state = saved
        log(
            f"pf: resuming from checkpoint in {ckdir}: {len(state['done'])} runs done"
            + (
                f", {state['current']['run_id']} at step {state['current']['trainer']['step']}"
                if state["current"]
                else ""
            )
        )
    elif saved:
        log(f"pf: ignoring checkpoint in {ckdir}: it belongs to a different comparison")
    wall_before = state["wall_seconds"]

    def save(current=None):
        if ckdir is not None:
            state["current"] = current
            state["wall_seconds"] = wall_before + time.time() - t0
            save_checkpoint(ckdir, state)

    n_runs = 2 * (len(b.lrs) + b.seeds - 1)

    def do_run(model_name: str, lr: float, seed: int) -> dict:
        run_id = f"{model_name}:lr={lr:g}:seed={seed}"
        if run_id in state["done"]:
            return state["done"][run_id]
        k = len(state["done"]) + 1
        cfg = TrainConfig(
            steps=b.steps,
            batch_size=b.batch_size,
            lr=lr,
            warmup_frac=b.warmup_frac,
            log_every=b.log_every,
        )
        try:
            torch.manual_seed(seed)  # same init stream for every run with this seed
            trainer = Trainer(builders[model_name](), task, cfg, seed, device, job.compile)
            cur = state["current"]
            if cur and cur["run_id"] == run_id:
                trainer.load_state_dict(cur["trainer"])
            last_save = [time.monotonic()]

            def checkpoint(force: bool):
                if force or time.monotonic() - last_save[0] >= job.checkpoint_interval_s:
                    save({"run_id": run_id, "trainer": trainer.state_dict()})
                    last_save[0] = time.monotonic()

            def on_log(step, loss, elapsed):
                emit(
                    f"pf_metric model={model_name} seed={seed} lr={lr:g} step={step} "
                    f"train_loss={loss:.4f}"
                )
                rate = (step - start) / max(elapsed, 1e-9)
                log(
                    f"[{k}/{n_runs}] {model_name:9s} lr={lr:<7g} seed={seed} "
                    f"step {step}/{b.steps} loss {loss:.4f} ({rate:.1f} it/s)"
                )

            start, t_run = trainer.step, time.perf_counter()
            res = train_run(
                trainer,
                eval_batches,
                on_log=on_log,
                should_stop=stop,
                checkpoint=checkpoint if ckdir is not None else _no_checkpoint(stop),
            )
        except (Interrupted, KeyboardInterrupt):
            raise
        except Exception as exc:
            if model_name == "candidate":
                raise CandidateFailed(failure("train", exc, job.impl)) from exc
            raise
        result = {
            "model": model_name,
            "lr": lr,
            "seed": seed,
            "value": res["value"],
            "final_loss": res["final_loss"],
            "diverged": res["diverged"],
            "curve": res["curve"],
            "seconds": round(time.perf_counter() - t_run, 2),
        }
        state["done"][run_id] = result
        save(None)
        emit(f"pf_eval model={model_name} seed={seed} lr={lr:g} {task.metric}={res['value']:.4f}")
        log(
            f"[{k}/{n_runs}] {model_name:9s} lr={lr:<7g} seed={seed} done: "
            f"{task.metric}={res['value']:.4f}"
            + (" DIVERGED" if res["diverged"] else "")
            + f" ({result['seconds']:.1f}s)"
        )
        return result

    # 2. LR sweep at seed 0, then 3. extra seeds at each model's best LR
    models = ("baseline", "candidate")
    sweep = {m: [do_run(m, lr, 0) for lr in b.lrs] for m in models}
    best = {m: _best(sweep[m], task.higher_is_better) for m in models}
    final = {
        m: [best[m]] + [do_run(m, best[m]["lr"], s) for s in range(1, b.seeds)] for m in models
    }

    # 4. report
    metrics["sweep"] = [
        {k: r[k] for k in ("model", "lr", "seed", "value", "final_loss", "diverged")}
        for m in models
        for r in sweep[m]
    ]
    metrics["final"] = {m: _summary(final[m]) for m in models}
    metrics["curves"] = {m: {str(r["seed"]): r["curve"] for r in final[m]} for m in models}
    metrics["verdict"] = verdict(
        metrics["final"], task.metric, task.higher_is_better, job, metrics["params"]
    )
    metrics["status"] = "ok"
    metrics["wall_seconds"] = wall_before + time.time() - t0
    for m in models:
        emit(f"pf_final model={m} value={metrics['final'][m]['mean']:.6f}")
    emit(
        f"pf_verdict outcome={metrics['verdict']['outcome']} "
        f"effect={metrics['verdict']['effect']:.6f}"
    )
    print(result_table(metrics), flush=True)
    return EXIT_OK


def _no_checkpoint(stop):
    def checkpoint(force: bool):
        if force:
            log("pf: no checkpoint dir configured; progress of this comparison is lost")

    return checkpoint


def _best(runs: list[dict], higher_is_better: bool) -> dict:
    ok = [r for r in runs if not r["diverged"]]
    if not ok:
        return min(runs, key=lambda r: r["lr"])
    return (max if higher_is_better else min)(ok, key=lambda r: r["value"])


def _summary(runs: list[dict]) -> dict:
    values = [r["value"] for r in runs]
    return {
        "lr": runs[0]["lr"],
        "seeds": [r["seed"] for r in runs],
        "values": values,
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
    }


def verdict(final: dict, metric: str, higher_is_better: bool, job: Job, params: dict) -> dict:
    """better/worse only if |effect| > max(2 x pooled seed std, MIN_EFFECT[metric])."""
    c, base = final["candidate"], final["baseline"]
    sign = 1.0 if higher_is_better else -1.0
    effect = sign * (c["mean"] - base["mean"])  # > 0 means the candidate is better
    pooled = math.sqrt((c["std"] ** 2 + base["std"] ** 2) / 2)
    threshold = max(2 * pooled, MIN_EFFECT.get(metric, 0.0))
    outcome = "better" if effect > threshold else "worse" if effect < -threshold else "inconclusive"
    budget = params["budget"]
    toy = budget < job.paper_params / 10 if job.paper_params else budget < TOY_PARAMS
    n = len(c["values"])
    phrase = {
        "better": "beats",
        "worse": "is worse than",
        "inconclusive": "is not distinguishable from",
    }[outcome]
    summary = (
        f"{job.impl.stem} {phrase} the matched baseline on {job.task}: "
        f"{metric} {c['mean']:.4f}±{c['std']:.4f} vs {base['mean']:.4f}±"
        f"{base['std']:.4f} over {n} seeds (effect {effect:+.4f}, threshold "
        f"{threshold:.4f}, ~{budget:,} params{', toy scale' if toy else ''})."
    )
    return {
        "outcome": outcome,
        "metric": metric,
        "higher_is_better": higher_is_better,
        "candidate_mean": c["mean"],
        "baseline_mean": base["mean"],
        "candidate_std": c["std"],
        "baseline_std": base["std"],
        "effect": effect,
        "toy_scale": toy,
        "summary": summary,
    }


def result_table(metrics: dict) -> str:
    name = metrics["metric"]["name"]
    rows = [f"{'model':10s} {'lr':>8s} {'seed':>4s} {name:>15s} {'final_loss':>10s}  note"]
    best_lr = {m: metrics["final"][m]["lr"] for m in metrics["final"]}
    for r in metrics["sweep"]:
        note = ("diverged " if r["diverged"] else "") + (
            "best lr" if r["lr"] == best_lr[r["model"]] else ""
        )
        fl = f"{r['final_loss']:.4f}" if r["final_loss"] is not None else "-"
        rows.append(
            f"{r['model']:10s} {r['lr']:8g} {r['seed']:4d} {r['value']:15.4f} {fl:>10s}  {note}"
        )
    for m, f in metrics["final"].items():
        for s, v in zip(f["seeds"][1:], f["values"][1:], strict=True):
            rows.append(f"{m:10s} {f['lr']:8g} {s:4d} {v:15.4f} {'':>10s}  extra seed")
    for m, f in metrics["final"].items():
        rows.append(
            f"final {m}: {f['mean']:.4f} ± {f['std']:.4f} (lr {f['lr']:g}, "
            f"{len(f['values'])} seeds, {metrics['params'][m]:,} params)"
        )
    v = metrics["verdict"]
    rows.append(
        f"verdict: {v['outcome'].upper()} (effect {v['effect']:+.4f}"
        f"{', toy scale' if v['toy_scale'] else ''})"
    )
    rows.append(v["summary"])
    return "\n".join(rows)


def _json_safe(obj):
    """metrics.json must be strict JSON: NaN/Inf become null."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    return obj


def _write_outputs(job: Job, metrics: dict) -> None:
    out = job.paths.model_dir
    out.mkdir(parents=True, exist_ok=True)
    if metrics["status"] == "ok" and metrics["curves"]:
        title = f"train loss  {job.task} {job.budget.name}  {job.impl.stem}"
        (out / "loss_curves.png").write_bytes(plot.loss_plot(metrics["curves"], title))
        metrics["plots"] = ["loss_curves.png"]
    text = json.dumps(_json_safe(metrics), indent=1, allow_nan=False)
    (out / "metrics.json").write_text(text)
    if job.paths.output_data_dir is not None:
        job.paths.output_data_dir.mkdir(parents=True, exist_ok=True)
        (job.paths.output_data_dir / "metrics.json").write_text(text)
    if metrics["status"] == "failed" and job.paths.failure_file is not None:
        f = metrics["failure"]
        job.paths.failure_file.parent.mkdir(parents=True, exist_ok=True)
        job.paths.failure_file.write_text(
            f"paperfoundry training failed for {job.impl.name} "
            f"(task {job.task}, budget {job.budget.name}).\n"
            f"stage: {f['stage']}\ntype: {f['type']}\nmessage: {f['message']}\n"
            + (f"traceback:\n{f['traceback']}\n" if f.get("traceback") else "")
        )
    log(f"pf: wrote {out / 'metrics.json'}")
