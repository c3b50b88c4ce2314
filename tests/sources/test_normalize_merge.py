"""Text normalisation (LaTeX, whitespace, ids, withdrawals) and cross-source merging."""

from __future__ import annotations

import json
import unicodedata
from datetime import UTC, date, datetime

import pytest
from paperfoundry.models import Paper, SourceSignals
from paperfoundry.sources.arxiv import parse_feed
from paperfoundry.sources.huggingface import parse_daily_papers
from paperfoundry.sources.merge import merge_papers
from paperfoundry.sources.normalize import (
    MAX_ABSTRACT_CHARS,
    MAX_AUTHOR_CHARS,
    MAX_AUTHORS,
    MAX_TITLE_CHARS,
    clean_abstract,
    clean_authors,
    clean_title,
    collapse_ws,
    is_withdrawn,
    latex_to_text,
    parse_arxiv_ref,
    split_authors,
    strip_invisible,
)

from .conftest import fixture_bytes


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (r"An $\mathcal{O}(n)$ method", "An O(n) method"),
        (r"\textit{Fast} and \textbf{exact}", "Fast and exact"),
        (r"R\&D at AT\&T", "R&D at AT&T"),
        (r"82.7% top-1, 96.2% top-5 \emph{on} ImageNet", "82.7% top-1, 96.2% top-5 on ImageNet"),
        ("plain\n  text\twith   gaps ", "plain text with gaps"),
        (r"$\alpha$-masses", "α-masses"),
        ("no LaTeX: 50% off, a_b", "no LaTeX: 50% off, a_b"),
        ("", ""),
        (None, ""),
    ],
)
def test_latex_to_text(raw, expected):
    assert latex_to_text(raw) == expected


def test_latex_to_text_never_raises_on_broken_latex():
    assert latex_to_text(r"unbalanced \textit{brace and $math") != ""


def test_collapse_ws():
    assert collapse_ws(" a\n\n b\u00a0c ") == "a b c"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2402.18668", ("2402.18668", None)),
        ("2402.18668v3", ("2402.18668", 3)),
        ("arXiv:2402.18668v2", ("2402.18668", 2)),
        ("https://arxiv.org/abs/2410.23168", ("2410.23168", None)),
        ("https://arxiv.org/pdf/2410.23168v1", ("2410.23168", 1)),
        ("oai:arXiv.org:2203.01250v3", ("2203.01250", 3)),
        ("hep-th/9901001v1", ("hep-th/9901001", 1)),
    ],
)
def test_parse_arxiv_ref(raw, expected):
    assert parse_arxiv_ref(raw) == expected


@pytest.mark.parametrize("raw", ["", None, "not-an-id", "12345"])
def test_parse_arxiv_ref_rejects(raw):
    with pytest.raises(ValueError):
        parse_arxiv_ref(raw)


def test_is_withdrawn():
    assert is_withdrawn("This paper has been withdrawn by the author due to an error.")
    assert is_withdrawn("Some abstract", comments="Withdrawn by arXiv admin: duplicate")
    assert is_withdrawn("This submission has been withdrawn.")
    assert not is_withdrawn("We study papers withdrawn from journals and retractions.")
    assert not is_withdrawn(None)


def test_split_authors():
    assert split_authors("A. One, B. Two and C. Three") == ["A. One", "B. Two", "C. Three"]
    assert split_authors(r"Jos\'e Garc\'ia") == ["José García"]
    assert split_authors("") == []


# --- merge ---------------------------------------------------------------------------------

DAY = date(2024, 2, 29)


def _hf(arxiv_id: str, **kw) -> Paper:
    return Paper(
        arxiv_id=arxiv_id,
        day=DAY,
        title=kw.get("title", "HF title"),
        abstract=kw.get("abstract", "HF abstract"),
        version=kw.get("version"),
        published=kw.get("published"),
        authors=kw.get("authors", ["H. F."]),
        signals={
            "huggingface": SourceSignals(
                source="huggingface", upvotes=kw.get("upvotes", 5), github_repo=kw.get("repo")
            )
        },
    )


def _ax(arxiv_id: str, **kw) -> Paper:
    cats = kw.get("categories", ["cs.LG"])
    return Paper(
        arxiv_id=arxiv_id,
        day=DAY,
        title=kw.get("title", "arXiv title"),
        abstract=kw.get("abstract", "arXiv abstract"),
        version=kw.get("version", 1),
        published=kw.get("published"),
        authors=kw.get("authors", ["A. X."]),
        categories=cats,
        signals={"arxiv": SourceSignals(source="arxiv", categories=cats, announce_type="new")},
    )


