"""Validate a candidate implementation file, in a fresh subprocess, before training it.

Stages, in order: import -> build -> budget -> forward -> shape -> finite -> backward -> finite,
then the family's leak probe (sequence: causality; image families: batch independence).
An optimizer file (`build_optimizer`) is checked on the task's baseline model instead:
import -> build -> train (a real optimiser, honours param_group["lr"], finite steps, state
that checkpoints).
The first failure becomes a structured error
  {"stage", "type", "message", "traceback"}
where the traceback keeps only the last frames, with paths relative to the implementation
file, so an LLM implementer can read and fix it.

Run as `python -m paperfoundry_trainer.validate --impl FILE --spec-json JSON`; prints
`pf_stage <name>` as it goes and one final `pf_validation <json>` line.
`validate_in_subprocess` runs that in a fresh process: in the jail (`jail.py`) for
untrusted code, where nothing runs if no jail works here (stage "isolation").
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import traceback
from pathlib import Path

BUDGET_TOLERANCE = 0.15
MAX_FRAMES = 5


class CheckFailed(Exception):
    """A check (not a crash) failed: carries its own stage and error type."""

    def __init__(self, stage: str, type_: str, message: str):
        super().__init__(message)
        self.stage, self.type = stage, type_


def load_impl(path):
    """Import an implementation file as a uniquely named module."""
    path = Path(path).resolve()
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:8]
    name = f"pf_impl_{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    has_model = callable(getattr(module, "build_model", None))
    has_opt = callable(getattr(module, "build_optimizer", None))
    if not has_model and not has_opt:
        raise CheckFailed("import", "ContractError", "file does not define build_model(spec) "
                          "(a model) or build_optimizer(params, spec) (an optimizer)")  # fmt: skip
    if has_model and has_opt:
        raise CheckFailed("import", "ContractError", "file defines both build_model and "
                          "build_optimizer: a file is one model or one optimizer")  # fmt: skip
    return module


def short_traceback(exc: BaseException, impl_path) -> str:
    """Last few frames, impl paths relative to the impl file, no harness frames."""
    impl_dir = Path(impl_path).resolve().parent
    frames = traceback.extract_tb(exc.__traceback__)
    # drop harness frames above the first frame from the implementation, if there is one
    impl_idx = [i for i, f in enumerate(frames) if Path(f.filename).resolve().parent == impl_dir]
    if impl_idx:
        frames = frames[impl_idx[0] :]
    lines = []
    for f in frames[-MAX_FRAMES:]:
        p = Path(f.filename)
        if p.resolve().parent == impl_dir:
            shown = os.path.relpath(p.resolve(), impl_dir)
        elif "site-packages" in p.parts:
            shown = "/".join(p.parts[p.parts.index("site-packages") + 1 :])
        else:
            shown = p.name
        lines.append(f'  File "{shown}", line {f.lineno}, in {f.name}')
        if f.line:
            lines.append(f"    {f.line.strip()}")
    exc_lines = traceback.format_exception_only(type(exc), exc)
    text = "".join(exc_lines).replace(str(Path(impl_path).resolve().parent) + os.sep, "")
    head = ["Traceback (most recent call last):"] if lines else []
    return "\n".join(head + lines + [text.rstrip()])[-4000:]


def failure(stage: str, exc: BaseException, impl_path) -> dict:
    if isinstance(exc, CheckFailed):
        return {"stage": exc.stage, "type": exc.type, "message": str(exc)[:2000], "traceback": ""}
    return {
        "stage": stage,
        "type": type(exc).__name__,
        "message": str(exc)[:2000],
        "traceback": short_traceback(exc, impl_path),
    }


def check_impl(impl_path, spec, device="cpu", emit=lambda stage: None) -> dict:
    """Run every check in-process. Returns {"ok": True, "params": n, "contract": "model" |
    "optimizer"} or {"ok": False, "failure": {...}}."""
    import torch
    import torch.nn.functional as F

    from .spec import IMAGE_TASKS

    stage = "import"
    current = [stage]

    def enter(name: str, shown: str | None = None) -> None:
        current[0] = name
        emit(shown or name)

    try:
        emit(stage)
        module = load_impl(impl_path)
        if callable(getattr(module, "build_optimizer", None)):
            return _check_optimizer(module, spec, device, enter)
        if spec.task in IMAGE_TASKS:
            return _check_image_model(module, spec, device, enter)

        stage = "build"
        emit(stage)
        torch.manual_seed(0)
        model = module.build_model(spec)
        if not isinstance(model, torch.nn.Module):
            raise CheckFailed(
                "build",
                "ContractError",
                f"build_model returned {type(model).__name__}, not torch.nn.Module",
            )
        model = model.to(device)

        stage = "budget"
        emit(stage)
        n = sum(p.numel() for p in model.parameters() if p.requires_grad)
        lo = spec.param_budget * (1 - BUDGET_TOLERANCE)
        hi = spec.param_budget * (1 + BUDGET_TOLERANCE)
        if not lo <= n <= hi:
            raise CheckFailed(
                "budget",
                "BudgetError",
                f"model has {n:,} trainable parameters ({n / spec.param_budget:.2f}x "
                f"the budget); allowed {int(lo):,}..{int(hi):,} "
                f"(param_budget={spec.param_budget:,} +-15%)",
            )

        stage = "forward"
        emit(stage)
        B, T, V = 2, spec.seq_len, spec.vocab_size
        g = torch.Generator().manual_seed(0)
        x = torch.randint(0, V, (B, T), generator=g).to(device)
        y = torch.randint(0, V, (B, T), generator=g).to(device)
        model.train()
        logits = model(x)

        stage = "shape"
        emit(stage)
        if not isinstance(logits, torch.Tensor):
            raise CheckFailed(
                "shape",
                "ShapeError",
                f"forward returned {type(logits).__name__}; expected a Tensor "
                f"of shape (B, T, vocab_size) = ({B}, {T}, {V})",
            )
        if tuple(logits.shape) != (B, T, V):
            raise CheckFailed(
                "shape",
                "ShapeError",
                f"forward(idx) with idx of shape ({B}, {T}) returned logits of shape "
                f"{tuple(logits.shape)}; expected ({B}, {T}, {V})",
            )

        stage = "finite"
        emit(stage)
        if not torch.isfinite(logits).all():
            raise CheckFailed("finite", "NonFiniteError", "forward produced NaN or Inf logits")
        loss = F.cross_entropy(logits.float().reshape(-1, V), y.reshape(-1))
        if not torch.isfinite(loss):
            raise CheckFailed("finite", "NonFiniteError", f"loss is {loss.item()}")

        stage = "backward"
        emit(stage)
        loss.backward()
        stage = "finite"
        bad = [
            name
            for name, p in model.named_parameters()
            if p.grad is not None and not torch.isfinite(p.grad).all()
        ]
        if bad:
            raise CheckFailed("finite", "NonFiniteError", f"NaN/Inf gradients in {bad[:5]}")

        # Causality: changing tokens at positions >= t must not change logits before t.
        # A model that peeks ahead would make every verdict meaningless.
        stage = "forward"
        emit("causal")
        model.eval()
        t = T // 2
        x2 = x.clone()
        x2[:, t:] = (x2[:, t:] + 1) % V
        with torch.no_grad():
            a, b = model(x)[:, :t].float(), model(x2)[:, :t].float()
        diff = (a - b).abs().max().item()
        if diff > 1e-3 * (1 + a.abs().max().item()):
            raise CheckFailed(
                "forward",
                "CausalityError",
                f"logits at positions < {t} changed by {diff:.3g} when only "
                f"tokens at positions >= {t} changed: the model must be causal",
            )
        return {"ok": True, "params": n, "contract": "model"}
    except BaseException as exc:  # noqa: BLE001 - everything becomes a structured failure
        if isinstance(exc, KeyboardInterrupt):
            raise
        if stage == "import" and current[0] != "import":
            stage = current[0]  # a helper got further
        return {"ok": False, "failure": failure(stage, exc, impl_path)}


def _check_budget(model, spec) -> int:
    n = sum(p.numel() for p in model.parameters() if p.requires_grad)
    lo = spec.param_budget * (1 - BUDGET_TOLERANCE)
    hi = spec.param_budget * (1 + BUDGET_TOLERANCE)
    if not lo <= n <= hi:
        raise CheckFailed(
            "budget",
            "BudgetError",
            f"model has {n:,} trainable parameters ({n / spec.param_budget:.2f}x "
            f"the budget); allowed {int(lo):,}..{int(hi):,} "
            f"(param_budget={spec.param_budget:,} +-15%)",
        )
    return n


def random_batch(spec, batch: int, device="cpu", seed: int = 0):
    """(inputs, loss function) of the family's shape, from a fixed seed."""
    import torch
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(seed)
    if spec.task in ("image", "diffusion"):
        C, H = spec.channels, spec.image_size
        x = torch.randn(batch, C, H, H, generator=g).to(device)
        if spec.task == "image":
            y = torch.randint(0, spec.num_classes, (batch,), generator=g).to(device)
            return (x,), lambda out: F.cross_entropy(out.float(), y)
        t = torch.randint(0, spec.timesteps, (batch,), generator=g).to(device)
        y = torch.randint(0, spec.num_classes, (batch,), generator=g).to(device)
        eps = torch.randn(batch, C, H, H, generator=g).to(device)
        return (x, t, y), lambda out: F.mse_loss(out.float(), eps)
    T, V = spec.seq_len, spec.vocab_size
    x = torch.randint(0, V, (batch, T), generator=g).to(device)
    y = torch.randint(0, V, (batch, T), generator=g).to(device)
    return (x,), lambda out: F.cross_entropy(out.float().reshape(-1, V), y.reshape(-1))


