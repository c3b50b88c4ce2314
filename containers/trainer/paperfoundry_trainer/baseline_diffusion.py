"""Diffusion-family reference model: a DiT-style denoiser (Peebles & Xie, arXiv 2212.09748).

Patchify (a stride-p conv), fixed 2-D sin-cos positions, a sinusoidal timestep embedding
through a 2-layer MLP, a class embedding, pre-norm transformer blocks (bidirectional
attention, GELU MLP), a linear decoder back to patches; it predicts the noise eps
(no learned variance). Two conditioning schemes, both from the DiT paper:

- `adaln-zero` (the default, DiT's choice): each block's LayerNorms get a shift and scale,
  and each residual branch a gate, regressed from c = embed(t) + embed(y); the regressions
  and the decoder start at zero, so every block starts as the identity.
- `in-context`: embed(t) and embed(y) are two extra tokens in the sequence (dropped after
  the last block); plain LayerNorm blocks.

Sized to the candidate's actual trainable-parameter count (+-2%) by width, depth and MLP
width.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .baseline_image import forward_flops, mlp_off

MATCH_TOLERANCE = 0.02
CONDITIONINGS = ("adaln-zero", "in-context")


@dataclass(frozen=True)
class DiTConfig:
    kind: str  # "dit"
    image_size: int
    channels: int
    num_classes: int
    d_model: int
    n_layer: int
    n_head: int
    mlp_hidden: int
    patch: int
    conditioning: str = "adaln-zero"

    def to_dict(self) -> dict:
        return asdict(self)


def sincos_2d(d: int, grid: int) -> torch.Tensor:
    """Fixed 2-D sin-cos position embedding (grid*grid, d), as in DiT/MAE."""
    quarter = d // 4
    omega = 1.0 / 10000 ** (torch.arange(quarter, dtype=torch.float64) / max(1, quarter))
    pos = torch.arange(grid, dtype=torch.float64)
    yy, xx = torch.meshgrid(pos, pos, indexing="ij")
    parts = []
    for coord in (yy.flatten(), xx.flatten()):
        angle = coord[:, None] * omega[None]
        parts += [angle.sin(), angle.cos()]
    emb = torch.cat(parts, 1)
    return F.pad(emb, (0, d - emb.shape[1])).float()


def timestep_features(t: torch.Tensor, dim: int) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(10000) * torch.arange(half, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([args.cos(), args.sin()], -1)


class Attention(nn.Module):
    def __init__(self, d: int, n_head: int):
        super().__init__()
        self.n_head = n_head
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)

    def forward(self, x):
        B, N, C = x.shape
        q, k, v = self.qkv(x).view(B, N, 3, self.n_head, C // self.n_head).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v)
        return self.proj(y.transpose(1, 2).reshape(B, N, C))


def _mlp(d: int, hidden: int) -> nn.Module:
    return nn.Sequential(nn.Linear(d, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, d))


class AdaLNZeroBlock(nn.Module):
    def __init__(self, d: int, n_head: int, hidden: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.norm2 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.attn, self.mlp = Attention(d, n_head), _mlp(d, hidden)
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(d, 6 * d))
        nn.init.zeros_(self.ada[1].weight)
        nn.init.zeros_(self.ada[1].bias)

    def forward(self, x, c):
        s1, g1, a1, s2, g2, a2 = self.ada(c)[:, None].chunk(6, -1)
        x = x + a1 * self.attn(self.norm1(x) * (1 + g1) + s1)
        return x + a2 * self.mlp(self.norm2(x) * (1 + g2) + s2)


class PlainBlock(nn.Module):
    def __init__(self, d: int, n_head: int, hidden: int):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(d, eps=1e-6), nn.LayerNorm(d, eps=1e-6)
        self.attn, self.mlp = Attention(d, n_head), _mlp(d, hidden)

    def forward(self, x, c=None):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class DiT(nn.Module):
    def __init__(self, cfg: DiTConfig):
        super().__init__()
        self.cfg = cfg
        d, p, C = cfg.d_model, cfg.patch, cfg.channels
        self.grid = cfg.image_size // p
        self.adaln = cfg.conditioning == "adaln-zero"
        self.n_extra_tokens = 0 if self.adaln else 2
        self.patch_embed = nn.Conv2d(C, d, p, p)
        self.register_buffer("pos", sincos_2d(d, self.grid)[None], persistent=False)
        self.t_dim = d
        self.t_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.y_embed = nn.Embedding(cfg.num_classes, d)
        block = AdaLNZeroBlock if self.adaln else PlainBlock
        self.blocks = nn.ModuleList(
            block(d, cfg.n_head, cfg.mlp_hidden) for _ in range(cfg.n_layer)
        )
        self.norm_out = nn.LayerNorm(d, elementwise_affine=not self.adaln, eps=1e-6)
        self.ada_out = nn.Sequential(nn.SiLU(), nn.Linear(d, 2 * d)) if self.adaln else None
        self.out = nn.Linear(d, p * p * C)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.y_embed.weight, std=0.02)
        for m in self.t_mlp:
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.02)
        for lin in (
            [b.ada[1] for b in self.blocks if self.adaln]
            + [self.out]
            + ([self.ada_out[1]] if self.adaln else [])
        ):
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)

    def forward(self, x, t, y):
        B = x.shape[0]
        h = self.patch_embed(x).flatten(2).transpose(1, 2) + self.pos  # (B, N, d)
        c_t = self.t_mlp(timestep_features(t, self.t_dim))
        c_y = self.y_embed(y)
        if self.adaln:
            c = c_t + c_y
            for block in self.blocks:
                h = block(h, c)
            shift, scale = self.ada_out(c)[:, None].chunk(2, -1)
            h = self.norm_out(h) * (1 + scale) + shift
        else:
            h = torch.cat([c_t[:, None], c_y[:, None], h], 1)
            for block in self.blocks:
                h = block(h)
            h = self.norm_out(h[:, 2:])
        p, C, g = self.cfg.patch, self.cfg.channels, self.grid
        h = self.out(h).view(B, g, g, p, p, C)
        return h.permute(0, 5, 1, 3, 2, 4).reshape(B, C, g * p, g * p)


def build(cfg: DiTConfig | dict) -> DiT:
    if isinstance(cfg, dict):
        cfg = DiTConfig(**cfg)
    return DiT(cfg)


def count_params(cfg: DiTConfig) -> int:
    """Trainable parameters in closed form (tests check it against the built model)."""
    d, h, p, C, K = cfg.d_model, cfg.mlp_hidden, cfg.patch, cfg.channels, cfg.num_classes
    common = 4 * d * d + 2 * d * h + 5 * d + h  # attention + MLP
    embed = C * p * p * d + d + (d * d + d) * 2 + K * d  # patches, t MLP, classes
    dec = d * p * p * C + p * p * C
    if cfg.conditioning == "adaln-zero":
        return embed + cfg.n_layer * (common + 6 * d * d + 6 * d) + 2 * d * d + 2 * d + dec
    return embed + cfg.n_layer * (common + 4 * d) + 2 * d + dec


def size_to(spec, target: int, conditioning: str = "adaln-zero") -> DiTConfig:
    if conditioning not in CONDITIONINGS:
        raise ValueError(f"unknown conditioning {conditioning!r}; expected one of {CONDITIONINGS}")
    p = 2 if spec.image_size <= 16 else 4
    base = {"image_size": spec.image_size, "channels": spec.channels,
            "num_classes": spec.num_classes, "patch": p, "conditioning": conditioning}  # fmt: skip
    best, best_key = None, None
    for n_layer in sorted({max(1, spec.n_layer + k) for k in (0, -1, 1, -2, 2)}):
        for d in range(8, 4097, 8):
            heads = max(1, d // 32)
            if d % heads:
                continue

            def dit(hidden, d=d, heads=heads, n_layer=n_layer):
                return DiTConfig("dit", **base, d_model=d, n_layer=n_layer, n_head=heads,
                                 mlp_hidden=hidden)  # fmt: skip

            if count_params(dit(2 * d)) > target * (1 + MATCH_TOLERANCE):
                break
            n = count_params(dit(4 * d))
            hidden = 4 * d + round((target - n) / (n_layer * (2 * d + 1)))
            hidden = min(6 * d, max(2 * d, hidden))
            cfg = dit(hidden)
            err = abs(count_params(cfg) - target) / target
            depth_off = abs(n_layer - spec.n_layer)
            key = (round(err, 3) > MATCH_TOLERANCE, depth_off, mlp_off(hidden, d), err)
            if best_key is None or key < best_key:
                best, best_key = cfg, key
    return best


def describe(cfg: DiTConfig) -> str:
    name = {"adaln-zero": "adaLN-Zero DiT", "in-context": "In-context DiT"}[cfg.conditioning]
    how = {"adaln-zero": "adaLN-Zero blocks", "in-context": "t and y as two extra tokens"}
    return (
        f"{name} ({how[cfg.conditioning]}, patch {cfg.patch}, {cfg.n_layer} blocks, "
        f"d={cfg.d_model}, {cfg.n_head} head(s), MLP {cfg.mlp_hidden}, predicts the noise)"
    )


def flops_per_image(cfg: DiTConfig) -> int:
    t = torch.zeros(1, dtype=torch.long)
    shape = (cfg.channels, cfg.image_size, cfg.image_size)
    return forward_flops(build, cfg, shape, (t.to("meta"), t.to("meta")))