def test_merge_combines_sources_by_id_in_stable_order():
    hf = [
        _hf("2402.00001"),
        _hf(
            "2402.00002",
            repo="https://github.com/o/r",
            upvotes=40,
            version=2,
            published=datetime(2024, 2, 28, 18, tzinfo=UTC),
        ),
    ]
    ax = [
        _ax("2402.00003"),
        _ax(
            "2402.00002",
            categories=["cs.CL", "cs.LG"],
            published=datetime(2024, 2, 29, 5, tzinfo=UTC),
        ),
    ]
    merged = merge_papers(hf, ax)
    assert [p.arxiv_id for p in merged] == ["2402.00001", "2402.00002", "2402.00003"]

    both = merged[1]
    assert set(both.signals) == {"huggingface", "arxiv"}
    assert both.signals["huggingface"].upvotes == 40
    assert both.github_repo == "https://github.com/o/r"
    assert both.categories == ["cs.CL", "cs.LG"]
    assert both.title == "arXiv title" and both.abstract == "arXiv abstract"
    assert both.authors == ["A. X."]
    assert both.version == 2
    assert both.published == datetime(2024, 2, 28, 18, tzinfo=UTC)


def test_merge_falls_back_to_hf_text_when_arxiv_is_empty():
    merged = merge_papers([_hf("2402.00002")], [_ax("2402.00002", abstract="", authors=[])])
    [paper] = merged
    assert paper.title == "arXiv title"
    assert paper.abstract == "HF abstract"
    assert paper.authors == ["H. F."]


def test_merge_same_source_twice_fills_gaps_and_handles_naive_datetimes():
    a = _hf("2402.00002", upvotes=None, published=datetime(2024, 2, 28))
    b = _hf(
        "2402.00002",
        upvotes=7,
        repo="https://github.com/o/r",
        published=datetime(2024, 2, 27, tzinfo=UTC),
    )
    [paper] = merge_papers([a], [b])
    assert paper.signals["huggingface"].upvotes == 7
    assert paper.github_repo == "https://github.com/o/r"
    assert paper.published == datetime(2024, 2, 27, tzinfo=UTC)


def _hf_seen(upvotes, at=None, **signals) -> Paper:
    paper = _hf("2402.00002")
    paper.signals["huggingface"] = SourceSignals(
        source="huggingface", upvotes=upvotes, observed_at=at, **signals
    )
    return paper


def test_merge_same_source_later_record_wins_counts_without_timestamps():
    # a re-scrape (the later record) saw more upvotes: its counts win, both ways round
    [up] = merge_papers([_hf_seen(10, comments=2, github_stars=7)], [_hf_seen(50, comments=3)])
    assert up.signals["huggingface"].upvotes == 50
    assert up.signals["huggingface"].comments == 3
    assert up.signals["huggingface"].github_stars == 7  # the later record had no count
    [down] = merge_papers([_hf_seen(50)], [_hf_seen(10)])
    assert down.signals["huggingface"].upvotes == 10
    # the same inside one list: the later record of the list is the newer one
    [inside] = merge_papers([_hf_seen(10), _hf_seen(50)])
    assert inside.signals["huggingface"].upvotes == 50


def test_merge_same_source_later_observation_wins_counts():
    t1 = datetime(2024, 2, 29, 8, tzinfo=UTC)
    t2 = datetime(2024, 2, 29, 20, tzinfo=UTC)
    # a stale observation arriving last does not undo a newer one
    [kept] = merge_papers([_hf_seen(50, t2, comments=4)], [_hf_seen(10, t1, comments=1)])
    assert kept.signals["huggingface"].upvotes == 50
    assert kept.signals["huggingface"].comments == 4
    assert kept.signals["huggingface"].observed_at == t2
    [fresh] = merge_papers([_hf_seen(10, t1)], [_hf_seen(50, t2)])
    assert fresh.signals["huggingface"].upvotes == 50
    # naive timestamps are read as UTC; equal times: the later record wins
    [naive] = merge_papers([_hf_seen(50, datetime(2024, 2, 29, 21))], [_hf_seen(10, t2)])
    assert naive.signals["huggingface"].upvotes == 50
    [tie] = merge_papers([_hf_seen(50, t2)], [_hf_seen(10, t2)])
    assert tie.signals["huggingface"].upvotes == 10
    # only one record stamped: not comparable, the later record wins
    [one] = merge_papers([_hf_seen(50, t2)], [_hf_seen(10)])
    assert one.signals["huggingface"].upvotes == 10
    assert one.signals["huggingface"].observed_at == t2


def test_merge_same_source_lists_union_and_first_text_value_wins():
    a = _hf_seen(1, keywords=["attention"], github_repo="https://github.com/a/first")
    b = _hf_seen(2, keywords=["recall", "attention"], github_repo="https://github.com/b/later")
    b.signals["huggingface"].project_page = "https://later.example"
    b.signals["huggingface"].synthetic = True
    [paper] = merge_papers([a], [b])
    sig = paper.signals["huggingface"]
    assert sig.keywords == ["attention", "recall"]
    assert sig.github_repo == "https://github.com/a/first"
    assert sig.project_page == "https://later.example"  # filled from the later record
    assert sig.synthetic is True


