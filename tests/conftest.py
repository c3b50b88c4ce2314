"""Make the source trees importable even without `pip install -e .`."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# the repository root too, for `tests.fakes` (the fake OpenAI server)
for sub in ("lambdas", "containers/trainer", "."):
    path = str((ROOT / sub).resolve())
    if path not in sys.path:
        sys.path.insert(0, path)

# The CDK's jsii runtime prints a Node end-of-life banner on every start; it is noise here.
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")  # a major list

import pytest  # noqa: E402

LLM_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT",
           "PAPERFOUNDRY_LLM_BASE_URL", "PAPERFOUNDRY_LLM_API_KEY")  # fmt: skip


@pytest.fixture(autouse=True)
def _no_llm_from_the_environment(monkeypatch):
    """A developer's own LLM key must never make a test call a real provider."""
    for name in LLM_ENV:
        monkeypatch.delenv(name, raising=False)
