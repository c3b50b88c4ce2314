"""Orchestration: the day as one Step Functions Standard state machine.

`definition()` is the Amazon States Language of the day, a plain dict (tests run it on
moto's interpreter and read it); every Lambda task is one step of `paperfoundry.chain`
(`handlers/steps.py`), in the order of `chain.DAY`:

    PlanScrape -> Scrape (Map over units; each retried with backoff, a failed unit recorded)
    -> Ingest (DayFailed: the day fails; the next start retries it)
    -> WaitForRanking <-> RankingProgress (until ranked, or the deadline)
    -> Review (LLM; on failure the day goes on signals-only) -> Select
    -> Picks (Map: Implement -> StartTraining -> TrainingJob (createTrainingJob.sync)
              -> FinishTraining -> back to Implement while a repair is due)
    -> Report -> Publish (SNS, retried; PublishFailed alarms) -> Published

No flags or counters: each step is idempotent and reads its progress from the store, so a
retried task, a redriven execution or a second day's start never does anything twice.
Executions are named after their day (`handlers/start.py`), so a day cannot run twice at
once. Every task has a timeout and retries with backoff; the execution has a deadline.
"""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from cdk_nag import NagSuppressions
from constructs import Construct

from stacks import nag
from stacks.training import TRAINING_JOB_PREFIX

# Lambda errors worth another try (throttling, service hiccups), as AWS recommends.
LAMBDA_TRANSIENT = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]
# Top-level fields of SageMakerBackend.job_request, passed on to CreateTrainingJob. The role
# and network isolation are fixed here, not taken from the Lambda's request.
JOB_FIELDS = (
    "TrainingJobName",
    "AlgorithmSpecification",
    "HyperParameters",
    "InputDataConfig",
    "OutputDataConfig",
    "ResourceConfig",
    "StoppingCondition",
    "EnableManagedSpotTraining",
    "CheckpointConfig",
    "Tags",
)
FUNCTIONS = ("ScrapeFunction", "DayFunction", "LlmFunction", "TrainFunction")


# Errors a retry cannot fix: the day's outcome (Catch or fail) is decided at once.
FINAL_ERRORS = ["DayFailed", "RankingIncomplete", "PermissionError", "ValidationError"]


def _retries(specific: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Specific retriers first (the first one that names an error applies), then none for
    final errors, then Lambda's transient errors, then any other crash: every step is
    idempotent, so a step killed after a side effect is simply run again."""
    return [
        *(specific or []),
        {"ErrorEquals": FINAL_ERRORS, "MaxAttempts": 0},
        {
            "ErrorEquals": LAMBDA_TRANSIENT,
            "IntervalSeconds": 2,
            "MaxAttempts": 6,
            "BackoffRate": 2.0,
            "JitterStrategy": "FULL",
        },
        {
            "ErrorEquals": ["States.TaskFailed"],
            "IntervalSeconds": 10,
            "MaxAttempts": 3,
            "BackoffRate": 3.0,
            "JitterStrategy": "FULL",
        },
    ]


def _step(
    function: str,
    step: str,
    *,
    next_state: str | None,
    result_path: str | None,
    timeout: int,
    args: dict[str, str] | None = None,
    retry: list[dict[str, Any]] | None = None,
    catch: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A Lambda task calling one chain step with the day and `args` (JSONPath values)."""
    params = {"step": step, "day.$": "$.day", **(args or {})}
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": "${" + function + "}",
        "Parameters": params,
        "ResultPath": result_path,
        "TimeoutSeconds": timeout,
        "Retry": _retries(retry),
    }
    if catch:
        state["Catch"] = catch
    state.update({"Next": next_state} if next_state else {"End": True})
    return state


def _catch_all(next_state: str, result_path: str = "$.error") -> list[dict[str, Any]]:
    return [{"ErrorEquals": ["States.ALL"], "ResultPath": result_path, "Next": next_state}]


