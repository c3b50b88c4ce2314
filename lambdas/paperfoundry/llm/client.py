"""One LLM client for OpenAI, Azure OpenAI and any OpenAI-compatible server (vLLM, Ollama).

Built on the `openai` SDK, which retries 429, 5xx, timeouts and connection errors with
backoff and honours Retry-After. On top of it: a model per step, JSON output validated by
pydantic with re-asks on invalid output, refusals told apart from failures, embeddings
(`embed`, the "embed" step, when `llm.embedding_model` is set), and every request
accounted (tokens, dollars) in the store's ledger, with the daily spend cap checked before
each request.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from ..config import LLM
from ..models import LLMCall
from .accounting import (
    NOT_SENT,
    SpendCapReached,
    SpendLedger,
    cost_usd,
    estimated_prompt_cost,
    price_for,
)

T = TypeVar("T", bound=BaseModel)
Provider = Literal["openai", "azure", "compatible"]
# Request parameters that improve results but that some models or servers reject.
OPTIONAL_PARAMS = ("reasoning_effort", "response_format", "max_completion_tokens")
EMBED_BATCH = 96  # inputs per embeddings request (OpenAI takes up to 2048; servers fewer)
# Characters of one input sent for embedding (title and abstract are far shorter); keeps
# an odd input under the models' ~8k-token limit.
EMBED_MAX_CHARS = 16000


class LLMError(RuntimeError):
    """A request that produced nothing usable; the message says why."""


class LLMUnavailable(LLMError):
    """Timeouts, connection errors, 429/5xx after the SDK's retries, auth or request errors."""


class LLMRefusal(LLMError):
    """The model declined (refusal field or content filter): not retried."""


class LLMDeadline(LLMError):
    """No time left for another request before the caller's deadline (a Lambda's limit):
    the caller stops here and its work goes on in a later attempt."""


class LLMOutputError(LLMError):
    """The reply still failed the schema after the re-asks, or was cut off."""


@dataclass(frozen=True)
class Credentials:
    provider: Provider
    api_key: str
    base_url: str | None = None
    azure_endpoint: str | None = None

    def __repr__(self) -> str:  # never print the key
        return f"Credentials(provider={self.provider!r}, base_url={self.base_url!r})"


def credentials_from_env(settings: LLM, env: Mapping[str, str] | None = None) -> Credentials | None:
    """Resolve the provider from settings and environment; None means no LLM (off)."""
    env = os.environ if env is None else env
    provider = settings.provider
    if provider == "off":
        return None
    base_url = settings.base_url or env.get("PAPERFOUNDRY_LLM_BASE_URL", "")
    azure_endpoint = settings.azure_endpoint or env.get("AZURE_OPENAI_ENDPOINT", "")
    if provider == "auto":
        if env.get("AZURE_OPENAI_API_KEY") and azure_endpoint:
            provider = "azure"
        elif base_url:
            provider = "compatible"
        elif env.get("OPENAI_API_KEY"):
            provider = "openai"
        else:
            return None
    if provider == "azure":
        key = env.get("AZURE_OPENAI_API_KEY", "")
        if not key or not azure_endpoint:
            raise ValueError("llm.provider is azure: set AZURE_OPENAI_API_KEY and an endpoint")
        return Credentials("azure", key, azure_endpoint=azure_endpoint)
    if provider == "compatible":
        if not base_url:
            raise ValueError("llm.provider is compatible: set llm.base_url")
        # Local servers usually ignore the key; the SDK insists on one.
        key = env.get("PAPERFOUNDRY_LLM_API_KEY") or env.get("OPENAI_API_KEY") or "unused"
        return Credentials("compatible", key, base_url=base_url)
    key = env.get("OPENAI_API_KEY", "")
    if not key:
        raise ValueError("llm.provider is openai: set OPENAI_API_KEY")
    return Credentials("openai", key, base_url=base_url or None)


def credentials_from_secret(text: str) -> Credentials:
    """A Secrets Manager value: {"provider", "api_key", "base_url"?, "azure_endpoint"?},
    or a bare OpenAI key."""
    try:
        data = json.loads(text)
    except ValueError:
        return Credentials("openai", text.strip())
    if not isinstance(data, dict) or not data.get("api_key"):
        raise ValueError("LLM secret must be a key or JSON with at least 'api_key'")
    provider = data.get("provider", "openai")
    if provider not in ("openai", "azure", "compatible"):
        raise ValueError(f"LLM secret: unknown provider {provider!r}")
    return Credentials(provider, data["api_key"], data.get("base_url"), data.get("azure_endpoint"))


