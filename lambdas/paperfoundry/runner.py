"""The local daily run: every pipeline step in one process with the local adapters.

SQLite for state, the filesystem for blobs (`<out>/<day>/report.html`), an in-process
queue for the rank fan-out, and the harness in a child process for training.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import pipeline
from .adapters.local.blobs import FileBlobStore
from .adapters.local.notifier import ConsoleFileNotifier
from .adapters.local.queue import InProcessQueue
from .adapters.local.sqlite_store import SqliteStore
from .config import Config, load_config
from .implement import library_ids
from .models import DayReport, Implementation, Paper, Pick, SourceStatus, TrainingRun
from .sources import all_unreachable, fetch_day
from .sources.sample import load_sample_day

if TYPE_CHECKING:
    from .llm.client import LLMClient


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


@dataclass
class RunResult:
    report: DayReport
    report_uri: str
    runs: list[TrainingRun] = field(default_factory=list)

    @property
    def failed_runs(self) -> list[TrainingRun]:
        return [r for r in self.runs if r.status != "completed"]


def _gather(
    opts: RunOptions, config: Config, console: Console, notes: list[str]
) -> tuple[date, list[Paper], list[SourceStatus]]:
    if opts.sample:
        day, papers = load_sample_day()
        return day, papers, [SourceStatus(name="sample", ok=True, papers=len(papers))]
    day = opts.day or datetime.now(UTC).date()
    with console.status(f"Fetching papers for {day} from {', '.join(config.sources.enabled)}"):
        papers, statuses = fetch_day(
            day,
            categories=config.sources.categories,
            sources=tuple(config.sources.enabled),
            timeout=config.sources.timeout_seconds,
            notes=notes,
        )
    for status in statuses:
        mark = "[green]ok[/]" if status.ok else f"[red]failed[/]: {status.error}"
        console.print(f"  {status.name}: {status.papers} papers, {mark}")
    if any(s.ok for s in statuses):
        return day, papers, statuses
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
    statuses = [*statuses, SourceStatus(name="sample", ok=True, papers=len(sample_papers))]
    return sample_day, sample_papers, statuses


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=console, transient=True,
    )  # fmt: skip


def _rank_all(
    day: date, queue: InProcessQueue, store: SqliteStore, blobs: FileBlobStore, console: Console
) -> None:
    context = pipeline.load_context(blobs, day)
    progress = _progress(console)
    with progress:
        task = progress.add_task("Ranking", total=len(queue))
        for message in queue.drain():
            pipeline.rank(day, message["arxiv_id"], store=store, context=context)
            progress.advance(task)


def _build_llm(
    opts: RunOptions, config: Config, store: SqliteStore, day: date, console: Console
) -> LLMClient | None:
    from .llm.client import LLMClient, credentials_from_env

    if not opts.llm:
        config.llm.provider = "off"
    try:
        creds = credentials_from_env(config.llm)
    except ValueError as exc:
        raise RunError(str(exc)) from exc
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


def _review(
    day: date, llm: LLMClient, store: SqliteStore, config: Config, console: Console
) -> list[str]:
    progress = _progress(console)
    with progress:
        task = progress.add_task("LLM review", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        notes = pipeline.review_day(day, store=store, llm=llm, config=config, on_reviewed=advance)
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


def _announce(
    console: Console, label: str, name: str | None, started: list, run: TrainingRun
) -> None:
    started.append(run)
    console.print(f"{label}: training {name} vs baseline ({run.task}, budget {run.budget})")


def _train_picks(
    day: date,
    picks: list[Pick],
    store: SqliteStore,
    blobs: FileBlobStore,
    config: Config,
    opts: RunOptions,
    console: Console,
    llm: LLMClient | None,
) -> list[TrainingRun]:
    from .adapters.local.subprocess_trainer import SubprocessTrainer

    implementer = None
    if llm is not None:
        from .adapters.local.sandbox import SandboxValidator
        from .codegen.implementer import LLMImplementer

        validator = SandboxValidator(
            config.training.budget, config.implement.validation_timeout_seconds
        )
        implementer = LLMImplementer(llm, config, validator=validator)

    budget = config.training.budget
    backend = SubprocessTrainer(
        opts.out / day.isoformat() / "training",
        device=config.training.device,
        timeout_minutes=config.training.timeout_minutes,
        echo=lambda line: console.print(
            f"  {line}", style="dim", highlight=False, markup=False, soft_wrap=True
        ),
    )
    runs: list[TrainingRun] = []
    for pick in picks:
        label = f"pick {pick.rank} {pick.arxiv_id}"
        fresh = store.get_implementation(pick.arxiv_id) is None
        if implementer is not None and fresh and pick.arxiv_id not in library_ids():
            console.print(f"{label}: implementing with {config.llm.implement_model}")
        implementation = pipeline.implement_pick(
            pick, store=store, implementer=implementer, blobs=blobs, force=opts.force
        )
        _describe_implementation(console, label, implementation)
        if implementation.status != "implemented":
            console.print(f"{label}: not implemented: {implementation.reason}")
            continue
        started: list[TrainingRun] = []  # filled by train() only when it starts an attempt
        announce = functools.partial(_announce, console, label, implementation.name, started)
        run = pipeline.train(
            pick, implementation, store=store, backend=backend, budget=budget,
            force=opts.force, on_start=announce,
        )  # fmt: skip
        if run is not None and not started:
            outcome = run.verdict.outcome if run.verdict else run.status
            console.print(f"{label}: already trained ({outcome}); --force retrains")
        if run is not None:
            runs.append(run)
    return runs


def run_day(opts: RunOptions, console: Console | None = None) -> RunResult:
    console = console or Console()
    config = load_config(opts.config_path)
    if opts.device:
        config.training.device = opts.device
    if opts.budget:
        config.training.budget = opts.budget

    notes: list[str] = []
    day, papers, statuses = _gather(opts, config, console, notes)
    store = SqliteStore(opts.out / "paperfoundry.sqlite")
    blobs = FileBlobStore(opts.out)
    queue = InProcessQueue()
    try:
        if opts.force:
            store.clear_scores(day)
        new_ids = pipeline.ingest(
            day, papers, statuses, store=store, blobs=blobs, queue=queue, config=config
        )
        console.print(f"[bold]{day}[/]: {len(papers)} papers ({len(new_ids)} new)")
        _rank_all(day, queue, store, blobs, console)
        llm = _build_llm(opts, config, store, day, console)
        if llm is not None:
            notes.extend(_review(day, llm, store, config, console))

        picks, selection_notes = pipeline.select(day, store=store, config=config)
        notes.extend(selection_notes)
        runs = []
        if opts.train:
            runs = _train_picks(day, picks, store, blobs, config, opts, console, llm)

        report = pipeline.build_report(day, store=store, notes=notes, config=config)
        notifier = ConsoleFileNotifier(
            opts.out / day.isoformat() / "digest.txt", echo=lambda text: None
        )
        uri = pipeline.publish(report, blobs=blobs, notifier=notifier, prefix="")
        return RunResult(report=report, report_uri=uri, runs=runs)
    finally:
        store.close()


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
