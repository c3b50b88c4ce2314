"""The group's configuration: interests, ranking weights, selection budget, training.

Loaded from a TOML file (`paperfoundry.toml`) laid over the bundled defaults
(`data/default_config.toml`): every key is optional, and a key left out keeps its default.
Locally the file is `--config FILE`, else `$PAPERFOUNDRY_CONFIG`, else `./paperfoundry.toml`
(`find_config`); on AWS the same file lives in S3 under `config/paperfoundry.toml`.

Everything is checked when the file is read, before any network call: choices (budget,
device, sources, LLM provider), ranges, arXiv ids and categories; an unknown key is an error
with the closest known key as a suggestion. `ConfigError`'s message has one line per problem.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .models import split_arxiv_id

DEFAULT_CATEGORIES = ["cs.LG", "cs.CL", "cs.CV", "cs.AI"]
CONFIG_ENV = "PAPERFOUNDRY_CONFIG"
CONFIG_FILE = "paperfoundry.toml"
BUDGETS = ("tiny", "small", "medium", "large")  # the harness's (paperfoundry_trainer.spec)
Budget = Literal["tiny", "small", "medium", "large"]
Device = Literal["auto", "cpu", "cuda"]
SourceName = Literal["huggingface", "arxiv"]
# arXiv subject classes as the sources accept them (sources/arxiv.py CATEGORY_RE): cs.LG
_CATEGORY_RE = re.compile(r"^[a-z\-]+(?:\.[A-Za-z\-]+)?$")
# "arXiv:2402.18668v2", "https://arxiv.org/abs/2402.18668", "2402.18668" -> 2402.18668
_ARXIV_PREFIX_RE = re.compile(r"^(?:arxiv:\s*|https?://(?:www\.)?arxiv\.org/(?:abs|pdf)/)", re.I)


def normalize_arxiv_id(raw: str) -> str:
    """A liked paper's id as the store keys it (no version); ValueError if it is none."""
    text = _ARXIV_PREFIX_RE.sub("", str(raw).strip()).removesuffix(".pdf")
    try:
        return split_arxiv_id(text)[0]
    except ValueError:
        raise ValueError(
            f"{raw!r} is not an arXiv id (expected e.g. 2402.18668 or cs/0112017)"
        ) from None


def _categories(values: list[str]) -> list[str]:
    bad = [v for v in values if not _CATEGORY_RE.match(v)]
    if bad:
        raise ValueError(f"not an arXiv category: {', '.join(map(repr, bad))} (e.g. cs.LG)")
    return values


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

    @field_validator("liked", mode="after")
    @classmethod
    def _arxiv_ids(cls, values: list[str]) -> list[str]:
        """Bare ids, as the store keys papers ("arXiv:2402.18668v2" -> "2402.18668")."""
        ids, bad = [], []
        for value in values:
            try:
                ids.append(normalize_arxiv_id(value))
            except ValueError:
                bad.append(value)
        if bad:
            raise ValueError(
                f"not an arXiv id: {', '.join(map(repr, bad))} (expected e.g. 2402.18668)"
            )
        return list(dict.fromkeys(ids))

    @field_validator("exclude_categories", mode="after")
    @classmethod
    def _exclude_categories(cls, values: list[str]) -> list[str]:
        return _categories(values)


class Weights(_Section):
    relevance: float = Field(0.60, ge=0)
    upvotes: float = Field(0.15, ge=0)
    comments: float = Field(0.05, ge=0)
    stars: float = Field(0.05, ge=0)
    code: float = Field(0.05, ge=0)
    liked: float = Field(0.10, ge=0)

    @model_validator(mode="after")
    def _not_all_zero(self) -> Weights:
        if self.total <= 0:
            raise ValueError("at least one weight must be above 0 (every score would be 0)")
        return self

    @property
    def total(self) -> float:
        return sum(self.model_dump().values())


class Ranking(_Section):
    weights: Weights = Field(default_factory=Weights)
    # Cosine similarity at which `liked` counts as a full match (and relevance, when the
    # profile has too few papers to calibrate a threshold).
    relevance_saturation: float = Field(0.3, gt=0, le=1)
    # Share of the profile's own papers (each scored against the others) that count as
    # fitting: sets the fit threshold, which scores exactly `selection.min_score` when a
    # paper has no other signal (ranking/score.py).
    fit_recall: float = Field(0.8, gt=0, lt=1)
    # How much of ML papers' average vector is taken off the profile's (Rocchio): terms
    # every paper uses stop counting as a fit (0.5: best on the evaluation, README).
    contrast: float = Field(0.5, ge=0, le=2)


