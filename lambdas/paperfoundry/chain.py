"""The day as one chain of steps, written once for both runtimes.

Each step takes the ports and a few JSON values and returns a small JSON dict. The local
runner (`runner.py`) calls the steps in order in one process; on AWS the Step Functions
state machine (`stacks/orchestration.py`) calls the same functions through thin Lambda
handlers (`handlers/steps.py`), with retries, timeouts and catches around each one.

    plan_scrape -> scrape (one call per unit: huggingface, arxiv:<category>, refreshes)
      -> ingest (context + one rank message per paper; ranking itself is SQS -> rank)
      -> ranking_progress (until every paper is scored, or the deadline with at most the
         tolerated share unranked)
      -> review (LLM only) -> select
      -> per pick: implement -> start_training -> (the job runs: the local harness, or
         SageMaker createTrainingJob.sync) -> finish_training [-> implement: repair]
      -> report -> (the digest is sent: notifier, or SNS publish) -> published

Every step is idempotent: a step retried after a crash, a redriven execution or a second
local run stores nothing twice, pays the LLM for nothing twice and retrains nothing
finished. Progress lives in the store (papers, statuses, scores, picks, runs, `DayState`),
never in the orchestrator, so either runtime can pick a day up where the other left it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from . import pipeline
from .config import Config
from .implement import Implementer
from .models import DayReport, DayState, Implementation, Pick, SourceStatus, TrainingRun
from .ports import BlobStore, PaperStore, Queue, TrainingBackend

if TYPE_CHECKING:
    from .llm.client import LLMClient

# The order of the day; the state machine's states call these steps (a test checks it).
DAY = (
    "plan_scrape", "scrape", "ingest", "ranking_progress", "review", "select",
    "implement", "start_training", "finish_training", "report", "published",
)  # fmt: skip
SAMPLE_UNIT = "sample"
REFRESH_SEPARATOR = "@"  # "huggingface@2024-10-24": re-fetch an earlier day's listing


class SourceUnavailable(RuntimeError):
    """A scrape unit failed in a way a later attempt may fix (5xx, timeout, Retry-After).
    Its failed status is stored before this is raised; the orchestrator retries."""


class DayFailed(RuntimeError):
    """No source answered for the day: nothing to rank. The day is marked failed and is
    retried by the next scheduled start (backfill)."""


class RankingIncomplete(RuntimeError):
    """The ranking deadline passed with more papers unranked than tolerated (papers in the
    DLQ): the execution fails (alarm); redrive the DLQ, then the execution."""


class JobStillRunning(RuntimeError):
    """finish_training was asked about a job that has not ended (retry later)."""


def _no_llm(day: date) -> LLMClient | None:
    return None


def _no_implementer(llm: Any) -> Implementer | None:
    return None


@dataclass
class Ports:
    """What the steps need. `llm(day)` builds the day's LLM client (None: signals-only;
    it may raise, which degrades the day to signals-only with a note)."""

    store: PaperStore
    blobs: BlobStore
    config: Config
    queue: Queue | None = None
    backend: TrainingBackend | None = None
    llm: Callable[[date], LLMClient | None] = _no_llm
    implementer: Callable[[Any], Implementer | None] = _no_implementer
    http: Any = None  # httpx.Client for the sources (tests inject one)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    reports_prefix: str = pipeline.REPORTS_PREFIX
    # blob key -> (a URL a person can open, when it expires or None)
    link: Callable[[str], tuple[str, str | None]] | None = None


def _state(p: Ports, day: date) -> DayState:
    return p.store.get_day_state(day) or DayState(day=day)


def _save_state(p: Ports, state: DayState, **changes: Any) -> DayState:
    notes = changes.pop("notes", None)
    state = state.model_copy(update={**changes, "updated_at": p.clock()})
    if notes:
        state.notes = list(dict.fromkeys([*state.notes, *notes]))
    p.store.save_day_state(state)
    return state


def _add_notes(p: Ports, day: date, notes: list[str]) -> None:
    if notes:
        _save_state(p, _state(p, day), notes=notes)


# -- scrape -----------------------------------------------------------------------------


def plan_scrape(p: Ports, day: date, *, sample: bool = False) -> dict[str, Any]:
    """The day's scrape units: every enabled source (one unit per arXiv category) that has
    not answered yet for this day, then re-fetches of the previous days' Hugging Face
    listings (their signals mature, and papers added after our scrape join today)."""
    from .sources import refresh_days, scrape_units

    if sample:
        return {"units": [SAMPLE_UNIT]}
    sources = p.config.sources
    done = {s.name for s in p.store.sources_for_day(day) if s.ok}
    units = [u for u in scrape_units(sources.enabled, sources.categories) if u not in done]
    if "huggingface" in sources.enabled:
        units += [
            f"huggingface{REFRESH_SEPARATOR}{d.isoformat()}"
            for d in refresh_days(day, p.config.day.refresh_days)
        ]
    return {"units": units}


def scrape(
    p: Ports, day: date, unit: str, *, deadline: float | None = None, today: date | None = None
) -> dict[str, Any]:
    """Fetch one unit and store what it found at once (nothing waits in memory for the
    other units). A failed unit's status is stored, then SourceUnavailable is raised so
    the orchestrator retries it with backoff; the day goes on without it either way."""
    from .sources import fetch_unit
    from .sources.sample import load_sample_day

    if unit == SAMPLE_UNIT:
        sample_day, papers = load_sample_day()
        papers = [paper.model_copy(update={"day": day}) for paper in papers]
        p.store.upsert_papers(papers)
        p.store.save_sources(day, [SourceStatus(name=SAMPLE_UNIT, ok=True, papers=len(papers))])
        return {"unit": unit, "ok": True, "papers": len(papers), "new": len(papers)}
    source, _, listed = unit.partition(REFRESH_SEPARATOR)
    when = date.fromisoformat(listed) if listed else day
    notes: list[str] = []
    papers, status = fetch_unit(
        when, source, client=p.http, today=today, deadline=deadline, notes=notes,
        timeout=p.config.sources.timeout_seconds,
    )  # fmt: skip
    if listed:  # a refresh: known papers get matured signals, new ones join today
        known = {pid for x in papers if (pid := x.arxiv_id) and p.store.get_paper(pid)}
        papers = [x if x.arxiv_id in known else x.model_copy(update={"day": day}) for x in papers]
        new = p.store.upsert_papers(papers)
        if not status.ok:
            notes.append(f"refresh of {source} {listed} failed: {status.error}")
        _add_notes(p, day, notes)
        return {"unit": unit, "ok": status.ok, "papers": len(papers), "new": len(new)}
    new = p.store.upsert_papers(papers)
    p.store.save_sources(day, [status])
    _add_notes(p, day, notes)
    if not status.ok:
        raise SourceUnavailable(f"{unit}: {status.error}")
    return {"unit": unit, "ok": True, "papers": len(papers), "new": len(new)}


def scrape_failed(p: Ports, day: date, unit: str, error: str) -> dict[str, Any]:
    """After the last retry of a unit whose step crashed (not a source error, which the
    step stores itself): record the unit as failed so the day is marked partial."""
    stored = {s.name for s in p.store.sources_for_day(day)}
    if REFRESH_SEPARATOR in unit:
        _add_notes(p, day, [f"refresh {unit} failed: {error[:300]}"])
    elif unit not in stored:  # a status the unit stored itself says more: keep it
        status = SourceStatus(name=unit, ok=False, error=f"step failed: {error[:500]}")
        p.store.save_sources(day, [status])
    return {"unit": unit, "ok": False}


# -- ingest + ranking -------------------------------------------------------------------


def ingest(p: Ports, day: date) -> dict[str, Any]:
    """Build the day's ranking context and send one rank message per unscored paper.
    The day is `complete`, `partial` (some units failed: retried by a later start) or
    `failed` (no unit answered: DayFailed)."""
    from .sources import day_status, failed_units

    statuses = p.store.sources_for_day(day)
    status = day_status(statuses)
    failed = failed_units(statuses)
    state = _state(p, day)
    if status == "failed":
        _save_state(p, state, status="failed", failed_sources=failed)
        errors = "; ".join(f"{s.name}: {s.error}" for s in statuses if not s.ok)
        raise DayFailed(f"{day}: no source answered ({errors or 'no sources'})")
    assert p.queue is not None, "ingest needs a queue"
    llm = _llm_or_none(p, day) if p.config.llm.embedding_model else None
    papers, sent, notes = pipeline.fan_out(
        day, store=p.store, blobs=p.blobs, queue=p.queue, config=p.config, llm=llm
    )
    deadline = p.clock() + timedelta(minutes=p.config.day.ranking_deadline_minutes)
    _save_state(p, state, status=status, failed_sources=failed, notes=notes)
    return {"papers": papers, "queued": sent, "status": status, "deadline": deadline.isoformat()}


def ranking_progress(p: Ports, day: date, deadline: str | None = None) -> dict[str, Any]:
    """`done` once every paper of the context is scored, or once the deadline passed with
    at most `day.max_unranked_share` unranked (noted in the report); beyond that share the
    day stops here with RankingIncomplete."""
    context = pipeline.load_context(p.blobs, day)
    scored = {s.arxiv_id for s in p.store.scores_for_day(day)}
    missing = [pid for pid in context.paper_ids if pid not in scored]
    total = len(context.paper_ids)
    result = {"done": not missing, "scored": total - len(missing), "total": total}
    if not missing or deadline is None or p.clock() < datetime.fromisoformat(deadline):
        return result
    share = len(missing) / max(1, total)
    shown = ", ".join(missing[:20]) + (" ..." if len(missing) > 20 else "")
    if share > p.config.day.max_unranked_share:
        raise RankingIncomplete(
            f"{day}: {len(missing)} of {total} papers unranked at the deadline ({shown})"
        )
    _add_notes(p, day, [f"ranking incomplete: {len(missing)} paper(s) not ranked ({shown})"])
    return {**result, "done": True}


# -- review + select --------------------------------------------------------------------


def review(
    p: Ports, day: date, *, on_reviewed: Callable[[int, int], None] | None = None
) -> dict[str, Any]:
    """LLM review and tournament when an LLM is configured (stored reviews are never paid
    for twice, so a retry after a timeout continues where it stopped)."""
    notes: list[str] = []
    try:
        llm = p.llm(day)
    except Exception as exc:  # noqa: BLE001 - the day goes on, signals-only
        llm = None
        notes.append(f"LLM unavailable ({type(exc).__name__}): signals-only ranking today")
    if llm is not None:
        notes += pipeline.review_day(
            day, store=p.store, llm=llm, config=p.config, on_reviewed=on_reviewed
        )
    _add_notes(p, day, notes)
    return {"llm": llm is not None, "notes": notes}


def select(p: Ports, day: date, *, force: bool = False) -> dict[str, Any]:
    """The day's picks, chosen once: a retried or redriven execution keeps them (`force`
    chooses again, e.g. a local rerun after a config change)."""
    picks = [] if force else p.store.picks_for_day(day)
    if not picks:
        # the test `implement` will apply: can anyone write code for a paper today?
        can_write = p.implementer(_llm_or_none(p, day)) is not None
        picks, notes = pipeline.select(day, store=p.store, config=p.config, llm=can_write)
        _add_notes(p, day, notes)
    return {"picks": [pick.arxiv_id for pick in picks]}


# -- implement + train ------------------------------------------------------------------


def _pick(p: Ports, day: date, arxiv_id: str) -> Pick:
    pick = next((x for x in p.store.picks_for_day(day) if x.arxiv_id == arxiv_id), None)
    if pick is None:
        raise LookupError(f"{arxiv_id} is not a pick of {day}")
    return pick


def _latest_run(p: Ports, day: date, arxiv_id: str) -> TrainingRun | None:
    runs = [r for r in p.store.runs_for_day(day) if r.arxiv_id == arxiv_id]
    return max(runs, key=lambda r: r.attempt) if runs else None


def _describe(impl: Implementation) -> dict[str, Any]:
    return {
        "implemented": impl.status == "implemented",
        "status": impl.status,
        "provenance": impl.provenance,
        "reason": impl.reason,
    }


def implement(p: Ports, day: date, arxiv_id: str, *, force: bool = False) -> dict[str, Any]:
    """Resolve the pick's implementation (library, else the LLM). When its last run was
    LLM code the harness rejected in validation, this is the repair round instead."""
    from .codegen.implementer import VALIDATION_STAGES, record_rejection

    pick = _pick(p, day, arxiv_id)
    impl = p.store.get_implementation(arxiv_id)
    run = _latest_run(p, day, arxiv_id)
    rejected = (
        impl is not None and impl.provenance == "llm" and not impl.validated
        and run is not None and run.status == "failed" and run.failure is not None
        and run.failure.stage in VALIDATION_STAGES
        and impl.status == "implemented" and impl.sha256 == run.code_sha256
    )  # fmt: skip
    if rejected:
        assert impl is not None and run is not None and run.failure is not None
        implementer = None
        if len(impl.attempts) < p.config.implement.max_attempts:
            implementer = p.implementer(_llm_or_none(p, day))
        if implementer is None or not hasattr(implementer, "repair"):
            impl = record_rejection(impl, run.failure)
        else:
            paper = p.store.get_paper(arxiv_id)
            if paper is None:
                raise LookupError(f"picked paper {arxiv_id} is not in the store")
            impl = implementer.repair(paper, impl, run.failure)
        p.store.save_implementation(impl)
        return _describe(impl)
    implementer = None
    if impl is None or impl.status != "implemented":
        implementer = p.implementer(_llm_or_none(p, day))
    impl = pipeline.implement_pick(
        pick, store=p.store, implementer=implementer, blobs=p.blobs, force=force
    )
    return _describe(impl)


def _llm_or_none(p: Ports, day: date) -> LLMClient | None:
    try:
        return p.llm(day)
    except Exception:  # noqa: BLE001 - without an LLM the pick is "not implemented"
        return None


def start_training(p: Ports, day: date, arxiv_id: str, *, force: bool = False) -> dict[str, Any]:
    """Plan the pick's run and prepare its job (SageMaker: the CreateTrainingJob request,
    the code uploaded; locally: the harness's arguments). `train` is False when there is
    nothing to run: not implemented, or already completed (unless `force`)."""
    assert p.backend is not None, "start_training needs a training backend"
    pick = _pick(p, day, arxiv_id)
    impl = p.store.get_implementation(arxiv_id)
    if impl is None or impl.status != "implemented":
        return {"train": False, "reason": "not implemented"}
    run = pipeline.plan_run(pick, impl, budget=p.config.training.budget, backend=p.backend.name)
    existing = p.store.get_run(run.run_id)
    if existing is not None:
        if existing.status == "completed" and not force:
            return {"train": False, "run_id": run.run_id, "reason": "already trained"}
        same_code = existing.code_sha256 == impl.sha256
        if existing.status == "running" and same_code and existing.job_name and not force:
            # an attempt in flight (a redriven execution): wait for that job, don't start one
            job = p.backend.job(existing, impl)
            return {"train": True, "run_id": run.run_id, "job": job}
        run.attempt = existing.attempt + 1
    run.status, run.started_at, run.code_sha256 = "running", p.clock(), impl.sha256
    job = p.backend.job(run, impl)
    run.job_name = job["TrainingJobName"]
    p.store.save_run(run)
    return {"train": True, "run_id": run.run_id, "job": job}


def finish_training(
    p: Ports,
    day: date,
    arxiv_id: str,
    *,
    result: dict[str, Any] | None = None,
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Collect the job's outcome (its description, or the orchestrator's error) into the
    run. `repair` is True when LLM code failed the harness's validation and attempts are
    left: the orchestrator goes back to `implement`."""
    from .codegen.implementer import VALIDATION_STAGES

    assert p.backend is not None, "finish_training needs a training backend"
    run = _latest_run(p, day, arxiv_id)
    if run is None:
        raise LookupError(f"no run of {arxiv_id} on {day}")
    if not run.finished:
        run = p.backend.collect(run, result=result, error=error)
        if not run.finished:
            raise JobStillRunning(f"{run.job_name} has not ended")
        p.store.save_run(run)
        pipeline.confirm_implementation(run, store=p.store, blobs=p.blobs)
    impl = p.store.get_implementation(arxiv_id)
    repair = (
        run.status == "failed" and run.failure is not None
        and run.failure.stage in VALIDATION_STAGES
        and impl is not None and impl.provenance == "llm" and not impl.validated
        and len(impl.attempts) < p.config.implement.max_attempts
    )  # fmt: skip
    if run.status == "failed" and not repair and impl is not None and impl.provenance == "llm":
        if run.failure is not None and run.failure.stage in VALIDATION_STAGES:
            from .codegen.implementer import record_rejection

            p.store.save_implementation(record_rejection(impl, run.failure))
    verdict = run.verdict.outcome if run.verdict else None
    return {
        "run_id": run.run_id, "status": run.status, "verdict": verdict,
        "error": (run.error or "")[:500] or None, "repair": repair,
    }  # fmt: skip


