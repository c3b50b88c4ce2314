from paperfoundry.config import Config, Interests
from paperfoundry.ranking import build_context, score_paper
from paperfoundry.ranking.relevance import cosine, inverse_document_frequency, tokens, vectorize

from .factories import BASED, CRYPTO, DAY, GNN


def config(**interests) -> Config:
    """Interests stated by topics and keywords only (no profile papers): relevance is then
    the cosine to them on a fixed scale (`relevance_saturation`), as before profiles."""
    cfg = Config()
    cfg.interests = Interests(
        topics=["linear attention language models and recall"],
        keywords=["linear attention", "recall"],
        exclude_categories=["cs.CR"],
        profile="",
        **interests,
    )
    return cfg


def test_tokens_drop_stopwords_and_add_bigrams():
    assert tokens("The linear attention of models") == [
        "linear",
        "attention",
        "models",
        "linear attention",
        "attention models",
    ]


def test_cosine_of_identical_texts_is_one_and_of_disjoint_is_zero():
    idf = inverse_document_frequency(["linear attention", "graph networks"])
    a = vectorize("linear attention", idf, 1.0)
    assert abs(cosine(a, a) - 1.0) < 1e-9
    assert cosine(a, vectorize("graph networks", idf, 1.0)) == 0.0


def test_relevant_paper_outranks_popular_irrelevant_one_and_breakdown_adds_up():
    papers = [BASED, GNN, CRYPTO]
    ctx = build_context(DAY, papers, config())
    scores = {p.arxiv_id: score_paper(p, ctx) for p in papers}
    based, gnn = scores[BASED.arxiv_id], scores[GNN.arxiv_id]
    assert based.total > gnn.total
    relevance = next(c for c in based.components if c.name == "relevance")
    assert relevance.value > 0.5 and "linear attention" in relevance.detail
    for score in scores.values():
        assert abs(score.total - sum(c.contribution for c in score.components)) < 1e-3
        assert all(0.0 <= c.value <= 1.0 for c in score.components)


def test_upvotes_are_normalised_within_the_day():
    ctx = build_context(DAY, [BASED, GNN, CRYPTO], config())
    upvotes = {
        p.arxiv_id: next(c for c in score_paper(p, ctx).components if c.name == "upvotes").value
        for p in (BASED, GNN, CRYPTO)
    }
    assert upvotes[CRYPTO.arxiv_id] == 1.0  # the day's maximum
    assert 0 < upvotes[GNN.arxiv_id] < upvotes[BASED.arxiv_id] < 1.0


def test_excluded_category_is_marked_but_still_scored():
    ctx = build_context(DAY, [BASED, CRYPTO], config())
    score = score_paper(CRYPTO, ctx)
    assert score.excluded and "cs.CR" in score.excluded
    assert score_paper(BASED, ctx).excluded is None


def test_liked_papers_raise_similar_papers():
    ctx = build_context(DAY, [BASED, GNN], config(), liked_texts=["graph neural network benchmark"])
    liked = {
        p.arxiv_id: next(c for c in score_paper(p, ctx).components if c.name == "liked")
        for p in (BASED, GNN)
    }
    assert liked[GNN.arxiv_id].value > liked[BASED.arxiv_id].value


def test_paper_without_any_signals_scores_without_error():
    bare = BASED.model_copy(update={"arxiv_id": "2401.00002", "signals": {}, "abstract": ""})
    ctx = build_context(DAY, [bare], Config())
    score = score_paper(bare, ctx)
    assert score.total >= 0


def test_the_upvotes_detail_says_when_they_were_observed():
    from datetime import UTC, datetime

    seen = datetime(2026, 11, 20, 7, 5, tzinfo=UTC)
    hf = BASED.signals["huggingface"].model_copy(update={"observed_at": seen})
    paper = BASED.model_copy(update={"signals": {**BASED.signals, "huggingface": hf}})
    score = score_paper(paper, build_context(DAY, [paper, GNN], config()))
    upvotes = next(c for c in score.components if c.name == "upvotes")
    assert upvotes.detail.endswith("(as of 2026-11-20 07:05 UTC)")
    plain = score_paper(GNN, build_context(DAY, [paper, GNN], config()))
    assert "as of" not in next(c for c in plain.components if c.name == "upvotes").detail
