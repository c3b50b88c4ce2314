"""render_html: content, links, escaping, self-containment."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from markupsafe import escape
from paperfoundry.models import DayReport, Paper, RankedPaper, Score, SourceSignals
from paperfoundry.reporting import render_html
from paperfoundry.reporting.html import github_url, safe_url

from .factories import (
    DAY,
    XSS_CLAIM,
    XSS_TITLE,
    XSS_WHY,
    build_report,
    build_verdicts_report,
    run_from_metrics,
)


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
    sec = html[html.index('<section class="block" id="ranking">') : html.index('id="sources"')]
    tables = re.findall(r'<table class="rank">.*?</table>', sec)
    # the top 10 in the open, ranks 11-50 (default top_n) behind a <details>
    assert [len(re.findall(r"<tr[ >]", t)) for t in tables] == [1 + 10, 1 + 40]
    rest = sec[sec.index('<details class="more rest">') :]
    assert "<summary>Ranks 11–50 (40 more papers)</summary>" in rest and tables[1] in rest
    assert "Showing the top 50 of 64 ranked papers." in sec
    assert sec.index("Showing the top 50") > sec.index("</details>", sec.index(tables[1]))
    table = tables[0]

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
    assert "excluded: only in excluded categories: cs.CR" in sec
    # picked rows are flagged and link to their section
    assert sec.count(">picked</a>") == 3
    # each row opens to its authors and abstract
    assert sec.count('<details class="abs">') == 50
    row = table[: table.index("</tr>", table.index("<tbody>"))]
    assert "<summary>Ada Lovelace, Alan Turing, Grace Hopper + 1 more · abstract</summary>" in row
    assert '<p class="authors">Ada Lovelace, Alan Turing, Grace Hopper, Yann Doe</p>' in row
    assert f"<p>{escape(top.paper.abstract)}</p>" in row

    small = render_html(report, top_n=5)
    sec = small[small.index('<section class="block" id="ranking">') : small.index('id="sources"')]
    assert [len(re.findall(r"<tr[ >]", t)) for t in re.findall(r"<table.*?</table>", sec)] == [6]
    assert "Showing the top 5 of 64 ranked papers." in small and '<details class="more' not in sec
    # picks outside the table still get their section
    assert small.count('class="card pick"') == 3


def test_picks_come_before_the_ranking(report):
    html = render_html(report)
    order = [html.index(f'id="{sid}"') for sid in ("glance", "picks", "ranking", "sources")]
    assert order == sorted(order)


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
        "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt; Attention &amp; &#34;Friends&#34;"
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


# --------------------------------------------------------------------------- schema 2 verdicts


def _text(fragment: str) -> str:
    """Visible text (tags dropped, entities kept), whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment))


def _charts(sec: str) -> str:
    start = sec.index('<div class="charts">')
    return sec[start : sec.index('<div class="lbl">Controls', start)]


def _verdicts():
    report = build_verdicts_report()
    return report, render_html(report)


def test_verdicts_report_is_self_contained_and_balanced():
    report, html = _verdicts()
    tags = parse(html).tags
    assert "script" not in {t for t, _ in tags} and "img" not in {t for t, _ in tags}
    for tag in ("section", "article", "table", "div", "figure", "details", "dl"):
        opened = html.count(f"<{tag} ") + html.count(f"<{tag}>")
        assert opened == html.count(f"</{tag}>"), tag
    # untrusted text from the implementation file and the plan is escaped everywhere
    assert XSS_CLAIM not in html and XSS_WHY not in html and "<img" not in html
    assert "&lt;script&gt;alert(&#34;claim&#34;)&lt;/script&gt; BASED &amp;" in html


def test_the_pick_leads_with_its_claims():
    report, html = _verdicts()
    based = report.picks[0]
    sec = _section(html, based.paper.arxiv_id)
    head = sec[: sec.index('class="facts"')]
    assert (
        '<span class="pill good big" title="2 of 3 claims supported">supported 2/3</span>' in head
    )
    assert ">Better<" not in sec and ">Equivalent<" not in head  # the badge, not an outcome
    order = [
        sec.index('class="headline"'),
        sec.index('table class="mini claims"'),
        sec.index('class="charts"'),
        sec.index("What the verdict is on: query accuracy"),  # beside the loss, first
        sec.index("Training loss ·"),
        sec.index('table class="mini gates"'),
        sec.index('table class="mini comps"'),
        sec.index('table class="mini models"'),
        sec.index('table class="mini eff"'),
        sec.index('class="setting"'),
    ]
    assert order == sorted(order)
    headline = _text(sec[sec.index('class="headline"') : sec.index('table class="mini claims"')])
    assert "3 claims: 2 supported, 1 untestable here." in headline
    assert (
        "Candidate vs the attention baseline on query accuracy (higher is better, test split, "
        "3 vs 3 seeds): equivalent (effect +0.0037, 95% CI [−0.0092, +0.0165], margin ±0.03)."
        in headline
    )
    claims = _text(sec[sec.index('table class="mini claims"') : sec.index("</table>")])
    assert "query accuracy, equivalent to the baseline (condition: num_kv_pairs &gt;= 8)" in claims
    assert "state size, better (smaller) than the baseline at length 2048" in claims
    assert "supported" in claims and "untestable here" in claims
    assert "effect +0.0037, 95% CI [−0.0092, +0.0165]" in claims
    assert "fused CUDA kernels at 1.3B parameters" in claims  # why it is untestable


