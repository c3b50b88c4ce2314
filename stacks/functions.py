"""Functions: the five Lambda handlers, the Powertools layer and their least-privilege grants."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns_subscriptions as subs
from aws_cdk import aws_ssm as ssm
from cdk_nag import NagSuppressions
from constructs import Construct

from stacks import nag
from stacks.bundling import lambda_code
from stacks.config import AppConfig
from stacks.messaging import RANK_TIMEOUT, Messaging
from stacks.storage import (
    PREFIX_CONFIG,
    PREFIX_DAYS,
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
EVENT_BUS_NAME = "default"


def powertools_layer_parameter(version: str = "latest") -> str:
    """Public SSM parameter holding the Powertools for AWS Lambda (Python) v3 layer ARN."""
    return f"/aws/service/powertools/python/{POWERTOOLS_ARCH}/{POWERTOOLS_PYTHON}/{version}"


@dataclass(frozen=True)
class FunctionSpec:
    handler: str
    description: str
    timeout: Duration
    memory: int
    async_invoked: bool = True


SPECS: dict[str, FunctionSpec] = {
    "Scrape": FunctionSpec(
        "handlers.scrape.handler",
        "Daily scrape of new ML papers (HF Daily Papers, arXiv) into DynamoDB + papers queue",
        Duration.minutes(10),
        512,
    ),
    "Rank": FunctionSpec(
        "handlers.rank.handler",
        "Rank papers from the papers queue; emits DayRanked when the day is complete",
        RANK_TIMEOUT,
        1024,
        async_invoked=False,
    ),
    "Select": FunctionSpec(
        "handlers.select.handler",
        "LLM review of the top papers, select the day's best, implement, start training jobs",
        # 20 candidates x 3 reviews + 15 comparisons + up to 3 implementations with an LLM
        Duration.minutes(15),
        1024,
    ),
    "Report": FunctionSpec(
        "handlers.report.handler",
        "Collect a finished training job (repair rejected LLM code); S3 report + SNS digest",
        Duration.minutes(10),  # a repair round is one LLM code call
        1024,
    ),
    "Slack": FunctionSpec(
        "handlers.slack.handler",
        "Forward SNS notifications to a Slack incoming webhook",
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
        powertools_version: str = "latest",
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self._messaging = messaging
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
        base_env = {
            "TABLE_NAME": storage.table.table_name,
            "BUCKET_NAME": storage.bucket.bucket_name,
            "TRAINING_INSTANCE_TYPE": config.training_instance_type,
            "TRAINING_MAX_RUNTIME_SECONDS": str(config.training_max_runtime_minutes * 60),
            "MAX_PICKS": str(config.max_picks),
            "GPU_MINUTES_BUDGET": str(config.gpu_minutes_budget),
            "ARXIV_CATEGORIES": config.arxiv_categories,
            "BACKFILL_DAYS": str(config.backfill_days),
        }
        # only select (review, implement) and report (repair) call the LLM
        llm_env = {"LLM_SECRET_ARN": self.llm_secret.secret_arn} if self.llm_secret else {}

        # --- scrape: schedule -> HF/arXiv -> table + papers queue ---------------------------
        self.scrape = self._function(
            "Scrape", {**base_env, "QUEUE_URL": messaging.papers_queue.queue_url}
        )
        storage.table.grant_read_write_data(self.scrape)
        messaging.papers_queue.grant_send_messages(self.scrape)
        storage.grant_prefixes(self.scrape, read=(PREFIX_CONFIG, PREFIX_DAYS), write=(PREFIX_DAYS,))

        # --- rank: papers queue -> table; DayRanked on the default bus ----------------------
        self.rank = self._function("Rank", {**base_env, "EVENT_BUS_NAME": EVENT_BUS_NAME})
        storage.table.grant_read_write_data(self.rank)
        storage.grant_prefixes(self.rank, read=(PREFIX_CONFIG, PREFIX_DAYS), write=(PREFIX_DAYS,))
        self.rank.add_event_source(
            event_sources.SqsEventSource(
                messaging.papers_queue,
                batch_size=10,
                max_batching_window=Duration.seconds(30),
                report_batch_item_failures=True,
                max_concurrency=2,  # bounded fan-out: DynamoDB writes stay smooth
            )
        )
        default_bus = events.EventBus.from_event_bus_name(self, "DefaultBus", EVENT_BUS_NAME)
        default_bus.grant_put_events_to(self.rank)

        # --- select: DayRanked / timeout -> implementations + SageMaker jobs -----------------
        self.select = self._function(
            "Select",
            {
                **base_env,
                "TRAINER_IMAGE_URI": training.image.image_uri,
                "SAGEMAKER_ROLE_ARN": training.role.role_arn,
                # A day that needs no training (nothing picked or implemented) is reported
                # by select itself, so it publishes like the report function.
                "TOPIC_ARN": messaging.topic.topic_arn,
                **llm_env,
            },
        )
        storage.table.grant_read_write_data(self.select)
        storage.grant_prefixes(
            self.select,
            read=(PREFIX_CONFIG, PREFIX_DAYS, PREFIX_IMPLEMENTATIONS, PREFIX_REPORTS),
            write=(PREFIX_DAYS, PREFIX_IMPLEMENTATIONS, PREFIX_REPORTS),
        )
        self._grant_publish(self.select, storage, messaging)
        training_job_arn = stack.format_arn(
            service="sagemaker", resource="training-job", resource_name=f"{TRAINING_JOB_PREFIX}*"
        )
        self._grant_start_training(self.select, training_job_arn, training)

        # --- report: training job state change -> S3 report + SNS ---------------------------
        # With an LLM, report also repairs generated code the training job rejected and
        # starts the job again: it then needs what select has to start training.
        repairs = self.llm_secret is not None
        report_env = {**base_env, "TOPIC_ARN": messaging.topic.topic_arn, **llm_env}
        if repairs:
            report_env.update(
                TRAINER_IMAGE_URI=training.image.image_uri,
                SAGEMAKER_ROLE_ARN=training.role.role_arn,
            )
        self.report = self._function("Report", report_env)
        storage.table.grant_read_write_data(self.report)
        storage.grant_prefixes(
            self.report,
            read=(
                PREFIX_CONFIG,
                PREFIX_DAYS,
                PREFIX_IMPLEMENTATIONS,
                PREFIX_TRAINING,
                PREFIX_REPORTS,
            ),
            write=(PREFIX_REPORTS, PREFIX_IMPLEMENTATIONS) if repairs else (PREFIX_REPORTS,),
        )
        if repairs:
            self._grant_start_training(self.report, training_job_arn, training)
        self._grant_publish(self.report, storage, messaging)
        self.report.add_to_role_policy(
            iam.PolicyStatement(
                actions=["sagemaker:DescribeTrainingJob"], resources=[training_job_arn]
            )
        )

        if self.llm_secret is not None:  # review + implement (select), repair (report)
            for fn in (self.select, self.report):
                self.llm_secret.grant_read(fn)

        # --- slack (optional): SNS -> Slack incoming webhook ---------------------------------
        self.slack: lambda_.Function | None = None
        if config.slack_webhook_secret_name:
            webhook = secretsmanager.Secret.from_secret_name_v2(
                self, "SlackWebhookSecret", config.slack_webhook_secret_name
            )
            self.slack = self._function("Slack", {"SLACK_WEBHOOK_SECRET_ARN": webhook.secret_arn})
            webhook.grant_read(self.slack)
            messaging.topic.add_subscription(
                subs.LambdaSubscription(self.slack, dead_letter_queue=messaging.delivery_dlq)
            )

        self._suppress()

    def _grant_start_training(
        self, fn: lambda_.Function, training_job_arn: str, training: Training
    ) -> None:
        """CreateTrainingJob only for jobs shaped like the adapter's: network-isolated, on
        the configured instance type, within the runtime ceiling. Generated code runs in
        these jobs, so the limits must hold even if a Lambda is tricked into another request.
        A request without a key is denied: Bool and Numeric fail on a missing key, and the
        Null test covers ForAllValues, which a missing key would pass."""
        config = self._config
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["sagemaker:CreateTrainingJob"],
                resources=[training_job_arn],
                conditions={
                    "Bool": {"sagemaker:NetworkIsolation": "true"},
                    "Null": {"sagemaker:InstanceTypes": "false"},
                    "ForAllValues:StringEquals": {
                        "sagemaker:InstanceTypes": [config.training_instance_type]
                    },
                    "NumericLessThanEquals": {
                        "sagemaker:MaxRuntimeInSeconds": str(
                            config.training_max_runtime_minutes * 60
                        )
                    },
                },
            )
        )
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["sagemaker:AddTags", "sagemaker:DescribeTrainingJob"],
                resources=[training_job_arn],
            )
        )
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[training.role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            )
        )

    @staticmethod
    def _grant_publish(fn: lambda_.Function, storage: Storage, messaging: Messaging) -> None:
        messaging.topic.grant_publish(fn)
        # The topic is encrypted with the data key: publishers need to generate data keys.
        storage.data_key.grant(fn, "kms:GenerateDataKey*", "kms:Decrypt")

    @property
    def all(self) -> dict[str, lambda_.Function]:
        fns = {
            "Scrape": self.scrape,
            "Rank": self.rank,
            "Select": self.select,
            "Report": self.report,
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
                        "(config/, days/, implementations/, training/, reports/); the table's "
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
