"""The LLM client against a local fake OpenAI-compatible server, with the real `openai` SDK."""

from __future__ import annotations

import json

import pytest
from paperfoundry.config import LLM, Price
from paperfoundry.llm.accounting import (
    NOT_SENT,
    SpendCapReached,
    cost_usd,
    price_for,
    usage_summary,
)
from paperfoundry.llm.client import (
    Credentials,
    LLMClient,
    LLMOutputError,
    LLMRefusal,
    LLMUnavailable,
    credentials_from_env,
    credentials_from_secret,
    strip_fence,
)
from paperfoundry.review.reviewer import ReviewReply

from tests.fakes.openai_server import Reply, error, make_settings, review_json

from .conftest import DAY

SYSTEM = "You review papers (review-v1). Reply in JSON."


def test_valid_review_is_parsed_and_accounted(fake, make_llm, store):
    fake.add("review", Reply(review_json(7)))
    llm = make_llm()
    reply = llm.ask_json("review", SYSTEM, "a paper", ReviewReply, arxiv_id="2402.18668")
    assert reply.novelty.score == 7
    body = fake.requests[0]
    assert body["model"] == "gpt-5-mini"
    assert body["response_format"] == {"type": "json_object"}
    assert "max_tokens" in body  # compatible servers get max_tokens, OpenAI max_completion_tokens
    [call] = store.llm_calls_for_day(DAY)
    assert call.ok and call.step == "review" and call.arxiv_id == "2402.18668"
    assert call.prompt_tokens > 0 and call.completion_tokens > 0
    expected = cost_usd(price_for("gpt-5-mini", llm.settings.prices), call.prompt_tokens, 0,
                        call.completion_tokens)  # fmt: skip
    assert call.cost_usd == pytest.approx(expected)
    assert llm.spent_usd == pytest.approx(expected)


def test_invalid_json_then_valid_is_reasked_with_the_error(fake, make_llm, store):
    fake.add("review", Reply("Sure! The paper is great."), Reply('{"novelty": {"score": 5}}'))
    fake.add("review", Reply("```json\n" + review_json(6) + "\n```"))
    reply = make_llm().ask_json("review", SYSTEM, "paper", ReviewReply)
    assert reply.clarity.score == 6
    assert len(fake.requests) == 3
    feedback = fake.requests[1]["messages"][-1]["content"]
    assert "not valid" in feedback and "JSON" in feedback
    assert "significance" in fake.requests[2]["messages"][-1]["content"]  # the missing field
    assert len(store.llm_calls_for_day(DAY)) == 3  # every attempt is billed


def test_output_that_never_validates_raises(fake, make_llm):
    for _ in range(3):
        fake.add("review", Reply("not json"))
    with pytest.raises(LLMOutputError, match="invalid output"):
        make_llm(invalid_output_retries=2).ask_json("review", SYSTEM, "paper", ReviewReply)
    assert len(fake.requests) == 3


def test_refusal_is_not_retried(fake, make_llm, store):
    fake.add("review", Reply(content=None, refusal="I can't help with that."))
    with pytest.raises(LLMRefusal, match="declined"):
        make_llm().ask_json("review", SYSTEM, "paper", ReviewReply)
    assert len(fake.requests) == 1
    [call] = store.llm_calls_for_day(DAY)
    assert not call.ok and call.error.startswith("refused")


def test_rate_limit_then_success(fake, make_llm, store):
    fake.add("review", error(429, "Rate limit reached", retry_after=0), Reply(review_json(8)))
    reply = make_llm().ask_json("review", SYSTEM, "paper", ReviewReply)
    assert reply.soundness.score == 8
    assert len(fake.requests) == 2  # the SDK retried once
    [call] = store.llm_calls_for_day(DAY)  # one billed call
    assert call.ok


def test_server_errors_exhaust_retries(fake, make_llm, store):
    for _ in range(3):
        fake.add("review", error(503, "overloaded", retry_after=0))
    with pytest.raises(LLMUnavailable, match="503"):
        make_llm(max_retries=2).ask_json("review", SYSTEM, "paper", ReviewReply)
    assert len(fake.requests) == 3
    [call] = store.llm_calls_for_day(DAY)
    assert not call.ok and call.cost_usd == 0


