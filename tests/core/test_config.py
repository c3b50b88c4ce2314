"""The group's config file is laid over the bundled defaults."""

from __future__ import annotations

import pytest
from paperfoundry.config import Config, ConfigError, find_config, load_config, parse_config


def test_a_partial_file_keeps_the_other_defaults(tmp_path):
    path = tmp_path / "paperfoundry.toml"
    path.write_text(
        '[llm]\nbase_url = "http://localhost:11434/v1"\n[review.weights]\nreview = 0.5\n'
    )
    config = load_config(path)
    default = load_config()
    assert config.llm.base_url == "http://localhost:11434/v1"
    assert config.interests.topics == default.interests.topics and config.interests.topics
    assert config.review.weights.review == 0.5
    assert config.review.weights.signals == default.review.weights.signals  # merged, not reset
    assert config.llm.prices["gpt-5"].output == 10.0


def test_lists_are_replaced_not_appended():
    config = parse_config('[interests]\nkeywords = ["mamba"]\n')
    assert config.interests.keywords == ["mamba"]


def test_unknown_keys_and_bad_toml_are_errors():
    with pytest.raises(ConfigError, match="revieww"):
        parse_config("[revieww]\nsamples = 3\n", "x.toml")
    with pytest.raises(ConfigError, match="invalid TOML"):
        parse_config("[llm\n", "x.toml")
    with pytest.raises(ConfigError, match="samples"):
        parse_config("[review]\nsamples = 0\n", "x.toml")


def test_model_prices_add_to_the_defaults():
    config = parse_config('[llm.prices]\n"llama3.1:8b" = { input = 0, output = 0 }\n')
    assert config.llm.prices["llama3.1:8b"].output == 0
    assert "gpt-5-mini" in config.llm.prices


# -- validation up front (the CLI's matrix is in tests/cli/test_errors.py) ----------------


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (
            "[selection]\nmax_pick = 3\n",
            "unknown key 'max_pick' in [selection]: did you mean 'max_picks'?",
        ),
        (
            "[llm.prices.x]\ninput = 1\noutput = 1\ninptu = 2\n",
            "in [llm.prices.x]: did you mean 'input'?",
        ),
        (
            "[[interests.papers]]\ntitle = 'x'\ntitel = 'y'\n",
            "in [interests.papers]: did you mean 'title'?",
        ),
        ("[selection]\nzzz = 1\n", "known keys: max_picks, gpu_minutes_budget"),
        ("[training]\nbudget = 'huge'\n", "training.budget = 'huge'"),
        ("[training]\ndevice = 'gpu'\n", "training.device = 'gpu'"),
        ("[selection]\nmax_picks = -5\n", "selection.max_picks = -5"),
        ("[selection]\nmin_score = 7\n", "min_score = 7 can never be reached"),
        ("[ranking.weights]\nliked = -1\n", "ranking.weights.liked = -1"),
        ("[interests]\nliked = ['not-an-id']\n", "not an arXiv id: 'not-an-id'"),
        ("[interests]\nexclude_categories = ['cs CR']\n", "not an arXiv category"),
        ("[implement]\npaper_text_url = 'https://x/y.md'\n", "must contain {arxiv_id}"),
        ("[training]\ntimeout_minutes = 0\n", "training.timeout_minutes = 0"),
    ],
)
def test_bad_values_are_one_line_each_naming_the_key(text, says):
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "x.toml")
    (line,) = str(caught.value).splitlines()
    assert line.startswith("x.toml: ") and says in line


def test_min_score_is_checked_against_the_weights():
    heavy = "[ranking.weights]\nrelevance = 2\n[selection]\nmin_score = 1.5\n"
    assert parse_config(heavy).selection.min_score == 1.5
    with pytest.raises(ConfigError, match="every score would be 0"):
        parse_config(
            "[ranking.weights]\nrelevance = 0\nupvotes = 0\ncomments = 0\nstars = 0\n"
            "code = 0\nliked = 0\n"
        )


def test_liked_ids_are_stored_bare():
    config = parse_config(
        '[interests]\nliked = ["arXiv:2402.18668v2", "https://arxiv.org/abs/2410.23168",'
        ' "2402.18668", "cs/0112017v1"]\n'
    )
    assert config.interests.liked == ["2402.18668", "2410.23168", "cs/0112017"]


def test_the_default_file_states_every_key_at_its_model_default():
    """`paperfoundry config` prints data/default_config.toml: every key, and (except the
    group's interests, which the file states) the same values the models default to."""
    config, model = load_config(), Config()
    for section in Config.model_fields:
        if section != "interests":
            assert getattr(config, section) == getattr(model, section), section


def test_find_config_order(tmp_path):
    (tmp_path / "paperfoundry.toml").write_text("")
    (tmp_path / "env.toml").write_text("")
    env = {"PAPERFOUNDRY_CONFIG": str(tmp_path / "env.toml")}
    assert find_config(None, env={}, cwd=tmp_path) == (
        tmp_path / "paperfoundry.toml",
        "./paperfoundry.toml",
    )
    assert find_config(None, env=env, cwd=tmp_path) == (
        tmp_path / "env.toml",
        "$PAPERFOUNDRY_CONFIG",
    )
    explicit = tmp_path / "env.toml"
    assert find_config(explicit, env={}, cwd=tmp_path) == (explicit, "--config")
    assert find_config(None, env={}, cwd=tmp_path / "sub") == (None, "defaults")
    with pytest.raises(ConfigError, match=r"nope.toml \(from --config\) does not exist"):
        find_config(tmp_path / "nope.toml", env={}, cwd=tmp_path)
    with pytest.raises(ConfigError, match=r"is a directory"):
        find_config(None, env={"PAPERFOUNDRY_CONFIG": str(tmp_path)}, cwd=tmp_path)


def test_budget_choices_are_the_harness_budgets():
    from typing import get_args

    from paperfoundry.config import BUDGETS, Budget
    from paperfoundry_trainer.spec import BUDGET_NAMES

    assert get_args(Budget) == BUDGETS == BUDGET_NAMES
