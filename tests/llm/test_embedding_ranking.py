"""Embeddings in the day's ranking, through the chain: ingest embeds the day's papers and
the profile once (cached in the blob store, accounted in the ledger), the rank step scores
each paper by its cached embedding; without an LLM, or when embedding fails, TF-IDF."""

from __future__ import annotations

import pytest
from paperfoundry import chain, pipeline
from paperfoundry.adapters.local.blobs import FileBlobStore
from paperfoundry.adapters.local.queue import InProcessQueue
from paperfoundry.config import Config, ProfilePaper
from paperfoundry.models import SourceStatus

from tests.fakes.openai_server import error

from .conftest import DAY
from .test_embeddings import MODEL, OFF_TOPIC, TOPIC, paper


@pytest.fixture
def day(tmp_path, store, make_llm):
    config = Config()
    config.interests.profile = ""
    config.interests.papers = [ProfilePaper(title=t, abstract=t) for t in TOPIC]
    config.llm.embedding_model = MODEL
    papers = [paper(i, t, t) for i, t in enumerate(["Linear attention for key recall"] + OFF_TOPIC)]
    store.upsert_papers(papers)
    store.save_sources(DAY, [SourceStatus(name="huggingface", ok=True, papers=len(papers))])
    llm = make_llm(embedding_model=MODEL)
    queue = InProcessQueue()
    p = chain.Ports(store=store, blobs=FileBlobStore(tmp_path / "b"), config=config, queue=queue)
    p.llm = lambda _day: llm
    return p, queue, papers


def rank_all(p: chain.Ports, queue: InProcessQueue) -> dict[str, str]:
    context = pipeline.load_context(p.blobs, DAY)
    for message in queue.drain():
        pipeline.rank(DAY, message["arxiv_id"], store=p.store, context=context, blobs=p.blobs)
    return {
        s.arxiv_id: next(c.detail for c in s.components if c.name == "relevance")
        for s in p.store.scores_for_day(DAY)
    }


def test_ingest_embeds_once_and_rank_scores_by_embedding(fake, day):
    p, queue, papers = day
    chain.ingest(p, DAY)
    details = rank_all(p, queue)
    assert all(d.startswith("embedding fit") and MODEL in d for d in details.values())
    ranked = [s.arxiv_id for s in p.store.scores_for_day(DAY)]
    assert ranked[0] == papers[0].arxiv_id  # the on-topic paper first
    embeds = [c for c in p.store.llm_calls_for_day(DAY) if c.step == "embed"]
    assert embeds and all(c.ok and c.prompt_tokens > 0 for c in embeds)
    requests = len(fake.embedding_requests)
    p.store.clear_scores(DAY)
    chain.ingest(p, DAY)  # a second ingest (a retried step) pays for nothing again
    rank_all(p, queue)
    assert len(fake.embedding_requests) == requests


def test_embedding_failure_falls_back_to_tf_idf_with_a_note(fake, day):
    p, queue, _ = day
    for _ in range(3):  # the SDK's tries
        fake.add("embed", error(500, "embedding backend down"))
    chain.ingest(p, DAY)
    details = rank_all(p, queue)
    assert not any(d.startswith("embedding") for d in details.values())
    notes = p.store.get_day_state(DAY).notes
    assert any(n.startswith("embeddings unavailable (LLMUnavailable)") for n in notes)


def test_without_an_llm_the_ranking_is_tf_idf(fake, day):
    p, queue, _ = day
    p.llm = lambda _day: None
    chain.ingest(p, DAY)
    details = rank_all(p, queue)
    assert not any(d.startswith("embedding") for d in details.values())
    assert fake.embedding_requests == []
