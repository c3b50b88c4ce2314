"""Image-family reference models: the two backbones the field compares against.

- `vit`: a plain ViT (Dosovitskiy et al., arXiv 2010.11929): patchify stem (a stride-p conv),
  learned positions, pre-norm blocks of bidirectional multi-head attention and a GELU MLP,
  global average pooling (as in "Better plain ViT baselines", arXiv 2205.01580), LayerNorm
  and a linear head.
- `resnet`: the CIFAR ResNet of He et al. (arXiv 1512.03385, section 4.2): a 3x3 conv stem
  and three stages of basic blocks (two 3x3 convs, BatchNorm, ReLU, identity or 1x1
  projection shortcuts), stride 2 between stages, global average pooling, a linear head.

Both are sized to the candidate's actual trainable-parameter count (within +-2%): the ViT
by width, depth and MLP width; the ResNet by base width and the last stage's width.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

MATCH_TOLERANCE = 0.02
ARCHS = ("vit", "resnet")


@dataclass(frozen=True)
class ImageRefConfig:
    kind: str  # "vit" | "resnet"
    image_size: int
    channels: int
    num_classes: int
    d_model: int  # ViT width; ResNet base width (stage 1)
    n_layer: int  # ViT blocks; ResNet blocks per stage
    n_head: int = 1  # ViT only
    mlp_hidden: int = 0  # ViT only
    patch: int = 2  # ViT only
    last_width: int = 0  # ResNet only: stage 3 width (~4x the base width)

    def to_dict(self) -> dict:
        return asdict(self)


def patch_size(image_size: int) -> int:
    """16 tokens on 8x8 digits, 64 on 32x32 CIFAR."""
    return 2 if image_size <= 16 else 4


# -- ViT -------------------------------------------------------------------------------------


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


class ViTBlock(nn.Module):
    def __init__(self, d: int, n_head: int, hidden: int):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = Attention(d, n_head)
        self.mlp = nn.Sequential(nn.Linear(d, hidden), nn.GELU(), nn.Linear(hidden, d))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class ViT(nn.Module):
    def __init__(self, cfg: ImageRefConfig):
        super().__init__()
        self.cfg = cfg
        d, p = cfg.d_model, cfg.patch
        n_tokens = (cfg.image_size // p) ** 2
        self.stem = nn.Conv2d(cfg.channels, d, kernel_size=p, stride=p)
        self.pos = nn.Parameter(torch.randn(1, n_tokens, d) * 0.02)
        self.blocks = nn.ModuleList(
            ViTBlock(d, cfg.n_head, cfg.mlp_hidden) for _ in range(cfg.n_layer)
        )
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, cfg.num_classes)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.stem(x).flatten(2).transpose(1, 2) + self.pos  # (B, N, d)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x.mean(1)))


# -- ResNet ----------------------------------------------------------------------------------


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.short = None
        if stride != 1 or c_in != c_out:
            self.short = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.short is None else self.short(x)))


class ResNet(nn.Module):
    def __init__(self, cfg: ImageRefConfig):
        super().__init__()
        self.cfg = cfg
        c = cfg.d_model
        widths = (c, 2 * c, cfg.last_width or 4 * c)
        self.stem = nn.Sequential(
            nn.Conv2d(cfg.channels, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU()
        )
        layers, c_in = [], c
        for i, w in enumerate(widths):
            for j in range(cfg.n_layer):
                layers.append(BasicBlock(c_in, w, 2 if (i > 0 and j == 0) else 1))
                c_in = w
        self.layers = nn.Sequential(*layers)
        self.head = nn.Linear(c_in, cfg.num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        return self.head(self.layers(self.stem(x)).mean((2, 3)))


# -- sizing ----------------------------------------------------------------------------------


def build(cfg: ImageRefConfig | dict) -> nn.Module:
    if isinstance(cfg, dict):
        cfg = ImageRefConfig(**cfg)
    return ViT(cfg) if cfg.kind == "vit" else ResNet(cfg)


def count_params(cfg: ImageRefConfig) -> int:
    """Trainable parameters, in closed form (tests check it against the built model)."""
    C, K, d = cfg.channels, cfg.num_classes, cfg.d_model
    if cfg.kind == "vit":
        n_tokens = (cfg.image_size // cfg.patch) ** 2
        h = cfg.mlp_hidden
        block = 4 * d * d + 2 * d * h + 9 * d + h
        stem = C * cfg.patch**2 * d + d
        return stem + n_tokens * d + cfg.n_layer * block + 2 * d + d * K + K
    widths = (d, 2 * d, cfg.last_width or 4 * d)
    total, c_in = 9 * C * d + 2 * d, d
    for i, w in enumerate(widths):
        for j in range(cfg.n_layer):
            total += 9 * c_in * w + 9 * w * w + 4 * w
            if (i > 0 and j == 0) or c_in != w:
                total += c_in * w + 2 * w
            c_in = w
    return total + c_in * K + K


def mlp_off(hidden: int, d: int) -> float:
    """How far an MLP width is from the usual 4d, in coarse steps (a tie-breaker)."""
    return round(abs(math.log(hidden / (4 * d))), 1)


def _vit_heads(d: int) -> int:
    return max(1, d // 32)


def size_to(arch: str, spec, target: int) -> ImageRefConfig:
    """The `arch` backbone whose parameter count is closest to `target`, depth near the
    spec's hint (ViT) or one block per stage per 2 hinted layers (ResNet)."""
    base = {"image_size": spec.image_size, "channels": spec.channels,
            "num_classes": spec.num_classes}  # fmt: skip
    best, best_key = None, None

    def consider(cfg, depth_off, mlp=0.0):
        nonlocal best, best_key
        n = count_params(cfg)
        err = abs(n - target) / target
        key = (round(err, 3) > MATCH_TOLERANCE, depth_off, mlp, err)
        if best_key is None or key < best_key:
            best, best_key = cfg, key
        return n

    if arch == "vit":
        p = patch_size(spec.image_size)
        for n_layer in sorted({max(1, spec.n_layer + k) for k in (0, -1, 1, -2, 2)}):
            for d in range(8, 4097, 8):
                heads = _vit_heads(d)
                if d % heads:
                    continue

                def vit(hidden, d=d, heads=heads, n_layer=n_layer):
                    return ImageRefConfig("vit", **base, d_model=d, n_layer=n_layer,
                                          n_head=heads, mlp_hidden=hidden, patch=p)  # fmt: skip

                if count_params(vit(2 * d)) > target * (1 + MATCH_TOLERANCE):
                    break
                # the MLP width fine-tunes the count: each unit adds n_layer * (2d + 1)
                n = count_params(vit(4 * d))
                hidden = 4 * d + round((target - n) / (n_layer * (2 * d + 1)))
                hidden = min(6 * d, max(2 * d, hidden))
                consider(vit(hidden), abs(n_layer - spec.n_layer), mlp_off(hidden, d))
        return best
    if arch == "resnet":
        blocks = max(1, spec.n_layer // 2)
        for c in range(4, 1025):
            if count_params(ImageRefConfig("resnet", **base, d_model=c, n_layer=blocks,
                                           last_width=3 * c)) > target * 1.1:  # fmt: skip
                break
            for last in range(3 * c, 5 * c + 1):
                cfg = ImageRefConfig("resnet", **base, d_model=c, n_layer=blocks, last_width=last)
                if consider(cfg, 0) > target:
                    break
        return best
    raise ValueError(f"unknown image baseline {arch!r}; expected one of {ARCHS}")


def describe(cfg: ImageRefConfig) -> str:
    if cfg.kind == "vit":
        return (
            f"ViT (patch {cfg.patch}, {cfg.n_layer} blocks, d={cfg.d_model}, {cfg.n_head} "
            f"head(s), MLP {cfg.mlp_hidden}, learned positions, average pooling)"
        )
    widths = (cfg.d_model, 2 * cfg.d_model, cfg.last_width or 4 * cfg.d_model)
    return (
        f"ResNet-{6 * cfg.n_layer + 2} (CIFAR-style basic blocks, widths "
        f"{'/'.join(map(str, widths))}, BatchNorm, average pooling)"
    )


def flops_per_image(cfg: ImageRefConfig) -> int:
    """2 x the multiply-adds of one forward pass: every conv and linear layer (counted from
    their output shapes on the meta device) plus, for the ViT, attention's two products."""
    return forward_flops(build, cfg, (cfg.channels, cfg.image_size, cfg.image_size))


def forward_flops(builder, cfg, shape, extra_inputs=()) -> int:
    macs = []

    def hook(module, _inputs, out):
        if isinstance(module, nn.Conv2d):
            per_out = module.weight.shape[1] * module.weight.shape[2] * module.weight.shape[3]
            macs.append(out.numel() * per_out)
        elif isinstance(module, nn.Linear):
            macs.append(out.numel() * module.in_features)

    with torch.device("meta"):
        model = builder(cfg)
        handles = [m.register_forward_hook(hook) for m in model.modules()
                   if isinstance(m, nn.Conv2d | nn.Linear)]  # fmt: skip
        with torch.no_grad():
            model(torch.empty(1, *shape), *extra_inputs)
    for h in handles:
        h.remove()
    attn = 0
    if getattr(cfg, "n_head", 0) and cfg.kind != "resnet":
        n = (cfg.image_size // cfg.patch) ** 2 + getattr(model, "n_extra_tokens", 0)
        attn = 2 * cfg.n_layer * n * n * cfg.d_model  # q k^T and attn v
    return 2 * (sum(macs) + attn)
