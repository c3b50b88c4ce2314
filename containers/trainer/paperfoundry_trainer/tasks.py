"""Tasks: batches generated deterministically from (seed, step), and a held-out metric.

Every batch comes from a fresh torch.Generator seeded with (seed, step), so the baseline and
the candidate see exactly the same tokens in exactly the same order, and a resumed run
continues the data stream where it stopped without storing any RNG state.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F

IGNORE = -100  # label value for positions without loss
EVAL_SEED = 1_000_003  # the held-out set never shares a generator seed with training


def _generator(device: torch.device, seed: int, step: int) -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed((seed * 1_000_000_007 + step) % (2**63 - 1))
    return g


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

    def __init__(self, vocab_size: int, seq_len: int, num_kv_pairs: int, device="cpu"):
        self.n_keys = vocab_size // 2
        self.n_values = vocab_size - self.n_keys
        if num_kv_pairs > self.n_keys or 4 * num_kv_pairs > seq_len:
            raise ValueError("mqar: need num_kv_pairs <= vocab/2 and 4*num_kv_pairs <= seq_len")
        self.vocab_size, self.seq_len, self.n = vocab_size, seq_len, num_kv_pairs
        self.device = torch.device(device)

    def batch(self, batch_size: int, seed: int, step: int):
        g = _generator(self.device, seed, step)
        B, n, dev = batch_size, self.n, self.device
        keys = torch.rand(B, self.n_keys, generator=g, device=dev).argsort(-1)[:, :n]
        values = torch.randint(self.n_keys, self.vocab_size, (B, n), generator=g, device=dev)
        order = torch.randint(0, n, (B, n), generator=g, device=dev)  # with replacement
        q_keys, q_values = keys.gather(1, order), values.gather(1, order)
        context = torch.stack([keys, values], -1).view(B, 2 * n)
        queries = torch.stack([q_keys, q_values], -1).view(B, 2 * n)
        x = torch.cat([context, queries], 1)
        # pad on the left (token 0, no loss) if seq_len is longer than 4n
        pad = self.seq_len - 4 * n
        if pad:
            x = torch.cat([torch.zeros(B, pad, dtype=x.dtype, device=dev), x], 1)
        y = torch.full_like(x, IGNORE)
        q_pos = torch.arange(pad + 2 * n, self.seq_len, 2, device=dev)  # query-key positions
        y[:, q_pos] = x[:, q_pos + 1]
        return x, y

    def eval_batches(self, batch_size: int, n_batches: int):
        return [self.batch(batch_size, EVAL_SEED, i) for i in range(n_batches)]

    @torch.no_grad()
    def evaluate(self, model, batches, autocast) -> float:
        correct = total = 0
        for x, y in batches:
            with autocast():
                logits = model(x)
            mask = y != IGNORE
            correct += (logits.argmax(-1)[mask] == y[mask]).sum()
            total += mask.sum()
        return float(correct / total)


class ByteLM:
    """Byte-level language modelling on train/val byte streams; metric: val bits per byte."""

    name = "lm"
    metric = "val_bpb"
    higher_is_better = False
    worst_value = 8.0  # a uniform guess over 256 bytes

    def __init__(self, data_dir, seq_len: int, device="cpu"):
        self.train = load_bytes(data_dir, "train").to(device)
        self.val = load_bytes(data_dir, "val").to(device)
        if len(self.train) <= seq_len + 1 or len(self.val) <= seq_len + 1:
            raise ValueError(f"lm: corpus in {data_dir} is shorter than seq_len+1={seq_len + 1}")
        self.vocab_size, self.seq_len = 256, seq_len
        self.device = torch.device(device)

    def _windows(self, data: torch.Tensor, starts: torch.Tensor):
        idx = starts[:, None] + torch.arange(self.seq_len + 1, device=self.device)
        chunk = data[idx].long()
        return chunk[:, :-1], chunk[:, 1:]

    def batch(self, batch_size: int, seed: int, step: int):
        g = _generator(self.device, seed, step)
        high = len(self.train) - self.seq_len - 1
        starts = torch.randint(0, high, (batch_size,), generator=g, device=self.device)
        return self._windows(self.train, starts)

    def eval_batches(self, batch_size: int, n_batches: int):
        # evenly spaced windows over the whole val split: fixed and independent of seeds
        n = batch_size * n_batches
        high = len(self.val) - self.seq_len - 1
        starts = torch.linspace(0, high, n, device=self.device).long()
        return [self._windows(self.val, s) for s in starts.split(batch_size)]

    @torch.no_grad()
    def evaluate(self, model, batches, autocast) -> float:
        total = torch.zeros((), device=self.device)
        for x, y in batches:
            with autocast():
                logits = model(x)
            total += F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
        return float(total / len(batches)) / math.log(2)  # nats/byte -> bits/byte


def load_bytes(data_dir, split: str) -> torch.Tensor:
    """`<split>.bin` (raw uint8) or `<split>.txt` (utf-8 text, used as bytes)."""
    data_dir = Path(data_dir)
    for name in (f"{split}.bin", f"{split}.txt"):
        if (data_dir / name).is_file():
            raw = (data_dir / name).read_bytes()
            return torch.frombuffer(bytearray(raw), dtype=torch.uint8)
    raise FileNotFoundError(f"lm: no {split}.bin or {split}.txt in {data_dir}")


def make_task(name: str, spec, task_args: dict, device, data_dir=None):
    if name == "mqar":
        return MQAR(spec.vocab_size, spec.seq_len, task_args.get("num_kv_pairs", 8), device)
    if name == "lm":
        if data_dir is None:
            raise ValueError("lm task needs a data directory (--data or the `data` channel)")
        return ByteLM(data_dir, spec.seq_len, device)
    raise ValueError(f"unknown task {name!r}")
