"""CLI tests: each runs in its own empty directory (no ./paperfoundry.toml, no
$PAPERFOUNDRY_CONFIG unless it sets one), with every HTTP request mocked: a request no test
expects fails the test."""

from __future__ import annotations

from pathlib import Path

import pytest
import respx
from paperfoundry.cli import main
from paperfoundry.sources import arxiv

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PAPERFOUNDRY_CONFIG", raising=False)
    monkeypatch.delenv("PF_CORPUS_URL", raising=False)


@pytest.fixture(autouse=True)
def net():
    """Every HTTP request goes through this router; unmatched ones raise."""
    arxiv.RATE_LIMITER.reset()
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        yield router
    arxiv.RATE_LIMITER.reset()


@pytest.fixture
def pf(capsys):
    """`pf(*args)`: `paperfoundry ARGS` in this process -> (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run