def definition(
    *,
    scrape_concurrency: int = 1,
    pick_concurrency: int = 3,
    training_timeout_seconds: int = 3 * 3600,
    lambda_timeouts: dict[str, int] | None = None,
) -> dict[str, Any]:
    """The day's state machine (JSONPath). Placeholders `${ScrapeFunction}`,
    `${DayFunction}`, `${LlmFunction}`, `${TrainFunction}`, `${DigestTopicArn}` and
    `${TrainingRoleArn}` are substituted at deploy time."""
    t = {"ScrapeFunction": 600, "DayFunction": 300, "LlmFunction": 900, "TrainFunction": 120}
    t.update(lambda_timeouts or {})
    task_timeout = {name: seconds + 60 for name, seconds in t.items()}

    def step(function: str, name: str, **kwargs: Any) -> dict[str, Any]:
        # each Lambda task may run a minute past its function's own timeout
        return _step(function, name, timeout=task_timeout[function], **kwargs)

    day_arg = {"day.$": "$.day"}
    pick_args = {"arxiv_id.$": "$.arxiv_id"}

    scrape_unit = {
        "StartAt": "ScrapeUnit",
        "States": {
            "ScrapeUnit": step(
                "ScrapeFunction",
                "scrape",
                next_state=None,
                result_path=None,
                args={"unit.$": "$.unit"},
                # a source that failed (5xx, timeout, Retry-After) gets three more tries,
                # 5, 10 and 20 minutes later; its status is stored on every try
                retry=[
                    {
                        "ErrorEquals": ["SourceUnavailable"],
                        "IntervalSeconds": 300,
                        "MaxAttempts": 3,
                        "BackoffRate": 2.0,
                    }
                ],
                catch=_catch_all("UnitFailed"),
            ),
            "UnitFailed": step(
                "ScrapeFunction",
                "scrape_failed",
                next_state=None,
                result_path=None,
                args={"unit.$": "$.unit", "error.$": "$.error"},
            ),
        },
        "ProcessorConfig": {"Mode": "INLINE"},
    }
    pick = {
        "StartAt": "Implement",
        "States": {
            "Implement": step(
                "LlmFunction",
                "implement",
                next_state="Implemented",
                result_path="$.implement",
                args=pick_args,
                retry=[{"ErrorEquals": ["States.Timeout"], "MaxAttempts": 1}],
                catch=_catch_all("PickDone"),
            ),
            "Implemented": {
                "Type": "Choice",
                "Choices": [
                    {
                        "Variable": "$.implement.implemented",
                        "BooleanEquals": True,
                        "Next": "StartTraining",
                    }
                ],
                "Default": "PickDone",
            },
            "StartTraining": step(
                "TrainFunction",
                "start_training",
                next_state="ShouldTrain",
                result_path="$.start",
                args=pick_args,
                catch=_catch_all("PickDone"),
            ),
            "ShouldTrain": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.start.train", "BooleanEquals": True, "Next": "TrainingJob"}
                ],
                "Default": "PickDone",
            },
            "TrainingJob": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync",
                "Parameters": {
                    **{f"{k}.$": f"$.start.job.{k}" for k in JOB_FIELDS},
                    "RoleArn": "${TrainingRoleArn}",
                    "EnableNetworkIsolation": True,
                },
                "ResultPath": "$.job",
                "TimeoutSeconds": training_timeout_seconds,
                "Retry": [
                    {
                        "ErrorEquals": [
                            "SageMaker.ThrottlingException",
                            "SageMaker.ServiceUnavailable",
                        ],
                        "IntervalSeconds": 30,
                        "MaxAttempts": 4,
                        "BackoffRate": 2.0,
                    },
                    # an API error creating the job (a quota, a hiccup): twice more, then
                    # the run is recorded failed (TrainingJobsFailedToStart alarms)
                    {
                        "ErrorEquals": ["SageMaker.AmazonSageMakerException"],
                        "IntervalSeconds": 60,
                        "MaxAttempts": 2,
                        "BackoffRate": 2.0,
                    },
                ],
                "Catch": _catch_all("FinishFailedJob", "$.job_error"),
                "Next": "FinishTraining",
            },
            "FinishTraining": step(
                "TrainFunction",
                "finish_training",
                next_state="RepairDue",
                result_path="$.finish",
                args={**pick_args, "result.$": "$.job"},
                retry=_still_running(),
                catch=_catch_all("PickDone"),
            ),
            "FinishFailedJob": step(
                "TrainFunction",
                "finish_training",
                next_state="RepairDue",
                result_path="$.finish",
                args={**pick_args, "error.$": "$.job_error"},
                retry=_still_running(),
                catch=_catch_all("PickDone"),
            ),
            "RepairDue": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.finish.repair", "BooleanEquals": True, "Next": "Implement"}
                ],
                "Default": "PickDone",
            },
            "PickDone": {"Type": "Succeed"},
        },
        "ProcessorConfig": {"Mode": "INLINE"},
    }
    states: dict[str, Any] = {
        "PlanScrape": step(
            "ScrapeFunction",
            "plan_scrape",
            next_state="Scrape",
            result_path="$.plan",
        ),
        "Scrape": {
            "Type": "Map",
            "ItemsPath": "$.plan.units",
            "ItemSelector": {**day_arg, "unit.$": "$$.Map.Item.Value"},
            # one unit at a time: arXiv asks for 3 s between requests from anyone of us
            "MaxConcurrency": scrape_concurrency,
            "ItemProcessor": scrape_unit,
            "ResultPath": None,
            "Next": "Ingest",
        },
        "Ingest": step(
            "DayFunction",
            "ingest",
            next_state="WaitForRanking",
            result_path="$.ingest",
            catch=[{"ErrorEquals": ["DayFailed"], "ResultPath": "$.error", "Next": "DayFailed"}],
        ),
        "DayFailed": {"Type": "Fail", "Error": "DayFailed", "CausePath": "$.error.Cause"},
        "WaitForRanking": {
            "Type": "Wait",
            "SecondsPath": "$.poll_seconds",
            "Next": "RankingProgress",
        },
        "RankingProgress": step(
            "DayFunction",
            "ranking_progress",
            next_state="Ranked",
            result_path="$.ranking",
            args={"deadline.$": "$.ingest.deadline"},
        ),
        "Ranked": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.ranking.done", "BooleanEquals": True, "Next": "Review"}],
            "Default": "WaitForRanking",
        },
        # Stored reviews are never paid twice: a retry after a timeout continues the work.
        "Review": step(
            "LlmFunction",
            "review",
            next_state="Select",
            result_path=None,
            retry=[{"ErrorEquals": ["States.Timeout"], "MaxAttempts": 2}],
            catch=_catch_all("Select", "$.review_error"),
        ),
        "Select": step(
            "DayFunction",
            "select",
            next_state="Picks",
            result_path="$.select",
        ),
        "Picks": {
            "Type": "Map",
            "ItemsPath": "$.select.picks",
            "ItemSelector": {**day_arg, "arxiv_id.$": "$$.Map.Item.Value"},
            "MaxConcurrency": pick_concurrency,
            "ItemProcessor": pick,
            "ResultPath": None,
            "Next": "Report",
        },
        "Report": step(
            "DayFunction",
            "report",
            next_state="SendDigest",
            result_path="$.report",
        ),
        "SendDigest": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.report.send", "BooleanEquals": True, "Next": "Publish"}],
            "Default": "Done",
        },
        "Publish": {
            "Type": "Task",
            "Resource": "arn:aws:states:::sns:publish",
            "Parameters": {
                "TopicArn": "${DigestTopicArn}",
                "Subject.$": "$.report.subject",
                "Message.$": "$.report.message",
                "MessageAttributes": {
                    "kind": {"DataType": "String", "StringValue": "digest"},
                    "report_uri": {"DataType": "String", "StringValue.$": "$.report.url"},
                    "report_key": {"DataType": "String", "StringValue.$": "$.report.report_key"},
                },
            },
            "ResultPath": None,
            "TimeoutSeconds": 60,
            "Retry": [
                {
                    "ErrorEquals": ["States.ALL"],
                    "IntervalSeconds": 10,
                    "MaxAttempts": 5,
                    "BackoffRate": 3.0,
                    "JitterStrategy": "FULL",
                }
            ],
            "Catch": _catch_all("PublishFailed"),
            "Next": "Published",
        },
        "Published": step(
            "DayFunction",
            "published",
            next_state="Done",
            result_path=None,
        ),
        "PublishFailed": step(
            "DayFunction",
            "publish_failed",
            next_state="DigestNotSent",
            result_path=None,
            args={"error.$": "$.error"},
        ),
        "DigestNotSent": {
            "Type": "Fail",
            "Error": "PublishFailed",
            "Cause": "the digest could not be published to SNS",
        },
        "Done": {"Type": "Succeed"},
    }
    return {
        "Comment": "paperfoundry: one day, scrape to digest (paperfoundry.chain)",
        "StartAt": "PlanScrape",
        "TimeoutSeconds": 36 * 3600,
        "States": states,
    }


