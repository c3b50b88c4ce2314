"""What the harness hands an implementation: the ModelSpec, plus the budget presets.

An implementation only ever sees a ModelSpec. Everything else (steps, batch size, learning
rates) belongs to the harness, so candidate and baseline are always trained identically.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace


@dataclass(frozen=True)
class ModelSpec:
    vocab_size: int  # logits must have this last dimension (sequence tasks; 0 otherwise)
    seq_len: int  # the longest T the model will be called with (sequence tasks; 0 otherwise)
    param_budget: int  # target trainable parameters; the candidate must be within +-15%
    d_model: int = 64  # a width hint, free to ignore
    n_layer: int = 2  # a depth hint, free to ignore
    task: str = "mqar"  # "mqar" | "lm" | "image" | "diffusion"
    image_size: int = 0  # image tasks: inputs are (B, channels, image_size, image_size)
    channels: int = 0  # image tasks
    num_classes: int = 0  # image: logits' last dimension; diffusion: labels y in [0, K)
    timesteps: int = 0  # diffusion: t in [0, timesteps)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Budget:
    """One row of the budget table: model size, data shape, training length, statistics."""

    name: str
    spec: ModelSpec
    steps: int
    batch_size: int
    lrs: tuple[float, ...]  # the sweep grid (extended at an edge, see compare.py)
    seeds: int  # fresh seeds at each model's chosen LR (the sweep seed is never reused)
    eval_batches: int  # test split size, in batches of batch_size
    log_every: int
    val_batches: int = 4  # validation split size (LR choice), in batches of batch_size
    warmup_frac: float = 0.1
    task_args: dict = field(default_factory=dict)  # e.g. mqar num_kv_pairs
    smoke: bool = False  # a wiring test: runs everything, states no verdict
    max_extensions: int = 2  # times the LR grid may grow past an edge


# mqar "small" is the Zoology set-up shrunk to a CPU: 8 kv pairs in 32 tokens, vocab 64,
# width ~64, 2 layers, no MLPs, batch 64. Measured on 2 CPU cores (one thread per run, seed
# 0, LR 1e-2): attention with a kernel-3 short conv reaches 0.87 query accuracy at step 250
# and 1.00 at 500; BASED (with its conv) 0.28 at 500, 0.90 at 750, 0.98 at 1,000. Attention
# without the conv stays at ~0.15 for 2,000 steps (vocab 256; with or without an MLP, LR
# 3e-3 and 1e-2), and with vocab 256 BASED learns far slower (0.25 at step 800). 1,200
# steps let both converge. The easy setting checks that recall works at all; separating
# architectures by recall capacity needs many more kv pairs (medium/large, on a GPU).
# fmt: off  (budget tables read best as aligned rows)
_MQAR = {
    "tiny": Budget(
        "tiny",
        ModelSpec(64, 16, 26_000, 32, 2, "mqar"),
        steps=40,
        batch_size=16,
        lrs=(3e-3, 1e-2),
        seeds=2,
        eval_batches=4,
        log_every=10,
        val_batches=2,
        task_args={"num_kv_pairs": 4},
        smoke=True,
        max_extensions=0,
    ),
    "small": Budget(
        "small",
        ModelSpec(64, 32, 30_000, 64, 2, "mqar"),
        steps=1200,
        batch_size=64,
        lrs=(3e-3, 1e-2, 3e-2),
        seeds=3,
        eval_batches=16,
        log_every=50,
        val_batches=8,
        task_args={"num_kv_pairs": 8},
    ),
    "medium": Budget(
        "medium",
        ModelSpec(8192, 256, 1_300_000, 128, 2, "mqar"),
        steps=12000,
        batch_size=128,
        lrs=(3e-4, 1e-3, 3e-3, 1e-2),
        seeds=3,
        eval_batches=16,
        log_every=200,
        val_batches=8,
        task_args={"num_kv_pairs": 64},
    ),
    "large": Budget(
        "large",
        ModelSpec(8192, 512, 2_700_000, 256, 2, "mqar"),
        steps=25000,
        batch_size=128,
        lrs=(3e-4, 1e-3, 3e-3),
        seeds=3,
        eval_batches=16,
        log_every=500,
        val_batches=8,
        task_args={"num_kv_pairs": 128},
    ),
}

# lm: byte-level, vocab 256, on the built-in corpus unless a data dir is given.
_LM = {
    "tiny": Budget(
        "tiny",
        ModelSpec(256, 32, 34_000, 32, 2, "lm"),
        steps=30,
        batch_size=8,
        lrs=(3e-3, 1e-2),
        seeds=2,
        eval_batches=4,
        log_every=10,
        val_batches=2,
        smoke=True,
        max_extensions=0,
    ),
    "small": Budget(
        "small",
        ModelSpec(256, 64, 120_000, 64, 2, "lm"),
        steps=500,
        batch_size=32,
        lrs=(1e-3, 3e-3, 1e-2),
        seeds=3,
        eval_batches=16,
        log_every=50,
        val_batches=8,
    ),
    "medium": Budget(
        "medium",
        ModelSpec(256, 256, 10_000_000, 384, 6, "lm"),
        steps=5000,
        batch_size=64,
        lrs=(3e-4, 1e-3, 3e-3),
        seeds=3,
        eval_batches=32,
        log_every=100,
        val_batches=16,
    ),
    "large": Budget(
        "large",
        ModelSpec(256, 1024, 85_000_000, 768, 12, "lm"),
        steps=10000,
        batch_size=64,
        lrs=(1e-4, 3e-4, 1e-3),
        seeds=3,
        eval_batches=32,
        log_every=200,
        val_batches=16,
    ),
}


# image: classification. tiny/small run on the built-in 8x8 digits (offline, CPU); medium and
# large on CIFAR-10 (`prepare-data --corpus cifar10`, then --data DIR or the `data` channel).
# Measured on 2 CPU cores (one thread per run, CPU time per step at batch 64, 30k params):
# ViT 9 ms, ResNet 10 ms, ViT with a conv stem 10 ms. Validation accuracy after 1,500 steps
# (seed 0): ViT 0.90 (LR 3e-3) / 0.94 (1e-2), ViT_C 0.96 / 0.97, ResNet 0.99 by step 300.
# With a 10% warmup the patchify ViT at LR 3e-2 stalls near chance on some seeds (test
# accuracy 0.54 / 0.94 / 0.95 over seeds 1-3) while seed 0 looks best in the sweep, so the
# baseline failed its gate; with 30% warmup the same seeds reach 0.97 / 0.96 / 0.96. The
# digits budgets warm up for 30% of the steps (every model alike).
# The GPU rows are sized, not measured here (no GPU): see the trainer README.
DIGITS = {"image_size": 8, "channels": 1, "num_classes": 10}
CIFAR = {"image_size": 32, "channels": 3, "num_classes": 10}
_IMAGE = {
    "tiny": Budget(
        "tiny",
        ModelSpec(0, 0, 20_000, 32, 2, "image", **DIGITS),
        steps=60,
        batch_size=32,
        lrs=(3e-3, 1e-2),
        seeds=2,
        eval_batches=10,
        log_every=20,
        val_batches=7,
        warmup_frac=0.3,
        task_args={"dataset": "digits"},
        smoke=True,
        max_extensions=0,
    ),
    "small": Budget(
        "small",
        ModelSpec(0, 0, 30_000, 64, 2, "image", **DIGITS),
        steps=1500,
        batch_size=64,
        lrs=(3e-3, 1e-2, 3e-2),
        seeds=3,
        eval_batches=5,  # all 300 test images
        log_every=100,
        val_batches=4,  # all 200 validation images
        warmup_frac=0.3,  # see above: the patchify ViT needs it at LR 3e-2
        task_args={"dataset": "digits"},
    ),
    "medium": Budget(
        "medium",
        ModelSpec(0, 0, 1_200_000, 192, 6, "image", **CIFAR),
        steps=10000,
        batch_size=128,
        lrs=(3e-4, 1e-3, 3e-3),
        seeds=3,
        eval_batches=79,  # all 10,000 test images
        log_every=200,
        val_batches=40,  # all 5,000 validation images
        task_args={"dataset": "cifar10"},
    ),
    "large": Budget(
        "large",
        ModelSpec(0, 0, 10_000_000, 384, 8, "image", **CIFAR),
        steps=30000,
        batch_size=128,
        lrs=(1e-4, 3e-4, 1e-3),
        seeds=3,
        eval_batches=79,
        log_every=500,
        val_batches=40,
        task_args={"dataset": "cifar10"},
    ),
}

# diffusion: epsilon prediction, cosine schedule over 1,000 steps, scored at 10 fixed
# timesteps per image (val/test batches count (image, timestep) pairs: digits test = 3,000).
DIFFUSION = {"timesteps": 1000}
_DIFFUSION = {
    "tiny": Budget(
        "tiny",
        ModelSpec(0, 0, 20_000, 32, 2, "diffusion", **DIGITS, **DIFFUSION),
        steps=60,
        batch_size=32,
        lrs=(1e-3, 3e-3),
        seeds=2,
        eval_batches=8,
        log_every=20,
        val_batches=4,
        task_args={"dataset": "digits"},
        smoke=True,
        max_extensions=0,
    ),
    "small": Budget(
        "small",
        ModelSpec(0, 0, 30_000, 64, 2, "diffusion", **DIGITS, **DIFFUSION),
        steps=2000,
        batch_size=64,
        lrs=(1e-3, 3e-3, 1e-2),
        seeds=3,
        eval_batches=47,  # 300 test images x 10 timesteps
        log_every=100,
        val_batches=32,  # 200 validation images x 10 timesteps
        task_args={"dataset": "digits"},
    ),
    "medium": Budget(
        "medium",
        ModelSpec(0, 0, 2_000_000, 192, 6, "diffusion", **CIFAR, **DIFFUSION),
        steps=20000,
        batch_size=128,
        lrs=(1e-4, 3e-4, 1e-3),
        seeds=3,
        eval_batches=64,  # 820 test images x 10 timesteps
        log_every=500,
        val_batches=32,
        task_args={"dataset": "cifar10"},
    ),
    "large": Budget(
        "large",
        ModelSpec(0, 0, 12_000_000, 384, 8, "diffusion", **CIFAR, **DIFFUSION),
        steps=30000,
        batch_size=128,
        lrs=(1e-4, 3e-4, 1e-3),
        seeds=3,
        eval_batches=64,
        log_every=1000,
        val_batches=32,
        task_args={"dataset": "cifar10"},
    ),
}

# fmt: on

BUDGETS = {"mqar": _MQAR, "lm": _LM, "image": _IMAGE, "diffusion": _DIFFUSION}
TASKS = tuple(BUDGETS)
SEQUENCE_TASKS = ("mqar", "lm")  # tokens in, next-token logits out (causal)
IMAGE_TASKS = ("image", "diffusion")  # images in (B, C, H, W)
BUDGET_NAMES = ("tiny", "small", "medium", "large")


def get_budget(task: str, name: str, **overrides) -> Budget:
    """Preset for (task, budget name); keyword overrides (steps, lrs, seeds, ...) win."""
    if task not in BUDGETS:
        raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")
    if name not in BUDGETS[task]:
        raise ValueError(f"unknown budget {name!r}; expected one of {BUDGET_NAMES}")
    budget = BUDGETS[task][name]
    overrides = {k: v for k, v in overrides.items() if v is not None}
    spec_keys = {"param_budget", "d_model", "n_layer", "seq_len", "vocab_size"}
    spec_over = {k: overrides.pop(k) for k in list(overrides) if k in spec_keys}
    if spec_over:
        budget = replace(budget, spec=replace(budget.spec, **spec_over))
    if "lrs" in overrides:
        overrides["lrs"] = tuple(float(x) for x in overrides["lrs"])
    return replace(budget, **overrides)
