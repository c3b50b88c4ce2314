"""What the harness hands an implementation: the ModelSpec, plus the budget presets.

An implementation only ever sees a ModelSpec. Everything else (steps, batch size, learning
rates) belongs to the harness, so candidate and baseline are always trained identically.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace


@dataclass(frozen=True)
class ModelSpec:
    vocab_size: int  # logits must have this last dimension
    seq_len: int  # the longest T the model will be called with
    param_budget: int  # target trainable parameters; the candidate must be within +-15%
    d_model: int = 64  # a width hint, free to ignore
    n_layer: int = 2  # a depth hint, free to ignore
    task: str = "mqar"  # "mqar" or "lm"; informational

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

# fmt: on

BUDGETS = {"mqar": _MQAR, "lm": _LM}
TASKS = tuple(BUDGETS)
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
