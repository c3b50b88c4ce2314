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
    param_budget: int  # total trainable parameters, must be within +-15%
    d_model: int = 64  # a width hint, free to ignore
    n_layer: int = 2  # a depth hint, free to ignore
    task: str = "mqar"  # "mqar" or "lm"; informational

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Budget:
    """One row of the budget table: model size, data shape and training length."""

    name: str
    spec: ModelSpec
    steps: int
    batch_size: int
    lrs: tuple[float, ...]
    seeds: int  # number of seeds at the best LR (seed 0 is the sweep run)
    eval_batches: int  # held-out eval size, in batches of batch_size
    log_every: int
    warmup_frac: float = 0.1
    task_args: dict = field(default_factory=dict)  # e.g. mqar num_kv_pairs


LRS = (1e-3, 3e-3, 1e-2)

# mqar: vocab = keys + values (half each). seq_len = 4 * num_kv_pairs (pairs, then queries).
# "small" is sized so the full BASED-vs-baseline comparison runs in ~1-2 min on 2 CPU cores
# and is still learnable: 4 pairs, 16 tokens, ~26k params; recall "clicks" within ~1k steps
# for a model with a good inductive bias (BASED does at lr 1e-2), not for every model.
# fmt: off  (budget tables read best as aligned rows)
_MQAR = {
    "tiny": Budget(
        "tiny",
        ModelSpec(16, 16, 26_000, 32, 2, "mqar"),
        steps=40,
        batch_size=16,
        lrs=LRS,
        seeds=2,
        eval_batches=4,
        log_every=10,
        task_args={"num_kv_pairs": 4},
    ),
    "small": Budget(
        "small",
        ModelSpec(16, 16, 26_000, 32, 2, "mqar"),
        steps=1000,
        batch_size=32,
        lrs=(3e-3, 1e-2, 3e-2),
        seeds=2,
        eval_batches=8,
        log_every=50,
        task_args={"num_kv_pairs": 4},
    ),
    "medium": Budget(
        "medium",
        ModelSpec(2048, 256, 5_000_000, 256, 4, "mqar"),
        steps=4000,
        batch_size=128,
        lrs=(3e-4, 1e-3, 3e-3, 1e-2),
        seeds=3,
        eval_batches=16,
        log_every=100,
        task_args={"num_kv_pairs": 64},
    ),
    "large": Budget(
        "large",
        ModelSpec(8192, 512, 30_000_000, 512, 8, "mqar"),
        steps=10000,
        batch_size=256,
        lrs=(3e-4, 1e-3, 3e-3),
        seeds=3,
        eval_batches=16,
        log_every=200,
        task_args={"num_kv_pairs": 128},
    ),
}

# lm: byte-level, vocab 256.
_LM = {
    "tiny": Budget(
        "tiny",
        ModelSpec(256, 32, 34_000, 32, 2, "lm"),
        steps=30,
        batch_size=8,
        lrs=LRS,
        seeds=2,
        eval_batches=4,
        log_every=10,
    ),
    "small": Budget(
        "small",
        ModelSpec(256, 128, 840_000, 128, 4, "lm"),
        steps=600,
        batch_size=32,
        lrs=LRS,
        seeds=2,
        eval_batches=16,
        log_every=50,
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
