"""Paper embeddings for relevance, from the configured OpenAI-compatible provider.

Used only when `llm.embedding_model` is set (ranking is TF-IDF otherwise). Each paper is
embedded once, as the ranking reads it (`score.paper_text`), and its vector is cached in
the blob store under `embeddings/<model>/<arxiv id>.json` (with the text's hash: a paper
whose title or abstract changed is embedded again), so a later day, a retried step or
another Lambda pays nothing for it. The profile's documents are cached together under
`embeddings/<model>/profile-<sha256 of the texts>.json`.

The profile model mirrors the TF-IDF one (`profile.py`): the unit mean of the profile's
embeddings, a paper's fit is its cosine to that mean, and the calibration is
leave-one-out (each profile document against the mean of the others; `threshold(recall)`
is the fit that `recall` of them reach). `typical`, the fit of a typical paper, comes
from vectors the caller has (the day's papers: `with_typical`). Plain Python lists, no
numpy: the rank Lambda stays small.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from ..llm.client import EMBED_BATCH
from .profile import MIN_CALIBRATION_PAPERS

if TYPE_CHECKING:
    from ..llm.client import LLMClient
    from ..models import Paper
    from ..ports import BlobStore

PREFIX = "embeddings"
DECIMALS = 6  # stored (and returned) precision: a cached vector equals a fresh one
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def _part(name: str) -> str:
    """One key segment: model names like "BAAI/bge-m3" or "nomic-embed-text:latest" and
    old-style ids ("hep-th/9901001") stay one segment."""
    return _UNSAFE.sub("_", name).lstrip(".") or "_"


def cache_key(model: str, arxiv_id: str) -> str:
    return f"{PREFIX}/{_part(model)}/{_part(arxiv_id)}.json"


def profile_cache_key(model: str, texts: Sequence[str]) -> str:
    return f"{PREFIX}/{_part(model)}/profile-{_texts_sha256(texts)}.json"


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _texts_sha256(texts: Sequence[str]) -> str:
    return _sha256(json.dumps(list(texts)))


def _rounded(vector: Sequence[float]) -> list[float]:
    return [round(x, DECIMALS) for x in vector]


def dot(a: Sequence[float], b: Sequence[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def norm(a: Sequence[float]) -> float:
    return math.sqrt(dot(a, a))


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity; 0 when either vector is zero. Vectors of different sizes (two
    models) raise ValueError."""
    na, nb = norm(a), norm(b)
    return dot(a, b) / (na * nb) if na > 0 and nb > 0 else 0.0


def unit_mean(vectors: Sequence[Sequence[float]]) -> list[float]:
    """The direction of the vectors' sum, unit length (zeros when it has none)."""
    total = [sum(column) for column in zip(*vectors, strict=True)]
    n = norm(total)
    return [x / n for x in total] if n > 0 else total


def _read_json(blobs: BlobStore, key: str) -> dict | None:
    try:
        data = json.loads(blobs.get(key))
    except (KeyError, ValueError):  # absent, or unreadable: embedded again
        return None
    return data if isinstance(data, dict) else None


def _vector(value: object) -> list[float] | None:
    if not isinstance(value, list) or not value:
        return None
    if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in value):
        return None
    return [float(x) for x in value]


def _check_model(llm: LLMClient | None, model: str) -> None:
    if llm is not None and llm.settings.embedding_model != model:
        raise ValueError(
            f"embeddings of {model!r} asked of a client that embeds with "
            f"{llm.settings.embedding_model!r}"
        )


