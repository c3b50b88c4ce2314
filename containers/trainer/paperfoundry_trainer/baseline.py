"""The matched baseline: a small GPT-style decoder, sized to the same parameter budget.

Pre-norm blocks, learned absolute positions, causal softmax attention through
F.scaled_dot_product_attention, GELU MLP (4x), tied input/output embeddings, no biases.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int
    seq_len: int
    n_layer: int
    n_head: int
    d_model: int


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=False)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model, bias=False)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        # (B, T, C) -> (B, heads, T, head_dim)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.fc = nn.Linear(cfg.d_model, 4 * cfg.d_model, bias=False)
        self.proj = nn.Linear(4 * cfg.d_model, cfg.d_model, bias=False)

    def forward(self, x):
        return self.proj(F.gelu(self.fc(x)))


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model, bias=False)
        self.attn = CausalSelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.d_model, bias=False)
        self.mlp = MLP(cfg)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos_emb = nn.Embedding(cfg.seq_len, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model, bias=False)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.head.weight = self.tok_emb.weight  # weight tying saves V*d params
        self.apply(self._init)
        # GPT-2 style: scale residual projections down with depth
        for name, p in self.named_parameters():
            if name.endswith("proj.weight"):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init(m):
        if isinstance(m, nn.Linear | nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)

    def forward(self, idx):
        T = idx.shape[1]
        x = self.tok_emb(idx) + self.pos_emb(torch.arange(T, device=idx.device))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


def count_params(cfg: GPTConfig) -> int:
    """Closed form for GPT above (tied head, bias-free LayerNorms)."""
    d, L = cfg.d_model, cfg.n_layer
    return cfg.vocab_size * d + cfg.seq_len * d + L * (12 * d * d + 2 * d) + d


def size_to_budget(spec) -> GPTConfig:
    """Pick (d_model, n_layer) whose parameter count is closest to spec.param_budget.

    Among configurations within 5% of the budget, prefer the one nearest the (depth, width)
    hints; head_dim is 32..64 so small models still have a couple of heads.
    """
    best, best_key = None, None
    for n_layer in range(1, 49):
        for d in range(16, 4097, 16):
            n_head = max(1, d // 64) if d >= 256 else max(1, d // 16 // 2)
            while d % n_head:
                n_head -= 1
            cfg = GPTConfig(spec.vocab_size, spec.seq_len, n_layer, n_head, d)
            err = abs(count_params(cfg) - spec.param_budget) / spec.param_budget
            shape = abs(math.log(n_layer / spec.n_layer)) + abs(math.log(d / spec.d_model))
            key = (err > 0.05, round(shape, 6), err)
            if best_key is None or key < best_key:
                best, best_key = cfg, key
    return best


def build_baseline(spec) -> GPT:
    return GPT(size_to_budget(spec))
