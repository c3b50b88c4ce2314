"""Tasks: training batches from (seed, step), held-out splits, and the metric.

Training batches come from a fresh torch.Generator seeded with (seed, step), so baseline and
candidate see the same tokens in the same order and a resumed run continues the same stream.
The worker (which runs the candidate's code) only ever calls `batch`; the trusted
controller builds the validation and test sets, sends their inputs to the worker, and
scores the returned logits itself (`score`).

The sequence families live here (mqar, lm); the image families in `tasks_image.py` (image
classification) and `tasks_diffusion.py` (denoising). Every task has the same surface:
`metric`, `higher_is_better`, `worst_value`, `diverge_loss`, `input_names` (the model's
forward arguments), `unit` (what throughput counts), `batch`, `eval_set`, `output_shape`,
`score` and `random_inputs`; the image families also `loss` (the sequence ones train with
`train.Trainer`'s next-token cross-entropy).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F

IGNORE = -100  # label value for positions without loss
VAL_SEED = 1_000_003  # validation split (LR selection); training seeds are small integers


def _generator(seed: int, step: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed((seed * 1_000_000_007 + step) % (2**63 - 1))
    return g


def to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A batch drawn on the CPU, on `device`. To CUDA from pinned memory, without blocking:
    a copy from pageable memory first waits for the GPU to finish the previous step, so
    the CPU could not prepare the next one meanwhile (the pinned buffers are cached)."""
    if device.type != "cuda":
        return t.to(device)
    return t.pin_memory().to(device, non_blocking=True)


