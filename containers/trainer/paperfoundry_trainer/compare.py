"""The trusted controller: a candidate against the baseline the field uses, with controls.

The controller never imports the candidate. Each training run happens in a fresh worker
process (jailed for untrusted code) that only builds, trains and answers predictions; the
controller owns the validation and test data, scores the outputs, probes causality, times
the runs and writes `metrics.json`. Protocol (docs/VERDICTS.md):

  1. validate the file in a worker; read its declarations (claims, ablations, baseline
     options); a file with `build_optimizer` instead of `build_model` is an optimizer: the
     task's baseline model is trained with it (the candidate) and with AdamW (the baseline)
  2. size the baseline (and the family's other references: the no-mixing control, a second
     image backbone a claim is about) to the candidate's parameter count
  3. LR sweep on the validation split (seed 0), extending the grid past a winning edge;
     ablations use the candidate's LR, the control the baseline's
  4. fresh seeds at each model's chosen LR, measured on the test split; causality probes
     and efficiency figures; the control at the baseline's LR
  5. gates, Welch CIs and outcomes per comparison, claim verdicts; metrics.json + table

State (finished runs, the test seed, each run's latest worker state) is checkpointed after
every run, every `checkpoint_interval_s` and on SIGTERM, so a restarted job resumes.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from . import baseline as ref
from . import claims as claims_mod
from . import families, stats
from .client import Worker, WorkerError, as_failure
from .data import ensure_builtin, image_files
from .exitcodes import ExitCode
from .protocol import tensor_bytes
from .sagemaker import Paths, StopFlag, load_checkpoint, save_checkpoint
from .spec import Budget
from .tasks import VAL_SEED, make_task
from .train import Interrupted, TrainConfig, setup_device
from .validate import failure, validate_in_subprocess

EXIT_OK, EXIT_ERROR = ExitCode.OK, ExitCode.FAILED
EXIT_INVALID_IMPL, EXIT_INTERRUPTED = ExitCode.INVALID_IMPL, ExitCode.STOPPED
TOY_PARAMS = 10_000_000  # without paper_params, budgets below this are toy scale
SWEEP_SEED = 0  # final seeds are 1..seeds: never the sweep's
MQAR_COMPETENCE = families.MQAR_COMPETENCE  # the gates live with their family
MQAR_CONTROL_MAX = families.MQAR_CONTROL_MAX
LM_ENTROPY_MARGIN = families.LM_ENTROPY_MARGIN
BENCH_ITERS = 5
TIE_TOLERANCE = 1e-3  # validation values this close count as a tie when choosing the LR
CALL_TIMEOUT_S = 1800.0


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
    threads: int | None = None  # CPU intra-op threads per run; default 1 for tiny/small
    isolation: str = "none"  # "jail" for code not shipped with the project
    workers: int | None = None  # runs in parallel; default: CPU cores (CPU), 1 (CUDA)
    extra: dict = field(default_factory=dict)


class _Restart(Exception):
    """A run's saved state could not be loaded: run it again from the start."""


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
    metrics = _skeleton(job, device)
    try:
        code = Comparison(job, device, metrics, stop, t0).run()
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
        if f.get("traceback") and f["stage"] != "setup":  # setup: the message says it
            log(f["traceback"])
    return code


