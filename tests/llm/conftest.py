from __future__ import annotations

from datetime import date

import pytest
from paperfoundry.adapters.local.sqlite_store import SqliteStore
from paperfoundry.llm.client import Credentials, LLMClient

from tests.fakes.openai_server import FakeOpenAI, make_settings

DAY = date(2025, 3, 14)


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def store(tmp_path):
    s = SqliteStore(tmp_path / "pf.sqlite")
    yield s
    s.close()


@pytest.fixture
def make_llm(fake, store):
    def build(**overrides) -> LLMClient:
        settings = make_settings(fake.url, **overrides)
        creds = Credentials("compatible", "unused", base_url=fake.url)
        return LLMClient(settings, creds, store, DAY)

    return build