def test_timeout_is_a_clear_error(fake, make_llm, store):
    fake.add("review", Reply(review_json(5), delay=2.0), Reply(review_json(5), delay=2.0))
    with pytest.raises(LLMUnavailable, match="Timeout"):
        make_llm(timeout_seconds=0.3, max_retries=1).ask_json("review", SYSTEM, "p", ReviewReply)
    assert len(fake.requests) == 2
    [call] = store.llm_calls_for_day(DAY)
    assert not call.ok and "Timeout" in call.error


def test_a_deadline_bounds_each_request_and_stops_new_ones(fake, make_llm, store, monkeypatch):
    """A Lambda passes its remaining time: a request (with the SDK's retries) must end
    before it, and none starts when too little is left (the step is tried again)."""
    import time

    from paperfoundry.implement import implement
    from paperfoundry.llm.client import LLMDeadline

    fake.add("review", Reply(review_json(5), delay=2.0), Reply(review_json(5), delay=2.0))
    llm = make_llm(timeout_seconds=300, max_retries=1)
    monkeypatch.setattr("paperfoundry.llm.client.MIN_REQUEST_SECONDS", 0.5)
    llm.deadline = time.monotonic() + 1.2  # two tries of 0.6 s each: both time out
    started = time.monotonic()
    with pytest.raises(LLMUnavailable, match="Timeout"):
        llm.ask_json("review", SYSTEM, "p", ReviewReply)
    assert time.monotonic() - started < 2.0 and len(fake.requests) == 2

    llm.deadline = time.monotonic() + 0.1
    with pytest.raises(LLMDeadline):
        llm.ask_json("review", SYSTEM, "p", ReviewReply)
    assert len(fake.requests) == 2  # nothing sent

    class Implementer:
        def implement(self, paper):
            return llm.ask_json("plan", SYSTEM, "p", ReviewReply)

    from paperfoundry.models import Paper

    paper = Paper(arxiv_id="2501.00001", title="t", day=DAY)
    with pytest.raises(LLMDeadline):  # not recorded as a failed implementation
        implement(paper, Implementer())


def test_truncated_reply_is_an_output_error(fake, make_llm):
    fake.add("review", Reply(content="", finish_reason="length"))
    with pytest.raises(LLMOutputError, match="max_output_tokens"):
        make_llm().ask_json("review", SYSTEM, "paper", ReviewReply)


def test_spend_cap_is_checked_before_each_call(fake, make_llm, store):
    llm = make_llm(daily_spend_cap_usd=0.0005)
    calls = 0
    with pytest.raises(SpendCapReached, match="cap"):
        for _ in range(100):
            llm.ask_json("review", SYSTEM, "x" * 4000, ReviewReply)
            calls += 1
    assert 0 < calls < 100
    assert len(fake.requests) == calls  # the refused call never reached the server
    ledger = store.llm_calls_for_day(DAY)
    assert ledger[-1].error == NOT_SENT
    usage = usage_summary(ledger, cap_usd=0.0005, models={})
    assert usage.cap_reached and usage.total.calls == calls
    # a new client (a later run the same day) starts from the ledger, not from zero
    fresh = make_llm(daily_spend_cap_usd=0.0005)
    assert fresh.spent_usd == pytest.approx(llm.spent_usd)
    with pytest.raises(SpendCapReached):
        fresh.ask_json("review", SYSTEM, "x" * 4000, ReviewReply)


def test_openai_provider_sends_reasoning_effort_and_max_completion_tokens(fake, store):
    settings = make_settings(fake.url, provider="openai")
    llm = LLMClient(settings, Credentials("openai", "sk-test", base_url=fake.url), store, DAY)
    fake.add("review", Reply(review_json(5)))
    llm.ask_json("review", SYSTEM, "paper", ReviewReply)
    body = fake.requests[0]
    assert body["max_completion_tokens"] == settings.max_output_tokens
    assert body["reasoning_effort"] == "low" and "max_tokens" not in body