def _check_image_model(module, spec, device, enter) -> dict:
    """An image-family model: (B, C, H, W) [+ t, y] in; class logits (image) or a tensor the
    shape of x (diffusion) out; finite; each example's output independent of its batch."""
    import torch

    enter("build")
    torch.manual_seed(0)
    model = module.build_model(spec)
    if not isinstance(model, torch.nn.Module):
        msg = f"build_model returned {type(model).__name__}, not torch.nn.Module"
        raise CheckFailed("build", "ContractError", msg)
    model = model.to(device)
    enter("budget")
    n = _check_budget(model, spec)
    enter("forward")
    B = 3
    inputs, loss_fn = random_batch(spec, B, device)
    model.train()
    out = model(*inputs)
    enter("shape")
    x = inputs[0]
    if spec.task == "image":
        want, what = (B, spec.num_classes), "(B, num_classes)"
        call = "forward(x) with x of shape"
    else:
        want, what = tuple(x.shape), "the shape of x: (B, channels, image_size, image_size)"
        call = "forward(x, t, y) with x of shape"
    if not isinstance(out, torch.Tensor):
        msg = f"forward returned {type(out).__name__}; expected a Tensor of {what}"
        raise CheckFailed("shape", "ShapeError", msg)
    if tuple(out.shape) != want:
        raise CheckFailed("shape", "ShapeError",
                          f"{call} {tuple(x.shape)} returned {tuple(out.shape)}; expected "
                          f"{want}, {what}")  # fmt: skip
    enter("finite")
    if not torch.isfinite(out).all():
        raise CheckFailed("finite", "NonFiniteError", "forward produced NaN or Inf outputs")
    loss = loss_fn(out)
    if not torch.isfinite(loss):
        raise CheckFailed("finite", "NonFiniteError", f"loss is {loss.item()}")
    enter("backward")
    loss.backward()
    enter("finite")
    bad = [name for name, p in model.named_parameters()
           if p.grad is not None and not torch.isfinite(p.grad).all()]  # fmt: skip
    if bad:
        raise CheckFailed("finite", "NonFiniteError", f"NaN/Inf gradients in {bad[:5]}")
    # evaluation must score each example alone: a model that pools a batch could average
    # several noisy copies of one test image
    enter("forward", "independent")
    model.eval()
    other, _ = random_batch(spec, B, device, seed=1)
    mixed = tuple(torch.cat([a[:1], o[1:]]) for a, o in zip(inputs, other, strict=True))
    with torch.no_grad():
        a, b = model(*inputs)[:1].float(), model(*mixed)[:1].float()
    diff = (a - b).abs().max().item()
    if diff > 1e-3 * (1 + a.abs().max().item()):
        raise CheckFailed(
            "forward", "BatchDependenceError",
            f"in eval mode, the output for example 0 changed by {diff:.3g} when only the other "
            "examples in the batch changed: each example must be processed on its own",
        )  # fmt: skip
    return {"ok": True, "params": n, "contract": "model"}


