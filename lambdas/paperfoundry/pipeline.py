"""The day's steps, each a pure function of its inputs and the ports.

The local runner (`runner.py`) calls them in order in one process; on AWS each Lambda
handler calls one of them. Every step is idempotent: running it twice for the same day
(or receiving the same event twice) stores nothing twice and retrains nothing finished.

    ingest -> rank (one call per paper, fanned out) -> select -> implement -> train -> report
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime

from .config import Config
from .implement import Implementer, implement
from .models import (
    DayReport,
    Implementation,
    Paper,
    Pick,
    PickReport,
    RankedPaper,
    Score,
    SourceStatus,
    TrainingRun,
)
from .ports import BlobStore, Notifier, PaperStore, Queue, TrainingBackend
from .ranking import DayContext, build_context, score_paper
from .ranking.score import paper_text
from .selection import select_picks
from .training import run_id_for

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
    """Store the day's papers and source statuses, build the ranking context, and fan out
    one rank message per paper not yet scored. Returns the ids that were new."""
    new_ids = store.upsert_papers(papers)
    store.save_sources(day, statuses)
    day_papers = store.papers_for_day(day)
    liked = [p for pid in config.interests.liked if (p := store.get_paper(pid)) is not None]
    context = build_context(day, day_papers, config, [paper_text(p) for p in liked])
    blobs.put(context_key(day), context.model_dump_json().encode(), "application/json")
    scored = {s.arxiv_id for s in store.scores_for_day(day)}
    queue.send([rank_message(day, p.arxiv_id) for p in day_papers if p.arxiv_id not in scored])
    return new_ids


# -- rank -------------------------------------------------------------------------------


def load_context(blobs: BlobStore, day: date) -> DayContext:
    return DayContext.model_validate_json(blobs.get(context_key(day)))


def rank(day: date, arxiv_id: str, *, store: PaperStore, context: DayContext) -> tuple[Score, bool]:
    """Score one paper; the bool is False when it had already been scored (redelivery)."""
    paper = store.get_paper(arxiv_id)
    if paper is None:
        raise LookupError(f"paper {arxiv_id} of {day} is not in the store")
    score = score_paper(paper, context)
    return score, store.save_score(score)


def ranking_complete(day: date, *, store: PaperStore, context: DayContext) -> bool:
    scored = {s.arxiv_id for s in store.scores_for_day(day)}
    return set(context.paper_ids) <= scored


# -- select + implement -----------------------------------------------------------------


def done_before(day: date, arxiv_ids: Iterable[str], store: PaperStore) -> set[str]:
    """Papers with a completed training run on an earlier day."""
    return {
        pid
        for pid in arxiv_ids
        if any(r.day != day and r.status == "completed" for r in store.runs_for_paper(pid))
    }


def select(day: date, *, store: PaperStore, config: Config) -> tuple[list[Pick], list[str]]:
    scores = store.scores_for_day(day)
    head = [s.arxiv_id for s in scores[: config.selection.max_picks * 10]]
    picks, notes = select_picks(day, scores, config.selection, done_before(day, head, store))
    store.save_picks(day, picks)
    return picks, notes


def implement_pick(
    pick: Pick, *, store: PaperStore, implementer: Implementer | None = None
) -> Implementation:
    """Reuse a stored implementation, else resolve one (library, then LLM) and store it."""
    existing = store.get_implementation(pick.arxiv_id)
    if existing is not None and existing.status == "implemented":
        return existing
    paper = store.get_paper(pick.arxiv_id)
    if paper is None:
        raise LookupError(f"picked paper {pick.arxiv_id} is not in the store")
    implementation = implement(paper, implementer)
    store.save_implementation(implementation)
    return implementation


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


def train(
    pick: Pick,
    implementation: Implementation,
    *,
    store: PaperStore,
    backend: TrainingBackend,
    budget: str,
    force: bool = False,
    on_start: Callable[[TrainingRun], None] | None = None,
) -> TrainingRun | None:
    """Train the pick against its baseline unless already done (or in flight).

    `on_start` is called just before the backend gets a new attempt (progress output);
    a finished or in-flight run is returned as it is, without calling it."""
    if implementation.status != "implemented":
        return None
    run = plan_run(pick, implementation, budget=budget, backend=backend.name)
    existing = store.get_run(run.run_id)
    if existing is not None:
        if existing.status in ("completed", "running") and not force:
            return existing
        run.attempt = existing.attempt + 1
    run.started_at = datetime.now(UTC)
    store.save_run(run)
    if on_start is not None:
        on_start(run)
    try:
        run = backend.submit(run, implementation)
    except Exception as exc:  # noqa: BLE001 - record the failure; the day goes on
        run.status, run.error = "failed", f"{type(exc).__name__}: {exc}"[:2000]
    if run.finished and run.finished_at is None:
        run.finished_at = datetime.now(UTC)
    store.save_run(run)
    return run


def day_finished(day: date, *, store: PaperStore) -> bool:
    """True when every pick of the day has a finished run (or needed none)."""
    runs = {r.arxiv_id: r for r in store.runs_for_day(day)}
    for pick in store.picks_for_day(day):
        impl = store.get_implementation(pick.arxiv_id)
        if impl is not None and impl.status == "implemented":
            run = runs.get(pick.arxiv_id)
            if run is None or not run.finished:
                return False
    return True


# -- report -----------------------------------------------------------------------------


def build_report(day: date, *, store: PaperStore, notes: list[str] | None = None) -> DayReport:
    sources = store.sources_for_day(day)
    papers = {p.arxiv_id: p for p in store.papers_for_day(day)}
    ranking = [
        RankedPaper(paper=papers[s.arxiv_id], score=s)
        for s in store.scores_for_day(day)
        if s.arxiv_id in papers
    ]
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
                implementation=implementation.model_copy(update={"source_code": None}),
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
    )


def publish(
    report: DayReport,
    *,
    blobs: BlobStore,
    notifier: Notifier | None,
    prefix: str = REPORTS_PREFIX,
) -> str:
    """Write report.json and report.html; send the digest. Returns the HTML report's URI."""
    from .reporting import digest_text, render_html  # deferred: keeps rank Lambdas lean

    prefix = report_prefix(report.day, prefix)
    blobs.put(
        f"{prefix}/report.json", report.model_dump_json(indent=2).encode(), "application/json"
    )
    uri = blobs.put(
        f"{prefix}/report.html", render_html(report).encode(), "text/html; charset=utf-8"
    )
    if notifier is not None:
        subject, body = digest_text(report, uri)
        notifier.notify(subject, body, uri)
    return uri
