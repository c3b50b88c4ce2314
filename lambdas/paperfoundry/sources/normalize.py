"""Text and identifier clean-up shared by the sources (pure functions, no I/O).

- `collapse_ws`: one space between words, no leading/trailing space (titles arrive with
  hard line breaks from arXiv).
- `latex_to_text`: `$\\mathcal{O}(n)$` -> "O(n)", `\\textit{fast}` -> "fast", `R\\&D` -> "R&D",
  via pylatexenc. Text without LaTeX markers is left untouched, and a bare `%` (percentages
  are everywhere in abstracts) is escaped first, since LaTeX would read it as a comment.
- `parse_arxiv_ref`: "arXiv:2402.18668v2", an abs/pdf URL or an OAI id -> ("2402.18668", 2).
- `is_withdrawn`: arXiv's withdrawal notices in abstracts and comments.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from ..models import split_arxiv_id

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


def collapse_ws(text: str | None) -> str:
    return " ".join((text or "").split())


@lru_cache(maxsize=1)
def _converter():  # imported lazily: pylatexenc builds its tables on first use
    from pylatexenc.latex2text import LatexNodes2Text

    return LatexNodes2Text(math_mode="text", strict_latex_spaces=True)


def latex_to_text(text: str | None) -> str:
    """LaTeX fragments to plain text; whitespace collapsed. Never raises on odd input."""
    text = text or ""
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
    return latex_to_text(text)


def clean_abstract(text: str | None) -> str:
    return latex_to_text(text)


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
    names: list[str] = []
    for part in text.split(","):
        for name in re.split(r"\s+and\s+", part.strip()):
            name = name.strip()
            if name:
                names.append(name)
    return names
