"""Image classification: training batches from (seed, step), fixed splits, test accuracy.

Data: the built-in 8x8 digits (offline, `data.load_digits`) or an image directory
(`prepare-data --corpus cifar10`). Splits are fixed: train (training batches only), val
(LR choice only), test (the numbers). Training batches are drawn from a torch.Generator
seeded with (seed, step), with the standard light augmentation (random translation by up to
`pad` pixels; CIFAR also random horizontal flips), so baseline and candidate see identical
images in identical order. Inputs are normalised with the training split's per-channel
mean and std.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .data import SPLITS, ImageData, load_digits, load_image_dir
from .tasks import _generator, to_device


def load_images(task_args: dict, data_dir, splits=SPLITS) -> ImageData:
    dataset = task_args.get("dataset", "digits")
    if data_dir is not None:
        return load_image_dir(data_dir, splits)
    if dataset == "digits":
        return load_digits(splits)
    raise FileNotFoundError(
        f"the {dataset!r} images are not built in: prepare them with "
        f"`prepare-data --corpus {dataset} --out DIR` and pass --data DIR (SageMaker: the "
        "`data` channel)"
    )


def check_shape(data: ImageData, spec) -> None:
    want = (spec.channels, spec.image_size, spec.image_size)
    if tuple(data.shape) != want or data.num_classes != spec.num_classes:
        raise ValueError(
            f"{data.name} images are {data.shape} with {data.num_classes} classes; this "
            f"budget expects {want} with {spec.num_classes} classes (pick the matching budget)"
        )


def channel_stats(images: torch.Tensor, max_value: int, chunk: int = 4096):
    """Per-channel mean and std of uint8 images scaled to [0, 1], in float64 chunks (CIFAR's
    training split as one float tensor would be 0.5 GB)."""
    C = images.shape[1]
    total, sq, n = torch.zeros(C, dtype=torch.float64), torch.zeros(C, dtype=torch.float64), 0
    for part in images.split(chunk):
        x = part.double().transpose(0, 1).reshape(C, -1) / max_value
        total += x.sum(1)
        sq += (x * x).sum(1)
        n += x.shape[1]
    mean = total / n
    var = (sq / n - mean * mean) * n / max(1, n - 1)
    return mean.float(), var.clamp_min(0).sqrt().float()


def augment(x: torch.Tensor, g: torch.Generator, pad: int, flip: bool) -> torch.Tensor:
    """Random translation by up to `pad` pixels (zero fill) and optional horizontal flip."""
    B, C, H, W = x.shape
    if pad:
        xp = F.pad(x, (pad, pad, pad, pad))
        dy = torch.randint(0, 2 * pad + 1, (B,), generator=g)
        dx = torch.randint(0, 2 * pad + 1, (B,), generator=g)
        rows = (dy[:, None] + torch.arange(H))[:, None, :, None]
        cols = (dx[:, None] + torch.arange(W))[:, None, None, :]
        x = xp[
            torch.arange(B)[:, None, None, None], torch.arange(C)[None, :, None, None], rows, cols
        ]
    if flip:
        mask = torch.rand(B, generator=g) < 0.5
        x = torch.where(mask[:, None, None, None], x.flip(-1), x)
    return x


class ImageClassification:
    """Metric: top-1 **accuracy** on the test split (higher is better)."""

    name = "image"
    metric = "accuracy"
    higher_is_better = True
    worst_value = 0.0
    input_names = ("x",)
    unit = "images"

    def __init__(self, spec, task_args: dict, data_dir=None, device="cpu", splits=SPLITS):
        self.spec = spec
        self.device = torch.device(device)
        self.data = load_images(task_args, data_dir, splits)
        check_shape(self.data, spec)
        self.num_classes = spec.num_classes
        self.dataset = self.data.name
        train = self.data.splits.get("train")
        ref = train if train is not None else next(iter(self.data.splits.values()))
        mean, std = channel_stats(ref.images, self.data.max_value)
        self.mean, self.std = mean.view(1, -1, 1, 1), std.clamp_min(1e-3).view(1, -1, 1, 1)
        small = spec.image_size <= 16
        self.pad = int(task_args.get("pad", 1 if small else 4))
        self.flip = bool(task_args.get("flip", not small))
        self.diverge_loss = 3 * math.log(self.num_classes)
        self.loss_positions = None

    def _normalise(self, images: torch.Tensor) -> torch.Tensor:
        return (images.float() / self.data.max_value - self.mean) / self.std

    def batch(self, batch_size: int, seed: int, step: int):
        g = _generator(seed, step)
        train = self.data.splits["train"]
        idx = torch.randint(0, len(train), (batch_size,), generator=g)
        x = augment(train.images[idx].float(), g, self.pad, self.flip)
        x = (x / self.data.max_value - self.mean) / self.std
        return (to_device(x, self.device),), to_device(train.labels[idx], self.device)

    def loss(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(out.float(), target)

    def eval_set(self, split: str, n_batches: int, batch_size: int):
        """The first n_batches * batch_size images of the split (all of them if fewer), in
        the split's fixed order, without augmentation."""
        s = self.data.splits[split]
        n = min(len(s), n_batches * batch_size)
        x = self._normalise(s.images[:n])
        labels = s.labels[:n].split(batch_size)
        return [((xb,), yb) for xb, yb in zip(x.split(batch_size), labels, strict=True)]

    def output_shape(self, inputs, positions=None) -> tuple:
        return (inputs[0].shape[0], self.num_classes)

    def score(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (logits.float().argmax(-1) == y.to(logits.device)).float()

    def random_inputs(self, batch_size: int, device, length: int | None = None) -> tuple:
        s = self.spec
        return (torch.randn(batch_size, s.channels, s.image_size, s.image_size, device=device),)
