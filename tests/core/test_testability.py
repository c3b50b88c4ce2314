"""Which task family could test a paper, from its text alone (no LLM): real titles and
abstracts from the bundled sample day and from the shared Hugging Face days."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from paperfoundry.sources.huggingface import parse_daily_papers
from paperfoundry.sources.sample import load_sample_day
from paperfoundry.testability import estimate, estimate_paper

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "hf_days" / "testability_items.json"


def _shared_papers() -> dict:
    days = json.loads(FIXTURE.read_text(encoding="utf-8"))
    return {
        p.arxiv_id: p
        for d in days
        for p in parse_daily_papers(d["items"], date.fromisoformat(d["date"]))
    }


SAMPLE = {p.arxiv_id: p for p in load_sample_day()[1]}
SHARED = _shared_papers()

SAMPLE_EXPECTED = {
    "2402.18668": "mqar",  # BASED: linear attention, recall
    "2403.19888": "mqar",  # MambaMixer: selective state-space models
    "2410.23168": "lm",  # TokenFormer: transformer scaling
    "2305.02309": None,  # CodeGen2: code generation models
    "2203.07814": None,  # AlphaCode: competition-level code generation
    "2501.09136": None,  # Agentic RAG: a survey
    "2306.03310": None,  # LIBERO: a robot learning benchmark
    "2408.01129": None,  # A Survey of Mamba
    "2403.09054": None,  # Keyformer: KV cache reduction for inference
    "2204.14198": None,  # Flamingo: a visual language model
    "1912.12522": None,  # NAS evaluation
}
SHARED_EXPECTED = {
    # sequence mixers, attention variants, recurrence, state-space layers -> mqar
    "2405.21060": "mqar",  # Transformers are SSMs (Mamba-2)
    "2407.04620": "mqar",  # Learning to (Learn at Test Time): RNNs
    "2409.07146": "mqar",  # Gated Slot Attention
    "2502.13685": "mqar",  # MoM: linear sequence modeling with mixture-of-memories
    "2503.02130": "mqar",  # Forgetting Transformer
    "2503.14456": "mqar",  # RWKV-7 "Goose"
    "2406.16747": "mqar",  # SPARSEK attention for long-range transformers
    "2407.14207": "mqar",  # Longhorn
    # normalisation, mixture of experts, tokenizer-free -> lm; optimisers -> optimizer
    "2503.10622": "lm",  # Transformers without Normalization
    "2503.04598": "lm",  # HybridNorm
    "2406.16793": "optimizer",  # Adam-mini
    "2411.16085": "optimizer",  # Cautious Optimizers
    "2408.15664": "lm",  # auxiliary-loss-free load balancing for MoE
    "2406.19223": "lm",  # T-FREE: tokenizer-free LLMs
    # the harness cannot test these
    "2502.12115": None,  # SWE-Lancer: software engineering with LLMs
    "2505.13103": None,  # program repair
    "2409.01944": None,  # FuzzCoder
    "2406.11612": None,  # Long Code Arena: benchmarks
    "2406.10149": None,  # BABILong: a long-context benchmark
    "2406.04151": None,  # AgentGym
    "2407.01489": None,  # Agentless: software engineering agents
    "2406.11912": None,  # AgileCoder: agents for software development
    "2406.03344": None,  # Audio Mamba: a state-space model, but for audio
    "2407.08083": "image",  # MambaVision: a vision backbone
    "2409.18869": None,  # Emu3: next-token prediction over images and video
    "2406.11430": None,  # KV cache compression
    "2407.02490": None,  # MInference: pre-filling acceleration of pretrained LLMs
    "2503.01496": None,  # Liger: linearizing pretrained LLMs
    "2503.11224": None,  # a survey of state space models
}


@pytest.mark.parametrize(("arxiv_id", "family"), SAMPLE_EXPECTED.items())
def test_sample_day_papers(arxiv_id, family):
    assert estimate_paper(SAMPLE[arxiv_id]).family == family


@pytest.mark.parametrize(("arxiv_id", "family"), SHARED_EXPECTED.items())
def test_real_hugging_face_papers(arxiv_id, family):
    assert estimate_paper(SHARED[arxiv_id]).family == family


def test_the_fixture_holds_exactly_the_expected_papers():
    assert set(SHARED) == set(SHARED_EXPECTED)


def test_reasons_name_the_phrases_that_decided():
    based = estimate_paper(SAMPLE["2402.18668"])
    assert based.testable and "linear attention (title)" in based.reason
    assert "associative recall (title)" in based.reason
    codegen = estimate_paper(SAMPLE["2305.02309"])
    assert not codegen.testable and codegen.reason == "about code generation"
    assert estimate_paper(SHARED["2406.03344"]).reason == "about speech or audio"
    assert estimate("A Note on Cats").reason == "no cue of a task family the harness has"


def test_an_out_of_scope_title_outweighs_architecture_cues():
    # the same mixer, applied to another domain in the title: the harness cannot test it
    assert estimate("Selective State Space Models for Language").family == "mqar"
    assert estimate("Selective State Space Models for Video Segmentation").family is None


def test_abstract_cues_alone_need_three_and_must_outweigh_the_abstracts_domain():
    two = "a recurrent layer updated by the delta rule"
    assert estimate("Goose", two).family is None
    three = two + " at sub-quadratic cost"
    assert estimate("Goose", three).family == "mqar"
    assert estimate("Goose", three + ", also tried on images").family == "mqar"
    assert estimate("Goose", three + " for video and speech").family is None


def test_image_diffusion_and_optimiser_papers_have_their_families():
    assert estimate("ConvNeXt V2: Vision Transformers Meet Convolutions").family == "image"
    vit = "We train a vision transformer on image classification; patch embeddings matter."
    assert estimate("Better Patches", vit).family == "image"
    assert estimate("Scalable Diffusion Models with Transformers").family == "diffusion"
    assert estimate("Symbolic Discovery of Optimization Algorithms: the Lion optimizer").family == (
        "optimizer"
    )
    # what images are used for can still be out of reach
    assert estimate("Open-Vocabulary Object Detection with Vision Transformers").family is None
    assert estimate("Text-to-Image Diffusion Models for Image Editing").family is None
