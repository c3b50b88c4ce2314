"""The worker: the only process that imports an implementation's code.

The trusted controller (`compare.py`) starts one worker per training run (jailed when the
code is not a shipped reference) and talks to it in `protocol` frames on stdin/stdout. The
worker builds one model, trains it on training batches, and answers `predict` and `bench`
requests with raw outputs. It never sees test labels, never writes results, and a fresh
process per run means no state carries from one run (seed) to the next.

Run as `python -m paperfoundry_trainer.worker`.
"""

from __future__ import annotations

import io
import math
import os
import resource
import signal
import sys

import torch

from . import protocol
from .families import build_reference, optimizer_state_floats, param_groups, trainer_class
from .spec import ModelSpec
from .tasks import make_task
from .train import TrainConfig, autocast_for, setup_device
from .validate import failure, load_impl


class Session:
    """One model, its trainer and its task (training split only)."""

    def __init__(self):
        self.trainer = None
        self.model = None
        self.impl_path = None
        self.device = torch.device("cpu")

    # -- ops ---------------------------------------------------------------------------
    def build(self, h: dict, _t: dict):
        spec = ModelSpec(**h["spec"])
        self.device = setup_device(h.get("device", "cpu"))
        if h.get("threads"):
            torch.set_num_threads(int(h["threads"]))
        task = make_task(
            spec.task, spec, h.get("task_args", {}), self.device, h.get("data_dir"), ("train",)
        )
        torch.manual_seed(int(h["seed"]))  # same init stream for every run with this seed
        src = h["model"]
        optimizer = src["source"] == "impl" and src.get("contract") == "optimizer"
        if src["source"] == "impl" and not optimizer:
            self.impl_path = src["path"]
            module = load_impl(src["path"])
            model = module.build_model(spec, **src.get("kwargs", {}))
        else:  # a reference model; for an optimizer built before its file is imported, so
            # its initial weights are the AdamW baseline's, whatever the import does
            model = build_reference(src["config"])
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"build_model returned {type(model).__name__}, not torch.nn.Module")
        self.model = model
        cfg = TrainConfig(**h["train"])
        trainer = trainer_class(spec.task)
        self.trainer = trainer(model, task, cfg, int(h["seed"]), self.device, h.get("compile"))
        if optimizer:
            self.impl_path = src["path"]
            module = load_impl(src["path"])
            groups = param_groups(model, cfg.weight_decay, cfg.lr)
            opt = module.build_optimizer(groups, spec, **src.get("kwargs", {}))
            if not isinstance(opt, torch.optim.Optimizer):
                raise TypeError(
                    f"build_optimizer returned {type(opt).__name__}, not torch.optim.Optimizer"
                )
            self.trainer.opt = opt
        params = [p for p in model.parameters() if p.requires_grad]
        embedding = sum(
            p.numel()
            for m in model.modules()
            if isinstance(m, torch.nn.Embedding)
            for p in m.parameters()
            if p.requires_grad
        )
        state = {}
        if callable(getattr(model, "state_size", None)):
            for length in h.get("state_lengths", []):
                state[str(length)] = int(model.state_size(int(length)))
        return {
            "params": sum(p.numel() for p in params),
            "embedding_params": embedding,
            "state_size": state or None,
        }, {}

    def train(self, h: dict, _t: dict):
        """Train to step `until`; the mean loss of each log interval, and divergence."""
        tr = self.trainer
        until = min(int(h["until"]), tr.cfg.steps)
        diverge_at = tr.task.diverge_loss  # e.g. 3x the loss of a uniform guess
        points, diverged = [], False
        while tr.step < until:
            tr.train_step()
            if tr.step % tr.cfg.log_every == 0 or tr.step == tr.cfg.steps:
                loss = tr.pop_mean_loss()
                if not math.isfinite(loss) or loss > diverge_at:
                    diverged = True
                    break
                tr.curve["step"].append(tr.step)
                tr.curve["loss"].append(loss)
                points.append([tr.step, loss])
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        return {"step": tr.step, "points": points, "diverged": diverged}, {}

    @torch.no_grad()
    def predict(self, h: dict, t: dict):
        self.model.eval()
        task = self.trainer.task
        args = [t[name].to(self.device) for name in task.input_names]
        with autocast_for(self.device)():
            logits = self.trainer.forward(*args)
        if task.name in ("mqar", "lm"):
            if not isinstance(logits, torch.Tensor) or logits.dim() != 3:
                raise TypeError("forward must return logits of shape (B, T, vocab_size)")
        elif not isinstance(logits, torch.Tensor):
            raise TypeError(f"forward must return a Tensor, not {type(logits).__name__}")
        if "positions" in t:
            logits = logits[:, t["positions"].to(self.device)]
        return {}, {"logits": logits.float()}

    @torch.no_grad()
    def bench(self, h: dict, _t: dict):
        """Forward passes on random inputs; the controller times this request."""
        self.model.eval()
        B, T, iters = int(h["batch"]), int(h["length"]), int(h["iters"])
        args = self.trainer.task.random_inputs(B, self.device, T)
        with autocast_for(self.device)():
            for _ in range(iters):
                self.trainer.forward(*args)
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        return {}, {}

    def state(self, h: dict, _t: dict):
        buf = io.BytesIO()
        torch.save(self.trainer.state_dict(), buf)
        return {}, {"blob": torch.frombuffer(bytearray(buf.getvalue()), dtype=torch.uint8)}

    def load(self, h: dict, t: dict):
        raw = protocol.tensor_bytes(t["blob"])
        state = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
        self.trainer.load_state_dict(state)
        return {"step": self.trainer.step, "curve": self.trainer.curve}, {}

    def memory(self, h: dict, _t: dict):
        opt_state = optimizer_state_floats(self.trainer.opt) if self.trainer else None
        if self.device.type == "cuda":
            peak = torch.cuda.max_memory_allocated() / 2**20
            return {"peak_mb": peak, "kind": "cuda", "optimizer_state": opt_state}, {}
        rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # Linux: KiB
        return {"peak_mb": rss_kb / 1024, "kind": "process rss", "optimizer_state": opt_state}, {}


STAGES = {"build": "build", "train": "train", "predict": "forward", "bench": "forward"}


def main() -> int:
    # Frames go to the real stdout; anything the model prints goes to stderr instead.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the controller decides when we stop
    inp = sys.stdin.buffer
    session = Session()
    while True:
        try:
            header, tensors = protocol.recv(inp)
        except protocol.ProtocolError:
            return 0  # the controller went away
        op = header.get("op")
        if op == "exit":
            protocol.send(out, {"ok": True})
            return 0
        handler = (
            getattr(session, str(op), None) if op in {*STAGES, "state", "load", "memory"} else None
        )
        try:
            if handler is None:
                raise ValueError(f"unknown op {op!r}")
            reply, tensors_out = handler(header, tensors)
            protocol.send(out, {"ok": True, **reply}, tensors_out)
        except Exception as exc:  # noqa: BLE001 - every error goes back as data
            info = failure(STAGES.get(op, "train"), exc, session.impl_path or __file__)
            protocol.send(out, {"ok": False, "failure": info})


if __name__ == "__main__":
    sys.exit(main())
