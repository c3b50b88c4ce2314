"""Task families: what differs between sequence, image and diffusion comparisons.

The protocol (compare.py: validation, LR sweep on val, fresh seeds on test, gates, Welch
outcomes, claims) is one for every family. A family adds only what is its own:

- its reference models (baselines sized to the candidate, an optional negative control) and
  how to describe, count and cost them;
- its competence gates (sequence: the existing MQAR/LM gates; image: an accuracy bar;
  diffusion: beating the best pixel-wise and linear denoisers, computed in closed form);
- how a training step computes its loss (`FamilyTrainer`; the sequence families keep
  `train.Trainer`'s next-token cross-entropy);
- the optimizer contract's parameter groups (`param_groups`), the same split the harness's
  AdamW uses.

Both sides use this module: the controller (gates, references) and the worker (trainer).
"""

from __future__ import annotations

import math

import torch

from . import baseline as ref
from . import baseline_diffusion as dit
from . import baseline_image as img
from .spec import IMAGE_TASKS, SEQUENCE_TASKS
from .train import Trainer, lr_at

MQAR_COMPETENCE = 0.9  # the baseline must solve the easy recall setting
MQAR_CONTROL_MAX = 0.5  # a model that cannot mix positions must fail recall
LM_ENTROPY_MARGIN = 0.25  # bits/byte the LM baseline must beat the unigram entropy by
# image: the accuracy the primary baseline must reach per dataset (chance is 0.1)
IMAGE_COMPETENCE = {"digits": 0.85, "cifar10": 0.6}
IMAGE_COMPETENCE_DEFAULT = 0.5
# diffusion: the baseline's denoising MSE must be at most this share of the best pixel-wise
# (no spatial context) denoiser's, the analogue of the LM's "beat the unigram entropy"
DIFFUSION_PIXELWISE_SHARE = 0.9


def param_groups(model: torch.nn.Module, weight_decay: float, lr: float) -> list[dict]:
    """The harness's AdamW groups: decay on matrices/embeddings/conv kernels (dim >= 2),
    none on gains, biases and other 1-d parameters."""
    params = [p for p in model.parameters() if p.requires_grad]
    return [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay, "lr": lr},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0, "lr": lr},
    ]


def optimizer_state_floats(opt) -> int:
    """Floats the optimiser keeps between steps (its `state`), counted over tensors."""
    total = 0
    for state in getattr(opt, "state", {}).values():
        if isinstance(state, dict):
            for v in state.values():
                if isinstance(v, torch.Tensor) and v.is_floating_point() and v.dim() > 0:
                    total += v.numel()
    return total


class FamilyTrainer(Trainer):
    """`train.Trainer` with the task's own inputs and loss: a batch is (inputs, target),
    the model is called as model(*inputs), the loss is task.loss(outputs, target).
    Schedule, clipping, optimiser, autocast, checkpoints: unchanged."""

    def train_step(self) -> torch.Tensor:
        lr = lr_at(self.step, self.cfg)
        for group in self.opt.param_groups:
            group["lr"] = lr
        inputs, target = self.task.batch(self.cfg.batch_size, self.seed, self.step)
        if not self.model.training:
            self.model.train()
        with self.autocast():
            out = self.forward(*inputs)
        if not isinstance(out, torch.Tensor):
            raise TypeError(f"forward returned {type(out).__name__}, not a Tensor")
        loss = self.task.loss(out, target)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, self.cfg.grad_clip)
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        loss = loss.detach()
        self.loss_sum += loss
        self.loss_count += 1
        self.step += 1
        return loss


def trainer_class(task_name: str):
    return Trainer if task_name in SEQUENCE_TASKS else FamilyTrainer


def build_reference(cfg: dict) -> torch.nn.Module:
    kind = cfg.get("kind")
    if kind in img.ARCHS:
        return img.build(cfg)
    if kind == "dit":
        return dit.build(cfg)
    return ref.build(cfg)


def _gate(name, passed, value, threshold, detail, scope="all") -> dict:
    return {"name": name, "passed": bool(passed), "value": value, "threshold": threshold,
            "detail": detail, "scope": scope}  # fmt: skip


# -- the families, controller side -----------------------------------------------------------


