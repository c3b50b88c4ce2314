"""SQLite implementation of the PaperStore port (the embedded default).

Rows keep the model as JSON plus the columns queries need. Migrations are an ordered
list of SQL scripts; `PRAGMA user_version` records how many have been applied.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import UTC, date
from pathlib import Path
from typing import Any

from ...bulk import gc_paused
from ...models import (
    DayState,
    Implementation,
    LLMCall,
    Paper,
    PaperReview,
    Pick,
    Score,
    SourceStatus,
    Tournament,
    TrainingRun,
)
from ...sources.merge import merge_papers

MIGRATIONS: list[str] = [
    # 1: initial schema
    """
    CREATE TABLE papers (arxiv_id TEXT PRIMARY KEY, day TEXT NOT NULL, doc TEXT NOT NULL);
    CREATE INDEX papers_by_day ON papers (day);
    CREATE TABLE scores (day TEXT NOT NULL, arxiv_id TEXT NOT NULL, total REAL NOT NULL,
                         doc TEXT NOT NULL, PRIMARY KEY (day, arxiv_id));
    CREATE TABLE sources (day TEXT NOT NULL, name TEXT NOT NULL, doc TEXT NOT NULL,
                          PRIMARY KEY (day, name));
    CREATE TABLE picks (day TEXT NOT NULL, arxiv_id TEXT NOT NULL, rank INTEGER NOT NULL,
                        doc TEXT NOT NULL, PRIMARY KEY (day, arxiv_id));
    CREATE TABLE implementations (arxiv_id TEXT PRIMARY KEY, doc TEXT NOT NULL);
    CREATE TABLE runs (run_id TEXT PRIMARY KEY, arxiv_id TEXT NOT NULL, day TEXT NOT NULL,
                       doc TEXT NOT NULL);
    CREATE INDEX runs_by_paper ON runs (arxiv_id);
    CREATE INDEX runs_by_day ON runs (day);
    """,
    # 2: LLM reviews, the day's tournament, the spend ledger
    """
    CREATE TABLE reviews (day TEXT NOT NULL, arxiv_id TEXT NOT NULL, doc TEXT NOT NULL,
                          PRIMARY KEY (day, arxiv_id));
    CREATE TABLE tournaments (day TEXT PRIMARY KEY, doc TEXT NOT NULL);
    CREATE TABLE llm_calls (id INTEGER PRIMARY KEY AUTOINCREMENT, day TEXT NOT NULL,
                            doc TEXT NOT NULL);
    CREATE INDEX llm_calls_by_day ON llm_calls (day);
    """,
    # 3: the day's record (shared with the Step Functions day on AWS)
    """
    CREATE TABLE day_states (day TEXT PRIMARY KEY, doc TEXT NOT NULL);
    """,
]


class SqliteStore:
    def __init__(self, path: Path | str) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # autocommit with explicit transactions; shared by the LLM review threads, whose
        # writes are single statements (sqlite3 serialises them on the connection)
        self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL stays consistent on a crash and skips an fsync per write (one score
        # per rank message would otherwise cost a disk flush each: 3 ms on this machine).
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.migrate()
        # The day's papers and scores as last read, for the steps of one run that read
        # them again (10,000 papers parse in ~0.2 s, their scores in ~0.6 s). Valid while
        # this connection wrote neither and no other connection committed (data_version).
        self._reads: dict[tuple[str, date], tuple[int, list[Any]]] = {}
        self._papers_by_id: dict[str, Paper] = {}
        self._unsorted: set[date] = set()
        # The papers this connection last wrote, by their stored JSON: the fan-out right
        # after ingest reads them back without parsing them again (0.3 s per 10,000).
        self._written: dict[str, Paper] = {}

    def migrate(self) -> int:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise RuntimeError(
                f"database schema v{version} is newer than this paperfoundry (v{len(MIGRATIONS)})"
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            self.db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")
        return len(MIGRATIONS)

    def close(self) -> None:
        self.db.close()

    # papers ---------------------------------------------------------------------------

    def upsert_papers(self, papers: Iterable[Paper]) -> list[str]:
        """New papers are inserted; a known one is merged with `merge_papers` (stored
        record first: the re-scrape's counts win, the first listing day is kept)."""
        new: list[str] = []
        self._forget("papers")
        self._written.clear()
        self.db.execute("BEGIN")
        try:
            for paper in papers:
                existing = self.get_paper(paper.arxiv_id)
                if existing is None:
                    new.append(paper.arxiv_id)
                    merged = paper
                else:
                    merged = merge_papers([existing], [paper])[0]
                doc = merged.model_dump_json()
                self.db.execute(
                    "INSERT OR REPLACE INTO papers VALUES (?, ?, ?)",
                    (merged.arxiv_id, merged.day.isoformat(), doc),
                )
                self._written[doc] = merged
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return new

    def _data_version(self) -> int:
        return self.db.execute("PRAGMA data_version").fetchone()[0]

    def _cached(self, kind: str, day: date) -> list[Any] | None:
        hit = self._reads.get((kind, day))
        return hit[1] if hit and hit[0] == self._data_version() else None

    def _forget(self, kind: str) -> None:
        for key in [k for k in self._reads if k[0] == kind]:
            del self._reads[key]
        if kind == "papers":
            self._papers_by_id.clear()

    def get_paper(self, arxiv_id: str) -> Paper | None:
        paper = self._papers_by_id.get(arxiv_id)
        if paper is not None and self._cached("papers", paper.day) is not None:
            return paper
        row = self.db.execute("SELECT doc FROM papers WHERE arxiv_id = ?", (arxiv_id,)).fetchone()
        return Paper.model_validate_json(row[0]) if row else None

    def papers_for_day(self, day: date) -> list[Paper]:
        if (cached := self._cached("papers", day)) is not None:
            return list(cached)
        version = self._data_version()
        rows = self.db.execute(
            "SELECT doc FROM papers WHERE day = ? ORDER BY arxiv_id", (day.isoformat(),)
        )
        written, self._written = self._written, {}
        with gc_paused():
            papers = [
                known if (known := written.get(doc)) is not None else Paper.model_validate_json(doc)
                for (doc,) in rows
            ]
        self._reads[("papers", day)] = (version, papers)
        self._papers_by_id.update((p.arxiv_id, p) for p in papers)
        return list(papers)

    # scores ---------------------------------------------------------------------------

    def save_score(self, score: Score, *, replace: bool = False) -> bool:
        verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
        cur = self.db.execute(
            f"{verb} INTO scores VALUES (?, ?, ?, ?)",
            (score.day.isoformat(), score.arxiv_id, score.total, score.model_dump_json()),
        )
        if cur.rowcount == 1:
            self._remember_scores([score], replace)
        return cur.rowcount == 1

    def save_scores(self, scores: Iterable[Score]) -> int:
        """One transaction for the batch (10,000 single inserts cost ~0.5 s)."""
        scores = list(scores)
        rows = [(s.day.isoformat(), s.arxiv_id, s.total, s.model_dump_json()) for s in scores]
        before = self.db.total_changes
        with self.db:  # autocommit connection: without BEGIN each row commits on its own
            self.db.execute("BEGIN")
            self.db.executemany("INSERT OR IGNORE INTO scores VALUES (?, ?, ?, ?)", rows)
        new = self.db.total_changes - before
        if new == len(scores):
            self._remember_scores(scores, replaced=False)
        elif new:  # some were stored before: which ones is not known here, read them again
            self._forget("scores")
        return new

    def _remember_scores(self, scores: list[Score], replaced: bool) -> None:
        """Keep a cached read of the day current (the ranking writes 10,000 scores that
        the next step reads back: no need to parse them again); re-sorted when read."""
        version = self._data_version()
        for score in scores:
            hit = self._reads.get(("scores", score.day))
            if hit is None or hit[0] != version:
                self._forget("scores")
                return
            if replaced:
                hit[1][:] = [s for s in hit[1] if s.arxiv_id != score.arxiv_id]
            hit[1].append(score)
            self._unsorted.add(score.day)

    def scores_for_day(self, day: date) -> list[Score]:
        if (cached := self._cached("scores", day)) is not None:
            if day in self._unsorted:  # as the query orders them
                cached.sort(key=lambda s: s.arxiv_id)
                cached.sort(key=lambda s: s.total, reverse=True)
                self._unsorted.discard(day)
            return list(cached)
        version = self._data_version()
        rows = self.db.execute(
            "SELECT doc FROM scores WHERE day = ? ORDER BY total DESC, arxiv_id",
            (day.isoformat(),),
        )
        with gc_paused():
            scores = [Score.model_validate_json(r[0]) for r in rows]
        self._reads[("scores", day)] = (version, scores)
        return list(scores)

    def clear_scores(self, day: date) -> None:
        """Used by `--force`: rescore the day with the current config."""
        self.db.execute("DELETE FROM scores WHERE day = ?", (day.isoformat(),))
        self._forget("scores")

    # sources, picks -------------------------------------------------------------------

    def save_sources(self, day: date, statuses: list[SourceStatus]) -> None:
        """One row per (day, name): a status replaces the stored one of its name only."""
        self.db.executemany(
            "INSERT OR REPLACE INTO sources VALUES (?, ?, ?)",
            [(day.isoformat(), s.name, s.model_dump_json()) for s in statuses],
        )

    def sources_for_day(self, day: date) -> list[SourceStatus]:
        rows = self.db.execute(
            "SELECT doc FROM sources WHERE day = ? ORDER BY name", (day.isoformat(),)
        )
        return [SourceStatus.model_validate_json(r[0]) for r in rows]

    def save_picks(self, day: date, picks: list[Pick]) -> None:
        self.db.execute("BEGIN")
        self.db.execute("DELETE FROM picks WHERE day = ?", (day.isoformat(),))
        self.db.executemany(
            "INSERT INTO picks VALUES (?, ?, ?, ?)",
            [(day.isoformat(), p.arxiv_id, p.rank, p.model_dump_json()) for p in picks],
        )
        self.db.execute("COMMIT")

    def picks_for_day(self, day: date) -> list[Pick]:
        rows = self.db.execute(
            "SELECT doc FROM picks WHERE day = ? ORDER BY rank", (day.isoformat(),)
        )
        return [Pick.model_validate_json(r[0]) for r in rows]

    # implementations, runs ------------------------------------------------------------

    def save_implementation(self, implementation: Implementation) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO implementations VALUES (?, ?)",
            (implementation.arxiv_id, implementation.model_dump_json()),
        )

    def get_implementation(self, arxiv_id: str) -> Implementation | None:
        row = self.db.execute(
            "SELECT doc FROM implementations WHERE arxiv_id = ?", (arxiv_id,)
        ).fetchone()
        return Implementation.model_validate_json(row[0]) if row else None

    def save_run(self, run: TrainingRun) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?)",
            (run.run_id, run.arxiv_id, run.day.isoformat(), run.model_dump_json()),
        )

    def get_run(self, run_id: str) -> TrainingRun | None:
        row = self.db.execute("SELECT doc FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return TrainingRun.model_validate_json(row[0]) if row else None

    def runs_for_day(self, day: date) -> list[TrainingRun]:
        rows = self.db.execute(
            "SELECT doc FROM runs WHERE day = ? ORDER BY run_id", (day.isoformat(),)
        )
        return [TrainingRun.model_validate_json(r[0]) for r in rows]

    def runs_for_paper(self, arxiv_id: str) -> list[TrainingRun]:
        rows = self.db.execute(
            "SELECT doc FROM runs WHERE arxiv_id = ? ORDER BY day, run_id", (arxiv_id,)
        )
        return [TrainingRun.model_validate_json(r[0]) for r in rows]

    # the day's record -------------------------------------------------------------------

    def get_day_state(self, day: date) -> DayState | None:
        row = self.db.execute(
            "SELECT doc FROM day_states WHERE day = ?", (day.isoformat(),)
        ).fetchone()
        return DayState.model_validate_json(row[0]) if row else None

    def save_day_state(self, state: DayState) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO day_states VALUES (?, ?)",
            (state.day.isoformat(), state.model_dump_json()),
        )

    def day_states_since(self, since: date) -> list[DayState]:
        rows = self.db.execute(
            "SELECT doc FROM day_states WHERE day >= ? ORDER BY day DESC", (since.isoformat(),)
        )
        return [DayState.model_validate_json(r[0]) for r in rows]

    # LLM reviews, tournament, spend ledger -----------------------------------------------

    def save_review(self, review: PaperReview) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO reviews VALUES (?, ?, ?)",
            (review.day.isoformat(), review.arxiv_id, review.model_dump_json()),
        )

    def reviews_for_day(self, day: date) -> dict[str, PaperReview]:
        rows = self.db.execute(
            "SELECT doc FROM reviews WHERE day = ? ORDER BY arxiv_id", (day.isoformat(),)
        )
        return {(r := PaperReview.model_validate_json(row[0])).arxiv_id: r for row in rows}

    def save_tournament(self, tournament: Tournament) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO tournaments VALUES (?, ?)",
            (tournament.day.isoformat(), tournament.model_dump_json()),
        )

    def get_tournament(self, day: date) -> Tournament | None:
        row = self.db.execute(
            "SELECT doc FROM tournaments WHERE day = ?", (day.isoformat(),)
        ).fetchone()
        return Tournament.model_validate_json(row[0]) if row else None

    def record_llm_call(self, call: LLMCall) -> None:
        self.db.execute(
            "INSERT INTO llm_calls (day, doc) VALUES (?, ?)",
            (call.day.isoformat(), call.model_dump_json()),
        )

    def llm_calls_for_day(self, day: date) -> list[LLMCall]:
        rows = self.db.execute(
            "SELECT doc FROM llm_calls WHERE day = ? ORDER BY id", (day.isoformat(),)
        )
        calls = [LLMCall.model_validate_json(r[0]) for r in rows]
        # oldest first (review threads may record out of order); ties in recorded order
        return sorted(calls, key=lambda c: c.at if c.at.tzinfo else c.at.replace(tzinfo=UTC))
