"""`SnsNotifier`: the `Notifier` port on an SNS topic (email digest; Slack subscribes)."""

from __future__ import annotations

from typing import Any

SUBJECT_LIMIT = 100  # SNS: ASCII, no line breaks, < 100 characters
MESSAGE_LIMIT = 256 * 1024


def _subject(text: str) -> str:
    one_line = " ".join(text.split())
    ascii_only = one_line.encode("ascii", "replace").decode("ascii")
    return ascii_only[: SUBJECT_LIMIT - 1] or "paperfoundry"


class SnsNotifier:
    def __init__(self, topic_arn: str, client: Any = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("sns")
        self.topic_arn = topic_arn
        self.client = client

    def notify(self, subject: str, text: str, report_uri: str | None = None) -> None:
        attributes = {"kind": {"DataType": "String", "StringValue": "digest"}}
        if report_uri:
            attributes["report_uri"] = {"DataType": "String", "StringValue": report_uri}
        body = text.encode()[: MESSAGE_LIMIT - 1024].decode(errors="ignore")
        self.client.publish(
            TopicArn=self.topic_arn,
            Subject=_subject(subject),
            Message=body,
            MessageAttributes=attributes,
        )
