"""Reports for a DayReport: self-contained HTML, loss-curve SVG, and short digests.

Pure Python (stdlib + pydantic) so it runs the same locally and inside a Lambda.

* `render_html(report, *, top_n=50) -> str`: one self-contained HTML page.
* `loss_curves_svg(curves, *, title, width=640, height=320) -> str`: inline SVG chart.
* `digest_text(report, report_url) -> (subject, body)`: plain text for email/chat.
* `slack_message(report, report_url) -> dict`: Slack Block Kit webhook payload.
* `chatbot_notification(report, report_url) -> dict`: Amazon Q Developer in chat
  applications (AWS Chatbot) custom notification, to publish on its SNS topic.
"""

from .digest import chatbot_notification, digest_text, slack_message
from .html import render_html
from .svg import loss_curves_svg

__all__ = [
    "chatbot_notification",
    "digest_text",
    "loss_curves_svg",
    "render_html",
    "slack_message",
]