def _sdk_client(settings: LLM, creds: Credentials) -> Any:
    import openai  # deferred: ~0.5 s of imports that signals-only runs never need

    common = {"timeout": settings.timeout_seconds, "max_retries": settings.max_retries}
    if creds.provider == "azure":
        return openai.AzureOpenAI(
            api_key=creds.api_key,
            azure_endpoint=creds.azure_endpoint,
            api_version=settings.azure_api_version,
            **common,
        )
    return openai.OpenAI(api_key=creds.api_key, base_url=creds.base_url, **common)


_FENCE = re.compile(r"^```[a-zA-Z]*\s*\n(?P<body>.*?)\n?```\s*$", re.DOTALL)


def strip_fence(text: str) -> str:
    match = _FENCE.match(text.strip())
    return match.group("body") if match else text.strip()


class LLMClient:
    def __init__(
        self,
        settings: LLM,
        credentials: Credentials,
        ledger: SpendLedger,
        day: date,
        *,
        sdk: Any = None,
    ) -> None:
        self.settings = settings
        self.credentials = credentials
        self.ledger = ledger
        self.day = day
        for model in set(self.models.values()):
            try:
                price_for(model, settings.prices)
            except KeyError as exc:  # fail before any call, not in the middle of the day
                raise ValueError(exc.args[0]) from None
        self.sdk = sdk or _sdk_client(settings, credentials)
        self._lock = threading.RLock()  # _record is also called with it held
        self._spent = sum(c.cost_usd for c in ledger.llm_calls_for_day(day))
        self.calls: list[LLMCall] = []  # this client's calls, in order (for per-step totals)
        self._unsupported: set[str] = set()  # optional parameters the server rejected
        # time.monotonic() by which every request must have ended (None: no limit); each
        # request, with the SDK's retries, then fits in what is left
        self.deadline: float | None = None

    @property
    def models(self) -> dict[str, str]:
        s = self.settings
        models = {
            "review": s.review_model,
            "compare": s.compare_model,
            "plan": s.implement_model,
            "code": s.implement_model,
        }
        if s.embedding_model:
            models["embed"] = s.embedding_model
        return models

    @property
    def spent_usd(self) -> float:
        return self._spent

    # -- public --------------------------------------------------------------------------

    def ask_json(
        self, step: str, system: str, user: str, schema: type[T], *, arxiv_id: str | None = None
    ) -> T:
        """A reply validated against `schema`; invalid output is re-asked with the error."""
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        error = ""
        for _ in range(self.settings.invalid_output_retries + 1):
            content = self._complete(step, messages, arxiv_id, as_json=True)
            try:
                return schema.model_validate_json(strip_fence(content))
            except ValidationError as exc:
                error = _short_validation_error(exc)
            messages += [
                {"role": "assistant", "content": content[:4000]},
                {
                    "role": "user",
                    "content": f"That reply is not valid: {error}. Reply again with only the "
                    "JSON object, following the required fields and types exactly.",
                },
            ]
        raise LLMOutputError(f"{step}: invalid output after re-asks ({error})")

    def ask_text(
        self, step: str, messages: list[dict[str, str]], *, arxiv_id: str | None = None
    ) -> str:
        return self._complete(step, messages, arxiv_id, as_json=False)

    def embed(self, texts: list[str], *, arxiv_ids: list[str] | None = None) -> list[list[float]]:
        """Unit-length embeddings of `texts` with `llm.embedding_model`, in input order.

        One request per `EMBED_BATCH` inputs, each an "embed" row in the ledger (with the
        batch's arXiv id when it holds one paper) and each after the spend-cap and deadline
        checks; a batch that fails raises (`LLMUnavailable`, `SpendCapReached`,
        `LLMDeadline`, `LLMOutputError`) and the batches before it were paid for, so a
        caller that caches should embed batch by batch."""
        if not self.settings.embedding_model:
            raise LLMError("embed: no embedding model configured (llm.embedding_model)")
        if arxiv_ids is not None and len(arxiv_ids) != len(texts):
            raise ValueError("embed: arxiv_ids must match texts one to one")
        vectors: list[list[float]] = []
        for start in range(0, len(texts), EMBED_BATCH):
            batch = texts[start : start + EMBED_BATCH]
            ids = arxiv_ids[start : start + EMBED_BATCH] if arxiv_ids is not None else []
            vectors += self._embed_batch(batch, ids[0] if len(ids) == 1 else None)
        return vectors

    # -- one request -----------------------------------------------------------------------

    def _request_args(self, step: str, as_json: bool) -> dict[str, Any]:
        s = self.settings
        args: dict[str, Any] = {"model": self.models[step]}
        tokens = (
            "max_tokens" if self.credentials.provider == "compatible" else ("max_completion_tokens")
        )
        if tokens in self._unsupported:
            tokens = "max_tokens"
        args[tokens] = s.max_output_tokens
        effort = (
            s.review_reasoning_effort
            if step in ("review", "compare")
            else (s.implement_reasoning_effort)
        )
        if effort and self.credentials.provider != "compatible":
            args["reasoning_effort"] = effort
        if as_json and s.json_mode:
            args["response_format"] = {"type": "json_object"}
        return {k: v for k, v in args.items() if k not in self._unsupported}

    def _create(self, step: str, as_json: bool, messages: list[dict[str, str]]) -> Any:
        """One request; a 400 naming an optional parameter this model or server does not
        take (reasoning_effort on a non-reasoning deployment, response_format on an old
        server, ...) is retried once without it, and the parameter stays off afterwards."""
        import openai

        args = self._request_args(step, as_json)
        sdk = self._sdk_within_deadline(step)
        try:
            return sdk.chat.completions.create(messages=messages, **args)
        except openai.BadRequestError as exc:
            rejected = {name for name in OPTIONAL_PARAMS if name in args and name in str(exc)}
            if not rejected:
                raise
            with self._lock:
                self._unsupported |= rejected
        args = self._request_args(step, as_json)
        return sdk.chat.completions.create(messages=messages, **args)

    def _sdk_within_deadline(self, step: str) -> Any:
        if self.deadline is None:
            return self.sdk
        left = self.deadline - time.monotonic()
        tries = self.settings.max_retries + 1
        if left < MIN_REQUEST_SECONDS:
            raise LLMDeadline(f"{step}: {max(0.0, left):.0f} s left before the deadline")
        timeout = min(self.settings.timeout_seconds, left / tries)
        return self.sdk.with_options(timeout=timeout)

    def _record(self, call: LLMCall) -> None:
        with self._lock:
            self._spent += call.cost_usd
            self.calls.append(call)
            self.ledger.record_llm_call(call)

    def _check_spend_cap(self, call: LLMCall, estimate_usd: float) -> None:
        """Refuse (and record as not sent) a request that would pass the day's cap."""
        with self._lock:
            if self._spent + estimate_usd > self.settings.daily_spend_cap_usd:
                call.ok, call.error = False, NOT_SENT
                self._record(call)
                raise SpendCapReached(
                    f"LLM spend cap ${self.settings.daily_spend_cap_usd:.2f} reached "
                    f"(${self._spent:.4f} spent today)"
                )

    def _embed_batch(self, texts: list[str], arxiv_id: str | None) -> list[list[float]]:
        import openai

        step = "embed"
        model = self.models[step]
        price = price_for(model, self.settings.prices)
        # servers reject empty inputs; over-long ones exceed the model's context
        inputs = [t[:EMBED_MAX_CHARS] if t.strip() else "." for t in texts]
        call = LLMCall(day=self.day, step=step, arxiv_id=arxiv_id, model=model, at=_now())
        self._check_spend_cap(call, estimated_prompt_cost(price, sum(len(t) for t in inputs)))
        sdk = self._sdk_within_deadline(step)
        try:
            # floats, not the SDK's default base64: every compatible server speaks them
            response = sdk.embeddings.create(model=model, input=inputs, encoding_format="float")
        except openai.APIError as exc:
            call.ok, call.error = False, _describe(exc)
            self._record(call)
            raise LLMUnavailable(f"{step} with {model}: {call.error}") from exc

        usage = getattr(response, "usage", None)
        if usage is not None:
            call.prompt_tokens = getattr(usage, "prompt_tokens", None) or 0
            call.cost_usd = round(cost_usd(price, call.prompt_tokens, 0, 0), 8)
        try:
            vectors = _ordered_unit_vectors(getattr(response, "data", None) or [], len(inputs))
        except ValueError as exc:
            call.ok, call.error = False, str(exc)[:300]
            self._record(call)
            raise LLMOutputError(f"{step} with {model}: {exc}") from None
        self._record(call)
        return vectors

    def _complete(
        self, step: str, messages: list[dict[str, str]], arxiv_id: str | None, *, as_json: bool
    ) -> str:
        import openai

        model = self.models[step]
        price = price_for(model, self.settings.prices)
        call = LLMCall(day=self.day, step=step, arxiv_id=arxiv_id, model=model, at=_now())
        prompt_chars = sum(len(m["content"]) for m in messages)
        self._check_spend_cap(call, estimated_prompt_cost(price, prompt_chars))
        try:
            response = self._create(step, as_json, messages)
        except openai.APIError as exc:
            call.ok, call.error = False, _describe(exc)
            self._record(call)
            raise LLMUnavailable(f"{step} with {model}: {call.error}") from exc

        usage = getattr(response, "usage", None)
        if usage is not None:
            details = getattr(usage, "prompt_tokens_details", None)
            call.prompt_tokens = usage.prompt_tokens or 0
            call.completion_tokens = usage.completion_tokens or 0
            call.cached_tokens = (getattr(details, "cached_tokens", None) or 0) if details else 0
            call.cost_usd = round(
                cost_usd(price, call.prompt_tokens, call.cached_tokens, call.completion_tokens), 8
            )
        choice = response.choices[0] if response.choices else None
        message = choice.message if choice is not None else None
        refusal = getattr(message, "refusal", None) if message is not None else None
        content = (message.content or "") if message is not None else ""
        finish = choice.finish_reason if choice is not None else None
        if refusal or finish == "content_filter":
            call.ok, call.error = False, f"refused: {(refusal or 'content filter')[:300]}"
            self._record(call)
            raise LLMRefusal(f"{step}: the model declined: {(refusal or 'content filter')[:300]}")
        if not content.strip():
            why = "cut off at max_output_tokens" if finish == "length" else "empty reply"
            call.ok, call.error = False, why
            self._record(call)
            raise LLMOutputError(f"{step}: {why}")
        self._record(call)
        return content