def _check_optimizer(module, spec, device, enter) -> dict:
    """An optimizer file: build_optimizer(param_groups, spec) on the task's baseline model
    must return a torch.optim.Optimizer that takes its step size from each group's "lr"
    (the harness sets it every step), steps to finite weights, and checkpoints."""
    import io

    import torch

    from .families import build_reference, family, param_groups

    enter("build")
    torch.manual_seed(0)
    cfg = family(spec.task).references(spec, spec.param_budget, {}, ())["baseline"]
    model = build_reference(cfg.to_dict()).to(device)
    n = sum(p.numel() for p in model.parameters() if p.requires_grad)
    opt = module.build_optimizer(param_groups(model, 0.1, 1e-3), spec)
    if not isinstance(opt, torch.optim.Optimizer):
        raise CheckFailed("build", "ContractError",
                          f"build_optimizer returned {type(opt).__name__}, not a "
                          "torch.optim.Optimizer")  # fmt: skip
    enter("train")
    inputs, loss_fn = random_batch(spec, 2, device)
    model.train()

    def step(lr: float) -> None:
        for group in opt.param_groups:
            group["lr"] = lr
        loss = loss_fn(model(*inputs))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    before = [p.detach().clone() for p in model.parameters()]
    step(0.0)
    moved = [i for i, (p, q) in enumerate(zip(model.parameters(), before, strict=True))
             if not torch.equal(p.detach(), q)]  # fmt: skip
    if moved:
        raise CheckFailed("train", "ContractError",
                          "with every param_group's lr set to 0 a step still changed "
                          f"{len(moved)} parameter tensors: the optimizer must scale its whole "
                          "update (weight decay included) by group['lr'], which the harness "
                          "sets every step (warmup and cosine decay)")  # fmt: skip
    for _ in range(3):
        step(1e-3)
    if not all(torch.isfinite(p).all() for p in model.parameters()):
        raise CheckFailed("finite", "NonFiniteError", "parameters are NaN/Inf after 3 steps")
    if all(torch.equal(p.detach(), q) for p, q in zip(model.parameters(), before, strict=True)):
        raise CheckFailed("train", "ContractError", "3 steps at lr 1e-3 changed no parameter")
    buf = io.BytesIO()
    try:
        torch.save(opt.state_dict(), buf)
        state = torch.load(io.BytesIO(buf.getvalue()), weights_only=True)
        opt.load_state_dict(state)
    except Exception as exc:
        msg = ("the optimizer's state_dict() must survive torch.save and "
               f"torch.load(weights_only=True) for checkpoints: {exc}")  # fmt: skip
        raise CheckFailed("train", "ContractError", msg[:2000]) from exc
    step(1e-3)  # and it still steps after a reload
    return {"ok": True, "params": n, "contract": "optimizer"}


