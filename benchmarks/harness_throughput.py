"""Throughput (tokens/s) and MFU of the harness vs a plain PyTorch loop, robust to noise.

For the baseline GPT (`baseline.py`, kind "gpt") at 3 sizes, two contests per size:

  train  harness: paperfoundry_trainer.train.Trainer.train_step (a seeded batch per step,
                  made and copied to the device as the lm/mqar tasks do, LR schedule, grad
                  clipping, loss kept on-device, one sync per block as at the harness's log
                  interval)
         plain:   the same model and AdamW (make_optimizer) in nanoGPT's training loop
                  (--plain nanogpt, the default: a fresh batch, the LR and a grad clip
                  each step, loss.item() once per block), or --plain bare: one pre-built
                  batch, forward / backward / step / zero_grad only (the harness's whole
                  overhead, including the parts of its recipe a minimal loop also has)
  infer  harness: the worker's `bench` op (worker.Session.bench: model.eval(), no_grad,
                  the trainer's forward, autocast), which is what the harness times
         plain:   model.eval(); torch.no_grad() forward loop on one pre-built batch

Each contest runs the two paths INTERLEAVED: --reps pairs (default 5), each pair made of
--sub-blocks timed blocks per path (default 5) in alternating order (AB BA AB ...), so a
drift in machine load hits both alike; a path's tokens/s in a pair comes from its fastest
block (other load only ever slows a block down), so bursts that hit some blocks move nothing.
Warm-up steps run first and are never timed; the block length is calibrated from the
warm-up to about --block-seconds (or fixed with --steps). Threads are pinned
(torch.set_num_threads(--threads), default all cores). Reported per size and contest: the
median tokens/s of each path over the pairs with its min-max and IQR, and the ratio
harness/plain computed per pair (median and min-max; 1.0 = the harness adds no overhead).
The harness is flagged SLOWER only when every pair has it slower (a sign test: p = 2^-reps
if there is no difference).

FLOPs per token (training, forward + backward) ~= 6 * N + 12 * L * T * d; inference (forward
only) ~= 2 * N + 4 * L * T * d
  N = parameters in matmuls (everything but the position embedding; the tied embedding is
      counted once, as the LM-head matmul), L layers, T sequence length, d width; the second
  term is the attention score/value matmuls (PaLM appendix B estimate).
MFU = tokens/s * FLOPs per token / peak FLOP/s. Peak: --peak-tflops, else the table below
(dense bf16 tensor-core numbers from vendor spec sheets), else a rough CPU estimate of
threads * 2.5 GHz * fp32 FLOP/cycle (64 with AVX-512, 32 with AVX2 FMA) -- treat CPU MFU as
indicative only.

  python benchmarks/harness_throughput.py [--device cpu|cuda] [--reps 5] [--threads N]
      [--compile] [--steps N | --block-seconds 0.3] [--sub-blocks 5] [--plain nanogpt|bare]
      [--json out.json]

See docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "containers" / "trainer"))

from paperfoundry_trainer.baseline import RefConfig, build  # noqa: E402
from paperfoundry_trainer.tasks import to_device  # noqa: E402
from paperfoundry_trainer.train import (  # noqa: E402
    TrainConfig,
    Trainer,
    autocast_for,
    make_optimizer,
    setup_device,
)
from paperfoundry_trainer.worker import Session  # noqa: E402

SCHEMA = 1
PEAK_TFLOPS = {  # dense bf16 (fp16 where no bf16), per GPU; first matching key wins
    "H200": 989.0,
    "H100 PCIe": 756.0,
    "H100 NVL": 835.0,
    "H100": 989.0,  # SXM
    "A100": 312.0,
    "L40S": 362.0,
    "L4": 121.0,
    "A10G": 70.0,
    "A10": 125.0,
    "V100": 125.0,
    "T4": 65.0,
}
VOCAB = 256  # byte-level, as the lm task


@dataclass(frozen=True)
class Size:
    """One baseline GPT shape (built directly: head dim 64 where the width allows)."""

    name: str
    n_layer: int
    d_model: int
    n_head: int
    seq_len: int
    batch: int

    def config(self) -> RefConfig:
        return RefConfig(
            kind="gpt",
            vocab_size=VOCAB,
            seq_len=self.seq_len,
            n_layer=self.n_layer,
            d_model=self.d_model,
            n_head=self.n_head,
            mlp=True,
        )


CPU_SIZES = [
    Size("0.2M", 4, 64, 1, 128, 8),
    Size("0.8M", 4, 128, 2, 128, 8),
    Size("2.7M", 6, 192, 3, 128, 8),
]
GPU_SIZES = [
    Size("11M", 6, 384, 6, 1024, 32),
    Size("58M", 8, 768, 12, 1024, 32),
    Size("127M", 10, 1024, 16, 1024, 32),
]
TINY_SIZES = [  # --tiny: seconds on a CPU; exercises every code path (tests, dry runs)
    Size("tiny-a", 2, 32, 1, 32, 4),
    Size("tiny-b", 2, 64, 1, 32, 4),
    Size("tiny-c", 3, 64, 2, 32, 4),
]


class RandomTokens:
    """A task with the harness interface, its batch made as the lm and mqar tasks make theirs
    (tasks.py): drawn on the CPU from a generator seeded with (seed, step), then moved with
    `tasks.to_device` (on CUDA from pinned memory without blocking)."""

    name, vocab_size, input_names = "random", VOCAB, ("x",)

    def __init__(self, seq_len, device):
        self.seq_len, self.device = seq_len, device

    def batch(self, batch_size, seed, step):
        g = torch.Generator().manual_seed((seed * 1_000_000_007 + step) % (2**63 - 1))
        x = torch.randint(0, VOCAB, (batch_size, self.seq_len + 1), generator=g)
        return to_device(x[:, :-1], self.device), to_device(x[:, 1:], self.device)

    def random_inputs(self, batch_size, device, length=None):  # the worker's `bench` inputs
        return (torch.randint(0, VOCAB, (batch_size, length or self.seq_len), device=device),)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


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
    per_cycle, isa = cpu_flops_per_cycle()
    src = f"cpu ({cores} threads x 2.5 GHz x {per_cycle} ({isa}), rough)"
    return cores * 2.5e9 * per_cycle, src


def cpu_flops_per_cycle() -> tuple[int, str]:
    """fp32 FLOP/cycle/core of two FMA units: AVX-512 64, AVX2 32, else 16 (a guess)."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        flags = set()
    if "avx512f" in flags:
        return 64, "AVX-512"
    if "avx2" in flags and "fma" in flags:
        return 32, "AVX2"
    return 16, "unknown ISA"


