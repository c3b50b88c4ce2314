"""`paperfoundry list` and `paperfoundry show DAY`: the days in the local store and their
reports (`<out>/paperfoundry.sqlite`, `<out>/<day>/report.json`). Read only: nothing here
creates a store or a report."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..models import DayReport

STORE_FILE = "paperfoundry.sqlite"


class NotFound(LookupError):
    """The day (or its report) is not there; the message says what to do."""


@dataclass
class DayRow:
    day: date
    status: str  # the day's state: complete, partial, failed, pending; "report only"
    papers: int | None
    picks: int | None
    runs: dict[str, int]  # by status: completed, failed, stopped, running
    report: Path | None  # report.html


def _report_days(out: Path) -> set[date]:
    days = set()
    for path in out.glob("*/report.json"):
        try:
            days.add(date.fromisoformat(path.parent.name))
        except ValueError:
            continue
    return days


def _report(out: Path, day: date) -> Path | None:
    html = out / day.isoformat() / "report.html"
    return html if html.is_file() else None


def list_days(out: Path) -> list[DayRow]:
    """Every day the store or the report folders know, newest first."""
    rows: dict[date, DayRow] = {}
    db = out / STORE_FILE
    if db.is_file():
        from ..adapters.local.sqlite_store import SqliteStore

        store = SqliteStore(db)
        try:
            for state in store.day_states_since(date(1990, 1, 1)):
                day = state.day
                runs = Counter(r.status for r in store.runs_for_day(day))
                rows[day] = DayRow(day, state.status, len(store.papers_for_day(day)),
                                   len(store.picks_for_day(day)), dict(runs),
                                   _report(out, day))  # fmt: skip
        finally:
            store.close()
    for day in _report_days(out) - set(rows):
        rows[day] = DayRow(day, "report only", None, None, {}, _report(out, day))
    return [rows[d] for d in sorted(rows, reverse=True)]


def list_table(rows: list[DayRow]) -> Table:
    table = Table(title="paperfoundry days")
    for column in ("day", "status", "papers", "picks", "trained", "report"):
        table.add_column(column, overflow="fold")
    for row in rows:
        trained = ", ".join(f"{n} {status}" for status, n in sorted(row.runs.items())) or "-"
        table.add_row(
            row.day.isoformat(), row.status,
            "-" if row.papers is None else str(row.papers),
            "-" if row.picks is None else str(row.picks),
            trained, str(row.report) if row.report else "-",
        )  # fmt: skip
    return table


def report_json(out: Path, day: date) -> str:
    """The day's report.json as written (NotFound when there is none)."""
    path = out / day.isoformat() / "report.json"
    if not path.is_file():
        days = {row.day for row in list_days(out)}
        if day in days:
            raise NotFound(
                f"{day} has no report yet (the day did not finish): "
                f"`paperfoundry run --date {day}` completes it"
            )
        raise NotFound(f"no day {day} in {out} (`paperfoundry list` shows the days there)")
    return path.read_text()


def latest_day(out: Path) -> date:
    days = sorted(_report_days(out))
    if not days:
        raise NotFound(f"no reports in {out} yet (`paperfoundry run` writes one)")
    return days[-1]


def show(out: Path, day: date, console: Console) -> None:
    """The day's report in the terminal: sources, notes, the ranking's top, the picks."""
    from ..runner import RunResult, summary_table

    try:
        report = DayReport.model_validate_json(report_json(out, day))
    except ValueError as exc:
        raise NotFound(f"cannot read {out / day.isoformat() / 'report.json'}: {exc}") from None
    html = out / day.isoformat() / "report.html"
    head = f"[bold]{report.day}[/]{' (sample day)' if report.sample else ''}: {report.mode}, "
    head += f"{report.ranked_count} papers ranked, {len(report.picks)} picks"
    console.print(head)
    for source in report.sources:
        state = "[green]ok[/]" if source.ok else f"[red]failed[/]: {escape(source.error or '')}"
        console.print(f"  {source.name}: {source.papers} papers, {state}")
    for note in report.notes:
        console.print(f"  [yellow]{escape(note)}[/]")
    console.print(summary_table(RunResult(report=report, report_uri=str(html))))
    for rank, pick in enumerate(report.picks, start=1):
        label = escape(f"pick {rank} {pick.pick.arxiv_id} {pick.paper.title[:60]}")
        run = pick.run
        if run is None:
            reason = escape(pick.implementation.reason or "")
            console.print(f"{label}: not implemented: {reason}", soft_wrap=True)
        elif run.status == "completed":
            badge = run.badge
            console.print(f"{label}: {badge.text if badge else 'completed'}", soft_wrap=True)
        else:
            why = run.error or (run.failure and f"{run.failure.stage}: {run.failure.message}")
            first = (why or "").split("\n")[0]
            console.print(f"{label}: [red]{run.status}[/]: {escape(first)}", soft_wrap=True)
    console.print(f"report: [bold]{html}[/]", soft_wrap=True)
