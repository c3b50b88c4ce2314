import sqlite3

import pytest
from paperfoundry.adapters.local.sqlite_store import MIGRATIONS, SqliteStore
from paperfoundry.models import DayState, Score

from .factories import BASED, DAY, GNN


@pytest.fixture
def store(tmp_path):
    s = SqliteStore(tmp_path / "pf.sqlite")
    yield s
    s.close()


def test_schema_version_recorded_and_reopen_is_idempotent(tmp_path):
    path = tmp_path / "pf.sqlite"
    SqliteStore(path).close()
    again = SqliteStore(path)
    assert again.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    again.close()


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "pf.sqlite"
    SqliteStore(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    db.close()
    with pytest.raises(RuntimeError, match="newer"):
        SqliteStore(path)


def test_an_older_database_is_migrated_in_place(tmp_path):
    path = tmp_path / "pf.sqlite"
    db = sqlite3.connect(path, isolation_level=None)
    for number, script in enumerate(MIGRATIONS[:2], start=1):  # a v2 database, no day states
        db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")
    db.execute(
        "INSERT INTO papers VALUES (?, ?, ?)",
        (BASED.arxiv_id, BASED.day.isoformat(), BASED.model_dump_json()),
    )
    db.close()
    store = SqliteStore(path)
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) == 3
    assert store.get_paper(BASED.arxiv_id) == BASED  # kept
    store.save_day_state(DayState(day=DAY, status="complete"))
    assert store.get_day_state(DAY).status == "complete"
    store.close()


def test_clear_scores_empties_only_that_day(store):
    store.save_score(Score(arxiv_id=GNN.arxiv_id, day=DAY, total=0.2, components=[]))
    other = DAY.replace(day=21)
    store.save_score(Score(arxiv_id=BASED.arxiv_id, day=other, total=0.8, components=[]))
    store.clear_scores(DAY)
    assert store.scores_for_day(DAY) == []
    assert [s.arxiv_id for s in store.scores_for_day(other)] == [BASED.arxiv_id]
    # the day can be scored afresh
    assert store.save_score(Score(arxiv_id=GNN.arxiv_id, day=DAY, total=0.4, components=[]))


def test_day_reads_are_reused_until_a_write_here_or_elsewhere(store, tmp_path):
    store.upsert_papers([BASED, GNN])
    first = store.papers_for_day(DAY)
    assert store.papers_for_day(DAY)[0] is first[0]  # parsed once
    assert store.get_paper(GNN.arxiv_id) is next(p for p in first if p.arxiv_id == GNN.arxiv_id)
    assert store.scores_for_day(DAY) == []
    low = Score(arxiv_id=GNN.arxiv_id, day=DAY, total=0.2, components=[])
    store.save_score(low)
    assert store.scores_for_day(DAY)[0] is low  # kept current by the write, not re-read
    high = Score(arxiv_id=BASED.arxiv_id, day=DAY, total=0.8, components=[])
    assert store.save_score(high) and not store.save_score(high.model_copy())
    assert store.scores_for_day(DAY) == [high, low]  # in the query's order
    store.save_score(high.model_copy(update={"total": 0.1}), replace=True)
    assert [s.total for s in store.scores_for_day(DAY)] == [0.2, 0.1]
    assert [s.total for s in SqliteStore(tmp_path / "pf.sqlite").scores_for_day(DAY)] == [0.2, 0.1]
    # another connection (a second `paperfoundry` process) commits: both reads are stale
    other = SqliteStore(tmp_path / "pf.sqlite")
    renamed = BASED.model_copy(update={"title": "Renamed"})
    other.db.execute(
        "UPDATE papers SET doc = ? WHERE arxiv_id = ?", (renamed.model_dump_json(), BASED.arxiv_id)
    )
    other.clear_scores(DAY)
    other.close()
    assert store.scores_for_day(DAY) == []
    assert store.get_paper(BASED.arxiv_id).title == "Renamed"
    assert "Renamed" in {p.title for p in store.papers_for_day(DAY)}
    # callers get their own list: changing it changes nothing stored
    store.papers_for_day(DAY).clear()
    assert len(store.papers_for_day(DAY)) == 2
