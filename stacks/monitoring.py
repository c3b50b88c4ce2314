"""Monitoring: one CloudWatch dashboard and alarms (DLQ depth, Lambda errors/throttles,
papers queue age, LLM unavailable), all notifying the paperfoundry topic."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from .functions import METRICS_NAMESPACE, SERVICE_NAME

PERIOD = Duration.minutes(5)


def app_metric(name: str, statistic: str = cw.Stats.SUM, period: Duration = PERIOD) -> cw.Metric:
    """A metric the handlers publish with Powertools (EMF, dimension `service`)."""
    return cw.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": SERVICE_NAME},
        statistic=statistic,
        period=period,
    )


MAX_PAPER_AGE = Duration.hours(1)


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
        topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        action = cw_actions.SnsAction(topic)
        self.alarms: list[cw.Alarm] = []

        def alarm(cid: str, metric: cw.IMetric, threshold: float, description: str) -> cw.Alarm:
            a = cw.Alarm(
                self,
                cid,
                metric=metric,
                threshold=threshold,
                evaluation_periods=1,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                alarm_description=f"paperfoundry-{stage}: {description}",
            )
            a.add_alarm_action(action)
            self.alarms.append(a)
            return a

        for name, queue in dead_letter_queues.items():
            alarm(
                f"{name}NotEmpty",
                queue.metric_approximate_number_of_messages_visible(
                    period=PERIOD, statistic=cw.Stats.MAXIMUM
                ),
                0,
                f"{name} has messages (failed work to inspect and redrive)",
            )
        for name, fn in functions.items():
            alarm(
                f"{name}Errors",
                fn.metric_errors(period=PERIOD, statistic=cw.Stats.SUM),
                0,
                f"{name} Lambda errors",
            )
            alarm(
                f"{name}Throttles",
                fn.metric_throttles(period=PERIOD, statistic=cw.Stats.SUM),
                0,
                f"{name} Lambda throttles",
            )
        alarm(
            "PapersQueueAge",
            papers_queue.metric_approximate_age_of_oldest_message(
                period=PERIOD, statistic=cw.Stats.MAXIMUM
            ),
            MAX_PAPER_AGE.to_seconds(),
            "oldest unranked paper is older than 1 hour (rank is stuck or failing)",
        )

        alarm(
            "LlmUnavailable",
            app_metric("LlmUnavailable"),
            0,
            "the LLM secret or provider failed: the day ran signals-only",
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
