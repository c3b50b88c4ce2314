"""TF-IDF relevance between papers and the group's interests (as in arxiv-sanity-lite).

Hand-written on purpose: scikit-learn + scipy + numpy would add ~100 MB to every Lambda
bundle for a few dozen lines of sparse arithmetic over a day's abstracts.
"""

from __future__ import annotations

import heapq
import math
import re
from collections import Counter
from collections.abc import Iterable
from itertools import filterfalse, repeat
from operator import mul

# A letter, then letters, digits or dashes, ending in a letter or digit: two characters
# at least, no trailing dash ("multi-head", "gpt-4", "x2")
_TOKEN = re.compile(r"[a-z][a-z0-9\-]*[a-z0-9]")
# Function words carry no topical signal; a short list keeps the vocabulary small.
STOPWORDS = frozenset(
    """a about above after again all also an and any are as at be because been being
    both but by can could did do does doing for from further had has have having here how
    i if in into is it its itself just more most much new no nor not of on once only or
    other our out over own paper propose proposed same show shows so some such than that
    the their them then there these they this those through to too under until up using
    very via was we were what when where which while who why will with within without
    would you your based approach method methods results work""".split()
)

SparseVector = dict[str, float]


def text_of(title: str, abstract: str) -> str:
    """A paper as the ranking reads it: the title is the densest statement of its topic,
    so it counts twice."""
    return f"{title}. {title}. {abstract}"


def tokens(text: str) -> list[str]:
    """Lower-cased unigrams and bigrams without stopwords. (It runs once per paper and
    dominates ranking time: filterfalse/map/zip keep its loops in C.)"""
    words = list(filterfalse(STOPWORDS.__contains__, _TOKEN.findall(text.lower())))
    return words + list(map(" ".join, zip(words, words[1:], strict=False)))


def inverse_document_frequency(documents: Iterable[str]) -> dict[str, float]:
    """Smoothed IDF over a corpus; terms seen once are dropped to keep the table small."""
    df: Counter[str] = Counter()
    n = 0
    for doc in documents:
        n += 1
        df.update(set(tokens(doc)))
    return {t: math.log((1 + n) / (1 + c)) + 1.0 for t, c in df.items() if c > 1 or n < 50}


def vectorize(text: str, idf: dict[str, float], default_idf: float) -> SparseVector:
    """Sublinear TF times IDF, L2-normalised. Unknown terms get `default_idf` (rare)."""
    counts = Counter(tokens(text))
    vec = {t: (1 + math.log(c)) * idf.get(t, default_idf) for t, c in counts.items()}
    norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
    return {t: v / norm for t, v in vec.items()}


def cosine(a: SparseVector, b: SparseVector) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(map(mul, a.values(), map(b.get, a.keys(), repeat(0.0))))


def matched_terms(a: SparseVector, b: SparseVector, limit: int = 5) -> list[str]:
    """The terms contributing most to cosine(a, b): the 'why' shown in the report."""
    shared = list(filter(b.__contains__, a))
    products = map(mul, map(a.__getitem__, shared), map(b.__getitem__, shared))
    return [t for _, t in heapq.nlargest(limit, zip(products, shared, strict=True))]
