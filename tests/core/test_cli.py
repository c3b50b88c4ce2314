"""The `paperfoundry` command end to end, with the real harness at the `tiny` budget."""

import json

import httpx
import pytest
import respx
from paperfoundry.cli import EXIT_ERROR, EXIT_OK, main

DNS_FAILURE = httpx.ConnectError("[Errno -3] Temporary failure in name resolution")


@pytest.fixture
def offline():
    with respx.mock(assert_all_called=False) as mock:
        mock.route().mock(side_effect=DNS_FAILURE)
        yield mock


def test_every_source_failing_without_fallback_exits_with_error(offline, tmp_path, capsys):
    code = main(["run", "--date", "2026-11-20", "--out", str(tmp_path), "--no-train"])
    out = capsys.readouterr().out
    assert code == EXIT_ERROR
    assert "every source failed" in out and "--offline-fallback" in out


def test_bad_config_is_a_clear_error(tmp_path, capsys):
    config = tmp_path / "pf.toml"
    config.write_text("[selection]\nmax_pick = 3\n")  # typo: max_pick
    code = main(["run", "--sample", "--config", str(config), "--out", str(tmp_path)])
    assert code == EXIT_ERROR
    assert "max_pick" in capsys.readouterr().out


def test_config_command_prints_a_valid_default(capsys):
    from paperfoundry.config import parse_config

    assert main(["config"]) == EXIT_OK
    assert parse_config(capsys.readouterr().out).selection.max_picks >= 1


@pytest.mark.slow
def test_offline_fallback_trains_based_and_reports_its_verdict(offline, tmp_path, capsys):
    args = [
        "run",
        "--offline-fallback",
        "--out",
        str(tmp_path),
        "--budget",
        "tiny",
        "--device",
        "cpu",
    ]
    code = main(args)
    out = capsys.readouterr().out
    assert code == EXIT_OK, out
    assert "SOURCES UNREACHABLE" in out and "SAMPLE DAY" in out

    (day_dir,) = [p for p in tmp_path.iterdir() if p.is_dir() and p.name[:2] == "20"]
    report = json.loads((day_dir / "report.json").read_text())
    assert report["sample"] is True
    sources = {s["name"]: s["ok"] for s in report["sources"]}
    assert sources.pop("sample") is True and sources.pop("huggingface") is False
    assert sources and all(name.startswith("arxiv:") and not ok for name, ok in sources.items())
    based = next(p for p in report["picks"] if p["pick"]["arxiv_id"] == "2402.18668")
    run = based["run"]
    assert run["status"] == "completed"
    metrics = json.loads((day_dir / "training" / run["run_id"] / "metrics.json").read_text())
    assert run["verdict"] == metrics["verdict"]  # the verdict comes from this training
    assert run["curves"]["candidate"] and run["curves"]["baseline"]
    html = (day_dir / "report.html").read_text()
    assert "2402.18668" in html and "<svg" in html

    # The same day again: nothing retrained, nothing duplicated.
    capsys.readouterr()
    assert main(args) == EXIT_OK
    assert "2402.18668: already trained (" in capsys.readouterr().out
    report2 = json.loads((day_dir / "report.json").read_text())
    assert len(report2["ranking"]) == len(report["ranking"])
    rerun = next(p for p in report2["picks"] if p["pick"]["arxiv_id"] == "2402.18668")["run"]
    assert rerun["finished_at"] == run["finished_at"]
