"""Make `paperfoundry_trainer` importable from the source tree and share helpers."""

from __future__ import annotations

import os
import random
import shutil
import signal
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TRAINER_ROOT = ROOT / "containers" / "trainer"
LIBRARY = ROOT / "lambdas" / "paperfoundry" / "library"
BASED = LIBRARY / "based_2402_18668.py"
TOKENFORMER = LIBRARY / "tokenformer_2410_23168.py"

if str(TRAINER_ROOT) not in sys.path:
    sys.path.insert(0, str(TRAINER_ROOT))


def subprocess_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(TRAINER_ROOT), env.get("PYTHONPATH")) if p)
    env["PYTHONWARNINGS"] = "ignore"
    return env


def make_corpus(directory: Path, n_bytes: int = 20_000) -> Path:
    """A small deterministic English-like corpus split into train.txt / val.txt."""
    rng = random.Random(0)
    words = (
        "the of and to in is that it was for on are as with his they at be this from "
        "have or by one had not but what all were when we there can an your which their "
        "said if do will each about how up out them then she many some so these would"
    ).split()
    text, size = [], 0
    while size < n_bytes:
        line = " ".join(rng.choice(words) for _ in range(rng.randint(4, 12))).capitalize() + ".\n"
        text.append(line)
        size += len(line)
    raw = "".join(text)
    cut = int(len(raw) * 0.9)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "train.txt").write_text(raw[:cut])
    (directory / "val.txt").write_text(raw[cut:])
    return directory


@pytest.fixture
def corpus(tmp_path) -> Path:
    return make_corpus(tmp_path / "corpus")


@pytest.fixture(autouse=True)
def _restore_sigterm():
    """cli.main installs a SIGTERM handler; keep pytest's own afterwards."""
    old = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, old)


@pytest.fixture
def impl_dir(tmp_path) -> Path:
    d = tmp_path / "impls"
    d.mkdir()
    return d


def write_impl(directory: Path, name: str, body: str) -> Path:
    path = directory / name
    path.write_text(body)
    return path


def hadolint_binary() -> str | None:
    local = Path(sys.executable).parent / "hadolint"
    return str(local) if local.exists() else shutil.which("hadolint")
