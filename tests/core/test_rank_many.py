"""The local runner scores a big day on every core: the same scores as one by one."""

import pytest
from paperfoundry import pipeline
from paperfoundry.adapters.local.blobs import FileBlobStore
from paperfoundry.adapters.local.queue import InProcessQueue
from paperfoundry.adapters.local.sqlite_store import SqliteStore
from paperfoundry.config import load_config

from .factories import DAY, paper

TOPICS = ["linear attention for long context", "graph neural networks", "protein folding"]


def ranked_day(tmp_path, name: str, workers: int) -> list:
    store = SqliteStore(tmp_path / f"{name}.sqlite")
    blobs, queue = FileBlobStore(tmp_path / name), InProcessQueue()
    papers = [
        paper(f"2611.{i:05d}", f"On {TOPICS[i % 3]} {i}", f"We study {TOPICS[i % 3]}.", upvotes=i)
        for i in range(60)
    ]
    pipeline.ingest(DAY, papers, [], store=store, blobs=blobs, queue=queue, config=load_config())
    ids = [m["arxiv_id"] for m in queue.drain()]
    context = pipeline.load_context(blobs, DAY)
    done = []
    new = pipeline.rank_many(
        DAY, ids, store=store, context=context, workers=workers, on_ranked=done.append
    )
    assert new == sum(done) == 60
    assert pipeline.rank_many(DAY, ids, store=store, context=context, workers=workers) == 0
    scores = store.scores_for_day(DAY)
    store.close()
    return scores


def test_parallel_ranking_gives_the_serial_scores(tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "PARALLEL_MIN_PAPERS", 10)
    monkeypatch.setattr(pipeline, "_CHUNK", 7)
    serial = ranked_day(tmp_path, "serial", workers=1)
    assert ranked_day(tmp_path, "parallel", workers=2) == serial
    assert pipeline._work is None  # nothing left behind for the next day


def test_an_unknown_paper_is_an_error_in_parallel_too(tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "PARALLEL_MIN_PAPERS", 1)
    store = SqliteStore(tmp_path / "pf.sqlite")
    blobs, queue = FileBlobStore(tmp_path), InProcessQueue()
    pipeline.ingest(DAY, [paper("2611.00001", "A")], [], store=store, blobs=blobs, queue=queue,
                    config=load_config())  # fmt: skip
    context = pipeline.load_context(blobs, DAY)
    with pytest.raises(LookupError, match="2611.99999"):
        pipeline.rank_many(
            DAY, ["2611.00001", "2611.99999"], store=store, context=context, workers=2
        )
