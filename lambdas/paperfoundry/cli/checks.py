"""What the CLI checks before it does anything: the config (found, read, validated), the
LLM provider's credentials, the interests profile, CUDA when asked for; and `validate`'s
path for one file. No typer here, and no network."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from ..config import Config, ConfigError, find_config, load_config


class UsageError(ValueError):
    """A bad command line found after parsing (conflicting options, a future day)."""


@dataclass
class Checked:
    """A config that passed every check, with what the checks found out."""

    config: Config
    path: Path | None
    source: str  # "--config", "$PAPERFOUNDRY_CONFIG", "./paperfoundry.toml" or "defaults"
    llm: str  # "off" or the provider, e.g. "openai"
    notes: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        if self.path is None:
            return "bundled defaults (no paperfoundry.toml here, no $PAPERFOUNDRY_CONFIG)"
        return f"{self.path} (from {self.source})"


def parse_day(text: str, *, today: date | None = None) -> date:
    """YYYY-MM-DD, not after today (UTC): a future day has no papers yet."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"expected a day as YYYY-MM-DD, got {text!r}") from None
    today = today or datetime.now(UTC).date()
    if day > today:
        raise UsageError(f"{day} is in the future (today is {today} UTC): no papers yet")
    return day


def check_config(
    explicit: Path | None = None,
    *,
    llm: bool = True,
    train: bool = True,
    device: str | None = None,
    budget: str | None = None,
) -> Checked:
    """Find, read and check the config the way a run uses it; raises ConfigError with one
    line per problem. `device` and `budget` are the command line's overrides."""
    path, source = find_config(explicit)
    config = load_config(path)
    if device:
        config.training.device = device  # type: ignore[assignment]
    if budget:
        config.training.budget = budget  # type: ignore[assignment]
    problems: list[str] = []
    notes: list[str] = []
    provider = "off"
    if llm:
        from ..llm.client import credentials_from_env

        try:
            creds = credentials_from_env(config.llm)
        except ValueError as exc:
            problems.append(str(exc))
        else:
            provider = creds.provider if creds is not None else "off"
    if config.interests.profile:
        from ..ranking.profile import ProfileError, read_profile_file

        try:
            n = len(read_profile_file(config.interests.profile))
            notes.append(f"interests.profile {config.interests.profile!r}: {n} papers")
        except ProfileError as exc:
            problems.append(f"interests.profile: {exc}")
    if train and config.training.device == "cuda" and not _cuda_available():
        why = "--device cuda" if device == "cuda" else "training.device = 'cuda'"
        problems.append(f"{why}: no CUDA device here (use auto or cpu)")
    if problems:
        origin = str(path) if path is not None else "config"
        raise ConfigError("\n".join(f"{origin}: {p}" for p in problems))
    return Checked(config, path, source, provider, notes)


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def liked_not_in_store(config: Config, out: Path) -> list[str]:
    """Liked ids the local store does not have (a run fetches them from arXiv first)."""
    liked = config.interests.liked
    db = out / "paperfoundry.sqlite"
    if not liked:
        return []
    if not db.is_file():
        return list(liked)
    from ..adapters.local.sqlite_store import SqliteStore

    store = SqliteStore(db)
    try:
        return [i for i in liked if store.get_paper(i) is None]
    finally:
        store.close()


def validate_file(impl: Path, task: str, budget: str, timeout: float) -> dict:
    """Static checks, then the jailed validation: the implementer's path, for one file."""
    from ..adapters.local.sandbox import SandboxValidator
    from ..codegen.codecheck import static_check

    source = impl.read_text()
    validator = SandboxValidator(budget, timeout)
    result: dict = {"impl": str(impl), "task": task, "budget": budget}
    failure = static_check(source, impl.name)
    if failure is not None:
        return result | {"ok": False, "ran": False, "checked_by": "static checks (code not run)",
                         "params": None, "failure": failure.model_dump()}  # fmt: skip
    checked = validator.check(source, impl.name, task)
    ok, failure = bool(checked.get("ok")), checked.get("failure")
    return result | {
        "ok": ok,
        "ran": ok or failure["stage"] != "isolation",
        "checked_by": f"static checks, then {validator.name}",
        "params": checked.get("params"),
        "failure": failure,
    }


def validate_trusted(
    impl: Path,
    task: str,
    budget: str,
    timeout: float,
    device: str = "cpu",
    param_budget: int | None = None,
) -> dict:
    """The harness's own validation in a plain child process: no static checks, no jail
    (`python -m paperfoundry_trainer validate --isolation none`), for code you trust."""
    from paperfoundry_trainer.spec import get_budget
    from paperfoundry_trainer.validate import validate_in_subprocess

    spec = get_budget(task, budget, param_budget=param_budget).spec
    checked = validate_in_subprocess(
        impl, spec, device, timeout, isolation="none", env=dict(os.environ)
    )
    return {
        "impl": str(impl),
        "task": task,
        "budget": budget,
        "ok": bool(checked.get("ok")),
        "ran": True,
        "checked_by": "the harness's validation, trusted (no static checks, no jail)",
        "params": checked.get("params"),
        "failure": checked.get("failure"),
    }