def _still_running() -> list[dict[str, Any]]:
    # a job the task lost track of (timeout): ask again every 10 minutes for 3 hours
    return [
        {
            "ErrorEquals": ["JobStillRunning"],
            "IntervalSeconds": 600,
            "MaxAttempts": 18,
            "BackoffRate": 1.0,
        }
    ]


def lambda_steps(asl: dict[str, Any]) -> list[tuple[str, str]]:
    """(function placeholder, chain step) of every Lambda task, in definition order."""
    found: list[tuple[str, str]] = []

    def walk(states: dict[str, Any]) -> None:
        for state in states.values():
            if state["Type"] == "Task" and state["Resource"].startswith("${"):
                found.append((state["Resource"][2:-1], state["Parameters"]["step"]))
            if state["Type"] == "Map":
                walk(state["ItemProcessor"]["States"])

    walk(asl["States"])
    return found


class Orchestration(Construct):
    """The state machine, its role (only what its tasks call) and its log group."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: dict[str, lambda_.IFunction],
        digest_topic: sns.ITopic,
        training_role: iam.IRole,
        instance_types: tuple[str, ...],
        max_runtime_seconds: int,
        is_prod: bool,
        max_picks: int = 3,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        asl = definition(
            pick_concurrency=max(1, max_picks),
            # MaxRuntime plus as long again waiting for spot capacity, plus startup
            training_timeout_seconds=2 * max_runtime_seconds + 1800,
        )
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=logs.RetentionDays.THREE_MONTHS if is_prod else logs.RetentionDays.ONE_MONTH,
            removal_policy=RemovalPolicy.RETAIN if is_prod else RemovalPolicy.DESTROY,
        )
        substitutions = {name: functions[name].function_arn for name in FUNCTIONS}
        substitutions.update(
            DigestTopicArn=digest_topic.topic_arn, TrainingRoleArn=training_role.role_arn
        )
        self.state_machine = sfn.StateMachine(
            self,
            "Day",
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_string(json.dumps(asl)),
            definition_substitutions=substitutions,
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL),
            tracing_enabled=True,
            timeout=Duration.hours(36),
            comment="paperfoundry: one execution per day",
        )
        role = self.state_machine.role
        for name in FUNCTIONS:
            functions[name].grant_invoke(role)
        digest_topic.grant_publish(role)
        job_arn = stack.format_arn(
            service="sagemaker", resource="training-job", resource_name=f"{TRAINING_JOB_PREFIX}*"
        )
        # Generated code runs in these jobs: the limits hold even if a step is tricked into
        # another request. A request without a key is denied (Null covers ForAllValues).
        # Instance types: exactly those of the budget table (trainingInstanceTypes).
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["sagemaker:CreateTrainingJob"],
                resources=[job_arn],
                conditions={
                    "Bool": {"sagemaker:NetworkIsolation": "true"},
                    "Null": {"sagemaker:InstanceTypes": "false"},
                    "ForAllValues:StringEquals": {"sagemaker:InstanceTypes": list(instance_types)},
                    "NumericLessThanEquals": {
                        "sagemaker:MaxRuntimeInSeconds": str(max_runtime_seconds)
                    },
                },
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[
                    "sagemaker:DescribeTrainingJob",
                    "sagemaker:StopTrainingJob",
                    "sagemaker:AddTags",
                    "sagemaker:ListTags",  # in AWS's policy example for the .sync integration
                ],
                resources=[job_arn],
            )
        )
        # .sync waits on SageMaker's events through this managed rule (AWS docs: IAM
        # policies for Step Functions' SageMaker integration)
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                resources=[
                    stack.format_arn(
                        service="events",
                        resource="rule",
                        resource_name="StepFunctionsGetEventsForSageMakerTrainingJobsRule",
                    )
                ],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[training_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            )
        )
        # Replay: state changes of our executions and our training jobs, kept 90 days.
        bus = events.EventBus.from_event_bus_name(self, "DefaultBus", "default")
        self.archives = [
            events.Archive(
                self,
                f"{name}Archive",
                source_event_bus=bus,
                description=f"paperfoundry: {what}, for replay",
                retention=Duration.days(90),
                event_pattern=pattern,
            )
            for name, what, pattern in (
                (
                    "Executions",
                    "day executions' status changes",
                    events.EventPattern(
                        source=["aws.states"],
                        detail={"stateMachineArn": [self.state_machine.state_machine_arn]},
                    ),
                ),
                (
                    "TrainingJobs",
                    "pf-* training jobs' state changes",
                    events.EventPattern(
                        source=["aws.sagemaker"],
                        detail_type=["SageMaker Training Job State Change"],
                        detail={"TrainingJobName": events.Match.prefix(TRAINING_JOB_PREFIX)},
                    ),
                ),
            )
        ]
        NagSuppressions.add_resource_suppressions(
            role,
            [
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": "Scoped wildcards: kms:GenerateDataKey* on the one data key "
                    "(publishing to the encrypted digest topic), SageMaker training jobs "
                    "named pf-*, and "
                    "lambda:InvokeFunction on the four step functions' qualified ARNs "
                    "(<arn>:*); X-Ray and CloudWatch Logs delivery actions support no "
                    "resource ARNs.",
                    "appliesTo": [
                        "Action::kms:GenerateDataKey*",
                        nag.arn("sagemaker", r"training-job/pf-\*"),
                        *[nag.function_versions(n) for n in ("Scrape", "Day", "Llm", "Train")],
                        "Resource::*",
                    ],
                }
            ],
            apply_to_children=True,
        )
