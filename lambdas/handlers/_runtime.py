"""What every handler shares: Powertools objects, settings from env vars, and the adapters,
built once per cold start (module-level cache) and reused by warm invocations.

Env var contract (set by the CDK stack): TABLE_NAME, BUCKET_NAME, QUEUE_URL, TOPIC_ARN,
TRAINER_IMAGE_URI, SAGEMAKER_ROLE_ARN, TRAINING_INSTANCE_TYPES (JSON: budget or task/budget
-> instance type, stacks/config.py), TRAINING_MAX_RUNTIME_SECONDS,
STATE_MACHINE_ARN, SITE_URL, BACKFILL_DAYS, LLM_SECRET_ARN, SLACK_WEBHOOK_SECRET_ARN,
POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE, STEPS (handlers/steps.py), and
only when the user sets them in the CDK context, MAX_PICKS, GPU_MINUTES_BUDGET and
ARXIV_CATEGORIES (they override the S3 config file).

Heavy or rarely used pieces (SageMaker backend, SNS, reporting) are built lazily, so the
rank Lambda (the one that fans out) imports only DynamoDB/S3 adapters and the ranking.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cached_property
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from paperfoundry.adapters.aws.dynamodb import DynamoStore
from paperfoundry.adapters.aws.s3 import S3BlobStore
from paperfoundry.config import Config, load_config, parse_config


class _NoTracer:
    """Stands in for Tracer when tracing is off: Powertools' Tracer imports the X-Ray SDK
    even when disabled, the largest single item of a cold start (~0.2-0.3 s)."""

    disabled = True

    @staticmethod
    def _passthrough(method: Any = None, **_: Any) -> Any:
        if method is None:
            return lambda fn: fn
        return method

    capture_lambda_handler = _passthrough
    capture_method = _passthrough

    def put_annotation(self, key: str, value: Any) -> None:
        pass

    def put_metadata(self, key: str, value: Any, namespace: str | None = None) -> None:
        pass


def _tracing_disabled() -> bool:
    return os.environ.get("POWERTOOLS_TRACE_DISABLED", "").lower() in ("1", "true", "yes", "on")


logger = Logger()
metrics = Metrics()
tracer: Any = _NoTracer() if _tracing_disabled() else Tracer()

CONFIG_KEY = "config/paperfoundry.toml"


def _env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None or value == "":
        raise RuntimeError(f"environment variable {name} is not set")
    return value


@dataclass
class Settings:
    table_name: str
    bucket_name: str
    queue_url: str | None
    topic_arn: str | None
    trainer_image_uri: str | None
    sagemaker_role_arn: str | None
    training_instance_types: str | None  # JSON, parsed with the backend (lazily)
    training_max_runtime_seconds: int | None
    max_picks: int | None
    gpu_minutes_budget: float | None
    arxiv_categories: list[str] | None
    backfill_days: int | None  # BACKFILL_DAYS overrides the config's day.backfill_days
    site_url: str | None
    state_machine_arn: str | None
    llm_secret_arn: str | None
    slack_webhook_secret_arn: str | None

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ.get

        def optional_number(name: str, kind: type) -> Any:
            raw = env(name)
            return kind(raw) if raw not in (None, "") else None

        categories = env("ARXIV_CATEGORIES")
        return cls(
            table_name=env("TABLE_NAME", ""),
            bucket_name=env("BUCKET_NAME", ""),
            queue_url=env("QUEUE_URL") or None,
            topic_arn=env("TOPIC_ARN") or None,
            trainer_image_uri=env("TRAINER_IMAGE_URI") or None,
            sagemaker_role_arn=env("SAGEMAKER_ROLE_ARN") or None,
            training_instance_types=env("TRAINING_INSTANCE_TYPES") or None,
            training_max_runtime_seconds=optional_number("TRAINING_MAX_RUNTIME_SECONDS", int),
            max_picks=optional_number("MAX_PICKS", int),
            gpu_minutes_budget=optional_number("GPU_MINUTES_BUDGET", float),
            arxiv_categories=[c.strip() for c in categories.split(",") if c.strip()]
            if categories
            else None,
            backfill_days=optional_number("BACKFILL_DAYS", int),
            site_url=env("SITE_URL") or None,
            state_machine_arn=env("STATE_MACHINE_ARN") or None,
            llm_secret_arn=env("LLM_SECRET_ARN") or None,
            slack_webhook_secret_arn=env("SLACK_WEBHOOK_SECRET_ARN") or None,
        )


@dataclass
class Runtime:
    """Adapters for one Lambda container. Clients are created on first use."""

    settings: Settings
    clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        if service not in self.clients:
            import boto3

            self.clients[service] = boto3.client(service)
        return self.clients[service]

    @cached_property
    def store(self) -> DynamoStore:
        return DynamoStore(_env("TABLE_NAME", self.settings.table_name), self.client("dynamodb"))

    @cached_property
    def blobs(self) -> S3BlobStore:
        return S3BlobStore(
            _env("BUCKET_NAME", self.settings.bucket_name),
            self.client("s3"),
            site_url=self.settings.site_url,
        )

    @cached_property
    def queue(self) -> Any:
        from paperfoundry.adapters.aws.sqs import SqsQueue

        return SqsQueue(_env("QUEUE_URL", self.settings.queue_url), self.client("sqs"))

    @cached_property
    def notifier(self) -> Any:
        if not self.settings.topic_arn:
            return None
        from paperfoundry.adapters.aws.sns import SnsNotifier

        return SnsNotifier(self.settings.topic_arn, self.client("sns"))

    @cached_property
    def backend(self) -> Any:
        from paperfoundry.adapters.aws.sagemaker import SageMakerBackend, instance_types_from_json

        config = self.config
        runtime = int(config.training.timeout_minutes * 60)
        ceiling = self.settings.training_max_runtime_seconds
        if ceiling and runtime > ceiling:
            # IAM denies CreateTrainingJob above the stack's ceiling: ask for what is allowed.
            logger.warning(
                "training.timeout_minutes above the stack's ceiling; clamped",
                extra={"requested_seconds": runtime, "ceiling_seconds": ceiling},
            )
            runtime = ceiling
        return SageMakerBackend(
            blobs=self.blobs,
            image_uri=self.settings.trainer_image_uri or "",
            role_arn=self.settings.sagemaker_role_arn or "",
            instance_types=instance_types_from_json(self.settings.training_instance_types),
            max_runtime_seconds=runtime,
            client=self.client("sagemaker"),
        )

    @cached_property
    def config(self) -> Config:
        """S3 config/paperfoundry.toml when present, else the bundled default; env vars
        MAX_PICKS, GPU_MINUTES_BUDGET and ARXIV_CATEGORIES override it."""
        try:
            text = self.blobs.get(CONFIG_KEY).decode()
        except KeyError:
            text = None
        except Exception as exc:
            # Without s3:ListBucket, S3 answers a missing key with 403 (AccessDenied).
            if getattr(exc, "response", {}).get("Error", {}).get("Code") != "AccessDenied":
                raise
            logger.warning("config not readable (absent?); using the bundled default")
            text = None
        if text is None:
            config = load_config()
        else:
            config = parse_config(text, self.blobs.uri(CONFIG_KEY))
        s = self.settings
        if s.max_picks is not None:
            config.selection.max_picks = s.max_picks
        if s.gpu_minutes_budget is not None:
            config.selection.gpu_minutes_budget = s.gpu_minutes_budget
        if s.arxiv_categories:
            config.sources.categories = s.arxiv_categories
        return config

    # -- LLM (only with LLM_SECRET_ARN) -------------------------------------------------------

    def llm_for(self, day: date) -> Any:
        """An LLMClient for `day` (the spend cap counts per day), or None when no LLM is
        configured. A secret that cannot be read or parsed raises: callers decide whether
        the day goes on signals-only."""
        if not self.settings.llm_secret_arn or self.config.llm.provider == "off":
            return None
        from paperfoundry.adapters.aws.secrets import get_secret
        from paperfoundry.llm.client import LLMClient, credentials_from_secret

        secret = get_secret(self.settings.llm_secret_arn, client=self.client("secretsmanager"))
        return LLMClient(self.config.llm, credentials_from_secret(secret), self.store, day)

    def implementer_for(self, llm: Any) -> Any:
        """LLM implementer without a local sandbox: generated code passes the static checks
        here and is validated only inside the network-isolated training job."""
        if llm is None:
            return None
        from paperfoundry.codegen.implementer import LLMImplementer

        return LLMImplementer(llm, self.config, validator=None)

    # -- links ----------------------------------------------------------------------------

    def report_link(self, key: str) -> tuple[str, str | None]:
        """A link a person can open: the site (CloudFront) when the stack has one, else a
        presigned S3 URL, with a sentence saying when it stops working."""
        link = self.blobs.report_link(key)
        return link.url, link.expiry_note or None


_runtime: Runtime | None = None


def get_runtime() -> Runtime:
    global _runtime
    if _runtime is None:
        _runtime = Runtime(Settings.from_env())
    return _runtime


def reset_runtime(runtime: Runtime | None = None) -> None:
    """Tests: drop the cached adapters (or install prepared ones)."""
    global _runtime
    _runtime = runtime


def utc_today() -> date:
    return datetime.now(UTC).date()
