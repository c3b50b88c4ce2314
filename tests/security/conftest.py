"""Helpers for the jail's security tests: attack files run through the real validation path.

Each attack is an implementation file that misbehaves at import time (the static checks are
bypassed on purpose: these tests assume the lint was fooled). It records what it managed to
do in a short JSON report and raises it, so the report comes back in the harness's
structured failure ("PFREPORT {...}"). The tests then assert, on the host, that each effect
is absent: no file written, no secret read back, no connection made, no process left.

Without a working jail these tests skip (PAPERFOUNDRY_REQUIRE_JAIL=1 makes that a failure,
for machines that must prove the jail, like CI with bubblewrap installed).
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest
from paperfoundry.adapters.local.sandbox import SandboxValidator
from paperfoundry_trainer import jail

# A small causal model that passes the harness's validation at the tiny mqar budget.
BENIGN = """
import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self, vocab_size, seq_len, d):
        super().__init__()
        self.emb = nn.Embedding(vocab_size, d)
        self.pos = nn.Embedding(seq_len, d)
        self.conv = nn.Conv1d(d, d, kernel_size=4, padding=3, groups=d)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab_size, bias=False)

    def forward(self, idx):
        B, T = idx.shape
        x = self.emb(idx) + self.pos(torch.arange(T, device=idx.device))
        x = x + self.conv(x.transpose(1, 2))[..., :T].transpose(1, 2)
        return self.head(self.norm(x))


def _n(spec, d):
    with torch.device("meta"):
        return sum(p.numel() for p in Model(spec.vocab_size, spec.seq_len, d).parameters())


def build_model(spec):
    d = min(range(8, 1025, 8), key=lambda d: abs(_n(spec, d) - spec.param_budget))
    return Model(spec.vocab_size, spec.seq_len, d)
"""

# Prepended to every attack: a report the attack fills and raises at the end.
PROLOGUE = """
import json, os, sys
REPORT = {}
def attempt(name, fn):
    try:
        REPORT[name] = "ok:" + str(fn())[:80]
    except BaseException as exc:
        REPORT[name] = "denied:" + type(exc).__name__ + ":" + str(exc)[:60]
"""
RAISE_REPORT = '\nraise RuntimeError("PFREPORT " + json.dumps(REPORT))\n'


def require_jail() -> None:
    reason = jail.probe()
    if reason is None:
        return
    if os.environ.get("PAPERFOUNDRY_REQUIRE_JAIL") == "1":
        pytest.fail(f"no jail here, and PAPERFOUNDRY_REQUIRE_JAIL=1: {reason}")
    pytest.skip(f"no jail here: {reason}")


@pytest.fixture
def jailed():
    """Skips (or fails, with PAPERFOUNDRY_REQUIRE_JAIL=1) where no jail works."""
    require_jail()


def validate_attack(body: str, *, report: bool = True, timeout: float = 120) -> dict:
    """Run an attack through the implementer's own validation path (SandboxValidator)."""
    source = PROLOGUE + body + BENIGN + (RAISE_REPORT if report else "")
    return SandboxValidator("tiny", timeout_seconds=timeout).check(source, "attack.py", "mqar")


def report_of(result: dict) -> dict[str, str]:
    """The attack's own account of what it managed, from the structured failure."""
    assert not result["ok"], "the attack file should have raised its report"
    message = result["failure"]["message"]
    assert message.startswith("PFREPORT "), result["failure"]
    return json.loads(message[len("PFREPORT ") :])


def marker() -> str:
    """A unique word to find an attack's processes in the host's /proc."""
    return f"pfjailmark{uuid.uuid4().hex[:16]}"


def processes_with(word: str) -> list[int]:
    """Host pids whose command line contains `word` (jailed ones are visible from here)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if word.encode() in cmdline:
            found.append(int(entry.name))
    return found
