"""The domain operations the day's steps are made of, each a function of its inputs and
the ports: fan-out of ranking, ranking one paper, review, selection, implementation,
planning a run, building and writing the report. `chain.py` composes them into the
day's steps (one chain for the local runner and the state machine).

`review_day` runs only with an LLM configured: it reviews the top candidates and runs the
tournament; `select` and the report then use the combined score (`final_scores`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from pydantic import TypeAdapter

from .bulk import gc_paused, quiet_worker
from .config import Config
from .implement import Implementer, implement, library_ids
from .models import (
    REPORT_FULL_RECORDS,
    DayReport,
    Implementation,
    Paper,
    PaperReview,
    Pick,
    PickReport,
    RankedPaper,
    RankedRow,
    Score,
    SourceStatus,
    Tournament,
    TrainingRun,
)
from .ports import BlobStore, Notifier, PaperStore, Queue
from .ranking import DayContext, build_context, score_paper
from .ranking.score import paper_text
from .selection import select_picks
from .training import run_id_for

if TYPE_CHECKING:  # the LLM parts load only when an LLM is configured
    from .llm.client import LLMClient
    from .ranking.embeddings import EmbeddingProfile

SAMPLE_SOURCE = "sample"


def context_key(day: date) -> str:
    return f"days/{day.isoformat()}/context.json"


REPORTS_PREFIX = "reports/"


def report_prefix(day: date, prefix: str = REPORTS_PREFIX) -> str:
    """`reports/<day>` in S3; the local runner passes prefix "" to get `runs/<day>/`."""
    return f"{prefix}{day.isoformat()}"


def rank_message(day: date, arxiv_id: str) -> dict[str, str]:
    return {"day": day.isoformat(), "arxiv_id": arxiv_id}


# -- ingest -----------------------------------------------------------------------------


def ingest(
    day: date,
    papers: list[Paper],
    statuses: list[SourceStatus],
    *,
    store: PaperStore,
    blobs: BlobStore,
    queue: Queue,
    config: Config,
) -> list[str]:
    """Store the day's papers and source statuses, then `fan_out`. Returns the new ids."""
    new_ids = store.upsert_papers(papers)
    store.save_sources(day, statuses)
    fan_out(day, store=store, blobs=blobs, queue=queue, config=config)
    return new_ids


def fan_out(
    day: date,
    *,
    store: PaperStore,
    blobs: BlobStore,
    queue: Queue,
    config: Config,
    llm: LLMClient | None = None,
) -> tuple[int, int, list[str]]:
    """Build the day's ranking context from the stored papers and send one rank message
    per paper not yet scored. With `llm.embedding_model` set and an LLM, the day's papers
    and the profile are embedded first (cached per paper in the blob store). Returns the
    day's papers, the messages sent, and notes (an embedding failure: TF-IDF today)."""
    day_papers = store.papers_for_day(day)
    liked = [p for pid in config.interests.liked if (p := store.get_paper(pid)) is not None]
    liked_texts = [paper_text(p) for p in liked]
    embedding, notes = None, []
    if config.llm.embedding_model and llm is not None:
        embedding, notes = _embedding_profile(day_papers, liked_texts, config, llm, blobs)
    context = build_context(day, day_papers, config, liked_texts, embedding=embedding)
    blobs.put(context_key(day), context.model_dump_json().encode(), "application/json")
    scored = {s.arxiv_id for s in store.scores_for_day(day)}
    messages = [rank_message(day, p.arxiv_id) for p in day_papers if p.arxiv_id not in scored]
    queue.send(messages)
    return len(day_papers), len(messages), notes


def _embedding_profile(
    papers: list[Paper], liked_texts: list[str], config: Config, llm: LLMClient, blobs: BlobStore
) -> tuple[EmbeddingProfile | None, list[str]]:
    from .llm.client import LLMError
    from .ranking.embeddings import embed_papers, profile_embedding
    from .ranking.profile import profile_texts

    model = config.llm.embedding_model
    try:
        vectors = embed_papers(papers, llm, blobs, model)
        texts = profile_texts(config.interests, liked_texts)
        return profile_embedding(texts, llm, blobs, model, day_vectors=vectors.values()), []
    except (LLMError, ValueError) as exc:  # the spend cap is an LLMError too
        return None, [f"embeddings unavailable ({type(exc).__name__}): TF-IDF fit today"]


