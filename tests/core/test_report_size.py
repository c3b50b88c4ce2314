"""report.json keeps the top papers in full and the rest as rows, so it stays small."""

import json

from paperfoundry import pipeline
from paperfoundry.adapters.local.blobs import FileBlobStore
from paperfoundry.adapters.local.sqlite_store import SqliteStore
from paperfoundry.models import REPORT_FULL_RECORDS, DayReport, Score, ScoreComponent
from paperfoundry.reporting import render_html

from .factories import DAY, paper

ABSTRACT = "We study linear attention and state-space layers for long-context recall. " * 12


def test_report_json_has_full_records_on_top_and_rows_for_the_rest(tmp_path):
    store = SqliteStore(tmp_path / "pf.sqlite")
    n = 400
    store.upsert_papers([paper(f"2611.{i:05d}", f"Paper {i}", ABSTRACT) for i in range(n)])
    detail = "fit 0.123; threshold 0.2 (reached by 80% of 81 profile papers); terms: a, b, c"
    for i in range(n):
        component = ScoreComponent(name="relevance", value=0.5, weight=0.6, contribution=0.3,
                                   detail=detail)  # fmt: skip
        store.save_score(
            Score(arxiv_id=f"2611.{i:05d}", day=DAY, total=i / n, components=[component])
        )
    report = pipeline.build_report(DAY, store=store)
    assert len(report.ranking) == REPORT_FULL_RECORDS and report.ranked_count == n
    order = [rp.paper.arxiv_id for rp in report.ranking] + [r.arxiv_id for r in report.rest]
    assert order == [f"2611.{i:05d}" for i in reversed(range(n))]
    assert report.rest[0].title == f"Paper {n - 1 - REPORT_FULL_RECORDS}"

    blobs = FileBlobStore(tmp_path / "runs")
    pipeline.write_report(report, blobs=blobs, prefix="")
    text = blobs.get(f"{DAY}/report.json")
    assert DayReport.model_validate_json(text) == report
    rows = json.loads(text)["rest"]
    per_row = len(json.dumps(rows, separators=(",", ":"))) / len(rows)
    assert per_row < 150  # the documented bound: ~6 KB per full record + 150 B per row
    assert len(text) < REPORT_FULL_RECORDS * 6_000 + 150 * (n - REPORT_FULL_RECORDS)
    assert f"{n} papers ranked" in render_html(report)
    store.close()
