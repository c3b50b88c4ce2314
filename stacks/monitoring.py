"""Monitoring: one CloudWatch dashboard and the alarms, all notifying the ops topic.

Alarms (each fires on one bad period; missing data is "not breaching"):
* the day's state machine: executions failed, timed out or aborted;
* app metrics the handlers publish with Powertools (namespace/dimension of `app_metric`):
  `DigestMissing` (the digest watchdog found no digest by `digestDeadline`),
  `SourceFailed` (a paper source failed), `TrainingJobsFailedToStart`, `PublishFailed`
  (report or digest not published), `LlmUnavailable` (the day ran signals-only);
* each dead-letter queue holding a message; each Lambda's errors and throttles;
* the oldest unranked paper older than an hour.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from .functions import METRICS_NAMESPACE, SERVICE_NAME

PERIOD = Duration.minutes(5)
AT_LEAST = cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
MAX_PAPER_AGE = Duration.hours(1)

# App metrics (Count) that each raise an alarm when they are >= 1 in a period, with what
# the alarm says. The handlers emit them with Powertools `metrics.add_metric(name=...)`.
APP_ALARMS: dict[str, str] = {
    "DigestMissing": "no digest was published today by the digest deadline",
    "SourceFailed": "a paper source (HF Daily Papers or arXiv) failed to fetch",
    "TrainingJobsFailedToStart": "a SageMaker training job could not be started",
    "PublishFailed": "the day's report or digest could not be published",
    "LlmUnavailable": "the LLM secret or provider failed: the day ran signals-only",
}


def app_metric(name: str, statistic: str = cw.Stats.SUM, period: Duration = PERIOD) -> cw.Metric:
    """A metric the handlers publish with Powertools (EMF, dimension `service`)."""
    return cw.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": SERVICE_NAME},
        statistic=statistic,
        period=period,
    )


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: str,
        functions: dict[str, lambda_.IFunction],
        papers_queue: sqs.IQueue,
        dead_letter_queues: dict[str, sqs.IQueue],
        ops_topic: sns.ITopic,
        state_machine: sfn.IStateMachine | None = None,
        orchestrated: frozenset[str] = frozenset(),
    ) -> None:
        """`orchestrated`: functions the state machine calls; it retries their errors and
        throttles, and what retries cannot fix fails the execution (alarmed), so a
        per-function alarm would only page on errors that were already handled."""
        super().__init__(scope, construct_id)
        self._stage = stage
        self._action = cw_actions.SnsAction(ops_topic)
        self.alarms: list[cw.Alarm] = []

        if state_machine is not None:
            for cid, metric, what in (
                ("ExecutionsFailed", state_machine.metric_failed, "failed"),
                ("ExecutionsTimedOut", state_machine.metric_timed_out, "timed out"),
                ("ExecutionsAborted", state_machine.metric_aborted, "was aborted"),
            ):
                self._alarm(
                    cid,
                    metric(period=PERIOD, statistic=cw.Stats.SUM),
                    f"a day's pipeline execution {what} (inspect it, then redrive)",
                )
        for name, description in APP_ALARMS.items():
            self._alarm(name, app_metric(name), description)
        for name, queue in dead_letter_queues.items():
            self._alarm(
                f"{name}NotEmpty",
                queue.metric_approximate_number_of_messages_visible(
                    period=PERIOD, statistic=cw.Stats.MAXIMUM
                ),
                f"{name} has messages (failed work to inspect and redrive)",
            )
        for name, fn in functions.items():
            if name in orchestrated:
                continue
            self._alarm(
                f"{name}Errors",
                fn.metric_errors(period=PERIOD, statistic=cw.Stats.SUM),
                f"{name} Lambda errors",
            )
            self._alarm(
                f"{name}Throttles",
                fn.metric_throttles(period=PERIOD, statistic=cw.Stats.SUM),
                f"{name} Lambda throttles",
            )
        self._alarm(
            "PapersQueueAge",
            papers_queue.metric_approximate_age_of_oldest_message(
                period=PERIOD, statistic=cw.Stats.MAXIMUM
            ),
            "oldest unranked paper is older than 1 hour (rank is stuck or failing)",
            threshold=MAX_PAPER_AGE.to_seconds(),
            comparison=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
        )

        self.dashboard = cw.Dashboard(
            self,
            "Dashboard",
            dashboard_name=f"paperfoundry-{stage}",
            default_interval=Duration.days(7),
        )
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="Lambda invocations",
                left=[fn.metric_invocations(period=PERIOD, label=n) for n, fn in functions.items()],
                width=12,
            ),
            cw.GraphWidget(
                title="Lambda errors / throttles",
                left=[
                    fn.metric_errors(period=PERIOD, label=f"{n} errors")
                    for n, fn in functions.items()
                ],
                right=[
                    fn.metric_throttles(period=PERIOD, label=f"{n} throttles")
                    for n, fn in functions.items()
                ],
                width=12,
            ),
        )
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="Lambda duration p90",
                left=[
                    fn.metric_duration(period=PERIOD, statistic="p90", label=n)
                    for n, fn in functions.items()
                ],
                width=12,
            ),
            cw.GraphWidget(
                title="Papers queue",
                left=[papers_queue.metric_approximate_number_of_messages_visible(period=PERIOD)],
                right=[papers_queue.metric_approximate_age_of_oldest_message(period=PERIOD)],
                width=12,
            ),
        )
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="Dead-letter queues (should be 0)",
                left=[
                    q.metric_approximate_number_of_messages_visible(period=PERIOD, label=n)
                    for n, q in dead_letter_queues.items()
                ],
                width=12,
            ),
            cw.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=12),
        )
        pipeline_widgets: list[cw.IWidget] = []
        if state_machine is not None:
            pipeline_widgets.append(
                cw.GraphWidget(
                    title="Day executions",
                    left=[
                        state_machine.metric_started(period=PERIOD, label="started"),
                        state_machine.metric_succeeded(period=PERIOD, label="succeeded"),
                        state_machine.metric_failed(period=PERIOD, label="failed"),
                        state_machine.metric_timed_out(period=PERIOD, label="timed out"),
                        state_machine.metric_aborted(period=PERIOD, label="aborted"),
                    ],
                    width=12,
                )
            )
        pipeline_widgets.append(
            cw.GraphWidget(
                title="Pipeline failures (should be 0)",
                left=[
                    app_metric(name, period=Duration.days(1)).with_(label=name)
                    for name in APP_ALARMS
                ],
                width=12,
            )
        )
        self.dashboard.add_widgets(*pipeline_widgets)
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="LLM spend today (USD, at selection)",
                left=[app_metric("LlmSpendUsd", cw.Stats.MAXIMUM, Duration.days(1))],
                width=12,
            ),
            cw.GraphWidget(
                title="LLM code: repairs after a rejected training job",
                left=[app_metric("ImplementationRepairs", period=Duration.days(1))],
                right=[app_metric("LlmUnavailable", period=Duration.days(1))],
                width=12,
            ),
        )

    def _alarm(
        self,
        cid: str,
        metric: cw.IMetric,
        description: str,
        *,
        threshold: float = 1,
        comparison: cw.ComparisonOperator = AT_LEAST,
    ) -> cw.Alarm:
        """One alarm to the ops topic; counts alarm at >= 1 by default."""
        alarm = cw.Alarm(
            self,
            cid,
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=comparison,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            alarm_description=f"paperfoundry-{self._stage}: {description}",
        )
        alarm.add_alarm_action(self._action)
        self.alarms.append(alarm)
        return alarm
