"""The throughput benchmark runs and writes its JSON, and the harness's fast step paths
(training mode set only when needed, the clip without per-call grouping) train bit for bit
like the textbook step (`model.train()` and `clip_grad_norm_` every step)."""

import json
import subprocess
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from paperfoundry_trainer.baseline import RefConfig, build
from paperfoundry_trainer.tasks import IGNORE
from paperfoundry_trainer.train import TrainConfig, Trainer, clip_grad_norm, lr_at

ROOT = Path(__file__).resolve().parents[2]
CPU = torch.device("cpu")
CFG = RefConfig(kind="gpt", vocab_size=64, seq_len=16, n_layer=2, d_model=32, mlp=True)


class Tokens:
    vocab_size = 64

    def batch(self, batch_size, seed, step):
        g = torch.Generator().manual_seed(seed * 1_000_003 + step)
        x = torch.randint(0, 64, (batch_size, 17), generator=g)
        return x[:, :-1], x[:, 1:]


class WithDropout(torch.nn.Module):
    """Training mode matters: dropout draws from the RNG only in training mode."""

    def __init__(self):
        super().__init__()
        self.body = build(CFG)
        self.drop = torch.nn.Dropout(0.2)

    def forward(self, idx):
        return self.drop(self.body(idx))


def textbook_step(tr: Trainer) -> None:
    """Trainer.train_step as it was written before the fast paths."""
    for group in tr.opt.param_groups:
        group["lr"] = lr_at(tr.step, tr.cfg)
    x, y = tr.task.batch(tr.cfg.batch_size, tr.seed, tr.step)
    tr.model.train()
    logits = tr.forward(x)
    loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), ignore_index=IGNORE)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(tr.params, tr.cfg.grad_clip)
    tr.opt.step()
    tr.opt.zero_grad(set_to_none=True)
    tr.step += 1


def _trainer(build_eval_sub: bool) -> Trainer:
    torch.manual_seed(0)
    model = WithDropout()
    if build_eval_sub:  # a model that leaves a part in eval mode when built
        model.drop.eval()
    cfg = TrainConfig(steps=12, batch_size=4, lr=3e-2, grad_clip=0.05, log_every=4)
    return Trainer(model, Tokens(), cfg, 0, CPU)


def test_fast_step_is_bit_identical_to_the_textbook_step():
    for eval_sub in (False, True):
        fast, ref = _trainer(eval_sub), _trainer(eval_sub)
        torch.manual_seed(1)
        for i in range(12):
            if i in (3, 7):  # predict/bench switch the model to eval between steps
                fast.model.eval()
            fast.train_step()
        torch.manual_seed(1)
        for i in range(12):
            if i in (3, 7):
                ref.model.eval()
            textbook_step(ref)
        for (name, a), (_, b) in zip(
            fast.model.named_parameters(), ref.model.named_parameters(), strict=True
        ):
            assert torch.equal(a, b), name
        assert fast.model.drop.training and ref.model.drop.training


def test_clip_matches_the_library_bit_for_bit():
    torch.manual_seed(0)
    one = [torch.nn.Parameter(torch.randn(5, 3)), torch.nn.Parameter(torch.randn(7))]
    mixed = [torch.nn.Parameter(torch.randn(4)), torch.nn.Parameter(torch.randn(3).double())]
    none = [torch.nn.Parameter(torch.randn(2))]  # no gradient: untouched, no error
    for params, scale in ((one, 10.0), (one, 1e-3), (mixed, 10.0)):
        grads = [torch.randn_like(p) * scale for p in params]
        for p, g in zip(params, grads, strict=True):
            p.grad = g.clone()
        clip_grad_norm(params, 1.0)
        ours = [p.grad.clone() for p in params]
        for p, g in zip(params, grads, strict=True):
            p.grad = g.clone()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        assert all(torch.equal(a, p.grad) for a, p in zip(ours, params, strict=True))
    clip_grad_norm(none, 1.0)
    assert none[0].grad is None


def test_benchmark_writes_its_figures(tmp_path):
    out = tmp_path / "ht.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "harness_throughput.py"), "--device",
           "cpu", "--tiny", "--reps", "2", "--sub-blocks", "2", "--steps", "2", "--warmup", "1",
           "--threads", "1", "--json", str(out)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(out.read_text())
    assert data["schema"] == 1 and data["settings"]["reps"] == 2
    assert len(data["sizes"]) == 3
    for size in data["sizes"]:
        for kind in ("train", "infer"):
            fig = size[kind]
            assert fig["steps_per_block"] == 2
            for path in ("harness", "plain"):
                assert len(fig[path]["values"]) == 2 and fig[path]["median"] > 0
                assert fig[path]["min"] <= fig[path]["median"] <= fig[path]["max"]
                assert 0 < fig[path]["mfu"]
            assert len(fig["ratio"]["values"]) == 2 and fig["ratio"]["median"] > 0
            assert isinstance(fig["ratio"]["slower"], bool)
    assert "ratio" in proc.stdout
