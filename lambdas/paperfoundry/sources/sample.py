"""The bundled sample day: real papers, some made-up signals, for offline runs and demos.

`data/sample_day.json` is a list of items in the Hugging Face daily_papers API shape, read
by the same parser as the live API (source name "sample"). Each item lists the fields whose
values are made up under `"_synthetic"`; such papers get `SourceSignals.synthetic=True`.
Provenance: `data/SAMPLE_DAY.md`.
"""

from __future__ import annotations

import json
from datetime import date
from importlib import resources

from ..models import Paper
from .http import SourceError
from .huggingface import HFDailyItem, parse_daily_papers

SOURCE = "sample"
RESOURCE = "sample_day.json"


def _sample_date(items: list[dict]) -> date:
    """The listing day: the first item's `paper.submittedOnDailyAt`."""
    for raw in items:
        info = HFDailyItem.model_validate(raw).paper
        if info is not None and info.submittedOnDailyAt is not None:
            return info.submittedOnDailyAt.date()
    raise SourceError(SOURCE, "sample day has no submittedOnDailyAt date")


def load_sample_day() -> tuple[date, list[Paper]]:
    """(the sample's listing day, its papers)."""
    text = resources.files("paperfoundry.data").joinpath(RESOURCE).read_text(encoding="utf-8")
    try:
        items = json.loads(text)
    except ValueError as exc:
        raise SourceError(SOURCE, f"malformed JSON in {RESOURCE}: {exc}") from exc
    if not isinstance(items, list):
        raise SourceError(SOURCE, f"{RESOURCE} must hold a JSON list")
    day = _sample_date(items)
    return day, parse_daily_papers(items, day, source=SOURCE)
