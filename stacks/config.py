"""Typed view of the CDK context (cdk.json defaults, overridable with `-c key=value`).

Nothing personal lives in code: account and region come from CDK_DEFAULT_ACCOUNT /
CDK_DEFAULT_REGION, e-mail addresses, secret names and the GitHub repository from context.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from constructs import Node

STAGES = ("dev", "prod")
_REPO_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_ENV_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
MAX_TRAINING_RUNTIME_MINUTES = 24 * 60  # the pipeline runs daily: no job may outlive a day


@dataclass(frozen=True)
class AppConfig:
    stage: str = "dev"
    notification_email: str | None = None
    scrape_schedule: str = "cron(0 7 ? * MON-FRI *)"
    select_timeout_schedule: str = "cron(0 11 ? * MON-FRI *)"
    schedule_timezone: str = "UTC"
    training_instance_type: str = "ml.g5.xlarge"
    # Ceiling for one training job's MaxRuntimeInSeconds, enforced by IAM on
    # CreateTrainingJob (the Lambdas clamp the TOML's training.timeout_minutes to it).
    training_max_runtime_minutes: int = 60
    max_picks: int = 3
    gpu_minutes_budget: int = 120
    arxiv_categories: str = "cs.LG,cs.CL,cs.CV,cs.AI"
    backfill_days: int = 3
    log_level: str = "INFO"
    slack_webhook_secret_name: str | None = None
    llm_secret_name: str | None = None
    trainer_base_image: str | None = None
    github_repository: str | None = None
    github_environments: tuple[str, ...] = ("dev", "prod")
    github_oidc_provider_arn: str | None = None
    cdk_qualifier: str = "hnb659fds"
    # X-Ray costs ~300 ms of cold start (the SDK import), so it is opt-in.
    tracing: bool = False

    @property
    def is_prod(self) -> bool:
        return self.stage == "prod"


def _str(node: Node, key: str) -> str | None:
    value = node.try_get_context(key)
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def _int(node: Node, key: str, default: int) -> int:
    value = node.try_get_context(key)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"context {key!r} must be an integer, got {value!r}") from exc


def _list(node: Node, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    value = node.try_get_context(key)
    if value in (None, ""):
        return default
    if isinstance(value, str):
        text = value.strip()
        # `-c githubEnvironments='["dev","prod"]'` arrives as a string; so does "dev,prod".
        items = json.loads(text) if text.startswith("[") else text.split(",")
    else:
        items = list(value)
    return tuple(str(i).strip() for i in items if str(i).strip())


def load_config(node: Node) -> AppConfig:
    defaults = AppConfig()
    stage = _str(node, "stage") or defaults.stage
    if stage not in STAGES:
        raise ValueError(f"context 'stage' must be one of {STAGES}, got {stage!r}")

    repo = _str(node, "githubRepository")
    if repo is not None and not _REPO_RE.match(repo):
        raise ValueError(f"context 'githubRepository' must look like owner/name, got {repo!r}")
    envs = _list(node, "githubEnvironments", defaults.github_environments)
    for env in envs:
        if not _ENV_RE.match(env):
            raise ValueError(f"invalid GitHub environment name {env!r}")

    max_picks = _int(node, "maxPicks", defaults.max_picks)
    budget = _int(node, "gpuMinutesBudget", defaults.gpu_minutes_budget)
    if max_picks < 1 or budget < 1:
        raise ValueError("maxPicks and gpuMinutesBudget must be positive")
    max_runtime = _int(node, "trainingMaxRuntimeMinutes", defaults.training_max_runtime_minutes)
    if not 1 <= max_runtime <= MAX_TRAINING_RUNTIME_MINUTES:
        raise ValueError(
            f"trainingMaxRuntimeMinutes must be between 1 and {MAX_TRAINING_RUNTIME_MINUTES}"
        )

    return AppConfig(
        stage=stage,
        notification_email=_str(node, "notificationEmail"),
        scrape_schedule=_str(node, "scrapeSchedule") or defaults.scrape_schedule,
        select_timeout_schedule=_str(node, "selectTimeoutSchedule")
        or defaults.select_timeout_schedule,
        schedule_timezone=_str(node, "scheduleTimezone") or defaults.schedule_timezone,
        training_instance_type=_str(node, "trainingInstanceType")
        or defaults.training_instance_type,
        training_max_runtime_minutes=max_runtime,
        max_picks=max_picks,
        gpu_minutes_budget=budget,
        arxiv_categories=_str(node, "arxivCategories") or defaults.arxiv_categories,
        backfill_days=_int(node, "backfillDays", defaults.backfill_days),
        log_level=_str(node, "logLevel") or defaults.log_level,
        slack_webhook_secret_name=_str(node, "slackWebhookSecretName"),
        llm_secret_name=_str(node, "llmSecretName"),
        trainer_base_image=_str(node, "trainerBaseImage"),
        github_repository=repo,
        github_environments=envs,
        github_oidc_provider_arn=_str(node, "githubOidcProviderArn"),
        cdk_qualifier=_str(node, "cdkQualifier") or defaults.cdk_qualifier,
        tracing=str(node.try_get_context("enableTracing") or "").lower() in ("1", "true", "yes"),
    )