def _skeleton(job: Job, device) -> dict:
    return {
        "schema": 2,
        "status": "failed",
        "task": job.task,
        "budget": job.budget.name,
        "impl": job.impl.name,
        "device": device.type,
        "isolation": job.isolation,
        "failure": None,
        "metric": None,
        "setting": None,
        "outcome": None,
        "baseline": None,
        "params": {},
        "gates": [],
        "sweep": [],
        "models": {},
        "comparisons": [],
        "efficiency": {},
        "claims": [],
        "declaration_problems": [],
        "verdict": None,
        "curves": {},
        "tokens_per_run": job.budget.steps * job.budget.batch_size * job.budget.spec.seq_len
        if job.task in families.SEQUENCE_TASKS
        else None,
        "images_per_run": job.budget.steps * job.budget.batch_size
        if job.task in families.IMAGE_TASKS
        else None,
        "contract": None,
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
            "schema": 2,
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(key.encode()).hexdigest()


def _safe(run_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", run_id)


@dataclass
class Arm:
    """One model in the comparison: the candidate, an ablation, the baseline, the control."""

    name: str
    # {"source": "impl", "path", "kwargs"[, "contract": "optimizer", "config"]} or
    # {"source": "reference", "config"}
    source: dict
    trusted: bool  # shipped reference code, or a reference model of the harness
    lr_scale: float = 1.0  # the sweep grid is the budget's times this (optimizers declare it)
    sweeps: bool = False  # a second reference (e.g. baseline:resnet) gets its own LR sweep

    @property
    def is_impl(self) -> bool:
        return self.source["source"] == "impl"


class Comparison:
    def __init__(self, job: Job, device, metrics: dict, stop: StopFlag, t0: float):
        self.job, self.device, self.metrics, self.stop, self.t0 = job, device, metrics, stop, t0
        self.b, self.spec = job.budget, job.budget.spec
        self.family = families.family(job.task)
        self.closed_form: dict = {}  # the family's closed-form references (diffusion)
        self.lock = threading.Lock()
        self.ckdir = job.paths.checkpoint_dir
        cpu = device.type == "cpu"
        self.threads = job.threads or (1 if cpu and self.b.name in ("tiny", "small") else None)
        default_workers = max(1, (os.cpu_count() or 1) // (self.threads or 1)) if cpu else 1
        self.workers = max(1, job.workers or min(4, default_workers))
        self.n_done = 0

    # -- the protocol --------------------------------------------------------------------
    def run(self) -> int:
        job, b, spec = self.job, self.b, self.spec
        if not job.impl.is_file():
            raise FileNotFoundError(f"implementation file not found: {job.impl}")
        if job.task == "lm" and job.data_dir is None:
            # outside the model dir: on SageMaker that becomes model.tar.gz
            job.data_dir = ensure_builtin(Path(tempfile.gettempdir()) / "paperfoundry-corpus")
            log(f"pf: lm on the built-in corpus (Python documentation text) in {job.data_dir}")
        log(
            f"pf: validating {job.impl.name} (task={job.task}, budget={b.name}, "
            f"param_budget={spec.param_budget:,}, device={self.device.type}, "
            f"isolation={job.isolation})"
        )
        check = validate_in_subprocess(
            job.impl, spec, "cpu", job.validate_timeout_s, isolation=job.isolation
        )
        check = check if isinstance(check, dict) else {}
        if check.get("ok") is not True or not isinstance(check.get("params"), int):
            # the result comes from the candidate's process: anything else is its failure
            msg = "validation gave no valid result (does the file patch json or print?)"
            raise CandidateFailed(as_failure(check.get("failure"), "validate", msg))
        decl = claims_mod.read_declarations(job.impl)
        if check.get("contract", "model") != decl.contract:
            # the file's top level (read without running it) decides the contract
            msg = (
                f"the file defines {decl.contract_def} at its top level, but validation "
                f"checked a {check.get('contract', 'model')} (define exactly one of "
                "build_model(spec) and build_optimizer(params, spec), as a plain def)"
            )
            raise CandidateFailed(as_failure(None, "import", msg))
        self.metrics["declaration_problems"] = decl.problems
        self.metrics["contract"] = decl.contract
        self.task = make_task(job.task, spec, b.task_args, "cpu", job.data_dir)
        self.metrics["metric"] = {
            "name": self.task.metric,
            "higher_is_better": self.task.higher_is_better,
            "split": "test",
        }
        self.metrics["setting"] = {
            **b.task_args,
            **self.family.setting(spec, self.task),
            "steps": b.steps,
            "batch_size": b.batch_size,
            "seeds": b.seeds,
        }
        self._load_state(job)
        arms = self._arms(check["params"], decl)
        self.val = self._eval_set("val", b.val_batches)
        self.test = self._eval_set("test", b.eval_batches)
        if hasattr(self.task, "linear_denoiser_mse"):  # closed-form references, on test
            self.closed_form = {
                "pixelwise": float(self.task.pixelwise_denoiser_mse(self.test).mean()),
                "linear": float(self.task.linear_denoiser_mse(self.test).mean()),
            }
            self.metrics["references"] = {
                "pixelwise": {"value": self.closed_form["pixelwise"], "detail": "the best "
                              "denoiser that treats pixels independently (closed form)"},
                "linear": {"value": self.closed_form["linear"], "detail": "the best linear "
                           "denoiser: x_0 Gaussian with the training pixels' mean and "
                           "covariance (closed form)"},
            }  # fmt: skip

        # 3. LR sweep on validation for the candidate and the baseline; an ablation keeps
        # the candidate's LR (one component removed, everything else equal) and the
        # control takes the baseline's
        swept = [a for a in arms if a.name in ("candidate", "baseline") or a.sweeps]
        best = self._sweep(swept)
        for a in arms:
            best.setdefault(a.name, best["baseline" if a.name == "control" else "candidate"])
        # 4. fresh seeds on test at each model's LR; the control needs one
        runs = [
            (a, best[a.name], s)
            for a in arms
            for s in range(1, (1 if a.name == "control" else b.seeds) + 1)
        ]
        finals = self._parallel(runs, "test")
        self._report(arms, best, finals, decl)
        return EXIT_OK

    def _load_state(self, job: Job) -> None:
        fp = _fingerprint(job, job.impl.read_bytes())
        self.state = {
            "fingerprint": fp,
            "done": {},
            "test_seed": int.from_bytes(os.urandom(6), "big") + 2_000_000,
            "wall_seconds": 0.0,
        }
        saved = load_checkpoint(self.ckdir)
        if saved and saved.get("fingerprint") == fp:
            self.state = saved
            log(f"pf: resuming from checkpoint in {self.ckdir}: {len(saved['done'])} runs done")
        elif saved:
            log(f"pf: ignoring checkpoint in {self.ckdir}: it belongs to a different comparison")
            shutil.rmtree(self.ckdir / "partial", ignore_errors=True)  # its runs' states too
        self.wall_before = self.state["wall_seconds"]

    def _eval_set(self, split: str, n_batches: int):
        if self.job.task == "mqar":
            seed = VAL_SEED if split == "val" else self.state["test_seed"]
            return self.task.eval_set(seed, n_batches, self.b.batch_size)
        return self.task.eval_set(split, n_batches, self.b.batch_size)

    def _arms(self, cand_params: int, decl) -> list[Arm]:
        job, spec, fam = self.job, self.spec, self.family
        trusted = job.isolation == "none"
        optimizer = decl.contract == "optimizer"
        extra = () if optimizer else decl.against
        # an optimizer trains the task's baseline model: sized to the budget, not to a model
        refs = fam.references(spec, spec.param_budget if optimizer else cand_params,
                              decl.baseline, extra)  # fmt: skip
        base_cfg = refs["baseline"]
        impl = {"source": "impl", "path": str(job.impl.resolve()), "kwargs": {}}
        if optimizer:
            cand_params = fam.count_params(base_cfg)
            impl = {**impl, "contract": "optimizer", "config": base_cfg.to_dict()}
        scale = decl.optimizer.get("lr_scale", 1.0) if optimizer else 1.0
        arms = [Arm("candidate", impl, trusted, lr_scale=scale)]
        for name, kwargs in decl.ablations.items():
            arms.append(Arm(f"ablation:{name}", {**impl, "kwargs": kwargs}, trusted))
        self.cand_params = cand_params
        self.ref_configs = {}
        for name, cfg in refs.items():  # baseline, baseline:<other>, control
            arms.append(Arm(name, {"source": "reference", "config": cfg.to_dict()}, True,
                            sweeps=name.startswith("baseline:")))  # fmt: skip
            self.ref_configs[name] = cfg
        base_n = fam.count_params(base_cfg)
        self.metrics["baseline"] = {"name": fam.describe(base_cfg), "config": base_cfg.to_dict()}
        if optimizer:
            self.metrics["baseline"]["name"] = "AdamW-trained " + fam.describe(base_cfg)
            self.metrics["candidate_model"] = {
                "name": fam.describe(base_cfg) + f" trained with {job.impl.stem}'s optimiser",
                "config": base_cfg.to_dict(),
            }
        if "control" in refs:
            ctrl = refs["control"]
            self.metrics["control"] = {"name": fam.describe(ctrl), "config": ctrl.to_dict()}
        self.metrics["params"] = {
            "candidate": {"total": cand_params},
            "baseline": {"total": base_n, "non_embedding": fam.non_embedding_params(base_cfg)},
            "budget": spec.param_budget,
            "match": (base_n - cand_params) / cand_params,
        }
        for name, cfg in refs.items():
            if name != "baseline":
                self.metrics["params"][name] = {"total": fam.count_params(cfg)}
                if name != "control":
                    self.metrics.setdefault("references", {})[name] = {
                        "name": fam.describe(cfg), "config": cfg.to_dict()}  # fmt: skip
        if optimizer:
            log(
                f"pf: optimizer: {job.impl.stem} vs AdamW, both training {fam.describe(base_cfg)} "
                f"({base_n:,} params; candidate LR grid x{scale:g})"
            )
        else:
            log(
                f"pf: baseline: {fam.describe(base_cfg)}, {base_n:,} params vs the candidate's "
                f"{cand_params:,} ({self.metrics['params']['match']:+.1%})"
            )
        for name in refs:
            if name.startswith("baseline:"):
                log(f"pf: {name}: {fam.describe(refs[name])} (a claim is about it)")
        if decl.ablations:
            log(f"pf: ablations: {', '.join(decl.ablations)}")
        return arms

    def _sweep(self, arms: list[Arm]) -> dict[str, float]:
        grids = {a.name: sorted(lr * a.lr_scale for lr in self.b.lrs) for a in arms}
        results: dict[str, dict[float, dict]] = {a.name: {} for a in arms}
        pending = [(a, lr, SWEEP_SEED) for a in arms for lr in grids[a.name]]
        for _ in range(self.b.max_extensions + 1):
            for (arm, lr, _s), res in zip(pending, self._parallel(pending, "val"), strict=True):
                results[arm.name][lr] = res
            pending = []
            for arm in arms:
                grid = grids[arm.name]
                if len(grid) < 2:
                    continue
                best_lr = self._best_lr(results[arm.name])
                step = grid[1] / grid[0]
                # past an edge only if the edge is strictly better than its neighbour
                # (a tie, e.g. every LR solving the task, says nothing about beyond)
                by_lr = results[arm.name]
                if all(r["diverged"] for r in by_lr.values()):
                    new = grid[0] / step  # nothing trained: look lower
                elif best_lr == grid[-1] and self._strictly_better(by_lr, grid[-1], grid[-2]):
                    new = grid[-1] * step
                elif best_lr == grid[0] and self._strictly_better(by_lr, grid[0], grid[1]):
                    new = grid[0] / step
                else:
                    continue
                if len(grid) - len(self.b.lrs) >= self.b.max_extensions:
                    continue
                grid.append(new)
                grid.sort()
                log(f"pf: {arm.name}: best LR {best_lr:g} is at the grid's edge; adding {new:g}")
                pending.append((arm, new, SWEEP_SEED))
            if not pending:
                break
        self.metrics["sweep"] = [
            {k: r[k] for k in ("model", "lr", "seed", "value", "final_loss", "diverged")}
            for arm in arms
            for _lr, r in sorted(results[arm.name].items())
        ]
        self.metrics["lr_grids"] = {a.name: grids[a.name] for a in arms}
        return {a.name: self._best_lr(results[a.name]) for a in arms}

    def _strictly_better(self, by_lr: dict[float, dict], lr: float, other: float) -> bool:
        a, b = by_lr[lr], by_lr[other]
        if a["diverged"]:
            return False
        if b["diverged"]:
            return True
        sign = 1.0 if self.task.higher_is_better else -1.0
        return sign * a["value"] > sign * b["value"]

    def _best_lr(self, by_lr: dict[float, dict]) -> float:
        ok = {lr: r for lr, r in by_lr.items() if not r["diverged"]}
        if not ok:
            return min(by_lr)
        # the best value; among LRs that tie with it (e.g. several solve MQAR outright), the
        # middle one: a plateau's edge is where a fresh seed is most likely to fall off
        sign = 1.0 if self.task.higher_is_better else -1.0
        best = max(sign * r["value"] for r in ok.values())
        tied = sorted(lr for lr, r in ok.items() if sign * r["value"] >= best - TIE_TOLERANCE)
        return tied[(len(tied) - 1) // 2]

    def _parallel(self, runs, split: str) -> list[dict]:
        if self.workers == 1 or len(runs) == 1:
            return [self._run(a, lr, s, split) for a, lr, s in runs]
        with ThreadPoolExecutor(self.workers) as pool:
            futures = [pool.submit(self._run, a, lr, s, split) for a, lr, s in runs]
            errors, results = [], []
            for f in futures:
                try:
                    results.append(f.result())
                except BaseException as exc:  # noqa: BLE001 - re-raised below, first wins
                    self.stop.requested = True  # the others checkpoint and stop
                    errors.append(exc)
            if errors:
                # a candidate failure beats an interruption it caused
                raise next((e for e in errors if not isinstance(e, Interrupted)), errors[0])
            return results

    # -- one run in one worker -----------------------------------------------------------
    def _run(self, arm: Arm, lr: float, seed: int, split: str) -> dict:
        run_id = f"{arm.name}:lr={lr:g}:seed={seed}:{split}"
        with self.lock:
            if run_id in self.state["done"]:
                return self.state["done"][run_id]
        b = self.b
        cfg = TrainConfig(
            steps=b.steps, batch_size=b.batch_size, lr=lr, warmup_frac=b.warmup_frac,
            log_every=b.log_every,
        )  # fmt: skip
        worker = self._worker(arm)
        t_run = time.perf_counter()
        try:
            try:
                result = self._drive(worker, arm, cfg, seed, split, run_id)
            except _Restart:
                worker = self._worker(arm)
                result = self._drive(worker, arm, cfg, seed, split, run_id)
        except WorkerError as exc:
            if arm.is_impl:
                raise CandidateFailed(exc.info) from exc
            raise RuntimeError(f"{arm.name} failed: {exc.info.get('message')}") from exc
        finally:
            worker.close()
        result["seconds"] = round(time.perf_counter() - t_run, 2)
        with self.lock:
            self.state["done"][run_id] = result
            self._save()
            self.n_done += 1
            k = self.n_done
        emit(
            f"pf_eval model={arm.name} seed={seed} lr={lr:g} "
            f"{self.task.metric}={result['value']:.4f}"
        )
        log(
            f"[{k}] {arm.name:12s} lr={lr:<7g} seed={seed} {split}: "
            f"{self.task.metric}={result['value']:.4f}"
            + (" DIVERGED" if result["diverged"] else "")
            + f" ({result['seconds']:.1f}s)"
        )
        return result

    def _worker(self, arm: Arm) -> Worker:
        ro = [arm.source["path"]] if arm.is_impl else []
        if self.job.task == "lm":
            ro.append(str(Path(self.job.data_dir).resolve()))
        elif self.job.data_dir is not None:  # an image directory: the worker sees train only
            ro += [str(p.resolve()) for p in image_files(self.job.data_dir, ("train",))]
        return Worker(
            isolation="none" if arm.trusted else "jail",
            ro_paths=ro,
            gpu=self.device.type == "cuda",
            threads=self.threads,
        )

    def _drive(self, worker: Worker, arm: Arm, cfg: TrainConfig, seed, split, run_id) -> dict:
        spec, b, job = self.spec, self.b, self.job
        long_len = 4096
        header, _ = worker.call(
            "build",
            CALL_TIMEOUT_S,
            spec=spec.to_dict(),
            task_args=b.task_args,
            data_dir=str(job.data_dir) if job.data_dir else None,
            seed=seed,
            device=self.device.type,
            threads=self.threads,
            compile=job.compile,
            model=arm.source,
            train=asdict(cfg),
            state_lengths=[spec.seq_len, long_len] if self.family.causal else [],
        )
        built = _parse(_build_fields, header, "build")
        if arm.name == "candidate" and built["params"] != self.cand_params:
            # the baseline was sized to the validated count: a different model now is a lie
            raise WorkerError(as_failure(None, "build", (
                f"the model has {built['params']:,} parameters in training but "
                f"{self.cand_params:,} in validation")))  # fmt: skip
        # in-progress state belongs to this exact comparison (a stale one is never loaded)
        fp = self.state["fingerprint"][:16]
        partial = self.ckdir / "partial" / fp / f"{_safe(run_id)}.pt" if self.ckdir else None
        # the curve is as the worker reports it: shown, but no verdict depends on it
        curve, step = {"step": [], "loss": []}, 0
        if partial is not None and partial.is_file():
            blob = torch.frombuffer(bytearray(partial.read_bytes()), dtype=torch.uint8)
            try:
                reply = worker.call("load", CALL_TIMEOUT_S, tensors={"blob": blob})[0]
                step, curve = int(reply["step"]), _curve(reply.get("curve"))
                log(f"pf: {run_id}: resumed at step {step}")
            except WorkerError as exc:  # unreadable state: start this run again
                log(f"pf: {run_id}: cannot resume ({exc}); starting the run again")
                partial.unlink(missing_ok=True)
                worker.close()
                raise _Restart from exc
        step0, train_seconds, diverged, last_save = step, 0.0, False, time.monotonic()
        while step < cfg.steps:
            if self.stop():
                self._save_partial(worker, partial)
                raise Interrupted
            until = min(cfg.steps, (step // cfg.log_every + 1) * cfg.log_every)
            t = time.perf_counter()
            reply, _ = worker.call("train", CALL_TIMEOUT_S, until=until)
            train_seconds += time.perf_counter() - t
            reply = _parse(_train_fields, reply, "train")
            step = reply["step"]
            for s, loss in reply["points"]:
                curve["step"].append(int(s))
                curve["loss"].append(float(loss))
                emit(
                    f"pf_metric model={arm.name} seed={seed} lr={cfg.lr:g} step={s} "
                    f"train_loss={loss:.4f}"
                )
            if reply["diverged"]:
                diverged = True
                break
            if partial is not None and time.monotonic() - last_save >= job.checkpoint_interval_s:
                self._save_partial(worker, partial)
                last_save = time.monotonic()
        batches = self.val if split == "val" else self.test
        value, per_seq = self.task.worst_value, None
        if not diverged:
            per_seq = self._score(worker, batches)
            value = float(per_seq.mean())
            if not math.isfinite(value):
                diverged, value = True, self.task.worst_value
        result = {
            "model": arm.name, "lr": cfg.lr, "seed": seed, "split": split, "value": value,
            "final_loss": curve["loss"][-1] if curve["loss"] else None, "diverged": diverged,
            "curve": curve, "params": built["params"],
            "embedding_params": built["embedding_params"],
            "state_size": built["state_size"],
            # tokens/s for the sequence families, images/s for the image ones
            "train_tokens_per_s": ((step - step0) * b.batch_size
                                   * self.family.items_per_example(spec) / train_seconds)
            if train_seconds > 0 else None,
        }  # fmt: skip
        if split == "test" and not diverged:
            if arm.is_impl and self.family.causal:
                result["causality"] = self._probe(worker, batches)
            if arm.is_impl and self.family.batch_independent:
                result["independence"] = self._probe_independence(worker, batches)
            if seed == 1:
                result["infer_tokens_per_s"] = self._bench(worker)
                memory = worker.call("memory", 60)[0]
                result["peak_memory"] = {k: memory.get(k) for k in ("peak_mb", "kind")}
                floats = memory.get("optimizer_state")  # from the worker: checked as data
                ok = isinstance(floats, int) and not isinstance(floats, bool) and floats >= 0
                result["optimizer_state"] = floats if ok else None
        if partial is not None:
            partial.unlink(missing_ok=True)
        return result

    def _save_partial(self, worker: Worker, partial: Path | None) -> None:
        if partial is None:
            return
        blob = worker.call("state", CALL_TIMEOUT_S)[1]["blob"]
        partial.parent.mkdir(parents=True, exist_ok=True)
        tmp = partial.with_suffix(".tmp")
        tmp.write_bytes(tensor_bytes(blob))  # opaque to us: only a worker ever loads it
        tmp.replace(partial)

    def _predict(self, worker: Worker, x, positions=None) -> torch.Tensor:
        """The model's outputs for inputs `x` (a tensor, or a tuple in the task's
        `input_names` order), at `positions` (sequence tasks), checked for shape."""
        inputs = x if isinstance(x, tuple) else (x,)
        tensors = dict(zip(self.task.input_names, inputs, strict=True))
        if positions is not None:
            tensors["positions"] = positions
        _, out = worker.call("predict", CALL_TIMEOUT_S, tensors=tensors)
        logits = out.get("logits")
        want = tuple(self.task.output_shape(inputs, positions))
        if logits is None or tuple(logits.shape) != want:
            got = None if logits is None else tuple(logits.shape)
            raise WorkerError(
                {"stage": "forward", "type": "ShapeError", "traceback": "",
                 "message": f"predict returned outputs of shape {got}; expected {want}"}
            )  # fmt: skip
        return logits

    def _score(self, worker: Worker, batches) -> torch.Tensor:
        pos = self.task.loss_positions
        return torch.cat([self.task.score(self._predict(worker, x, pos), y) for x, y in batches])

    def _probe_independence(self, worker: Worker, batches) -> dict:
        """In evaluation, an example's output must not depend on the other examples in its
        batch (else a model could pool several noisy copies of one test image): outputs
        for the first examples must not move when the rest of the batch is replaced."""
        inputs = batches[0][0]
        B = inputs[0].shape[0]
        tol = 1e-3 if self.device.type == "cpu" else 2e-2
        worst, failed = 0.0, []
        for keep in sorted({1, max(1, B // 2)}):
            other = self.task.random_inputs(B, "cpu")
            mixed = tuple(torch.cat([a[:keep], o[keep:].to(a.dtype)]) for a, o in
                          zip(inputs, other, strict=True))  # fmt: skip
            if B == 1:
                mixed = inputs
            a = self._predict(worker, inputs)[:keep]
            c = self._predict(worker, mixed)[:keep]
            diff = float((a - c).abs().max())
            scale = 1 + float(a.abs().max())
            worst = max(worst, diff / scale)
            if not diff <= tol * scale:
                failed.append({"batch": B, "kept": keep, "max_change": diff})
        return {"passed": not failed, "failed": failed, "max_relative_change": worst,
                "tolerance": tol}  # fmt: skip

    def _probe(self, worker: Worker, batches) -> dict:
        """Causality at several batch sizes and lengths, the evaluation shape included: the
        logits before t must not move when tokens from t on change."""
        g = torch.Generator().manual_seed(self.state["test_seed"] % (2**31))
        x_full = batches[0][0]
        T, B = x_full.shape[1], x_full.shape[0]
        shapes = sorted({(B, T), (1, T), (min(3, B), max(2, T // 2 + 1))})
        tol = 1e-3 if self.device.type == "cpu" else 2e-2
        worst, failed = 0.0, []
        for bs, length in shapes:
            x = x_full[:bs, :length]
            t = min(self.task.probe_position(g), length - 1)
            t = max(1, t)
            x2 = self.task.perturb_suffix(x, t, g)
            pos = torch.arange(t)
            a, c = self._predict(worker, x, pos), self._predict(worker, x2, pos)
            diff = float((a - c).abs().max())
            scale = 1 + float(a.abs().max())
            worst = max(worst, diff / scale)
            if not diff <= tol * scale:
                failed.append({"batch": bs, "length": length, "t": t, "max_change": diff})
        return {"passed": not failed, "shapes": [list(s) for s in shapes], "failed": failed,
                "max_relative_change": worst, "tolerance": tol}  # fmt: skip

    def _bench(self, worker: Worker) -> dict:
        """Inference throughput, timed here (the worker cannot report its own): tokens/s at
        two lengths (sequence families), images/s at the image size (image families)."""
        out = {}
        for length in self.family.bench_lengths(self.spec):
            B = self.b.batch_size
            items = B * (length if self.family.causal else 1)
            worker.call("bench", CALL_TIMEOUT_S, batch=B, length=length, iters=1)  # warm-up
            t = time.perf_counter()
            worker.call("bench", CALL_TIMEOUT_S, batch=B, length=length, iters=BENCH_ITERS)
            elapsed = time.perf_counter() - t
            out[str(length)] = items * BENCH_ITERS / elapsed
        return out

    def _save(self) -> None:
        if self.ckdir is not None:
            self.state["wall_seconds"] = self.wall_before + time.time() - self.t0
            save_checkpoint(self.ckdir, self.state)

    # -- the report ----------------------------------------------------------------------
    def _report(self, arms: list[Arm], best: dict, finals: list[dict], decl) -> None:
        m, task, b = self.metrics, self.task, self.b
        by_arm: dict[str, list[dict]] = {}
        for r in finals:
            by_arm.setdefault(r["model"], []).append(r)
        for name, runs in by_arm.items():
            summ = stats.summary([r["value"] for r in runs])
            m["models"][name] = {"lr": runs[0]["lr"], "seeds": [r["seed"] for r in runs], **summ}
            m["curves"][name] = {str(r["seed"]): r["curve"] for r in runs}
        cand = by_arm["candidate"][0]
        m["params"]["candidate"]["non_embedding"] = cand["params"] - cand["embedding_params"]
        for name in by_arm:
            if name.startswith("ablation:"):
                r = by_arm[name][0]
                non_emb = r["params"] - r["embedding_params"]
                m["params"][name] = {"total": r["params"], "non_embedding": non_emb}
        m["efficiency"] = {name: self._efficiency(name, runs) for name, runs in by_arm.items()}
        gates = self._gates(m, by_arm)
        m["gates"] = gates
        invalid = next((g for g in gates if not g["passed"] and g["scope"] == "all"), None)
        invalid_reason = invalid["detail"] if invalid else None
        margin = stats.MARGINS[task.metric]
        comparisons = []
        # every model from the file against the baseline; then the candidate against each
        # second reference a claim is about (e.g. baseline:resnet)
        pairs = [(a.name, "baseline") for a in arms if a.is_impl]
        pairs += [("candidate", a.name) for a in arms if a.name.startswith("baseline:")]
        for name, against in pairs:
            if name not in by_arm or against not in by_arm:
                continue
            comp = stats.compare(
                [r["value"] for r in by_arm[name]],
                [r["value"] for r in by_arm[against]],
                task.higher_is_better,
                margin,
            )
            # no gate when every test run diverged (nothing to probe; validation was causal)
            own = [g for g in gates if g["name"] in (f"causal:{name}", f"independent:{name}")]
            cheat = next((g for g in own if not g["passed"]), None)
            scoped = next((g for g in gates if not g["passed"] and g["scope"] == against
                           and against != "baseline"), None)  # fmt: skip
            if cheat:  # reading ahead (or across the batch) is invalid at any budget
                comp["outcome"], comp["reason"] = "invalid", cheat["detail"]
            elif b.smoke:
                comp["outcome"] = "smoke"
            elif invalid_reason or scoped:
                comp["outcome"] = "invalid"
                comp["reason"] = invalid_reason or scoped["detail"]
            comp.update(model=name, against=against, metric=task.metric)
            comp["summary"] = self._sentence(name, comp)
            comparisons.append(comp)
        m["comparisons"] = comparisons
        main = comparisons[0]
        m["outcome"] = main["outcome"]
        cand_invalid = main["outcome"] == "invalid"
        others = {
            c["against"].removeprefix("baseline:"): c
            for c in comparisons
            if c["model"] == "candidate" and c["against"] != "baseline"
        }
        m["claims"] = claims_mod.evaluate(
            decl.claims,
            task=self.job.task,
            setting=m["setting"],
            comparison=main,
            efficiency=m["efficiency"],
            invalid_reason=main.get("reason") if cand_invalid else None,
            smoke=b.smoke,
            others=others,
            primary=self.family.primary(decl.baseline) if not self.family.causal else None,
        )
        toy = self._toy()
        cm, bm = m["models"]["candidate"], m["models"]["baseline"]
        m["verdict"] = {
            "outcome": main["outcome"], "metric": task.metric,
            "higher_is_better": task.higher_is_better, "candidate_mean": cm["mean"],
            "baseline_mean": bm["mean"], "candidate_std": cm["std"], "baseline_std": bm["std"],
            "effect": main["effect"], "ci95": main["ci95"], "toy_scale": toy,
            "summary": main["summary"],
        }  # fmt: skip
        m["status"] = "ok"
        m["wall_seconds"] = self.wall_before + time.time() - self.t0
        for name, summ in m["models"].items():
            emit(f"pf_final model={name} value={summ['mean']:.6f}")
        emit(f"pf_verdict outcome={main['outcome']} effect={main['effect']:.6f}")
        print(result_table(m), flush=True)

    def _toy(self) -> bool:
        budget = self.spec.param_budget
        pp = self.job.paper_params
        return budget < pp / 10 if pp else budget < TOY_PARAMS

    def _efficiency(self, name: str, runs: list[dict]) -> dict:
        first = next((r for r in runs if r["seed"] == 1), runs[0])
        rates = sorted(r["train_tokens_per_s"] for r in runs if r.get("train_tokens_per_s"))
        rate = rates[len(rates) // 2] if rates else None
        mem = first.get("peak_memory") or {}
        common = {
            "peak_memory_mb": mem.get("peak_mb"),
            "peak_memory_kind": mem.get("kind"),
            "optimizer_state_floats": first.get("optimizer_state"),
            "optimizer_state_source": "counted in the worker (tensors in the optimiser's "
            "state after training)"
            if first.get("optimizer_state") is not None
            else None,
        }
        cfg = self.ref_configs.get(name)
        if cfg is None and self.metrics.get("contract") == "optimizer":
            cfg = self.ref_configs["baseline"]  # an optimizer trains the baseline's model
        if not self.family.causal:  # image families: images/s and FLOPs per image
            figures = self.family.reference_efficiency(cfg, self.spec) if cfg else {
                "flops_per_image": None, "flops_source": None}  # fmt: skip
            infer = first.get("infer_tokens_per_s") or {}
            return {
                "train_images_per_s": rate,
                "infer_images_per_s": next(iter(infer.values()), None),
                **common,
                **figures,
            }
        if cfg is not None:
            figures = self.family.reference_efficiency(cfg, self.spec)
        else:
            state = first.get("state_size")
            non_emb = first["params"] - first["embedding_params"]
            figures = {
                "state_size": state,
                "state_size_source": "declared by the model" if state else None,
                "flops_per_token": 2 * non_emb,
                "flops_source": "2 x non-embedding params (mixing cost not counted)",
            }
        return {
            "train_tokens_per_s": rate,
            "infer_tokens_per_s": first.get("infer_tokens_per_s") or {},
            **common,
            **figures,
        }

    def _gates(self, m: dict, by_arm: dict) -> list[dict]:
        if isinstance(self.family, families.DiffusionFamily):
            gates = self.family.gates(self.task, m["models"], self.closed_form)
        else:
            gates = self.family.gates(self.task, m["models"])
        match = m["params"]["match"]
        gates.append(_gate(
            "params_matched", abs(match) <= ref.MATCH_TOLERANCE, match, ref.MATCH_TOLERANCE,
            f"baseline parameters {match:+.1%} from the candidate's", scope="report",
        ))  # fmt: skip
        for name, runs in by_arm.items():
            probes = [r["causality"] for r in runs if "causality" in r]
            if not probes:
                continue
            bad = [f for p in probes for f in p["failed"]]
            detail = (
                "causal at every probed batch size and length"
                if not bad
                else f"{name} is not causal: logits before position {bad[0]['t']} changed by "
                f"{bad[0]['max_change']:.3g} when only later tokens changed "
                f"(batch {bad[0]['batch']}, length {bad[0]['length']})"
            )
            worst = max(p["max_relative_change"] for p in probes)
            tol = probes[0]["tolerance"]
            gates.append(_gate(f"causal:{name}", not bad, worst, tol, detail, scope=name))
        for name, runs in by_arm.items():
            probes = [r["independence"] for r in runs if "independence" in r]
            if not probes:
                continue
            bad = [f for p in probes for f in p["failed"]]
            detail = (
                "each example's output is independent of the rest of its batch"
                if not bad
                else f"{name} mixes examples: the outputs of the first {bad[0]['kept']} of "
                f"{bad[0]['batch']} test examples changed by {bad[0]['max_change']:.3g} when "
                "only the other examples in the batch changed"
            )
            worst = max(p["max_relative_change"] for p in probes)
            tol = probes[0]["tolerance"]
            gates.append(_gate(f"independent:{name}", not bad, worst, tol, detail, scope=name))
        return gates

    def _sentence(self, name: str, comp: dict) -> str:
        m = self.metrics
        who = self.job.impl.stem if name == "candidate" else f"{self.job.impl.stem} ({name})"
        against = comp.get("against", "baseline")
        c, base = m["models"][name], m["models"][against]
        lo, hi = comp["ci95"]
        phrase = {
            "better": "beats", "worse": "is worse than", "equivalent": "is equivalent to",
            "inconclusive": "is not distinguishable from", "smoke": "ran (smoke test) against",
            "invalid": "could not be compared with",
        }[comp["outcome"]]  # fmt: skip
        target = (
            "the AdamW baseline" if m.get("contract") == "optimizer"
            else "the baseline" if against == "baseline"
            else f"the {against.removeprefix('baseline:')} baseline"
        )  # fmt: skip
        text = (
            f"{who} {phrase} {target} on {self.job.task}: {self.task.metric} "
            f"{c['mean']:.4f}±{c['std']:.4f} vs {base['mean']:.4f}±{base['std']:.4f} over "
            f"{len(c['values'])} seeds (effect {comp['effect']:+.4f}, 95% CI {lo:+.4f}..{hi:+.4f}, "
            f"margin {comp['margin']})."
        )
        if comp.get("reason"):
            text += f" Invalid: {comp['reason']}."
        return text


def _build_fields(h: dict) -> dict:
    state = h.get("state_size")
    return {
        "params": int(h["params"]),
        "embedding_params": int(h["embedding_params"]),
        "state_size": {str(k): int(v) for k, v in state.items()} if state else None,
    }


def _train_fields(h: dict) -> dict:
    return {
        "step": int(h["step"]),
        "points": [(int(s), float(v)) for s, v in h["points"]],
        "diverged": bool(h["diverged"]),
    }


def _parse(fields, header: dict, stage: str) -> dict:
    """A worker's reply, checked as data: it comes from the candidate's process, so a
    malformed one is the candidate's failure (exit 2), not the harness's."""
    try:
        return fields(header)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise WorkerError(as_failure(None, stage, f"malformed {stage} reply: {exc}")) from exc


def _curve(raw) -> dict:
    """A curve from the worker, checked as data."""
    try:
        return {"step": [int(s) for s in raw["step"]], "loss": [float(v) for v in raw["loss"]]}
    except (TypeError, KeyError, ValueError):
        return {"step": [], "loss": []}


def _gate(name, passed, value, threshold, detail, scope="all") -> dict:
    return {"name": name, "passed": bool(passed), "value": value, "threshold": threshold,
            "detail": detail, "scope": scope}  # fmt: skip


def result_table(metrics: dict) -> str:
    name = metrics["metric"]["name"]
    rows = [f"{'model':24s} {'lr':>8s} {'seeds':>5s} {name + ' (test)':>20s}  95% CI"]
    for model, s in metrics["models"].items():
        lo, hi = s["ci95"]
        rows.append(
            f"{model:24s} {s['lr']:8g} {len(s['values']):5d} "
            f"{s['mean']:13.4f}±{s['std']:.4f}  [{lo:.4f}, {hi:.4f}]"
        )
    for g in metrics["gates"]:
        rows.append(f"gate {g['name']}: {'PASS' if g['passed'] else 'FAIL'} - {g['detail']}")
    for c in metrics["comparisons"]:
        rows.append(
            f"{c['model']} vs {c.get('against', 'baseline')}: {c['outcome'].upper()} - "
            f"{c['summary']}"
        )
    for cl in metrics["claims"]:
        rows.append(f"claim {cl['id']}: {cl['outcome'].upper()} - {cl['reason']}")
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
