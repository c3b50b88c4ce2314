"""Short digests of a DayReport for email, chat (Slack) and the Atom feed of the index.

Two renderings of the same facts (day, paper count, ranking mode and LLM spend, failed
sources, top 5, one line per pick, link to the full HTML report; papers whose text tries to
steer the LLM are marked "steering flagged"; LLM picks say how many attempts they took).
Each pick leads with its badge ("supported 1/2", "invalid", "wiring test", never a bare
"better") and its claims, one line each, then its ablations; a schema 1 run is labelled
"legacy verdict (no controls)" (docs/VERDICTS.md):

* `digest_text(report, url) -> (subject, body)`: plain text for an email (SES / SNS email
  subscription) or any chat webhook that takes text. Subject ≤ 120 chars, body a few dozen
  lines whatever the day looks like.
* `slack_message(report, url) -> dict`: a Slack incoming-webhook / `chat.postMessage` payload
  using Block Kit (`text` fallback + `blocks` with mrkdwn). POST it as JSON to the webhook.

Paper titles and error messages are untrusted: Slack control characters (`& < >`) are
escaped so a title cannot inject links or mentions, and everything is length-capped.
"""

from __future__ import annotations

import math

from ..models import DayReport, PickReport, TrainingRun
from . import verdicts as vw
from .html import badge_counts, compact_int, not_attempted

TOP_K = 5
SUBJECT_MAX = 120
TITLE_MAX = 90
ERROR_MAX = 160
SLACK_SECTION_MAX = 3000  # Block Kit limit for a section's text
SLACK_HEADER_MAX = 150  # Block Kit limit for a header's plain_text

MODE_WORDS = {"llm": "LLM review", "signals-only": "signals only"}
FLAG_WORD = "steering flagged"
PICK_LINE_MAX = 250
CLAIMS_MAX = 4  # claim lines per pick in a digest (the report has them all)
OUTCOME_EMOJI = {  # legacy (schema 1) verdicts
    "better": ":large_green_circle:",
    "worse": ":red_circle:",
    "inconclusive": ":large_yellow_circle:",
}
BADGE_EMOJI = {
    "supported": ":large_green_circle:",
    "contradicted": ":red_circle:",
    "inconclusive": ":large_yellow_circle:",
    "untestable": ":white_circle:",
    "invalid": ":no_entry_sign:",
    "smoke": ":wrench:",
    "no-claims": ":white_circle:",
}
CLAIM_MARK = {  # plain-text marks in the digest, emoji in Slack
    "supported": ("+", ":white_check_mark:"),
    "contradicted": ("x", ":x:"),
    "inconclusive": ("?", ":grey_question:"),
    "untestable": ("-", ":heavy_minus_sign:"),
    "invalid": ("!", ":no_entry_sign:"),
}
BADGE_WORDS = {  # subject counts
    "supported": "supported",
    "contradicted": "contradicted",
    "inconclusive": "inconclusive",
    "untestable": "untestable",
    "invalid": "invalid",
    "smoke": "wiring test",
    "no-claims": "no claims",
}


# --------------------------------------------------------------------------- helpers


def _oneline(text: str | None, limit: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _num(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}g}" if math.isfinite(value) else "n/a"


def _signed(value: float, digits: int = 3) -> str:
    if not math.isfinite(value):
        return "n/a"
    return ("+" if value > 0 else "") + f"{value:.{digits}g}"