class Selection(_Section):
    max_picks: int = Field(3, ge=0, le=100)
    gpu_minutes_budget: float = Field(60.0, ge=0)
    minutes_per_pick: float = Field(20.0, gt=0)
    # A score is a weighted sum of parts in [0, 1]: at most the sum of the weights (1 with
    # the defaults); `Config` checks that this can be reached.
    min_score: float = Field(0.2, ge=0)


class Training(_Section):
    budget: Budget = "small"
    device: Device = "auto"
    timeout_minutes: float = Field(30.0, gt=0)


class Sources(_Section):
    categories: list[str] = Field(default_factory=lambda: list(DEFAULT_CATEGORIES))
    enabled: list[SourceName] = Field(
        default_factory=lambda: ["huggingface", "arxiv"], min_length=1
    )
    timeout_seconds: float = Field(20.0, gt=0)

    @field_validator("categories", mode="after")
    @classmethod
    def _arxiv_categories(cls, values: list[str]) -> list[str]:
        return _categories(values)


class Price(_Section):
    """USD per million tokens."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cached_input: float | None = Field(None, ge=0)  # defaults to the input price


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
    timeout_seconds: float = Field(300.0, gt=0)
    max_retries: int = Field(3, ge=0)  # on 429, 5xx, timeouts; Retry-After is honoured
    invalid_output_retries: int = Field(2, ge=0)  # re-asks after output that fails the schema
    json_mode: bool = True  # response_format json_object; turn off for servers without it
    max_output_tokens: int = Field(16000, gt=0)  # includes reasoning tokens
    daily_spend_cap_usd: float = Field(5.0, ge=0)
    prices: dict[str, Price] = Field(default_factory=lambda: dict(DEFAULT_PRICES))

    @field_validator("prices", mode="after")
    @classmethod
    def _keep_default_prices(cls, prices: dict[str, Price]) -> dict[str, Price]:
        return {**DEFAULT_PRICES, **prices}  # [llm.prices] adds or overrides models


class ReviewWeights(_Section):
    signals: float = Field(0.4, ge=0)
    review: float = Field(0.4, ge=0)
    tournament: float = Field(0.2, ge=0)


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
    max_paper_chars: int = Field(60000, gt=0)  # of the paper's markdown sent to the model
    paper_text_url: str = "https://huggingface.co/papers/{arxiv_id}.md"
    validation_timeout_seconds: float = Field(600.0, gt=0)

    @field_validator("paper_text_url", mode="after")
    @classmethod
    def _has_placeholder(cls, value: str) -> str:
        if value and "{arxiv_id}" not in value:
            raise ValueError("must contain {arxiv_id} (or be empty: abstracts only)")
        return value


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

    @model_validator(mode="after")
    def _min_score_reachable(self) -> Config:
        signals = self.ranking.weights.total
        w = self.review.weights
        best = max(signals, w.signals * signals + w.review + w.tournament)
        if self.selection.min_score > best + 1e-9:
            raise ValueError(
                f"selection.min_score = {self.selection.min_score:g} can never be reached: "
                f"a score is at most {best:g} with these weights (nothing would be picked)"
            )
        return self


class ConfigError(ValueError):
    """The config cannot be used; one line per problem, each naming its key."""


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
        raise ConfigError("\n".join(f"{origin}: {p}" for p in describe_errors(exc))) from None


def default_config_text() -> str:
    return resources.files("paperfoundry.data").joinpath("default_config.toml").read_text()


def load_config(path: Path | None = None) -> Config:
    """Read `path`, or the bundled default when None."""
    if path is None:
        return parse_config(default_config_text(), "default_config.toml")
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"cannot read config {path}: not UTF-8 text") from None
    return parse_config(text, str(path))


def find_config(
    explicit: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> tuple[Path | None, str]:
    """Which config file a local command uses, and why: `--config FILE`, else
    `$PAPERFOUNDRY_CONFIG`, else `./paperfoundry.toml`, else none (the bundled defaults).
    A file named explicitly (option or variable) must exist."""
    env = os.environ if env is None else env
    if explicit is not None:
        where = (explicit, "--config")
    elif env.get(CONFIG_ENV, "").strip():
        where = (Path(env[CONFIG_ENV].strip()).expanduser(), f"${CONFIG_ENV}")
    else:
        local = Path(CONFIG_FILE) if cwd is None else cwd / CONFIG_FILE
        return (local, f"./{CONFIG_FILE}") if local.is_file() else (None, "defaults")
    path, why = where
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "does not exist"
        raise ConfigError(f"config {path} (from {why}) {what}")
    return path, why


# -- the effective config as TOML ---------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        items = ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()
                          if v is not None)  # fmt: skip
        return "{ " + items + " }" if items else "{}"
    raise TypeError(f"no TOML for {type(value).__name__}")


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def config_toml(config: Config) -> str:
    """Every key of `config` as TOML (`paperfoundry config --effective`); reading it back
    gives the same config."""
    lines: list[str] = []

    def table(name: str, model: BaseModel) -> None:
        lines.append(f"[{name}]")
        subtables = []
        for key in type(model).model_fields:
            value = getattr(model, key)
            if isinstance(value, BaseModel):
                subtables.append((f"{name}.{key}", value))
            elif isinstance(value, dict) and all(isinstance(v, BaseModel) for v in value.values()):
                data = {k: v.model_dump(mode="json") for k, v in value.items()}
                subtables.append((f"{name}.{key}", data))
            else:
                if isinstance(value, list):  # [[interests.papers]] as inline tables
                    value = [v.model_dump(mode="json") if isinstance(v, BaseModel) else v
                             for v in value]  # fmt: skip
                lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
        for sub_name, sub in subtables:
            if isinstance(sub, BaseModel):
                table(sub_name, sub)
            else:
                lines.append(f"[{sub_name}]")
                lines.extend(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in sub.items())
                lines.append("")

    for section in type(config).model_fields:
        table(section, getattr(config, section))
    return "\n".join(lines)


# -- error messages -----------------------------------------------------------------------


def _section_at(loc: tuple[Any, ...]) -> tuple[type[BaseModel] | None, str]:
    """The model that holds the key at `loc` (loc minus its last part), and its TOML
    table name ("selection", "llm.prices.gpt-5")."""
    model: Any = Config
    for part in loc[:-1]:
        if isinstance(part, int):  # an item of a list of tables: same model
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            # a key of a dict (llm.prices."gpt-5"): the value type holds the next key
            args = getattr(model, "__args__", ())
            model = args[-1] if args and _dict_like(model) else None
            continue
        field = model.model_fields.get(str(part))
        model = _unwrap(field.annotation) if field is not None else None
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        model = None
    table = ".".join(str(p) for p in loc[:-1] if not isinstance(p, int))
    return model, table


def _dict_like(annotation: Any) -> bool:
    return getattr(annotation, "__origin__", None) is dict


def _unwrap(annotation: Any) -> Any:
    """list[ProfilePaper] -> ProfilePaper; dict[str, Price] and models stay as they are."""
    if getattr(annotation, "__origin__", None) is list:
        return annotation.__args__[0]
    return annotation


def _did_you_mean(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    return f"known keys: {', '.join(known)}" if known else "this table takes no keys"


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "a table"
    text = (
        repr(value)
        if isinstance(value, str)
        else str(value).lower()
        if isinstance(value, bool)
        else str(value)
    )
    return text if len(text) <= 60 else text[:57] + "..."


def describe_errors(exc: ValidationError) -> list[str]:
    """pydantic's errors as one line each: the key, the value, what is wrong, and for an
    unknown key the closest known one."""
    lines: list[str] = []
    for error in exc.errors(include_url=False):
        loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and "[" in p))
        key = ".".join(str(p) for p in loc if not isinstance(p, int)) or "(top level)"
        message = error["msg"]
        if error["type"] == "extra_forbidden" and loc:
            model, table = _section_at(loc)
            known = list(model.model_fields) if model is not None else []
            name = str(loc[-1])
            where = f"[{table}]" if table else "top level"
            kind = "table" if isinstance(error.get("input"), dict) else "key"
            lines.append(f"unknown {kind} {name!r} in {where}: {_did_you_mean(name, known)}")
            continue
        message = message.removeprefix("Value error, ")
        message = message[:1].lower() + message[1:]
        value = error.get("input")
        if error["type"] == "missing":
            lines.append(f"{key}: required")
        elif loc and isinstance(value, dict):  # a check of a whole table
            lines.append(f"[{key}]: {message}")
        elif loc:
            lines.append(f"{key} = {_shown(value)}: {message}")
        else:
            lines.append(message)
    return lines
