"""Text and identifier clean-up shared by the sources (pure functions, no I/O).

- `strip_invisible`: drop control and format characters (NUL, bidi overrides such as
  U+202E, zero-width spaces and joiners, soft hyphens): they render as nothing or reorder
  the text around them, so they can hide or disguise text in the report, the digest and
  the prompts. Every cleaner below applies it.
- `collapse_ws`: one space between words, no leading/trailing space (titles arrive with
  hard line breaks from arXiv).
- `clean_title`, `clean_abstract`, `clean_authors`: the above plus length caps
  (MAX_TITLE_CHARS, MAX_ABSTRACT_CHARS, MAX_AUTHOR_CHARS per name, MAX_AUTHORS names), so
  one odd record cannot bloat a DynamoDB item, the report or a prompt.
- `latex_to_text`: `$\\mathcal{O}(n)$` -> "O(n)", `\\textit{fast}` -> "fast", `R\\&D` -> "R&D",
  via pylatexenc. Text without LaTeX markers is left untouched, and a bare `%` (percentages
  are everywhere in abstracts) is escaped first, since LaTeX would read it as a comment.
- `parse_arxiv_ref`: "arXiv:2402.18668v2", an abs/pdf URL or an OAI id -> ("2402.18668", 2).
- `is_withdrawn`: arXiv's withdrawal notices in abstracts and comments.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

from ..models import split_arxiv_id

MAX_TITLE_CHARS = 300
MAX_ABSTRACT_CHARS = 5000
MAX_AUTHOR_CHARS = 200
MAX_AUTHORS = 100

_LATEX_MARKERS = re.compile(r"[\\$]")
_UNESCAPED_PERCENT = re.compile(r"(?<!\\)%")
_MATH_ALNUM = re.compile("[\U0001d400-\U0001d7ff]")  # 𝒪, 𝐱, ... from \mathcal, \mathbf
_ARXIV_REF = re.compile(
    r"(?:arxiv\.org/(?:abs|pdf)/|oai:arxiv\.org:|arxiv:\s*)?"
    r"(?P<ref>\d{4}\.\d{4,5}(?:v\d+)?|[a-z\-]+(?:\.[A-Z]{2})?/\d{7}(?:v\d+)?)",
    re.IGNORECASE,
)
_WITHDRAWN = re.compile(
    r"\b(?:this\s+(?:paper|article|submission|manuscript|work|preprint)\s+(?:has\s+been|is|was)"
    r"\s+withdrawn|withdrawn\s+by\s+(?:the\s+)?(?:author|arxiv\s+admin)|"
    r"(?:paper|article|submission)\s+withdrawn\b)",
    re.IGNORECASE,
)


def strip_invisible(text: str | None) -> str:
    """`text` without control characters (category Cc, except newline and tab) and
    format/other invisible ones (Cf: bidi controls, zero-width, soft hyphen; Cs, Co, Cn:
    lone surrogates, private use, unassigned)."""
    text = text or ""
    if text.isascii() and text.isprintable():
        return text  # the common case, without a per-character walk
    return "".join(
        ch for ch in text if ch in "\n\t" or not unicodedata.category(ch).startswith("C")
    )


def collapse_ws(text: str | None) -> str:
    return " ".join(strip_invisible(text).split())


def cap(text: str, limit: int) -> str:
    """At most `limit` characters; a cut text ends with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@lru_cache(maxsize=1)
def _converter():  # imported lazily: pylatexenc builds its tables on first use
    from pylatexenc.latex2text import LatexNodes2Text

    return LatexNodes2Text(math_mode="text", strict_latex_spaces=True)


def latex_to_text(text: str | None) -> str:
    """LaTeX fragments to plain text; whitespace collapsed. Never raises on odd input."""
    text = strip_invisible(text)
    if not _LATEX_MARKERS.search(text):
        return collapse_ws(text)
    escaped = _UNESCAPED_PERCENT.sub(r"\\%", text)
    try:
        converted = _converter().latex_to_text(escaped)
    except Exception:  # pylatexenc is tolerant, but a malformed abstract must not kill a day
        return collapse_ws(text)
    converted = _MATH_ALNUM.sub(lambda m: unicodedata.normalize("NFKC", m.group()), converted)
    return collapse_ws(converted)


def clean_title(text: str | None) -> str:
    # the raw text is cut first (generously: LaTeX shrinks) so the converter's work is bounded
    return cap(latex_to_text((text or "")[: 10 * MAX_TITLE_CHARS]), MAX_TITLE_CHARS)


def clean_abstract(text: str | None) -> str:
    return cap(latex_to_text((text or "")[: 10 * MAX_ABSTRACT_CHARS]), MAX_ABSTRACT_CHARS)


def clean_authors(names: Iterable[str | None]) -> list[str]:
    """Author names cleaned and capped: at most MAX_AUTHORS of them (collaborations list
    thousands), each at most MAX_AUTHOR_CHARS."""
    cleaned: list[str] = []
    for name in names:
        name = collapse_ws(name)
        if name:
            cleaned.append(cap(name, MAX_AUTHOR_CHARS))
            if len(cleaned) == MAX_AUTHORS:
                break
    return cleaned


def parse_arxiv_ref(raw: str | None) -> tuple[str, int | None]:
    """Any common spelling of an arXiv reference -> (bare id, version or None).

    Raises ValueError when `raw` holds no arXiv id.
    """
    value = (raw or "").strip()
    match = _ARXIV_REF.search(value)
    if not match:
        raise ValueError(f"not an arXiv id: {raw!r}")
    return split_arxiv_id(match.group("ref"))


def is_withdrawn(abstract: str | None, comments: str | None = None) -> bool:
    """True for arXiv's withdrawal notices ("This paper has been withdrawn by the author...")."""
    return any(_WITHDRAWN.search(text or "") for text in (abstract, comments))


def split_authors(creator: str | None) -> list[str]:
    """arXiv `dc:creator` ("A, B, C" or the older "A, B and C") -> ["A", "B", "C"]."""
    text = collapse_ws(latex_to_text(creator)) if creator else ""
    if not text:
        return []
    return clean_authors(
        name for part in text.split(",") for name in re.split(r"\s+and\s+", part.strip())
    )
