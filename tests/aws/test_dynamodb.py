"""DynamoStore on moto: what only the DynamoDB store has (item layout, the GSI listings,
Decimal/NaN, pagination, batching, items written before the current layout).

Every port method's behaviour is asserted for both stores in
tests/core/test_store_contract.py.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from paperfoundry.adapters.aws.dynamodb import (
    DynamoStore,
    day_of_run_id,
    from_dynamo,
    to_dynamo,
)
from paperfoundry.models import (
    DayState,
    Paper,
    Score,
    SourceSignals,
    SourceStatus,
    TrainingRun,
)
from paperfoundry.training import run_id_for

from .conftest import TABLE

DAY = date(2024, 2, 29)


@pytest.fixture
def store(aws) -> DynamoStore:
    return DynamoStore(TABLE, aws.dynamodb)


def paper(arxiv_id: str, *, day: date = DAY, **signals) -> Paper:
    return Paper(
        arxiv_id=arxiv_id,
        title=f"Paper {arxiv_id}",
        abstract="linear attention and recall",
        authors=["Ada Lovelace"],
        day=day,
        categories=["cs.LG"],
        signals={"huggingface": SourceSignals(source="huggingface", **signals)},
    )


def score(arxiv_id: str, total: float, day: date = DAY) -> Score:
    return Score(arxiv_id=arxiv_id, day=day, total=total, components=[])


def keys(aws) -> list[tuple[str, str]]:
    return sorted((i["pk"]["S"], i["sk"]["S"]) for i in aws.dynamodb.scan(TableName=TABLE)["Items"])


def raw(aws, pk: str, sk: str) -> dict[str, Any]:
    return aws.dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": pk}, "sk": {"S": sk}})["Item"]


def test_a_paper_is_two_items_and_an_unchanged_upsert_writes_nothing(store, aws):
    papers = [paper("2402.18668", upvotes=19)]
    store.upsert_papers(papers)
    assert keys(aws) == [("DAY#2024-02-29", "PAPER#2402.18668"), ("PAPER#2402.18668", "META")]
    stamp = raw(aws, "PAPER#2402.18668", "META")["updated_at"]
    store.upsert_papers(papers)  # a redelivery: merged == stored, no write
    assert raw(aws, "PAPER#2402.18668", "META")["updated_at"] == stamp
    store.upsert_papers([paper("2402.18668", upvotes=20)])
    assert raw(aws, "PAPER#2402.18668", "META")["updated_at"] != stamp
    assert raw(aws, "DAY#2024-02-29", "PAPER#2402.18668")["data"]["M"]["signals"]["M"][
        "huggingface"
    ]["M"]["upvotes"] == {"N": "20"}


def test_decimal_round_trip_keeps_values():
    data = {"a": 0.1, "b": 3, "c": [1.5e-7, 2.0, None, True], "d": {"e": float("nan")}}
    stored = to_dynamo(data)
    assert stored["a"] == Decimal("0.1") and isinstance(stored["c"][0], Decimal)
    assert stored["d"]["e"] is None  # DynamoDB has no NaN
    assert to_dynamo({"x": float("inf")}) == {"x": None}
    back = from_dynamo(stored)
    assert back == {"a": 0.1, "b": 3, "c": [1.5e-7, 2, None, True], "d": {"e": None}}
    with pytest.raises(TypeError):
        to_dynamo({"s": {1, 2}})


def test_score_is_one_conditional_put(store, aws):
    assert store.save_score(score("2402.18668", 0.61)) is True
    assert store.save_score(score("2402.18668", 0.99)) is False
    assert keys(aws) == [("DAY#2024-02-29", "SCORE#2402.18668")]  # no day item, no counter
    item = raw(aws, "DAY#2024-02-29", "SCORE#2402.18668")
    assert item["total"]["N"] == "0.61" and "gsi1pk" not in item  # nothing reads an index
    store.save_score(score("2402.18668", 0.05), replace=True)
    assert [s.total for s in store.scores_for_day(DAY)] == [0.05]


def test_each_source_status_is_its_own_item(store, aws):
    store.save_sources(DAY, [SourceStatus(name="arxiv:cs.LG", ok=True, papers=3)])
    store.save_sources(DAY, [SourceStatus(name="huggingface", ok=True, papers=2)])
    assert keys(aws) == [
        ("DAY#2024-02-29", "SOURCE#arxiv:cs.LG"),
        ("DAY#2024-02-29", "SOURCE#huggingface"),
    ]


def test_the_older_single_sources_item_is_still_read(store, aws):
    """Days stored before per-name items: one `SOURCES` item holding a list."""
    aws.dynamodb.put_item(
        TableName=TABLE,
        Item={
            "pk": {"S": "DAY#2024-02-29"},
            "sk": {"S": "SOURCES"},
            "type": {"S": "sources"},
            "data": {
                "L": [
                    {
                        "M": {
                            "name": {"S": "huggingface"},
                            "ok": {"BOOL": True},
                            "papers": {"N": "2"},
                        }
                    },
                    {
                        "M": {
                            "name": {"S": "arxiv"},
                            "ok": {"BOOL": False},
                            "error": {"S": "HTTP 503"},
                        }
                    },
                ]
            },
        },
    )
    assert [s.name for s in store.sources_for_day(DAY)] == ["arxiv", "huggingface"]
    store.save_sources(DAY, [SourceStatus(name="arxiv", ok=True, papers=9)])  # overrides
    assert store.sources_for_day(DAY) == [
        SourceStatus(name="arxiv", ok=True, papers=9),
        SourceStatus(name="huggingface", ok=True, papers=2),
    ]


def test_day_state_is_the_day_item_on_the_days_index(store, aws):
    store.save_day_state(DayState(day=DAY, status="partial", failed_sources=["arxiv:cs.LG"]))
    item = raw(aws, "DAY#2024-02-29", "DAY")
    assert (item["gsi1pk"]["S"], item["gsi1sk"]["S"]) == ("DAYS", "2024-02-29")
    assert item["status"]["S"] == "partial" and item["type"]["S"] == "day"


def test_day_items_from_before_day_states_are_ignored(store, aws):
    """An older day item (counters and flags, no `data`) reads as no state."""
    older = DAY - timedelta(days=1)
    aws.dynamodb.put_item(
        TableName=TABLE,
        Item={
            "pk": {"S": f"DAY#{older.isoformat()}"},
            "sk": {"S": "DAY"},
            "gsi1pk": {"S": "DAYS"},
            "gsi1sk": {"S": older.isoformat()},
            "type": {"S": "day"},
            "total": {"N": "3"},
            "ranked": {"N": "3"},
        },
    )
    store.save_day_state(DayState(day=DAY))
    assert store.get_day_state(older) is None
    assert [s.day for s in store.day_states_since(older)] == [DAY]


class SmallPages:
    """Wraps the client: every Query returns at most 2 items and every BatchGetItem answers
    a few keys and leaves the rest unprocessed, as DynamoDB does past 1 MB / 16 MB."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.queries = 0
        self.batch_gets = 0

    def query(self, **kwargs: Any) -> dict[str, Any]:
        self.queries += 1
        return self._client.query(**{**kwargs, "Limit": min(kwargs.get("Limit", 2), 2)})

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803
        self.batch_gets += 1
        [(table, request)] = RequestItems.items()
        now, later = request["Keys"][:30], request["Keys"][30:]
        response = self._client.batch_get_item(RequestItems={table: {**request, "Keys": now}})
        if later:
            response["UnprocessedKeys"] = {table: {**request, "Keys": later}}
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_reads_follow_pages_and_unprocessed_keys(aws):
    client = SmallPages(aws.dynamodb)
    store = DynamoStore(TABLE, client)
    ids = [f"2402.{n:05d}" for n in range(130)]  # more than one BatchGetItem (100 keys)
    assert store.upsert_papers([paper(i) for i in ids]) == ids
    assert store.upsert_papers([paper(i, upvotes=1) for i in ids]) == []
    assert client.batch_gets >= 2 + 2 * 3  # two requests of ≤100 keys, 30 answered at a time
    client.queries = 0
    listed = store.papers_for_day(DAY)
    assert [p.arxiv_id for p in listed] == ids
    assert all(p.signals["huggingface"].upvotes == 1 for p in listed)
    assert client.queries >= 65
    for n in range(5):
        store.save_day_state(DayState(day=DAY - timedelta(days=n)))
    assert len(store.day_states_since(DAY - timedelta(days=10))) == 5
    for n in range(5):
        store.save_score(score(ids[n], n / 10))
    assert [s.arxiv_id for s in store.scores_for_day(DAY)][:3] == [ids[4], ids[3], ids[2]]


def test_a_run_lives_in_its_day_and_on_the_paper_index(store, aws):
    day = DAY + timedelta(days=3)
    run_id = run_id_for(day, "2402.18668", "mqar")
    assert day_of_run_id(run_id) == day
    with pytest.raises(ValueError):
        day_of_run_id("not-a-run")
    store.save_run(
        TrainingRun(
            run_id=run_id,
            arxiv_id="2402.18668",
            day=day,
            task="mqar",
            budget="small",
            backend="sagemaker",
            status="running",
            job_name=run_id,
        )
    )
    item = raw(aws, "DAY#2024-03-03", f"RUN#{run_id}")
    assert (item["gsi1pk"]["S"], item["gsi1sk"]["S"]) == ("PAPER#2402.18668", f"RUN#{run_id}")
    assert (item["status"]["S"], item["job_name"]["S"]) == ("running", run_id)


# -- legacy day flags: kept only while lambdas/handlers/ call them; remove with them --------