def load_context(blobs: BlobStore, day: date) -> DayContext:
    return DayContext.model_validate_json(blobs.get(context_key(day)))


class ContextCache:
    """The days' ranking contexts as a rank worker last read them (a Lambda container
    keeps it across invocations). `get` asks the blob store once per batch whether the
    day's context changed (a fan-out again after a re-scrape rewrites it), by etag: an
    unchanged context is not downloaded or parsed again."""

    def __init__(self, max_days: int = 4) -> None:
        self.max_days = max_days
        self._contexts: dict[date, tuple[str, DayContext]] = {}
        self._checked: set[date] = set()
        self.downloads = 0

    def new_batch(self) -> None:
        self._checked.clear()

    def get(self, blobs: BlobStore, day: date) -> DayContext:
        cached = self._contexts.get(day)
        if cached is not None and day in self._checked:
            return cached[1]
        data, etag = blobs.get_if_changed(context_key(day), cached[0] if cached else None)
        self._checked.add(day)
        if data is None and cached is not None:
            return cached[1]
        context = DayContext.model_validate_json(data or b"")
        self.downloads += 1
        self._contexts.pop(day, None)
        self._contexts[day] = (etag, context)
        while len(self._contexts) > self.max_days:  # the oldest read first
            del self._contexts[next(iter(self._contexts))]
        return context


def rank(
    day: date,
    arxiv_id: str,
    *,
    store: PaperStore,
    context: DayContext,
    blobs: BlobStore | None = None,
) -> tuple[Score, bool]:
    """Score one paper; the bool is False when it had already been scored (redelivery).
    With an embedding profile in the context, the paper's cached embedding is read from
    `blobs` (embedded at fan-out)."""
    paper = store.get_paper(arxiv_id)
    if paper is None:
        raise LookupError(f"paper {arxiv_id} of {day} is not in the store")
    vector = None
    if context.embedding is not None and blobs is not None:
        from .ranking.embeddings import embed_papers

        vector = embed_papers([paper], None, blobs, context.embedding.model).get(arxiv_id)
    score = score_paper(paper, context, vector)
    return score, store.save_score(score)


PARALLEL_MIN_PAPERS = 2_000  # below this, starting worker processes costs more than it saves
_CHUNK = 500
_work: tuple[list[Paper], DayContext] | None = None  # what forked scoring workers inherit


def rank_many(
    day: date,
    arxiv_ids: list[str],
    *,
    store: PaperStore,
    context: DayContext,
    blobs: BlobStore | None = None,
    workers: int | None = None,
    on_ranked: Callable[[int], None] | None = None,
) -> int:
    """`rank` for many papers of one process's queue (the local runner): a big day is
    scored on every core (forked workers inherit the papers and the context; this
    process writes the scores). Returns how many scores were new; `on_ranked(n)` is
    called as each n papers are scored (progress)."""
    global _work
    import multiprocessing
    import os

    workers = workers or os.cpu_count() or 1
    forkable = "fork" in multiprocessing.get_all_start_methods()
    if workers < 2 or len(arxiv_ids) < PARALLEL_MIN_PAPERS or context.embedding or not forkable:
        new = 0
        for arxiv_id in arxiv_ids:
            new += rank(day, arxiv_id, store=store, context=context, blobs=blobs)[1]
            if on_ranked is not None:
                on_ranked(1)
        return new
    from concurrent.futures import ProcessPoolExecutor

    papers = []
    for arxiv_id in arxiv_ids:
        if (paper := store.get_paper(arxiv_id)) is None:
            raise LookupError(f"paper {arxiv_id} of {day} is not in the store")
        papers.append(paper)
    _work, new = (papers, context), 0
    try:
        fork = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(workers, mp_context=fork, initializer=quiet_worker) as pool:
            chunks = [range(i, min(i + _CHUNK, len(papers))) for i in range(0, len(papers), _CHUNK)]
            for docs in pool.map(_score_chunk, chunks):
                with gc_paused():
                    scores = _SCORES.validate_json(docs)
                new += store.save_scores(scores)
                if on_ranked is not None:
                    on_ranked(len(scores))
    finally:
        _work = None
    return new


