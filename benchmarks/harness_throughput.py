"""Training throughput (tokens/s) and MFU of the harness vs a plain PyTorch loop.

For the baseline GPT at 2-3 sizes, time N steps of:
  harness: paperfoundry_trainer.train.Trainer.train_step (data generated on-device per step
           from a seeded generator, LR schedule, grad clipping, loss kept on-device)
  plain:   the same model, the same AdamW, one pre-built batch, forward/backward/step
and report the ratio harness/plain (1.0 = the harness adds no overhead).

FLOPs per token (training, forward + backward) ~= 6 * N + 12 * L * T * d
  N = parameters in matmuls (everything but the position embedding; the tied embedding is
      counted once, as the LM-head matmul), L layers, T sequence length, d width; the second
  term is the attention score/value matmuls (PaLM appendix B estimate).
MFU = tokens/s * FLOPs per token / peak FLOP/s. Peak: --peak-tflops, else the table below
(dense bf16 tensor-core numbers from vendor spec sheets), else a rough CPU estimate of
cores * 2.5 GHz * 32 fp32 FLOP/cycle (AVX2 FMA) -- treat CPU MFU as indicative only.

  python benchmarks/harness_throughput.py [--device cpu|cuda] [--steps 20] [--compile]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "containers" / "trainer"))

from paperfoundry_trainer.baseline import build_baseline  # noqa: E402
from paperfoundry_trainer.spec import ModelSpec  # noqa: E402
from paperfoundry_trainer.train import (  # noqa: E402
    TrainConfig,
    Trainer,
    autocast_for,
    make_optimizer,
    setup_device,
)

PEAK_TFLOPS = {  # dense bf16 (fp16 where no bf16), per GPU
    "H200": 989.0,
    "H100": 989.0,
    "A100": 312.0,
    "L40S": 362.0,
    "L4": 121.0,
    "A10G": 70.0,
    "A10": 125.0,
    "V100": 125.0,
    "T4": 65.0,
}
CPU_SIZES = [  # (param budget, d_model hint, n_layer hint, seq_len, batch)
    (200_000, 64, 4, 128, 8),
    (1_000_000, 128, 4, 128, 8),
    (3_000_000, 192, 6, 128, 8),
]
GPU_SIZES = [
    (10_000_000, 384, 6, 1024, 16),
    (50_000_000, 640, 10, 1024, 16),
    (124_000_000, 768, 12, 1024, 16),
]


class RandomTokens:
    """A task with the harness interface: a seeded batch per step, generated on-device."""

    name, vocab_size = "random", 256

    def __init__(self, seq_len, device):
        self.seq_len, self.device = seq_len, device

    def batch(self, batch_size, seed, step):
        g = torch.Generator(device=self.device).manual_seed(seed * 1_000_003 + step)
        x = torch.randint(0, 256, (batch_size, self.seq_len + 1), generator=g, device=self.device)
        return x[:, :-1], x[:, 1:]


def peak_flops(device, override):
    if override:
        return override * 1e12, "--peak-tflops"
    if device.type == "cuda":
        name = torch.cuda.get_device_name()
        for key, tflops in PEAK_TFLOPS.items():
            if key in name:
                return tflops * 1e12, name
        return None, name
    cores = torch.get_num_threads()
    return cores * 2.5e9 * 32, f"cpu ({cores} threads, rough estimate)"


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def bench_harness(spec, batch, steps, warmup, device, compile):
    torch.manual_seed(0)
    cfg = TrainConfig(steps=10**9, batch_size=batch, lr=1e-3, log_every=10**9)
    tr = Trainer(build_baseline(spec), RandomTokens(spec.seq_len, device), cfg, 0, device, compile)
    for _ in range(warmup):
        tr.train_step()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        tr.train_step()
    tr.pop_mean_loss()  # the one sync, as in the harness's log interval
    sync(device)
    return steps * batch * spec.seq_len / (time.perf_counter() - t0)


def bench_plain(spec, batch, steps, warmup, device, compile):
    torch.manual_seed(0)
    model = build_baseline(spec).to(device)
    fwd = torch.compile(model) if compile else model
    opt = make_optimizer(model, TrainConfig(steps=1, batch_size=batch, lr=1e-3), device)
    x, y = RandomTokens(spec.seq_len, device).batch(batch, 0, 0)
    autocast = autocast_for(device)

    def step():
        with autocast():
            logits = fwd(x)
        F.cross_entropy(logits.float().flatten(0, 1), y.flatten()).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(warmup):
        step()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return steps * batch * spec.seq_len / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--peak-tflops", type=float)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    device = setup_device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    peak, peak_src = peak_flops(device, args.peak_tflops)
    sizes = GPU_SIZES if device.type == "cuda" else CPU_SIZES
    print(
        f"device={device.type} ({peak_src}), peak={peak / 1e12 if peak else float('nan'):.2f} "
        f"TFLOP/s, steps={args.steps}, compile={args.compile}, torch={torch.__version__}"
    )
    print(
        f"{'params':>11s} {'L':>3s} {'d':>5s} {'T':>5s} {'B':>3s} {'GFLOP/tok':>9s} "
        f"{'harness tok/s':>14s} {'plain tok/s':>12s} {'ratio':>6s} {'MFU harness':>11s} "
        f"{'MFU plain':>9s}"
    )
    for budget, d, L, T, B in sizes:
        spec = ModelSpec(256, T, budget, d, L, "lm")
        model = build_baseline(spec)
        cfg = model.cfg
        n_params = sum(p.numel() for p in model.parameters())
        n_matmul = n_params - model.pos_emb.weight.numel()
        flops_tok = 6 * n_matmul + 12 * cfg.n_layer * T * cfg.d_model
        del model
        h = bench_harness(spec, B, args.steps, args.warmup, device, args.compile)
        p = bench_plain(spec, B, args.steps, args.warmup, device, args.compile)

        def mfu(tps, flops_tok=flops_tok):
            return f"{100 * tps * flops_tok / peak:.2f}%" if peak else "n/a"

        print(
            f"{n_params:11,d} {cfg.n_layer:3d} {cfg.d_model:5d} {T:5d} {B:3d} "
            f"{flops_tok / 1e9:9.4f} {h:14,.0f} {p:12,.0f} {h / p:6.2f} {mfu(h):>11s} "
            f"{mfu(p):>9s}",
            flush=True,
        )


if __name__ == "__main__":
    main()
