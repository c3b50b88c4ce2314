"""The bundled sample day: real papers in the HF API shape, made-up signals flagged."""

from __future__ import annotations

import json
from datetime import date
from importlib import resources

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