def test_merge_does_not_mutate_inputs():
    hf, ax = _hf("2402.00002"), _ax("2402.00002")
    merge_papers([hf], [ax])
    assert set(hf.signals) == {"huggingface"} and set(ax.signals) == {"arxiv"}


def test_merge_of_nothing():
    assert merge_papers() == [] and merge_papers([], []) == []


# -- text hygiene at ingestion: invisible characters out, lengths capped ----------------------

BIDI, NUL, ZWSP = "\u202e", "\x00", "\u200b"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (f"Fast{BIDI}txet desrever", "Fasttxet desrever"),
        (f"Null{NUL}byte", "Nullbyte"),
        (f"zero{ZWSP}width", "zerowidth"),
        ("soft\u00adhyphen, word\u2060joiner, \ufeffBOM, \u2066isolate\u2069", None),
        ("tab\tand\nnewline kept as spaces", "tab and newline kept as spaces"),
        ("Übersicht: 注意力 and α-β, unchanged", "Übersicht: 注意力 and α-β, unchanged"),
    ],
)
def test_invisible_and_control_characters_are_stripped(raw, expected):
    cleaned = clean_title(raw)
    if expected is not None:
        assert cleaned == expected
    assert all(unicodedata.category(ch)[0] != "C" for ch in cleaned)
    assert strip_invisible(f"a{BIDI}b{NUL}c{ZWSP}d\n\te") == "abcd\n\te"


def test_titles_abstracts_and_author_lists_are_capped():
    title = clean_title("word " * 400)
    assert len(title) == MAX_TITLE_CHARS and title.endswith("…")
    abstract = clean_abstract("We propose " + "a thing " * 2000)
    assert len(abstract) == MAX_ABSTRACT_CHARS and abstract.endswith("…")
    authors = clean_authors([f"Author {i}" for i in range(500)] + [None, " ", "Late"])
    assert len(authors) == MAX_AUTHORS and authors[0] == "Author 0"
    (long_name,) = clean_authors(["N" * 1000])
    assert len(long_name) == MAX_AUTHOR_CHARS
    creator = ", ".join(f"Member {i}" for i in range(300)) + " and Last One"
    assert len(split_authors(creator)) == MAX_AUTHORS
    assert clean_title("Short title") == "Short title"  # within limits: unchanged


def _hf_day_with_hostile_text() -> list[dict]:
    """The recorded Hugging Face day, with the tricks of a hostile submission."""
    data = json.loads(fixture_bytes("hf_day_p0.json"))
    paper = data[0]["paper"]
    paper["title"] = f"Linear{ZWSP} attention{NUL} {BIDI}gnol oot " + "long " * 200
    paper["summary"] = f"We{NUL} show{BIDI} that " + "recall matters. " * 1000
    paper["authors"] = [
        {"_id": f"a{i}", "name": f"Author{ZWSP} {i}{NUL}", "hidden": False} for i in range(250)
    ] + [{"_id": "x", "name": "Q" * 5000, "hidden": False}]
    return data


def test_hf_papers_are_cleaned_and_capped_at_ingestion():
    (paper, *_) = parse_daily_papers(_hf_day_with_hostile_text(), date(2024, 2, 29))
    for text in (paper.title, paper.abstract, *paper.authors):
        assert not {BIDI, NUL, ZWSP} & set(text)
    assert paper.title.startswith("Linear attention gnol oot long")
    assert len(paper.title) == MAX_TITLE_CHARS
    assert paper.abstract.startswith("We show that recall matters.")
    assert len(paper.abstract) == MAX_ABSTRACT_CHARS
    assert len(paper.authors) == MAX_AUTHORS and paper.authors[:2] == ["Author 0", "Author 1"]


def test_arxiv_papers_are_cleaned_and_capped_at_ingestion():
    # XML 1.0 cannot carry NUL; bidi overrides and zero-width characters it can
    rss = fixture_bytes("arxiv_cs_LG.rss").decode()
    rss = rss.replace(
        "<title>Stochastic $\\mathcal{O}(n)$ Attention with",
        f"<title>Stochastic{ZWSP} $\\mathcal{{O}}(n)$ &#x202E;Attention with",
        1,
    ).replace(
        "<dc:creator>Jane Doe, John Smith</dc:creator>",
        "<dc:creator>Jane&#x200B; Doe, John&#x202E; Smith, "
        + ", ".join(f"Coauthor {i}" for i in range(150))
        + "</dc:creator>",
        1,
    )
    _, items = parse_feed(rss.encode(), "cs.LG")
    paper = next(i.paper for i in items if i.paper.arxiv_id == "2402.18510")
    assert paper.title == "Stochastic O(n) Attention with Random Features"
    assert paper.authors[:2] == ["Jane Doe", "John Smith"]
    assert len(paper.authors) == MAX_AUTHORS
