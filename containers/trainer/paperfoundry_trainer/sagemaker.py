"""The SageMaker training-job contract: paths, hyperparameters, checkpoints, SIGTERM.

Everything lives under one root, /opt/ml by default, overridable with PF_OPT_ML (tests use a
tmp tree). SageMaker's own SM_* variables win over the derived defaults:

  hyperparameters  SM_HPS (JSON) or <root>/input/config/hyperparameters.json (string values)
  channels         SM_CHANNEL_<NAME> or <root>/input/data/<name>   (impl, data)
  model dir        SM_MODEL_DIR or <root>/model                   (metrics.json)
  output data      SM_OUTPUT_DATA_DIR or <root>/output/data       (copy of metrics.json)
  failure file     <root>/output/failure                          (text, on failure only)
  checkpoints      <root>/checkpoints                             (synced to S3 by SageMaker)
"""

from __future__ import annotations

import json
import os
import signal
from dataclasses import dataclass
from pathlib import Path

import torch

CHECKPOINT_FILE = "pf_checkpoint.pt"


@dataclass
class Paths:
    model_dir: Path
    output_data_dir: Path | None = None
    failure_file: Path | None = None  # only written in SageMaker mode
    checkpoint_dir: Path | None = None


def opt_ml_root() -> Path:
    return Path(os.environ.get("PF_OPT_ML", "/opt/ml"))


def sagemaker_paths() -> Paths:
    root = opt_ml_root()
    return Paths(
        model_dir=Path(os.environ.get("SM_MODEL_DIR", root / "model")),
        output_data_dir=Path(os.environ.get("SM_OUTPUT_DATA_DIR", root / "output" / "data")),
        failure_file=root / "output" / "failure",
        checkpoint_dir=Path(os.environ.get("PF_CHECKPOINT_DIR", root / "checkpoints")),
    )


def channel(name: str) -> Path | None:
    path = os.environ.get(f"SM_CHANNEL_{name.upper()}") or opt_ml_root() / "input" / "data" / name
    path = Path(path)
    return path if path.is_dir() else None


def _parse_value(raw):
    """SageMaker passes every hyperparameter as a string: '3' '0.01' 'true' '[1, 2]' 'mqar'."""
    if not isinstance(raw, str):
        return raw
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def hyperparameters() -> dict:
    text = os.environ.get("SM_HPS")
    if not text:
        path = opt_ml_root() / "input" / "config" / "hyperparameters.json"
        text = path.read_text() if path.is_file() else "{}"
    return {k: _parse_value(v) for k, v in json.loads(text).items()}


def find_impl(impl_dir: Path, name: str | None = None) -> Path:
    if name:
        return impl_dir / name
    files = sorted(p for p in impl_dir.glob("*.py") if not p.name.startswith("_"))
    if len(files) != 1:
        raise FileNotFoundError(
            f"channel 'impl' ({impl_dir}) must hold exactly one .py file (found "
            f"{[p.name for p in files]}); or set the 'impl' hyperparameter to its name"
        )
    return files[0]


# --- checkpoints --------------------------------------------------------------------------


def save_checkpoint(directory: Path, state: dict) -> None:
    """Atomic: write a temp file, then rename, so a kill mid-save never corrupts it."""
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / (CHECKPOINT_FILE + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, directory / CHECKPOINT_FILE)


def load_checkpoint(directory: Path | None) -> dict | None:
    if directory is None or not (directory / CHECKPOINT_FILE).is_file():
        return None
    return torch.load(directory / CHECKPOINT_FILE, map_location="cpu", weights_only=True)


# --- SIGTERM --------------------------------------------------------------------------------


class StopFlag:
    """SIGTERM (SageMaker stop / spot interruption) only sets a flag; the train loop polls
    it, saves a checkpoint and exits, so we never die mid-write."""

    def __init__(self):
        self.requested = False

    def __call__(self) -> bool:
        return self.requested

    def install(self) -> StopFlag:
        def handler(signum, frame):
            self.requested = True

        signal.signal(signal.SIGTERM, handler)
        return self