# -- report -----------------------------------------------------------------------------


def report(p: Ports, day: date) -> dict[str, Any]:
    """Write report.json and report.html (and the index of days) and compose the digest.
    `send` is False when a digest for this day went out already (a later execution that
    backfilled the day updates the report without a second email)."""
    from .reporting import digest_text

    state = _state(p, day)
    day_report = pipeline.build_report(day, store=p.store, notes=state.notes, config=p.config)
    key = pipeline.write_report(day_report, blobs=p.blobs, prefix=p.reports_prefix)
    url, expiry = p.link(key) if p.link is not None else (p.blobs.uri(key), None)
    subject, message = digest_text(day_report, url)
    if expiry:
        message = f"{message}\n{expiry}"
    _save_state(p, state, report_uri=url)
    _write_index(p, day_report)
    return {
        "send": state.digest_sent_at is None,
        # SNS: a subject is ASCII on one line, under 100 characters; a message < 256 KB
        "subject": " ".join(subject.split()).encode("ascii", "replace").decode()[:99],
        "message": message.encode()[:200_000].decode(errors="ignore"),
        "url": url,
        "report_key": key.removesuffix("report.html") + "report.json",
    }


def _write_index(p: Ports, day_report: DayReport) -> None:
    """The index of all reported days and the Atom feed of their digests, next to the
    reports (the site's front page); reporting.index keeps one record per day."""
    from .reporting.index import write_index

    days = [s.day for s in p.store.day_states_since(date(2000, 1, 1)) if s.report_uri]
    write_index(p.blobs, day_report, days, prefix=p.reports_prefix)


