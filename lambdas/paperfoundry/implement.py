"""Implement step: resolve a pick to an implementation the harness can train.

Order: the reference library shipped in `paperfoundry/library/` (keyed by arXiv id), then
an LLM implementer when one is configured (`codegen.implementer.LLMImplementer`).
Without either the pick is reported as not implemented, never faked.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from importlib import resources
from typing import Protocol

from .models import Implementation, Paper

LIBRARY_ORIGIN = "paperfoundry reference library"
NO_LLM = "no LLM configured"


class Implementer(Protocol):
    """Writes an implementation for a paper (`codegen.implementer.LLMImplementer`)."""

    def implement(self, paper: Paper) -> Implementation: ...


@cache
def _catalog() -> dict[str, dict]:
    text = resources.files("paperfoundry.library").joinpath("catalog.json").read_text()
    return {entry["arxiv_id"]: entry for entry in json.loads(text)}


def library_ids() -> set[str]:
    return set(_catalog())


def from_library(arxiv_id: str) -> Implementation | None:
    entry = _catalog().get(arxiv_id)
    if entry is None:
        return None
    source = resources.files("paperfoundry.library").joinpath(entry["file"]).read_text()
    return Implementation(
        arxiv_id=arxiv_id,
        status="implemented",
        name=entry["name"],
        task=entry.get("task") or entry.get("tasks", ["mqar"])[0],
        file_name=entry["file"],
        source_code=source,
        sha256=hashlib.sha256(source.encode()).hexdigest(),
        provenance="reference",
        origin=LIBRARY_ORIGIN,
        paper_params=entry.get("paper_params"),
    )


def implement(paper: Paper, implementer: Implementer | None = None) -> Implementation:
    found = from_library(paper.arxiv_id)
    if found is not None:
        return found
    if implementer is None:
        return Implementation(arxiv_id=paper.arxiv_id, status="not_implemented", reason=NO_LLM)
    try:
        return implementer.implement(paper)
    except Exception as exc:  # noqa: BLE001 - an implementer failure must not stop the day
        if type(exc).__name__ == "LLMDeadline":
            raise  # out of time, not a failure: the step is tried again, nothing is recorded
        return Implementation(
            arxiv_id=paper.arxiv_id, status="failed", reason=f"{type(exc).__name__}: {exc}"
        )
