"""Real Hugging Face Daily Papers days through the project's parser: no error, no item
lost, no empty title, no title littered with LaTeX.

The fixtures (`tests/fixtures/hf_days/`, provenance in its README) are copied from the
shared data file; the full-file test reads that file itself and is skipped where it is
absent (CI has no `../shared`).
"""

from __future__ import annotations

import gzip
import json
import logging
import re
from datetime import date
from pathlib import Path

import pytest
from paperfoundry.sources.huggingface import parse_daily_papers
from paperfoundry.sources.normalize import parse_arxiv_ref

ROOT = Path(__file__).resolve().parents[2]
DAYS = ROOT / "tests" / "fixtures" / "hf_days"
SHARED_FILE = ROOT.parent / "shared" / "data" / "hf_daily_papers_dev.jsonl.gz"

# What LaTeX leaves behind when clean-up fails: a macro or any backslash, a `$` that is not
# a price ("$1 Million", "for 1$:"), braces.
LITTER = re.compile(r"\\|(?<!\d)\$(?!\d)|[{}]")


def load_days(path: Path) -> list[tuple[date, list]]:
    """(day, items) of a fixture (a JSON list of days) or of the shared file (JSON lines)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        text = handle.read()
    days = json.loads(text) if text.lstrip().startswith("[") else map(json.loads, text.splitlines())
    return [(date.fromisoformat(d["date"]), d["items"]) for d in days]


def _ids(items: list) -> set[str]:
    return {parse_arxiv_ref(item["paper"]["id"])[0] for item in items}


def check_days(days: list[tuple[date, list]], caplog) -> dict:
    """Parse every day; fail on a lost item, an empty or littered title, a parser warning,
    an abstract with a LaTeX macro left. Returns the figures (ids of changed titles)."""
    figures: dict = {"days": 0, "papers": 0, "titles changed": set()}
    with caplog.at_level(logging.WARNING, logger="paperfoundry"):
        for day, items in days:
            raw = {parse_arxiv_ref(i["paper"]["id"])[0]: i["paper"] for i in items}
            papers = parse_daily_papers(items, day)
            assert {p.arxiv_id for p in papers} == _ids(items), day
            for paper in papers:
                where = f"{day} {paper.arxiv_id}"
                assert paper.title, where
                assert not LITTER.search(paper.title), f"{where}: {paper.title!r}"
                assert not re.search(r"\\[A-Za-z]", paper.abstract), where
                if paper.title != " ".join(raw[paper.arxiv_id]["title"].split()):
                    figures["titles changed"].add(paper.arxiv_id)
            figures["days"] += 1
            figures["papers"] += len(papers)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    return figures


@pytest.mark.parametrize("name", ["2024-06-03.json", "2025-02-18.json", "2025-05-19.json"])
def test_whole_days_parse_cleanly(name, caplog):
    figures = check_days(load_days(DAYS / name), caplog)
    assert figures["days"] == 1 and figures["papers"] >= 6


def test_every_latex_title_and_abstract_of_the_263_days_cleans_up(caplog):
    days = load_days(DAYS / "latex_items.json.gz")
    figures = check_days(days, caplog)
    assert (figures["days"], figures["papers"]) == (162, 279)
    # the other three titles with LaTeX markers keep them as prices ("$1 Million", "1$:")
    assert figures["titles changed"] == {"2409.10836", "2503.21779", "2505.07675"}


def test_real_titles_and_abstracts_keep_their_words():
    days = load_days(DAYS / "latex_items.json.gz")
    latex = {p.arxiv_id: p for day, items in days for p in parse_daily_papers(items, day)}
    titles = {pid: latex[pid].title for pid in latex}
    # prices: a lone `$` before a digit (or after one) is a dollar sign, not math
    assert titles["2502.12115"] == (
        "SWE-Lancer: Can Frontier LLMs Earn $1 Million from Real-World Freelance Software "
        "Engineering?"
    )
    assert titles["2503.09642"].endswith("Video Generation Model in $200k")
    assert titles["2505.13103"] == "Fixing 7,400 Bugs for 1$: Cheap Crash-Site Program Repair"
    # a macro name that lost its backslash upstream; scripts outside math
    assert titles["2505.07675"].endswith("via Dual-Head Optimization")
    assert titles["2503.21779"].startswith("X²-Gaussian: 4D Radiative Gaussian Splatting")
    assert titles["2409.10836"].endswith("(SL²A-INR)")
    abstracts = {pid: latex[pid].abstract for pid in latex}
    assert "valued at $1 million USD" in abstracts["2502.12115"]  # "\1 million": `\$1` eaten
    assert "Llama 3.1 70B with method even achieves" in abstracts["2410.18745"]  # \method
    assert "we introduce GitChameleon, a novel" in abstracts["2411.05830"]  # \GitChameleon{}
    assert "adapters (i.e., MOFA-Adapters)" in abstracts["2405.20222"]  # \ie
    assert "at a cost of only $25 and without" in abstracts["2406.11939"]
    assert "in 360° unbounded scenes" in abstracts["2502.05176"]  # 360{\deg}
    assert "we propose FastCuRL, a simple" in abstracts["2503.17287"]  # \textsc{FastCuRL}
    hf = abstracts["2505.14464"]  # \href{url{label}, url{label}.}.: both URLs survive
    assert "https://huggingface.co/datasets/a-m-team/AM-Thinking-v1-Distilled" in hf
    assert "https://huggingface.co/datasets/a-m-team/AM-Qwen3-Distilled" in hf
    assert abstracts["2407.12327"].endswith("https://github.com/NolanoOrg/SpectraSuite.")


@pytest.mark.skipif(
    not SHARED_FILE.exists(),
    reason=f"the shared data file {SHARED_FILE} is absent (CI has no ../shared); "
    "tests/fixtures/hf_days holds the parts the other tests need",
)
def test_all_263_shared_days_parse_with_clean_titles(caplog):
    figures = check_days(load_days(SHARED_FILE), caplog)
    assert (figures["days"], figures["papers"]) == (263, 3749)
    assert figures["titles changed"] == {"2409.10836", "2503.21779", "2505.07675"}