def test_gates_seeds_lr_ci_and_ablations_are_shown():
    report, html = _verdicts()
    sec = _section(html, report.picks[0].paper.arxiv_id)
    gates = _text(sec[sec.index('table class="mini gates"') :])
    gates = gates[: gates.index("Comparisons against the baseline")]
    assert "baseline competence passed 0.972 vs 0.90 the attention baseline learned the task" in (
        gates
    )
    assert "0.67% apart (limit ±2%)" in gates
    models = _text(sec[sec.index('table class="mini models"') :])
    models = models[: models.index("Efficiency")]
    assert "candidate (BASED) 5,021,312 (2.66M non-emb.) 0.003 1, 2, 3" in models
    assert "0.975 · 0.971 · 0.981 0.976 ± 0.005 [0.963, 0.988]" in models
    assert "baseline (attention) 4,987,904" in models and "control (no mixing)" in models
    comps = _text(sec[sec.index('table class="mini comps"') :])
    comps = comps[: comps.index("Per model")]
    assert "ablation: without short conv −0.2693 [−0.3752, −0.1634]" in comps and "worse" in comps
    assert "ablations remove one component the paper adds" in sec
    # the metric the verdict is on is plotted: seeds per model, effects with the margin band
    charts = _charts(sec)
    assert charts.count("<svg") == 4
    assert "query accuracy on the test split per model" in charts
    assert "equivalence margin ±0.03" in charts and "no difference" in charts
    assert charts.count("<circle") == 12  # 4 models × 3 seeds
    # the LR sweep on the same metric: one line per model, learning rates on a log axis
    sweep = charts[charts.index("query accuracy on the validation split by learning rate") :]
    assert sweep.count("<polyline") == 4 and "learning rate (log scale)" in sweep


def test_efficiency_and_sizes_are_labelled():
    report, html = _verdicts()
    sec = _text(_section(html, report.picks[0].paper.arxiv_id))
    assert "train tok/s infer tok/s T=256 infer tok/s T=2048 peak memory FLOPs/token" in sec
    assert "candidate (BASED) 978k 412k 389k 2,890 MB cuda 11.3M" in sec
    assert "T=256: 26.9k T=2048: 26.9k declared by the model" in sec
    assert "T=256: 147k T=2048: 1.18M computed by the harness" in sec
    assert (
        "FLOPs/token estimates: 2 x non-embedding params (mixing cost not counted) "
        "(candidate (BASED)); 2 x non-embedding params + attention over the sequence "
        "(baseline (attention))." in sec
    )
    # the paper's own scale, labelled as the paper's, and the scale tested here
    assert (
        "paper: 1.3B params (the paper&#39;s own model) · tested at ~5.02M params "
        "(candidate 5,021,312, baseline 4,987,904, −0.67%)" in sec
    )
    assert "tested at ~5.02M params" in sec[: sec.index("Selection")]  # the training fact
    assert "1, 2, 3 (fresh; the LR sweep used seed 0)" in sec
    assert "LR sweep: query accuracy on the validation split" in sec
    # the implementation fact names the paper's size as the paper's
    assert "paper: 1.3B params" in sec[: sec.index("Training")]
    # CPU runs say why there is no peak memory
    invalid = _text(_section(html, report.picks[1].paper.arxiv_id))
    assert "not measured (CPU)" in invalid


