"""The daily report as ONE self-contained HTML file.

Inline CSS, inline SVG charts, no scripts, no external fonts/images/stylesheets, so the file
can be mailed, uploaded to S3 or opened from disk and still render (and print) the same.
Everything that comes from papers or runs (titles, abstracts, authors, error messages...)
is untrusted and HTML-escaped; link targets are restricted to http(s) URLs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime
from html import escape

from ..models import (
    LLM_STEPS,
    REVIEW_CRITERIA,
    DayReport,
    Efficiency,
    Gate,
    Implementation,
    ImplementationAttempt,
    LLMUsage,
    Paper,
    PaperReview,
    PickReport,
    RankedPaper,
    ScoreComponent,
    Tournament,
    TrainingRun,
    Verdict,
)
from . import verdicts as vw
from .svg import BASELINE_COLOUR, MODEL_COLOURS, IntervalRow, interval_chart_svg, loss_curves_svg

DEFAULT_TOP_N = 50

# Stable colours for the score components the ranker emits; unknown names cycle the rest.
COMPONENT_COLOURS = {
    "relevance": "#2563eb",
    "liked": "#7c3aed",
    "upvotes": "#ea580c",
    "comments": "#d97706",
    "stars": "#0d9488",
    "code": "#64748b",
    # LLM mode ("combined" basis): the review and tournament parts
    "review": "#059669",
    "tournament": "#c026d3",
}
# Longer legend labels where the component name alone is unclear.
COMPONENT_LABELS = {
    "review": "LLM review",
    "tournament": "LLM tournament",
}
EXTRA_COLOURS = ["#db2777", "#65a30d", "#0891b2", "#9333ea", "#b91c1c"]

OUTCOME_LABELS = {
    "better": "Better",
    "worse": "Worse",
    "equivalent": "Equivalent",
    "inconclusive": "Inconclusive",
    "invalid": "Invalid",
    "smoke": "Wiring test",
}
# pill classes: a pick's badge, a comparison's outcome, a claim's outcome
BADGE_CLASSES = {
    "supported": "good",
    "contradicted": "bad",
    "inconclusive": "warn",
    "untestable": "mute",
    "invalid": "inv",
    "smoke": "info",
    "no-claims": "mute",
}
OUTCOME_CLASSES = {
    "better": "good",
    "worse": "bad",
    "equivalent": "eq",
    "inconclusive": "warn",
    "invalid": "inv",
    "smoke": "mute",
}
CLAIM_CLASSES = {
    "supported": "good",
    "contradicted": "bad",
    "inconclusive": "warn",
    "untestable": "mute",
    "invalid": "inv",
}
OUTCOME_COLOURS = {
    "better": "#15803d",
    "worse": "#b91c1c",
    "equivalent": "#4338ca",
    "inconclusive": "#a16207",
    "invalid": "#7e22ce",
    "smoke": "#64748b",
}
# the badge kinds counted in the stats card, in order (always shown first, then others)
BADGE_COUNTS = (
    ("supported", "supported", "good-t"),
    ("contradicted", "contradicted", "bad-t"),
    ("inconclusive", "inconclusive", "warn-t"),
    ("invalid", "invalid", "inv-t"),
    ("untestable", "untestable", "mute-t"),
    ("no-claims", "no claims", "mute-t"),
    ("smoke", "wiring tests", "mute-t"),
    ("legacy", "legacy", "mute-t"),
)
MODE_LABELS = {"llm": "LLM review", "signals-only": "signals only"}
CRITERION_SHORT = {
    "novelty": "nov",
    "significance": "sig",
    "soundness": "sound",
    "clarity": "clar",
    "implementability": "impl",
    "relevance": "rel",
}


# --------------------------------------------------------------------------- small helpers


def e(value: object) -> str:
    """HTML-escape anything (quotes too, so it is safe inside attributes)."""
    return escape("" if value is None else str(value), quote=True)


def safe_url(url: str | None) -> str | None:
    """Only absolute http(s) URLs may become links (no javascript:, data:, ...)."""
    if not url:
        return None
    url = url.strip()
    lowered = url.lower()
    if lowered.startswith(("https://", "http://")) and not any(c in url for c in "\r\n\t "):
        return url
    return None


def github_url(repo: str | None) -> str | None:
    """'owner/name', 'github.com/owner/name' or a full URL -> https URL (or None)."""
    if not repo:
        return None
    repo = repo.strip()
    if repo.lower().startswith(("http://", "https://")):
        return safe_url(repo)
    repo = repo.removeprefix("github.com/").strip("/")
    if repo.count("/") == 1 and all(part and part not in {".", ".."} for part in repo.split("/")):
        return "https://github.com/" + "/".join(
            "".join(c for c in part if c.isalnum() or c in "-_.") for part in repo.split("/")
        )
    return None


def github_label(repo: str) -> str:
    repo = repo.strip().rstrip("/")
    for prefix in ("https://github.com/", "http://github.com/", "github.com/"):
        if repo.lower().startswith(prefix):
            return repo[len(prefix) :]
    return repo


def link(url: str | None, text: str, *, cls: str = "") -> str:
    href = safe_url(url)
    class_attr = f' class="{e(cls)}"' if cls else ""
    if href is None:
        return f"<span{class_attr}>{e(text)}</span>"
    return f'<a{class_attr} href="{e(href)}" rel="noopener noreferrer">{e(text)}</a>'


def compact_int(value: int | None) -> str:
    if value is None:
        return ""
    if abs(value) >= 1_000_000:
        return f"{value / 1_000_000:.1f}M".replace(".0M", "M")
    if abs(value) >= 10_000:
        return f"{value / 1000:.0f}k"
    if abs(value) >= 1000:
        return f"{value / 1000:.1f}k".replace(".0k", "k")
    return str(value)


def fmt(value: float | None, digits: int = 4) -> str:
    """Significant-digit formatting that never prints 'nan' as a number."""
    if value is None:
        return "–"
    if not math.isfinite(value):
        return "n/a"
    return f"{value:.{digits}g}"


def fmt_signed(value: float, digits: int = 3) -> str:
    if not math.isfinite(value):
        return "n/a"
    return ("+" if value > 0 else "") + f"{value:.{digits}g}"


def fmt_time(value: datetime | None) -> str:
    if value is None:
        return "–"
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M UTC")


def fmt_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "–"
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def component_colours(names: Iterable[str]) -> dict[str, str]:
    colours: dict[str, str] = {}
    extra = 0
    for name in names:
        if name in colours:
            continue
        if name in COMPONENT_COLOURS:
            colours[name] = COMPONENT_COLOURS[name]
        else:
            colours[name] = EXTRA_COLOURS[extra % len(EXTRA_COLOURS)]
            extra += 1
    return colours


def verdict_spread(verdict: Verdict) -> float:
    """Spread shown next to the effect: combined std of the two arms, sqrt(sc^2 + sb^2)."""
    return math.sqrt(verdict.candidate_std**2 + verdict.baseline_std**2)


def pick_anchor(arxiv_id: str) -> str:
    return "pick-" + "".join(c if c.isalnum() else "-" for c in arxiv_id)


def review_anchor(arxiv_id: str) -> str:
    return "review-" + "".join(c if c.isalnum() else "-" for c in arxiv_id)


def fmt_usd(value: float | None, digits: int = 4) -> str:
    """Dollars: 4 decimals for LLM spend (cents hide cheap calls), 2 for caps and big sums."""
    if value is None:
        return "–"
    if not math.isfinite(value):
        return "n/a"
    return f"${value:.{digits}f}" if abs(value) < 100 else f"${value:,.2f}"


def fmt_score(value: float | None) -> str:
    """A 1..10 review score (or its std) with one decimal."""
    if value is None:
        return "–"
    return f"{value:.1f}" if math.isfinite(value) else "n/a"


def fmt_stat(mean: float, std: float) -> str:
    return f"{fmt_score(mean)} ± {fmt_score(std)}"


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def known_papers(report: DayReport) -> dict[str, Paper]:
    """Every paper the report knows about, by arXiv id (ranking first, then picks)."""
    papers = {rp.paper.arxiv_id: rp.paper for rp in report.ranking}
    for pick in report.picks:
        papers.setdefault(pick.paper.arxiv_id, pick.paper)
    return papers


# --------------------------------------------------------------------------- CSS

CSS = """
:root{--ink:#0f172a;--muted:#475569;--faint:#64748b;--line:#e2e8f0;--bg:#f1f5f9;--card:#fff;
--accent:#1d4ed8;--good:#15803d;--good-bg:#dcfce7;--bad:#b91c1c;--bad-bg:#fee2e2;
--warn:#a16207;--warn-bg:#fef3c7;--info-bg:#e0e7ff;}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--ink);line-height:1.45;
font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
a{color:var(--accent);text-decoration:none}
a:hover,a:focus{text-decoration:underline}
.wrap{max-width:1180px;margin:0 auto;padding:0 20px}
header.top{background:#0f172a;color:#e2e8f0;padding:22px 0 20px}
header.top .brand{font-size:12px;letter-spacing:.14em;text-transform:uppercase;color:#94a3b8;
font-weight:600}
header.top h1{margin:4px 0 6px;font-size:26px;line-height:1.2;color:#fff;font-weight:650}
header.top .meta{margin:0;color:#cbd5e1;font-size:14px}
.banner{background:var(--warn-bg);border-bottom:1px solid #fcd34d;color:#713f12;
padding:10px 0;font-size:14px}
.banner strong{color:#713f12}
main{padding:20px 0 40px}
section.block{margin:0 0 22px}
h2{font-size:19px;margin:0 0 10px;font-weight:650}
h2 .count{color:var(--faint);font-weight:500;font-size:15px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;
box-shadow:0 1px 2px rgba(15,23,42,.05)}
.stats{display:grid;grid-template-columns:repeat(auto-fit,minmax(175px,1fr));gap:12px;
margin:0 0 22px}
.stat{padding:12px 14px}
.stat .k{font-size:12px;color:var(--faint);text-transform:uppercase;letter-spacing:.06em}
.stat .v{font-size:24px;font-weight:650;line-height:1.2}
.stat .v small{font-size:13px;font-weight:500;color:var(--muted)}
.stat .v .word{font-size:19px;white-space:nowrap}
.stat .v .sub{display:block;margin-top:3px;font-size:12.5px;line-height:1.5;font-weight:500;
color:var(--muted)}
.tri{display:flex;flex-wrap:wrap;gap:2px 12px}
.tri span{display:flex;align-items:baseline;gap:5px}
.sources{display:flex;flex-wrap:wrap;gap:10px}
.src{padding:9px 12px;min-width:200px;flex:1 1 220px}
.src .name{font-weight:600}
.src.ok{border-left:4px solid var(--good)}
.src.fail{border-left:4px solid var(--bad);background:#fff7f7}
.src .err{margin-top:4px;font:12.5px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;
color:var(--bad);word-break:break-word}
.notes{margin:0;padding:10px 14px 10px 30px;font-size:14px;color:var(--muted)}
.glance{margin:0;padding:6px 0;list-style:none}
.glance li{padding:8px 14px;border-top:1px solid var(--line);display:flex;gap:10px;
align-items:baseline;flex-wrap:wrap}
.glance li:first-child{border-top:0}
.glance .t{flex:1 1 300px;min-width:0}
.pill{display:inline-block;padding:1px 9px;border-radius:999px;font-size:12px;font-weight:600;
white-space:nowrap;border:1px solid transparent;vertical-align:1px}
.pill.good{background:var(--good-bg);color:var(--good);border-color:#86efac}
.pill.bad{background:var(--bad-bg);color:var(--bad);border-color:#fca5a5}
.pill.warn{background:var(--warn-bg);color:var(--warn);border-color:#fcd34d}
.pill.info{background:var(--info-bg);color:#3730a3;border-color:#c7d2fe}
.pill.mute{background:#f1f5f9;color:var(--muted);border-color:#cbd5e1}
.pill.inv{background:#f3e8ff;color:#6b21a8;border-color:#d8b4fe}
.pill.eq{background:#e0e7ff;color:#3730a3;border-color:#a5b4fc}
.pill.big{font-size:14px;padding:3px 12px}
.tablewrap{overflow-x:auto}
table.rank{width:100%;border-collapse:collapse;font-size:14px}
table.rank th{text-align:left;font-size:12px;text-transform:uppercase;letter-spacing:.05em;
color:var(--faint);font-weight:600;padding:10px 12px;border-bottom:1px solid var(--line);
background:#f8fafc}
table.rank td{padding:10px 12px;border-top:1px solid var(--line);vertical-align:top}
table.rank tr.picked td{background:#f5f8ff}
table.rank tr.excl td{background:#fcfcfd}
table.rank tr.excl .title a{color:var(--muted)}
table.rank tr.flagged td{background:#fff7f7}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap;color:var(--muted);
font-weight:600;width:36px}
td.paper{min-width:280px}
td.paper .title{font-weight:600;line-height:1.35}
td.paper .sub{margin-top:3px;font-size:12.5px;color:var(--faint);display:flex;flex-wrap:wrap;
gap:4px 12px}
td.paper .sub a{color:var(--muted)}
td.paper .sub a.hf{color:#b45309}
td.paper .sub a.gh{color:#0f172a}
td.paper .flags{margin-top:5px;display:flex;gap:6px;flex-wrap:wrap}
td.score{width:150px;white-space:nowrap}
td.score .total{font-size:17px;font-weight:700;font-variant-numeric:tabular-nums}
.stack{display:flex;height:8px;border-radius:4px;overflow:hidden;background:#eef2f7;
margin-top:5px;width:130px}
.stack span{display:block;height:100%}
td.bd{width:450px}
ul.bd{list-style:none;margin:0;padding:0;font-size:12px;font-variant-numeric:tabular-nums;
display:grid;grid-template-columns:1fr 1fr;column-gap:16px}
ul.bd li{display:grid;grid-template-columns:9px 70px 1fr 38px;gap:5px;align-items:center;
line-height:1.6;white-space:nowrap}
ul.bd .dot{width:9px;height:9px;border-radius:2px;display:inline-block}
ul.bd .n{color:var(--muted)}
ul.bd .f{color:var(--faint);white-space:nowrap}
ul.bd .c{text-align:right;font-weight:600}
ul.bd li.zero{opacity:.55}
.legend{display:flex;flex-wrap:wrap;gap:4px 14px;font-size:12.5px;color:var(--muted);
padding:8px 12px;border-bottom:1px solid var(--line)}
.legend span.sw{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px;
vertical-align:-1px}
.tablenote{padding:9px 12px;font-size:13px;color:var(--faint);border-top:1px solid var(--line)}
.pick{padding:18px 20px;margin:0 0 18px}
.pick-head{display:flex;gap:12px;align-items:flex-start;flex-wrap:wrap}
.pick-head .rk{font-size:13px;font-weight:700;color:#fff;background:#334155;border-radius:6px;
padding:2px 8px;margin-top:3px}
.pick-head h3{margin:0;font-size:18px;line-height:1.35;flex:1 1 420px;min-width:0}
.pick-head .badges{display:flex;gap:6px;align-items:center;flex-wrap:wrap;margin-top:2px}
.pick .byline{margin:6px 0 0;color:var(--muted);font-size:13.5px}
.pick .links{margin:4px 0 0;font-size:13px;display:flex;gap:14px;flex-wrap:wrap}
.pick .abstract{margin:10px 0 0;color:#334155;font-size:14px}
.facts{display:grid;grid-template-columns:repeat(auto-fit,minmax(230px,1fr));gap:10px;
margin:14px 0 0}
.fact{border:1px solid var(--line);border-radius:8px;padding:9px 12px;background:#fbfcfe}
.fact .k{font-size:11.5px;text-transform:uppercase;letter-spacing:.06em;color:var(--faint);
font-weight:600}
.fact .v{margin-top:2px;font-size:14px}
.fact .d{font-size:12.5px;color:var(--faint);margin-top:2px;word-break:break-word}
.verdict{margin:14px 0 0;border-radius:8px;padding:12px 14px;border:1px solid var(--line);
display:grid;grid-template-columns:minmax(200px,260px) 1fr;gap:10px 22px}
.verdict.better{background:#f0fdf4;border-color:#bbf7d0}
.verdict.worse{background:#fef2f2;border-color:#fecaca}
.verdict.inconclusive{background:#fffbeb;border-color:#fde68a}
.verdict .eff{font-size:24px;font-weight:700;font-variant-numeric:tabular-nums;line-height:1.2}
.verdict .eff small{font-size:14px;font-weight:500;color:var(--muted)}
.verdict .lbl{font-size:12px;color:var(--faint);text-transform:uppercase;letter-spacing:.06em}
.verdict table{border-collapse:collapse;font-size:13.5px;font-variant-numeric:tabular-nums}
.verdict td,.verdict th{padding:2px 14px 2px 0;text-align:left}
.verdict th{font-weight:600;color:var(--muted)}
.verdict .sum{grid-column:1/-1;font-size:14px;color:#334155}
.chart{margin:14px 0 0;border:1px solid var(--line);border-radius:8px;padding:6px;
background:#fff;overflow:hidden}
.chart svg{display:block;width:100%;max-width:820px;height:auto;margin:0 auto}
.failure{margin:14px 0 0;border:1px solid #fecaca;background:#fef2f2;border-radius:8px;
padding:10px 14px}
.failure .h{font-weight:650;color:var(--bad)}
.failure dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:6px 0 0;
font-size:13.5px}
.failure dt{color:var(--muted);font-weight:600}
.failure dd{margin:0;word-break:break-word}
pre{margin:8px 0 0;padding:8px 10px;background:#1e293b;color:#e2e8f0;border-radius:6px;
font:12px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;white-space:pre-wrap;
word-break:break-word;max-height:260px;overflow:auto}
.banner.alert{background:var(--bad-bg);border-bottom-color:#fca5a5;color:#7f1d1d}
.banner.alert strong{color:#7f1d1d}
td.paper .why{margin-top:3px;font-size:12px;color:var(--bad);word-break:break-word}
table.mini{width:100%;border-collapse:collapse;font-size:13px}
table.mini th{text-align:left;font-size:11.5px;text-transform:uppercase;letter-spacing:.05em;
color:var(--faint);font-weight:600;padding:6px 10px;border-bottom:1px solid var(--line);
background:#f8fafc}
table.mini td{padding:6px 10px;border-top:1px solid var(--line);vertical-align:top}
table.mini td.nr,table.mini th.nr{text-align:right;font-variant-numeric:tabular-nums;
white-space:nowrap}
table.mini tr.total td{font-weight:650;background:#f8fafc}
table.mini td.why{color:#334155;word-break:break-word}
table.crit th:nth-child(1){width:150px}table.crit th:nth-child(2){width:110px}
table.attempts th:nth-child(1){width:36px}table.attempts th:nth-child(2){width:80px}
table.attempts th:nth-child(4){width:230px}
.rev{border-top:1px solid var(--line)}
.rev:first-child{border-top:0}
.rev summary{padding:9px 14px;cursor:pointer;line-height:1.6}
.rev summary .ov{font-weight:700;font-variant-numeric:tabular-nums;margin-right:6px}
.rev summary .ov small{font-weight:500;color:var(--faint)}
.rev summary .t{font-weight:600;margin-right:6px}
.crits{display:inline-flex;flex-wrap:wrap;gap:2px 10px;font-size:12px;color:var(--muted);
font-variant-numeric:tabular-nums}
.rev .body{padding:2px 14px 12px 30px}
.rev .body p{margin:8px 0 0;font-size:13.5px;color:#334155}
.rev .body ul{margin:6px 0 0;padding-left:20px;font-size:13px}
.flagbox{margin:8px 0 0;border:1px solid #fecaca;background:#fef2f2;border-radius:8px;
padding:8px 12px;font-size:13px}
.flagbox .h{font-weight:650;color:var(--bad)}
.flagbox ul{margin:4px 0 0;padding-left:18px}
.llm-impl{margin:14px 0 0;border:1px solid var(--line);border-radius:8px;background:#fbfcfe;
padding:10px 14px}
.llm-impl .h{font-weight:650;font-size:14px}
.llm-impl .plan{margin:6px 0 0;font-size:13.5px;color:#334155}
.llm-impl ul{margin:4px 0 0;padding-left:20px;font-size:13px}
.llm-impl .lbl{margin-top:8px;font-size:11.5px;text-transform:uppercase;letter-spacing:.06em;
color:var(--faint);font-weight:600}
.llm-impl table.mini{margin-top:4px;background:#fff}
code.uri{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;word-break:break-all}
.sub2{padding:8px 14px;font-size:13px;color:var(--faint);border-bottom:1px solid var(--line)}
details.more summary{padding:9px 14px;cursor:pointer;font-size:13.5px;color:var(--muted);
border-top:1px solid var(--line)}
.empty{padding:14px;color:var(--faint);font-size:14px}
.d{font-size:12.5px;color:var(--faint)}
.glance .d{font-variant-numeric:tabular-nums}
.good-t{color:var(--good)}.bad-t{color:var(--bad)}.warn-t{color:var(--warn)}
.inv-t{color:#7e22ce}.mute-t{color:var(--muted)}
.results{margin:14px 0 0;border:1px solid var(--line);border-radius:8px;background:#fff;
padding:12px 14px}
.results .headline{border-radius:6px;padding:10px 12px;font-size:14.5px;line-height:1.5;
border:1px solid var(--line);background:#f8fafc}
.results .headline .pill{margin-right:6px}
.results.supported .headline{background:#f0fdf4;border-color:#bbf7d0}
.results.contradicted .headline{background:#fef2f2;border-color:#fecaca}
.results.inconclusive .headline,.results.no-claims .headline{background:#fffbeb;
border-color:#fde68a}
.results.invalid .headline{background:#faf5ff;border-color:#e9d5ff}
.results.smoke .headline{background:#f1f5f9;border-color:#cbd5e1}
.results .lbl{margin:12px 0 4px;font-size:11.5px;text-transform:uppercase;letter-spacing:.06em;
color:var(--faint);font-weight:600}
.results .lbl small{text-transform:none;letter-spacing:0;font-weight:500}
.results table.mini td .d{margin-top:2px}
table.claims td.st{font-weight:600;color:var(--ink)}
table.gates tr.failed td{background:#faf5ff}
table.mini td.mono,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;
font-size:12px}
table.sweep td.chosen{font-weight:700;color:var(--ink);background:#f0f9ff}
.charts{display:grid;grid-template-columns:1fr;gap:8px;margin-top:10px}
.charts figure{margin:0;border:1px solid var(--line);border-radius:8px;padding:4px;
background:#fff;overflow:hidden}
.charts svg{display:block;width:100%;max-width:820px;height:auto}
.charts figcaption{font-size:12px;color:var(--faint);padding:2px 8px 4px}
.setting{display:grid;grid-template-columns:max-content 1fr;gap:3px 14px;font-size:13px;
margin:0}
.setting dt{color:var(--muted);font-weight:600}
.setting dd{margin:0;word-break:break-word}
.legacy-note{font-size:12.5px;color:#713f12;background:var(--warn-bg);border-radius:6px;
padding:4px 10px;grid-column:1/-1}
ul.claims{margin:4px 0 0;padding-left:20px;font-size:13px}
footer{color:var(--faint);font-size:12.5px;padding:0 0 30px}
@media (max-width:760px){
 .wrap{padding:0 12px}
 header.top h1{font-size:21px}
 table.rank thead{display:none}
 table.rank,table.rank tbody,table.rank tr,table.rank td{display:block;width:auto}
 table.rank tr{border-top:1px solid var(--line);padding:8px 0}
 table.rank td{border:0;padding:3px 12px}
 td.num{text-align:left}
 td.num:before{content:"#"}
 td.paper{min-width:0}
 .verdict{grid-template-columns:1fr}
 ul.bd{grid-template-columns:1fr}
 td.bd,td.score{width:auto}
 .stats{grid-template-columns:1fr 1fr;gap:8px}
 .stat .v{font-size:20px}
 .pick{padding:14px}
}
@media print{
 *{-webkit-print-color-adjust:exact;print-color-adjust:exact}
 body{background:#fff;font-size:12px}
 header.top{background:#fff;color:#000;border-bottom:2px solid #000;padding:8px 0}
 header.top h1{color:#000}
 header.top .meta,header.top .brand{color:#333}
 .card{box-shadow:none}
 .pick,.src,.verdict,.chart,.failure,.rev,.llm-impl,.charts figure,tr{break-inside:avoid}
 .tablewrap{overflow:visible}
 pre{max-height:none;background:#f8fafc;color:#000;border:1px solid #ccc}
 a{color:#000}
}
"""


# --------------------------------------------------------------------------- sections


def _header(report: DayReport) -> str:
    n_picks = len(report.picks)
    meta = (
        f"Generated {e(fmt_time(report.generated_at))} · {report.ranked_count} papers ranked · "
        f"{n_picks} pick{'s' if n_picks != 1 else ''} · "
        f"{e(MODE_LABELS.get(report.mode, report.mode))} mode"
    )
    out = [
        '<header class="top"><div class="wrap">',
        '<div class="brand">paperfoundry · daily report</div>',
        f"<h1>ML papers of {e(report.day.isoformat())}</h1>",
        f'<p class="meta">{meta}</p>',
        "</div></header>",
    ]
    if report.sample:
        out.append(
            '<div class="banner" role="note"><div class="wrap"><strong>Sample day.</strong> '
            "This report was built from bundled sample papers with synthetic community "
            "signals, not from today&#x27;s live sources. Scores and verdicts illustrate the "
            "pipeline only.</div></div>"
        )
    if report.llm is not None and report.llm.cap_reached:
        llm = report.llm
        out.append(
            '<div class="banner alert" role="alert"><div class="wrap">'
            "<strong>LLM spend cap reached.</strong> "
            f"The day spent {e(fmt_usd(llm.total.cost_usd))} of its "
            f"{e(fmt_usd(llm.cap_usd, 2))} cap and then stopped calling the LLM: some papers "
            "may be missing reviews, comparisons or LLM implementations.</div></div>"
        )
    return "".join(out)


def badge_counts(report: DayReport) -> dict[str, int]:
    """Picks per badge kind (supported, contradicted, ..., legacy)."""
    counts = {kind: 0 for kind, _, _ in BADGE_COUNTS}
    for pick in report.picks:
        badge = pick.run.badge if pick.run else None
        if badge is not None:
            counts[badge.kind] = counts.get(badge.kind, 0) + 1
    return counts


def _verdict_counts(report: DayReport) -> str:
    counts = badge_counts(report)
    shown = [
        (kind, label, cls)
        for i, (kind, label, cls) in enumerate(BADGE_COUNTS)
        if i < 3 or counts.get(kind)
    ]
    return (
        '<span class="tri">'
        + "".join(
            f'<span><b class="{cls}">{counts.get(kind, 0)}</b><small>{e(label)}</small></span>'
            for kind, label, cls in shown
        )
        + "</span>"
    )


def _stats(report: DayReport) -> str:
    trained = sum(1 for p in report.picks if p.run and p.run.status == "completed")
    ok = sum(1 for s in report.sources if s.ok)
    failed = len(report.sources) - ok
    src_detail = f"<small>{failed} failed</small>" if failed else "<small>all ok</small>"
    cards = [
        ("Papers ranked", f"{report.ranked_count}"),
        ("Picks", f"{len(report.picks)} <small>{trained} trained</small>"),
        ("Verdicts (claims)", _verdict_counts(report)),
        ("Sources", f"{ok}/{len(report.sources)} {src_detail}"),
        ("Ranking mode", _mode_stat(report)),
    ]
    if report.llm is not None:
        cards.append(("LLM spend", _spend_stat(report.llm)))
    return (
        '<div class="stats">'
        + "".join(
            f'<div class="card stat"><div class="k">{k}</div><div class="v">{v}</div></div>'
            for k, v in cards
        )
        + "</div>"
    )


def _mode_stat(report: DayReport) -> str:
    label = f'<span class="word">{e(MODE_LABELS.get(report.mode, report.mode))}</span>'
    if report.mode != "llm":
        return f'{label}<span class="sub">community signals + interests</span>'
    flagged = sum(1 for r in report.reviews.values() if r.flagged)
    detail = f"{plural(len(report.reviews), 'review')}"
    if flagged:
        detail += f' · <span class="bad-t">{flagged} flagged</span>'
    return f'{label}<span class="sub">{detail}</span>'


def _spend_stat(llm: LLMUsage) -> str:
    total = llm.total
    tokens = compact_int(total.prompt_tokens + total.completion_tokens)
    cap = e(fmt_usd(llm.cap_usd, 2))
    reached = (
        f'<span class="pill bad" title="the {cap} LLM spend cap stopped further calls">'
        "cap reached</span> "
        if llm.cap_reached
        else ""
    )
    failed = f' · <span class="bad-t">{total.failed} failed</span>' if total.failed else ""
    return (
        f'{e(fmt_usd(total.cost_usd))}<span class="sub">{reached}cap&nbsp;{cap} · '
        f"{plural(total.calls, 'call')}{failed} · {e(tokens)} tokens</span>"
    )


def _sources(report: DayReport) -> str:
    if not report.sources:
        return (
            '<section class="block" id="sources"><h2>Sources</h2>'
            '<div class="card empty">No source status recorded.</div></section>'
        )
    items = []
    for src in report.sources:
        if src.ok:
            items.append(
                f'<div class="card src ok"><span class="name">{e(src.name)}</span> '
                f'<span class="pill good">ok</span> '
                f'<span class="n">{src.papers} paper{"s" if src.papers != 1 else ""}</span></div>'
            )
        else:
            err = src.error or "unknown error"
            items.append(
                f'<div class="card src fail"><span class="name">{e(src.name)}</span> '
                f'<span class="pill bad">failed</span> '
                f'<span class="n">{src.papers} paper{"s" if src.papers != 1 else ""}</span>'
                f'<div class="err">{e(err)}</div></div>'
            )
    failed = len(report.failed_sources)
    count = f' <span class="count">{failed} failed</span>' if failed else ""
    return (
        f'<section class="block" id="sources"><h2>Sources{count}</h2>'
        f'<div class="sources">{"".join(items)}</div></section>'
    )


def _notes(report: DayReport) -> str:
    if not report.notes:
        return ""
    lis = "".join(f"<li>{e(note)}</li>" for note in report.notes)
    return (
        '<section class="block" id="notes"><h2>Notes</h2>'
        f'<ul class="card notes">{lis}</ul></section>'
    )


def _toy_pill(size: str) -> str:
    return (
        f' <span class="pill mute{size}" title="trained at toy scale: indicative only, '
        f'not a replication">toy scale</span>'
    )


def _verdict_pill(verdict: Verdict | None, *, big: bool = False) -> str:
    """A schema 1 (legacy) verdict: its outcome word, toy scale, and 'no controls'."""
    size = " big" if big else ""
    if verdict is None:
        return f'<span class="pill mute{size}">no verdict</span>'
    cls = OUTCOME_CLASSES.get(verdict.outcome, "mute")
    label = OUTCOME_LABELS.get(verdict.outcome, verdict.outcome)
    out = f'<span class="pill {cls}{size}">{e(label)}</span>'
    if verdict.toy_scale:
        out += _toy_pill(size)
    return out + (
        f' <span class="pill mute{size}" title="schema 1 harness: no gates, no claims, no '
        f'confidence interval">legacy verdict (no controls)</span>'
    )


def _badge_pill(run: TrainingRun, *, big: bool = False) -> str:
    """A pick's badge: its claims summarised ('supported 1/2'), never more."""
    badge = run.badge
    if badge is None:
        return ""
    if badge.kind == "legacy":
        return _verdict_pill(run.verdict, big=big)
    size = " big" if big else ""
    out = (
        f'<span class="pill {BADGE_CLASSES.get(badge.kind, "mute")}{size}" '
        f'title="{e(badge.title)}">{e(badge.text)}</span>'
    )
    if badge.kind == "no-claims" and run.outcome:
        out += (
            f' <span class="pill {OUTCOME_CLASSES.get(run.outcome, "mute")}{size}">'
            f"vs baseline: {e(OUTCOME_LABELS.get(run.outcome, run.outcome).lower())}</span>"
        )
    if vw.toy_scale(run):
        out += _toy_pill(size)
    return out


def _run_pill(run: TrainingRun | None, pick: PickReport) -> str:
    if run is None:
        if pick.implementation.status != "implemented":
            return '<span class="pill mute">not trained</span>'
        return '<span class="pill mute">not started</span>'
    cls = {
        "completed": "good",
        "failed": "bad",
        "stopped": "bad",
        "running": "info",
        "pending": "info",
        "skipped": "mute",
    }.get(run.status, "mute")
    return f'<span class="pill {cls}">{e(run.status)}</span>'


def _glance(report: DayReport) -> str:
    if not report.picks:
        return (
            '<section class="block" id="glance"><h2>Picks at a glance</h2>'
            '<div class="card empty">No paper was picked for implementation today.</div>'
            "</section>"
        )
    lis = []
    for pick in report.picks:
        run = pick.run
        if run and run.badge is not None and run.badge.kind != "legacy":
            status = _badge_pill(run)
            effect = f'<span class="d">{e(clip(vw.short_result(run), 220))}</span>'
        elif run and run.verdict:
            status = _verdict_pill(run.verdict)
            effect = (
                f'<span class="d">{e(run.verdict.metric)} {e(fmt_signed(run.verdict.effect))}'
                "</span>"
            )
        elif pick.implementation.status == "failed":
            status = '<span class="pill bad">implementation failed</span>'
            effect = _attempts_note(pick.implementation)
        elif pick.implementation.status != "implemented":
            status = '<span class="pill mute">not implemented</span>'
            effect = ""
        else:
            status = _run_pill(run, pick)
            effect = ""
        review = report.reviews.get(pick.paper.arxiv_id)
        if review is not None and review.flagged:
            status = _flag_pill(review) + " " + status
        lis.append(
            f'<li><span class="pill info">#{pick.pick.rank}</span><span class="t">'
            f'<a href="#{e(pick_anchor(pick.paper.arxiv_id))}">{e(pick.paper.title)}</a></span>'
            f"{status} {effect}</li>"
        )
    return (
        '<section class="block" id="glance"><h2>Picks at a glance</h2>'
        f'<ul class="card glance">{"".join(lis)}</ul></section>'
    )


def _attempts_note(impl: Implementation) -> str:
    if not impl.attempts:
        return ""
    return f'<span class="d">{e(plural(len(impl.attempts), "attempt"))}</span>'


def _flag_pill(review: PaperReview) -> str:
    reasons = "; ".join(review.injection)
    return (
        f'<a class="pill bad" href="#{e(review_anchor(review.arxiv_id))}" '
        f'title="paper text tries to steer the LLM: {e(reasons)}">steering flagged</a>'
    )


def _review_pill(review: PaperReview) -> str:
    if review.overall is None:
        text = "review failed"
    else:
        text = f"review {fmt_score(review.overall.mean)}/10"
    return f'<a class="pill mute" href="#{e(review_anchor(review.arxiv_id))}">{e(text)}</a>'


def _breakdown(components: list[ScoreComponent], colours: dict[str, str]) -> str:
    lis = []
    for comp in components:
        zero = " zero" if comp.contribution == 0 else ""
        title = f' title="{e(comp.detail)}"' if comp.detail else ""
        lis.append(
            f'<li class="{zero.strip()}"{title}><span class="dot" '
            f'style="background:{colours[comp.name]}"></span>'
            f'<span class="n">{e(comp.name)}</span>'
            f'<span class="f">{comp.value:.2f} × {comp.weight:.2f}</span>'
            f'<span class="c">{comp.contribution:.3f}</span></li>'
        )
    return f'<ul class="bd">{"".join(lis)}</ul>'


def _stack(components: list[ScoreComponent], colours: dict[str, str], scale: float) -> str:
    spans = []
    for comp in components:
        if comp.contribution <= 0 or not math.isfinite(comp.contribution):
            continue
        pct = min(100.0, 100.0 * comp.contribution / scale)
        spans.append(
            f'<span style="width:{pct:.2f}%;background:{colours[comp.name]}" '
            f'title="{e(comp.name)}: {comp.contribution:.3f}"></span>'
        )
    return f'<div class="stack" aria-hidden="true">{"".join(spans)}</div>'


def _paper_links(rp: RankedPaper) -> str:
    paper = rp.paper
    parts = [
        link(paper.arxiv_url, f"arXiv:{paper.arxiv_id}"),
        link(paper.hf_url, "HF page", cls="hf"),
    ]
    if paper.github_repo:
        stars = paper.github_stars
        star_text = f" ★ {compact_int(stars)}" if stars else ""
        label = f"GitHub {github_label(paper.github_repo)}{star_text}"
        parts.append(link(github_url(paper.github_repo), label, cls="gh"))
    if paper.categories:
        parts.append(f"<span>{e(' · '.join(paper.categories[:4]))}</span>")
    return f'<div class="sub">{"".join(parts)}</div>'


def _ranking(report: DayReport, top_n: int) -> str:
    total = report.ranked_count
    if not total:
        return (
            '<section class="block" id="ranking"><h2>Ranking</h2>'
            '<div class="card empty">No papers were ranked today.</div></section>'
        )
    shown = report.ranking[: max(0, top_n)]
    names = [c.name for rp in report.ranking for c in rp.score.components]
    colours = component_colours(names)
    # The bar scale is the best possible score (every component at 1), so bars are comparable
    # across days; fall back to the day's best total when weights don't bound the scores.
    weight_sum = max(
        (sum(max(0.0, c.weight) for c in rp.score.components) for rp in report.ranking),
        default=0.0,
    )
    best = max(
        (rp.score.total for rp in report.ranking if math.isfinite(rp.score.total)), default=0
    )
    scale = max(weight_sum, best, 1e-9)
    picked = {p.paper.arxiv_id for p in report.picks}

    rows = []
    for i, rp in enumerate(shown, start=1):
        classes = []
        flags = []
        if rp.paper.arxiv_id in picked:
            classes.append("picked")
            flags.append(
                f'<a class="pill info" href="#{e(pick_anchor(rp.paper.arxiv_id))}">picked</a>'
            )
        if rp.score.excluded:
            classes.append("excl")
            flags.append(f'<span class="pill warn">excluded: {e(rp.score.excluded)}</span>')
        review = report.reviews.get(rp.paper.arxiv_id)
        why = ""
        if review is not None:
            if review.flagged:
                classes.append("flagged")
                flags.append(_flag_pill(review))
                why = (
                    '<div class="why">Steering flagged: '
                    f"{e(clip('; '.join(review.injection), 240))}</div>"
                )
            else:
                flags.append(_review_pill(review))
        flag_html = f'<div class="flags">{"".join(flags)}</div>{why}' if flags else ""
        cls = f' class="{" ".join(classes)}"' if classes else ""
        rows.append(
            f"<tr{cls}>"
            f'<td class="num">{i}</td>'
            f'<td class="paper"><div class="title">{link(rp.paper.arxiv_url, rp.paper.title)}'
            f"</div>{_paper_links(rp)}{flag_html}</td>"
            f'<td class="score"><div class="total">{rp.score.total:.3f}</div>'
            f"{_stack(rp.score.components, colours, scale)}</td>"
            f'<td class="bd">{_breakdown(rp.score.components, colours)}</td>'
            "</tr>"
        )
    legend = "".join(
        f'<span title="{e(n)}"><span class="sw" style="background:{c}"></span>'
        f"{e(COMPONENT_LABELS.get(n, n))}</span>"
        for n, c in colours.items()
    )
    note = (
        f"Showing the top {len(shown)} of {total} ranked papers."
        if len(shown) < total
        else f"All {total} ranked papers shown."
    )
    note += (
        " Score = Σ value × weight; values are normalised to [0, 1]. "
        "Hover a breakdown line for the raw signal."
    )
    if any(rp.score.basis == "combined" for rp in report.ranking):
        note += (
            " LLM mode: the signal weights are scaled down and two LLM parts are added, "
            "review (mean reviewer score, (mean − 1) / 9) and tournament (Bradley-Terry "
            "probability of beating an average paper). Papers whose text tries to steer "
            "the LLM get neither and cannot be picked."
        )
    return (
        f'<section class="block" id="ranking"><h2>Ranking <span class="count">top '
        f"{len(shown)} of {total}</span></h2>"
        f'<div class="card"><div class="legend"><span>Score components:</span>{legend}</div>'
        '<div class="tablewrap"><table class="rank"><thead><tr><th>#</th><th>Paper</th>'
        "<th>Score</th><th>Breakdown (value × weight = contribution)</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
        f'<div class="tablenote">{e(note)}</div></div></section>'
    )


def _implementation_fact(pick: PickReport) -> str:
    impl = pick.implementation
    llm = impl.provenance == "llm"
    if impl.status == "implemented":
        if impl.provenance == "reference":
            head = '<span class="pill good">implemented</span> from the reference library'
        elif llm:
            by = f" ({e(impl.model)})" if impl.model else ""
            tries = f" in {plural(len(impl.attempts), 'attempt')}" if impl.attempts else ""
            head = f'<span class="pill info">implemented</span> by an LLM{by}{tries}'
            if not impl.validated:
                head += (
                    ' <span class="pill warn" title="static checks passed; the harness '
                    'validates the code inside the training job">not yet validated</span>'
                )
        else:
            head = '<span class="pill good">implemented</span>'
        details = [
            x
            for x in (
                impl.origin,
                impl.name and f"module {impl.name}",
                impl.task and f"task {impl.task}",
                impl.file_name,
                impl.paper_params and f"paper's model {vw.params_text(impl.paper_params)} params",
                impl.sha256 and f"sha256 {impl.sha256[:12]}",
            )
            if x
        ]
    elif impl.status == "not_implemented":
        head = (
            f'<span class="pill mute">not implemented</span> {e(impl.reason or "no reason given")}'
        )
        details = [impl.origin] if llm and impl.origin else []
    else:
        reason = impl.reason or "no reason given"
        rest = reason.removeprefix("implementation failed").lstrip(": ")
        if rest == reason:  # the reason does not repeat the pill's words
            head = f'<span class="pill bad">implementation failed</span>: {e(reason)}'
        else:
            head = f'<span class="pill bad">implementation failed</span> {e(rest)}'
        details = [impl.origin] if impl.origin else []
    if llm:
        details += [
            x
            for x in (
                (impl.cost_usd or impl.tokens)
                and f"{fmt_usd(impl.cost_usd)} · {compact_int(impl.tokens)} tokens",
            )
            if x
        ]
    detail_html = f'<div class="d">{e(" · ".join(details))}</div>' if details else ""
    return (
        '<div class="fact"><div class="k">Implementation</div>'
        f'<div class="v">{head}</div>{detail_html}</div>'
    )


def _code_ref(uri: str) -> str:
    """A link for an http(s) URI; anything else (s3://, a file path) as plain text."""
    if safe_url(uri):
        return link(uri, uri)
    return f'<code class="uri">{e(uri)}</code>'


def _attempts_table(impl: Implementation) -> str:
    rows = []
    for attempt in impl.attempts:
        rows.append(_attempt_row(attempt))
    return (
        '<div class="tablewrap"><table class="mini attempts"><thead><tr><th>#</th>'
        "<th>result</th><th>failure</th><th>checked by</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _attempt_row(attempt: ImplementationAttempt) -> str:
    if attempt.ok:
        result = '<span class="pill good">ok</span>'
    else:
        result = '<span class="pill bad">failed</span>'
    failure = ""
    if attempt.failure is not None:
        f = attempt.failure
        where = "rejected before running (static checks)" if f.stage == "static" else ""
        failure = f"<b>{e(f.stage)}</b> · {e(f.type)}: {e(clip(f.message, 400))}" + (
            f'<div class="d">{e(where)}</div>' if where else ""
        )
        if f.traceback.strip():
            lines = f.traceback.rstrip().splitlines()
            failure += f"<pre>{e(chr(10).join(lines[-15:]))}</pre>"
    elif attempt.ok:
        failure = '<span class="d">passed</span>'
    sha = f'<div class="d">sha256 {e(attempt.sha256[:12])}</div>' if attempt.sha256 else ""
    return (
        f'<tr><td class="nr">{attempt.number}</td><td>{result}</td>'
        f'<td class="why">{failure}</td><td>{e(attempt.checked_by or "–")}{sha}</td></tr>'
    )


def _llm_implementation(impl: Implementation) -> str:
    """Plan, model, cost, code and attempts of an LLM implementation (pick card block)."""
    if impl.provenance != "llm":
        return ""
    parts = ['<div class="llm-impl">']
    facts = [
        x
        for x in (
            impl.model and f"model {impl.model}",
            impl.prompt_version and f"prompt {impl.prompt_version}",
            f"cost {fmt_usd(impl.cost_usd)}",
            f"{compact_int(impl.tokens)} tokens",
            "validated by the harness" if impl.validated else "not validated by the harness yet",
        )
        if x
    ]
    parts.append(
        f'<div class="h">LLM implementation</div><div class="d">{e(" · ".join(facts))}</div>'
    )
    plan = impl.plan
    if plan is not None:
        name = plan.name or impl.name or ""
        parts.append(
            f'<div class="lbl">Plan</div><div class="plan"><b>{e(name or "unnamed")}</b> · '
            f"task {e(plan.task)}</div>"
        )
        if plan.summary:
            parts.append(f'<div class="plan">{e(clip(plan.summary, 900))}</div>')
        if plan.changes:
            lis = "".join(f"<li>{e(clip(c, 400))}</li>" for c in plan.changes[:20])
            parts.append(f'<div class="lbl">Changes vs the GPT baseline</div><ul>{lis}</ul>')
        if plan.simplifications:
            lis = "".join(f"<li>{e(clip(c, 400))}</li>" for c in plan.simplifications[:20])
            parts.append(f'<div class="lbl">Simplifications</div><ul>{lis}</ul>')
        if plan.claims:
            lis = []
            for claim in plan.claims[:12]:
                test = vw.claim_test(claim)
                why = (
                    ' <span class="pill mute">not testable here</span> '
                    f"{e(clip(claim.why_untestable, 300))}"
                    if not claim.testable
                    else ""
                )
                lis.append(
                    f"<li><b>{e(clip(claim.statement or claim.id, 300))}</b> "
                    f'<span class="d">({e(claim.task)}: {e(clip(test, 200))})</span>{why}</li>'
                )
            parts.append(
                '<div class="lbl">Claims extracted by the plan</div>'
                f'<ul class="claims">{"".join(lis)}</ul>'
            )
    if impl.code_uri:
        parts.append(
            f'<div class="lbl">Code</div><div class="plan">{_code_ref(impl.code_uri)}</div>'
        )
    if impl.attempts:
        ok = sum(1 for a in impl.attempts if a.ok)
        parts.append(
            f'<div class="lbl">Attempts ({len(impl.attempts)}, {ok} passed)</div>'
            + _attempts_table(impl)
        )
    parts.append("</div>")
    return "".join(parts)


def _training_fact(pick: PickReport) -> str:
    run = pick.run
    if run is None:
        why = (
            "no implementation to train"
            if pick.implementation.status != "implemented"
            else "no run recorded yet"
        )
        return (
            '<div class="fact"><div class="k">Training</div>'
            f'<div class="v">{_run_pill(run, pick)} {e(why)}</div></div>'
        )
    details = [
        f"task {run.task}",
        f"budget {run.budget}",
        f"backend {run.backend}",
        f"wall {fmt_duration(run.wall_seconds)}" if run.wall_seconds is not None else "",
        f"finished {fmt_time(run.finished_at)}" if run.finished_at else "",
    ]
    return (
        '<div class="fact"><div class="k">Training</div>'
        f'<div class="v">{_run_pill(run, pick)} <span class="d">{e(run.run_id)}</span></div>'
        f'<div class="d">{e(" · ".join(d for d in details if d))}</div></div>'
    )


def _score_fact(pick: PickReport) -> str:
    return (
        '<div class="fact"><div class="k">Selection</div>'
        f'<div class="v">rank #{pick.pick.rank} · score {pick.pick.score:.3f}</div>'
        f'<div class="d">GPU budget {pick.pick.gpu_minutes:g} min</div></div>'
    )


def _verdict_block(verdict: Verdict, *, legacy: bool = True) -> str:
    direction = "higher is better" if verdict.higher_is_better else "lower is better"
    # The harness signs the effect so that positive always means "candidate better".
    effect_meaning = "candidate − baseline" if verdict.higher_is_better else "baseline − candidate"
    spread = verdict_spread(verdict)
    toy = (
        '<div class="d">Toy-scale run: treat as a smoke signal, not a replication.</div>'
        if verdict.toy_scale
        else ""
    )
    note = (
        '<div class="legacy-note">Legacy verdict (no controls): this run predates the '
        "harness&#x27;s gates, claims and confidence intervals; ± is a seed spread, not a "
        "confidence interval.</div>"
        if legacy
        else ""
    )
    return (
        f'<div class="verdict {e(verdict.outcome)}">{note}'
        f'<div><div class="lbl">Effect on {e(verdict.metric)}</div>'
        f'<div class="eff">{e(fmt_signed(verdict.effect))} <small>± {e(fmt(spread, 3))}</small>'
        f'</div><div class="d">{e(effect_meaning)}; ± is the combined seed std · '
        f"{e(direction)}</div></div>"
        "<div><table><tr><th></th><th>mean</th><th>std</th></tr>"
        f"<tr><td>candidate</td><td>{e(fmt(verdict.candidate_mean))}</td>"
        f"<td>{e(fmt(verdict.candidate_std, 3))}</td></tr>"
        f"<tr><td>baseline</td><td>{e(fmt(verdict.baseline_mean))}</td>"
        f"<td>{e(fmt(verdict.baseline_std, 3))}</td></tr></table>{toy}</div>"
        f'<div class="sum">{e(verdict.summary)}</div></div>'
    )


# --------------------------------------------------------------------------- schema 2 results


def _candidate_name(pick: PickReport) -> str | None:
    impl = pick.implementation
    return (impl.plan.name if impl.plan and impl.plan.name else None) or impl.name


def _results(run: TrainingRun, pick: PickReport) -> str:
    """Claims first, then the controls, the numbers behind them and the setting."""
    badge = run.badge
    kind = badge.kind if badge else "inconclusive"
    name = _candidate_name(pick)
    parts = [
        f'<section class="results {e(kind)}" aria-label="verdict">',
        f'<div class="headline">{_badge_pill(run)} {e(vw.headline(run))}</div>',
        _claims_table(run),
        _declaration_problems(run),
        _gates_table(run),
        _charts(run, name),
        _comparisons_table(run, name),
        _models_table(run, name),
        _efficiency_table(run, name),
        _setting(run, pick),
        _sweep_table(run, name),
        "</section>",
    ]
    return "".join(parts)


def _claims_table(run: TrainingRun) -> str:
    if not run.claims:
        return (
            '<div class="lbl">Claims</div><div class="d">No claims were declared for this '
            "implementation: only the candidate-vs-baseline comparison below was tested.</div>"
        )
    rows = []
    for c in run.claims:
        outcome = (
            f'<span class="pill {CLAIM_CLASSES.get(c.outcome, "mute")}">'
            f"{e(vw.CLAIM_WORDS.get(c.outcome, c.outcome))}</span>"
        )
        evidence = vw.claim_evidence(c)
        why = c.reason or (c.why_untestable if not c.testable else "")
        if c.outcome == "untestable" and c.why_untestable and c.why_untestable != why:
            why = f"{why}; {c.why_untestable}" if why else c.why_untestable
        rows.append(
            f'<tr><td class="st">{e(clip(c.statement or c.id, 300))}'
            f'<div class="d">{e(c.id)} · task {e(c.task or "–")}</div></td>'
            f"<td>{e(clip(vw.claim_test(c), 240))}</td>"
            f"<td>{outcome}</td>"
            f'<td class="why">{e(evidence) if evidence else ""}'
            f"{_detail(why, 400)}</td></tr>"
        )
    return (
        '<div class="lbl">Claims <small>(what the paper says, and what this run shows)'
        "</small></div>"
        '<div class="tablewrap"><table class="mini claims"><thead><tr><th>claim</th>'
        "<th>tested as</th><th>outcome</th><th>evidence (effect, 95% CI) / why</th></tr>"
        f"</thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _detail(text: str | None, limit: int = 300) -> str:
    """A small escaped line under a table cell's main text ('' when there is none)."""
    return f'<div class="d">{e(clip(text, limit))}</div>' if text else ""


def _declaration_problems(run: TrainingRun) -> str:
    if not run.declaration_problems:
        return ""
    lis = "".join(f"<li>{e(clip(p, 300))}</li>" for p in run.declaration_problems[:10])
    return (
        '<div class="flagbox"><div class="h">The implementation&#x27;s declarations '
        "(CLAIMS, ABLATIONS, BASELINE) had problems; those entries were ignored:</div>"
        f"<ul>{lis}</ul></div>"
    )


def _gates_table(run: TrainingRun) -> str:
    if not run.gates:
        return ""
    rows = []
    for g in run.gates:
        pill = (
            '<span class="pill good">passed</span>'
            if g.passed
            else '<span class="pill inv">failed</span>'
        )
        measured = _gate_measured(g)
        rows.append(
            f'<tr class="{"ok" if g.passed else "failed"}">'
            f"<td>{e(vw.gate_label(g.name))}</td><td>{pill}</td>"
            f'<td class="nr">{e(measured)}</td>'
            f"<td>{e(vw.gate_sentence(g, run))}"
            f"{_detail(g.detail)}</td></tr>"
        )
    smoke = run.outcome == "smoke"
    note = (
        " <small>(a tiny-budget wiring test: gates are not expected to pass)</small>"
        if smoke
        else " <small>(checked before any comparison; a failed one means no comparison)</small>"
    )
    return (
        f'<div class="lbl">Controls{note}</div>'
        '<div class="tablewrap"><table class="mini gates"><thead><tr><th>gate</th>'
        '<th>result</th><th class="nr">value vs threshold</th><th>in plain words</th></tr>'
        f"</thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _gate_measured(gate: Gate) -> str:
    value, threshold = gate.value, gate.threshold
    if value is None:
        return "–"
    if gate.name.startswith("causal:") or gate.name == "candidate_causal":
        limit = f" (tolerance {threshold:.2g})" if threshold is not None else ""
        return f"max change {value:.2g}{limit}"
    if gate.name == "params_matched":
        limit = f" (limit ±{threshold * 100:.2g}%)" if threshold is not None else ""
        return f"{abs(value) * 100:.2g}% apart{limit}"
    if threshold is None:
        return vw.num(value)
    return f"{vw.num(value)} vs {vw.num(threshold)}"


def _model_colours(models: list[str]) -> dict[str, str]:
    colours: dict[str, str] = {}
    extra = 1
    for m in models:
        if m == "baseline":
            colours[m] = BASELINE_COLOUR
        elif m == "candidate":
            colours[m] = MODEL_COLOURS[0]
        elif m == "control":
            colours[m] = "#94a3b8"
        else:
            colours[m] = MODEL_COLOURS[extra % len(MODEL_COLOURS)]
            extra += 1
    return colours


def _charts(run: TrainingRun, name: str | None) -> str:
    """The metric the verdict is on: per-seed test values, and effects with their CIs."""
    if run.outcome == "smoke":
        return ""  # a wiring test: a chart would look like evidence
    figures = []
    metric = vw.metric_label(run.metric.name if run.metric else None)
    split = run.metric.split if run.metric else "test"
    models = vw.model_order(list(run.models))
    colours = _model_colours(models)
    if run.models:
        rows = [
            IntervalRow(
                vw.model_label(m, run, name),
                colour=colours[m],
                points=run.models[m].values,
                centre=run.models[m].mean,
                wide=run.models[m].ci95,
                note=f"{vw.num(run.models[m].mean)}" if run.models[m].mean is not None else "",
            )
            for m in models
        ]
        refs = [
            (g.threshold, f"{vw.gate_label(g.name)} {vw.num(g.threshold)}")
            for g in run.gates
            if g.name == "baseline_competence" and g.threshold is not None
        ]
        title = f"{metric} on the {split} split per model ({vw.direction(run)})"
        figures.append(
            "<figure>"
            + interval_chart_svg(rows, title=title, x_label=metric, refs=refs[:1], width=760)
            + f"<figcaption>Dots: one per seed; bar: mean; whiskers: 95% CI over seeds. "
            f"{'Dashed line: the baseline competence gate. ' if refs else ''}</figcaption>"
            "</figure>"
        )
    comps = [
        c for c in run.comparisons if c.effect is not None and c.outcome not in ("invalid", "smoke")
    ]
    if comps:
        margin = next((c.margin for c in comps if c.margin), None)
        rows = [
            IntervalRow(
                vw.model_label(c.model, run, name),
                colour=OUTCOME_COLOURS.get(c.outcome, BASELINE_COLOUR),
                centre=c.effect,
                wide=c.ci95,
                narrow=c.ci90,
                note=OUTCOME_LABELS.get(c.outcome, c.outcome).lower(),
            )
            for c in comps
        ]
        band = (-margin, margin, f"equivalence margin ±{vw.num(margin)}") if margin else None
        figures.append(
            "<figure>"
            + interval_chart_svg(
                rows,
                title=f"Effect vs the baseline on {metric} (model − baseline, signed: "
                "positive = better)",
                x_label=f"effect on {metric}",
                refs=[(0.0, "no difference")],
                band=band,
                left_hint="← worse than baseline",
                right_hint="better than baseline →",
                width=760,
            )
            + "<figcaption>Bar: effect; thin whiskers: 95% CI (better/worse needs it to "
            "exclude 0); thick band: 90% CI (equivalent needs it inside the shaded margin)."
            "</figcaption></figure>"
        )
    return f'<div class="charts">{"".join(figures)}</div>' if figures else ""


def _comparisons_table(run: TrainingRun, name: str | None) -> str:
    if not run.comparisons:
        return ""
    rows = []
    for c in run.comparisons:
        pill = (
            f'<span class="pill {OUTCOME_CLASSES.get(c.outcome, "mute")}" '
            f'title="{e(clip(c.summary, 400))}">'
            f"{e(OUTCOME_LABELS.get(c.outcome, c.outcome).lower())}</span>"
        )
        n = f"{c.n[0]} vs {c.n[1]}" if len(c.n) == 2 else "–"
        if c.outcome not in ("invalid", "smoke"):
            numbers = (
                f'<td class="nr">{e(vw.signed(c.effect))}</td>'
                f'<td class="nr">{e(vw.interval(c.ci95))}</td>'
                f'<td class="nr">{e(vw.interval(c.ci90))}</td>'
            )
            why = ""
        else:  # numbers without a valid comparison would read as a result
            numbers = '<td class="nr">–</td><td class="nr">–</td><td class="nr">–</td>'
            why = (
                (c.reason or "not compared: a gate failed")
                if c.outcome == "invalid"
                else "tiny budget: wiring test, no verdict"
            )
        margin = "±" + vw.num(c.margin) if c.margin is not None else "–"
        rows.append(
            f"<tr><td>{e(vw.model_label(c.model, run, name))}</td>{numbers}"
            f'<td class="nr">{e(margin)}</td><td class="nr">{e(n)}</td>'
            f"<td>{pill}{_detail(why)}</td></tr>"
        )
    ablations = any(c.model.startswith("ablation:") for c in run.comparisons)
    note = (
        " <small>(ablations remove one component the paper adds: they show which part drives "
        "the effect)</small>"
        if ablations
        else ""
    )
    metric = vw.metric_label(run.metric.name if run.metric else None)
    return (
        f'<div class="lbl">Comparisons against the baseline on {e(metric)}{note}</div>'
        '<div class="tablewrap"><table class="mini comps"><thead><tr><th>model</th>'
        '<th class="nr">effect</th><th class="nr">95% CI</th><th class="nr">90% CI</th>'
        '<th class="nr">margin</th><th class="nr">seeds</th><th>outcome</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
        '<div class="d">Effect = model − baseline, signed so that positive = better '
        "(Welch CIs over per-seed test means). Better: 95% CI above 0 and effect ≥ margin; "
        "worse: the mirror image; equivalent: 90% CI inside ±margin; otherwise inconclusive."
        "</div>"
    )


def _models_table(run: TrainingRun, name: str | None) -> str:
    models = vw.model_order([*run.models, *run.params])
    if not models:
        return ""
    rows = []
    for m in models:
        r = run.models.get(m)
        count = run.params.get(m)
        size = "–"
        if count is not None and count.total is not None:
            size = f"{count.total:,}"
            if count.non_embedding is not None:
                size += f" ({vw.params_text(count.non_embedding)} non-emb.)"
        if r is None:
            rows.append(
                f"<tr><td>{e(vw.model_label(m, run, name))}</td>"
                f'<td class="nr">{e(size)}</td><td colspan="5" class="d">not trained</td></tr>'
            )
            continue
        values = " · ".join(vw.num(v) for v in r.values) or "–"
        seeds = ", ".join(str(s) for s in r.seeds) or "–"
        mean = f"{vw.num(r.mean)} ± {vw.num(r.std)}" if r.mean is not None else "–"
        rows.append(
            f"<tr><td>{e(vw.model_label(m, run, name))}</td>"
            f'<td class="nr">{e(size)}</td>'
            f'<td class="nr">{e(f"{r.lr:g}" if r.lr is not None else "–")}</td>'
            f'<td class="nr">{e(seeds)}</td><td class="nr">{e(values)}</td>'
            f'<td class="nr">{e(mean)}</td><td class="nr">{e(_ci(r.ci95))}</td></tr>'
        )
    metric = vw.metric_label(run.metric.name if run.metric else None)
    split = run.metric.split if run.metric else "test"
    return (
        f'<div class="lbl">Per model: {e(metric)} on the {e(split)} split '
        "<small>(chosen LR from the validation sweep, then fresh seeds)</small></div>"
        '<div class="tablewrap"><table class="mini models"><thead><tr><th>model</th>'
        '<th class="nr">trainable params (harness)</th><th class="nr">chosen LR</th>'
        '<th class="nr">seeds</th><th class="nr">test value per seed</th>'
        '<th class="nr">mean ± std</th><th class="nr">95% CI</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _ci(ci: list[float | None] | None) -> str:
    if not ci or len(ci) < 2 or ci[0] is None or ci[1] is None:
        return "–"
    return f"[{vw.num(ci[0])}, {vw.num(ci[1])}]"


def _state_source(source: str | None) -> str:
    if not source:
        return ""
    low = source.lower()
    if low == "declared":
        return "declared by the model"
    if low == "computed":
        return "computed by the harness"
    return source


def _state_html(eff: Efficiency) -> str:
    """'26.9k' or, by sequence length, 'T=256: 26.9k<br>T=4096: 26.9k' (escaped)."""
    state = eff.state_size
    if state is None or state == {}:
        return "not declared"
    if isinstance(state, dict):
        return "<br>".join(
            e(f"T={t}: {vw.compact(v)}")
            for t, v in sorted(state.items(), key=lambda kv: _length_key(kv[0]))
        )
    return e(vw.compact(state))


def _length_key(length: str) -> tuple[int, float, str]:
    try:
        return (0, float(length), length)
    except ValueError:
        return (1, 0.0, length)


def _efficiency_table(run: TrainingRun, name: str | None) -> str:
    if not run.efficiency:
        return ""
    models = vw.model_order(list(run.efficiency))
    lengths = sorted(
        {t for eff in run.efficiency.values() for t in eff.infer_tokens_per_s}, key=_length_key
    )
    cpu = (run.device or "").startswith("cpu")
    rows = []
    flops_sources: dict[str, list[str]] = {}
    for m in models:
        eff = run.efficiency[m]
        infer = "".join(
            f'<td class="nr">{e(vw.compact(eff.infer_tokens_per_s.get(t)))}</td>' for t in lengths
        )
        memory = (
            f"{eff.peak_memory_mb:,.0f} MB"
            if eff.peak_memory_mb is not None and math.isfinite(eff.peak_memory_mb)
            else ("not measured (CPU)" if cpu else "–")
        )
        rows.append(
            f"<tr><td>{e(vw.model_label(m, run, name))}</td>"
            f'<td class="nr">{e(vw.compact(eff.train_tokens_per_s))}</td>{infer}'
            f'<td class="nr">{e(memory)}{_detail(eff.peak_memory_kind)}</td>'
            f'<td class="nr">{e(vw.compact(eff.flops_per_token))}</td>'
            f'<td class="nr">{_state_html(eff)}'
            f"{_detail(_state_source(eff.state_size_source))}</td></tr>"
        )
        if eff.flops_source:
            flops_sources.setdefault(eff.flops_source, []).append(vw.model_label(m, run, name))
    heads = "".join(f'<th class="nr">infer tok/s T={e(t)}</th>' for t in lengths)
    return (
        '<div class="lbl">Efficiency <small>(measured by the harness on '
        f"{e(run.device or 'its device')}; eager PyTorch at toy size, not the paper&#x27;s "
        "kernels)</small></div>"
        '<div class="tablewrap"><table class="mini eff"><thead><tr><th>model</th>'
        f'<th class="nr">train tok/s</th>{heads}<th class="nr">peak memory</th>'
        '<th class="nr">FLOPs/token</th><th class="nr">state (floats/seq)</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
        + (
            '<div class="d">FLOPs/token estimates: '
            + "; ".join(f"{e(src)} ({e(', '.join(who))})" for src, who in flops_sources.items())
            + ".</div>"
            if flops_sources
            else ""
        )
    )


SETTING_LABELS = {
    "num_kv_pairs": "KV pairs",
    "seq_len": "sequence length",
    "vocab_size": "vocabulary",
    "steps": "steps",
    "batch_size": "batch size",
    "corpus": "corpus",
    "seeds": "seeds per model",
}


def _setting(run: TrainingRun, pick: PickReport) -> str:
    items: list[tuple[str, str]] = []
    setting = ", ".join(
        f"{SETTING_LABELS.get(k, k)} {v}" for k, v in run.setting.items() if v is not None
    )
    items.append(
        ("task", f"{run.task} · budget {run.budget}" + (f" · {setting}" if setting else ""))
    )
    if run.tokens_per_run:
        items.append(("tokens per run", f"{run.tokens_per_run:,}"))
    items.append(("size", _size_text(run, pick)))
    if run.baseline is not None:
        config = ", ".join(f"{k}={v}" for k, v in run.baseline.config.items())
        items.append(("baseline", run.baseline.name + (f" ({config})" if config else "")))
    seeds = sorted({s for r in run.models.values() for s in r.seeds})
    if seeds:
        items.append(
            ("seeds", ", ".join(str(s) for s in seeds) + " (fresh; the LR sweep used seed 0)")
        )
    where = " · ".join(x for x in (run.device, run.isolation) if x)
    if where:
        items.append(("ran on", where))
    body = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in items)
    return f'<div class="lbl">Setting</div><dl class="setting">{body}</dl>'


def _size_text(run: TrainingRun, pick: PickReport) -> str:
    """The paper's size vs what the harness trained (~N trainable parameters)."""
    paper = pick.implementation.paper_params
    cand = run.params.get("candidate")
    base = run.params.get("baseline")
    parts = []
    parts.append(
        f"paper's model: {vw.params_text(paper)} parameters (as reported by the paper)"
        if paper
        else "paper's model: size not recorded"
    )
    if cand is not None and cand.total is not None:
        here = (
            f"this harness: ~{vw.params_text(cand.total)} trainable parameters "
            f"(candidate {cand.total:,}"
        )
        if base is not None and base.total is not None:
            here += f", baseline {base.total:,}"
            if run.params_match is not None:
                here += f", {vw.signed(run.params_match * 100, 2)}%"
        parts.append(here + ")")
    elif run.params_budget:
        parts.append(f"this harness: ~{vw.params_text(run.params_budget)} parameter budget")
    return " · ".join(parts)


def _sweep_table(run: TrainingRun, name: str | None) -> str:
    if not run.sweep:
        return ""
    lrs = sorted({p.lr for p in run.sweep})
    models = vw.model_order([p.model for p in run.sweep])
    cells = {(p.model, p.lr): p for p in run.sweep}
    rows = []
    for m in models:
        chosen = run.models[m].lr if m in run.models else None
        tds = []
        for lr in lrs:
            point = cells.get((m, lr))
            if point is None:
                tds.append('<td class="nr">–</td>')
                continue
            text = "diverged" if point.diverged else vw.num(point.value)
            cls = "nr chosen" if chosen is not None and math.isclose(lr, chosen) else "nr"
            tds.append(f'<td class="{cls}">{e(text)}</td>')
        rows.append(f"<tr><td>{e(vw.model_label(m, run, name))}</td>{''.join(tds)}</tr>")
    heads = "".join(f'<th class="nr">LR {lr:g}</th>' for lr in lrs)
    metric = vw.metric_label(run.metric.name if run.metric else None)
    return (
        f'<details class="more"><summary>LR sweep: {e(metric)} on the validation split '
        "(seed 0; the chosen LR is highlighted)</summary>"
        f'<div class="tablewrap"><table class="mini sweep"><thead><tr><th>model</th>{heads}'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div></details>"
    )


def _failure_block(run: TrainingRun) -> str:
    out = []
    if run.failure:
        f = run.failure
        tb = ""
        if f.traceback.strip():
            lines = f.traceback.rstrip().splitlines()
            tail = lines[-30:]
            cut = f"… {len(lines) - 30} earlier lines omitted\n" if len(lines) > 30 else ""
            tb = f"<pre>{e(cut + chr(10).join(tail))}</pre>"
        out.append(
            '<div class="failure" role="alert"><div class="h">Run failed</div><dl>'
            f"<dt>stage</dt><dd>{e(f.stage)}</dd><dt>type</dt><dd>{e(f.type)}</dd>"
            f"<dt>message</dt><dd>{e(f.message)}</dd></dl>{tb}</div>"
        )
    if run.error:
        out.append(
            '<div class="failure" role="alert"><div class="h">Backend error</div>'
            f"<dl><dt>error</dt><dd>{e(run.error)}</dd></dl></div>"
        )
    if not out and run.status in ("failed", "stopped"):
        out.append(
            f'<div class="failure" role="alert"><div class="h">Run {e(run.status)}</div>'
            "<dl><dt>details</dt><dd>no failure details were recorded</dd></dl></div>"
        )
    return "".join(out)


def _pick(pick: PickReport, review: PaperReview | None = None) -> str:
    paper = pick.paper
    run = pick.run
    authors = paper.authors
    byline = ", ".join(authors[:8]) + (f" + {len(authors) - 8} more" if len(authors) > 8 else "")
    links = [link(paper.arxiv_url, f"arXiv:{paper.arxiv_id}"), link(paper.hf_url, "Hugging Face")]
    if paper.github_repo:
        stars = f" ★ {compact_int(paper.github_stars)}" if paper.github_stars else ""
        links.append(
            link(github_url(paper.github_repo), f"GitHub {github_label(paper.github_repo)}{stars}")
        )
    if review is not None:
        text = (
            "steering flagged"
            if review.flagged
            else ("LLM review failed" if review.overall is None else "LLM review")
        )
        links.append(f'<a href="#{e(review_anchor(paper.arxiv_id))}">{e(text)}</a>')
    badges = _badge_pill(run, big=True) if run and run.badge is not None else _run_pill(run, pick)
    if pick.implementation.status == "failed":
        badges = '<span class="pill bad big">implementation failed</span>'
    if review is not None and review.flagged:
        badges = _flag_pill(review) + badges
    parts = [
        f'<article class="card pick" id="{e(pick_anchor(paper.arxiv_id))}">',
        f'<div class="pick-head"><span class="rk">#{pick.pick.rank}</span>'
        f"<h3>{link(paper.arxiv_url, paper.title)}</h3>"
        f'<div class="badges">{badges}</div></div>',
        f'<p class="byline">{e(byline)}</p>' if byline else "",
        f'<p class="links">{"".join(links)}</p>',
        f'<p class="abstract">{e(clip(paper.abstract, 700))}</p>' if paper.abstract else "",
        '<div class="facts">',
        _implementation_fact(pick),
        _training_fact(pick),
        _score_fact(pick),
        "</div>",
    ]
    if run is not None:
        if run.has_results:
            parts.append(_results(run, pick))
        elif run.verdict:
            parts.append(_verdict_block(run.verdict, legacy=run.legacy))
        if run.curves:
            title = f"Training loss · {clip(paper.title, 60)}"
            caption = (
                "Training loss as reported by each model's own process (the candidate's "
                "code reports its own); no verdict depends on it."
                if run.has_results
                else ""
            )
            parts.append(
                f'<figure class="chart" style="margin-left:0;margin-right:0">'
                f"{loss_curves_svg(run.curves, title=title, width=760, height=330)}"
                + (f'<figcaption class="d">{e(caption)}</figcaption>' if caption else "")
                + "</figure>"
            )
        parts.append(_failure_block(run))
    parts.append(_llm_implementation(pick.implementation))
    parts.append("</article>")
    return "".join(parts)


def _picks(report: DayReport) -> str:
    if not report.picks:
        return ""
    return (
        f'<section class="block" id="picks"><h2>Picks <span class="count">'
        f"{len(report.picks)} picked to implement and train against a matched baseline</span></h2>"
        f"{''.join(_pick(p, report.reviews.get(p.paper.arxiv_id)) for p in report.picks)}"
        "</section>"
    )


def _paper_title_link(arxiv_id: str, papers: dict[str, Paper], picked: set[str]) -> str:
    """The paper's title linking to its pick card (if picked) or to arXiv."""
    paper = papers.get(arxiv_id)
    title = clip(paper.title, 160) if paper else f"arXiv:{arxiv_id}"
    if arxiv_id in picked:
        return f'<a href="#{e(pick_anchor(arxiv_id))}">{e(title)}</a>'
    url = paper.arxiv_url if paper else f"https://arxiv.org/abs/{arxiv_id}"
    return link(url, title)


def _review_order(review: PaperReview) -> tuple[int, float, str]:
    mean = review.overall.mean if review.overall is not None else -math.inf
    return (1 if review.flagged else 0, -mean if math.isfinite(mean) else math.inf, review.arxiv_id)


def _ms(review: PaperReview, name: str) -> tuple[float, float]:
    stat = review.criteria[name]
    return stat.mean, stat.std


def _review(review: PaperReview, papers: dict[str, Paper], picked: set[str]) -> str:
    n = len(review.samples)
    if review.overall is not None:
        overall = (
            f'<span class="ov">{e(fmt_score(review.overall.mean))}<small>/10 ± '
            f"{e(fmt_score(review.overall.std))} · {plural(n, 'sample')}</small></span>"
        )
    else:
        overall = '<span class="ov bad-t">no score</span>'
    crits = "".join(
        f'<span title="{e(name)}: mean ± std {e(fmt_stat(*_ms(review, name)))}">'
        f"{e(CRITERION_SHORT.get(name, name))} {e(fmt_score(review.criteria[name].mean))}</span>"
        for name in REVIEW_CRITERIA
        if name in review.criteria
    )
    pills = []
    if review.flagged:
        pills.append(
            f'<span class="pill bad" title="{e("; ".join(review.injection))}">'
            "steering flagged</span>"
        )
    if review.failures:
        pills.append(
            f'<span class="pill warn" title="{e("; ".join(review.failures))}">'
            f"{plural(len(review.failures), 'failed sample')}</span>"
        )
    if review.arxiv_id in picked:
        pills.append('<span class="pill info">picked</span>')
    summary = (
        f"<summary>{overall}"
        f'<span class="t">{_paper_title_link(review.arxiv_id, papers, picked)}</span>'
        f'<span class="crits">{crits}</span> {" ".join(pills)}</summary>'
    )

    first = review.samples[0] if review.samples else None
    rows = []
    for name in REVIEW_CRITERIA:
        stat = review.criteria.get(name)
        if stat is None and first is None:
            continue
        rationale = getattr(first, name).rationale if first is not None else ""
        score = fmt_stat(stat.mean, stat.std) if stat is not None else "–"
        rows.append(
            f'<tr><td>{e(name)}</td><td class="nr">{e(score)}</td>'
            f'<td class="why">{e(clip(rationale, 400))}</td></tr>'
        )
    body = [
        f'<div class="d">{e(review.model)} · prompt {e(review.prompt_version)} · '
        f"arXiv:{e(review.arxiv_id)}</div>"
    ]
    if review.injection:
        lis = "".join(f"<li>{e(clip(reason, 300))}</li>" for reason in review.injection[:10])
        body.append(
            '<div class="flagbox" role="alert"><div class="h">Steering flagged: the paper text '
            "looks like instructions aimed at the LLM; its review and tournament parts are "
            f"discarded and it cannot be picked.</div><ul>{lis}</ul></div>"
        )
    if rows:
        body.append(
            '<div class="tablewrap"><table class="mini crit"><thead><tr><th>criterion</th>'
            '<th class="nr">mean ± std</th><th>rationale (first sample)</th></tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>"
        )
    if review.summary:
        body.append(f"<p>{e(clip(review.summary, 900))}</p>")
    if review.failures:
        lis = "".join(f"<li>{e(clip(f, 300))}</li>" for f in review.failures[:10])
        body.append(
            f'<div class="d">Failed samples (refusals, invalid output, timeouts):</div>'
            f"<ul>{lis}</ul>"
        )
    return (
        f'<details class="rev" id="{e(review_anchor(review.arxiv_id))}">{summary}'
        f'<div class="body">{"".join(body)}</div></details>'
    )


def _reviews(report: DayReport) -> str:
    if not report.reviews:
        return ""
    papers = known_papers(report)
    picked = {p.paper.arxiv_id for p in report.picks}
    reviews = sorted(report.reviews.values(), key=_review_order)
    flagged = sum(1 for r in reviews if r.flagged)
    models = sorted({r.model for r in reviews})
    count = (
        plural(len(reviews), "paper") + " reviewed" + (f", {flagged} flagged" if flagged else "")
    )
    note = (
        f"Reviewed by {', '.join(models)}; each paper scored 1–10 on "
        f"{', '.join(REVIEW_CRITERIA)} over several samples (mean ± std). Best overall first; "
        "flagged papers last. Open a paper for the rationales."
    )
    return (
        f'<section class="block" id="reviews"><h2>Reviews <span class="count">{e(count)}'
        f'</span></h2><div class="card"><div class="sub2">{e(note)}</div>'
        f"{''.join(_review(r, papers, picked) for r in reviews)}</div></section>"
    )


def _tournament_records(tournament: Tournament) -> dict[str, tuple[int, int]]:
    """arXiv id -> (wins, judged comparisons); failed comparisons are not counted."""
    records = {pid: (0, 0) for pid in tournament.participants}
    for c in tournament.comparisons:
        if c.winner is None:
            continue
        for pid in (c.first, c.second):
            won, played = records.get(pid, (0, 0))
            records[pid] = (won + (c.winner == pid), played + 1)
    return records


def _tournament(report: DayReport) -> str:
    t = report.tournament
    if t is None:
        return ""
    papers = known_papers(report)
    picked = {p.paper.arxiv_id for p in report.picks}
    records = _tournament_records(t)
    ids = list(dict.fromkeys([*t.participants, *t.strength]))
    ids.sort(key=lambda pid: (-t.strength.get(pid, -1.0), pid))
    rows = []
    for i, pid in enumerate(ids, start=1):
        won, played = records.get(pid, (0, 0))
        strength = t.strength.get(pid)
        rows.append(
            f'<tr><td class="nr">{i}</td>'
            f"<td>{_paper_title_link(pid, papers, picked)}</td>"
            f'<td class="nr">{e(fmt(strength, 2)) if strength is not None else "–"}</td>'
            f'<td class="nr">{won}/{played}</td></tr>'
        )
    failed = sum(1 for c in t.comparisons if c.winner is None)
    comps = []
    for c in t.comparisons:
        a = _paper_title_link(c.first, papers, picked)
        b = _paper_title_link(c.second, papers, picked)
        if c.winner is None:
            outcome = '<span class="pill bad">failed</span>'
            why = e(clip(c.error or "no winner", 300))
        else:
            paper = papers.get(c.winner)
            name = clip(paper.title, 60) if paper else f"arXiv:{c.winner}"
            side = "A" if c.winner == c.first else ("B" if c.winner == c.second else "?")
            outcome = f'<span class="pill info">{side}</span> {e(name)}'
            why = e(clip(c.reason, 400))
        comps.append(
            f'<tr><td>{a}</td><td>{b}</td><td>{outcome}</td><td class="why">{why}</td></tr>'
        )
    count = f"{plural(len(ids), 'participant')}, {plural(len(t.comparisons), 'comparison')}" + (
        f", {failed} failed" if failed else ""
    )
    comparisons = (
        f'<details class="more"><summary>All {plural(len(t.comparisons), "comparison")}'
        f"{f' ({failed} failed)' if failed else ''}</summary>"
        '<div class="tablewrap"><table class="mini comparisons"><thead><tr><th>paper A</th>'
        "<th>paper B</th><th>winner</th><th>reason</th></tr></thead>"
        f"<tbody>{''.join(comps)}</tbody></table></div></details>"
        if comps
        else ""
    )
    return (
        f'<section class="block" id="tournament"><h2>Tournament <span class="count">'
        f'{e(count)}</span></h2><div class="card"><div class="sub2">'
        f"Pairwise comparisons judged by {e(t.model)}; strength is the Bradley-Terry "
        "probability of beating an average participant.</div>"
        '<div class="tablewrap"><table class="mini standings"><thead><tr><th class="nr">#</th>'
        '<th>paper</th><th class="nr">strength</th><th class="nr">won/judged</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>{comparisons}</div></section>"
    )


def _llm_usage(report: DayReport) -> str:
    llm = report.llm
    if llm is None:
        return ""
    steps = [s for s in LLM_STEPS if s in llm.by_step or s in llm.models]
    steps += [s for s in (*llm.by_step, *llm.models) if s not in steps]
    rows = []
    for step in dict.fromkeys(steps):
        u = llm.by_step.get(step)
        cells = (
            [
                str(u.calls),
                str(u.failed),
                compact_int(u.prompt_tokens),
                compact_int(u.completion_tokens),
                fmt_usd(u.cost_usd),
            ]
            if u is not None
            else ["0", "0", "0", "0", fmt_usd(0.0)]
        )
        rows.append(
            f"<tr><td>{e(step)}</td><td>{e(llm.models.get(step, '–'))}</td>"
            + "".join(f'<td class="nr">{e(c)}</td>' for c in cells)
            + "</tr>"
        )
    t = llm.total
    rows.append(
        '<tr class="total"><td>total</td><td></td>'
        + "".join(
            f'<td class="nr">{e(c)}</td>'
            for c in (
                str(t.calls),
                str(t.failed),
                compact_int(t.prompt_tokens),
                compact_int(t.completion_tokens),
                fmt_usd(t.cost_usd),
            )
        )
        + "</tr>"
    )
    cap = (
        f'<span class="pill bad">cap {e(fmt_usd(llm.cap_usd, 2))} reached</span>'
        if llm.cap_reached
        else f'<span class="count">cap {e(fmt_usd(llm.cap_usd, 2))}</span>'
    )
    return (
        f'<section class="block" id="llm-usage"><h2>LLM usage {cap}</h2><div class="card">'
        '<div class="tablewrap"><table class="mini usage"><thead><tr><th>step</th>'
        '<th>model</th><th class="nr">calls</th><th class="nr">failed</th>'
        '<th class="nr">prompt tokens</th><th class="nr">completion tokens</th>'
        '<th class="nr">cost</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div></div></section>"
    )


# --------------------------------------------------------------------------- entry point


def render_html(report: DayReport, *, top_n: int = DEFAULT_TOP_N) -> str:
    """Render `report` as one self-contained HTML document (str).

    `top_n` caps the ranking table (a note says how many were ranked in total); every pick
    gets its own section regardless.
    """
    title = f"paperfoundry · {report.day.isoformat()}" + (" (sample)" if report.sample else "")
    body = "".join(
        [
            _header(report),
            '<main><div class="wrap">',
            _stats(report),
            _sources(report),
            _notes(report),
            _glance(report),
            _ranking(report, top_n),
            _picks(report),
            _reviews(report),
            _tournament(report),
            _llm_usage(report),
            "</div></main>",
            '<footer><div class="wrap">Generated by paperfoundry at '
            f"{e(fmt_time(report.generated_at))}. Toy-scale verdicts are indicative only. "
            "This page contains no scripts and loads no external resources.</div></footer>",
        ]
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="color-scheme" content="light">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">"
        f"<title>{e(title)}</title><style>{CSS}</style></head>"
        f"<body>{body}</body></html>\n"
    )
