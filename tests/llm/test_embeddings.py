"""Embeddings: `LLMClient.embed` and `ranking/embeddings.py` against the local fake
OpenAI-compatible server, with the real `openai` SDK and a FileBlobStore cache."""

from __future__ import annotations

import json
import math
import time

import pytest
from paperfoundry.adapters.local.blobs import FileBlobStore
from paperfoundry.config import Price
from paperfoundry.llm.accounting import (
    NOT_SENT,
    SpendCapReached,
    cost_usd,
    price_for,
    usage_summary,
)
from paperfoundry.llm.client import (
    EMBED_BATCH,
    Credentials,
    LLMClient,
    LLMDeadline,
    LLMError,
    LLMOutputError,
    LLMUnavailable,
)
from paperfoundry.models import Paper
from paperfoundry.ranking.embeddings import (
    cache_key,
    cosine,
    embed_papers,
    profile_cache_key,
    profile_embedding,
)
from paperfoundry.ranking.score import paper_text

from tests.fakes.openai_server import Reply, error, hashed_embedding, make_settings

from .conftest import DAY

MODEL = "text-embedding-3-small"

TOPIC = [
    "Linear attention transformers for associative recall",
    "State space models match attention on associative recall tasks",
    "Gated linear attention with efficient recall of keys and values",
    "Recurrent state space language models with linear attention",
    "Associative recall benchmark for subquadratic attention models",
    "Efficient attention alternatives: linear recurrent models and recall",
]
OFF_TOPIC = [
    "Protein folding with diffusion over molecular graphs",
    "Robotic grasping from tactile sensors in cluttered scenes",
    "Weather forecasting from satellite imagery at continental scale",
]


@pytest.fixture
def embedder(make_llm):
    def build(**overrides) -> LLMClient:
        return make_llm(embedding_model=MODEL, **overrides)

    return build


@pytest.fixture
def blobs(tmp_path):
    return FileBlobStore(tmp_path / "blobs")


def paper(i: int, title: str, abstract: str = "") -> Paper:
    return Paper(arxiv_id=f"2503.{i:05d}", title=title, abstract=abstract, day=DAY)


def unit_norm(vector: list[float]) -> float:
    return math.sqrt(sum(x * x for x in vector))


# -- the client ------------------------------------------------------------------------------