ISOLATIONS = ("jail", "none")
VALIDATION_MEMORY = 16 << 30  # address space on CPU (CUDA reserves far more: unlimited there)


def isolation_failure(reason: str) -> dict:
    """The structured result for code that was not run because no jail works here."""
    return {
        "ok": False,
        "failure": {
            "stage": "isolation",
            "type": "IsolationUnavailable",
            "message": f"not run: no isolation available ({reason})",
            "traceback": "",
        },
    }


def _stage_reached(out: str) -> str:
    stages = [ln.split()[1] for ln in out.splitlines() if ln.startswith("pf_stage ")]
    stage = stages[-1] if stages else "import"
    return "forward" if stage == "causal" else stage


def validate_in_subprocess(
    impl_path,
    spec,
    device="cpu",
    timeout=600,
    *,
    isolation="jail",
    env=None,
    limits=None,
    prefix=(),
    cwd=None,
) -> dict:
    """check_impl in a fresh interpreter: a crash, hang or sys.exit cannot take us down.

    isolation="jail" (the default: fail closed) runs it in the bubblewrap jail
    (`jail.py`): only the interpreter, this package and the implementation file are visible,
    read-only; no network, no host processes, no environment but `env`; `limits`
    (jail.Limits) default to CPU seconds and address space sized for validation. Where no
    jail works the code is not run and the result says so (stage "isolation").
    isolation="none" is for trusted code (the shipped reference implementations): a plain
    child process with `env` (default: ours), `cwd`, an optional wrapper `prefix` and
    `limits`; its process group is killed on timeout.
    Either way the whole process tree is gone when this returns.
    """
    from . import jail

    if isolation not in ISOLATIONS:
        raise ValueError(f"isolation must be one of {ISOLATIONS}, not {isolation!r}")
    pkg_root = str(Path(__file__).resolve().parent.parent)
    impl_path = Path(impl_path).absolute()
    cmd = [
        sys.executable,
        "-m",
        "paperfoundry_trainer.validate",
        "--impl",
        str(impl_path),
        "--spec-json",
        json.dumps(spec.to_dict()),
        "--device",
        str(device),
    ]
    try:
        if isolation == "jail":
            gpu = str(device).startswith("cuda")
            if limits is None:
                memory = None if gpu else VALIDATION_MEMORY
                limits = jail.Limits(cpu_seconds=int(timeout) + 30, memory_bytes=memory)
            jail_env = {"PYTHONPATH": pkg_root, "OMP_NUM_THREADS": "1", **(env or {})}
            proc = jail.run(cmd, timeout=timeout, ro_paths=[impl_path], limits=limits,
                            gpu=gpu, env=jail_env)  # fmt: skip
        else:
            env = dict(os.environ if env is None else env)
            env["PYTHONPATH"] = os.pathsep.join(p for p in (pkg_root, env.get("PYTHONPATH")) if p)
            proc = jail.run_unjailed([*prefix, *cmd], timeout=timeout, env=env, cwd=cwd,
                                     limits=limits)  # fmt: skip
        out, err, rc = proc.stdout, proc.stderr, proc.returncode
    except jail.JailUnavailable as exc:
        return isolation_failure(str(exc))
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        stage = _stage_reached(out)
        return {
            "ok": False,
            "failure": {
                "stage": stage,
                "type": "TimeoutExpired",
                "message": (
                    f"validation did not finish within {timeout}s (stuck in stage {stage!r})"
                ),
                "traceback": "",
            },
        }
    for line in reversed(out.splitlines()):
        if line.startswith("pf_validation "):
            return json.loads(line[len("pf_validation ") :])
    # the child died without reporting (segfault, os._exit, sys.exit in the impl, a limit)
    return {
        "ok": False,
        "failure": {
            "stage": _stage_reached(out),
            "type": "ProcessDied",
            "message": f"validation process exited with code {rc} without a result",
            "traceback": "\n".join(err.strip().splitlines()[-10:]),
        },
    }


def main(argv=None) -> int:
    from .spec import ModelSpec

    ap = argparse.ArgumentParser(prog="paperfoundry_trainer.validate")
    ap.add_argument("--impl", required=True)
    ap.add_argument("--spec-json", required=True)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    spec = ModelSpec(**json.loads(args.spec_json))

    def emit(stage):
        print(f"pf_stage {stage}", flush=True)

    result = check_impl(args.impl, spec, args.device, emit)
    print("pf_validation " + json.dumps(result), flush=True)
    return 0 if result["ok"] else 2


if __name__ == "__main__":
    sys.exit(main())
