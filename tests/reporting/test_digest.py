"""digest_text, slack_message."""

from __future__ import annotations

import json

from paperfoundry.models import Implementation
from paperfoundry.reporting import digest_text, slack_message

from .factories import build_verdicts_report

URL = "https://reports.example.com/2025-03-14/report.html"


def test_digest_text(report):
    subject, body = digest_text(report, URL)
    assert (
        subject
        == "[sample] paperfoundry 2025-03-14: 64 papers, 3 picks (1 legacy better), 1 source failed"
    )
    assert len(subject) <= 120
    assert "64 papers ranked from 1/2 sources; 3 picked" in body
    assert "arxiv: HTTPStatusError: 503" in body
    assert "SAMPLE DAY" in body
    top5 = [rp for rp in report.ranking[:5]]
    for i, rp in enumerate(top5, start=1):
        assert f"  {i}. {rp.score.total:.3f}  " in body
    assert "  6. " not in body
    # a schema 1 run: the old wording, labelled as a verdict without controls
    assert "BETTER (toy scale), legacy verdict (no controls): val_loss -0.0786 ± 0.02" in body
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


def test_a_pick_the_implement_step_never_reached_says_so(report):
    # `run --no-train`: build_report records "not resolved yet" for every pick
    picks = [
        p.model_copy(
            update={
                "implementation": Implementation(
                    arxiv_id=arxiv_id, status="not_implemented", reason="not resolved yet"
                ),
                "run": None,
            }
        )
        for p, arxiv_id in zip(report.picks, ("2402.18668", "2503.99999"), strict=False)
    ]
    _, body = digest_text(report.model_copy(update={"picks": picks}), URL)
    assert "not resolved yet" not in body
    assert "not attempted: in the reference library; not trained" in body  # BASED
    assert "not attempted: the implement step did not run today (training off)" in body


# --------------------------------------------------------------------------- schema 2 verdicts


def test_digest_leads_each_pick_with_its_badge_and_claims():
    report = build_verdicts_report()
    subject, body = digest_text(report, URL)
    assert len(subject) <= 120
    assert subject.startswith("paperfoundry 2025-03-14: 12 papers, 5 picks (1 supported, ")
    assert "better" not in subject.replace("legacy better", "")  # no bare "better" verdict
    assert (
        "-> SUPPORTED 2/3 (toy scale): query accuracy vs the attention baseline: equivalent "
        "(effect +0.0037, 95% CI [−0.0092, +0.0165], margin ±0.03)" in body
    )
    assert '        + supported: <script>alert("claim")</script> BASED' in body  # plain text
    assert "        - untestable here: BASED has 24x higher generation throughput" in body
    assert "        · ablation: without short conv vs baseline: worse (effect −0.2693" in body
    assert (
        "-> implemented by gpt-5; INVALID: no comparison: the attention baseline did not "
        "learn the task (0.41 < 0.90)" in body
    )
    assert "        ! invalid (not compared): Mamba-3 recalls better than attention" in body
    assert "-> implemented by gpt-5; WIRING TEST, no verdict (tiny budget" in body
    assert "CONTRADICTED 1/2 (toy scale): bits per byte vs the GPT baseline: equivalent" in body
    assert "        x contradicted: Differential attention reaches lower loss" in body
    assert "BETTER (toy scale), legacy verdict (no controls): val_loss" in body
    # claim lines come right after their pick's line, before the next pick
    lines = body.splitlines()
    first = next(i for i, line in enumerate(lines) if "SUPPORTED 2/3" in line)
    assert lines[first + 1].lstrip().startswith("+ supported")
    assert len(lines) <= 45 and max(len(line) for line in lines) <= 260


def test_slack_message_with_claims():
    report = build_verdicts_report()
    msg = slack_message(report, URL)
    json.dumps(msg)
    sections = [b["text"]["text"] for b in msg["blocks"] if b["type"] == "section"]
    assert all(len(t) <= 3000 for t in sections) and len(msg["blocks"]) <= 50
    picks = "\n".join(sections[sections.index(next(t for t in sections if "*Picks*" in t)) :])
    assert ":large_green_circle: *#1*" in picks and "SUPPORTED 2/3 (toy scale)" in picks
    assert ":white_check_mark: supported: &lt;script&gt;alert" in picks  # escaped for mrkdwn
    assert "<script>" not in picks
    assert ":no_entry_sign: *#2*" in picks and "(0.41 &lt; 0.90)" in picks
    assert ":wrench: *#3*" in picks and "WIRING TEST, no verdict" in picks
    assert ":red_circle: *#4*" in picks and ":x: contradicted:" in picks
    assert "legacy verdict (no controls)" in picks
    # each pick has its own section (claims make them long)
    assert sum(1 for t in sections if t.count(" *#") == 1) == 5
