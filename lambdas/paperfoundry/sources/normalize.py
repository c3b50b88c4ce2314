"""Text and identifier clean-up shared by the sources (pure functions, no I/O).

- `strip_invisible`: drop control and format characters (NUL, bidi overrides such as
  U+202E, zero-width spaces and joiners, soft hyphens): they render as nothing or reorder
  the text around them, so they can hide or disguise text in the report, the digest and
  the prompts. Every cleaner below applies it.
- `collapse_ws`: one space between words, no leading/trailing space (titles arrive with
  hard line breaks from arXiv).
- `clean_title`, `clean_abstract`, `clean_authors`: the above plus length caps
  (MAX_TITLE_CHARS, MAX_ABSTRACT_CHARS, MAX_AUTHOR_CHARS per name, MAX_AUTHORS names), so
  one odd record cannot bloat a DynamoDB item, the report or a prompt. Clean-up never
  empties a title: if nothing is left, the raw title is kept with its markup stripped.
- `latex_to_text`: LaTeX fragments to plain text via pylatexenc, with the rules abstracts
  need (see `_Converter`): `$\\mathcal{O}(n)$` -> "O(n)"; text-style and unknown macros
  keep their argument (`\\textsf{TS-Agent}` -> "TS-Agent", `\\sys{Foo}` -> "Foo"); an
  unknown macro without one keeps its name (`with \\method even` -> "with method even");
  spacing commands and their dimensions go (`\\mkern-2mu`, `\\hspace{1em}`, `\\!`), thin
  and wide spaces become one space; a `$` that does not delimit math is a dollar sign
  ("$731,685 of holdings", `_escape_currency`); `x^{2}` -> "x²"; URLs pass untouched. Text
  without LaTeX markers is left as it is (bare `%` is everywhere in abstracts), except
  for damage seen upstream in real Hugging Face data: `texttt{D}` (backslash lost),
  `\\1 million` (`\\$1` eaten by a regex), `https://x.io{this https URL}` (a stripped
  `\\href`), `SL^{2}A`.
- `parse_arxiv_ref`: "arXiv:2402.18668v2", an abs/pdf URL or an OAI id -> ("2402.18668", 2).
- `is_withdrawn`: arXiv's withdrawal notices in abstracts and comments.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from ..models import split_arxiv_id

MAX_TITLE_CHARS = 300
MAX_ABSTRACT_CHARS = 5000
MAX_AUTHOR_CHARS = 200
MAX_AUTHORS = 100

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


# --- LaTeX -> text: repairs and rules applied around pylatexenc --------------------------------

_LATEX_MARKERS = re.compile(r"[\\$]")
_TITLE_MARKERS = re.compile(r"[\\${}]")  # a title has no set notation: its braces are markup
_UNESCAPED_PERCENT = re.compile(r"(?<!\\)%")
_ESCAPED_DOLLAR = re.compile(r"\\\$")
_MATH_ALNUM = re.compile("[\U0001d400-\U0001d7ff]")  # 𝒪, 𝐱, ... from \mathcal, \mathbf
_BACKSLASH_LOST = re.compile(
    r"(?<![\\A-Za-z])(text(?:tt|bf|it|sf|sc|rm)|math(?:bf|rm|it|cal|bb|sf|tt)|boldsymbol|emph)\{"
)
_DOLLAR_EATEN = re.compile(r"(?<!\\)\\(?=\d)")
_DIMENSION = (
    r"[-+]?\s*(?:\d+(?:\.\d*)?|\.\d+)\s*(?:mu|pt|em|ex|cm|mm|in|bp|pc|sp|dd|cc)(?![A-Za-z])"
)
_KERN = re.compile(
    rf"\\(?:mkern|kern|mskip|hskip|vskip|mspace)\s*(?:\{{\s*{_DIMENSION}\s*\}}|{_DIMENSION})"
)
_URL_CHARS = r"[^\s{}\\$<>\"']+"
_URL = re.compile(rf"https?://{_URL_CHARS}")
_STRIPPED_HREF = re.compile(rf"(https?://{_URL_CHARS})\{{([^{{}}]*)\}}")
_SCRIPT_GROUP = re.compile(r"([\^_])\{([^{}\\$]*)\}")
_PROSE_WORD = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{3,}")
_DOUBLED_DOT = re.compile(r"\b(e\.g|i\.e|etc|et al|vs|w\.r\.t|cf)\.\.")
_URL_SLOT = "ZQURL{}QZ"  # letters and digits: LaTeX leaves them alone
_URL_SLOTS = re.compile(r"ZQURL(\d+)QZ")
_SUPERSCRIPTS = dict(zip("0123456789+-=()ni", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿⁱ", strict=True))
_SUBSCRIPTS = dict(zip("0123456789+-=()", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎", strict=True))


def _script(marker: str, text: str) -> str:
    """`^{2}` -> "²", `^{\\circ}` -> "°", `_{ext}` -> "_ext", `^{1+o(1)}` -> "^(1+o(1))"."""
    text = text.strip()
    forms = _SUPERSCRIPTS if marker == "^" else _SUBSCRIPTS
    if not text:
        return ""
    if all(ch in forms for ch in text):
        return "".join(forms[ch] for ch in text)
    if marker == "^" and text in ("∘", "circ"):
        return "°"
    return marker + (text if text.isalnum() else f"({text})")


def _href_repair(match: re.Match[str]) -> str:
    """`https://x.io/{this https URL}` (an `\\href` whose macro was stripped) -> the URL."""
    url, label = match.group(1), collapse_ws(match.group(2))
    bare = url.split("://", 1)[1].rstrip("/.")
    if not label or "://" in label or re.fullmatch(r"this https? URL", label, re.IGNORECASE):
        return url
    if bare in label or label.rstrip("/.") in bare:
        return url
    return f"{url} ({label})"


def _escape_currency(text: str) -> str:
    r"""Escape each `$` that does not delimit math, so that it reads as a dollar sign.

    Pandoc's rule: an opening `$` has a non-space character right after it, a closing one a
    non-space character right before it. Narrowed for prices: an opener followed by a digit
    ("$731,685 of holdings", "$5 and $10") pairs only with a closer not followed by a digit
    (unless the span holds math: `\`, `^`, `_`, `{`), and never across a prose word.
    """
    marks = [m for m in re.finditer(r"\\.|\$\$?", text, re.DOTALL) if m.group()[0] == "$"]
    escape: list[int] = []
    k = 0
    while k < len(marks):
        opener = marks[k]
        closer = None
        if opener.group() == "$$":
            closer = next((j for j in range(k + 1, len(marks)) if marks[j].group() == "$$"), None)
        elif opener.end() < len(text) and not text[opener.end()].isspace():
            closer = _closer(text, marks, k)
        if closer is None:
            escape.extend(range(opener.start(), opener.end()))
            k += 1
        else:
            k = closer + 1
    for pos in reversed(escape):
        text = text[:pos] + "\\" + text[pos:]
    return text


def _closer(text: str, marks: list[re.Match[str]], k: int) -> int | None:
    """Index in `marks` of the `$` that closes the math opened by `marks[k]`, if any."""
    after = marks[k].end()
    price = text[after].isdigit()
    for j in range(k + 1, len(marks)):
        mark = marks[j]
        if mark.group() != "$" or text[mark.start() - 1].isspace():
            continue
        if price:
            span = text[after : mark.start()]
            followed_by_digit = text[mark.end() : mark.end() + 1].isdigit()
            if _PROSE_WORD.search(span) or (followed_by_digit and not re.search(r"[\\^_{]", span)):
                continue
        return j
    return None


def _repair(text: str) -> str:
    """Damage seen upstream, fixed before any parsing."""
    text = _BACKSLASH_LOST.sub(r"\\\1{", text)
    text = _DOLLAR_EATEN.sub(r"\\$", text)
    return _STRIPPED_HREF.sub(_href_repair, text)


def latex_to_text(text: str | None, *, braces: bool = False) -> str:
    """LaTeX fragments to plain text; whitespace collapsed. Never raises on odd input.

    Text without a backslash or a math `$` (prices are not math) is taken as plain: only
    `^{..}`/`_{..}` are rendered. With `braces` (titles), `{` or `}` also make it LaTeX."""
    text = _repair(strip_invisible(text))
    urls: list[str] = []

    def park(match: re.Match[str]) -> str:
        urls.append(match.group())
        return _URL_SLOT.format(len(urls) - 1)

    parked = _URL.sub(park, _KERN.sub("", text))
    latex = _escape_currency(parked)
    markers = _TITLE_MARKERS if braces else _LATEX_MARKERS
    if "\\" in parked or markers.search(_ESCAPED_DOLLAR.sub("", latex)):
        try:
            converted = _converter().convert(_UNESCAPED_PERCENT.sub(r"\\%", latex))
        except Exception:  # pylatexenc is tolerant, but a malformed abstract must not kill a day
            converted = _strip_markup(latex)
        converted = _MATH_ALNUM.sub(lambda m: unicodedata.normalize("NFKC", m.group()), converted)
    else:  # plain text (prices alone are not LaTeX): left as it is, but for `^{..}`/`_{..}`
        converted = _SCRIPT_GROUP.sub(
            lambda m: _script(m.group(1), m.group(2)), _ESCAPED_DOLLAR.sub("$", latex)
        )
    converted = _URL_SLOTS.sub(lambda m: urls[int(m.group(1))], converted)
    return _DOUBLED_DOT.sub(r"\1.", collapse_ws(converted))


def _strip_markup(text: str) -> str:
    """The crude fallback: macro names kept, delimiters dropped."""
    text = re.sub(r"\\([A-Za-z]+)\s*", r"\1 ", text)
    return re.sub(r"\\(?=[^A-Za-z])|[${}]", "", text)


# --- pylatexenc, configured -----------------------------------------------------------------

# font switches, sizes, math styles, delimiter sizes, layout: no text of their own
_SILENT = (
    "bf it em rm sf tt sc sl up md bfseries itshape mdseries rmfamily sffamily ttfamily "
    "scshape upshape slshape normalfont boldmath unboldmath tiny scriptsize footnotesize small "
    "normalsize large Large LARGE huge Huge displaystyle textstyle scriptstyle "
    "scriptscriptstyle limits nolimits left right middle big Big bigg Bigg bigl bigr Bigl Bigr "
    "biggl biggr Biggl Biggr bigm Bigm noindent indent centering raggedright raggedleft hfill "
    "vfill hfil vfil smallskip medskip bigskip protect relax xspace ignorespaces nobreak "
    "allowbreak leavevmode unskip nonumber notag footnotemark ! / @"
).split()
_SPACES = "thinspace negthinspace enspace enskip medspace thickspace space par newline cr".split()
_SYMBOLS = {
    "gets": "←", "iff": "⇔", "ne": "≠", "neg": "¬", "lnot": "¬", "land": "∧", "lor": "∨",
    "colon": ":", "cdotp": "·", "coloneqq": ":=", "checkmark": "✓", "textless": "<",
    "textgreater": ">", "degree": "°", "euro": "€", "pounds": "£", "dollar": "$", "yen": "¥",
    "cent": "¢", "copyright": "©", "trademark": "™", "hdots": "…", "|": "‖", "S": "§",
}  # fmt: skip
_ABBREVIATIONS = {  # macros of conference paper templates
    "eg": "e.g.", "ie": "i.e.", "etc": "etc.", "etal": "et al.", "vs": "vs.", "wrt": "w.r.t.",
    "cf": "cf.", "aka": "a.k.a.",
}  # fmt: skip
# arguments the default parser does not know of (without them, `\href{u}{t}` fails and
# `\citep{key}` leaves "key")
_ARGS = {
    "dfrac": "{{", "tfrac": "{{", "binom": "{{", "overset": "{{", "underset": "{{",
    "stackrel": "{{", "href": "[{{", "textcolor": "[{{", "colorbox": "[{{", "color": "[{",
    "textsuperscript": "{", "textsubscript": "{", "mathop": "{", "mathbin": "{", "mathrel": "{",
    "bm": "{", "boldsymbol": "{", "mathbbm": "{", "mathds": "{", "operatorname": "*{",
    "mbox": "{", "hbox": "{", "fbox": "{", "textnormal": "{", "phantom": "{", "vphantom": "{",
    "citep": "*[[{", "citet": "*[[{", "citealp": "*[[{", "citeauthor": "*[[{",
    "parencite": "*[[{", "textcite": "*[[{", "nocite": "{",
}  # fmt: skip
_LAST_ARG = (
    "overset underset stackrel textcolor colorbox mathop mathbin mathrel bm boldsymbol "
    "mathbbm mathds operatorname mbox hbox fbox textnormal url"
).split()
_DROPPED = "color phantom vphantom hphantom label citep citet citealp citeauthor cite".split()
_DROPPED += "parencite textcite nocite".split()


def _arg_texts(node: Any, l2tobj: Any) -> list[str]:
    """The text of each mandatory (`{`) argument of a parsed macro."""
    argd = node.nodeargd
    if not argd or not argd.argnlist:
        return []
    kinds = getattr(argd, "argspec", "") or ""
    return [
        l2tobj._groupnodecontents_to_text(arg)
        for kind, arg in zip(kinds, argd.argnlist, strict=False)
        if kind == "{" and arg is not None
    ]


def _last_arg(node: Any, l2tobj: Any) -> str:
    texts = _arg_texts(node, l2tobj)
    return texts[-1] if texts else ""


def _two_args(node: Any, l2tobj: Any) -> tuple[str, str]:
    texts = [*_arg_texts(node, l2tobj), "", ""]
    return texts[0].strip(), texts[1].strip()


def _href(node: Any, l2tobj: Any) -> str:
    url, label = _two_args(node, l2tobj)
    if label == url or not any(ch.isalnum() for ch in label):
        return url
    return f"{label} ({url})"


def _frac(node: Any, l2tobj: Any) -> str:
    return "{}/{}".format(*_two_args(node, l2tobj))


def _binom(node: Any, l2tobj: Any) -> str:
    return "C({}, {})".format(*_two_args(node, l2tobj))


def _superscript(node: Any, l2tobj: Any) -> str:
    return _script("^", _last_arg(node, l2tobj))


def _subscript(node: Any, l2tobj: Any) -> str:
    return _script("_", _last_arg(node, l2tobj))


def _deg(node: Any, l2tobj: Any) -> str:  # `360{\deg}` in text means degrees; in math, the function
    return "deg" if l2tobj.math_depth else "°"


@lru_cache(maxsize=1)
def _converter() -> Any:  # pylatexenc is imported lazily: it builds its tables on first use
    from pylatexenc import latex2text, latexwalker, macrospec
    from pylatexenc.latex2text import MacroTextSpec

    walker_db = latexwalker.get_default_latex_context_db()
    walker_db.add_context_category(
        "paperfoundry",
        macros=[macrospec.MacroSpec(name, args) for name, args in _ARGS.items()],
        prepend=True,
    )
    specs = [
        *(MacroTextSpec(name, simplify_repl="") for name in _SILENT + _DROPPED),
        *(MacroTextSpec(name, simplify_repl=" ") for name in _SPACES),
        *(MacroTextSpec(name, simplify_repl=text) for name, text in _SYMBOLS.items()),
        *(MacroTextSpec(name, simplify_repl=text) for name, text in _ABBREVIATIONS.items()),
        *(MacroTextSpec(name, simplify_repl=_last_arg) for name in _LAST_ARG),
        MacroTextSpec("frac", simplify_repl=_frac),
        MacroTextSpec("dfrac", simplify_repl=_frac),
        MacroTextSpec("tfrac", simplify_repl=_frac),
        MacroTextSpec("binom", simplify_repl=_binom),
        MacroTextSpec("href", simplify_repl=_href),
        MacroTextSpec("deg", simplify_repl=_deg),
        MacroTextSpec("textsuperscript", simplify_repl=_superscript),
        MacroTextSpec("textsubscript", simplify_repl=_subscript),
    ]  # fmt: skip
    text_db = latex2text.get_default_latex_context_db()
    text_db.add_context_category("paperfoundry", macros=specs, prepend=True)

    class Converter(latex2text.LatexNodes2Text):
        """pylatexenc's converter with four changes: a macro it has no rule for keeps its
        argument text, or its name when it has none (`\\method{}` -> "method"); a braced
        group after `^`/`_` is a script (`_script`); a space after a bare word macro stays
        (`_keeps_space`); a macro's rule that fails on odd input falls back to its argument
        text instead of failing the whole text."""

        def __init__(self) -> None:
            super().__init__(latex_context=text_db, math_mode="text", strict_latex_spaces=True)
            self.math_depth = 0

        def convert(self, latex: str) -> str:
            walker = latexwalker.LatexWalker(latex, latex_context=walker_db, tolerant_parsing=True)
            return self.nodelist_to_text(walker.get_latex_nodes()[0])

        def math_node_to_text(self, node: Any) -> str:
            self.math_depth += 1
            try:
                return super().math_node_to_text(node)
            finally:
                self.math_depth -= 1

        def _unknown(self, node: Any) -> bool:
            return (
                node is not None
                and node.isNodeType(latexwalker.LatexMacroNode)
                and self.latex_context.get_macro_spec(node.macroname) is None
            )

        def nodelist_to_text(self, nodelist: Any) -> str:
            parts: list[str] = []
            nodes = [n for n in nodelist or () if n is not None]
            i = 0
            while i < len(nodes):
                node = nodes[i]
                following = nodes[i + 1] if i + 1 < len(nodes) else None
                is_group = following is not None and following.isNodeType(
                    latexwalker.LatexGroupNode
                )
                if self._unknown(node) and not _arg_texts(node, self) and is_group:
                    # `\sys{Foo}` -> "Foo", `\GitChameleon{}` -> "GitChameleon"
                    inner = self._groupnodecontents_to_text(following)
                    parts.append(inner if inner.strip() else self._name(node))
                    i += 2
                    continue
                if (
                    node.isNodeType(latexwalker.LatexGroupNode)
                    and parts
                    and parts[-1].endswith(("^", "_"))
                ):
                    marker = parts[-1][-1]
                    parts[-1] = parts[-1][:-1]
                    parts.append(_script(marker, self._groupnodecontents_to_text(node)))
                else:
                    parts.append(self.node_to_text(node))
                    if self._keeps_space(node, parts[-1]):
                        parts.append(" ")
                i += 1
            return "".join(parts)

        def _keeps_space(self, node: Any, text: str) -> bool:
            """A space after a bare word macro stays (`\\method even`, `\\eg 1.67`, `\\ldots
            and`; in math `n \\log n`), where LaTeX would eat it; `Sk\\l odowska` still
            joins (short names are letters and accents)."""
            return (
                node.isNodeType(latexwalker.LatexMacroNode)
                and bool(node.macro_post_space)
                and (len(node.macroname) > 2 or node.macroname in _ABBREVIATIONS)
                and not (node.nodeargd and node.nodeargd.argnlist)
                and bool(text)
                and (not self.math_depth or text[-1].isalnum())
            )

        def _name(self, node: Any) -> str:
            return node.macroname if node.macroname.isalpha() else ""

        def macro_node_to_text(self, node: Any) -> str:
            if self.latex_context.get_macro_spec(node.macroname) is None:
                texts = _arg_texts(node, self)  # `\textsf{TS-Agent}`: parsed, but no rule
                return "".join(texts) if texts else self._name(node)
            try:
                return super().macro_node_to_text(node)
            except Exception:
                return "".join(_arg_texts(node, self))

    return Converter()


def clean_title(text: str | None) -> str:
    """A clean title, never empty when the raw one has text: if clean-up leaves nothing
    (`\\texttt{}`-only markup gone wrong), the raw title with its markup stripped."""
    raw = (text or "")[: 10 * MAX_TITLE_CHARS]  # cut first (LaTeX shrinks): bounded work
    title = latex_to_text(raw, braces=True) or collapse_ws(_strip_markup(raw)) or collapse_ws(raw)
    return cap(title, MAX_TITLE_CHARS)


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