def embed_papers(
    papers: Iterable[Paper], llm: LLMClient | None, blobs: BlobStore, model: str
) -> dict[str, list[float]]:
    """arXiv id -> unit embedding of each paper, in the papers' order. Cached vectors are
    read from `blobs`; the others are embedded `EMBED_BATCH` at a time and each batch is
    cached as soon as it arrives, so a failure (`LLMError`, `SpendCapReached`, raised
    as is) loses nothing already paid for. `llm=None`: cached vectors only (a paper not
    cached yet is left out)."""
    from .score import paper_text  # here: score.py may import this module

    _check_model(llm, model)
    texts: dict[str, str] = {}
    for paper in papers:
        texts.setdefault(paper.arxiv_id, paper_text(paper))
    vectors: dict[str, list[float]] = {}
    missing: list[str] = []
    for arxiv_id, text in texts.items():
        cached = _read_json(blobs, cache_key(model, arxiv_id))
        vector = _vector(cached.get("vector")) if cached else None
        if vector is not None and cached and cached.get("text_sha256") == _sha256(text):
            vectors[arxiv_id] = vector
        else:
            missing.append(arxiv_id)
    if llm is not None:
        for start in range(0, len(missing), EMBED_BATCH):
            ids = missing[start : start + EMBED_BATCH]
            fresh = llm.embed([texts[i] for i in ids], arxiv_ids=ids)
            for arxiv_id, raw in zip(ids, fresh, strict=True):
                vector = _rounded(raw)
                document = {
                    "model": model,
                    "arxiv_id": arxiv_id,
                    "text_sha256": _sha256(texts[arxiv_id]),
                    "vector": vector,
                }
                blobs.put(
                    cache_key(model, arxiv_id), json.dumps(document).encode(), "application/json"
                )
                vectors[arxiv_id] = vector
    return {i: vectors[i] for i in texts if i in vectors}


class EmbeddingProfile(BaseModel):
    """The profile in embedding space: its unit mean and leave-one-out calibration."""

    model_config = ConfigDict(frozen=True)

    model: str
    size: int
    mean: list[float]  # unit length
    loo: list[float]  # each profile document's cosine to the mean of the others
    typical: float | None = None  # a typical paper's fit (`with_typical`); None: unknown

    def fit(self, vector: Sequence[float]) -> float:
        return cosine(vector, self.mean)

    def threshold(self, recall: float) -> float | None:
        """The fit that `recall` of the profile's own documents reach (None: too few)."""
        if len(self.loo) < MIN_CALIBRATION_PAPERS:
            return None
        ordered = sorted(self.loo)
        pos = (1.0 - recall) * (len(ordered) - 1)
        lo = math.floor(pos)
        hi = min(lo + 1, len(ordered) - 1)
        return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)

    def with_typical(self, vectors: Iterable[Sequence[float]]) -> EmbeddingProfile:
        """A copy whose `typical` is the mean fit of `vectors` (the day's papers: a fair
        estimate of a typical paper's fit); None for no vectors."""
        fits = [self.fit(v) for v in vectors]
        typical = round(sum(fits) / len(fits), DECIMALS) if fits else None
        return self.model_copy(update={"typical": typical})


def _leave_one_out(vectors: Sequence[Sequence[float]]) -> list[float]:
    """cosine(v, total - v) for each v, in closed form from the vectors' sum."""
    if len(vectors) < 2:
        return []
    total = [sum(column) for column in zip(*vectors, strict=True)]
    sq = dot(total, total)
    loo = []
    for vector in vectors:
        own, with_total = dot(vector, vector), dot(vector, total)
        rest = sq - 2 * with_total + own  # |total - v|²
        fit = (with_total - own) / math.sqrt(own * rest) if own > 0 and rest > 1e-12 else 0.0
        loo.append(round(fit, DECIMALS))
    return loo


def profile_embedding(
    texts: Sequence[str],
    llm: LLMClient | None,
    blobs: BlobStore,
    model: str,
    *,
    day_vectors: Iterable[Sequence[float]] = (),
) -> EmbeddingProfile | None:
    """The profile documents' embedding model (`profile.profile_texts` gives the texts),
    their vectors cached together; `day_vectors` (the day's paper embeddings) set
    `typical`. `llm=None` and nothing cached: None. No texts: ValueError."""
    if not texts:
        raise ValueError("an embedding profile needs at least one document")
    _check_model(llm, model)
    key = profile_cache_key(model, texts)
    cached = _read_json(blobs, key)
    raw = cached.get("vectors") if cached else None
    vectors = [_vector(v) for v in raw] if isinstance(raw, list) else []
    if len(vectors) != len(texts) or any(v is None for v in vectors):
        if llm is None:
            return None
        vectors = [_rounded(v) for v in llm.embed(list(texts))]
        document = {"model": model, "texts_sha256": _texts_sha256(texts), "vectors": vectors}
        blobs.put(key, json.dumps(document).encode(), "application/json")
    usable = [v for v in vectors if v is not None]
    profile = EmbeddingProfile(
        model=model,
        size=len(usable),
        mean=_rounded(unit_mean(usable)),
        loo=_leave_one_out(usable),
    )
    return profile.with_typical(day_vectors)
