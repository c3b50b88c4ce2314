"""Functions: the Lambda handlers (the day's step functions, rank, start, watchdog, Slack),
the Powertools layer and each function's least-privilege grants."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns_subscriptions as subs
from aws_cdk import aws_ssm as ssm
from aws_cdk import aws_stepfunctions as sfn
from cdk_nag import NagSuppressions
from constructs import Construct

from stacks import nag
from stacks.bundling import lambda_code
from stacks.config import AppConfig
from stacks.messaging import RANK_TIMEOUT, Messaging
from stacks.storage import (
    PREFIX_CONFIG,
    PREFIX_DAYS,
    PREFIX_EMBEDDINGS,
    PREFIX_IMPLEMENTATIONS,
    PREFIX_REPORTS,
    PREFIX_TRAINING,
    Storage,
)
from stacks.training import TRAINING_JOB_PREFIX, Training

RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.X86_64  # matches the manylinux2014_x86_64 bundle + layer
POWERTOOLS_ARCH = "x86_64"
POWERTOOLS_PYTHON = "python3.12"
SERVICE_NAME = "paperfoundry"
METRICS_NAMESPACE = "PaperFoundry"


def powertools_layer_parameter(version: str = "latest") -> str:
    """Public SSM parameter holding the Powertools for AWS Lambda (Python) v3 layer ARN."""
    return f"/aws/service/powertools/python/{POWERTOOLS_ARCH}/{POWERTOOLS_PYTHON}/{version}"


@dataclass(frozen=True)
class FunctionSpec:
    handler: str
    description: str
    timeout: Duration
    memory: int
    steps: tuple[str, ...] = ()  # chain steps this function may run (handlers/steps.py)
    async_invoked: bool = True


STEP_HANDLER = "handlers.steps.handler"
SPECS: dict[str, FunctionSpec] = {
    "Start": FunctionSpec(
        "handlers.start.handler",
        "Start the day's state machine execution (and backfill of unfinished days)",
        Duration.minutes(1),
        256,
    ),
    "Scrape": FunctionSpec(
        STEP_HANDLER,
        "Day step: fetch one scrape unit (HF Daily Papers, one arXiv category, a refresh)",
        Duration.minutes(10),  # arXiv API paging at one request per 3 s, Retry-After waits
        # Measured (benchmarks/aws_day.py --papers 10000 --scrape-only): the biggest unit,
        # 9,000 arXiv papers, peaks at 208 MiB of Python heap over a ~100 MB runtime:
        # ~310 MB of 512 (a unit is one category's day, so a day's size splits across units)
        512,
        ("plan_scrape", "scrape", "scrape_failed"),
        async_invoked=False,
    ),
    "Day": FunctionSpec(
        STEP_HANDLER,
        "Day steps: ingest + rank fan-out, ranking progress, select, report",
        Duration.minutes(5),
        1024,
        ("ingest", "ranking_progress", "select", "report", "published", "publish_failed"),
        async_invoked=False,
    ),
    "Llm": FunctionSpec(
        STEP_HANDLER,
        "Day steps with the LLM: review + tournament, implement (and repair) a pick",
        # 20 candidates x 3 reviews + 15 comparisons; a retry continues (reviews are stored)
        Duration.minutes(15),
        1024,
        ("review", "implement"),
        async_invoked=False,
    ),
    "Train": FunctionSpec(
        STEP_HANDLER,
        "Day steps: prepare a pick's SageMaker training job, collect its results",
        Duration.minutes(2),
        1024,
        ("start_training", "finish_training"),
        async_invoked=False,
    ),
    "Rank": FunctionSpec(
        "handlers.rank.handler",
        "Rank papers from the papers queue (the day's state machine polls the scores)",
        RANK_TIMEOUT,
        1024,
        async_invoked=False,
    ),
    "Watchdog": FunctionSpec(
        "handlers.watchdog.handler",
        "No digest by the deadline -> DigestMissing; collect runs whose execution was lost",
        Duration.minutes(2),
        512,
    ),
    "Slack": FunctionSpec(
        "handlers.slack.handler",
        "Forward SNS digests to a Slack incoming webhook",
        Duration.seconds(30),
        256,
    ),
}


class Functions(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AppConfig,
        lambdas_dir: Path,
        storage: Storage,
        messaging: Messaging,
        training: Training,
        site_url: str | None = None,
        powertools_version: str = "latest",
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self._messaging = messaging
        self._storage = storage
        stack = Stack.of(self)

        # Resolved by CloudFormation at deploy time -> synth stays offline and account-free.
        layer_arn = ssm.StringParameter.value_for_string_parameter(
            self, powertools_layer_parameter(powertools_version)
        )
        self.powertools_layer = lambda_.LayerVersion.from_layer_version_arn(
            self, "PowertoolsLayer", layer_arn
        )
        self.code = lambda_code(lambdas_dir)

        self.llm_secret = (
            secretsmanager.Secret.from_secret_name_v2(self, "LlmSecret", config.llm_secret_name)
            if config.llm_secret_name
            else None
        )
        overrides = config.config_overrides() if hasattr(config, "config_overrides") else {}
        base_env = {
            "TABLE_NAME": storage.table.table_name,
            "BUCKET_NAME": storage.bucket.bucket_name,
            **overrides,  # only what the user set in the CDK context
        }
        training_env = {
            "TRAINER_IMAGE_URI": training.image.image_uri,
            "SAGEMAKER_ROLE_ARN": training.role.role_arn,
            # the instance per budget / task family (the adapter's instance_types_from_json)
            "TRAINING_INSTANCE_TYPES": json.dumps(config.training_instance_types, sort_keys=True),
            "TRAINING_MAX_RUNTIME_SECONDS": str(config.training_max_runtime_minutes * 60),
        }
        training_job_arn = stack.format_arn(
            service="sagemaker", resource="training-job", resource_name=f"{TRAINING_JOB_PREFIX}*"
        )
        describe_jobs = iam.PolicyStatement(
            actions=["sagemaker:DescribeTrainingJob"], resources=[training_job_arn]
        )

        # --- the day's steps, called by the state machine --------------------------------
        self.scrape = self._function("Scrape", base_env)
        storage.table.grant_read_write_data(self.scrape)
        storage.grant_prefixes(self.scrape, read=(PREFIX_CONFIG,))

        llm_env = {"LLM_SECRET_ARN": self.llm_secret.secret_arn} if self.llm_secret else {}
        # with an embedding model configured, ingest embeds the day's papers (LLM secret)
        day_env = {**base_env, "QUEUE_URL": messaging.papers_queue.queue_url, **llm_env}
        if site_url:
            day_env["SITE_URL"] = site_url
        self.day = self._function("Day", day_env)
        storage.table.grant_read_write_data(self.day)
        messaging.papers_queue.grant_send_messages(self.day)
        storage.grant_prefixes(
            self.day,
            # reports/ read: a presigned link is signed with this function's credentials
            read=(PREFIX_CONFIG, PREFIX_DAYS, PREFIX_REPORTS, PREFIX_EMBEDDINGS),
            write=(PREFIX_DAYS, PREFIX_REPORTS, PREFIX_EMBEDDINGS),
        )

        self.llm = self._function("Llm", {**base_env, **llm_env})
        storage.table.grant_read_write_data(self.llm)
        storage.grant_prefixes(
            self.llm,
            read=(PREFIX_CONFIG, PREFIX_IMPLEMENTATIONS),
            write=(PREFIX_IMPLEMENTATIONS,),
        )
        if self.llm_secret is not None:
            for fn in (self.llm, self.day):
                self.llm_secret.grant_read(fn)

        self.train = self._function("Train", {**base_env, **training_env})
        storage.table.grant_read_write_data(self.train)
        storage.grant_prefixes(
            self.train,
            read=(PREFIX_CONFIG, PREFIX_IMPLEMENTATIONS, PREFIX_TRAINING),
            write=(PREFIX_IMPLEMENTATIONS,),
        )
        self.train.add_to_role_policy(describe_jobs)

        # --- rank: papers queue -> scores ------------------------------------------------
        self.rank = self._function("Rank", base_env)
        storage.table.grant_read_write_data(self.rank)
        storage.grant_prefixes(self.rank, read=(PREFIX_CONFIG, PREFIX_DAYS, PREFIX_EMBEDDINGS))
        self.rank.add_event_source(
            event_sources.SqsEventSource(
                messaging.papers_queue,
                batch_size=10,
                max_batching_window=Duration.seconds(30),
                report_batch_item_failures=True,
                max_concurrency=2,  # bounded fan-out: DynamoDB writes stay smooth
            )
        )

        # --- start (schedule -> executions) and watchdog (digest deadline) ----------------
        self.start = self._function("Start", base_env)
        storage.table.grant_read_write_data(self.start)
        storage.grant_prefixes(self.start, read=(PREFIX_CONFIG,))
        self.watchdog = self._function("Watchdog", {**base_env, **training_env})
        storage.table.grant_read_write_data(self.watchdog)
        storage.grant_prefixes(self.watchdog, read=(PREFIX_CONFIG, PREFIX_TRAINING))
        self.watchdog.add_to_role_policy(describe_jobs)

        # --- slack (optional): SNS -> Slack incoming webhook ------------------------------
        self.slack: lambda_.Function | None = None
        if config.slack_webhook_secret_name:
            webhook = secretsmanager.Secret.from_secret_name_v2(
                self, "SlackWebhookSecret", config.slack_webhook_secret_name
            )
            self.slack = self._function(
                "Slack", {"SLACK_WEBHOOK_SECRET_ARN": webhook.secret_arn, **base_env}
            )
            webhook.grant_read(self.slack)
            # report.json next to the report: the Block Kit digest with its button
            storage.grant_prefixes(self.slack, read=(PREFIX_REPORTS,))
            messaging.topic.add_subscription(
                subs.LambdaSubscription(self.slack, dead_letter_queue=messaging.delivery_dlq)
            )

        self._suppress()

    def wire_state_machine(self, state_machine: sfn.IStateMachine) -> None:
        """The start function starts executions of the day's state machine."""
        self.start.add_environment("STATE_MACHINE_ARN", state_machine.state_machine_arn)
        state_machine.grant_start_execution(self.start)
        # days with a running execution are left alone (handlers/start.py running_days)
        state_machine.grant(self.start, "states:ListExecutions")

    @property
    def steps(self) -> dict[str, lambda_.Function]:
        """The state machine's task functions, by their definition placeholder."""
        return {
            "ScrapeFunction": self.scrape,
            "DayFunction": self.day,
            "LlmFunction": self.llm,
            "TrainFunction": self.train,
        }

    @property
    def all(self) -> dict[str, lambda_.Function]:
        fns = {
            "Start": self.start,
            "Scrape": self.scrape,
            "Day": self.day,
            "Llm": self.llm,
            "Train": self.train,
            "Rank": self.rank,
            "Watchdog": self.watchdog,
        }
        if self.slack is not None:
            fns["Slack"] = self.slack
        return fns

    def _function(self, name: str, env: dict[str, str]) -> lambda_.Function:
        spec = SPECS[name]
        config = self._config
        log_group = logs.LogGroup(
            self,
            f"{name}LogGroup",
            retention=logs.RetentionDays.THREE_MONTHS
            if config.is_prod
            else logs.RetentionDays.ONE_MONTH,
            removal_policy=RemovalPolicy.RETAIN if config.is_prod else RemovalPolicy.DESTROY,
        )
        environment = {
            **env,
            **({"STEPS": ",".join(spec.steps)} if spec.steps else {}),
            "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            "LOG_LEVEL": config.log_level,
            "POWERTOOLS_TRACE_DISABLED": "false" if config.tracing else "true",
        }
        async_props = (
            {
                "dead_letter_queue": self._messaging.lambda_dlq,
                "retry_attempts": 2,
                "max_event_age": Duration.hours(6),
            }
            if spec.async_invoked
            else {}
        )
        return lambda_.Function(
            self,
            name,
            description=spec.description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=spec.handler,
            code=self.code,
            layers=[self.powertools_layer],
            timeout=spec.timeout,
            memory_size=spec.memory,
            environment=environment,
            tracing=lambda_.Tracing.ACTIVE if config.tracing else lambda_.Tracing.DISABLED,
            log_group=log_group,
            **async_props,
        )

    def _suppress(self) -> None:
        for fn in self.all.values():
            NagSuppressions.add_resource_suppressions(
                fn,
                [
                    {
                        "id": "AwsSolutions-L1",
                        "reason": "Runtime pinned to python3.12 on purpose: the bundle's wheels "
                        "are built for cp312 and the Powertools v3 layer is the python3.12 one.",
                    },
                    {
                        "id": "AwsSolutions-IAM4",
                        "reason": "AWSLambdaBasicExecutionRole only allows writing the function's "
                        "own CloudWatch logs; it is the AWS-maintained minimum for Lambda.",
                        "appliesTo": [
                            "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                            "AWSLambdaBasicExecutionRole"
                        ],
                    },
                    {
                        "id": "AwsSolutions-IAM5",
                        "reason": "Wildcards are scoped: object keys under one bucket prefix "
                        "(config/, days/, implementations/, training/, reports/, "
                        "embeddings/); the table's "
                        "own GSIs (<table>/index/*); KMS data-key actions on the one data key "
                        "(GenerateDataKey*/ReEncrypt*); SageMaker training jobs named pf-*; "
                        "Secrets Manager's random 6-char ARN suffix of one named secret; X-Ray "
                        "PutTraceSegments/PutTelemetryRecords, which support no resource ARNs.",
                        "appliesTo": [
                            nag.bucket_objects(
                                (
                                    PREFIX_CONFIG,
                                    PREFIX_DAYS,
                                    PREFIX_IMPLEMENTATIONS,
                                    PREFIX_TRAINING,
                                    PREFIX_REPORTS,
                                    PREFIX_EMBEDDINGS,
                                )
                            ),
                            nag.table_indexes(),
                            "Action::kms:GenerateDataKey*",
                            "Action::kms:ReEncrypt*",
                            nag.arn("sagemaker", r"training-job/pf-\*"),
                            nag.arn("secretsmanager", r"secret:[^:*]+-\?\?\?\?\?\?"),
                            "Resource::*",
                        ],
                    },
                ],
                apply_to_children=True,
            )
