"""`run --sample` (no training), then `list`, `show`, `run --only` and `-q` on that day."""

from __future__ import annotations

import json

import pytest
from paperfoundry.cli import ExitCode
from paperfoundry.sources.sample import load_sample_day

SAMPLE_DAY = load_sample_day()[0].isoformat()


@pytest.fixture
def day(pf, tmp_path):
    """The sample day, ranked and picked (not trained), in tmp_path/runs."""
    code, out, err = pf("run", "--sample", "--no-train", "--out", tmp_path / "runs")
    assert code == ExitCode.OK, out + err
    assert "config: bundled defaults" in out and f"report: {tmp_path / 'runs'}" in out
    return tmp_path / "runs"


def test_list_and_show_a_past_day(pf, day):
    code, out, _ = pf("list", "--out", day)
    assert code == ExitCode.OK and SAMPLE_DAY in out and "complete" in out
    code, out, _ = pf("list", "--out", day, "--json")
    (row,) = json.loads(out)
    assert row["day"] == SAMPLE_DAY and row["status"] == "complete" and row["picks"] == 3
    assert row["papers"] == len(load_sample_day()[1])

    code, out, _ = pf("show", SAMPLE_DAY, "--out", day)
    report = json.loads((day / SAMPLE_DAY / "report.json").read_text())
    first = report["picks"][0]["pick"]["arxiv_id"]
    assert code == ExitCode.OK and "(sample day)" in out and f"pick 1 {first}" in out
    assert f"report: {day / SAMPLE_DAY / 'report.html'}" in out
    code, out, _ = pf("show", "latest", "--out", day, "--json")
    assert code == ExitCode.OK and json.loads(out) == report


def test_list_without_days(pf, tmp_path):
    code, out, _ = pf("list", "--out", tmp_path / "empty")
    assert code == ExitCode.OK and "no days" in out
    assert not (tmp_path / "empty").exists()  # looking creates nothing


def test_only_adds_a_paper_of_the_day_as_a_pick(pf, day):
    report = json.loads((day / SAMPLE_DAY / "report.json").read_text())
    picked = {p["pick"]["arxiv_id"] for p in report["picks"]}
    other = next(r["paper"]["arxiv_id"] for r in report["ranking"]
                 if r["paper"]["arxiv_id"] not in picked)  # fmt: skip
    code, out, err = pf("-q", "run", "--sample", "--only", other, "--out", day)
    assert code == ExitCode.OK, out + err
    assert out.strip().splitlines() == [f"report: {day / SAMPLE_DAY / 'report.html'}"]  # -q
    report = json.loads((day / SAMPLE_DAY / "report.json").read_text())
    assert [p["pick"]["arxiv_id"] for p in report["picks"]][-1] == other
    assert f"{other} picked by hand (run --only {other})" in report["notes"]
    added = report["picks"][-1]["implementation"]
    assert added["reason"] == "no LLM configured"  # implemented (tried) alone, nothing trained

    code, _, err = pf("run", "--sample", "--only", "2401.99999", "--out", day)
    assert code == ExitCode.FAILED
    assert err.strip() == (
        f"paperfoundry run: error: 2401.99999 is not among the "
        f"{len(load_sample_day()[1])} papers of {SAMPLE_DAY} "
        f"(`paperfoundry show {SAMPLE_DAY}` lists the ranking)"
    )
