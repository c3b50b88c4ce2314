"""Baselines as the field runs them, and the negative control.

- `mqar`: the Zoology set-up (arXiv 2312.04927; the BASED paper uses it too): 2 layers of
  single-head causal softmax attention, no MLP, learned positions, tied embeddings; when the
  candidate's architecture has a short causal convolution the attention layers get the same
  one (Zoology's "hybrid" mixer), so a conv alone cannot produce an effect.
- `lm`: a pre-norm GPT (causal SDPA, GELU MLP 4x, learned positions, tied embeddings).
- the control: the same embeddings and an MLP per position, no mixing across positions; on
  MQAR it must fail recall, on LM it is a bigram model the baseline has to beat.

Every reference model is sized to the candidate's actual trainable-parameter count.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

MATCH_TOLERANCE = 0.02  # baseline params within +-2% of the candidate's


@dataclass(frozen=True)
class RefConfig:
    kind: str  # "attention" | "gpt" | "control"
    vocab_size: int
    seq_len: int
    n_layer: int
    d_model: int
    n_head: int = 1
    short_conv: int = 0  # kernel size of a causal depthwise conv before attention (0 = none)
    mlp: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


class ShortConv(nn.Module):
    """Causal depthwise convolution over time: position t sees t-k+1..t."""

    def __init__(self, d: int, kernel: int):
        super().__init__()
        self.conv = nn.Conv1d(d, d, kernel_size=kernel, padding=kernel - 1, groups=d)

    def forward(self, x):
        T = x.shape[1]
        return self.conv(x.transpose(1, 2))[..., :T].transpose(1, 2)


class CausalSelfAttention(nn.Module):
    def __init__(self, d: int, n_head: int):
        super().__init__()
        self.n_head = n_head
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.proj = nn.Linear(d, d, bias=False)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class MLP(nn.Module):
    def __init__(self, d: int):
        super().__init__()
        self.fc = nn.Linear(d, 4 * d, bias=False)
        self.proj = nn.Linear(4 * d, d, bias=False)

    def forward(self, x):
        return self.proj(F.gelu(self.fc(x)))


class Block(nn.Module):
    """Pre-norm residual block: [short conv] -> [attention] -> [MLP], each optional."""

    def __init__(self, cfg: RefConfig):
        super().__init__()
        d = cfg.d_model
        self.conv = ShortConv(d, cfg.short_conv) if cfg.short_conv else None
        self.ln_conv = nn.LayerNorm(d, bias=False) if cfg.short_conv else None
        self.attn = CausalSelfAttention(d, cfg.n_head) if cfg.kind != "control" else None
        self.ln_attn = nn.LayerNorm(d, bias=False) if self.attn is not None else None
        self.mlp = MLP(d) if cfg.mlp else None
        self.ln_mlp = nn.LayerNorm(d, bias=False) if cfg.mlp else None

    def forward(self, x):
        if self.conv is not None:
            x = x + self.conv(self.ln_conv(x))
        if self.attn is not None:
            x = x + self.attn(self.ln_attn(x))
        if self.mlp is not None:
            x = x + self.mlp(self.ln_mlp(x))
        return x


class ReferenceLM(nn.Module):
    def __init__(self, cfg: RefConfig):
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos_emb = nn.Embedding(cfg.seq_len, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model, bias=False)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.head.weight = self.tok_emb.weight  # tied
        for name, p in self.named_parameters():
            if p.dim() >= 2 and "conv" not in name:
                std = 0.02 / math.sqrt(2 * cfg.n_layer) if name.endswith("proj.weight") else 0.02
                nn.init.normal_(p, std=std)

    def forward(self, idx):
        T = idx.shape[1]
        x = self.tok_emb(idx) + self.pos_emb(torch.arange(T, device=idx.device))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))

    def state_size(self, seq_len: int) -> int:
        """Floats per sequence needed to generate the next token after seq_len tokens:
        the KV cache of every attention layer plus the conv's last k-1 inputs."""
        d, L = self.cfg.d_model, self.cfg.n_layer
        attn = 2 * seq_len * d if self.cfg.kind != "control" else 0
        conv = (self.cfg.short_conv - 1) * d if self.cfg.short_conv else 0
        return L * (attn + conv)