def slack_escape(text: str) -> str:
    """Escape the three characters Slack mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_link(url: str | None, text: str) -> str:
    label = slack_escape(text).replace("|", "¦")
    if not url or not url.lower().startswith(("https://", "http://")):
        return label
    return f"<{url.replace('>', '%3E').replace('|', '%7C')}|{label}>"


def mode_line(report: DayReport) -> str:
    """'Mode: LLM review (review gpt-5-mini, code gpt-5)' or 'Mode: signals only'."""
    line = f"Mode: {MODE_WORDS.get(report.mode, report.mode)}"
    if report.llm is not None and report.llm.models:
        models = ", ".join(f"{step} {model}" for step, model in report.llm.models.items())
        line += f" ({_oneline(models, 120)})"
    return line


def spend_line(report: DayReport) -> str | None:
    """'LLM: $0.1234, 12 calls (1 failed), 45k tokens; cap $5.00 reached' (None: no LLM)."""
    llm = report.llm
    if llm is None:
        return None
    t = llm.total
    failed = f" ({t.failed} failed)" if t.failed else ""
    tokens = compact_int(t.prompt_tokens + t.completion_tokens)
    cap = f"cap ${llm.cap_usd:.2f}" + (" reached" if llm.cap_reached else "")
    return (
        f"LLM: ${t.cost_usd:.4f}, {t.calls} call{'s' if t.calls != 1 else ''}{failed}, "
        f"{tokens} tokens; {cap}"
    )


def flagged_ids(report: DayReport) -> set[str]:
    """Reviewed papers whose text tries to steer the LLM."""
    return {pid for pid, review in report.reviews.items() if review.flagged}


def _impl_words(pick: PickReport) -> str:
    """'implemented by gpt-5 in 2 attempts' for an LLM implementation ('' otherwise)."""
    impl = pick.implementation
    if impl.provenance != "llm" or impl.status != "implemented":
        return ""
    by = impl.model or impl.origin or "an LLM"
    n = len(impl.attempts)
    tries = f" in {n} attempt{'s' if n != 1 else ''}" if n else ""
    return f"implemented by {_oneline(by, 40)}{tries}"


def _pick_outcome(pick: PickReport) -> str:
    impl = pick.implementation
    run = pick.run
    if impl.status == "not_implemented":
        why = not_attempted(impl)
        if why:
            return f"not attempted: {why}"
        return f"not implemented: {_oneline(impl.reason or 'no reason given', ERROR_MAX)}"
    if impl.status == "failed":
        reason = _oneline(impl.reason or "no reason given", ERROR_MAX)
        if reason.startswith("implementation failed"):
            return reason
        return f"implementation failed: {reason}"
    if run is None:
        return "not trained yet" if _impl_words(pick) else "implemented, not trained yet"
    badge = run.badge
    if badge is not None and badge.kind == "smoke":
        return "WIRING TEST, no verdict (tiny budget: checks that the code runs end to end)"
    if badge is not None and badge.kind != "legacy":
        toy = " (toy scale)" if vw.toy_scale(run) else ""
        return f"{badge.text.upper()}{toy}: {_oneline(vw.short_result(run), 200)}"
    if run.verdict is not None:
        v = run.verdict
        spread = math.sqrt(v.candidate_std**2 + v.baseline_std**2)
        toy = " (toy scale)" if v.toy_scale else ""
        return (
            f"{v.outcome.upper()}{toy}, legacy verdict (no controls): {v.metric} "
            f"{_signed(v.effect)} ± {_num(spread, 2)} "
            f"(candidate {_num(v.candidate_mean, 4)} vs baseline {_num(v.baseline_mean, 4)})"
        )
    if run.status in ("failed", "stopped"):
        if run.failure:
            f = run.failure
            return f"run {run.status} at {_oneline(f'{f.stage}: {f.type}: {f.message}', ERROR_MAX)}"
        return f"run {run.status}: {_oneline(run.error or 'no details', ERROR_MAX)}"
    return f"run {run.status}"


def pick_line(pick: PickReport) -> str:
    """One plain-text line describing what happened to a pick (no title, no rank)."""
    words = _impl_words(pick)
    outcome = _pick_outcome(pick)
    return _oneline(f"{words}; {outcome}" if words else outcome, PICK_LINE_MAX)


def claim_lines(run: TrainingRun | None, limit: int = CLAIMS_MAX) -> list[tuple[str, str]]:
    """(claim outcome, text) per claim, then one per ablation: what the digest lists under a
    pick. Empty for runs without schema 2 results."""
    if run is None or not run.has_results or run.outcome == "smoke":
        return []
    against = vw.versus(run)
    lines = [(c.outcome, _oneline(vw.claim_line(c, against), 220)) for c in run.claims[:limit]]
    if len(run.claims) > limit:
        lines.append(("", f"… {len(run.claims) - limit} more claims in the report"))
    lines += [("", _oneline(text, 220)) for text in vw.ablation_lines(run)[:2]]
    return lines


def _counts(report: DayReport) -> dict[str, int]:
    """Picks per badge, worded for a subject line ("1 supported", "1 legacy better")."""
    counts: dict[str, int] = {}
    for kind, n in badge_counts(report).items():
        if n and kind != "legacy":
            counts[BADGE_WORDS.get(kind, kind)] = n
    for pick in report.picks:
        badge = pick.run.badge if pick.run else None
        if badge is not None and badge.kind == "legacy" and pick.run and pick.run.verdict:
            key = f"legacy {pick.run.verdict.outcome}"
            counts[key] = counts.get(key, 0) + 1
    return counts


def digest_subject(report: DayReport) -> str:
    counts = _counts(report)
    picks = f"{len(report.picks)} pick{'s' if len(report.picks) != 1 else ''}"
    failed = len(report.failed_sources)
    prefix = "[sample] " if report.sample else ""
    subject = ""
    # all counts if they fit, else the first few (the badges that matter most come first)
    for keep in range(len(counts), -1, -1):
        shown = list(counts.items())[:keep]
        verdicts = ", ".join(f"{n} {k}" for k, n in shown)
        if keep < len(counts):
            rest = sum(list(counts.values())[keep:])
            verdicts += (", " if verdicts else "") + f"{rest} other"
        parts = [f"{report.ranked_count} papers", picks + (f" ({verdicts})" if counts else "")]
        if failed:
            parts.append(f"{failed} source{'s' if failed != 1 else ''} failed")
        subject = f"{prefix}paperfoundry {report.day.isoformat()}: " + ", ".join(parts)
        if len(subject) <= SUBJECT_MAX:
            break
    return _oneline(subject, SUBJECT_MAX)


# --------------------------------------------------------------------------- plain text


def digest_text(report: DayReport, report_url: str | None = None) -> tuple[str, str]:
    """(subject, body) plain-text digest for email / chat."""
    lines = [f"paperfoundry daily report for {report.day.isoformat()}"]
    if report.sample:
        lines.append("SAMPLE DAY: bundled sample papers with synthetic signals, not live data.")
    ok = sum(1 for s in report.sources if s.ok)
    lines.append(
        f"{report.ranked_count} papers ranked from {ok}/{len(report.sources)} sources; "
        f"{len(report.picks)} picked for implementation."
    )
    lines.append(mode_line(report))
    if (spend := spend_line(report)) is not None:
        lines.append(spend)
    flagged = flagged_ids(report)
    if flagged:
        lines.append(
            f"{len(flagged)} reviewed paper{'s' if len(flagged) != 1 else ''} flagged: "
            "text tries to steer the LLM (review discarded, not pickable)."
        )
    if report.failed_sources:
        lines.append("")
        lines.append("Failed sources:")
        for src in report.failed_sources:
            lines.append(f"  - {src.name}: {_oneline(src.error or 'unknown error', ERROR_MAX)}")

    lines.append("")
    if report.ranking:
        lines.append(f"Top {min(TOP_K, len(report.ranking))}:")
        for i, rp in enumerate(report.ranking[:TOP_K], start=1):
            excl = " [excluded]" if rp.score.excluded else ""
            if rp.paper.arxiv_id in flagged:
                excl = f" [{FLAG_WORD}]"
            lines.append(
                f"  {i}. {rp.score.total:.3f}  {_oneline(rp.paper.title, TITLE_MAX)} "
                f"(arXiv:{rp.paper.arxiv_id}){excl}"
            )
    else:
        lines.append("No papers ranked.")

    lines.append("")
    if report.picks:
        lines.append("Picks:")
        for pick in report.picks:
            flag = f" [{FLAG_WORD}]" if pick.paper.arxiv_id in flagged else ""
            lines.append(
                f"  #{pick.pick.rank} {_oneline(pick.paper.title, TITLE_MAX)} "
                f"(arXiv:{pick.paper.arxiv_id}){flag}"
            )
            lines.append(f"     -> {pick_line(pick)}")
            for outcome, text in claim_lines(pick.run):
                mark = CLAIM_MARK.get(outcome, ("·", ""))[0]
                lines.append(f"        {mark} {text}")
    else:
        lines.append("No paper was picked today.")

    if report_url:
        lines += ["", f"Full report: {report_url}"]
    return digest_subject(report), "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- Slack


def _slack_pick_line(pick: PickReport, flagged: bool = False) -> str:
    run = pick.run
    badge = run.badge if run else None
    if badge is not None and badge.kind != "legacy":
        emoji = BADGE_EMOJI.get(badge.kind, ":white_circle:")
    elif run and run.verdict:
        emoji = OUTCOME_EMOJI.get(run.verdict.outcome, ":white_circle:")
    elif pick.implementation.status != "implemented" or (run and run.status == "failed"):
        emoji = ":x:" if run and run.status == "failed" else ":white_circle:"
    else:
        emoji = ":hourglass_flowing_sand:"
    title = _slack_link(pick.paper.arxiv_url, _oneline(pick.paper.title, TITLE_MAX))
    flag = f" :triangular_flag_on_post: _{FLAG_WORD}_" if flagged else ""
    text = f"{emoji} *#{pick.pick.rank}* {title}{flag}\n      {slack_escape(pick_line(pick))}"
    for outcome, line in claim_lines(run):
        mark = CLAIM_MARK.get(outcome, ("", "•"))[1]
        text += f"\n      {mark} {slack_escape(line)}"
    return text


def _cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_message(report: DayReport, report_url: str | None = None) -> dict:
    """Slack Block Kit payload (`{"text": fallback, "blocks": [...]}`) for a webhook."""
    subject, _ = digest_text(report, report_url)
    ok = sum(1 for s in report.sources if s.ok)
    context = (
        f"{report.ranked_count} papers ranked · {ok}/{len(report.sources)} sources ok · "
        f"{len(report.picks)} picks"
    )
    context += f" · {MODE_WORDS.get(report.mode, report.mode)} mode"
    if report.sample:
        context = ":warning: *sample day* (synthetic signals) · " + context
    flagged = flagged_ids(report)
    blocks: list[dict] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": _cap(f"paperfoundry · {report.day.isoformat()}", SLACK_HEADER_MAX),
                "emoji": True,
            },
        },
        {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
    ]
    if (spend := spend_line(report)) is not None:
        capped = report.llm is not None and report.llm.cap_reached
        emoji = ":warning:" if capped else ":robot_face:"
        text = f"{emoji} {slack_escape(spend)}"
        if flagged:
            text += (
                f"\n:triangular_flag_on_post: {len(flagged)} reviewed paper"
                + ("s" if len(flagged) != 1 else "")
                + " flagged: text tries to steer the LLM"
            )
        blocks.append(_section(text))
    if report.failed_sources:
        failed = "\n".join(
            f"• *{slack_escape(s.name)}*: "
            f"`{slack_escape(_oneline(s.error or 'unknown error', ERROR_MAX))}`"
            for s in report.failed_sources
        )
        blocks.append(_section(f":rotating_light: *Failed sources*\n{failed}"))
    if report.ranking:
        top = "\n".join(
            f"{i}. `{rp.score.total:.3f}` "
            f"{_slack_link(rp.paper.arxiv_url, _oneline(rp.paper.title, TITLE_MAX))}"
            + (
                f" _({FLAG_WORD})_"
                if rp.paper.arxiv_id in flagged
                else (" _(excluded)_" if rp.score.excluded else "")
            )
            for i, rp in enumerate(report.ranking[:TOP_K], start=1)
        )
        blocks.append(_section(f"*Top {min(TOP_K, len(report.ranking))}*\n{top}"))
    if report.picks:
        # one section per pick: claim lines make picks long, and a section holds 3000 chars
        lines = [_slack_pick_line(p, p.paper.arxiv_id in flagged) for p in report.picks]
        blocks.append(_section(f"*Picks*\n{lines[0]}"))
        blocks += [_section(line) for line in lines[1:]]
    else:
        blocks.append(_section("_No paper was picked today._"))
    if report_url and report_url.lower().startswith(("https://", "http://")):
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open full report"},
                        "url": report_url,
                        "action_id": "open_report",
                    }
                ],
            }
        )
    return {"text": subject, "blocks": blocks[:50], "unfurl_links": False}


def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cap(text, SLACK_SECTION_MAX)}}
