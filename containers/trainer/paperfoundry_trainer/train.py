"""One training run's optimiser and step: a model, a task, a learning rate, a seed.

Used inside the worker process; the controller decides how long to train and evaluates.

Identical for baseline and candidate: AdamW (fused on CUDA), linear warmup then cosine decay,
grad clipping, bf16 autocast + TF32 on CUDA. The inner loop never syncs with the device:
the loss is accumulated on-device and read (.item()) only every `log_every` steps. (A task
whose `batch` copies from pageable host memory still makes the host wait for the GPU at
each step: see docs/BENCHMARKS.md.)

The step costs no more host time than a plain loop needs (benchmarks/harness_throughput.py):
training mode is set only when some module is not in it, and the gradient clip issues the
very ops of `clip_grad_norm_` without its per-call grouping (bit-identical results).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .tasks import IGNORE


@dataclass(frozen=True)
class TrainConfig:
    steps: int
    batch_size: int
    lr: float
    warmup_frac: float = 0.1
    min_lr_frac: float = 0.1  # cosine decays to lr * min_lr_frac
    weight_decay: float = 0.1
    beta2: float = 0.95
    grad_clip: float = 1.0
    log_every: int = 25


class Interrupted(Exception):
    """Raised after the run state has been checkpointed because a stop was requested."""


def lr_at(step: int, cfg: TrainConfig) -> float:
    warmup = max(1, int(cfg.warmup_frac * cfg.steps))
    if step < warmup:
        return cfg.lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, cfg.steps - warmup)
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return cfg.lr * (cfg.min_lr_frac + (1 - cfg.min_lr_frac) * cosine)


def setup_device(device: str) -> torch.device:
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return dev


def autocast_for(device: torch.device):
    if device.type == "cuda":
        return lambda: torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext


def make_optimizer(model, cfg: TrainConfig, device: torch.device):
    # weight decay on matrices (and embeddings), none on gains/biases/1-d params
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, cfg.beta2), fused=device.type == "cuda")


def clip_grad_norm(params: list, max_norm: float) -> None:
    """`torch.nn.utils.clip_grad_norm_(params, max_norm)` (2-norm), bit for bit: the same
    foreach ops in the same order, minus its per-call grouping by device and dtype when every
    gradient is a plain tensor on one CPU/CUDA device in one dtype (else the library call)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    first = grads[0]
    if first.device.type not in ("cpu", "cuda") or not all(
        type(g) is torch.Tensor and g.device == first.device and g.dtype == first.dtype
        for g in grads
    ):
        torch.nn.utils.clip_grad_norm_(params, max_norm)
        return
    with torch.no_grad():
        total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads, 2.0)), 2.0)
        clip_coef = max_norm / (total + 1e-6)
        torch._foreach_mul_(grads, torch.clamp(clip_coef, max=1.0))


class Trainer:
    def __init__(self, model, task, cfg: TrainConfig, seed: int, device, compile=False):
        self.model = model.to(device)
        self.task, self.cfg, self.seed, self.device = task, cfg, seed, torch.device(device)
        self.forward = torch.compile(self.model) if compile else self.model
        self.opt = make_optimizer(self.model, cfg, self.device)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.modules = list(self.model.modules())
        self.autocast = autocast_for(self.device)
        self.step = 0
        self.loss_sum = torch.zeros((), device=self.device)
        self.loss_count = 0
        self.curve = {"step": [], "loss": []}

    def train_step(self) -> torch.Tensor:
        lr = lr_at(self.step, self.cfg)
        for group in self.opt.param_groups:
            group["lr"] = lr
        x, y = self.task.batch(self.cfg.batch_size, self.seed, self.step)
        # model.train() walks every module (~5 us each); only predict/bench leave training
        # mode, so it is needed only when some module is out of it (a module added later
        # starts in training mode, and eval() on the model also clears the model's own flag)
        if not all(m.training for m in self.modules):
            self.model.train()
        with self.autocast():
            logits = self.forward(x)
        loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), ignore_index=IGNORE)
        loss.backward()
        clip_grad_norm(self.params, self.cfg.grad_clip)
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        loss = loss.detach()
        self.loss_sum += loss
        self.loss_count += 1
        self.step += 1
        return loss

    def pop_mean_loss(self) -> float:
        """The one host-device sync: mean loss since the last call."""
        mean = (self.loss_sum / max(1, self.loss_count)).item()
        self.loss_sum.zero_()
        self.loss_count = 0
        return mean

    def state_dict(self) -> dict:
        rng = {"cpu": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        return {
            "model": self.model.state_dict(),
            "opt": self.opt.state_dict(),
            "step": self.step,
            "loss_sum": float(self.loss_sum),
            "loss_count": self.loss_count,
            "curve": self.curve,
            "rng": rng,
        }

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        self.step, self.loss_count, self.curve = state["step"], state["loss_count"], state["curve"]
        self.loss_sum.fill_(state["loss_sum"])
        torch.set_rng_state(state["rng"]["cpu"])
        if "cuda" in state["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
