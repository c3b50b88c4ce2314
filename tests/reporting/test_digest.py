"""digest_text, slack_message, chatbot_notification."""

from __future__ import annotations

import json

from paperfoundry.reporting import chatbot_notification, digest_text, slack_message

URL = "https://reports.example.com/2025-03-14/report.html"


def test_digest_text(report):
    subject, body = digest_text(report, URL)
    assert (
        subject
        == "[sample] paperfoundry 2025-03-14: 64 papers, 3 picks (1 better), 1 source failed"
    )
    assert len(subject) <= 120
    assert "64 papers ranked from 1/2 sources; 3 picked" in body
    assert "arxiv: HTTPStatusError: 503" in body
    assert "SAMPLE DAY" in body
    top5 = [rp for rp in report.ranking[:5]]
    for i, rp in enumerate(top5, start=1):
        assert f"  {i}. {rp.score.total:.3f}  " in body
    assert "  6. " not in body
    assert "BETTER (toy scale): val_loss -0.0786 ± 0.02" in body
    assert "not implemented: no reference implementation" in body
    assert "run failed at train: RuntimeError: CUDA out of memory" in body
    assert body.rstrip().endswith(f"Full report: {URL}")
    lines = body.splitlines()
    assert len(lines) <= 30 and max(len(line) for line in lines) <= 260


def test_digest_without_url_or_picks(report):
    bare = report.model_copy(update={"picks": [], "sources": [], "sample": False})
    subject, body = digest_text(bare, None)
    assert subject == "paperfoundry 2025-03-14: 64 papers, 0 picks"
    assert "Full report" not in body
    assert "No paper was picked today." in body


def test_slack_message(report):
    msg = slack_message(report, URL)
    json.dumps(msg)
    assert msg["text"].startswith("[sample] paperfoundry 2025-03-14")
    blocks = msg["blocks"]
    assert blocks[0]["type"] == "header" and len(blocks[0]["text"]["text"]) <= 150
    texts = "\n".join(b["text"]["text"] for b in blocks if b["type"] == "section")
    assert "*Failed sources*" in texts and "arxiv" in texts
    assert "*Top 5*" in texts
    assert ":large_green_circle:" in texts
    # untrusted title cannot inject Slack markup
    assert "<script>" not in texts and "&lt;script&gt;" in texts
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks if b["type"] == "section")
    button = blocks[-1]["elements"][0]
    assert button["url"] == URL


def test_chatbot_notification(report):
    event = chatbot_notification(report, URL)
    json.dumps(event)
    assert event["version"] == "1.0" and event["source"] == "custom"
    content = event["content"]
    assert content["textType"] == "client-markdown"
    assert "paperfoundry 2025-03-14" in content["title"]
    assert "arxiv" in content["description"] and "*Top 5*" in content["description"]
    assert "&lt;script&gt;" in content["description"]
    assert content["nextSteps"][0] == f"Open the full report: {URL}"
    assert all(isinstance(s, str) for s in content["nextSteps"] + content["keywords"])
    assert event["metadata"]["additionalContext"]["failedSources"] == "arxiv"
    assert len(content["description"]) <= 3500
