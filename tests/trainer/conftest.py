"""Shared helpers for the trainer tests: paths, small candidate files, CLI runs.

Every full comparison starts a process per training run, and each costs ~4 s of CPU before
it trains (importing torch, and torch._dynamo, which the optimiser pulls in), so end-to-end
tests use the `tiny` budget or short `--steps` overrides, one learning rate where the sweep
itself is not under test, and share runs through session fixtures where several tests only
read the same result. They are marked `slow`; `-m "not slow"` runs the rest in under a
minute.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[2]
TRAINER_ROOT = ROOT / "containers" / "trainer"
LIBRARY = ROOT / "lambdas" / "paperfoundry" / "library"
BASED = LIBRARY / "based_2402_18668.py"
TOKENFORMER = LIBRARY / "tokenformer_2410_23168.py"

if str(TRAINER_ROOT) not in sys.path:
    sys.path.insert(0, str(TRAINER_ROOT))

# BASED on MQAR at the tiny budget, one LR: the happy path, and the uninterrupted run the
# resume test compares against (same arguments, so the same comparison).
BASED_TINY = ["--impl", str(BASED), "--task", "mqar", "--budget", "tiny", "--device", "cpu",
              "--lrs", "1e-2"]  # fmt: skip

# A small causal model (embeddings, causal depthwise conv, MLP) sized to the budget with a
# closed-form parameter count: cheap to build in every process. `Model.extra` is the hook
# the variants below replace.
CAUSAL_MODEL = """
import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self, vocab_size, seq_len, d):
        super().__init__()
        self.emb = nn.Embedding(vocab_size, d)
        self.pos = nn.Embedding(seq_len, d)
        self.conv = nn.Conv1d(d, d, kernel_size=3, padding=2, groups=d)
        self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))
        self.head = nn.Linear(d, vocab_size, bias=False)

    def forward(self, idx):
        T = idx.shape[1]
        x = self.emb(idx) + self.pos(torch.arange(T, device=idx.device))
        x = x + self.conv(x.transpose(1, 2))[..., :T].transpose(1, 2)
        x = x + self.mlp(x)
        return self.head(self.extra(idx, x))

    def extra(self, idx, x):
        return x


def n_params(spec, d):
    return 2 * spec.vocab_size * d + spec.seq_len * d + 4 * d + 4 * d * d + 3 * d


def build_model(spec):
    d = min(range(4, 4096, 4), key=lambda d: abs(n_params(spec, d) - spec.param_budget))
    return Model(spec.vocab_size, spec.seq_len, d)
"""

# Causal at the validation shape (batch 2), reads the next token at every other batch size.
PEEKS_UNLESS_BATCH_2 = (
    CAUSAL_MODEL
    + """

def _peek(self, idx, x):
    if idx.shape[0] != 2:
        x = x + self.emb(torch.roll(idx, -1, 1))
    return x


Model.extra = _peek
"""
)

# Validates (batch 2) but fails in training (the training batch size).
FAILS_IN_TRAINING = (
    CAUSAL_MODEL
    + """

def _fail(self, idx, x):
    if self.training and idx.shape[0] != 2:
        raise RuntimeError("this model only works at batch size 2")
    return x


Model.extra = _fail
"""
)


LM_CLAIM = """
CLAIMS = [{"id": "bpb", "statement": "models bytes as well as a Transformer", "task": "lm",
           "metric": "bpb", "comparison": "equivalent"}]