# scores travel back from the workers as one JSON array per chunk: unpickling pydantic
# models cost the parent more than scoring them (1.7 s vs 0.25 s per 10,000, measured)
_SCORES = TypeAdapter(list[Score])


def _score_chunk(indices: range) -> bytes:
    assert _work is not None, "scoring workers are forked from rank_many"
    papers, context = _work
    return _SCORES.dump_json([score_paper(papers[i], context) for i in indices])


# -- select + implement -----------------------------------------------------------------


def done_before(day: date, arxiv_ids: Iterable[str], store: PaperStore) -> set[str]:
    """Papers with a completed training run on an earlier day."""
    return {
        pid
        for pid in arxiv_ids
        if any(r.day != day and r.status == "completed" for r in store.runs_for_paper(pid))
    }


def select(
    day: date, *, store: PaperStore, config: Config, llm: bool = True
) -> tuple[list[Pick], list[str]]:
    """The day's picks. `llm`: whether an LLM can write code today (without one, only
    papers with code, the library's or stored, can be picked)."""
    scores = final_scores(day, store=store, config=config)
    head = [s.arxiv_id for s in scores[: config.selection.max_picks * 10]]
    papers = {p.arxiv_id: p for p in store.papers_for_day(day)}
    before = done_before(day, head, store)
    stored = set()
    if not llm:  # only papers that can be picked at all (a big day has thousands below)
        stored = {
            s.arxiv_id
            for s in scores
            if s.total >= config.selection.min_score
            and (impl := store.get_implementation(s.arxiv_id))
            and impl.status == "implemented"
        }
    picks, notes = select_picks(
        day, scores, config.selection, before, papers=papers, llm=llm, stored_code=stored
    )
    store.save_picks(day, picks)
    return picks, notes


LIBRARY_PREFIX = "implementations/library/"  # LLM code that passed, with provenance


def implement_pick(
    pick: Pick,
    *,
    store: PaperStore,
    implementer: Implementer | None = None,
    blobs: BlobStore | None = None,
    force: bool = False,
) -> Implementation:
    """Reuse a stored implementation, else resolve one (library, then LLM) and store it.

    An LLM implementation that used up its attempts is not retried (it would cost again
    for the same answer) unless `force`. Generated code the harness validated goes into
    the implementation library in the blob store, with its provenance next to it (on AWS
    that happens when its training job succeeds: `confirm_implementation`)."""
    existing = store.get_implementation(pick.arxiv_id)
    if existing is not None and existing.status == "implemented":
        return existing
    if existing is not None and existing.provenance == "llm" and existing.status == "failed":
        if not force:
            return existing
    paper = store.get_paper(pick.arxiv_id)
    if paper is None:
        raise LookupError(f"picked paper {pick.arxiv_id} is not in the store")
    implementation = implement(paper, implementer)
    if blobs is not None and implementation.provenance == "llm":
        implementation = _to_library(implementation, blobs)
    store.save_implementation(implementation)
    return implementation


def _to_library(implementation: Implementation, blobs: BlobStore) -> Implementation:
    accepted = implementation.status == "implemented" and implementation.validated
    if not accepted or not implementation.source_code:
        return implementation
    name = implementation.file_name or f"{implementation.arxiv_id}.py"
    uri = blobs.put(f"{LIBRARY_PREFIX}{name}", implementation.source_code.encode(), "text/x-python")
    provenance = implementation.model_copy(update={"source_code": None, "code_uri": uri})
    blobs.put(
        f"{LIBRARY_PREFIX}{name.removesuffix('.py')}.json",
        provenance.model_dump_json(indent=1).encode(),
        "application/json",
    )
    return implementation.model_copy(update={"code_uri": uri})


# -- review (LLM) -----------------------------------------------------------------------


