"""Scheduling: EventBridge Scheduler schedules (scrape, select timeout) and EventBridge rules
(DayRanked -> select, SageMaker training job state change -> report)."""

from __future__ import annotations

from aws_cdk import Duration, Stack, TimeZone
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_sqs as sqs
from cdk_nag import NagSuppressions
from constructs import Construct

from stacks import nag
from stacks.config import AppConfig
from stacks.training import TRAINING_JOB_PREFIX

EVENT_SOURCE = "paperfoundry"
DAY_RANKED = "DayRanked"
SAGEMAKER_STATE_CHANGE = "SageMaker Training Job State Change"
TERMINAL_TRAINING_STATES = ["Completed", "Failed", "Stopped"]


def schedule_expression(expression: str, timezone: str) -> scheduler.ScheduleExpression:
    expression = expression.strip()
    if not expression.startswith(("cron(", "rate(", "at(")):
        raise ValueError(f"schedule must be cron(...), rate(...) or at(...): {expression!r}")
    return scheduler.ScheduleExpression.expression(expression, TimeZone.of(timezone))


class Scheduling(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AppConfig,
        scrape: lambda_.IFunction,
        select: lambda_.IFunction,
        report: lambda_.IFunction,
        delivery_dlq: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        # One execution role for both schedules (instead of CDK's per-target singleton roles),
        # so its scope is visible in one place: invoke scrape/select, send to the DLQ.
        self.scheduler_role = iam.Role(
            self,
            "SchedulerRole",
            description="paperfoundry EventBridge Scheduler: invoke scrape/select",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
            ),
        )
        target_props = {
            "dead_letter_queue": delivery_dlq,
            "retry_attempts": 3,
            "max_event_age": Duration.hours(2),
        }

        def invoke_daily(name: str, fn, expression: str, trigger: str, description: str):
            return scheduler.Schedule(
                self,
                name,
                description=f"paperfoundry: {description}",
                schedule=schedule_expression(expression, config.schedule_timezone),
                target=scheduler_targets.LambdaInvoke(
                    fn,
                    input=scheduler.ScheduleTargetInput.from_object({"trigger": trigger}),
                    role=self.scheduler_role,
                    **target_props,
                ),
            )

        self.scrape_schedule = invoke_daily(
            "ScrapeSchedule", scrape, config.scrape_schedule, "schedule",
            "daily scrape of new papers",
        )  # fmt: skip
        # Safety net: if DayRanked never arrives (a stuck paper, a ranking outage), select
        # whatever is ranked by then. The select handler is idempotent per day.
        self.select_timeout_schedule = invoke_daily(
            "SelectTimeoutSchedule", select, config.select_timeout_schedule, "timeout",
            "select the day's picks even if ranking did not finish",
        )  # fmt: skip

        # Default bus: rank publishes DayRanked when every paper of the day is ranked.
        self.day_ranked_rule = events.Rule(
            self,
            "DayRankedRule",
            description="paperfoundry: DayRanked -> select",
            event_pattern=events.EventPattern(source=[EVENT_SOURCE], detail_type=[DAY_RANKED]),
            targets=[targets.LambdaFunction(select, **target_props)],
        )
        # SageMaker emits this on the default bus for every training job in the account;
        # only our terminal pf-* jobs matter.
        self.training_state_rule = events.Rule(
            self,
            "TrainingJobStateRule",
            description="paperfoundry: SageMaker pf-* training job finished -> report",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=[SAGEMAKER_STATE_CHANGE],
                detail={
                    "TrainingJobStatus": TERMINAL_TRAINING_STATES,
                    "TrainingJobName": events.Match.prefix(TRAINING_JOB_PREFIX),
                },
            ),
            targets=[targets.LambdaFunction(report, **target_props)],
        )

        # After the targets have bound, so the role's DefaultPolicy exists.
        NagSuppressions.add_resource_suppressions(
            self.scheduler_role,
            [
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": "lambda:InvokeFunction on <function-arn>:* covers the qualified "
                    "ARNs (versions/aliases) of the scrape and select functions only.",
                    "appliesTo": [nag.function_versions("Scrape", "Select")],
                }
            ],
            apply_to_children=True,
        )