class SequenceFamily:
    """mqar and lm: tokens in, next-token logits out; causal; attention/GPT baselines."""

    causal = True
    batch_independent = False  # probed for causality instead

    def __init__(self, task_name: str):
        self.task_name = task_name

    def references(self, spec, target: int, baseline_decl: dict, extra: tuple = ()) -> dict:
        conv = baseline_decl.get("short_conv", 0)
        return {
            "baseline": ref.size_to(self.task_name, spec, target, conv),
            "control": ref.control_for(spec, target),
        }

    def describe(self, cfg) -> str:
        return ref.describe(cfg)

    def count_params(self, cfg) -> int:
        return ref.count_params(cfg)

    def non_embedding_params(self, cfg) -> int:
        return ref.non_embedding_params(cfg)

    def setting(self, spec, task) -> dict:
        return {"seq_len": spec.seq_len, "vocab_size": spec.vocab_size}

    def items_per_example(self, spec) -> int:
        return spec.seq_len

    def bench_lengths(self, spec) -> list[int]:
        return sorted({spec.seq_len, max(2, spec.seq_len // 4)})

    def reference_efficiency(self, cfg, spec) -> dict:
        T = spec.seq_len
        with torch.device("meta"):
            model = ref.ReferenceLM(cfg)
        non_emb = ref.non_embedding_params(cfg)
        attn = 0 if cfg.kind == "control" else 2 * cfg.n_layer * T * cfg.d_model
        return {
            "state_size": {str(L): model.state_size(L) for L in (T, 4096)},
            "state_size_source": "computed by the harness",
            "flops_per_token": 2 * non_emb + attn,
            "flops_source": "2 x non-embedding params + attention over the sequence",
        }

    def gates(self, task, models: dict) -> list[dict]:
        from .tasks import unigram_entropy

        gates = []
        base = models["baseline"]["mean"]
        ctrl = models["control"]["mean"]
        if self.task_name == "mqar":
            gates.append(_gate(
                "baseline_competence", base >= MQAR_COMPETENCE, base, MQAR_COMPETENCE,
                f"the attention baseline reached {base:.2f} query accuracy "
                f"({'>=' if base >= MQAR_COMPETENCE else '<'} {MQAR_COMPETENCE}); "
                + ("it solves the task" if base >= MQAR_COMPETENCE else
                   "it did not learn the task at this budget, so no comparison was made"),
            ))  # fmt: skip
            gates.append(_gate(
                "negative_control", ctrl < MQAR_CONTROL_MAX, ctrl, MQAR_CONTROL_MAX,
                f"a model that cannot mix positions scored {ctrl:.2f} "
                + ("(fails recall, as it must)" if ctrl < MQAR_CONTROL_MAX else
                   "(should fail recall: the task leaks its answers)"),
            ))  # fmt: skip
        else:
            h = unigram_entropy(task.data["test"])
            bar = h - LM_ENTROPY_MARGIN
            ok = base <= bar and base < ctrl
            gates.append(_gate(
                "baseline_competence", ok, base, bar,
                f"the baseline reached {base:.3f} bits/byte; the corpus's unigram entropy is "
                f"{h:.3f} and the no-mixing (bigram) control {ctrl:.3f}: "
                + ("it uses context" if ok else "it did not learn the task at this budget"),
            ))  # fmt: skip
        return gates


class ImageFamily:
    """image: images in, class logits out; a ViT and a ResNet reference; no control."""

    causal = False
    batch_independent = True

    def __init__(self, task_name: str = "image"):
        self.task_name = task_name

    @staticmethod
    def primary(baseline_decl: dict) -> str:
        return baseline_decl.get("arch", "vit")

    def references(self, spec, target: int, baseline_decl: dict, extra: tuple = ()) -> dict:
        """The declared (default ViT) backbone as "baseline"; the other one as
        "baseline:<arch>" only when a claim is about it (`extra`)."""
        primary = self.primary(baseline_decl)
        out = {"baseline": img.size_to(primary, spec, target)}
        for arch in extra:
            if arch in img.ARCHS and arch != primary:
                out[f"baseline:{arch}"] = img.size_to(arch, spec, target)
        return out

    def describe(self, cfg) -> str:
        return img.describe(cfg)

    def count_params(self, cfg) -> int:
        return img.count_params(cfg)

    def non_embedding_params(self, cfg) -> int:
        return img.count_params(cfg)

    def setting(self, spec, task) -> dict:
        return {"dataset": task.dataset, "image_size": spec.image_size,
                "channels": spec.channels, "num_classes": spec.num_classes}  # fmt: skip

    def items_per_example(self, spec) -> int:
        return 1

    def bench_lengths(self, spec) -> list[int]:
        return [spec.image_size]

    def reference_efficiency(self, cfg, spec) -> dict:
        return {"flops_per_image": img.flops_per_image(cfg),
                "flops_source": "2 x multiply-adds of a forward pass (convs, linears, "
                "attention), counted by the harness"}  # fmt: skip

    def competence_bar(self, task) -> float:
        return IMAGE_COMPETENCE.get(task.dataset, IMAGE_COMPETENCE_DEFAULT)

    def gates(self, task, models: dict) -> list[dict]:
        bar = self.competence_bar(task)
        gates = []
        for name in [m for m in models if m == "baseline" or m.startswith("baseline:")]:
            acc = models[name]["mean"]
            ok = acc >= bar
            label = "baseline_competence" + name.removeprefix("baseline")
            gates.append(_gate(
                label, ok, acc, bar,
                f"the {name} reached {acc:.3f} test accuracy on {task.dataset} "
                f"({'>=' if ok else '<'} {bar}): "
                + ("it learned the task" if ok else "it did not learn the task at this budget, "
                   "so no comparison with it was made"),
                scope="all" if name == "baseline" else name,
            ))  # fmt: skip
        return gates


class DiffusionFamily(ImageFamily):
    """diffusion: (x_t, t, y) in, predicted noise out; a DiT-style reference; the baseline
    must beat closed-form denoisers (no control run)."""

    def __init__(self, task_name: str = "diffusion"):
        super().__init__(task_name)

    @staticmethod
    def primary(baseline_decl: dict) -> str:
        return baseline_decl.get("conditioning", "adaln-zero")

    def references(self, spec, target: int, baseline_decl: dict, extra: tuple = ()) -> dict:
        out = {"baseline": dit.size_to(spec, target, self.primary(baseline_decl))}
        for cond in extra:
            if cond in dit.CONDITIONINGS and cond != self.primary(baseline_decl):
                out[f"baseline:{cond}"] = dit.size_to(spec, target, cond)
        return out

    def describe(self, cfg) -> str:
        return dit.describe(cfg)

    def count_params(self, cfg) -> int:
        return dit.count_params(cfg)

    def non_embedding_params(self, cfg) -> int:
        return dit.count_params(cfg)

    def setting(self, spec, task) -> dict:
        return {**super().setting(spec, task), "timesteps": spec.timesteps,
                "schedule": "cosine", "eval_timesteps": list(task.eval_t)}  # fmt: skip

    def reference_efficiency(self, cfg, spec) -> dict:
        return {"flops_per_image": dit.flops_per_image(cfg),
                "flops_source": "2 x multiply-adds of a forward pass (convs, linears, "
                "attention), counted by the harness"}  # fmt: skip

    def gates(self, task, models: dict, references: dict | None = None) -> list[dict]:
        refs = references or {}
        pixel, linear = refs.get("pixelwise"), refs.get("linear")
        gates = []
        for name in [m for m in models if m == "baseline" or m.startswith("baseline:")]:
            mse = models[name]["mean"]
            bar = DIFFUSION_PIXELWISE_SHARE * pixel if pixel is not None else math.inf
            ok = mse <= bar
            label = "baseline_competence" + name.removeprefix("baseline")
            detail = (
                f"the {name} reached a test denoising MSE of {mse:.4f}; the best pixel-wise "
                f"denoiser (no spatial context) scores {pixel:.4f}, the best linear one "
                f"{linear:.4f}: "
                + (f"it uses spatial context (<= {DIFFUSION_PIXELWISE_SHARE:g}x the "
                   "pixel-wise)" if ok else "it did not learn the task at this budget")
                + ("; it also beats the linear denoiser" if ok and mse < linear else "")
            )  # fmt: skip
            gates.append(_gate(label, ok, mse, bar, detail,
                               scope="all" if name == "baseline" else name))  # fmt: skip
        return gates


def family(task_name: str):
    if task_name in SEQUENCE_TASKS:
        return SequenceFamily(task_name)
    if task_name == "image":
        return ImageFamily()
    if task_name == "diffusion":
        return DiffusionFamily()
    raise ValueError(f"unknown task {task_name!r}")


__all__ = ["IMAGE_TASKS", "SEQUENCE_TASKS", "family", "FamilyTrainer", "param_groups"]
