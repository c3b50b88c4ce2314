import sqlite3

import pytest
from paperfoundry.adapters.local.sqlite_store import MIGRATIONS, SqliteStore
from paperfoundry.models import (
    Implementation,
    Pick,
    Score,
    SourceSignals,
    SourceStatus,
    TrainingRun,
)

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


def test_upsert_reports_only_new_papers_and_merges_signals(store):
    assert store.upsert_papers([BASED, GNN]) == [BASED.arxiv_id, GNN.arxiv_id]
    later = BASED.model_copy(
        update={
            "day": DAY.replace(day=21),
            "signals": {"arxiv": SourceSignals(source="arxiv", categories=["cs.AI"])},
        }
    )
    assert store.upsert_papers([later]) == []
    merged = store.get_paper(BASED.arxiv_id)
    assert merged.day == DAY  # first listing day wins
    assert set(merged.signals) == {"huggingface", "arxiv"}
    assert [p.arxiv_id for p in store.papers_for_day(DAY)] == [GNN.arxiv_id, BASED.arxiv_id]


def test_scores_are_written_once_and_read_best_first(store):
    low = Score(arxiv_id=GNN.arxiv_id, day=DAY, total=0.2, components=[])
    high = Score(arxiv_id=BASED.arxiv_id, day=DAY, total=0.8, components=[])
    assert store.save_score(low) and store.save_score(high)
    assert not store.save_score(high)  # redelivery
    assert [s.arxiv_id for s in store.scores_for_day(DAY)] == [BASED.arxiv_id, GNN.arxiv_id]
    store.clear_scores(DAY)
    assert store.scores_for_day(DAY) == []


def test_sources_picks_implementations_runs_round_trip(store):
    store.save_sources(DAY, [SourceStatus(name="arxiv", ok=False, error="unreachable: dns")])
    assert store.sources_for_day(DAY)[0].error == "unreachable: dns"
    pick = Pick(arxiv_id=BASED.arxiv_id, day=DAY, rank=1, score=0.8, gpu_minutes=20)
    store.save_picks(DAY, [pick])
    store.save_picks(DAY, [pick])  # replacing, not appending
    assert store.picks_for_day(DAY) == [pick]
    impl = Implementation(arxiv_id=BASED.arxiv_id, status="not_implemented", reason="x")
    store.save_implementation(impl)
    assert store.get_implementation(BASED.arxiv_id) == impl
    run = TrainingRun(
        run_id="pf-1", arxiv_id=BASED.arxiv_id, day=DAY, task="mqar", budget="tiny", backend="local"
    )
    store.save_run(run)
    store.save_run(run.model_copy(update={"status": "completed"}))
    assert store.get_run("pf-1").status == "completed"
    assert len(store.runs_for_day(DAY)) == 1 and len(store.runs_for_paper(BASED.arxiv_id)) == 1
