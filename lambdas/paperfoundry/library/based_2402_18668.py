"""BASED: linear attention with a 2nd-order Taylor feature map + sliding-window attention.

Paper: "Simple linear attention language models balance the recall-throughput tradeoff",
Arora et al., 2024 (arXiv 2402.18668).

What is implemented (faithful to the paper's idea):
- Linear attention layers whose feature map is the 2nd-order Taylor expansion of exp:
  phi(x) = [1, x / d^(1/4), vec(x x^T) / (sqrt(2) sqrt(d))], so phi(q).phi(k) =
  1 + q.k/sqrt(d) + (q.k)^2 / (2d) ~= exp(q.k/sqrt(d)). q and k are first projected to a
  small feature dimension (16, as in the paper), so the state is (1 + 16 + 256) x head_dim.
- Causal computation in chunks: exact quadratic attention inside a chunk, a running
  state sum_t phi(k_t) v_t^T (and normaliser sum_t phi(k_t)) across chunks.
- Sliding-window softmax attention layers (exact, local) that alternate with the linear
  attention layers, and a short causal depthwise convolution (kernel 3) in front of the
  linear attention, as the paper's short-conv component.

What is simplified for the harness:
- Layer pattern is a strict alternation [linear, sliding-window, linear, ...] instead of the
  paper's tuned mix with BaseConv-only layers; the MLP is the baseline's GELU MLP.
- The window is scaled to the toy sequence lengths (max(4, min(64, seq_len // 8))) instead of
  64 at 2k tokens; learned absolute positions as in the baseline; no IO-aware CUDA kernels.
- Width is searched so the total parameter count matches spec.param_budget.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

FEATURE_DIM = 16  # q/k dimension before the Taylor map (the paper's default)
HEAD_DIM = 32
CHUNK = 64  # chunk length for the causal linear-attention scan


def taylor_feature_map(x):
    """(..., f) -> (..., 1 + f + f*f) with phi(q).phi(k) = 1 + s + s^2/2, s = q.k/sqrt(f)."""
    f = x.shape[-1]
    x = x / f**0.25
    x2 = (x.unsqueeze(-1) * x.unsqueeze(-2)).flatten(-2) / math.sqrt(2)
    return torch.cat([torch.ones_like(x[..., :1]), x, x2], dim=-1)


def causal_linear_attention(fq, fk, v, chunk=CHUNK):
    """fq, fk: (B, H, T, F) non-negative-kernel features; v: (B, H, T, D)."""
    B, H, T, Fd = fq.shape
    state = fq.new_zeros(B, H, Fd, v.shape[-1])  # sum_t phi(k_t) v_t^T
    norm = fq.new_zeros(B, H, Fd)  # sum_t phi(k_t)
    out = []
    for s in range(0, T, chunk):
        q, k, vv = fq[:, :, s : s + chunk], fk[:, :, s : s + chunk], v[:, :, s : s + chunk]
        a = (q @ k.transpose(-1, -2)).tril()  # within-chunk, causal
        num = a @ vv + q @ state
        den = a.sum(-1) + (q @ norm.unsqueeze(-1)).squeeze(-1)
        out.append(num / den.unsqueeze(-1).clamp_min(1e-6))
        state = state + k.transpose(-1, -2) @ vv
        norm = norm + k.sum(2)
    return torch.cat(out, dim=2)


class TaylorLinearAttention(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.h = max(1, d // HEAD_DIM)
        self.conv = nn.Conv1d(d, d, kernel_size=3, padding=2, groups=d)  # short causal conv
        self.q = nn.Linear(d, self.h * FEATURE_DIM, bias=False)
        self.k = nn.Linear(d, self.h * FEATURE_DIM, bias=False)
        self.v = nn.Linear(d, d, bias=False)
        self.proj = nn.Linear(d, d, bias=False)

    def forward(self, x):
        B, T, C = x.shape
        x = self.conv(x.transpose(1, 2))[..., :T].transpose(1, 2)  # drop the future padding
        q = self.q(x).view(B, T, self.h, FEATURE_DIM).transpose(1, 2)
        k = self.k(x).view(B, T, self.h, FEATURE_DIM).transpose(1, 2)
        v = self.v(x).view(B, T, self.h, C // self.h).transpose(1, 2)
        # the kernel sums are sensitive to precision: compute them in float32
        y = causal_linear_attention(
            taylor_feature_map(q.float()), taylor_feature_map(k.float()), v.float()
        ).to(x.dtype)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class SlidingWindowAttention(nn.Module):
    def __init__(self, d, seq_len):
        super().__init__()
        self.h = max(1, d // HEAD_DIM)
        self.window = max(4, min(64, seq_len // 8))
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.proj = nn.Linear(d, d, bias=False)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = (
            t.view(B, T, self.h, C // self.h).transpose(1, 2) for t in self.qkv(x).split(C, dim=2)
        )
        i = torch.arange(T, device=x.device)
        band = (i[:, None] >= i[None, :]) & (i[:, None] - i[None, :] < self.window)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=band)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class Block(nn.Module):
    def __init__(self, d, seq_len, layer_idx):
        super().__init__()
        self.ln1 = nn.LayerNorm(d, bias=False)
        self.mixer = (
            TaylorLinearAttention(d) if layer_idx % 2 == 0 else SlidingWindowAttention(d, seq_len)
        )
        self.ln2 = nn.LayerNorm(d, bias=False)
        self.fc = nn.Linear(d, 4 * d, bias=False)
        self.mlp_proj = nn.Linear(4 * d, d, bias=False)

    def forward(self, x):
        x = x + self.mixer(self.ln1(x))
        return x + self.mlp_proj(F.gelu(self.fc(self.ln2(x))))


class Based(nn.Module):
    def __init__(self, vocab_size, seq_len, d, n_layer):
        super().__init__()
        self.tok_emb = nn.Embedding(vocab_size, d)
        self.pos_emb = nn.Embedding(seq_len, d)
        self.blocks = nn.ModuleList(Block(d, seq_len, i) for i in range(n_layer))
        self.ln_f = nn.LayerNorm(d, bias=False)
        self.head = nn.Linear(d, vocab_size, bias=False)
        self.head.weight = self.tok_emb.weight  # tied, as in the baseline
        for name, p in self.named_parameters():
            if p.dim() >= 2 and "conv" not in name:
                std = 0.02 / math.sqrt(2 * n_layer) if name.endswith("proj.weight") else 0.02
                nn.init.normal_(p, std=std)

    def forward(self, idx):
        T = idx.shape[1]
        x = self.tok_emb(idx) + self.pos_emb(torch.arange(T, device=idx.device))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


def _count(spec, d, n_layer):
    with torch.device("meta"):  # no memory, no init cost
        m = Based(spec.vocab_size, spec.seq_len, d, n_layer)
    return sum(p.numel() for p in m.parameters())


def build_model(spec):
    # at least one linear-attention and one sliding-window layer; width matched to the budget
    best = None
    for n_layer in sorted(range(2, 33), key=lambda n: abs(n - max(2, spec.n_layer))):
        for d in range(HEAD_DIM, 4097, HEAD_DIM):
            n = _count(spec, d, n_layer)
            err = abs(n - spec.param_budget) / spec.param_budget
            if best is None or err < best[0]:
                best = (err, d, n_layer)
            if n > spec.param_budget:
                break
        if best[0] < 0.05:
            break
    _, d, n_layer = best
    return Based(spec.vocab_size, spec.seq_len, d, n_layer)
