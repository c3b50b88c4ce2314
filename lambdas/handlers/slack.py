"""Slack Lambda (SNS subscriber): post the day's digest to a Slack incoming webhook.

The webhook URL comes from Secrets Manager (SLACK_WEBHOOK_SECRET_ARN; the bare URL or
{"url": "..."}), cached per container. When the SNS message carries the report's key
(`report_key`) and its report.json is readable, the message is the reporting package's
Block Kit digest with the report's link (`report_uri`) as its button; otherwise the plain
digest text, escaped (`escape_mrkdwn`). Non-2xx or a timeout
raises, so Lambda's async retries (then the async DLQ) take over.
"""

from __future__ import annotations

from typing import Any

import httpx
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import SnsModel, SnsNotificationModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from paperfoundry.adapters.aws.secrets import get_secret

from handlers._runtime import get_runtime, logger, metrics, tracer

TIMEOUT = httpx.Timeout(10.0, connect=5.0)


class SlackError(RuntimeError):
    pass


def escape_mrkdwn(text: str) -> str:
    """Text shown as written: Slack reads `&`, `<` and `>` as control characters, so
    `<!channel>`, `<!here>`, `<@U123>` or `<https://evil|click>` in a paper title would
    ping everyone, mention someone or hide a link. Slack's rule: replace just these three
    with HTML entities (nothing else is decoded, so other characters stay as they are)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _report_payload(key: str | None, url: str | None) -> dict[str, Any] | None:
    """Block Kit message from the day's report.json (`report_key`, under reports/), with
    the report's link (`report_uri`) as its button, when we can read it."""
    if not key or not key.startswith("reports/") or ".." in key.split("/"):
        return None
    try:
        from paperfoundry.models import DayReport
        from paperfoundry.reporting import slack_message

        report = DayReport.model_validate_json(get_runtime().blobs.get(key))
        return slack_message(report, url)
    except Exception as exc:  # noqa: BLE001 - fall back to the plain digest text
        logger.warning("report.json unusable; posting plain text", extra={"error": str(exc)[:300]})
        return None


def payload_for(notification: SnsNotificationModel) -> dict[str, Any]:
    attrs = notification.MessageAttributes or {}
    key, url = attrs.get("report_key"), attrs.get("report_uri")
    payload = _report_payload(key.Value if key else None, url.Value if url else None)
    if payload is not None:
        return payload
    subject = escape_mrkdwn(notification.Subject or "paperfoundry")
    return {"text": f"*{subject}*\n{escape_mrkdwn(notification.Message)}"[:39000]}


@tracer.capture_method
def post(url: str, payload: dict[str, Any]) -> None:
    try:
        response = httpx.post(url, json=payload, timeout=TIMEOUT)
    except httpx.HTTPError as exc:
        raise SlackError(f"Slack webhook unreachable: {type(exc).__name__}") from exc
    if not 200 <= response.status_code < 300:
        # The body is short ("invalid_payload", "no_service"); the URL is secret, never logged.
        raise SlackError(
            f"Slack webhook answered HTTP {response.status_code}: {response.text[:200]}"
        )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    notifications = [record.Sns for record in parse(event=event, model=SnsModel).Records]
    rt = get_runtime()
    secret_arn = rt.settings.slack_webhook_secret_arn
    if not secret_arn:
        raise RuntimeError("SLACK_WEBHOOK_SECRET_ARN is not set")
    url = get_secret(secret_arn, client=rt.client("secretsmanager"), field="url")
    for notification in notifications:
        post(url, payload_for(notification))
        metrics.add_metric(name="SlackMessagesPosted", unit="Count", value=1)
    return {"posted": len(notifications)}


lambda_handler = handler  # the stack points at handlers.<name>.handler