def count_params(cfg: RefConfig) -> int:
    with torch.device("meta"):  # no memory, no init cost
        model = ReferenceLM(cfg)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def non_embedding_params(cfg: RefConfig) -> int:
    return count_params(cfg) - (cfg.vocab_size + cfg.seq_len) * cfg.d_model


def _shape(task: str, spec, short_conv: int) -> dict:
    if task == "mqar":  # Zoology: attention (+ the candidate's conv), 1 head, no MLP
        return {"kind": "attention", "n_head": 1, "short_conv": short_conv, "mlp": False}
    heads = max(1, spec.d_model // 64)
    return {"kind": "gpt", "n_head": heads, "short_conv": short_conv, "mlp": True}


def size_to(task: str, spec, target_params: int, short_conv: int = 0) -> RefConfig:
    """The baseline for `task`, with depth near the spec's hint and the width whose
    parameter count is closest to `target_params` (the candidate's actual count). Widths
    are multiples of the head count (the heads split d_model evenly)."""
    shape = _shape(task, spec, short_conv)
    layers = (
        [2] if task == "mqar" else sorted({max(1, spec.n_layer + k) for k in (0, -1, 1, -2, 2)})
    )
    step = shape["n_head"]
    widths = range(step * -(-8 // step), 8193, step)  # from the first multiple >= 8
    best, best_key = None, None
    for n_layer in layers:

        def config(d: int, n_layer: int = n_layer) -> RefConfig:
            return RefConfig(
                vocab_size=spec.vocab_size, seq_len=spec.seq_len, n_layer=n_layer, d_model=d,
                **shape,
            )  # fmt: skip

        # the count grows with the width: bisect for the first width above the target,
        # then the closest is it or the one before
        above = bisect.bisect_right(widths, target_params, key=lambda d: count_params(config(d)))
        for i in {max(0, above - 1), min(above, len(widths) - 1)}:
            cfg = config(widths[i])
            err = abs(count_params(cfg) - target_params) / target_params
            key = (round(err, 3) > MATCH_TOLERANCE, abs(n_layer - spec.n_layer), err)
            if best_key is None or key < best_key:
                best, best_key = cfg, key
    return best


def control_for(spec, target_params: int) -> RefConfig:
    """No mixing across positions: per-token MLP layers, sized like the baseline."""
    best, best_err = None, None
    for d in range(8, 8193, 8):
        cfg = RefConfig("control", spec.vocab_size, spec.seq_len, 2, d, mlp=True)
        n = count_params(cfg)
        err = abs(n - target_params)
        if best_err is None or err < best_err:
            best, best_err = cfg, err
        if n > target_params:
            break
    return best


def describe(cfg: RefConfig) -> str:
    if cfg.kind == "control":
        return (
            f"no-mixing control: embeddings + per-position MLP, {cfg.n_layer} layers, "
            f"d={cfg.d_model}"
        )
    parts = [f"{cfg.n_layer}-layer causal softmax attention, {cfg.n_head} head(s), d={cfg.d_model}"]
    parts.append(f"short causal conv k={cfg.short_conv}" if cfg.short_conv else "no conv")
    parts.append("GELU MLP" if cfg.mlp else "no MLP")
    style = "Zoology-style" if cfg.kind == "attention" else "GPT"
    return f"{style} {', '.join(parts)}"


def build(cfg: RefConfig | dict) -> ReferenceLM:
    if isinstance(cfg, dict):
        cfg = RefConfig(**cfg)
    return ReferenceLM(cfg)


def build_baseline(spec) -> ReferenceLM:
    """The task's baseline at the spec's parameter budget (benchmarks, examples)."""
    return build(size_to(spec.task, spec, spec.param_budget))
