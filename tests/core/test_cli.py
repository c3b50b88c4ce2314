"""The `paperfoundry` command end to end, with the real harness at the `tiny` budget.
(Every bad input and its exit code: tests/cli/.)"""

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import respx
from paperfoundry.cli import EXIT_CONFIG, EXIT_ERROR, EXIT_OK, main

DNS_FAILURE = httpx.ConnectError("[Errno -3] Temporary failure in name resolution")


@pytest.fixture(autouse=True)
def _no_local_config(tmp_path, monkeypatch):
    """No ./paperfoundry.toml or $PAPERFOUNDRY_CONFIG of the developer's."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PAPERFOUNDRY_CONFIG", raising=False)


@pytest.fixture
def offline(monkeypatch):
    from paperfoundry.sources import arxiv

    monkeypatch.setattr(arxiv.RATE_LIMITER, "wait", lambda *a, **k: 0.0)  # no 3 s spacing
    with respx.mock(assert_all_called=False) as mock:
        mock.route().mock(side_effect=DNS_FAILURE)
        yield mock


def test_every_source_failing_without_fallback_exits_with_error(offline, tmp_path, capsys):
    day = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    code = main(["run", "--date", day, "--out", str(tmp_path), "--no-train"])
    out, err = capsys.readouterr()
    assert code == EXIT_ERROR
    assert "huggingface: 0 papers, failed" in out  # each source's status, then one error
    assert err.startswith("paperfoundry run: error: every source failed")
    assert "--offline-fallback" in err and len(err.strip().splitlines()) == 1


def test_bad_config_is_a_clear_error(tmp_path, capsys):
    config = tmp_path / "pf.toml"
    config.write_text("[selection]\nmax_pick = 3\n")  # typo: max_pick
    code = main(["run", "--sample", "--config", str(config), "--out", str(tmp_path)])
    assert code == EXIT_CONFIG
    assert "max_pick' in [selection]: did you mean 'max_picks'?" in capsys.readouterr().err


def test_config_command_prints_every_key_as_a_valid_default(capsys):
    from paperfoundry.config import Config, parse_config

    assert main(["config"]) == EXIT_OK
    text = capsys.readouterr().out
    assert parse_config(text).selection.max_picks >= 1
    for section, model in Config.model_fields.items():
        for key in model.annotation.model_fields:
            assert f"\n{key} = " in text or f"[{section}.{key}]" in text, f"{section}.{key}"


def test_config_effective_reads_back_as_the_same_config(tmp_path, capsys):
    from paperfoundry.config import load_config, parse_config

    (tmp_path / "paperfoundry.toml").write_text(
        '[selection]\nmax_picks = 5\n[interests]\nliked = ["arXiv:2402.18668v2"]\n'
        '[llm.prices]\n"llama3.1:8b" = { input = 0, output = 0 }\n'
        '[[interests.papers]]\ntitle = "A paper"\nabstract = "About \\"quotes\\"."\n'
    )
    assert main(["config", "--effective"]) == EXIT_OK
    printed = parse_config(capsys.readouterr().out)
    assert printed == load_config(tmp_path / "paperfoundry.toml")
    assert printed.selection.max_picks == 5 and printed.interests.liked == ["2402.18668"]


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
