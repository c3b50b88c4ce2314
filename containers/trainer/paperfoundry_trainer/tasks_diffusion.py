"""Diffusion: denoising (epsilon prediction) on small images; metric: the test denoising loss.

Forward process (DDPM, Ho et al. 2020, arXiv 2006.11239) with the cosine noise schedule of
Nichol & Dhariwal (arXiv 2102.09672), T = `spec.timesteps` (1000):
x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, x_0 scaled to [-1, 1], eps ~ N(0, I).
The model gets (x_t, t, y) - noisy images, integer timesteps, class labels - and predicts
eps; training minimises the MSE over uniform t (the "simple" loss). Training batches (images,
t, eps) come from a torch.Generator seeded with (seed, step), so baseline and candidate see
identical inputs.

Evaluation: every image of the split at each of the fixed timesteps `EVAL_T`, with noise
from a fixed seed per split, so every model is scored on identical (x_t, t, y); the
controller keeps eps and x_0 and scores the MSE of the predicted noise per example (lower
is better). The controller also computes the best *linear* denoiser in closed form (x_0
Gaussian with the training split's mean and covariance): the baseline must beat it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .data import SPLITS
from .tasks import _generator, to_device
from .tasks_image import check_shape, load_images

EVAL_T = tuple(range(50, 1000, 100))  # 50, 150, ..., 950 (of T = 1000)
NOISE_SEED = {"val": 7_000_001, "test": 7_000_003}


def cosine_alpha_bar(T: int, s: float = 0.008) -> torch.Tensor:
    """abar_t for t = 0..T-1 (improved DDPM): betas from the squared-cosine abar, <= 0.999."""

    def f(u):
        return math.cos((u + s) / (1 + s) * math.pi / 2) ** 2

    betas = torch.tensor([min(1 - f((i + 1) / T) / f(i / T), 0.999) for i in range(T)])
    return torch.cumprod(1 - betas.double(), 0).float()


class Diffusion:
    """Metric: **denoise_mse**, the mean squared error of the predicted noise on the test
    split at fixed timesteps (lower is better)."""

    name = "diffusion"
    metric = "denoise_mse"
    higher_is_better = False
    worst_value = 1.0  # predicting zero noise
    input_names = ("x", "t", "y")
    unit = "images"
    diverge_loss = 10.0

    def __init__(self, spec, task_args: dict, data_dir=None, device="cpu", splits=SPLITS):
        self.spec = spec
        self.device = torch.device(device)
        self.data = load_images(task_args, data_dir, splits)
        check_shape(self.data, spec)
        self.dataset = self.data.name
        self.T = spec.timesteps
        self.alpha_bar = cosine_alpha_bar(self.T)
        self.eval_t = tuple(t * self.T // 1000 for t in EVAL_T)
        self.loss_positions = None
        self._moments = None  # the training pixels' mean and covariance, when first needed

    def scale(self, images: torch.Tensor) -> torch.Tensor:
        return images.float() / self.data.max_value * 2 - 1

    def noisy(self, x0, t, eps):
        ab = self.alpha_bar[t].view(-1, 1, 1, 1)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * eps

    def batch(self, batch_size: int, seed: int, step: int):
        g = _generator(seed, step)
        train = self.data.splits["train"]
        idx = torch.randint(0, len(train), (batch_size,), generator=g)
        x0 = self.scale(train.images[idx])
        t = torch.randint(0, self.T, (batch_size,), generator=g)
        eps = torch.randn(x0.shape, generator=g)
        x, y = self.noisy(x0, t, eps), train.labels[idx]
        inputs = tuple(to_device(v, self.device) for v in (x, t, y))
        return inputs, to_device(eps, self.device)

    def loss(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(out.float(), target)

    def eval_examples(self, split: str, n: int):
        """(x0, t, eps, y) for the split's first n // len(eval_t) images, each at every
        timestep of `eval_t`, timestep-major (a batch holds distinct images), with noise
        from the split's fixed seed."""
        s = self.data.splits[split]
        k = len(self.eval_t)
        n_images = max(1, min(len(s), n // k))
        x0 = self.scale(s.images[:n_images]).repeat(k, 1, 1, 1)
        y = s.labels[:n_images].repeat(k)
        t = torch.tensor(self.eval_t).repeat_interleave(n_images)
        g = torch.Generator().manual_seed(NOISE_SEED.get(split, 7_000_005))
        eps = torch.randn(x0.shape, generator=g)
        return x0, t, eps, y

    def eval_set(self, split: str, n_batches: int, batch_size: int):
        x0, t, eps, y = self.eval_examples(split, n_batches * batch_size)
        xt = self.noisy(x0, t, eps)
        return [
            ((a, b, c), e)
            for a, b, c, e in zip(
                xt.split(batch_size),
                t.split(batch_size),
                y.split(batch_size),
                eps.split(batch_size),
                strict=True,
            )
        ]

    def output_shape(self, inputs, positions=None) -> tuple:
        return tuple(inputs[0].shape)

    def score(self, out: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """Per-example mean squared error of the predicted noise."""
        return (out.float() - eps.to(out.device)).pow(2).flatten(1).mean(1)

    def random_inputs(self, batch_size: int, device, length: int | None = None) -> tuple:
        s = self.spec
        x = torch.randn(batch_size, s.channels, s.image_size, s.image_size, device=device)
        t = torch.randint(0, self.T, (batch_size,), device=device)
        y = torch.randint(0, s.num_classes, (batch_size,), device=device)
        return x, t, y

    # -- the closed-form references -----------------------------------------------------
    def _train_moments(self):
        """Mean (D,) and covariance (D, D) of the scaled training pixels, accumulated in
        float64 chunks (CIFAR: 45,000 x 3,072)."""
        if self._moments is None:
            images = self.data.splits["train"].images
            D = images[0].numel()
            total = torch.zeros(D, dtype=torch.float64)
            outer = torch.zeros(D, D, dtype=torch.float64)
            for part in images.split(4096):
                x = self.scale(part).flatten(1).double()
                total += x.sum(0)
                outer += x.T @ x
            n = len(images)
            mu = total / n
            cov = (outer - n * torch.outer(mu, mu)) / max(1, n - 1)
            self._moments = (mu, cov)
        return self._moments

    def pixelwise_denoiser_mse(self, batches) -> torch.Tensor:
        """Per-example MSE of the best denoiser that treats pixels independently (each x_0
        pixel Gaussian with its training mean and variance): what a model without spatial
        context can do at best (the analogue of the LM's unigram entropy)."""
        mu, cov = self._train_moments()
        var = cov.diagonal()
        out = []
        for (xt, t, _y), eps in batches:
            a = self.alpha_bar[t].double()[:, None]
            pred = (1 - a).sqrt() * (xt.flatten(1).double() - a.sqrt() * mu) / (a * var + 1 - a)
            out.append((pred - eps.flatten(1).double()).pow(2).mean(1).float())
        return torch.cat(out)

    def linear_denoiser_mse(self, batches) -> torch.Tensor:
        """Per-example MSE of the best linear (Wiener) noise predictor: x_0 Gaussian with
        the training split's pixel mean and covariance, so
        E[eps | x_t] = sqrt(1 - a) (a S + (1 - a) I)^-1 (x_t - sqrt(a) mu), a = abar_t."""
        mu, cov = self._train_moments()
        lam, U = torch.linalg.eigh(cov)
        lam = lam.clamp_min(0)
        out = []
        for (xt, t, _y), eps in batches:
            a = self.alpha_bar[t].double()[:, None]
            z = (xt.flatten(1).double() - a.sqrt() * mu) @ U
            pred = ((1 - a).sqrt() * z / (a * lam + (1 - a))) @ U.T
            out.append((pred - eps.flatten(1).double()).pow(2).mean(1).float())
        return torch.cat(out)
