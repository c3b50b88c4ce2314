"""Every bad input of issue 13 gets a one-line error and its documented exit code, before
any network call (the `net` router would fail a test that made one)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from paperfoundry.cli import ExitCode

PAST = (datetime.now(UTC).date() - timedelta(days=30)).isoformat()
FUTURE = (datetime.now(UTC).date() + timedelta(days=2)).isoformat()
USAGE, CONFIG, FAILED = ExitCode.USAGE, ExitCode.CONFIG, ExitCode.FAILED


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and lines[0].startswith("paperfoundry"), err
    assert ": error: " in lines[0], err
    return lines[0]


@pytest.fixture
def impl(tmp_path):
    path = tmp_path / "impl.py"
    path.write_text("x = 1\n")
    return path


COMMAND_LINES = [
    # (arguments, what the error names)
    (["run", "--budget", "huge"], "'huge' is not one of"),
    (["run", "--device", "gpu"], "'gpu' is not one of"),
    (["run", "--date", FUTURE], "is in the future"),
    (["run", "--date", "2025-13-01"], "YYYY-MM-DD"),
    (["run", "--date", "yesterday"], "YYYY-MM-DD"),
    (["run", "--sample", "--date", PAST], "--sample"),
    (["run", "--only", "not-an-id"], "not an arXiv id"),
    (["run", "--only", "2402.18668", "--no-train"], "--no-train"),
    (["run", "--frobnicate"], "No such option"),
    (["frobnicate"], "No such command"),
    (["-q", "-v", "list"], "cannot go together"),
    (["train", "--task", "mqar"], "Missing option '--impl'"),
    (["train", "--impl", "IMPL", "--task", "nope"], "'nope' is not one of"),
    (["train", "--impl", "IMPL", "--task", "mqar", "--budget", "huge"], "'huge'"),
    (["train", "--impl", "IMPL", "--task", "mqar", "--lrs", "fast"], "comma-separated"),
    (["train", "--impl", "IMPL", "--task", "mqar", "--seeds", "1"], "--seeds"),
    (["validate", "--impl", "IMPL", "--device", "cuda"], "--trusted"),
    (["show", "last-week"], "YYYY-MM-DD"),
    (["show", FUTURE], "is in the future"),
    (["config", "--config", "x.toml"], "--check"),
]


@pytest.mark.parametrize(("args", "names"), COMMAND_LINES, ids=lambda v: " ".join(v)[:40])
def test_bad_command_lines_exit_64(pf, net, impl, args, names):
    code, _, err = pf(*[str(impl) if a == "IMPL" else a for a in args])
    assert code == USAGE, err
    assert names in one_error_line(err)
    assert not net.calls


CONFIGS = [
    # (paperfoundry.toml, what the error says)
    (
        "[selection]\nmax_pick = 3\n",
        "unknown key 'max_pick' in [selection]: did you mean 'max_picks'?",
    ),
    ("[revieww]\nsamples = 3\n", "unknown table 'revieww' in top level: did you mean 'review'?"),
    ("[llm]\nprovidr = 'openai'\n", "did you mean 'provider'?"),
    ("[training]\nbudget = 'huge'\n", "training.budget = 'huge': input should be 'tiny', 'small'"),
    ("[training]\ndevice = 'gpu'\n", "training.device = 'gpu': input should be 'auto'"),
    ("[selection]\nmax_picks = -5\n", "selection.max_picks = -5"),
    ("[selection]\nmin_score = 7\n", "selection.min_score = 7 can never be reached"),
    ("[ranking.weights]\nupvotes = -0.5\n", "ranking.weights.upvotes = -0.5"),
    ("[review.weights]\nreview = -1\n", "review.weights.review = -1"),
    ("[interests]\nliked = ['not-an-id']\n", "not an arXiv id: 'not-an-id'"),
    ("[sources]\ncategories = ['cs LG']\n", "not an arXiv category"),
    ("[sources]\nenabled = ['hf']\n", "sources.enabled = 'hf'"),
    ("[llm]\nprovider = 'openai'\n", "set OPENAI_API_KEY"),
    ("[llm]\nprovider = 'azure'\n", "set AZURE_OPENAI_API_KEY"),
    ("[llm]\nprovider = 'compatible'\n", "set llm.base_url"),
    ("[interests]\nprofile = 'no-such-profile'\n", "interests.profile"),
    ("[llm\n", "invalid TOML"),
]


@pytest.mark.parametrize(("text", "says"), CONFIGS, ids=lambda v: v.split("\n")[0][:30])
def test_bad_configs_exit_78_before_any_network_call(pf, net, tmp_path, text, says):
    # found in the current directory: what `make run` relies on
    (tmp_path / "paperfoundry.toml").write_text(text)
    code, out, err = pf("run", "--out", tmp_path / "runs")
    assert code == CONFIG, out + err
    line = one_error_line(err)
    assert line.startswith("paperfoundry run: error: paperfoundry.toml: ") and says in line
    assert not net.calls and not (tmp_path / "runs").exists()  # nothing scraped, no store
    # the same verdict from `config --check`
    code, _, err = pf("config", "--check")
    assert code == CONFIG and says in one_error_line(err)


def test_several_problems_are_one_line_each(pf, tmp_path):
    (tmp_path / "pf.toml").write_text("[training]\nbudget = 'huge'\ndevice = 'gpu'\n")
    code, _, err = pf("run", "--config", tmp_path / "pf.toml")
    assert code == CONFIG
    assert [line.split("pf.toml: ")[1].split(" =")[0] for line in err.strip().splitlines()] == [
        "training.budget",
        "training.device",
    ]


def test_a_config_named_but_missing_is_a_config_error(pf, tmp_path, monkeypatch):
    code, _, err = pf("run", "--config", tmp_path / "nope.toml")
    assert code == CONFIG and "nope.toml (from --config) does not exist" in one_error_line(err)
    monkeypatch.setenv("PAPERFOUNDRY_CONFIG", str(tmp_path / "gone.toml"))
    code, _, err = pf("run")
    assert code == CONFIG and "gone.toml (from $PAPERFOUNDRY_CONFIG)" in one_error_line(err)


def test_cuda_asked_for_where_there_is_none(pf, monkeypatch):
    monkeypatch.setattr("paperfoundry.cli.checks._cuda_available", lambda: False)
    code, _, err = pf("run", "--device", "cuda")
    assert code == CONFIG and "--device cuda: no CUDA device here" in one_error_line(err)


def test_no_llm_skips_the_credentials_check(pf, tmp_path):
    (tmp_path / "paperfoundry.toml").write_text("[llm]\nprovider = 'openai'\n")
    code, out, _ = pf("config", "--check", "--no-llm")
    assert code == ExitCode.OK and "llm: off" in out


def test_missing_files_and_days_exit_1_without_a_traceback(pf, tmp_path):
    for args in (
        ["train", "--impl", tmp_path / "missing.py", "--task", "mqar"],
        ["validate", "--impl", tmp_path / "missing.py"],
    ):
        code, _, err = pf(*args)
        assert code == FAILED and "missing.py: no such file" in one_error_line(err)
    assert not (tmp_path / "runs").exists()  # train wrote no metrics.json for it
    code, _, err = pf("show", PAST, "--out", tmp_path / "runs")
    assert code == FAILED and f"no day {PAST}" in one_error_line(err)
    code, _, err = pf("show", "latest", "--out", tmp_path / "runs")
    assert code == FAILED and "no reports" in one_error_line(err)


def test_harness_command_line_uses_the_same_codes(capsys, tmp_path):
    from paperfoundry_trainer.cli import main as harness

    assert harness(["train", "--impl", "x.py", "--task", "mqar", "--budget", "huge"]) == USAGE
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("python -m paperfoundry_trainer train: error: argument --budget")
    assert harness(["train", "--impl", "x.py", "--task", "mqar", "--lrs", "a,b"]) == USAGE
    assert harness(["validate", "--impl", str(tmp_path / "nope.py"), "--task", "mqar"]) == FAILED
    err = capsys.readouterr().err
    assert "Traceback" not in err and "nope.py: no such file" in err
