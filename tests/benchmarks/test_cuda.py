"""The harness on a CUDA GPU: bf16 autocast, TF32, fused AdamW, torch.compile, the worker's
ops, and a whole tiny comparison. Skipped without a GPU; `benchmarks/gpu_check.sh` runs them
on a GPU machine (and fails when they are skipped there)."""

import json
import math
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
from paperfoundry_trainer.baseline import RefConfig, build
from paperfoundry_trainer.spec import ModelSpec
from paperfoundry_trainer.tasks import make_task
from paperfoundry_trainer.train import TrainConfig, Trainer, setup_device
from paperfoundry_trainer.worker import Session

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU (benchmarks/gpu_check.sh)"
)

ROOT = Path(__file__).resolve().parents[2]
BASED = ROOT / "lambdas" / "paperfoundry" / "library" / "based_2402_18668.py"
SPEC = ModelSpec(64, 32, 30_000, 64, 2, "mqar")
TASK_ARGS = {"num_kv_pairs": 4}
REF = RefConfig(kind="attention", vocab_size=64, seq_len=32, n_layer=2, d_model=64, short_conv=3)


def _trainer(device, compile=False, lr=1e-2):
    torch.manual_seed(0)
    task = make_task("mqar", SPEC, TASK_ARGS, device)
    cfg = TrainConfig(steps=60, batch_size=32, lr=lr, log_every=20)
    return Trainer(build(REF), task, cfg, 0, device, compile)


def test_cuda_step_is_bf16_tf32_fused_and_learns():
    dev = setup_device("cuda")
    assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
    tr = _trainer(dev)
    assert tr.opt.defaults["fused"] is True
    assert all(p.device.type == "cuda" for p in tr.model.parameters())
    x, _ = tr.task.batch(4, 0, 0)
    assert x.device.type == "cuda"
    with tr.autocast():
        assert tr.forward(x).dtype == torch.bfloat16
    losses = []
    while tr.step < tr.cfg.steps:
        tr.train_step()
        if tr.step % tr.cfg.log_every == 0:
            losses.append(tr.pop_mean_loss())
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0]


def test_cuda_first_loss_matches_cpu():
    cpu, gpu = _trainer(torch.device("cpu")), _trainer(setup_device("cuda"))
    a, b = float(cpu.train_step()), float(gpu.train_step())
    assert abs(a - b) < 0.05 * abs(a)  # bf16 autocast on the GPU


def test_cuda_compiled_step_matches_eager():
    dev = setup_device("cuda")
    eager, compiled = _trainer(dev), _trainer(dev, compile=True)
    for _ in range(3):
        a, b = float(eager.train_step()), float(compiled.train_step())
        assert math.isfinite(b) and abs(a - b) < 0.05 * abs(a)


def test_worker_ops_on_cuda():
    s = Session()
    header = {
        "spec": SPEC.to_dict(),
        "task_args": TASK_ARGS,
        "seed": 1,
        "device": "cuda",
        "model": {"source": "reference", "config": REF.to_dict()},
        "train": asdict(TrainConfig(steps=10, batch_size=16, lr=1e-2, log_every=5)),
        "state_lengths": [32],
    }
    built, _ = s.build(header, {})
    assert built["params"] > 0
    reply, _ = s.train({"until": 10}, {})
    assert reply["step"] == 10 and not reply["diverged"]
    _, out = s.predict({}, {"x": torch.zeros(2, 32, dtype=torch.long)})
    assert out["logits"].shape == (2, 32, 64) and out["logits"].dtype == torch.float32
    s.bench({"batch": 4, "length": 32, "iters": 2}, {})
    mem, _ = s.memory({}, {})
    assert mem["kind"] == "cuda" and mem["peak_mb"] > 0


def test_tiny_comparison_on_cuda(tmp_path):
    from paperfoundry_trainer import cli

    rc = cli.main(["train", "--impl", str(BASED), "--task", "mqar", "--budget", "tiny",
                   "--device", "cuda", "--out", str(tmp_path), "--steps", "10", "--seeds", "2",
                   "--lrs", "1e-2", "--workers", "2"])  # fmt: skip
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert rc == 0, metrics.get("failure")
    assert metrics["status"] == "ok" and metrics["device"] == "cuda"
    assert metrics["efficiency"]["candidate"]["peak_memory_kind"] == "cuda"


@pytest.mark.parametrize("task", ["mqar", "image", "diffusion"])
def test_cuda_batches_are_the_cpu_batches(task):
    """Batches reach the GPU by a non-blocking copy from pinned memory: the same values."""
    from paperfoundry_trainer.spec import get_budget

    budget = get_budget(task, "tiny")
    cpu = make_task(task, budget.spec, budget.task_args, "cpu")
    gpu = make_task(task, budget.spec, budget.task_args, setup_device("cuda"))
    for step in range(3):
        a, b = cpu.batch(8, 0, step), gpu.batch(8, 0, step)
        flat_a, flat_b = torch.utils._pytree.tree_leaves(a), torch.utils._pytree.tree_leaves(b)
        assert all(t.device.type == "cuda" for t in flat_b)
        assert all(torch.equal(x, y.cpu()) for x, y in zip(flat_a, flat_b, strict=True))
