"""LaTeX clean-up that keeps the words: cases from real titles and abstracts that the
previous clean-up emptied or mangled (issue 12, part 5)."""

from __future__ import annotations

import pytest
from paperfoundry.sources.normalize import clean_abstract, clean_title, latex_to_text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # text-style macros keep their argument (arXiv 2508.13915: `\textsf{TS-Agent}`)
        (r"\textsf{TS-Agent}: a time series agent", "TS-Agent: a time series agent"),
        (r"\texttt{Foo}", "Foo"),
        (r"\textsc{FastCuRL} and \textsl{x}", "FastCuRL and x"),
        (r"\textbf{\emph{bold}} \textup{up} \textnormal{n}", "bold up n"),
        (r"$\mathrm{d}x$ and \mathrm{Re} in text", "dx and Re in text"),
        # unknown macros: the argument, else the name
        (r"with \method even", "with method even"),
        (r"we introduce \GitChameleon{}, a dataset", "we introduce GitChameleon, a dataset"),
        (r"our \sys{Goose} model", "our Goose model"),
        (r"\name\ both", "name both"),
        (r"$\bm{x}$ and $\mathscr{L}$", "x and ℒ"),
        # abbreviation macros of paper templates
        (r"(\ie, MOFA) and (\eg 1.67x) \etc.", "(i.e., MOFA) and (e.g. 1.67x) etc."),
        # currency: a `$` that does not open math
        ("$731,685 of holdings", "$731,685 of holdings"),
        ("costs $5 and $10 for $x$ units", "costs $5 and $10 for x units"),
        ("Earn $1 Million", "Earn $1 Million"),
        ("for 1$: cheap", "for 1$: cheap"),
        (r"valued at \1 million", "valued at $1 million"),
        (r"only \$0.34 per task", "only $0.34 per task"),
        # math that looks like a price still is math
        (r"$1$-Lipschitz and $2\times$ faster", "1-Lipschitz and 2× faster"),
        (r"$\sim$11\% faster", "∼11% faster"),
        # spacing commands go with their arguments
        (r"R\mkern-2mu L", "R L"),
        (r"a\kern 0.5em b\hspace{2pt}c\hspace*{1em}d", "a bcd"),
        (r"x\,y\;z\!w\quad v\qquad u", "x y zw v u"),
        # sizes of delimiters and font switches carry no text
        (r"$\left(x\right)$ $\big(y\big)$ {\it vs.} {\bf b}", "(x) (y) vs. b"),
        # scripts
        ("SL^{2}A-INR and X^{2}-Gaussian", "SL²A-INR and X²-Gaussian"),
        (r"$O(n^{2})$, $2^{18}$, $n^{1+o(1)}$, $L_{1,2}$", "O(n²), 2¹⁸, n^(1+o(1)), L_(1,2)"),
        (r"full-360^{\circ} coverage", "full-360° coverage"),
        # links
        (r"\url{https://x.io/a_b%20c}, \href{https://y.io}{here}", "https://x.io/a_b%20c, here (https://y.io)"),
        ("code: https://github.com/a/b{https://github.com/a/b}.", "code: https://github.com/a/b."),
        ("at https://x.io/p{this https URL}.", "at https://x.io/p."),
        # upstream damage: a macro name without its backslash
        ("via texttt{D}ual-texttt{H}ead texttt{O}ptimization", "via Dual-Head Optimization"),
        # degrees in text, the function in math
        (r"360{\deg} scenes, $\deg(v)$", "360° scenes, deg(v)"),
    ],
)  # fmt: skip
def test_latex_keeps_the_words(raw, expected):
    assert latex_to_text(raw) == expected


def test_a_macros_rule_failing_on_odd_input_does_not_lose_the_text():
    # `\href{...}{...}` parsed with one argument used to raise inside pylatexenc, and the
    # whole abstract came back raw (arXiv 2505.14464: `\href{url}.`, the "." is the label)
    text = latex_to_text(r"Data: \href{https://h.co/a}. More \textit{text} follows.")
    assert text == "Data: https://h.co/a More text follows."


@pytest.mark.parametrize(
    "raw", [r"\texttt{}", r"\textsf{}", "$$", r"\vspace{1em}", "{}", r"\color{red}"]
)
def test_clean_up_never_empties_a_title(raw):
    assert clean_title(raw) != ""


def test_a_title_that_is_only_a_text_style_macro_keeps_its_text():
    assert clean_title(r"\texttt{Foo}") == "Foo"
    assert clean_title(r"$\texttt{Foo}$: Fast Bar") == "Foo: Fast Bar"


def test_title_braces_are_markup_abstract_set_braces_stay():
    assert clean_title("{ChartIR}: Charts to Code") == "ChartIR: Charts to Code"
    assert clean_abstract("ternary weights in {-1, 0, 1}.") == "ternary weights in {-1, 0, 1}."


def test_plain_text_is_left_alone():
    plain = "50% of 3 {a, b} sets cost 5$ and 6 USD; see https://x.io/~u_v?q=1&r=2#s"
    assert latex_to_text(plain) == plain