def review_day(
    day: date,
    *,
    store: PaperStore,
    llm: LLMClient,
    config: Config,
    on_reviewed: Callable[[int, int], None] | None = None,
) -> list[str]:
    """Review the day's top candidates (N samples each, in parallel), then run the
    tournament among the best. What is stored already is not paid for twice. Returns
    notes for the report (spend cap, failures)."""
    import threading  # deferred, like the review modules: the rank Lambda never needs them
    from concurrent.futures import ThreadPoolExecutor

    from .review.reviewer import review_paper
    from .review.tournament import run_tournament

    signals = [s for s in store.scores_for_day(day) if not s.excluded]
    # papers trained on an earlier day cannot be picked again: no money on reviewing them
    head = [s.arxiv_id for s in signals[: config.review.candidates * 2]]
    trained = done_before(day, head, store)
    signals = [s for s in signals if s.arxiv_id not in trained]
    candidates = [s.arxiv_id for s in signals[: config.review.candidates]]
    reviews = store.reviews_for_day(day)
    todo = [pid for pid in candidates if pid not in reviews or not reviews[pid].samples]
    capped = threading.Event()
    done = [len(candidates) - len(todo)]
    lock = threading.Lock()

    def review_one(arxiv_id: str) -> None:
        if capped.is_set():
            return  # not stored: a later run with budget left reviews it
        paper = store.get_paper(arxiv_id)
        if paper is None:
            return
        review, hit_cap = review_paper(llm, paper, config)
        if hit_cap:
            capped.set()
        if review.samples or not hit_cap:
            store.save_review(review)
            with lock:
                reviews[arxiv_id] = review
        with lock:
            done[0] += 1
            if on_reviewed is not None:
                on_reviewed(done[0], len(candidates))

    with ThreadPoolExecutor(max_workers=config.review.parallel) as pool:
        list(pool.map(review_one, todo))

    notes: list[str] = []
    reviewed = sum(1 for pid in candidates if pid in reviews and reviews[pid].samples)
    if reviewed < len(candidates):
        why = "LLM spend cap reached" if capped.is_set() else "reviews failed"
        notes.append(f"{why}: {reviewed} of {len(candidates)} candidates reviewed")
    entrants = _tournament_entrants(signals, reviews, config)
    existing = store.get_tournament(day)
    complete = existing is not None and all(c.winner for c in existing.comparisons)
    if existing is not None and complete and existing.participants == entrants:
        return notes
    if len(entrants) < 2:
        notes.append("tournament skipped: fewer than two reviewed candidates")
        return notes
    if capped.is_set():
        notes.append("tournament skipped: LLM spend cap reached")
        return notes
    papers = [p for pid in entrants if (p := store.get_paper(pid)) is not None]
    interests = "\n".join(f"- {t}" for t in config.interests.topics) or "- (none given)"
    tournament, hit_cap = run_tournament(llm, papers, interests, parallel=config.review.parallel)
    store.save_tournament(tournament)
    if hit_cap:
        notes.append("LLM spend cap reached during the tournament: some pairs not judged")
    return notes


def _tournament_entrants(
    signals: list[Score], reviews: dict[str, PaperReview], config: Config
) -> list[str]:
    """The best reviewed papers that could be picked, by the combined score before the
    tournament (flagged and not-implementable ones are excluded there)."""
    from .review.combined import combined_scores

    before = combined_scores(signals, reviews, None, config.review, library_ids())
    pickable = [
        s.arxiv_id
        for s in before
        if not s.excluded and (r := reviews.get(s.arxiv_id)) is not None and r.overall is not None
    ]
    return pickable[: config.review.tournament_size]


def _ranking(
    signals: list[Score],
    reviews: dict[str, PaperReview],
    tournament: Tournament | None,
    config: Config,
) -> list[Score]:
    if not reviews:
        return signals
    from .review.combined import combined_scores

    return combined_scores(signals, reviews, tournament, config.review, library_ids())


def final_scores(day: date, *, store: PaperStore, config: Config) -> list[Score]:
    """The day's ranking: the signal scores, combined with reviews when there are any."""
    reviews = store.reviews_for_day(day)
    tournament = store.get_tournament(day) if reviews else None
    return _ranking(store.scores_for_day(day), reviews, tournament, config)


# -- train ------------------------------------------------------------------------------


def plan_run(
    pick: Pick, implementation: Implementation, *, budget: str, backend: str
) -> TrainingRun:
    task = implementation.task or "mqar"
    return TrainingRun(
        run_id=run_id_for(pick.day, pick.arxiv_id, task),
        arxiv_id=pick.arxiv_id,
        day=pick.day,
        task=task,
        budget=budget,
        backend=backend,
    )


