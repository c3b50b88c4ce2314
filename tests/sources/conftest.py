"""Shared helpers for the source tests: fixtures on disk, a fake clock, a recording sleep."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from paperfoundry.sources import arxiv

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "sources"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


class FakeClock:
    """A monotonic clock that only moves when someone sleeps (or `advance` is called)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client():
    with httpx.Client(timeout=httpx.Timeout(20.0, connect=5.0)) as http:
        yield http


@pytest.fixture(autouse=True)
def _fresh_rate_limiter():
    arxiv.RATE_LIMITER.reset()
    yield
    arxiv.RATE_LIMITER.reset()