MIN_REQUEST_SECONDS = 20.0  # below this, a request is not worth starting


def _now() -> datetime:
    return datetime.now(UTC)


def _ordered_unit_vectors(data: list[Any], count: int) -> list[list[float]]:
    """The response's embeddings by their `index`, each scaled to unit length; ValueError
    unless there is exactly one numeric vector per input, all of one size."""
    by_index: dict[int, list[float]] = {}
    for item in data:
        index, vector = getattr(item, "index", None), getattr(item, "embedding", None)
        if not isinstance(index, int) or not isinstance(vector, list) or not vector:
            raise ValueError("reply has an embedding without an index or numbers")
        try:
            by_index[index] = [float(x) for x in vector]
        except (TypeError, ValueError):
            raise ValueError(f"embedding {index} is not a list of numbers") from None
    if len(data) != count or sorted(by_index) != list(range(count)):
        raise ValueError(f"reply has {len(data)} embeddings for {count} inputs")
    if len({len(v) for v in by_index.values()}) > 1:
        raise ValueError("reply's embeddings differ in size")
    vectors = []
    for index in range(count):
        vector = by_index[index]
        norm = math.sqrt(sum(x * x for x in vector))
        vectors.append([x / norm for x in vector] if norm > 0 else vector)
    return vectors


def _describe(exc: Exception) -> str:
    status = getattr(exc, "status_code", None)
    name = type(exc).__name__
    message = str(exc).splitlines()[0][:300] if str(exc) else ""
    return f"{name}{f' {status}' if status else ''}: {message}"


def _short_validation_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ())) or "reply"
        parts.append(f"{where}: {err.get('msg', '')}")
    return "; ".join(parts)[:600]
