"""End-to-end `train`: the happy path's outputs, and structured failures for broken impls."""

from __future__ import annotations

import json
import re
import struct
import zlib

import pytest
from conftest import BASED, write_impl
from paperfoundry_trainer.cli import main

METRICS_KEYS = {
    "schema",
    "status",
    "task",
    "budget",
    "impl",
    "device",
    "failure",
    "metric",
    "params",
    "sweep",
    "final",
    "verdict",
    "curves",
    "tokens_per_run",
    "steps",
    "wall_seconds",
    "plots",
}
VERDICT_KEYS = {
    "outcome",
    "metric",
    "higher_is_better",
    "candidate_mean",
    "baseline_mean",
    "candidate_std",
    "baseline_std",
    "effect",
    "toy_scale",
    "summary",
}
# the MetricDefinitions regexes documented in containers/trainer/README.md
METRIC_REGEXES = [
    r"pf_metric model=candidate .*train_loss=([0-9.eE+-]+)",
    r"pf_metric model=baseline .*train_loss=([0-9.eE+-]+)",
    r"pf_final model=candidate value=([0-9.eE+-]+)",
    r"pf_final model=baseline value=([0-9.eE+-]+)",
    r"pf_verdict outcome=\w+ effect=([0-9.eE+-]+)",
]


def read_png(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        tag, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(tag + body) & 0xFFFFFFFF
        chunks[tag] = chunks.get(tag, b"") + body
        pos += 12 + length
    w, h, depth, color = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, color) == (8, 2)
    assert len(zlib.decompress(chunks[b"IDAT"])) == h * (1 + 3 * w)
    return w, h


def test_happy_path_writes_metrics_and_plot(tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(
        [
            "train",
            "--impl",
            str(BASED),
            "--task",
            "mqar",
            "--budget",
            "tiny",
            "--device",
            "cpu",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text())
    assert set(m) >= METRICS_KEYS
    assert m["status"] == "ok" and m["failure"] is None and m["schema"] == 1
    assert m["metric"] == {"name": "query_accuracy", "higher_is_better": True}
    assert set(m["verdict"]) == VERDICT_KEYS
    assert m["verdict"]["outcome"] in ("better", "worse", "inconclusive")
    assert m["verdict"]["toy_scale"] is True
    assert m["impl"] == BASED.name and m["device"] == "cpu" and m["budget"] == "tiny"
    assert len(m["sweep"]) == 6  # 3 lrs x 2 models
    for model in ("baseline", "candidate"):
        f = m["final"][model]
        assert f["seeds"] == [0, 1] and len(f["values"]) == 2
        assert set(m["curves"][model]) == {"0", "1"}
        assert m["curves"][model]["0"]["step"][-1] == m["steps"]
        assert isinstance(m["params"][model], int)
    assert m["plots"] == ["loss_curves.png"]
    w, h = read_png(out / "loss_curves.png")
    assert w > 100 and h > 100
    stdout = capsys.readouterr().out
    for rx in METRIC_REGEXES:
        assert re.search(rx, stdout), rx


PAD = """
import torch
import torch.nn as nn


def pad_to_budget(module, spec):
    # an unused parameter that brings the count exactly to the budget
    n = sum(p.numel() for p in module.parameters())
    module.pad = nn.Parameter(torch.zeros(max(1, spec.param_budget - n)))
"""

BROKEN = {
    "syntax": ("import\n", "import", "SyntaxError"),
    "missing_module": (
        "import flash_attn_does_not_exist\n\ndef build_model(spec):\n    pass\n",
        "import",
        "ModuleNotFoundError",
    ),
    "wrong_shape": (
        """
import torch.nn as nn

class M(nn.Module):
    def __init__(self, spec):
        super().__init__()
        self.emb = nn.Embedding(spec.vocab_size, 64)
        self.mlp = nn.Linear(64, 64 * 6)
        pad_to_budget(self, spec)

    def forward(self, idx):
        return self.mlp(self.emb(idx))  # (B, T, 384): not vocab_size


def build_model(spec):
    return M(spec)
""",
        "shape",
        "ShapeError",
    ),
    "nan_output": (
        """
import torch
import torch.nn as nn

class M(nn.Module):
    def __init__(self, spec):
        super().__init__()
        self.emb = nn.Embedding(spec.vocab_size, 128)
        self.out = nn.Linear(128, spec.vocab_size)
        pad_to_budget(self, spec)

    def forward(self, idx):
        return self.out(self.emb(idx)) * float("nan")


def build_model(spec):
    return M(spec)
""",
        "finite",
        "NonFiniteError",
    ),
    "over_budget": (
        """
import torch.nn as nn

def build_model(spec):
    n = 3 * spec.param_budget // spec.vocab_size
    return nn.Sequential(nn.Embedding(spec.vocab_size, n), nn.Linear(n, spec.vocab_size))
""",
        "budget",
        "BudgetError",
    ),
    "runtime_error_in_forward": (
        """
import torch.nn as nn

class M(nn.Module):
    def __init__(self, spec):
        super().__init__()
        self.emb = nn.Embedding(spec.vocab_size, 128)
        self.out = nn.Linear(128, spec.vocab_size)
        pad_to_budget(self, spec)

    def forward(self, idx):
        h = self.emb(idx)
        return self.out(h.transpose(1, 2))  # wrong dim


def build_model(spec):
    return M(spec)
""",
        "forward",
        "RuntimeError",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_impl_gives_structured_failure(case, impl_dir, tmp_path, capsys):
    source, stage, exc_type = BROKEN[case]
    impl = write_impl(impl_dir, f"{case}.py", source if case == "syntax" else PAD + source)
    out = tmp_path / "out"
    rc = main(
        [
            "train",
            "--impl",
            str(impl),
            "--task",
            "mqar",
            "--budget",
            "tiny",
            "--device",
            "cpu",
            "--out",
            str(out),
        ]
    )
    assert rc == 2
    m = json.loads((out / "metrics.json").read_text())
    assert m["status"] == "failed" and m["verdict"] is None
    f = m["failure"]
    assert set(f) == {"stage", "type", "message", "traceback"}
    assert (f["stage"], f["type"]) == (stage, exc_type), f
    assert str(impl_dir) not in f["traceback"]  # paths are relative to the impl file
    if case in ("syntax", "runtime_error_in_forward"):
        assert impl.name in f["traceback"]
    assert "Traceback" not in capsys.readouterr().out  # no bare crash on stdout


def test_non_causal_impl_is_rejected(impl_dir, tmp_path):
    impl = write_impl(
        impl_dir,
        "peek.py",
        PAD
        + """
import torch
import torch.nn as nn

class M(nn.Module):
    def __init__(self, spec):
        super().__init__()
        self.emb = nn.Embedding(spec.vocab_size, 64)
        self.out = nn.Linear(64, spec.vocab_size)
        pad_to_budget(self, spec)

    def forward(self, idx):
        h = self.emb(idx)
        return self.out(h + h.mean(1, keepdim=True))  # sees the future


def build_model(spec):
    return M(spec)
""",
    )
    rc = main(
        [
            "train",
            "--impl",
            str(impl),
            "--task",
            "mqar",
            "--budget",
            "tiny",
            "--device",
            "cpu",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert rc == 2
    f = json.loads((tmp_path / "out" / "metrics.json").read_text())["failure"]
    assert (f["stage"], f["type"]) == ("forward", "CausalityError")


def test_bad_usage_exits_64(tmp_path):
    assert main(["train", "--impl", "x.py", "--task", "nope"]) == 64
