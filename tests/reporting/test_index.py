"""The index of days and the Atom feed: order, picks, links, escaping, self-containment,
index.json bookkeeping, file permissions, and the feed checked as Atom (RFC 4287)."""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from urllib.parse import urlsplit

import defusedxml.ElementTree as ET
import pytest
from paperfoundry.adapters.local.blobs import FileBlobStore
from paperfoundry.models import DayReport
from paperfoundry.reporting.html import CSS
from paperfoundry.reporting.index import (
    FEED_ENTRIES,
    IndexEntry,
    IndexPick,
    entry_for,
    render_feed,
    render_index,
    write_index,
)

from .factories import build_llm_report, build_report, build_verdicts_report

GENERATED = datetime(2024, 3, 4, 12, 0, tzinfo=UTC)
ATOM = "{http://www.w3.org/2005/Atom}"
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def parse(html: str) -> _Tags:
    tags = _Tags()
    tags.feed(html)
    tags.close()
    return tags


def hrefs(html: str) -> list[str]:
    return [attrs["href"] for tag, attrs in parse(html).tags if tag == "a" and "href" in attrs]


def entry(day: date, subject: str = "", link: str | None = None, picks=()) -> IndexEntry:
    return IndexEntry(
        day=day,
        link=link if link is not None else f"{day.isoformat()}/report.html",
        updated=datetime(day.year, day.month, day.day, 7, 5, tzinfo=UTC),
        subject=subject or f"paperfoundry {day.isoformat()}: 12 papers, 0 picks",
        digest=f"paperfoundry daily report for {day.isoformat()}\n",
        picks=list(picks),
    )


def render(entries):
    return render_index(entries, generated_at=GENERATED)


def _reports() -> list[DayReport]:
    """Three days: schema 2 picks, LLM mode, a sample day with a failed run."""
    return [
        build_verdicts_report(),
        build_llm_report().model_copy(update={"day": date(2025, 3, 13)}),
        build_report().model_copy(update={"day": date(2025, 2, 28)}),
    ]


# --------------------------------------------------------------------------- index.html


def test_days_newest_first_grouped_by_month_with_relative_links():
    html = render(
        [
            entry(date(2024, 2, 28), "paperfoundry 2024-02-28: BASED beats the baseline"),
            entry(date(2024, 3, 4), "paperfoundry 2024-03-04: TokenFormer: inconclusive"),
            entry(date(2024, 3, 1), "paperfoundry 2024-03-01: No picks today"),
        ]
    )
    # the feed, then each day twice (its date and "Open report"), newest day first
    assert hrefs(html) == [
        "feed.xml",
        "2024-03-04/report.html",
        "2024-03-04/report.html",
        "2024-03-01/report.html",
        "2024-03-01/report.html",
        "2024-02-28/report.html",
        "2024-02-28/report.html",
    ]
    assert html.index("March 2024") < html.index("February 2024")
    assert "3 days · 2024-02-28 to 2024-03-04" in html
    assert "Monday" in html  # 2024-03-04 was a Monday
    for title in ("BASED beats the baseline", "TokenFormer: inconclusive", "No picks today"):
        assert title in html  # the subject without its "paperfoundry <day>: " prefix
    assert "paperfoundry 2024-03-01:" not in html


def test_each_day_lists_its_picks_and_their_verdicts():
    entries = [entry_for(report) for report in _reports()]
    html = render(entries)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    # badges as the report words them, never a bare "better"
    assert "supported 2/3 #1 Simple linear attention language models" in text
    assert "invalid #2 Mamba-3" in text and "wiring test #3 Hyper-Connections" in text
    assert "contradicted 1/2 #4 Differential Attention" in text
    assert "legacy: better #5 KV Cache Compression" in text
    assert "implementation failed #2" in text and "legacy: inconclusive #1" in text
    assert "not implemented #2" in text and "failed #3" in text
    assert "SUPPORTED 2/3 (toy scale): query accuracy vs the attention baseline" in text
    # each pick links to its card in the day's report
    links = hrefs(html)
    assert "2025-03-14/report.html#pick-2503-10000" in links
    assert "2025-02-28/report.html#pick-2503-10003" in links
    assert 'class="pill warn">sample</span>' in html  # the sample day says so
    days = [html.index(f'href="{day}/report.html"') for day in ("2025-03-14", "2025-03-13")]
    assert days[0] < days[1] < html.index('href="2025-02-28/report.html"')