def flops_per_token(model, size: Size) -> dict:
    n_matmul = sum(p.numel() for p in model.parameters()) - model.pos_emb.weight.numel()
    attn = size.n_layer * size.seq_len * size.d_model
    return {"train": 6 * n_matmul + 12 * attn, "infer": 2 * n_matmul + 4 * attn}


def compile_name(compile) -> str:
    """Its name: "none", "inductor" (True: the harness's --compile) or the backend."""
    if not compile:
        return "none"
    return "inductor" if compile is True else str(compile)


def _compiled(model, compile):
    """compile: False, True (inductor, as the harness's --compile) or a backend name."""
    if not compile:
        return model
    if compile is True:
        return torch.compile(model)
    return torch.compile(model, backend=compile)


# -- the four timed paths: .run(n) does n steps and returns once the device is idle ---------
class HarnessTrain:
    def __init__(self, model, size, device, compile):
        task = RandomTokens(size.seq_len, device)
        cfg = TrainConfig(steps=10**6, batch_size=size.batch, lr=1e-3, log_every=10**9)
        # Trainer(compile=True) is exactly torch.compile(model); another backend (the dry
        # runs use "eager") is set the same way, on the trainer's forward
        self.tr = Trainer(model, task, cfg, 0, device, compile is True)
        if compile and compile is not True:
            self.tr.forward = _compiled(self.tr.model, compile)
        self.device = device

    def plan(self, total_steps: int) -> None:
        """A real schedule over the steps this benchmark will run (warm-up 10%, cosine)."""
        self.tr.cfg = replace(self.tr.cfg, steps=max(1, total_steps))

    def run(self, n: int) -> None:
        for _ in range(n):
            self.tr.train_step()
        self.tr.pop_mean_loss()  # the one sync, as in the harness's log interval
        sync(self.device)


