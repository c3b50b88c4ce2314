"""Reports for a DayReport: a self-contained HTML page, SVG charts, digests, and the index.

The HTML comes from Jinja2 templates (`templates/`, autoescaped); charts are SVG built in
Python (stdlib only). Runs the same locally and inside a Lambda.

* `render_html(report, *, top_n=50) -> str`: one self-contained HTML page.
* `loss_curves_svg(curves, *, title, width=640, height=320) -> str`: inline SVG chart.
* `digest_text(report, report_url) -> (subject, body)`: plain text for email/chat.
* `slack_message(report, report_url) -> dict`: Slack Block Kit webhook payload.
* `write_index(blobs, report, days, *, prefix)`: index.html and the Atom feed.xml of all days
  (`render_index`, `render_feed` render them from `IndexEntry` records).
"""

from .digest import digest_text, slack_message
from .html import render_html
from .index import render_feed, render_index, write_index
from .svg import loss_curves_svg

__all__ = [
    "digest_text",
    "loss_curves_svg",
    "render_feed",
    "render_html",
    "render_index",
    "slack_message",
    "write_index",
]
