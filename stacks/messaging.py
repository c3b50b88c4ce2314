"""Messaging: the papers work queue (+ DLQ), failure DLQs, the digest topic and the ops
(alarm) topic."""

from __future__ import annotations

from aws_cdk import Annotations, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from aws_cdk import aws_sqs as sqs
from cdk_nag import NagSuppressions
from constructs import Construct

# The rank Lambda's timeout; SQS visibility must be >= 6x the consumer timeout.
RANK_TIMEOUT = Duration.minutes(2)
PAPERS_MAX_RECEIVE_COUNT = 3


class Messaging(Construct):
    """Queues use SQS-managed SSE (SSE-SQS): the DLQs receive from EventBridge, Scheduler,
    SNS and Lambda's async path, which would each need KMS key-policy grants with a CMK,
    and queue bodies are paper ids/event envelopes, not secrets. Both topics use the
    customer-managed data key (SNS has no managed-SSE alternative), with a key policy that
    lets CloudWatch alarms publish.

    Two topics, two audiences: `topic` carries the daily digest (e-mail `notificationEmail`,
    Slack); `ops_topic` carries alarms (e-mail `alarmEmail`), so a failure reaches whoever
    operates the stack even when nobody reads digests, and digests do not drown alarms."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        data_key: kms.IKey,
        notification_email: str | None,
        alarm_email: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)

        def dlq(cid: str, description: str) -> sqs.Queue:
            queue = sqs.Queue(
                self,
                cid,
                encryption=sqs.QueueEncryption.SQS_MANAGED,
                enforce_ssl=True,
                retention_period=Duration.days(14),
            )
            NagSuppressions.add_resource_suppressions(
                queue,
                [
                    {
                        "id": "AwsSolutions-SQS3",
                        "reason": f"{description}: this queue IS a dead-letter queue; it is "
                        "alarmed on (depth > 0) instead of having a DLQ of its own.",
                    }
                ],
            )
            return queue

        self.papers_dlq = dlq("PapersDlq", "Papers DLQ")
        self.papers_queue = sqs.Queue(
            self,
            "PapersQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(RANK_TIMEOUT.to_seconds() * 6),
            retention_period=Duration.days(4),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.papers_dlq, max_receive_count=PAPERS_MAX_RECEIVE_COUNT
            ),
        )
        # Failed asynchronous Lambda invocations (start, watchdog, slack).
        self.lambda_dlq = dlq("LambdaAsyncDlq", "Lambda async-invocation DLQ")
        # Events EventBridge rules / Scheduler / SNS could not deliver to their target.
        self.delivery_dlq = dlq("DeliveryDlq", "EventBridge/Scheduler/SNS delivery DLQ")

        self.topic = sns.Topic(
            self,
            "NotificationTopic",
            display_name="paperfoundry",
            master_key=data_key,
            enforce_ssl=True,
        )
        self.ops_topic = sns.Topic(
            self,
            "OpsTopic",
            display_name="paperfoundry alarms",
            master_key=data_key,
            enforce_ssl=True,
        )
        # CloudWatch alarms publish to the ops topic; with a CMK the service needs the key.
        data_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToUseKeyForSns",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
            )
        )
        if notification_email:
            self.topic.add_subscription(subs.EmailSubscription(notification_email))
        if alarm_email:
            self.ops_topic.add_subscription(subs.EmailSubscription(alarm_email))
        else:
            # load_config refuses stage=prod without alarmEmail; in dev, say it at synth.
            Annotations.of(self.ops_topic).add_warning_v2(
                "paperfoundry:noAlarmSubscriber",
                "No alarm subscriber: alarms reach nobody. Set context alarmEmail "
                "(-c alarmEmail=<address>) and confirm the subscription e-mail.",
            )

    @property
    def dead_letter_queues(self) -> dict[str, sqs.IQueue]:
        return {
            "PapersDlq": self.papers_dlq,
            "LambdaAsyncDlq": self.lambda_dlq,
            "DeliveryDlq": self.delivery_dlq,
        }