class PlainTrain:
    """The minimal loop. "nanogpt": nanoGPT's train.py loop -- a batch of random windows
    of a token array per step (its get_batch: offsets from torch.randint, torch.stack of
    slices, pinned and non-blocking on CUDA), the learning rate set per step (warm-up +
    cosine, its get_lr), clip_grad_norm_ at 1.0, AdamW, loss.item() once per block.
    "bare": one pre-built batch, no schedule, no clip: the least a loop can do."""

    def __init__(self, model, size, device, compile, mode="nanogpt"):
        self.mode = mode
        self.model = model.to(device)
        self.fwd = _compiled(self.model, compile)
        cfg = TrainConfig(steps=1, batch_size=size.batch, lr=1e-3)
        self.opt = make_optimizer(self.model, cfg, device)
        self.x, self.y = RandomTokens(size.seq_len, device).batch(size.batch, 0, 0)
        self.tokens = torch.randint(0, VOCAB, (2**20,))  # nanoGPT's train.bin, in memory
        self.size, self.steps, self.it = size, 1, 0
        self.autocast = autocast_for(device)
        self.device = device

    def plan(self, total_steps: int) -> None:
        self.steps = max(1, total_steps)

    def get_batch(self):
        T, B = self.size.seq_len, self.size.batch
        ix = torch.randint(len(self.tokens) - T, (B,))
        x = torch.stack([self.tokens[i : i + T] for i in ix])
        y = torch.stack([self.tokens[i + 1 : i + 1 + T] for i in ix])
        if self.device.type == "cuda":
            return x.pin_memory().to(self.device, non_blocking=True), y.pin_memory().to(
                self.device, non_blocking=True
            )
        return x.to(self.device), y.to(self.device)

    def get_lr(self) -> float:
        warmup, max_lr, min_lr = max(1, self.steps // 10), 1e-3, 1e-4
        if self.it < warmup:
            return max_lr * (self.it + 1) / (warmup + 1)
        ratio = min(1.0, (self.it - warmup) / max(1, self.steps - warmup))
        return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (max_lr - min_lr)

    def run(self, n: int) -> None:
        self.model.train()
        nanogpt = self.mode == "nanogpt"
        loss = None
        for _ in range(n):
            if nanogpt:
                lr = self.get_lr()
                for group in self.opt.param_groups:
                    group["lr"] = lr
                x, y = self.get_batch()
            else:
                x, y = self.x, self.y
            with self.autocast():
                logits = self.fwd(x)
            loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
            loss.backward()
            if nanogpt:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            self.opt.step()
            self.opt.zero_grad(set_to_none=True)
            self.it += 1
        if loss is not None:
            loss.item()
        sync(self.device)


class HarnessInfer:
    """The worker's own `bench` op on the harness trainer's forward."""

    def __init__(self, harness_train: HarnessTrain, size, device):
        self.session = Session()
        self.session.trainer = harness_train.tr
        self.session.model = harness_train.tr.model
        self.session.device = device
        self.header = {"batch": size.batch, "length": size.seq_len}

    def run(self, n: int) -> None:
        self.session.bench({**self.header, "iters": n}, {})  # syncs on CUDA itself


class PlainInfer:
    def __init__(self, plain_train: PlainTrain, size, device):
        self.model, self.fwd = plain_train.model, plain_train.fwd
        self.x = plain_train.x
        self.autocast = autocast_for(device)
        self.device = device

    def run(self, n: int) -> None:
        self.model.eval()
        with torch.no_grad(), self.autocast():
            for _ in range(n):
                self.fwd(self.x)
        sync(self.device)


# -- statistics ---------------------------------------------------------------------------
def summary(values: list[float]) -> dict:
    vals = [float(v) for v in values]
    if len(vals) >= 2:
        q1, _, q3 = statistics.quantiles(vals, n=4, method="inclusive")
    else:
        q1 = q3 = vals[0]
    return {
        "values": vals,
        "median": statistics.median(vals),
        "min": min(vals),
        "max": max(vals),
        "q1": q1,
        "q3": q3,
    }


def _cpu_seconds() -> float:
    """CPU time of this process (all threads), user + system."""
    t = os.times()
    return t.user + t.system


def busy(machine: dict) -> str | None:
    """A warning when other load shared the cores during a size's measurement."""
    load, cores, share = max(machine["loadavg_1min"]), machine["cores"], machine["cpu_share"]
    if (share is not None and share < 0.8) or (cores and load > cores + 0.5):
        got = f", this process got {100 * share:.0f}% of its threads' time" if share else ""
        return f"machine busy (load {load:.1f} on {cores} cores{got}): figures less reliable"
    return None


def _timed(path, n: int) -> float:
    t0 = time.perf_counter()
    path.run(n)
    return time.perf_counter() - t0


def contest(a, b, *, reps, steps, warmup, block_seconds, tokens_per_step, sub_blocks=5):
    """Warm both paths up (untimed), calibrate the block length, then `reps` pairs. A pair is
    `sub_blocks` timed blocks of each path, interleaved with the order alternating (AB BA AB
    ...); a path's tokens/s in the pair is from its fastest block (other load only ever slows
    a block down). Returns tokens/s per pair for a and b, the block length, the raw block
    times per pair and the warm-up step times."""
    warm = {}
    for name, path in (("a", a), ("b", b)):
        warm[name] = [_timed(path, 1) for _ in range(max(1, warmup))]
    if steps is None:
        # the fastest warm-up step after the first (allocation, compilation) is the least
        # disturbed by other load; a block of about block_seconds at that speed
        per_step = min(min(t[1:] or t) for t in warm.values())
        steps = max(2, min(10_000, math.ceil(block_seconds / max(per_step, 1e-6))))
    for path in (a, b):
        if hasattr(path, "plan"):
            path.plan(warmup + reps * sub_blocks * steps)
    tps, raw = {"a": [], "b": []}, {"a": [], "b": []}
    k = 0
    for _ in range(reps):
        times = {"a": [], "b": []}
        for _ in range(max(1, sub_blocks)):
            order = (("a", a), ("b", b)) if k % 2 == 0 else (("b", b), ("a", a))
            k += 1
            for name, path in order:
                times[name].append(_timed(path, steps))
        for name in ("a", "b"):
            tps[name].append(steps * tokens_per_step / min(times[name]))
            raw[name].append([round(t, 6) for t in times[name]])
    return tps["a"], tps["b"], steps, raw, warm


def _figures(h: list[float], p: list[float], steps, tokens_per_step, flops_tok, peak) -> dict:
    ratios = [x / y for x, y in zip(h, p, strict=True)]
    out = {
        "steps_per_block": steps,
        "tokens_per_block": steps * tokens_per_step,
        "harness": summary(h),
        "plain": summary(p),
        "ratio": {
            **summary(ratios),
            "of_medians": statistics.median(h) / statistics.median(p),
            "of_best": max(h) / max(p),  # noise only ever slows a block down
        },
    }
    out["ratio"]["slower"] = max(ratios) < 1.0  # every pair: the harness slower
    for name in ("harness", "plain"):
        med = out[name]["median"]
        out[name]["mfu"] = med * flops_tok / peak if peak else None
    return out


def measure_size(
    size: Size,
    device,
    *,
    reps=5,
    steps=None,
    warmup=3,
    block_seconds=0.3,
    compile=False,
    peak=None,
    contests=("train", "infer"),
    plain="nanogpt",
    sub_blocks=5,
) -> dict:
    """Both contests for one model size; the figures as a JSON-ready dict."""
    cfg = size.config()
    torch.manual_seed(0)
    model_h = build(cfg)
    torch.manual_seed(0)
    model_p = build(cfg)  # the same weights: same seed, same init order
    n_params = sum(p.numel() for p in model_h.parameters())
    flops = flops_per_token(model_h, size)
    tokens_per_step = size.batch * size.seq_len
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    load0, cpu0, t0 = os.getloadavg()[0], _cpu_seconds(), time.perf_counter()
    ht = HarnessTrain(model_h, size, device, compile)
    pt = PlainTrain(model_p, size, device, compile, mode=plain)
    result = {
        "name": size.name,
        **{k: v for k, v in asdict(size).items() if k != "name"},
        "params": n_params,
        "flops_per_token": flops,
        "compile": compile_name(compile),
        "plain": plain,
    }
    common = dict(
        reps=reps,
        steps=steps,
        warmup=warmup,
        block_seconds=block_seconds,
        sub_blocks=sub_blocks,
        tokens_per_step=tokens_per_step,
    )
    pairs = {"train": (ht, pt)}
    if "infer" in contests:
        pairs["infer"] = (HarnessInfer(ht, size, device), PlainInfer(pt, size, device))
    for kind in contests:
        h, p, n, raw, warm = contest(*pairs[kind], **common)
        fig = _figures(h, p, n, tokens_per_step, flops[kind], peak)
        fig["block_seconds"] = {"harness": raw["a"], "plain": raw["b"]}
        fig["warmup_step_seconds"] = {"harness": warm["a"], "plain": warm["b"]}
        result[kind] = fig
    result["seconds"] = round(time.perf_counter() - t0, 2)
    # was the machine busy? others' load shows as a low share of our threads' time on CPU
    share = (_cpu_seconds() - cpu0) / (result["seconds"] * torch.get_num_threads())
    result["machine"] = {
        "loadavg_1min": [round(load0, 2), round(os.getloadavg()[0], 2)],
        "cores": os.cpu_count(),
        "cpu_share": round(share, 3) if device.type == "cpu" else None,
    }
    result["peak_memory_mb"] = (
        torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None
    )
    del ht, pt, model_h, model_p
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return result


def environment(device, peak, peak_src, threads) -> dict:
    return {
        "device": device.type,
        "device_name": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "peak_flops": peak,
        "peak_source": peak_src,
        "threads": threads,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "tf32": bool(torch.backends.cuda.matmul.allow_tf32) if device.type == "cuda" else None,
        "autocast": "bf16" if device.type == "cuda" else None,
        "fused_adamw": device.type == "cuda",
    }


def _pct(x):
    return f"{100 * x:.1f}%" if x is not None else "n/a"


def format_size(r: dict) -> list[str]:
    head = (
        f"{r['name']:>6s} params={r['params']:,} L={r['n_layer']} d={r['d_model']} "
        f"heads={r['n_head']} T={r['seq_len']} B={r['batch']} compile={r['compile']}"
    )
    lines = [head]
    warning = busy(r["machine"]) if "machine" in r else None
    if warning:
        lines.append(f"  WARNING {warning}")
    for kind in ("train", "infer"):
        if kind not in r:
            continue
        f = r[kind]
        h, p, q = f["harness"], f["plain"], f["ratio"]
        flag = "  SLOWER (every pair)" if q["slower"] else ""
        lines.append(
            f"  {kind:5s} harness {h['median']:>11,.0f} tok/s "
            f"[{h['min']:,.0f}-{h['max']:,.0f}, IQR {h['q1']:,.0f}-{h['q3']:,.0f}]  "
            f"plain {p['median']:>11,.0f} [{p['min']:,.0f}-{p['max']:,.0f}, "
            f"IQR {p['q1']:,.0f}-{p['q3']:,.0f}]  "
            f"ratio {q['median']:.3f} [{q['min']:.3f}-{q['max']:.3f}, best/best "
            f"{q['of_best']:.3f}]  "
            f"MFU {_pct(h['mfu'])} / {_pct(p['mfu'])}  ({f['steps_per_block']} steps/block){flag}"
        )
    return lines


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--reps", type=int, default=5, help="interleaved pairs per contest")
    ap.add_argument("--steps", type=int, help="steps per timed block (default: calibrated)")
    ap.add_argument("--block-seconds", type=float, default=0.3, help="target block length")
    ap.add_argument("--sub-blocks", type=int, default=5, help="timed blocks per path in each pair")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps per path first")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument(
        "--plain",
        choices=("nanogpt", "bare"),
        default="nanogpt",
        help="the minimal loop: nanoGPT's (default) or a bare one (see the docstring)",
    )
    ap.add_argument("--peak-tflops", type=float)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--tiny", action="store_true", help="tiny sizes (a smoke run)")
    ap.add_argument("--json", type=Path, help="write all figures as one JSON file")
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.reps < 1:
        raise SystemExit("--reps must be >= 1")
    t0 = time.perf_counter()
    device = setup_device(args.device)
    torch.set_num_threads(max(1, args.threads))
    peak, peak_src = peak_flops(device, args.peak_tflops)
    sizes = TINY_SIZES if args.tiny else GPU_SIZES if device.type == "cuda" else CPU_SIZES
    env = environment(device, peak, peak_src, torch.get_num_threads())
    print(
        f"device={device.type} ({peak_src}), peak={peak / 1e12 if peak else float('nan'):.2f} "
        f"TFLOP/s, threads={env['threads']}, reps={args.reps} (interleaved, alternating "
        f"order), warmup={args.warmup}, compile={args.compile}, torch={torch.__version__}",
        flush=True,
    )
    results = []
    for size in sizes:
        r = measure_size(
            size,
            device,
            reps=args.reps,
            steps=args.steps,
            warmup=args.warmup,
            block_seconds=args.block_seconds,
            compile=args.compile,
            peak=peak,
            plain=args.plain,
            sub_blocks=args.sub_blocks,
        )
        results.append(r)
        print("\n".join(format_size(r)), flush=True)
    out = {
        "schema": SCHEMA,
        "benchmark": "harness_throughput",
        "environment": env,
        "settings": {
            "reps": args.reps,
            "warmup": args.warmup,
            "steps": args.steps,
            "block_seconds": args.block_seconds,
            "sub_blocks": args.sub_blocks,
            "compile": compile_name(args.compile),
            "plain": args.plain,
            "order": "pairs of interleaved blocks, order alternating AB BA AB ...",
        },
        "sizes": results,
        "wall_seconds": round(time.perf_counter() - t0, 2),
    }
    print(f"wall {out['wall_seconds']:.0f} s", flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
