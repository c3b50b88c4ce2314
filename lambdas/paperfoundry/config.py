"""The group's configuration: interests, ranking weights, selection budget, training.

Loaded from a TOML file (`paperfoundry.toml`, see `data/default_config.toml`); every
field has a default so an empty file is valid. On AWS the same file lives in S3 under
`config/paperfoundry.toml`.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

DEFAULT_CATEGORIES = ["cs.LG", "cs.CL", "cs.CV", "cs.AI"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Interests(_Section):
    topics: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)
    liked: list[str] = Field(default_factory=list, description="arXiv ids the group liked")
    exclude_categories: list[str] = Field(default_factory=list)


class Weights(_Section):
    relevance: float = 0.45
    upvotes: float = 0.20
    comments: float = 0.10
    stars: float = 0.10
    code: float = 0.05
    liked: float = 0.10


class Ranking(_Section):
    weights: Weights = Field(default_factory=Weights)
    # Cosine similarity at which relevance counts as a full match; TF-IDF cosines between
    # short profiles and abstracts rarely exceed ~0.3.
    relevance_saturation: float = 0.3


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


class Config(_Section):
    interests: Interests = Field(default_factory=Interests)
    ranking: Ranking = Field(default_factory=Ranking)
    selection: Selection = Field(default_factory=Selection)
    training: Training = Field(default_factory=Training)
    sources: Sources = Field(default_factory=Sources)


class ConfigError(ValueError):
    pass


def parse_config(text: str, origin: str = "<config>") -> Config:
    try:
        return Config.model_validate(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin}: invalid TOML: {exc}") from exc
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