def test_azure_deployment_path(fake, store):
    settings = make_settings(fake.url, provider="azure", review_model="my-mini-deployment")
    creds = Credentials("azure", "azure-key", azure_endpoint=fake.origin)
    with pytest.raises(ValueError, match="no price for model 'my-mini-deployment'"):
        LLMClient(settings, creds, store, DAY)  # a deployment name needs its price
    settings.prices["my-mini-deployment"] = Price(input=0.25, output=2.0)
    llm = LLMClient(settings, creds, store, DAY)
    fake.add("review", Reply(review_json(5)))
    assert llm.ask_json("review", SYSTEM, "paper", ReviewReply).novelty.score == 5
    assert fake.requests[0]["model"] == "my-mini-deployment"


def test_unknown_model_price_is_a_clear_error():
    prices = {"gpt-5": Price(input=1.25, output=10)}
    assert price_for("gpt-5-2025-08-07", prices).input == 1.25  # dated snapshot
    with pytest.raises(KeyError, match=r"\[llm.prices\]"):
        price_for("llama3.1:8b", prices)


def test_cost_formula_uses_cached_and_output_prices():
    price = Price(input=1.0, cached_input=0.1, output=10.0)
    assert cost_usd(price, 1_000_000, 500_000, 100_000) == pytest.approx(0.5 + 0.05 + 1.0)


def test_credentials_resolution():
    settings = LLM()
    assert credentials_from_env(settings, {}) is None  # nothing configured: off
    assert credentials_from_env(settings, {"OPENAI_API_KEY": "k"}).provider == "openai"
    azure = credentials_from_env(
        settings, {"AZURE_OPENAI_API_KEY": "k", "AZURE_OPENAI_ENDPOINT": "https://x"}
    )
    assert azure.provider == "azure" and azure.azure_endpoint == "https://x"
    local = credentials_from_env(settings, {"PAPERFOUNDRY_LLM_BASE_URL": "http://h:11434/v1"})
    assert local.provider == "compatible" and local.base_url == "http://h:11434/v1"
    assert credentials_from_env(LLM(provider="off"), {"OPENAI_API_KEY": "k"}) is None
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        credentials_from_env(LLM(provider="openai"), {})
    assert "sk-secret" not in repr(credentials_from_env(settings, {"OPENAI_API_KEY": "sk-secret"}))


def test_credentials_from_secret():
    assert credentials_from_secret("sk-abc").provider == "openai"
    secret = json.dumps({"provider": "azure", "api_key": "k", "azure_endpoint": "https://a"})
    assert credentials_from_secret(secret).azure_endpoint == "https://a"
    with pytest.raises(ValueError, match="api_key"):
        credentials_from_secret(json.dumps({"provider": "openai"}))


def test_strip_fence():
    assert strip_fence('```json\n{"a": 1}\n```') == '{"a": 1}'
    assert strip_fence('{"a": 1}') == '{"a": 1}'


def test_parameters_a_deployment_rejects_are_dropped_once(fake, store):
    settings = make_settings(fake.url, provider="azure")
    creds = Credentials("azure", "azure-key", azure_endpoint=fake.origin)
    llm = LLMClient(settings, creds, store, DAY)
    rejected = error(400, "Unrecognized request argument supplied: reasoning_effort")
    fake.add("review", rejected, Reply(review_json(6)), Reply(review_json(7)))
    assert llm.ask_json("review", SYSTEM, "paper", ReviewReply).novelty.score == 6
    assert llm.ask_json("review", SYSTEM, "paper", ReviewReply).novelty.score == 7
    first, retried, later = fake.requests
    assert first["reasoning_effort"] == "low"
    assert "reasoning_effort" not in retried and "reasoning_effort" not in later
    assert later["max_completion_tokens"] == settings.max_output_tokens
    assert [c.ok for c in store.llm_calls_for_day(DAY)] == [True, True]


def test_other_bad_requests_are_errors(fake, make_llm):
    fake.add("review", error(400, "This model's maximum context length is 8192 tokens"))
    with pytest.raises(LLMUnavailable, match="context length"):
        make_llm().ask_json("review", SYSTEM, "paper", ReviewReply)
    assert len(fake.requests) == 1
