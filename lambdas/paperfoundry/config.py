"""The group's configuration: interests, ranking weights, selection budget, training.

Loaded from a TOML file (`paperfoundry.toml`) laid over the bundled defaults
(`data/default_config.toml`): every key is optional, and a key left out keeps its default.
On AWS the same file lives in S3 under `config/paperfoundry.toml`.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

DEFAULT_CATEGORIES = ["cs.LG", "cs.CL", "cs.CV", "cs.AI"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProfilePaper(_Section):
    title: str
    abstract: str = ""


class Interests(_Section):
    topics: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)
    liked: list[str] = Field(default_factory=list, description="arXiv ids the group liked")
    exclude_categories: list[str] = Field(default_factory=list)
    # Papers that state the group's interests (titles and abstracts): a bundled profile
    # name (data/profile_<name>.json), a path to a JSON file of that shape, or "" for none;
    # `papers` adds more inline ([[interests.papers]] title, abstract). None by default, like
    # the topics: the bundled default_config.toml states the group's interests.
    profile: str = ""
    papers: list[ProfilePaper] = Field(default_factory=list)


class Weights(_Section):
    relevance: float = 0.60
    upvotes: float = 0.15
    comments: float = 0.05
    stars: float = 0.05
    code: float = 0.05
    liked: float = 0.10


class Ranking(_Section):
    weights: Weights = Field(default_factory=Weights)
    # Cosine similarity at which `liked` counts as a full match (and relevance, when the
    # profile has too few papers to calibrate a threshold).
    relevance_saturation: float = 0.3
    # Share of the profile's own papers (each scored against the others) that count as
    # fitting: sets the fit threshold, which scores exactly `selection.min_score` when a
    # paper has no other signal (ranking/score.py).
    fit_recall: float = Field(0.8, gt=0, lt=1)
    # How much of ML papers' average vector is taken off the profile's (Rocchio): terms
    # every paper uses stop counting as a fit (0.5: best on the evaluation, README).
    contrast: float = Field(0.5, ge=0, le=2)


class Selection(_Section):
    max_picks: int = 3
    gpu_minutes_budget: float = 60.0
    minutes_per_pick: float = 20.0
    min_score: float = 0.2


class Training(_Section):
    budget: str = "small"
    device: str = "auto"
    timeout_minutes: float = 30.0


class Sources(_Section):
    categories: list[str] = Field(default_factory=lambda: list(DEFAULT_CATEGORIES))
    enabled: list[str] = Field(default_factory=lambda: ["huggingface", "arxiv"])
    timeout_seconds: float = 20.0


class Price(_Section):
    """USD per million tokens."""

    input: float
    output: float
    cached_input: float | None = None  # defaults to the input price


# List prices (USD per 1M tokens) of the default models; verify against your provider's
# price page and override under [llm.prices] (Azure deployments are priced by model).
DEFAULT_PRICES = {
    "gpt-5": Price(input=1.25, cached_input=0.125, output=10.0),
    "gpt-5-mini": Price(input=0.25, cached_input=0.025, output=2.0),
    "gpt-5-nano": Price(input=0.05, cached_input=0.005, output=0.40),
    # embeddings: input tokens only
    "text-embedding-3-small": Price(input=0.02, output=0.0),
    "text-embedding-3-large": Price(input=0.13, output=0.0),
}


class LLM(_Section):
    # auto: Azure when AZURE_OPENAI_API_KEY and an endpoint are set, else an
    # OpenAI-compatible server when a base URL is set, else OpenAI when OPENAI_API_KEY is
    # set, else off (signals-only ranking, library-only implementation).
    provider: Literal["auto", "openai", "azure", "compatible", "off"] = "auto"
    base_url: str = ""  # OpenAI-compatible endpoint, e.g. http://localhost:11434/v1
    azure_endpoint: str = ""
    azure_api_version: str = "2024-10-21"
    review_model: str = "gpt-5-mini"  # Azure: deployment names
    compare_model: str = "gpt-5-mini"
    implement_model: str = "gpt-5"
    # Paper embeddings for ranking relevance (e.g. "text-embedding-3-small"; Azure: the
    # deployment name); "" embeds nothing and ranking uses TF-IDF only.
    embedding_model: str = ""
    # Sent only to OpenAI/Azure (reasoning models); "" sends nothing.
    review_reasoning_effort: str = "low"
    implement_reasoning_effort: str = "medium"
    timeout_seconds: float = 300.0
    max_retries: int = Field(3, ge=0)  # on 429, 5xx, timeouts; Retry-After is honoured
    invalid_output_retries: int = Field(2, ge=0)  # re-asks after output that fails the schema
    json_mode: bool = True  # response_format json_object; turn off for servers without it
    max_output_tokens: int = 16000  # includes reasoning tokens
    daily_spend_cap_usd: float = Field(5.0, ge=0)
    prices: dict[str, Price] = Field(default_factory=lambda: dict(DEFAULT_PRICES))

    @field_validator("prices", mode="after")
    @classmethod
    def _keep_default_prices(cls, prices: dict[str, Price]) -> dict[str, Price]:
        return {**DEFAULT_PRICES, **prices}  # [llm.prices] adds or overrides models


class ReviewWeights(_Section):
    signals: float = 0.4
    review: float = 0.4
    tournament: float = 0.2


class Review(_Section):
    candidates: int = Field(20, ge=0)  # top papers by signals that the LLM reviews
    samples: int = Field(3, ge=1)  # reviews per paper, averaged
    tournament_size: int = Field(6, ge=0)  # top reviewed papers compared pairwise
    parallel: int = Field(4, ge=1)  # concurrent LLM requests
    # Papers the reviewers judge below this (1..10) are not picked: the implementer would
    # only spend attempts on them. Papers with a library implementation are exempt.
    min_implementability: float = Field(4.0, ge=1, le=10)
    weights: ReviewWeights = Field(default_factory=ReviewWeights)


class Implement(_Section):
    max_attempts: int = Field(3, ge=1)  # first try + repair rounds
    max_paper_chars: int = 60000  # of the paper's markdown sent to the model
    paper_text_url: str = "https://huggingface.co/papers/{arxiv_id}.md"
    validation_timeout_seconds: float = 600.0


class Day(_Section):
    """How a day runs end to end (both runtimes)."""

    # Ranking is a fan-out: selection waits this long for the last papers (e.g. ones that
    # went to the DLQ), then goes on if at most `max_unranked_share` are missing.
    ranking_deadline_minutes: float = Field(60.0, gt=0)
    max_unranked_share: float = Field(0.05, ge=0, le=1)
    # Earlier Hugging Face listings re-fetched each day: upvotes mature, and papers added
    # after that day's scrape join today's ranking.
    refresh_days: int = Field(1, ge=0, le=7)
    # Earlier days that are missing, partial or failed are run again, up to this far back.
    backfill_days: int = Field(3, ge=0, le=30)


class Config(_Section):
    interests: Interests = Field(default_factory=Interests)
    ranking: Ranking = Field(default_factory=Ranking)
    selection: Selection = Field(default_factory=Selection)
    training: Training = Field(default_factory=Training)
    sources: Sources = Field(default_factory=Sources)
    llm: LLM = Field(default_factory=LLM)
    review: Review = Field(default_factory=Review)
    implement: Implement = Field(default_factory=Implement)
    day: Day = Field(default_factory=Day)


class ConfigError(ValueError):
    pass


def _overlay(base: dict, over: dict) -> dict:
    """`over` on top of `base`: tables merge key by key, everything else is replaced."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merged[key] = _overlay(base[key], value)
        else:
            merged[key] = value
    return merged


def parse_config(text: str, origin: str = "<config>") -> Config:
    """A config file on top of the bundled defaults: a file that sets only `[llm]` keeps
    the default interests, weights and budgets."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin}: invalid TOML: {exc}") from exc
    try:
        return Config.model_validate(_overlay(tomllib.loads(default_config_text()), data))
    except ValidationError as exc:
        raise ConfigError(f"{origin}: {exc}") from exc


def default_config_text() -> str:
    return resources.files("paperfoundry.data").joinpath("default_config.toml").read_text()


def load_config(path: Path | None = None) -> Config:
    """Read `path`, or the bundled default when None."""
    if path is None:
        return parse_config(default_config_text(), "default_config.toml")
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from exc
    return parse_config(text, str(path))
