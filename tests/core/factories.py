"""Small builders for domain objects used across core tests."""

from __future__ import annotations

from datetime import date

from paperfoundry.models import Paper, SourceSignals

DAY = date(2026, 11, 20)


def paper(
    arxiv_id: str,
    title: str,
    abstract: str = "",
    *,
    day: date = DAY,
    upvotes: int | None = None,
    comments: int | None = None,
    repo: str | None = None,
    stars: int | None = None,
    categories: list[str] | None = None,
) -> Paper:
    signals = {}
    if upvotes is not None or comments is not None or repo is not None:
        signals["huggingface"] = SourceSignals(
            source="huggingface",
            upvotes=upvotes,
            comments=comments,
            github_repo=repo,
            github_stars=stars,
        )
    if categories:
        signals["arxiv"] = SourceSignals(source="arxiv", categories=categories, announce_type="new")
    return Paper(
        arxiv_id=arxiv_id,
        title=title,
        abstract=abstract,
        day=day,
        categories=categories or [],
        signals=signals,
    )


BASED = paper(
    "2402.18668",
    "Simple linear attention language models balance the recall-throughput tradeoff",
    "We propose BASED, combining linear attention and sliding window attention, to "
    "traverse the pareto frontier of the recall-memory tradeoff of language models.",
    upvotes=120,
    comments=8,
    repo="HazyResearch/based",
    stars=900,
    categories=["cs.CL", "cs.LG"],
)
GNN = paper(
    "2003.00982",
    "Benchmarking Graph Neural Networks",
    "A benchmark framework for graph neural networks on molecular datasets such as ZINC.",
    upvotes=30,
    comments=1,
    categories=["cs.LG"],
)
CRYPTO = paper(
    "2411.00001",
    "Side channels in homomorphic encryption hardware",
    "We attack lattice cryptography implementations with power side channels.",
    upvotes=300,
    comments=20,
    categories=["cs.CR"],
)