def test_a_failed_gate_is_explained_and_nothing_is_compared():
    report, html = _verdicts()
    sec = _section(html, report.picks[1].paper.arxiv_id)
    assert '<span class="pill inv big"' in sec and ">invalid</span>" in sec
    assert "toy scale" not in sec[: sec.index('class="facts"')]
    text = _text(sec)
    assert (
        "No verdict: the attention baseline did not learn the task (0.41 &lt; 0.90), so no "
        "comparison was made." in text
    )
    comps = _text(sec[sec.index('table class="mini comps"') :])
    comps = comps[: comps.index("Per model")]
    assert "candidate (Mamba3Mixer) – – – ±0.03 3 vs 3 invalid" in comps
    assert "+0.47" not in comps  # no effect is shown for a comparison that was not made
    charts = _charts(sec)
    assert "baseline competence 0.90" in charts and "Effect vs the baseline" not in charts
    # problems with the file's declarations are shown, not hidden
    assert "had problems; those entries were ignored" in sec
    assert "ablation &#39;no gate&#39; must map a name to keyword arguments" in sec
    # the plan's claims, with what the harness cannot test and why
    assert "Claims extracted by the plan" in sec
    assert "not testable here</span> &lt;img src=x" in sec


def test_a_smoke_run_is_a_wiring_test_with_no_verdict():
    report, html = _verdicts()
    sec = _section(html, report.picks[2].paper.arxiv_id)
    assert ">wiring test</span>" in sec and "toy scale" not in sec
    assert "Wiring test, no verdict: the tiny budget only checks" in sec
    # no chart that could read as evidence: the training loss only
    assert "What the verdict is on" not in sec and "Effect vs the baseline" not in sec
    assert _charts(sec).count("<svg") == 1 and "Training loss ·" in _charts(sec)
    assert "gates are not expected to pass" in sec
    comps = _text(sec[sec.index('table class="mini comps"') :])
    assert "– – – ±0.03 2 vs 2 wiring test" in comps


def test_a_contradicted_lm_claim():
    report, html = _verdicts()
    sec = _section(html, report.picks[3].paper.arxiv_id)
    assert ">contradicted 1/2</span>" in sec
    text = _text(sec)
    assert "bits per byte (lower is better, test split, 3 vs 3 seeds): equivalent" in text
    assert "equivalent, not better" in text
    assert "the GPT baseline learned the corpus" in text
    assert "control (bigram reference)" in text


def test_legacy_runs_render_as_before_with_a_label():
    report, html = _verdicts()
    sec = _section(html, report.picks[4].paper.arxiv_id)
    assert '<span class="pill good big">Better</span>' in sec  # as before
    assert "legacy verdict (no controls)" in sec and "Legacy verdict (no controls)" in sec
    assert "Effect on val_loss" in sec and "± 0.0196" in sec
    assert 'class="results' not in sec


def test_glance_and_stats_count_badges():
    report, html = _verdicts()
    glance = _text(html[html.index('id="glance"') : html.index('id="ranking"')])
    assert "supported 2/3 toy scale query accuracy vs the attention baseline: equivalent" in glance
    assert "invalid no comparison: the attention baseline did not learn the task" in glance
    assert "wiring test wiring test, no verdict" in glance
    assert "Better toy scale legacy verdict (no controls) val_loss -0.0786" in glance
    stats = _text(html[html.index('<div class="stats">') : html.index('<section class="block"')])
    assert "Verdicts (claims) 1 supported 1 contradicted 0 inconclusive 1 invalid" in stats
    assert "1 wiring tests 1 legacy" in stats


def test_a_run_without_claims_says_so():
    run = run_from_metrics("based_mqar.json", "2503.10000", claims=[])
    report = build_verdicts_report(legacy=False)
    pick = report.picks[0].model_copy(update={"run": run})
    html = render_html(report.model_copy(update={"picks": [pick]}))
    sec = _section(html, pick.paper.arxiv_id)
    assert ">no claims</span>" in sec and "vs baseline: equivalent" in sec
    assert "No claims were declared for this implementation" in sec


def test_picks_the_implement_step_never_reached(report):
    """`run --no-train`: no implementation was resolved; the card says why, not "not resolved
    yet", and a library paper says the library has it."""
    from paperfoundry.models import Implementation

    picks = [
        p.model_copy(
            update={
                "implementation": Implementation(
                    arxiv_id=arxiv_id, status="not_implemented", reason="not resolved yet"
                ),
                "run": None,
            }
        )
        for p, arxiv_id in zip(report.picks[:2], ("2402.18668", "2503.99999"), strict=True)
    ]
    html = render_html(report.model_copy(update={"picks": picks}))
    assert "not resolved yet" not in html
    library = _text(_section(html, picks[0].paper.arxiv_id))
    assert "not attempted in the reference library; not trained: the implement step did" in library
    other = _text(_section(html, picks[1].paper.arxiv_id))
    assert "not attempted the implement step did not run today (training off)" in other
    glance = _text(html[html.index('id="glance"') : html.index('id="picks"')])
    assert glance.count("not attempted") == 2
