"""The local daily run: every pipeline step in one process with the local adapters.

SQLite for state, the filesystem for blobs (`<out>/<day>/report.html`), an in-process
queue for the rank fan-out, and the harness in a child process for training.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import chain, pipeline
from .adapters.local.blobs import FileBlobStore
from .adapters.local.notifier import ConsoleFileNotifier
from .adapters.local.queue import InProcessQueue
from .adapters.local.sqlite_store import SqliteStore
from .adapters.local.subprocess_trainer import SubprocessTrainer
from .config import Config, ConfigError, load_config
from .implement import library_ids
from .models import DayReport, DayState, Implementation, Pick, TrainingRun
from .sources import all_unreachable
from .sources.sample import load_sample_day

if TYPE_CHECKING:
    from .llm.client import Credentials, LLMClient


class RunError(RuntimeError):
    """The day could not run; the message says why and what to do."""


@dataclass
class RunOptions:
    day: date | None = None
    sample: bool = False
    offline_fallback: bool = False
    config_path: Path | None = None
    out: Path = Path("runs")
    force: bool = False
    device: str | None = None
    budget: str | None = None
    train: bool = True
    llm: bool = True  # False: signals-only ranking and library-only implementation
    config: Config | None = None  # already loaded (the CLI checks it first); else config_path
    only: str | None = None  # implement and train only this paper of the day (a pick, or not)


@dataclass
class RunResult:
    report: DayReport
    report_uri: str
    runs: list[TrainingRun] = field(default_factory=list)

    @property
    def failed_runs(self) -> list[TrainingRun]:
        return [r for r in self.runs if r.status != "completed"]


def _scrape(p: chain.Ports, opts: RunOptions, console: Console) -> date:
    """Scrape the day unit by unit (the same steps as the state machine); returns the day
    that was scraped (the sample day when asked for, or as the offline fallback)."""
    if opts.sample:
        day, _ = load_sample_day()
        chain.scrape(p, day, chain.SAMPLE_UNIT)
        return day
    day = opts.day or datetime.now(UTC).date()
    units = chain.plan_scrape(p, day)["units"]
    if units:
        with console.status(f"Fetching papers for {day}: {', '.join(units)}"):
            for unit in units:
                try:
                    chain.scrape(p, day, unit, today=datetime.now(UTC).date())
                except chain.SourceUnavailable:
                    pass  # stored as failed; the day goes on with the other units
    statuses = p.store.sources_for_day(day)
    for status in statuses:
        mark = "[green]ok[/]" if status.ok else f"[red]failed[/]: {status.error}"
        console.print(f"  {status.name}: {status.papers} papers, {mark}")
    if any(s.ok for s in statuses):
        return day
    if not opts.offline_fallback:
        raise RunError(
            "every source failed; see the errors above. Use --sample to run the bundled "
            "sample day, or --offline-fallback to do so automatically."
        )
    sample_day, sample_papers = load_sample_day()
    why = "could be reached" if all_unreachable(statuses) else "returned papers"
    console.print(
        Panel(
            f"No paper source {why} for {day}.\n"
            f"Running the bundled SAMPLE DAY ({sample_day}, {len(sample_papers)} papers) instead.",
            title="SOURCES UNREACHABLE" if all_unreachable(statuses) else "SOURCES FAILED",
            style="bold yellow",
        )
    )
    chain.scrape(p, sample_day, chain.SAMPLE_UNIT)
    p.store.save_sources(sample_day, statuses)  # the report says why it is the sample day
    return sample_day


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=console, transient=True,
    )  # fmt: skip


def _rank_all(
    day: date, queue: InProcessQueue, store: SqliteStore, blobs: FileBlobStore, console: Console
) -> None:
    context = pipeline.load_context(blobs, day)
    ids = [message["arxiv_id"] for message in queue.drain()]
    progress = _progress(console)
    with progress:
        task = progress.add_task("Ranking", total=len(ids))
        pipeline.rank_many(
            day, ids, store=store, context=context, blobs=blobs,
            on_ranked=lambda n: progress.advance(task, n),
        )  # fmt: skip


def llm_credentials(opts: RunOptions, config: Config) -> Credentials | None:
    """The LLM's credentials from the environment, before any network call: a provider
    configured without its key is a config error, not a surprise after scraping."""
    from .llm.client import credentials_from_env

    if not opts.llm:
        config.llm.provider = "off"
    try:
        return credentials_from_env(config.llm)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _build_llm(
    creds: Credentials | None, config: Config, store: SqliteStore, day: date, console: Console
) -> LLMClient | None:
    from .llm.client import LLMClient

    if creds is None:
        console.print(
            "LLM: off: signals-only ranking, library-only implementation "
            "(set OPENAI_API_KEY, AZURE_OPENAI_API_KEY or llm.base_url to enable)"
        )
        return None
    s = config.llm
    where = f" at {creds.base_url or creds.azure_endpoint}" if creds.provider != "openai" else ""
    console.print(
        f"LLM: {creds.provider}{where}; review {s.review_model} x{config.review.samples}, "
        f"implement {s.implement_model}; spend cap ${s.daily_spend_cap_usd:.2f}/day"
    )
    return LLMClient(s, creds, store, day)


def _review(p: chain.Ports, day: date, llm: LLMClient, console: Console) -> list[str]:
    store = p.store
    progress = _progress(console)
    with progress:
        task = progress.add_task("LLM review", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        notes = chain.review(p, day, on_reviewed=advance)["notes"]
    reviews = store.reviews_for_day(day)
    flagged = [pid for pid, r in reviews.items() if r.flagged]
    console.print(
        f"reviewed {sum(1 for r in reviews.values() if r.samples)} candidates "
        f"(${llm.spent_usd:.4f} spent today)"
        + (f"; flagged for steering: {', '.join(flagged)}" if flagged else "")
    )
    for note in notes:
        console.print(f"[yellow]{note}[/]")
    return notes


def _describe_implementation(console: Console, label: str, impl: Implementation) -> None:
    if impl.provenance != "llm":
        return
    if impl.plan is not None:
        console.print(f"{label}: plan: {impl.plan.name} ({impl.plan.task}): {impl.plan.summary}")
    for attempt in impl.attempts:
        if attempt.ok:
            console.print(f"{label}: attempt {attempt.number}: passed ({attempt.checked_by})")
        elif attempt.failure is not None:
            f = attempt.failure
            console.print(f"{label}: attempt {attempt.number}: {f.stage} {f.type}: {f.message}")
    console.print(f"{label}: implementation cost ${impl.cost_usd:.4f} ({impl.tokens} tokens)")


def _train_pick(
    p: chain.Ports, day: date, arxiv_id: str, label: str, opts: RunOptions, console: Console
) -> None:
    """implement -> start_training -> run the job -> finish_training, and again while the
    harness rejected LLM code that can still be repaired (the state machine's loop)."""
    backend = p.backend
    assert isinstance(backend, SubprocessTrainer)
    force = opts.force
    while True:
        if p.store.get_implementation(arxiv_id) is None and arxiv_id not in library_ids():
            if p.llm(day) is not None:
                console.print(f"{label}: implementing with {p.config.llm.implement_model}")
        implemented = chain.implement(p, day, arxiv_id, force=force)
        impl = p.store.get_implementation(arxiv_id)
        if impl is not None:
            _describe_implementation(console, label, impl)
        if not implemented["implemented"]:
            console.print(f"{label}: not implemented: {implemented['reason']}")
            return
        started = chain.start_training(p, day, arxiv_id, force=force)
        if not started["train"]:
            run = p.store.get_run(started["run_id"]) if "run_id" in started else None
            outcome = (run.verdict.outcome if run.verdict else run.status) if run else ""
            console.print(f"{label}: already trained ({outcome}); --force retrains")
            return
        name = impl.name if impl is not None else arxiv_id
        console.print(
            f"{label}: training {name} vs baseline "
            f"({started['job']['task']}, budget {started['job']['budget']})"
        )
        finished = chain.finish_training(p, day, arxiv_id, result=backend.run_job(started["job"]))
        if not finished["repair"]:
            return
        force = False
        console.print(f"{label}: the harness rejected the code; repairing")


def fetch_liked(store: SqliteStore, config: Config, console: Console) -> None:
    """Liked papers the store does not have are fetched by id from the arXiv API (they join
    the profile); ones arXiv does not know, or that cannot be fetched now, are reported."""
    from .sources.arxiv import fetch_by_ids
    from .sources.http import SourceError, make_client

    missing = [i for i in config.interests.liked if store.get_paper(i) is None]
    if not missing:
        return
    try:
        with make_client(config.sources.timeout_seconds) as client:
            papers = fetch_by_ids(missing, client, attempts=2, max_wait=10.0)
    except SourceError as exc:
        console.print(
            f"[yellow]liked papers not in the store, and not fetched ({exc}): "
            f"{', '.join(missing)}; they do not count today[/]"
        )
        return
    store.upsert_papers(papers)
    found = {p.arxiv_id for p in papers}
    if found:
        console.print(f"liked papers fetched from arXiv: {', '.join(sorted(found))}")
    unknown = [i for i in missing if i not in found]
    if unknown:
        console.print(
            f"[yellow]liked papers arXiv does not know (or withdrawn): {', '.join(unknown)}; "
            "check interests.liked[/]"
        )


def _only_pick(p: chain.Ports, day: date, arxiv_id: str, picks: list[str]) -> list[str]:
    """`--only`: the one paper to implement and train today; a paper of the day that was
    not picked becomes an extra pick (noted in the report)."""
    if arxiv_id in picks:
        return [arxiv_id]
    store = p.store
    papers = {paper.arxiv_id for paper in store.papers_for_day(day)}
    if arxiv_id not in papers:
        raise RunError(
            f"{arxiv_id} is not among the {len(papers)} papers of {day} "
            f"(`paperfoundry show {day}` lists the ranking)"
        )
    current = store.picks_for_day(day)
    score = next((s.total for s in store.scores_for_day(day) if s.arxiv_id == arxiv_id), 0.0)
    extra = Pick(
        arxiv_id=arxiv_id, day=day, rank=len(current) + 1, score=score,
        gpu_minutes=p.config.selection.minutes_per_pick,
    )  # fmt: skip
    store.save_picks(day, [*current, extra])
    state = store.get_day_state(day) or DayState(day=day)
    note = f"{arxiv_id} picked by hand (run --only {arxiv_id})"
    if note not in state.notes:
        store.save_day_state(state.model_copy(update={"notes": [*state.notes, note]}))
    return [arxiv_id]


def run_day(opts: RunOptions, console: Console | None = None) -> RunResult:
    console = console or Console()
    config = opts.config or load_config(opts.config_path)
    if opts.device:
        config.training.device = opts.device
    if opts.budget:
        config.training.budget = opts.budget
    creds = llm_credentials(opts, config)  # before any network call
    # --only retrains that one paper (with --force); the day keeps its scores and picks
    rescore = opts.force and not opts.only

    store = SqliteStore(opts.out / "paperfoundry.sqlite")
    blobs = FileBlobStore(opts.out)
    queue = InProcessQueue()
    try:
        p = chain.Ports(store=store, blobs=blobs, config=config, queue=queue, reports_prefix="")
        fetch_liked(store, config, console)
        if rescore and opts.day is not None:
            store.clear_scores(opts.day)
        day = _scrape(p, opts, console)
        if rescore:
            store.clear_scores(day)
            store.save_day_state(DayState(day=day))
        llm = _build_llm(creds, config, store, day, console)
        p.llm = lambda _day: llm
        p.implementer = functools.partial(_implementer, config)  # select asks it too
        chain.ingest(p, day)  # with an embedding model, the day's papers are embedded here
        papers = len(store.papers_for_day(day))
        console.print(f"[bold]{day}[/]: {papers} papers")
        _rank_all(day, queue, store, blobs, console)
        chain.ranking_progress(p, day)
        if llm is not None:
            _review(p, day, llm, console)
        picks = chain.select(p, day, force=rescore)["picks"]
        if opts.only:
            picks = _only_pick(p, day, opts.only, picks)
        if opts.train:
            p.backend = SubprocessTrainer(
                opts.out / day.isoformat() / "training",
                device=config.training.device,
                timeout_minutes=config.training.timeout_minutes,
                echo=lambda line: console.print(
                    f"  {line}", style="dim", highlight=False, markup=False, soft_wrap=True
                ),
            )
            for rank, arxiv_id in enumerate(picks, start=1):
                _train_pick(p, day, arxiv_id, f"pick {rank} {arxiv_id}", opts, console)
        composed = chain.report(p, day)
        notifier = ConsoleFileNotifier(
            opts.out / day.isoformat() / "digest.txt", echo=lambda text: None
        )
        notifier.notify(composed["subject"], composed["message"], composed["url"])
        chain.published(p, day)
        # the report the day just wrote, not a second build of it
        report = DayReport.model_validate_json(blobs.get(composed["report_key"]))
        runs = [r for r in store.runs_for_day(day) if r.arxiv_id in picks]
        return RunResult(report=report, report_uri=composed["url"], runs=runs)
    finally:
        store.close()


def _implementer(config: Config, llm: LLMClient | None) -> Any:
    """The LLM implementer, validating in the local jail (None without an LLM)."""
    if llm is None:
        return None
    from .adapters.local.sandbox import SandboxValidator
    from .codegen.implementer import LLMImplementer

    validator = SandboxValidator(
        config.training.budget, config.implement.validation_timeout_seconds
    )
    return LLMImplementer(llm, config, validator=validator)


def summary_table(result: RunResult, top: int = 10) -> Table:
    report = result.report
    picked = {p.pick.arxiv_id: p for p in report.picks}
    title = f"paperfoundry {report.day}{' (sample day)' if report.sample else ''}"
    if report.llm is not None:
        title += f" [{report.mode}, LLM ${report.llm.total.cost_usd:.4f}]"
    table = Table(title=title)
    for column in ("#", "score", "arXiv", "title", "outcome"):
        table.add_column(column, overflow="fold")
    for i, ranked in enumerate(report.ranking[:top], start=1):
        outcome = ""
        if (pick := picked.get(ranked.paper.arxiv_id)) is not None:
            if pick.run and (badge := pick.run.badge) is not None:
                toy = " toy-scale" if pick.run.verdict and pick.run.verdict.toy_scale else ""
                outcome = f"{badge.text}{toy}"
            elif pick.run:
                outcome = f"run {pick.run.status}"
            else:
                outcome = f"not implemented: {pick.implementation.reason}"
        table.add_row(str(i), f"{ranked.score.total:.3f}", ranked.paper.arxiv_id,
                      ranked.paper.title[:70], outcome)  # fmt: skip
    return table
