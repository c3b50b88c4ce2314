"""The bundled sample day: real papers in the HF API shape, made-up signals flagged."""

from __future__ import annotations

import json
from datetime import date
from importlib import resources
from pathlib import Path

from paperfoundry.models import split_arxiv_id
from paperfoundry.sources.sample import load_sample_day


def test_sample_day_loads_with_based_and_tokenformer():
    day, papers = load_sample_day()
    assert day == date(2025, 3, 14)
    assert len(papers) >= 30
    by_id = {p.arxiv_id: p for p in papers}
    assert len(by_id) == len(papers)

    based = by_id["2402.18668"]
    assert based.title == (
        "Simple linear attention language models balance the recall-throughput tradeoff"
    )
    assert based.github_repo == "https://github.com/HazyResearch/based"
    tokenformer = by_id["2410.23168"]
    assert tokenformer.title.startswith("TokenFormer: Rethinking Transformer Scaling")
    assert tokenformer.github_repo == "https://github.com/Haiyang-W/TokenFormer"

    top = sorted(papers, key=lambda p: -(p.signals["sample"].upvotes or 0))[:2]
    assert {p.arxiv_id for p in top} == {"2402.18668", "2410.23168"}


def test_every_sample_paper_is_flagged_synthetic_and_well_formed():
    day, papers = load_sample_day()
    for paper in papers:
        sig = paper.signals["sample"]
        assert sig.source == "sample" and sig.synthetic is True
        assert sig.upvotes is not None and sig.comments is not None
        assert paper.day == day
        assert paper.title and len(paper.abstract) > 100
        split_arxiv_id(paper.arxiv_id)


def test_sample_json_is_in_the_hf_api_shape_and_lists_synthetic_fields():
    text = resources.files("paperfoundry.data").joinpath("sample_day.json").read_text("utf-8")
    items = json.loads(text)
    assert isinstance(items, list)
    for item in items:
        assert {"paper", "title", "summary", "numComments", "_synthetic"} <= set(item)
        assert {"id", "title", "summary", "upvotes", "submittedOnDailyAt"} <= set(item["paper"])
        assert {"upvotes", "numComments", "submittedOnDailyAt"} <= set(item["_synthetic"])
        if item["paper"].get("githubStars") is not None:
            assert "githubStars" in item["_synthetic"]


def test_the_added_library_papers_are_in_with_made_up_signals_that_do_not_lead():
    """ViT_C (image) and Lion (optimizer) come from arXiv, not the saved listing: their
    summaries are stand-ins flagged as made up, and their signals follow the same rule as
    every other paper's (they do not top the day)."""
    text = resources.files("paperfoundry.data").joinpath("sample_day.json").read_text("utf-8")
    items = {item["paper"]["id"]: item for item in json.loads(text)}
    _, papers = load_sample_day()
    by_id = {p.arxiv_id: p for p in papers}
    titles = {
        "2106.14881": "Early Convolutions Help Transformers See Better",
        "2302.06675": "Symbolic Discovery of Optimization Algorithms",
    }
    most = sorted((p.signals["sample"].upvotes or 0 for p in papers), reverse=True)
    for arxiv_id, title in titles.items():
        paper, item = by_id[arxiv_id], items[arxiv_id]
        assert paper.title == title and "not the arXiv abstract" in paper.abstract
        assert "summary" in item["_synthetic"] and paper.signals["sample"].synthetic
        assert paper.github_repo is None and paper.authors == []
        assert paper.signals["sample"].upvotes < most[2]
    # the other papers' abstracts are the listing's own, not flagged
    assert all("summary" not in i["_synthetic"] for k, i in items.items() if k not in titles)


def test_the_added_papers_text_is_the_builders_fixture():
    """What the builder adds (its ADDED table, text from sample_day_added.json) is what the
    bundled file holds: a pasted abstract reaches the file only through the builder."""
    fixture = Path(__file__).parents[1] / "fixtures/sources/sample_day_added.json"
    added = json.loads(fixture.read_text(encoding="utf-8"))
    _, papers = load_sample_day()
    by_id = {p.arxiv_id: p for p in papers}
    assert set(added) == {"2106.14881", "2302.06675"}
    for arxiv_id, entry in added.items():
        assert by_id[arxiv_id].title == entry["title"]
        assert by_id[arxiv_id].abstract == entry["summary"]