class MQAR:
    """Multi-query associative recall (Zoology, arXiv 2312.04927), in next-token form.

    A sequence is `k1 v1 k2 v2 ... kn vn` followed by n queries, each a key drawn (with
    replacement) from the n pairs and followed by its value: `q1 v(q1) q2 v(q2) ...`. The
    label at every query-key position is the value bound to it earlier; all other positions
    are ignored. Keys and values come from disjoint halves of the vocabulary; keys are unique
    within a sequence. Queries are drawn with replacement so that "guess a context value
    not yet asked for" (elimination) is no shortcut: only real recall scores well.
    """

    name = "mqar"
    metric = "query_accuracy"
    higher_is_better = True
    worst_value = 0.0  # reported for a diverged run
    input_names = ("x",)
    unit = "tokens"

    def __init__(self, vocab_size: int, seq_len: int, num_kv_pairs: int, device="cpu"):
        self.n_keys = vocab_size // 2
        self.n_values = vocab_size - self.n_keys
        if num_kv_pairs > self.n_keys or 4 * num_kv_pairs > seq_len:
            raise ValueError("mqar: need num_kv_pairs <= vocab/2 and 4*num_kv_pairs <= seq_len")
        self.vocab_size, self.seq_len, self.n = vocab_size, seq_len, num_kv_pairs
        self.device = torch.device(device)
        self.pad = seq_len - 4 * num_kv_pairs
        # the query-key positions: the only positions with a label
        self.loss_positions = torch.arange(self.pad + 2 * self.n, seq_len, 2)

    def batch(self, batch_size: int, seed: int, step: int):
        g = _generator(seed, step)
        B, n = batch_size, self.n
        keys = torch.rand(B, self.n_keys, generator=g).argsort(-1)[:, :n]
        values = torch.randint(self.n_keys, self.vocab_size, (B, n), generator=g)
        order = torch.randint(0, n, (B, n), generator=g)  # with replacement
        q_keys, q_values = keys.gather(1, order), values.gather(1, order)
        context = torch.stack([keys, values], -1).view(B, 2 * n)
        queries = torch.stack([q_keys, q_values], -1).view(B, 2 * n)
        x = torch.cat([context, queries], 1)
        if self.pad:  # pad on the left (token 0, no loss) if seq_len is longer than 4n
            x = torch.cat([torch.zeros(B, self.pad, dtype=x.dtype), x], 1)
        y = torch.full_like(x, IGNORE)
        y[:, self.loss_positions] = x[:, self.loss_positions + 1]
        return to_device(x, self.device), to_device(y, self.device)

    def eval_set(self, split_seed: int, n_batches: int, batch_size: int):
        return [self.batch(batch_size, split_seed, i) for i in range(n_batches)]

    def score(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-sequence query accuracy from logits at `loss_positions` (B, P, V)."""
        labels = y[:, self.loss_positions].to(logits.device)
        return (logits.argmax(-1) == labels).float().mean(-1)

    def perturb_suffix(self, x: torch.Tensor, t: int, g: torch.Generator) -> torch.Tensor:
        """x with every token at positions >= t replaced by a random token of the same kind
        (key or value half), so a model that reads ahead changes its earlier logits."""
        x2 = x.clone()
        tail = x2[:, t:]
        is_key = tail < self.n_keys
        keys = torch.randint(0, self.n_keys, tail.shape, generator=g)
        values = torch.randint(self.n_keys, self.vocab_size, tail.shape, generator=g)
        x2[:, t:] = torch.where(is_key, keys, values)
        return x2

    def probe_position(self, g: torch.Generator) -> int:
        """A value slot right after a query key: what a model that peeks one step would read."""
        i = int(torch.randint(0, len(self.loss_positions), (1,), generator=g))
        return int(self.loss_positions[i]) + 1

    @property
    def diverge_loss(self) -> float:
        return 3 * math.log(self.vocab_size)  # 3x the loss of a uniform guess

    def output_shape(self, inputs, positions=None) -> tuple:
        x = inputs[0] if isinstance(inputs, tuple) else inputs
        n = x.shape[1] if positions is None else len(positions)
        return (x.shape[0], n, self.vocab_size)

    def random_inputs(self, batch_size: int, device, length: int | None = None) -> tuple:
        T = length or self.seq_len
        return (torch.randint(0, self.vocab_size, (batch_size, T), device=device),)


class ByteLM:
    """Byte-level language modelling; metric: bits per byte on the held-out test split."""

    name = "lm"
    metric = "bpb"
    higher_is_better = False
    worst_value = 8.0  # a uniform guess over 256 bytes
    input_names = ("x",)
    unit = "tokens"

    def __init__(self, data_dir, seq_len: int, device="cpu", *, splits=("train", "val", "test")):
        self.vocab_size, self.seq_len = 256, seq_len
        self.device = torch.device(device)
        self.loss_positions = torch.arange(seq_len)
        self.data = {s: load_bytes(data_dir, s) for s in splits if s != "test"}
        if "test" in splits:
            try:
                self.data["test"] = load_bytes(data_dir, "test")
            except FileNotFoundError:  # a corpus with train/val only: halve val
                val = self.data.get("val", load_bytes(data_dir, "val"))
                self.data["val"], self.data["test"] = val[: len(val) // 2], val[len(val) // 2 :]
        for split, data in self.data.items():
            if len(data) <= seq_len + 1:
                raise ValueError(f"lm: {split} split in {data_dir} is shorter than {seq_len + 1}")

    def _windows(self, data: torch.Tensor, starts: torch.Tensor):
        idx = starts[:, None] + torch.arange(self.seq_len + 1)
        chunk = data[idx].long()
        return to_device(chunk[:, :-1], self.device), to_device(chunk[:, 1:], self.device)

    def batch(self, batch_size: int, seed: int, step: int):
        g = _generator(seed, step)
        train = self.data["train"]
        starts = torch.randint(0, len(train) - self.seq_len - 1, (batch_size,), generator=g)
        return self._windows(train, starts)

    def eval_set(self, split: str, n_batches: int, batch_size: int):
        """Evenly spaced windows over the whole split: fixed and independent of seeds."""
        data = self.data[split]
        n = batch_size * n_batches
        starts = torch.linspace(0, len(data) - self.seq_len - 1, n).long()
        return [self._windows(data, s) for s in starts.split(batch_size)]

    def score(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-sequence bits per byte from full logits (B, T, 256)."""
        nll = F.cross_entropy(
            logits.float().flatten(0, 1), y.to(logits.device).flatten(), reduction="none"
        )
        return nll.view(y.shape).mean(-1) / math.log(2)

    def perturb_suffix(self, x: torch.Tensor, t: int, g: torch.Generator) -> torch.Tensor:
        x2 = x.clone()
        x2[:, t:] = torch.randint(0, 256, x2[:, t:].shape, generator=g)
        return x2

    def probe_position(self, g: torch.Generator) -> int:
        return int(torch.randint(1, self.seq_len, (1,), generator=g))

    @property
    def diverge_loss(self) -> float:
        return 3 * math.log(self.vocab_size)  # 3x the loss of a uniform guess

    def output_shape(self, inputs, positions=None) -> tuple:
        x = inputs[0] if isinstance(inputs, tuple) else inputs
        n = x.shape[1] if positions is None else len(positions)
        return (x.shape[0], n, self.vocab_size)

    def random_inputs(self, batch_size: int, device, length: int | None = None) -> tuple:
        T = length or self.seq_len
        return (torch.randint(0, self.vocab_size, (batch_size, T), device=device),)


def load_bytes(data_dir, split: str) -> torch.Tensor:
    """`<split>.bin` (raw uint8) or `<split>.txt` (utf-8 text, used as bytes)."""
    data_dir = Path(data_dir)
    for name in (f"{split}.bin", f"{split}.txt"):
        if (data_dir / name).is_file():
            raw = (data_dir / name).read_bytes()
            return torch.frombuffer(bytearray(raw), dtype=torch.uint8)
    raise FileNotFoundError(f"lm: no {split}.bin or {split}.txt in {data_dir}")


def unigram_entropy(data: torch.Tensor) -> float:
    """Bits per byte of the best context-free guess: the competence bar an LM must clear."""
    p = torch.bincount(data.long(), minlength=256).double()
    p = p[p > 0] / p.sum()
    return float(-(p * p.log2()).sum())


def make_task(name: str, spec, task_args: dict, device="cpu", data_dir=None, splits=None):
    if name == "mqar":
        return MQAR(spec.vocab_size, spec.seq_len, task_args.get("num_kv_pairs", 8), device)
    if name == "lm":
        if data_dir is None:
            raise ValueError("lm task needs a data directory (--data or the `data` channel)")
        return ByteLM(data_dir, spec.seq_len, device, splits=splits or ("train", "val", "test"))
    if name == "image":
        from .tasks_image import ImageClassification

        return ImageClassification(spec, task_args, data_dir, device, splits or SPLITS)
    if name == "diffusion":
        from .tasks_diffusion import Diffusion

        return Diffusion(spec, task_args, data_dir, device, splits or SPLITS)
    raise ValueError(f"unknown task {name!r}")


SPLITS = ("train", "val", "test")
