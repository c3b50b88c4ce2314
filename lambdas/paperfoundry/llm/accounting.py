"""Token and dollar accounting for LLM calls, and the daily spend cap.

Every request ends as one `LLMCall` row in the store's ledger (failed ones at no cost),
so the report, the cap and the cost estimate all read the same numbers.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Protocol

from ..config import Price
from ..models import LLMCall, LLMUsage, StepUsage

CHARS_PER_TOKEN = 4  # only for the pre-call estimate; billing uses the reported usage
NOT_SENT = "not sent: daily spend cap reached"  # ledger error of a call the cap stopped


class SpendCapReached(RuntimeError):
    """The day's LLM budget is spent: the step stops cleanly and the report says so."""


class SpendLedger(Protocol):
    def record_llm_call(self, call: LLMCall) -> None: ...

    def llm_calls_for_day(self, day: date) -> list[LLMCall]: ...


def price_for(model: str, prices: dict[str, Price]) -> Price:
    """The model's price; dated snapshots (gpt-5-mini-2025-08-07) use their family's."""
    if model in prices:
        return prices[model]
    family = max((name for name in prices if model.startswith(name + "-")), key=len, default=None)
    if family is None:
        raise KeyError(
            f"no price for model {model!r}: add it under [llm.prices] "
            f'(e.g. "{model}" = {{ input = 1.0, output = 4.0 }} in USD per 1M tokens)'
        )
    return prices[family]


def cost_usd(price: Price, prompt_tokens: int, cached_tokens: int, completion_tokens: int) -> float:
    cached = min(cached_tokens, prompt_tokens)
    cached_rate = price.input if price.cached_input is None else price.cached_input
    return (
        (prompt_tokens - cached) * price.input
        + cached * cached_rate
        + completion_tokens * price.output  # includes reasoning tokens
    ) / 1e6


def estimated_prompt_cost(price: Price, prompt_chars: int) -> float:
    return prompt_chars / CHARS_PER_TOKEN * price.input / 1e6


def usage_summary(calls: Iterable[LLMCall], *, cap_usd: float, models: dict[str, str]) -> LLMUsage:
    usage = LLMUsage(models=models, cap_usd=cap_usd)
    for call in calls:
        if call.error == NOT_SENT:
            usage.cap_reached = True
            continue
        for bucket in (usage.total, usage.by_step.setdefault(call.step, StepUsage())):
            bucket.calls += 1
            bucket.failed += 0 if call.ok else 1
            bucket.prompt_tokens += call.prompt_tokens
            bucket.completion_tokens += call.completion_tokens
            bucket.cost_usd = round(bucket.cost_usd + call.cost_usd, 6)
    return usage