def published(p: Ports, day: date) -> dict[str, Any]:
    """The digest went out: later executions for this day will not send it again."""
    state = _state(p, day)
    if state.digest_sent_at is None:
        _save_state(p, state, digest_sent_at=p.clock())
    return {"day": day.isoformat()}


# -- outside the day --------------------------------------------------------------------


def execution_name(day: date, attempts: int) -> str:
    """The day's first execution is named after it (a duplicate start is refused); the
    n-th retry of an unfinished day is `<day>-r<n>`."""
    return day.isoformat() if attempts == 0 else f"{day.isoformat()}-r{attempts}"


def day_done(state: DayState | None) -> bool:
    """Every source answered and the report was written (the digest sent or not due)."""
    return state is not None and state.status == "complete" and state.report_uri is not None


def days_to_start(
    p: Ports, today: date, backfill_days: int, running: set[date] | frozenset = frozenset()
) -> list[tuple[date, str]]:
    """(day, execution name) to start: today unless it was started already, and each
    earlier day in the window that is not done (missing, partial, failed, or stopped before
    its report). Days with an execution `running` are left alone."""
    starts: list[tuple[date, str]] = []
    for back in range(backfill_days + 1):
        day = today - timedelta(days=back)
        state = p.store.get_day_state(day)
        attempts = state.attempts if state is not None else 0
        if day in running or day_done(state):
            continue
        if back == 0 and attempts > 0:
            continue  # today's run started this morning; a failure alarms, then redrive
        if back and day.weekday() >= 5 and state is None:
            continue  # arXiv announces nothing on weekends: nothing was missed
        starts.append((day, execution_name(day, attempts)))
    return starts


def mark_started(p: Ports, day: date) -> None:
    state = _state(p, day)
    _save_state(p, state, attempts=state.attempts + 1)


def reconcile_runs(p: Ports, today: date, days: int, limit: timedelta) -> list[str]:
    """Runs still `running` long past their limit (their execution died or was lost):
    collect them from the backend now. Returns the run ids that changed."""
    assert p.backend is not None
    changed = []
    for back in range(days + 1):
        for run in p.store.runs_for_day(today - timedelta(days=back)):
            started = run.started_at
            if run.status != "running" or started is None or p.clock() - started < limit:
                continue
            collected = p.backend.collect(run, result=None, error=None)
            if collected.finished:
                p.store.save_run(collected)
                changed.append(run.run_id)
    return changed


def digest_missing(p: Ports, day: date) -> bool:
    state = p.store.get_day_state(day)
    return state is None or state.digest_sent_at is None