def test_titles_are_escaped():
    hostile = '<script>alert("x")</script> & <b>'
    pick = IndexPick(rank=1, arxiv_id="2401.00001", title=hostile, label=hostile, detail=hostile)
    html = render([entry(date(2024, 3, 1), f"paperfoundry 2024-03-01: {hostile}", picks=[pick])])
    assert "<script>" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;" in html
    assert not [tag for tag, _ in parse(html).tags if tag in ("script", "b")]


def test_only_safe_links_become_links():
    day = date(2024, 3, 1)
    cases = {
        "2024-03-01/report.html": True,
        "2024-03-01/": True,
        "2024-03-01/report.html#picks": True,
        "https://reports.example.org/2024-03-01/report.html": True,
        "javascript:alert(1)": False,
        "//evil.example.org/x.html": False,
        "../secrets/report.html": False,
        "2024-03-01/../../x": False,
        "/2024-03-01/report.html": False,
        "data:text/html,<b>hi</b>": False,
        '2024-03-01/report.html" onmouseover="x': False,
        "": False,
    }
    pick = IndexPick(rank=1, arxiv_id="2401.00001", title="t")
    for link, linked in cases.items():
        html = render([entry(day, link=link, picks=[pick])])
        days = [h for h in hrefs(html) if h != "feed.xml"]
        if linked:
            assert days == [link, link, link.partition("#")[0] + "#pick-2401-00001"], link
        else:
            assert days == [] and "no link" in html, link


def test_empty_index_says_so():
    html = render([])
    assert "No reports yet." in html and "0 days" in html
    assert hrefs(html) == ["feed.xml"]


def test_self_contained_and_same_look_as_the_report():
    html = render([entry(date(2024, 3, 1))])
    tags = parse(html).tags
    assert html.startswith("<!DOCTYPE html>")
    assert not [t for t, _ in tags if t in ("script", "img", "iframe", "object")]
    assert not [a for _, a in tags if "src" in a]
    # the only <link> names the feed (feed discovery; nothing is loaded)
    assert [a for t, a in tags if t == "link"] == [
        {
            "rel": "alternate",
            "type": "application/atom+xml",
            "title": "paperfoundry daily digests",
            "href": "feed.xml",
        }
    ]
    csp = next(a for t, a in tags if t == "meta" and a.get("http-equiv"))
    assert csp["content"].startswith("default-src 'none'")
    assert CSS in html and ".days>li" in html  # the report's stylesheet, with the index's rules
    assert 'class="top"' in html and "paperfoundry · daily reports" in html
    assert "Generated by paperfoundry at 2024-03-04 12:00 UTC" in html


# --------------------------------------------------------------------------- feed.xml


def check_atom(xml: str) -> ET.Element:
    """RFC 4287: the namespace, id/title/updated on the feed and every entry, RFC 3339
    dates, unique ids (absolute IRIs), an author, content or an alternate link per entry,
    and links absolute or relative (resolved against the feed), never another scheme."""
    root = ET.fromstring(xml.encode())
    assert root.tag == f"{ATOM}feed"

    def one(el, name):
        found = el.findall(f"{ATOM}{name}")
        assert len(found) == 1, (el.tag, name, len(found))
        return found[0]

    def check_common(el):
        ident = one(el, "id").text or ""
        assert urlsplit(ident).scheme, ident  # an absolute IRI
        assert (one(el, "title").text or "").strip()
        updated = one(el, "updated").text or ""
        assert RFC3339.match(updated), updated
        datetime.fromisoformat(updated.replace("Z", "+00:00"))
        for link in el.findall(f"{ATOM}link"):
            href = link.get("href") or ""
            parts = urlsplit(href)
            assert href and (parts.scheme in ("http", "https") or not parts.scheme), href
            assert not href.startswith("//"), href
        return ident

    ids = [check_common(root)]
    assert root.findall(f"{ATOM}author/{ATOM}name")  # so entries need no author of their own
    assert [lk.get("href") for lk in root.findall(f"{ATOM}link") if lk.get("rel") == "self"]
    for item in root.findall(f"{ATOM}entry"):
        ids.append(check_common(item))
        content = item.find(f"{ATOM}content")
        alternate = [lk for lk in item.findall(f"{ATOM}link") if lk.get("rel") == "alternate"]
        assert content is not None or alternate
        if content is not None:
            assert content.get("type", "text") in ("text", "html", "xhtml")
    assert len(ids) == len(set(ids)), "ids must be unique"
    return root