def test_embed_returns_unit_vectors_in_input_order_and_accounts_the_request(fake, embedder, store):
    fake.reverse_embeddings = True  # data arrive last input first: sorted by index
    texts = ["linear attention recall", "protein folding diffusion", "robot grasping"]
    llm = embedder()
    vectors = llm.embed(texts)
    assert vectors == [pytest.approx(hashed_embedding(t)) for t in texts]
    assert all(unit_norm(v) == pytest.approx(1.0) for v in vectors)
    [body] = fake.embedding_requests
    assert body["model"] == MODEL and body["input"] == texts
    assert body["encoding_format"] == "float"
    assert fake.requests == []  # no chat completion
    [call] = store.llm_calls_for_day(DAY)
    expected_tokens = sum(len(t) // 4 for t in texts)
    assert call.ok and call.step == "embed" and call.model == MODEL
    assert call.prompt_tokens == expected_tokens and call.completion_tokens == 0
    expected_cost = cost_usd(price_for(MODEL, llm.settings.prices), expected_tokens, 0, 0)
    assert call.cost_usd == pytest.approx(expected_tokens * 0.02 / 1e6) == expected_cost
    assert call.cost_usd > 0
    assert llm.spent_usd == pytest.approx(call.cost_usd)
    assert llm.models["embed"] == MODEL
    usage = usage_summary(store.llm_calls_for_day(DAY), cap_usd=5.0, models=llm.models)
    assert usage.by_step["embed"].calls == 1
    assert usage.by_step["embed"].prompt_tokens == expected_tokens
    assert usage.models["embed"] == MODEL


def test_replies_are_sorted_by_index_and_normalised(fake, embedder):
    raw = {
        "object": "list",
        "data": [
            {"object": "embedding", "index": 1, "embedding": [0.0, 2.0]},
            {"object": "embedding", "index": 0, "embedding": [3.0, 4.0]},
        ],
        "model": MODEL,
        "usage": {"prompt_tokens": 2, "total_tokens": 2},
    }
    fake.add("embed", Reply(json.dumps(raw)))
    assert embedder().embed(["a", "b"]) == [pytest.approx([0.6, 0.8]), pytest.approx([0.0, 1.0])]


def test_a_reply_with_too_few_vectors_is_an_output_error(fake, embedder, store):
    raw = {
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": [1.0, 0.0]}],
        "model": MODEL,
        "usage": {"prompt_tokens": 2, "total_tokens": 2},
    }
    fake.add("embed", Reply(json.dumps(raw)))
    with pytest.raises(LLMOutputError, match="1 embeddings for 2 inputs"):
        embedder().embed(["a", "b"])
    [call] = store.llm_calls_for_day(DAY)
    assert not call.ok and call.prompt_tokens == 2  # billed all the same


def test_requests_hold_at_most_96_inputs(fake, embedder, store):
    texts = [f"paper {i} about topic{i % 7} and method{i}" for i in range(200)]
    ids = [f"2503.{i:05d}" for i in range(200)]
    vectors = embedder().embed(texts, arxiv_ids=ids)
    assert EMBED_BATCH == 96
    assert [len(b["input"]) for b in fake.embedding_requests] == [96, 96, 8]
    assert [b["input"] for b in fake.embedding_requests] == [texts[:96], texts[96:192], texts[192:]]
    assert len(vectors) == 200
    assert vectors[150] == pytest.approx(hashed_embedding(texts[150]))
    ledger = store.llm_calls_for_day(DAY)
    assert [c.step for c in ledger] == ["embed"] * 3 and all(c.ok for c in ledger)
    assert ledger[0].arxiv_id is None  # several papers per request
    embedder().embed(["one paper"], arxiv_ids=["2503.00001"])
    assert store.llm_calls_for_day(DAY)[-1].arxiv_id == "2503.00001"


def test_the_spend_cap_stops_a_batch_before_it_is_sent(fake, make_llm, store):
    # $1000 per 1M tokens: each batch of 96 texts of 100 characters costs ~$2.40
    prices = {"pricey-embed": Price(input=1000.0, output=0.0)}
    llm = make_llm(embedding_model="pricey-embed", prices=prices, daily_spend_cap_usd=3.0)
    texts = ["x" * 100] * 150
    with pytest.raises(SpendCapReached, match="cap"):
        llm.embed(texts)
    assert len(fake.embedding_requests) == 1  # the second batch never reached the server
    first, refused = store.llm_calls_for_day(DAY)
    assert first.ok and first.cost_usd == pytest.approx(2.4)
    assert refused.step == "embed" and refused.error == NOT_SENT
    with pytest.raises(SpendCapReached):  # nothing is sent at all once the cap is near
        make_llm(embedding_model="pricey-embed", prices=prices, daily_spend_cap_usd=3.0).embed(
            ["x" * 100] * 96
        )
    assert len(fake.embedding_requests) == 1


def test_a_server_error_then_success_is_retried_by_the_sdk(fake, embedder, store):
    fake.add("embed", error(500, "internal error", retry_after=0))
    vectors = embedder().embed(["linear attention"])
    assert vectors == [pytest.approx(hashed_embedding("linear attention"))]
    assert len(fake.embedding_requests) == 2
    [call] = store.llm_calls_for_day(DAY)
    assert call.ok


def test_errors_past_the_retries_are_unavailable(fake, embedder, store):
    for _ in range(3):
        fake.add("embed", error(429, "Rate limit reached", retry_after=0))
    with pytest.raises(LLMUnavailable, match="429"):
        embedder(max_retries=2).embed(["linear attention"])
    assert len(fake.embedding_requests) == 3
    [call] = store.llm_calls_for_day(DAY)
    assert not call.ok and call.step == "embed" and call.cost_usd == 0


def test_a_deadline_bounds_each_request_and_stops_new_ones(fake, embedder, store, monkeypatch):
    monkeypatch.setattr("paperfoundry.llm.client.MIN_REQUEST_SECONDS", 0.5)
    fake.add("embed", Reply(delay=2.0), Reply(delay=2.0))
    llm = embedder(timeout_seconds=300, max_retries=1)
    llm.deadline = time.monotonic() + 1.2  # two tries of 0.6 s each: both time out
    started = time.monotonic()
    with pytest.raises(LLMUnavailable, match="Timeout"):
        llm.embed(["linear attention"])
    assert time.monotonic() - started < 2.0 and len(fake.embedding_requests) == 2

    llm.deadline = time.monotonic() + 0.1
    with pytest.raises(LLMDeadline):
        llm.embed(["linear attention"])
    assert len(fake.embedding_requests) == 2  # nothing sent


def test_no_embedding_model_means_no_embeddings(fake, make_llm, store):
    llm = make_llm()
    assert "embed" not in llm.models
    with pytest.raises(LLMError, match="embedding_model"):
        llm.embed(["text"])
    assert fake.embedding_requests == [] and store.llm_calls_for_day(DAY) == []
    with pytest.raises(ValueError, match="no price for model 'nomic-embed-text'"):
        make_llm(embedding_model="nomic-embed-text")  # priced before any call


def test_azure_embedding_deployment(fake, store):
    settings = make_settings(fake.url, provider="azure", embedding_model="my-embed")
    settings.prices["my-embed"] = Price(input=0.02, output=0.0)
    llm = LLMClient(settings, Credentials("azure", "k", azure_endpoint=fake.origin), store, DAY)
    assert llm.embed(["linear attention"]) == [pytest.approx(hashed_embedding("linear attention"))]
    assert fake.embedding_requests[0]["model"] == "my-embed"


def test_the_report_lists_the_embed_step(fake, embedder, store):
    from paperfoundry.reporting.digest import mode_line, spend_line
    from paperfoundry.reporting.html import render_html

    from tests.reporting.factories import build_llm_report

    embedder().embed(["linear attention"])
    calls = store.llm_calls_for_day(DAY)
    usage = usage_summary(calls, cap_usd=5.0, models={c.step: c.model for c in calls})
    report = build_llm_report().model_copy(update={"llm": usage})
    html = render_html(report)
    assert "<td>embed</td>" in html and MODEL in html
    assert f"embed {MODEL}" in mode_line(report)
    assert "1 call" in (spend_line(report) or "")


# -- ranking/embeddings.py -------------------------------------------------------------------


def test_cache_keys_and_cosine():
    assert cache_key(MODEL, "2402.18668") == "embeddings/text-embedding-3-small/2402.18668.json"
    odd = cache_key("BAAI/bge-m3", "hep-th/9901001")  # one key segment each
    assert odd == "embeddings/BAAI_bge-m3/hep-th_9901001.json"
    key = profile_cache_key(MODEL, ["a", "b"])
    assert key.startswith("embeddings/text-embedding-3-small/profile-") and key.endswith(".json")
    assert key != profile_cache_key(MODEL, ["a", "c"])
    assert cosine([1.0, 0.0], [0.0, 3.0]) == 0.0
    assert cosine([1.0, 1.0], [2.0, 2.0]) == pytest.approx(1.0)
    assert cosine([1.0, 0.0], [-1.0, 0.0]) == pytest.approx(-1.0)
    assert cosine([0.0, 0.0], [1.0, 0.0]) == 0.0
    with pytest.raises(ValueError):
        cosine([1.0, 0.0], [1.0, 0.0, 0.0])


def test_embed_papers_embeds_each_paper_once(fake, embedder, blobs, store):
    papers = [paper(i, title, "An abstract.") for i, title in enumerate(TOPIC[:3])]
    vectors = embed_papers(papers, embedder(), blobs, MODEL)
    assert list(vectors) == [p.arxiv_id for p in papers]
    expected = hashed_embedding(paper_text(papers[1]))
    assert vectors[papers[1].arxiv_id] == pytest.approx(expected, abs=1e-6)  # 6 decimals
    [body] = fake.embedding_requests
    assert body["input"] == [paper_text(p) for p in papers]  # as the ranking reads papers
    for p in papers:
        cached = json.loads(blobs.get(cache_key(MODEL, p.arxiv_id)))
        assert cached["vector"] == vectors[p.arxiv_id] and cached["model"] == MODEL

    # a later run (a new client, the same blob store) pays nothing for them
    again = embed_papers(papers + papers[:1], embedder(), blobs, MODEL)
    assert again == vectors and len(fake.embedding_requests) == 1
    assert embed_papers(papers, None, blobs, MODEL) == vectors  # cache only: no client

    # only the new paper, and a paper whose text changed, are embedded
    new = paper(9, OFF_TOPIC[0])
    changed = papers[0].model_copy(update={"abstract": "A revised abstract."})
    embed_papers([changed, papers[1], new], embedder(), blobs, MODEL)
    assert fake.embedding_requests[-1]["input"] == [paper_text(changed), paper_text(new)]
    assert len(fake.embedding_requests) == 2
    assert [c.step for c in store.llm_calls_for_day(DAY)] == ["embed", "embed"]
    uncached = embed_papers([paper(10, "Not embedded yet"), new], None, blobs, MODEL)
    assert list(uncached) == [new.arxiv_id]


def test_embed_papers_keeps_the_batches_paid_for_before_a_failure(fake, embedder, blobs):
    papers = [paper(i, f"Paper number {i}") for i in range(100)]
    fake.add("embed", Reply(), error(500, "internal error", retry_after=0))
    with pytest.raises(LLMUnavailable):
        embed_papers(papers, embedder(max_retries=0), blobs, MODEL)
    assert len(embed_papers(papers, None, blobs, MODEL)) == EMBED_BATCH
    embed_papers(papers, embedder(), blobs, MODEL)
    assert fake.embedding_requests[-1]["input"] == [paper_text(p) for p in papers[96:]]


def test_embed_papers_refuses_a_client_of_another_model(embedder, blobs):
    with pytest.raises(ValueError, match="text-embedding-3-large"):
        embed_papers([paper(1, "t")], embedder(), blobs, "text-embedding-3-large")


def test_profile_embedding_calibrates_by_leave_one_out(fake, embedder, blobs):
    profile = profile_embedding(TOPIC, embedder(), blobs, MODEL)
    assert profile is not None and profile.size == len(TOPIC) and profile.model == MODEL
    assert unit_norm(profile.mean) == pytest.approx(1.0, abs=1e-5)
    vectors = [hashed_embedding(t) for t in TOPIC]
    for i, v in enumerate(vectors):  # each document against the mean of the others
        others = [w for j, w in enumerate(vectors) if j != i]
        mean = [sum(col) / len(others) for col in zip(*others, strict=True)]
        assert profile.loo[i] == pytest.approx(cosine(v, mean), abs=1e-4)
    threshold = profile.threshold(0.8)
    assert threshold is not None
    assert sum(f >= threshold - 1e-12 for f in profile.loo) >= 0.8 * len(TOPIC)
    assert min(profile.loo) <= threshold < max(profile.loo)
    assert profile.threshold(0.99) < profile.threshold(0.5)
    assert profile.typical is None

    # cached: no second request, with or without a client
    assert profile_embedding(TOPIC, embedder(), blobs, MODEL) == profile
    assert profile_embedding(TOPIC, None, blobs, MODEL) == profile
    assert len(fake.embedding_requests) == 1
    assert profile_embedding(TOPIC[:4], None, blobs, MODEL) is None  # not cached
    small = profile_embedding(TOPIC[:4], embedder(), blobs, MODEL)
    assert small is not None and small.threshold(0.8) is None  # too few to calibrate
    with pytest.raises(ValueError):
        profile_embedding([], embedder(), blobs, MODEL)


def test_papers_on_the_profiles_topic_fit_better_than_off_topic_ones(fake, embedder, blobs):
    on_topic = [
        paper(1, "Linear attention with better associative recall"),
        paper(2, "State space models for recall in language models"),
    ]
    off_topic = [paper(10 + i, t) for i, t in enumerate(OFF_TOPIC)]
    llm = embedder()
    vectors = embed_papers(on_topic + off_topic, llm, blobs, MODEL)
    profile = profile_embedding(TOPIC, llm, blobs, MODEL, day_vectors=vectors.values())
    assert profile is not None and profile.typical is not None
    on = [profile.fit(vectors[p.arxiv_id]) for p in on_topic]
    off = [profile.fit(vectors[p.arxiv_id]) for p in off_topic]
    assert min(on) > profile.typical > max(off)
    assert min(on) > 0.2 and max(off) < 0.1
    assert profile.with_typical([vectors[p.arxiv_id] for p in off_topic]).typical == (
        pytest.approx(sum(off) / len(off), abs=1e-6)
    )
