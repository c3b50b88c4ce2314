"""The background corpus: how common each term is in ML papers at large.

A day's papers alone are a poor reference for what is common (a Hugging Face day has ~15
papers), so the ranking weighs terms against a table shipped with the package,
`data/background.json`: for each term (unigram or bigram, `relevance.tokens`) its
document frequency and its mean weight over the corpus's TF-IDF vectors. The document
frequencies give the IDF; the mean weights give the background centroid, so the mean fit
of a typical paper to a profile is one dot product (the mean of dot products is the dot
product with the mean), without shipping any paper.

`benchmarks/ranking_eval.py --write-background OUT` builds it from the recorded days of
the Hugging Face Daily Papers API, without the group's saved papers.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property, lru_cache
from importlib import resources
from itertools import repeat
from operator import mul, truediv

from .relevance import SparseVector, tokens

RESOURCE = "background.json"
MIN_DF = 3  # terms in fewer documents are not stored: they get the IDF of an unseen term


@dataclass(frozen=True, eq=False)  # hashed by identity: a cache key
class Background:
    n_docs: int
    df: dict[str, int]
    mean: SparseVector  # mean L2-normalised TF-IDF vector of the corpus

    def idf(self, term: str) -> float:
        """IDF of a term of the table; 0 for a term it lacks (too rare to weigh: rare
        terms at a high IDF would dominate every vector's norm)."""
        return self.idf_table.get(term, 0.0)

    @cached_property
    def idf_table(self) -> dict[str, float]:
        return {t: idf_value(df, self.n_docs) for t, df in self.df.items()}


def idf_value(df: int, n_docs: int) -> float:
    """Smoothed IDF (as scikit-learn's `smooth_idf`): ln((1 + n) / (1 + df)) + 1."""
    return math.log((1 + n_docs) / (1 + df)) + 1.0


def build_background(texts: Iterable[str], min_df: int | None = None) -> Background:
    min_df = MIN_DF if min_df is None else min_df
    docs = [Counter(tokens(t)) for t in texts]
    df: Counter[str] = Counter()
    for counts in docs:
        df.update(counts.keys())
    n = len(docs)
    kept = {t: c for t, c in df.items() if c >= min_df}
    idf = {t: idf_value(c, n) for t, c in kept.items()}
    total: Counter[str] = Counter()
    for counts in docs:
        vec = {t: (1 + math.log(c)) * idf[t] for t, c in counts.items() if t in idf}
        norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
        total.update({t: v / norm for t, v in vec.items()})
    mean = {t: v / max(n, 1) for t, v in total.items()}
    return Background(n_docs=n, df=kept, mean=mean)


def to_json(background: Background, provenance: str) -> str:
    terms = {t: [background.df[t], float(f"{background.mean.get(t, 0.0):.4g}")]
             for t in sorted(background.df)}  # fmt: skip
    doc = {"provenance": provenance, "n_docs": background.n_docs, "min_df": MIN_DF}
    return json.dumps({**doc, "terms": terms}, ensure_ascii=False, separators=(",", ":"))


def from_json(text: str) -> Background:
    data = json.loads(text)
    terms = data["terms"]
    return Background(
        n_docs=int(data["n_docs"]),
        df={t: int(v[0]) for t, v in terms.items()},
        mean={t: float(v[1]) for t, v in terms.items() if v[1]},
    )


@lru_cache(maxsize=1)
def load_background() -> Background:
    """The bundled table (read once per process; only `build_context` needs it)."""
    return from_json(resources.files("paperfoundry.data").joinpath(RESOURCE).read_text())


def centroid_fit(vec: SparseVector, background: Background) -> float:
    """Mean over the background corpus of `vec`·doc: a typical paper's score against `vec`."""
    return sum(v * background.mean.get(t, 0.0) for t, v in vec.items())


def vectorize_with(text: str, background: Background) -> SparseVector:
    """`text` as a unit TF-IDF vector (sublinear TF) over the table's terms: one pass over
    its tokens, the terms the table lacks dropped first (most of a paper's bigrams)."""
    idf = background.idf_table
    counts = Counter(filter(idf.__contains__, tokens(text)))
    if max(counts.values(), default=0) < len(_SUBLINEAR):
        tf = map(_SUBLINEAR.__getitem__, counts.values())
    else:
        tf = (1 + math.log(c) for c in counts.values())
    weights = list(map(mul, tf, map(idf.__getitem__, counts)))
    norm = math.hypot(*weights) or 1.0
    return dict(zip(counts, map(truediv, weights, repeat(norm)), strict=True))


# 1 + ln(count), the damped term frequency, looked up: most counts are small
_SUBLINEAR = [0.0] + [1 + math.log(c) for c in range(1, 256)]
