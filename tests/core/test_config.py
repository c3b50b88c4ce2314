"""The group's config file is laid over the bundled defaults."""

from __future__ import annotations

import pytest
from paperfoundry.config import ConfigError, load_config, parse_config


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
