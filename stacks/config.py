"""Typed view of the CDK context (cdk.json defaults, overridable with `-c key=value`).

Nothing personal lives in code: account and region come from CDK_DEFAULT_ACCOUNT /
CDK_DEFAULT_REGION, e-mail addresses, secret names and the GitHub repository from context.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field

from constructs import Node

STAGES = ("dev", "prod")
_REPO_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_ENV_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
MAX_TRAINING_RUNTIME_MINUTES = 24 * 60  # the pipeline runs daily: no job may outlive a day
# The harness's budgets and task families (containers/trainer spec.py; a test keeps them
# equal) and the SageMaker instance of each budget, as the SageMaker adapter's
# INSTANCE_TYPES (lambdas/paperfoundry/adapters/aws/sagemaker.py; a test keeps them equal).
TRAINING_BUDGETS = ("tiny", "small", "medium", "large")
TRAINING_TASKS = ("mqar", "lm", "image", "diffusion")
DEFAULT_TRAINING_INSTANCE_TYPES = {
    "tiny": "ml.c5.2xlarge",
    "small": "ml.c5.2xlarge",
    "medium": "ml.g5.2xlarge",
    "large": "ml.g6e.xlarge",
}
_INSTANCE_TYPE_RE = re.compile(r"^ml\.[a-z0-9]+\.[a-z0-9]+$")


@dataclass(frozen=True)
class AppConfig:
    stage: str = "dev"
    notification_email: str | None = None
    # Subscriber of the ops (alarm) topic; required for stage=prod.
    alarm_email: str | None = None
    scrape_schedule: str = "cron(0 7 ? * MON-FRI *)"
    # When the digest watchdog looks for the day's digest (alarm DigestMissing if none).
    digest_deadline_schedule: str = "cron(0 12 ? * MON-FRI *)"
    schedule_timezone: str = "UTC"
    # SageMaker instance per budget, or per "<task>/<budget>" where one family needs another
    training_instance_types: dict[str, str] = field(
        default_factory=lambda: dict(DEFAULT_TRAINING_INSTANCE_TYPES)
    )
    # Ceiling for one training job's MaxRuntimeInSeconds, enforced by IAM on
    # CreateTrainingJob (the Lambdas clamp the TOML's training.timeout_minutes to it).
    training_max_runtime_minutes: int = 60
    # Overrides of config/paperfoundry.toml, set as Lambda env vars only when given.
    max_picks: int | None = None
    gpu_minutes_budget: int | None = None
    arxiv_categories: str | None = None
    backfill_days: int | None = None  # None: the config file's day.backfill_days
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
    # The report site (CloudFront + OAC). Off: the digest links presigned S3 URLs.
    site: bool = True
    site_allow_cidrs: tuple[str, ...] = ()

    @property
    def is_prod(self) -> bool:
        return self.stage == "prod"

    @property
    def training_instance_types_used(self) -> tuple[str, ...]:
        """Every instance type a training job may ask for: what IAM allows, no more."""
        return tuple(sorted(set(self.training_instance_types.values())))

    def config_overrides(self) -> dict[str, str]:
        """Lambda env vars that override config/paperfoundry.toml, only for the context keys
        the user gave (maxPicks, gpuMinutesBudget, arxivCategories, backfillDays): without
        them the TOML in S3 (or the bundled default) decides."""
        overrides = {
            "BACKFILL_DAYS": self.backfill_days,
            "MAX_PICKS": self.max_picks,
            "GPU_MINUTES_BUDGET": self.gpu_minutes_budget,
            "ARXIV_CATEGORIES": self.arxiv_categories,
        }
        return {k: str(v) for k, v in overrides.items() if v is not None}


def _str(node: Node, key: str) -> str | None:
    value = node.try_get_context(key)
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def _optional_int(node: Node, key: str) -> int | None:
    value = node.try_get_context(key)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"context {key!r} must be an integer, got {value!r}") from exc


def _int(node: Node, key: str, default: int) -> int:
    value = _optional_int(node, key)
    return default if value is None else value


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


def _bool(node: Node, key: str, default: bool) -> bool:
    value = node.try_get_context(key)
    if value in (None, ""):
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"context {key!r} must be true or false, got {value!r}")


def _cidrs(node: Node, key: str) -> tuple[str, ...]:
    cidrs = _list(node, key, ())
    for cidr in cidrs:
        try:
            ipaddress.ip_network(cidr, strict=True)
        except ValueError as exc:
            raise ValueError(f"context {key!r}: {cidr!r} is not a CIDR ({exc})") from exc
    return cidrs


def _schedule(node: Node, key: str, default: str) -> str:
    value = _str(node, key) or default
    if not value.startswith(("cron(", "rate(", "at(")) or not value.endswith(")"):
        raise ValueError(f"context {key!r} must be cron(...), rate(...) or at(...), got {value!r}")
    return value


def _instance_types(node: Node) -> dict[str, str]:
    """trainingInstanceTypes laid over the default table. The older trainingInstanceType,
    when given, first puts every budget on that one type (its meaning before the table)."""
    legacy = _str(node, "trainingInstanceType")
    if legacy is not None and not _INSTANCE_TYPE_RE.match(legacy):
        raise ValueError(f"context 'trainingInstanceType': {legacy!r} is not an ml.* type")
    given = node.try_get_context("trainingInstanceTypes") or {}
    if isinstance(given, str):  # `-c trainingInstanceTypes='{"medium": "ml.g5.xlarge"}'`
        try:
            given = json.loads(given) if given.strip() else {}
        except ValueError as exc:
            raise ValueError(f"context 'trainingInstanceTypes' is not JSON ({exc})") from None
    if not isinstance(given, dict):
        raise ValueError("context 'trainingInstanceTypes' must be a JSON object")
    keys = set(TRAINING_BUDGETS) | {f"{t}/{b}" for t in TRAINING_TASKS for b in TRAINING_BUDGETS}
    for key, value in given.items():
        if key not in keys:
            raise ValueError(
                f"context 'trainingInstanceTypes': {key!r} is not a budget "
                f"({', '.join(TRAINING_BUDGETS)}) or <task>/<budget> with a task of "
                f"{', '.join(TRAINING_TASKS)}"
            )
        if not isinstance(value, str) or not _INSTANCE_TYPE_RE.match(value):
            raise ValueError(
                f"context 'trainingInstanceTypes': {key!r}: {value!r} is not an ml.* type"
            )
    if legacy is not None:
        return {**dict.fromkeys(TRAINING_BUDGETS, legacy), **given}
    return {**DEFAULT_TRAINING_INSTANCE_TYPES, **given}


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

    max_picks = _optional_int(node, "maxPicks")
    budget = _optional_int(node, "gpuMinutesBudget")
    if (max_picks is not None and max_picks < 1) or (budget is not None and budget < 1):
        raise ValueError("maxPicks and gpuMinutesBudget must be positive")
    alarm_email = _str(node, "alarmEmail")
    if stage == "prod" and alarm_email is None:
        raise ValueError(
            "stage=prod needs an alarm subscriber: set context 'alarmEmail' "
            "(-c alarmEmail=<address>, or the ALARM_EMAIL variable of the GitHub "
            "environment); without it alarms reach nobody"
        )
    max_runtime = _int(node, "trainingMaxRuntimeMinutes", defaults.training_max_runtime_minutes)
    if not 1 <= max_runtime <= MAX_TRAINING_RUNTIME_MINUTES:
        raise ValueError(
            f"trainingMaxRuntimeMinutes must be between 1 and {MAX_TRAINING_RUNTIME_MINUTES}"
        )

    return AppConfig(
        stage=stage,
        notification_email=_str(node, "notificationEmail"),
        alarm_email=alarm_email,
        scrape_schedule=_schedule(node, "scrapeSchedule", defaults.scrape_schedule),
        digest_deadline_schedule=_schedule(
            node, "digestDeadline", defaults.digest_deadline_schedule
        ),
        schedule_timezone=_str(node, "scheduleTimezone") or defaults.schedule_timezone,
        training_instance_types=_instance_types(node),
        training_max_runtime_minutes=max_runtime,
        max_picks=max_picks,
        gpu_minutes_budget=budget,
        arxiv_categories=_str(node, "arxivCategories"),
        backfill_days=_optional_int(node, "backfillDays"),
        log_level=_str(node, "logLevel") or defaults.log_level,
        slack_webhook_secret_name=_str(node, "slackWebhookSecretName"),
        llm_secret_name=_str(node, "llmSecretName"),
        trainer_base_image=_str(node, "trainerBaseImage"),
        github_repository=repo,
        github_environments=envs,
        github_oidc_provider_arn=_str(node, "githubOidcProviderArn"),
        cdk_qualifier=_str(node, "cdkQualifier") or defaults.cdk_qualifier,
        tracing=_bool(node, "enableTracing", defaults.tracing),
        site=_bool(node, "site", defaults.site),
        site_allow_cidrs=_cidrs(node, "siteAllowCidrs"),
    )
