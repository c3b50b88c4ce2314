"""The group's profile: the papers that state its interests, and the fit model built on them.

The profile is the saved papers (a bundled or local JSON file, or papers inline in the
config), the papers the group liked, and the configured topics and keywords as one more
document. The model is the centroid of their TF-IDF vectors (IDF from the background
corpus, `background.py`) minus `ranking.contrast` times the background's mean vector
(Rocchio); a paper's fit is its cosine to that direction. On the project's
evaluation (`benchmarks/ranking_eval.py`, README "Ranking quality") it ranks the group's
held-out saved papers about as well as a linear SVM trained on the profile against
thousands of other papers (arxiv-sanity-lite), and needs no corpus at run time.

Calibration, from the profile alone: each profile paper is scored against the centroid of
the *others* (leave-one-out, closed form), and the fit threshold is the score that
`fit_recall` of them reach. The background centroid gives the fit of a typical paper.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from ..config import Interests
from .background import Background, centroid_fit, vectorize_with
from .relevance import SparseVector, text_of

MIN_CALIBRATION_PAPERS = 5  # fewer profile documents: no leave-one-out threshold


class ProfileError(ValueError):
    pass


def read_profile_file(name: str) -> list[tuple[str, str]]:
    """(title, abstract) pairs from a bundled profile name or a JSON file path."""
    bundled = resources.files("paperfoundry.data").joinpath(f"profile_{name}.json")
    try:
        text = bundled.read_text() if bundled.is_file() else Path(name).read_text()
        papers = json.loads(text)["papers"]
        return [(str(p["title"]), str(p.get("abstract", ""))) for p in papers]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ProfileError(f"cannot read the interests profile {name!r}: {exc}") from exc


def profile_texts(interests: Interests, liked_texts: list[str] | None = None) -> list[str]:
    """Every document of the profile, as the ranking reads papers (`score.paper_text`)."""
    pairs = read_profile_file(interests.profile) if interests.profile else []
    pairs += [(p.title, p.abstract) for p in interests.papers]
    texts = [text_of(title, abstract) for title, abstract in pairs]
    texts += liked_texts or []
    statement = " . ".join(interests.topics + interests.keywords)
    return texts + ([statement] if statement.strip() else [])


@dataclass(frozen=True)
class ProfileModel:
    centroid: SparseVector  # unit length: (mean - contrast * background mean) / norm
    mean: SparseVector  # the mean of the profile documents' vectors (their terms only)
    norm: float  # |mean - contrast * background mean|
    size: int
    loo: tuple[float, ...]  # each profile document against the centroid of the others
    typical: float  # the background corpus's mean fit

    def threshold(self, recall: float) -> float | None:
        """The fit that `recall` of the profile's own documents reach (None: too few)."""
        if len(self.loo) < MIN_CALIBRATION_PAPERS:
            return None
        ordered = sorted(self.loo)
        pos = (1.0 - recall) * (len(ordered) - 1)
        lo = math.floor(pos)
        hi = min(lo + 1, len(ordered) - 1)
        return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _unit(vec: SparseVector) -> SparseVector:
    norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
    return {t: v / norm for t, v in vec.items()}


def build_profile(
    texts: tuple[str, ...], background: Background, contrast: float = 0.0
) -> ProfileModel:
    """The profile's direction: the mean of its documents' vectors minus `contrast` times
    the background corpus's mean vector (Rocchio: what sets the group's papers apart from
    ML papers at large, rather than what every paper says), unit length. Leave-one-out
    fits in closed form: document i against the direction of the others."""
    vectors = [vectorize_with(t, background) for t in texts]
    n = len(vectors)
    total: dict[str, float] = {}
    for vec in vectors:
        for t, v in vec.items():
            total[t] = total.get(t, 0.0) + v
    bgm = background.mean

    def dot(a: SparseVector, b: SparseVector) -> float:
        return sum(v * b.get(t, 0.0) for t, v in a.items())

    sq, total_bg, bg_sq = dot(total, total), dot(total, bgm), dot(bgm, bgm)
    loo: list[float] = []
    if n >= 2:
        k = n - 1
        for vec in vectors:
            # w = (total - vec) / k - contrast * bgm; fit = vec.w / |w| (|vec| = 1, or 0
            # for a document with no term the background knows)
            own, with_total, with_bg = dot(vec, vec), dot(vec, total), dot(vec, bgm)
            w_vec = (with_total - own) / k - contrast * with_bg
            rest_sq = (sq - 2 * with_total + own) / k**2
            rest_bg = (total_bg - with_bg) / k
            w_sq = rest_sq - 2 * contrast * rest_bg + contrast**2 * bg_sq
            loo.append(w_vec / math.sqrt(w_sq) if w_sq > 1e-12 else 0.0)
    mean = {t: v / max(n, 1) for t, v in total.items()}
    direction = dict(mean)
    if contrast:
        for t, v in bgm.items():
            direction[t] = direction.get(t, 0.0) - contrast * v
    norm = math.sqrt(sum(v * v for v in direction.values()))
    centroid = _unit(direction)
    return ProfileModel(
        centroid=centroid,
        mean=mean,
        norm=norm,
        size=n,
        loo=tuple(loo),
        typical=centroid_fit(centroid, background),
    )


@lru_cache(maxsize=4)
def cached_profile(
    texts: tuple[str, ...], background: Background, contrast: float = 0.0
) -> ProfileModel:
    """One model per (profile, background): a warm process reuses it across days."""
    return build_profile(texts, background, contrast)
