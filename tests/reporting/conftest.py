"""Fixtures for the reporting tests."""

from __future__ import annotations

import pytest

from .factories import build_report


@pytest.fixture
def report():
    """A fresh realistic DayReport (64 ranked papers, 3 picks, 1 failed source)."""
    return build_report()
