"""Every template variable is escaped: hostile text in every field of a report that reaches
every section (picks of each kind, ranking, sources, notes, reviews, tournament, LLM usage),
then the index and the feed, never becomes markup, an event handler or a javascript: link."""

from __future__ import annotations

import copy
import re
import typing
from datetime import date
from html.parser import HTMLParser

import defusedxml.ElementTree as ET
import pytest
from paperfoundry.models import DayReport, Paper, SourceSignals
from paperfoundry.reporting import render_html
from paperfoundry.reporting.index import entry_for, render_feed, render_index
from pydantic import BaseModel

from .factories import build_llm_report, build_report, build_verdicts_report

SCRIPT = "<script>alert(1)</script>"
BREAKOUT = '"><img src=x onerror=alert(2)>'
SINGLE = "'><svg onload=alert(3)>"
JS = "javascript:alert(4)"
HOSTILE = f"{SCRIPT}{BREAKOUT}{SINGLE}\x01"
# fields that key the report together (arXiv ids are validated; a review is found by its id)
KEEP = {"arxiv_id", "day"}
KEEP_KEYS = {"reviews", "signals", "criteria"}  # dicts keyed by ids or criterion names
STYLE = re.compile(r"^(width:\d+(\.\d+)?%;)?background:#[0-9a-f]{6}$")
ALLOWED_TAGS = set(
    "html head meta title style body header div h1 h2 h3 p main section span a ul li strong "
    "b small table thead tbody tr th td details summary article figure figcaption dl dt dd "
    "pre code br footer link".split()
)


def taint(obj, key: str = ""):
    """Prefix every free text field, and the keys of most dicts, with HOSTILE."""
    if isinstance(obj, BaseModel):
        for name, field in type(obj).model_fields.items():
            if name in KEEP or typing.get_origin(field.annotation) is typing.Literal:
                continue
            setattr(obj, name, taint(getattr(obj, name), name))
        return obj
    if isinstance(obj, str):
        return HOSTILE + obj
    if isinstance(obj, list):
        return [taint(x) for x in obj]
    if isinstance(obj, dict):
        keep = key in KEEP_KEYS
        return {
            (k if keep or not isinstance(k, str) else HOSTILE + k): taint(v) for k, v in obj.items()
        }
    return obj


def hostile_report() -> DayReport:
    base, llm, verdicts = build_report(), build_llm_report(), build_verdicts_report()
    picks = verdicts.picks + llm.picks + base.picks[1:]  # every kind of pick
    report = llm.model_copy(
        update={"picks": picks, "sources": base.sources, "notes": base.notes, "sample": True},
        deep=True,
    )
    report = taint(copy.deepcopy(report))  # the factories share a few objects: never mutate them
    # hostile URLs where links are built: the repository, the code, the paper ids in the
    # tournament (they become arXiv links when no paper matches)
    first = report.ranking[0].paper
    first.signals = {"huggingface": SourceSignals(source="huggingface", github_repo=JS)}
    llm_pick = next(p for p in report.picks if p.implementation.provenance == "llm")
    llm_pick.implementation.code_uri = f'{JS}"><b>x'
    report.tournament.comparisons[0].winner = BREAKOUT
    report.tournament.participants.append(JS)
    return report


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


@pytest.fixture(scope="module")
def report() -> DayReport:
    return hostile_report()


def check_html(html: str) -> None:
    for raw in (SCRIPT, BREAKOUT, SINGLE, "<img", "<b>x", "\x01"):
        assert raw not in html, raw
    parser = _Collect()
    parser.feed(html)
    parser.close()
    in_svg = {"svg", "title", "desc", "rect", "text", "g", "line", "path", "clippath", "polyline",
              "circle"}  # fmt: skip
    for tag, attrs in parser.tags:
        assert tag in ALLOWED_TAGS | in_svg, tag
        assert not [name for name in attrs if name.startswith("on")], (tag, attrs)
        if "href" in attrs:
            href = attrs["href"] or ""
            assert href.startswith(("https://", "http://", "#")) or re.fullmatch(
                r"[0-9a-z./#-]+", href
            ), href
        if "style" in attrs:
            assert STYLE.match(attrs["style"] or ""), attrs["style"]
        assert "src" not in attrs


def test_every_section_escapes_hostile_text(report):
    html = render_html(report)
    # every section rendered, with the hostile text in it (escaped)
    for sid in ("glance", "picks", "ranking", "sources", "notes", "reviews", "tournament"):
        assert f'id="{sid}"' in html, sid
    assert 'id="llm-usage"' in html and 'class="results' in html and 'class="verdict' in html
    assert 'class="failure"' in html and 'class="llm-impl"' in html and "<svg" in html
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") > 200
    assert "&#34;&gt;&lt;img src=x onerror=alert(2)&gt;" in html
    assert "&#39;&gt;&lt;svg onload=alert(3)&gt;" in html
    check_html(html)
    # hostile URLs are text, never links
    assert 'href="javascript' not in html and f"GitHub {JS}" in html
    assert f"{JS}&#34;&gt;&lt;b&gt;x" in html


def test_the_index_and_the_feed_escape_hostile_text(report):
    entry = entry_for(report, link=f'{JS}"><b>')
    html = render_index([entry, entry_for(report.model_copy(update={"day": date(2025, 3, 1)}))])
    check_html(html)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    xml = render_feed([entry])
    root = ET.fromstring(xml.encode())  # well-formed: the text did not become elements
    names = {el.tag.split("}")[1] for el in root.iter()}
    assert names <= {"feed", "id", "title", "subtitle", "updated", "author", "name", "generator",
                     "link", "entry", "category", "content"}  # fmt: skip
    assert [lk.get("href") for lk in root.iter("{http://www.w3.org/2005/Atom}link")] == [
        "feed.xml",
        "index.html",
    ]  # the hostile day link is left out
    content = root.find("{http://www.w3.org/2005/Atom}entry/{http://www.w3.org/2005/Atom}content")
    assert SCRIPT in content.text and "\x01" not in content.text  # text, as text


def test_a_hostile_title_inside_the_charts_is_escaped():
    report = build_report()
    pick = report.picks[0]
    paper: Paper = pick.paper.model_copy(update={"title": HOSTILE})
    html = render_html(
        report.model_copy(update={"picks": [pick.model_copy(update={"paper": paper})]})
    )
    check_html(html)


def test_every_template_autoescapes_and_none_opts_out():
    from jinja2 import StrictUndefined
    from paperfoundry.reporting.html import environment

    env = environment()
    names = env.list_templates()
    assert {"report.html", "index.html", "feed.xml", "sections/pick.html"} <= set(names)
    assert all(env.autoescape(name) is True for name in names)
    assert env.undefined is StrictUndefined
    for name in names:
        source = env.loader.get_source(env, name)[0]
        assert not re.search(r"\|\s*safe\b|autoescape\s+false|Markup", source), name