def confirm_implementation(
    run: TrainingRun, *, store: PaperStore, blobs: BlobStore
) -> Implementation | None:
    """A completed run proves its LLM code passed the harness's validation (on AWS the
    training job is the first place it runs): mark it validated and add it to the library."""
    impl = store.get_implementation(run.arxiv_id)
    if impl is None or impl.provenance != "llm" or impl.validated or run.status != "completed":
        return None
    impl = _to_library(impl.model_copy(update={"validated": True}), blobs)
    store.save_implementation(impl)
    return impl


# -- report -----------------------------------------------------------------------------


def _strip_code(implementation: Implementation) -> Implementation:
    """The report carries provenance, plan and attempts; the code stays in the library."""
    attempts = [a.model_copy(update={"source_code": None}) for a in implementation.attempts]
    return implementation.model_copy(update={"source_code": None, "attempts": attempts})


def build_report(
    day: date,
    *,
    store: PaperStore,
    notes: list[str] | None = None,
    config: Config | None = None,
) -> DayReport:
    from .llm.accounting import usage_summary

    config = config or Config()
    sources = store.sources_for_day(day)
    papers = {p.arxiv_id: p for p in store.papers_for_day(day)}
    reviews = store.reviews_for_day(day)
    tournament = store.get_tournament(day)
    ordered = [
        s
        for s in _ranking(store.scores_for_day(day), reviews, tournament, config)
        if s.arxiv_id in papers
    ]
    head, tail = ordered[:REPORT_FULL_RECORDS], ordered[REPORT_FULL_RECORDS:]
    ranking = [RankedPaper(paper=papers[s.arxiv_id], score=s) for s in head]
    rest = [
        RankedRow(
            arxiv_id=s.arxiv_id, title=papers[s.arxiv_id].title, total=s.total, excluded=s.excluded
        )
        for s in tail
    ]
    calls = store.llm_calls_for_day(day)
    usage = None
    if calls:
        models = {c.step: c.model for c in calls}
        usage = usage_summary(calls, cap_usd=config.llm.daily_spend_cap_usd, models=models)
    runs = {r.arxiv_id: r for r in store.runs_for_day(day)}
    picks = []
    for pick in store.picks_for_day(day):
        if pick.arxiv_id not in papers:
            continue
        implementation = store.get_implementation(pick.arxiv_id) or Implementation(
            arxiv_id=pick.arxiv_id, status="not_implemented", reason="not resolved yet"
        )
        picks.append(
            PickReport(
                pick=pick,
                paper=papers[pick.arxiv_id],
                implementation=_strip_code(implementation),
                run=runs.get(pick.arxiv_id),
            )
        )
    return DayReport(
        day=day,
        generated_at=datetime.now(UTC),
        sources=sources,
        sample=any(s.name == SAMPLE_SOURCE for s in sources),
        ranking=ranking,
        picks=picks,
        notes=notes or [],
        mode="llm" if reviews or calls else "signals-only",
        llm=usage,
        reviews=reviews,
        tournament=tournament,
        rest=rest,
    )


def write_report(report: DayReport, *, blobs: BlobStore, prefix: str = REPORTS_PREFIX) -> str:
    """Write report.json and report.html; returns the HTML report's key."""
    from .reporting import render_html  # deferred: keeps rank Lambdas lean

    base = report_prefix(report.day, prefix)
    blobs.put(f"{base}/report.json", report.model_dump_json().encode(), "application/json")
    key = f"{base}/report.html"
    blobs.put(key, render_html(report).encode(), "text/html; charset=utf-8")
    return key


def publish(
    report: DayReport,
    *,
    blobs: BlobStore,
    notifier: Notifier | None,
    prefix: str = REPORTS_PREFIX,
) -> str:
    """Write the report and send the digest. Returns the HTML report's URI."""
    from .reporting import digest_text

    key = write_report(report, blobs=blobs, prefix=prefix)
    uri = blobs.uri(key)
    if notifier is not None:
        subject, body = digest_text(report, uri)
        notifier.notify(subject, body, uri)
    return uri