"""


def subprocess_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(TRAINER_ROOT), env.get("PYTHONPATH")) if p)
    env["PYTHONWARNINGS"] = "ignore"
    return env


def write_impl(directory: Path, name: str, body: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(body)
    return path


def run_train(args: list[str], out: Path) -> SimpleNamespace:
    """`paperfoundry_trainer train ARGS --out OUT` in this process, its stdout and stderr
    captured; metrics.json parsed when there is one."""
    from paperfoundry_trainer.cli import main

    stdout, stderr = io.StringIO(), io.StringIO()
    old = signal.getsignal(signal.SIGTERM)
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            rc = main(["train", *args, "--out", str(out)])
    finally:
        signal.signal(signal.SIGTERM, old)
    path = out / "metrics.json"
    metrics = json.loads(path.read_text()) if path.is_file() else None
    return SimpleNamespace(
        rc=rc, out=out, metrics=metrics, stdout=stdout.getvalue(), stderr=stderr.getvalue()
    )


def by_name(items: list[dict], name: str) -> dict:
    return next(i for i in items if i.get("name", i.get("model", i.get("id"))) == name)


@pytest.fixture(autouse=True)
def _restore_sigterm():
    """cli.main installs a SIGTERM handler; keep pytest's own afterwards."""
    old = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, old)


@pytest.fixture(autouse=True)
def _private_tempdir(tmp_path, monkeypatch):
    """The built-in LM corpus goes to tempfile.gettempdir(): keep it in this test's tmp."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


@pytest.fixture(scope="session")
def based_tiny(tmp_path_factory):
    """One uninterrupted BASED-vs-baseline comparison (tiny), shared by several tests."""
    run = run_train(BASED_TINY, tmp_path_factory.mktemp("based_tiny") / "out")
    assert run.rc == 0, run.stderr[-3000:]
    return run


def make_opt_ml(root: Path, mp: pytest.MonkeyPatch, impl: Path, hps: dict) -> Path:
    """A SageMaker /opt/ml tree under `root` (hyperparameters as strings, the impl channel),
    pointed at by the environment variables SageMaker sets."""
    (root / "input" / "config").mkdir(parents=True)
    (root / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hps))
    impl_dir = root / "input" / "data" / "impl"
    impl_dir.mkdir(parents=True)
    (impl_dir / impl.name).write_bytes(impl.read_bytes())
    mp.setenv("PF_OPT_ML", str(root))
    for var in ("SM_HPS", "SM_OUTPUT_DATA_DIR", "SM_CHANNEL_DATA", "PF_CHECKPOINT_DIR"):
        mp.delenv(var, raising=False)
    mp.setenv("SM_CHANNEL_IMPL", str(impl_dir))
    mp.setenv("SM_MODEL_DIR", str(root / "model"))
    return root


@pytest.fixture(scope="session")
def lm_tiny_sagemaker(tmp_path_factory):
    """SageMaker mode, `lm` at the tiny budget without a data channel (the built-in corpus),
    candidate = PEEKS_UNLESS_BATCH_2: one run serves the SageMaker contract, the offline LM
    path and the causality probe (test_sagemaker.py, test_verdicts.py)."""
    from paperfoundry_trainer.cli import main

    base = tmp_path_factory.mktemp("lm_tiny_sagemaker")
    impl = write_impl(base, "peek.py", PEEKS_UNLESS_BATCH_2 + LM_CLAIM)
    hps = {"task": "lm", "budget": "tiny", "steps": "10", "seeds": "2", "device": "cpu",
           "paper_params": "1300000000", "lrs": "[0.003]"}  # fmt: skip
    stdout, stderr = io.StringIO(), io.StringIO()
    old = signal.getsignal(signal.SIGTERM)
    with pytest.MonkeyPatch.context() as mp:
        root = make_opt_ml(base / "opt_ml", mp, impl, hps)
        mp.setattr(tempfile, "tempdir", str(base))  # where the built-in corpus goes
        try:
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                rc = main([])
        finally:
            signal.signal(signal.SIGTERM, old)
    metrics = json.loads((root / "model" / "metrics.json").read_text())
    return SimpleNamespace(
        rc=rc, root=root, corpus=base / "paperfoundry-corpus", metrics=metrics,
        stdout=stdout.getvalue(), stderr=stderr.getvalue(),
    )  # fmt: skip


def hadolint_binary() -> str | None:
    import shutil

    local = Path(sys.executable).parent / "hadolint"
    return str(local) if local.exists() else shutil.which("hadolint")
