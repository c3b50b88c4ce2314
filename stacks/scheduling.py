"""Scheduling: EventBridge Scheduler schedules (start of the day, digest watchdog)."""

from __future__ import annotations

from aws_cdk import Duration, Stack, TimeZone
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_sqs as sqs
from cdk_nag import NagSuppressions
from constructs import Construct

from stacks import nag
from stacks.config import AppConfig


def schedule_expression(expression: str, timezone: str) -> scheduler.ScheduleExpression:
    expression = expression.strip()
    if not expression.startswith(("cron(", "rate(", "at(")):
        raise ValueError(f"schedule must be cron(...), rate(...) or at(...): {expression!r}")
    return scheduler.ScheduleExpression.expression(expression, TimeZone.of(timezone))


class Scheduling(Construct):
    """Two schedules: the morning start of the day's execution (and backfill of unfinished
    days), and the watchdog at the digest deadline (no digest yet -> alarm; stale runs)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AppConfig,
        start: lambda_.IFunction,
        watchdog: lambda_.IFunction,
        delivery_dlq: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        # One execution role for both schedules (instead of CDK's per-target singleton roles),
        # so its scope is visible in one place: invoke start/watchdog, send to the DLQ.
        self.scheduler_role = iam.Role(
            self,
            "SchedulerRole",
            description="paperfoundry EventBridge Scheduler: invoke start/watchdog",
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

        def invoke(name: str, fn, expression: str, description: str) -> scheduler.Schedule:
            return scheduler.Schedule(
                self,
                name,
                description=f"paperfoundry: {description}",
                schedule=schedule_expression(expression, config.schedule_timezone),
                target=scheduler_targets.LambdaInvoke(
                    fn,
                    input=scheduler.ScheduleTargetInput.from_object({"trigger": "schedule"}),
                    role=self.scheduler_role,
                    **target_props,
                ),
            )

        self.start_schedule = invoke(
            "StartSchedule", start, config.scrape_schedule,
            "start the day's execution (and unfinished earlier days)",
        )  # fmt: skip
        self.watchdog_schedule = invoke(
            "WatchdogSchedule", watchdog, config.digest_deadline_schedule,
            "no digest by the deadline -> alarm; collect runs whose execution was lost",
        )  # fmt: skip

        # After the targets have bound, so the role's DefaultPolicy exists.
        NagSuppressions.add_resource_suppressions(
            self.scheduler_role,
            [
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": "lambda:InvokeFunction on <function-arn>:* covers the qualified "
                    "ARNs (versions/aliases) of the start and watchdog functions only.",
                    "appliesTo": [nag.function_versions("Start", "Watchdog")],
                }
            ],
            apply_to_children=True,
        )