def test_feed_is_valid_atom_with_one_entry_per_day():
    entries = [entry_for(report) for report in _reports()]
    xml = render_feed(entries, generated_at=GENERATED)
    assert xml.startswith('<?xml version="1.0" encoding="utf-8"?>')
    root = check_atom(xml)
    items = root.findall(f"{ATOM}entry")
    assert [i.find(f"{ATOM}id").text for i in items] == [
        "tag:paperfoundry,2025:report/2025-03-14",
        "tag:paperfoundry,2025:report/2025-03-13",
        "tag:paperfoundry,2025:report/2025-02-28",
    ]
    assert root.find(f"{ATOM}updated").text == "2025-03-14T07:05:00Z"  # the newest entry
    first = items[0]
    assert first.find(f"{ATOM}title").text.startswith("paperfoundry 2025-03-14: 12 papers")
    link = first.find(f"{ATOM}link")
    assert (link.get("rel"), link.get("href")) == ("alternate", "2025-03-14/report.html")
    body = first.find(f"{ATOM}content").text
    assert body.startswith("paperfoundry daily report for 2025-03-14\n")  # the digest, as text
    assert '+ supported: <script>alert("claim")</script> BASED' in body  # text, not markup
    assert "Full report:" not in body  # no presigned URL that would expire in a feed
    assert {c.get("term") for c in first.findall(f"{ATOM}category")} >= {"supported 2/3"}


def test_feed_keeps_the_newest_days_and_survives_control_characters():
    entries = [
        entry(date(2024, 1, 1).fromordinal(date(2024, 1, 1).toordinal() + i)) for i in range(70)
    ]
    entries[-1] = entries[-1].model_copy(update={"subject": "bell \x07 and nul \x00 & <x>"})
    root = check_atom(render_feed(entries))
    items = root.findall(f"{ATOM}entry")
    assert len(items) == FEED_ENTRIES
    assert items[0].find(f"{ATOM}title").text == "bell  and nul  & <x>"
    assert render_feed([], generated_at=GENERATED).count("<entry>") == 0
    check_atom(render_feed([], generated_at=GENERATED))


# --------------------------------------------------------------------------- write_index


def test_write_index_records_the_day_and_backfills_days_it_lacks(tmp_path):
    blobs = FileBlobStore(tmp_path)
    today, yesterday, older = _reports()
    for report in (yesterday, older):  # reported before the index kept records
        blobs.put(f"{report.day}/report.json", report.model_dump_json().encode())
    entries = write_index(blobs, today, [yesterday.day, older.day, date(2025, 1, 2)])
    assert [e.day for e in entries] == [today.day, yesterday.day, older.day]  # no report.json
    records = json.loads(blobs.get("index.json"))
    assert [r["day"] for r in records] == ["2025-03-14", "2025-03-13", "2025-02-28"]
    html = blobs.get("index.html").decode()
    assert 'href="2025-03-13/report.html"' in html and "Gated Linear Attention" in html
    check_atom(blobs.get("feed.xml").decode())

    # a later day: the records are kept, the day replaced or added, no report re-read
    (tmp_path / "2025-02-28" / "report.json").unlink()
    again = today.model_copy(update={"picks": today.picks[:1]})
    entries = write_index(blobs, again, [today.day, older.day])
    assert [e.day for e in entries] == [today.day, yesterday.day, older.day]
    assert len(entries[0].picks) == 1

    # an unreadable index.json is rebuilt from the days' reports
    blobs.put("index.json", b"{not json")
    assert [e.day for e in write_index(blobs, None, [yesterday.day])] == [yesterday.day]


def test_files_are_readable_by_others(tmp_path):
    """Reports, the index and the feed are for reading (mkstemp alone would make them 0600)."""
    old = os.umask(0o022)
    try:
        blobs = FileBlobStore(tmp_path)
        write_index(blobs, build_report())
        blobs.put("2025-03-14/report.html", b"<!DOCTYPE html>")
    finally:
        os.umask(old)
    for name in ("index.html", "feed.xml", "index.json", "2025-03-14/report.html"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644, name
    os.umask(0o077)
    try:
        blobs.put("private.txt", b"x")  # the umask is respected
    finally:
        os.umask(old)
    assert (tmp_path / "private.txt").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("prefix", ["", "reports/"])
def test_write_index_under_a_prefix(tmp_path, prefix):
    blobs = FileBlobStore(tmp_path)
    write_index(blobs, build_report(), prefix=prefix)
    assert (tmp_path / f"{prefix}index.html").is_file()
    assert (tmp_path / f"{prefix}feed.xml").is_file()
