"""render_html: content, links, escaping, self-containment."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from paperfoundry.models import DayReport, Paper, RankedPaper, Score, SourceSignals
from paperfoundry.reporting import render_html
from paperfoundry.reporting.html import github_url, safe_url

from .factories import DAY, XSS_TITLE, build_report


class _Collector(HTMLParser):
    """Collects tags/attributes and checks the document parses with balanced key tags."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def parse(html: str) -> _Collector:
    collector = _Collector()
    collector.feed(html)
    collector.close()
    return collector


def test_document_is_self_contained(report):
    html = render_html(report)
    assert html.startswith("<!DOCTYPE html>")
    tags = parse(html).tags
    names = {t for t, _ in tags}
    assert "script" not in names
    assert "link" not in names and "img" not in names and "iframe" not in names
    # only absolute http(s) links or in-page anchors
    for tag, attrs in tags:
        if tag == "a":
            assert attrs["href"].startswith(("https://", "http://", "#")), attrs
        assert "src" not in attrs, (tag, attrs)
    assert "<style>" in html and "@media print" in html and "max-width:760px" in html
    assert 'name="viewport"' in html


def test_header_sample_banner_and_sources(report):
    html = render_html(report)
    assert "2025-03-14" in html
    assert "Generated 2025-03-14 07:05 UTC" in html
    assert "Sample day." in html
    # failed source clearly shown with its error
    assert 'class="card src fail"' in html
    assert "HTTPStatusError: 503 Service Unavailable for export.arxiv.org" in html
    assert "huggingface" in html and "48 papers" in html
    assert "arXiv listing unavailable" in html  # notes

    live = report.model_copy(update={"sample": False})
    assert "Sample day." not in render_html(live)


def test_ranking_table_rows_links_and_breakdown(report):
    html = render_html(report)
    table = html[html.index('<table class="rank">') : html.index("</table>")]
    rows = re.findall(r"<tr[ >]", table)
    assert len(rows) == 1 + 50  # header + top 50 (default top_n)
    assert "Showing the top 50 of 64 ranked papers." in html

    top = report.ranking[0]
    assert f'href="https://arxiv.org/abs/{top.paper.arxiv_id}"' in table
    assert f'href="https://huggingface.co/papers/{top.paper.arxiv_id}"' in table
    assert f'href="https://github.com/{top.paper.github_repo}"' in table
    assert "★ 1.5k" in table  # stars, compact
    assert f"{top.score.total:.3f}" in table
    # every component of the first row: value × weight = contribution
    for comp in top.score.components:
        assert f"{comp.value:.2f} × {comp.weight:.2f}" in table
        assert f"{comp.contribution:.3f}" in table
    # excluded reason visible
    assert "excluded: only in excluded categories: cs.CR" in table
    # picked rows are flagged and link to their section
    assert table.count(">picked</a>") == 3

    small = render_html(report, top_n=5)
    table = small[small.index('<table class="rank">') : small.index("</table>")]
    assert len(re.findall(r"<tr[ >]", table)) == 6
    assert "Showing the top 5 of 64 ranked papers." in small
    # picks outside the table still get their section
    assert small.count('class="card pick"') == 3


def test_picks_sections(report):
    html = render_html(report)
    done, not_impl, failed = report.picks
    # completed run: verdict badge, toy tag, effect ± spread, metric and means, chart
    sec = _section(html, done.paper.arxiv_id)
    assert '<span class="pill good big">Better</span>' in sec
    assert "toy scale" in sec
    assert "-0.0786" in sec and "± 0.0196" in sec  # sqrt(0.0121² + 0.0154²)
    assert "Effect on val_loss" in sec and "lower is better" in sec
    assert "2.271" in sec and "2.35" in sec
    assert "from the reference library" in sec and "paperfoundry reference library" in sec
    assert "completed" in sec
    assert "<svg" in sec and sec.count("<polyline") == 6  # 2 models × 3 seeds
    # not implemented
    sec = _section(html, not_impl.paper.arxiv_id)
    assert "not implemented" in sec
    assert "no reference implementation and LLM implementation disabled" in sec
    assert "<svg" not in sec
    # failed run: failure stage/type/message (escaped) and traceback
    sec = _section(html, failed.paper.arxiv_id)
    assert "by an LLM" in sec and "gpt-4.1-mini" in sec
    assert "Run failed" in sec
    assert "<dt>stage</dt><dd>train</dd>" in sec
    assert "<dt>type</dt><dd>RuntimeError</dd>" in sec
    assert "Tried to allocate 2.00 GiB &lt;oom&gt;" in sec
    assert "Traceback (most recent call last)" in sec


def _section(html: str, arxiv_id: str) -> str:
    anchor = "pick-" + arxiv_id.replace(".", "-")
    start = html.index(f'id="{anchor}"')
    return html[start : html.index("</article>", start)]


def test_untrusted_text_is_escaped(report):
    html = render_html(report)
    assert "<script" not in html
    assert (
        "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt; Attention &amp; &quot;Friends&quot;"
        in html
    )
    assert XSS_TITLE not in html


def test_hostile_urls_never_become_links():
    assert safe_url("javascript:alert(1)") is None
    assert safe_url("data:text/html,hi") is None
    assert safe_url("https://ok.example/x") == "https://ok.example/x"
    assert github_url("owner/repo") == "https://github.com/owner/repo"
    assert github_url("https://github.com/a/b") == "https://github.com/a/b"
    assert github_url("javascript:alert(1)") is None
    assert github_url('a/b" onclick="x') == "https://github.com/a/bonclickx"
    assert github_url("not a repo") is None

    paper = Paper(
        arxiv_id="2503.00001",
        title="t",
        day=DAY,
        signals={
            "huggingface": SourceSignals(source="huggingface", github_repo="javascript:alert(1)")
        },
    )
    score = Score(arxiv_id="2503.00001", day=DAY, total=0.1, components=[])
    html = render_html(_minimal([RankedPaper(paper=paper, score=score)]))
    assert 'href="javascript' not in html
    assert "GitHub javascript:alert(1)" in html  # shown as plain text, not as a link


def _minimal(ranking: list[RankedPaper]) -> DayReport:
    base = build_report(n_papers=3)
    return base.model_copy(update={"ranking": ranking, "picks": [], "sources": [], "notes": []})


def test_empty_day_renders():
    html = render_html(_minimal([]))
    assert "No papers were ranked today." in html
    assert "No paper was picked" in html
    assert "No source status recorded." in html
    parse(html)
