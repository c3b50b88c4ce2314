"""`paperfoundry run --sample` end to end with an LLM (the fake server): review ->
tournament -> implementation -> training -> report. And without one: as before."""

from __future__ import annotations

import json

import pytest
from paperfoundry.cli import main
from paperfoundry.sources.sample import load_sample_day

from tests.fakes.openai_server import WRONG_SHAPE_CODE, code_reply

pytestmark = pytest.mark.slow


PAPER_MD = "# {title}\n\n## Abstract\n\n{abstract}\n\n## 3 Method\n\nA causal convolution...\n"


def run(tmp_path, *extra: str) -> tuple[int, dict, str]:
    out = tmp_path / "runs"
    code = main(["run", "--sample", "--out", str(out), "--budget", "tiny", "--device", "cpu",
                 *extra])  # fmt: skip
    day_dir = next(p for p in out.iterdir() if p.is_dir() and p.name[:2] == "20")
    report = json.loads((day_dir / "report.json").read_text())
    return code, report, (day_dir / "report.html").read_text()


def test_sample_day_with_an_llm_end_to_end(fake, tmp_path, capsys):
    config = tmp_path / "paperfoundry.toml"
    config.write_text(
        f'[llm]\nbase_url = "{fake.url}"\n'
        f'[implement]\npaper_text_url = "{fake.origin}/papers/{{arxiv_id}}.md"\n'
    )
    for paper in load_sample_day()[1]:
        fake.paper_markdown[paper.arxiv_id] = PAPER_MD.format(**paper.model_dump())
    # the first generated file has a shape bug: the repair loop must fix it
    fake.add("code", code_reply(WRONG_SHAPE_CODE))
    code, report, html = run(tmp_path, "--config", str(config))
    printed = capsys.readouterr().out
    assert code == 0, printed

    assert report["mode"] == "llm"
    assert len(report["reviews"]) == 20  # the top 20 candidates by signals
    assert all(len(r["samples"]) == 3 for r in report["reviews"].values())
    tournament = report["tournament"]
    assert len(tournament["participants"]) == 6 and len(tournament["comparisons"]) == 15
    assert report["ranking"][0]["score"]["basis"] == "combined"
    usage = report["llm"]
    assert usage["total"]["calls"] == len(fake.requests)
    assert set(usage["by_step"]) == {"review", "compare", "plan", "code"}
    assert usage["total"]["cost_usd"] > 0 and not usage["cap_reached"]

    llm_picks = [p for p in report["picks"] if p["implementation"]["provenance"] == "llm"]
    assert llm_picks, "no pick needed the LLM implementer"
    first = llm_picks[0]
    impl = first["implementation"]
    assert impl["status"] == "implemented" and impl["plan"]["name"] == "ShortConvMixer"
    assert [a["ok"] for a in impl["attempts"]] == [False, True]
    assert impl["attempts"][0]["failure"]["type"] == "ShapeError"
    assert first["run"]["status"] == "completed" and first["run"]["verdict"]["outcome"]
    assert all(p["run"] and p["run"]["status"] == "completed" for p in report["picks"])

    assert "LLM: compatible" in printed and "attempt 1: shape ShapeError" in printed
    code_request = fake.requests_for("code")[0]["messages"][1]["content"]
    assert "## 3 Method" in code_request  # the implementer read the paper's markdown
    assert "from " + fake.origin in impl["origin"]
    for text in ("ShortConvMixer", "ShapeError", first["paper"]["arxiv_id"]):
        assert text in html
    assert 'id="reviews"' in html and 'id="tournament"' in html

    # the same day again: nothing reviewed, implemented or trained twice
    before = len(fake.requests)
    code, again, _ = run(tmp_path, "--config", str(config))
    assert code == 0 and len(fake.requests) == before
    assert again["llm"]["total"]["calls"] == usage["total"]["calls"]


def test_sample_day_without_an_llm_says_signals_only(tmp_path, capsys):
    code, report, html = run(tmp_path)
    assert code == 0
    assert report["mode"] == "signals-only" and report["reviews"] == {}
    assert report["llm"] is None and report["tournament"] is None
    assert all(r["score"]["basis"] == "signals" for r in report["ranking"])
    trained = [p["paper"]["arxiv_id"] for p in report["picks"] if p["run"]]
    # the library's BASED, TokenFormer and ViT_C: without an LLM nothing else can have code
    assert trained == ["2402.18668", "2410.23168", "2106.14881"]
    assert all(p["implementation"]["provenance"] == "reference" for p in report["picks"])
    assert any("no code without an LLM" in note for note in report["notes"])
    assert "LLM: off" in capsys.readouterr().out
