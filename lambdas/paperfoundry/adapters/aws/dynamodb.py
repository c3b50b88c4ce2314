"""`DynamoStore`: the `PaperStore` port on one DynamoDB table (single-table design).

Key design (docs/DATA_MODEL.md has the full table and the access patterns):

    item            pk                  sk                 gsi1pk           gsi1sk
    paper           PAPER#<id>          META               -                -
    day membership  DAY#<date>          PAPER#<id>         -                -
    implementation  PAPER#<id>          IMPL               -                -
    day state       DAY#<date>          DAY                DAYS             <date>
    source status   DAY#<date>          SOURCE#<name>      -                -
    picks           DAY#<date>          PICKS              -                -
    score           DAY#<date>          SCORE#<id>         -                -
    run             DAY#<date>          RUN#<run_id>       PAPER#<id>       RUN#<run_id>
    LLM review      DAY#<date>          REVIEW#<id>        -                -
    tournament      DAY#<date>          TOURNAMENT         -                -
    LLM call        DAY#<date>          LLMCALL#<time>#<n> -                -

Everything a step reads right after another step wrote it lives in the base table (reads
are strongly consistent); the GSI serves the read paths that tolerate its eventual
consistency: a paper's runs on other days (`runs_for_paper`, used to skip papers already
trained) and the recent days (`day_states_since`).

Idempotency: `save_score` is a Put guarded by `attribute_not_exists`, so a redelivered
message does not overwrite the score (`replace=True` drops the guard). Papers are merged
with `sources.merge.merge_papers`, the same rule as the local store. Each scrape unit's
source status is its own item, so units saving at the same time do not overwrite each
other. The day state is a plain Put: one execution per day writes it.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from ...models import (
    DayState,
    Implementation,
    LLMCall,
    Paper,
    PaperReview,
    Pick,
    Score,
    SourceStatus,
    Tournament,
    TrainingRun,
)
from ...sources.merge import merge_papers

# -- keys --------------------------------------------------------------------------------


def paper_pk(arxiv_id: str) -> str:
    return f"PAPER#{arxiv_id}"


def day_pk(day: date) -> str:
    return f"DAY#{day.isoformat()}"


def day_of_run_id(run_id: str) -> date:
    """`pf-20240229-...` -> date(2024, 2, 29) (see `training.run_id_for`)."""
    try:
        stamp = run_id.split("-")[1]
        return datetime.strptime(stamp, "%Y%m%d").date()
    except (IndexError, ValueError) as exc:
        raise ValueError(f"not a paperfoundry run id: {run_id!r}") from exc


# -- values: floats <-> Decimal ------------------------------------------------------------


def to_dynamo(value: Any) -> Any:
    """JSON-shaped data to what DynamoDB accepts: floats become Decimal (via str, so 0.1
    stays 0.1); NaN/inf, which DynamoDB cannot store, become None."""
    if isinstance(value, bool) or value is None or isinstance(value, str | int | Decimal):
        return value
    if isinstance(value, float):
        return Decimal(str(value)) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): to_dynamo(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_dynamo(v) for v in value]
    raise TypeError(f"cannot store {type(value).__name__} in DynamoDB")


def from_dynamo(value: Any) -> Any:
    """Inverse of `to_dynamo`: Decimal -> int when integral, else float."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_dynamo(v) for v in value]
    return value


def _now() -> str:
    return datetime.now(UTC).isoformat()


class DynamoStore:
    """PaperStore on DynamoDB. `client` is a boto3 DynamoDB client (injectable)."""

    def __init__(self, table_name: str, client: Any = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("dynamodb")
        from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

        self.table_name = table_name
        self.client = client
        self._ser = TypeSerializer()
        self._de = TypeDeserializer()

    # -- low-level helpers ---------------------------------------------------------------

    def _item(self, attrs: dict[str, Any]) -> dict[str, Any]:
        return {k: self._ser.serialize(to_dynamo(v)) for k, v in attrs.items()}

    def _plain(self, item: dict[str, Any]) -> dict[str, Any]:
        return {k: from_dynamo(self._de.deserialize(v)) for k, v in item.items()}

    def _key(self, pk: str, sk: str) -> dict[str, Any]:
        return {"pk": {"S": pk}, "sk": {"S": sk}}

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        response = self.client.get_item(
            TableName=self.table_name, Key=self._key(pk, sk), ConsistentRead=True
        )
        item = response.get("Item")
        return self._plain(item) if item else None

    def _put(self, attrs: dict[str, Any]) -> None:
        self.client.put_item(TableName=self.table_name, Item=self._item(attrs))

    def _query(
        self,
        pk: str,
        prefix: str,
        *,
        index: str | None = None,
        forward: bool = True,
        limit: int | None = None,
        sk_from: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Items of one partition: sort keys starting with `prefix`, or (`sk_from`) at or
        after it. Follows pagination; `limit` caps the items returned."""
        if prefix and sk_from is not None:
            raise ValueError("a query takes a prefix or a lower bound, not both")
        pk_name, sk_name = ("gsi1pk", "gsi1sk") if index else ("pk", "sk")
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": pk_name},
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ScanIndexForward": forward,
        }
        if prefix:  # begins_with on an empty string is rejected by DynamoDB
            kwargs["KeyConditionExpression"] += " AND begins_with(#sk, :prefix)"
            kwargs["ExpressionAttributeNames"]["#sk"] = sk_name
            kwargs["ExpressionAttributeValues"][":prefix"] = {"S": prefix}
        if sk_from is not None:
            kwargs["KeyConditionExpression"] += " AND #sk >= :from"
            kwargs["ExpressionAttributeNames"]["#sk"] = sk_name
            kwargs["ExpressionAttributeValues"][":from"] = {"S": sk_from}
        if index:
            kwargs["IndexName"] = index
        else:
            kwargs["ConsistentRead"] = True
        returned = 0
        while True:
            if limit is not None:
                kwargs["Limit"] = limit - returned
            response = self.client.query(**kwargs)
            for item in response.get("Items", []):
                returned += 1
                yield self._plain(item)
            if "LastEvaluatedKey" not in response or (limit is not None and returned >= limit):
                return
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _batch_get(self, keys: list[tuple[str, str]]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for start in range(0, len(keys), 100):
            pending: dict[str, Any] = {
                self.table_name: {
                    "Keys": [self._key(pk, sk) for pk, sk in keys[start : start + 100]],
                    "ConsistentRead": True,
                }
            }
            while pending:
                response = self.client.batch_get_item(RequestItems=pending)
                found.extend(self._plain(i) for i in response["Responses"].get(self.table_name, []))
                pending = response.get("UnprocessedKeys") or {}
        return found

    def _batch_put(self, items: list[dict[str, Any]]) -> None:
        for start in range(0, len(items), 25):
            requests = [{"PutRequest": {"Item": self._item(i)}} for i in items[start : start + 25]]
            pending: dict[str, Any] = {self.table_name: requests}
            for _ in range(8):
                response = self.client.batch_write_item(RequestItems=pending)
                pending = response.get("UnprocessedItems") or {}
                if not pending:
                    break
            else:
                raise RuntimeError("DynamoDB kept returning unprocessed items")

    @staticmethod
    def _data(model: Any) -> dict[str, Any]:
        return model.model_dump(mode="json")

    # -- papers ----------------------------------------------------------------------------

    def upsert_papers(self, papers: Iterable[Paper]) -> list[str]:
        """Insert new papers; merge known ones with `merge_papers` (stored record first:
        the re-scrape's counts win, the first listing day is kept). Both the canonical
        item (PAPER#id/META) and the day membership copy (DAY#date/PAPER#id) are written;
        a paper the merge leaves unchanged is not written again."""
        incoming = merge_papers(papers)  # duplicates within the batch, in order
        if not incoming:
            return []
        existing = {
            item["arxiv_id"]: Paper.model_validate(item["data"])
            for item in self._batch_get([(paper_pk(p.arxiv_id), "META") for p in incoming])
        }
        items: list[dict[str, Any]] = []
        new_ids: list[str] = []
        for paper in incoming:
            pid = paper.arxiv_id
            if pid in existing:
                merged = merge_papers([existing[pid]], [paper])[0]
                if merged == existing[pid]:
                    continue
            else:
                merged = paper
                new_ids.append(pid)
            data = self._data(merged)
            common = {
                "type": "paper",
                "arxiv_id": pid,
                "day": merged.day.isoformat(),
                "updated_at": _now(),
                "data": data,
            }
            items.append({"pk": paper_pk(pid), "sk": "META", **common})
            items.append({"pk": day_pk(merged.day), "sk": f"PAPER#{pid}", **common})
        self._batch_put(items)
        return new_ids

    def get_paper(self, arxiv_id: str) -> Paper | None:
        item = self._get(paper_pk(arxiv_id), "META")
        return Paper.model_validate(item["data"]) if item else None

    def papers_for_day(self, day: date) -> list[Paper]:
        return [Paper.model_validate(i["data"]) for i in self._query(day_pk(day), "PAPER#")]

    # -- scores ----------------------------------------------------------------------------

    def save_score(self, score: Score, *, replace: bool = False) -> bool:
        """Put the score only the first time this (day, paper) is scored (False on a
        redelivery, the stored score untouched); `replace=True` overwrites it."""
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "Item": self._item(
                {
                    "pk": day_pk(score.day),
                    "sk": f"SCORE#{score.arxiv_id}",
                    "type": "score",
                    "arxiv_id": score.arxiv_id,
                    "total": score.total,
                    "data": self._data(score),
                }
            ),
        }
        if not replace:
            request["ConditionExpression"] = "attribute_not_exists(pk)"
        try:
            self.client.put_item(**request)
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def save_scores(self, scores: Iterable[Score]) -> int:
        """One conditional put each (BatchWriteItem has no conditions)."""
        return sum(self.save_score(score) for score in scores)

    def scores_for_day(self, day: date) -> list[Score]:
        """Best first (ties by arXiv id). Read from the base table (strongly consistent,
        the selection runs right after the last score is written) and sorted here."""
        scores = [Score.model_validate(i["data"]) for i in self._query(day_pk(day), "SCORE#")]
        return sorted(scores, key=lambda s: (-s.total, s.arxiv_id))

    # -- the day's record --------------------------------------------------------------------

    def get_day_state(self, day: date) -> DayState | None:
        item = self._get(day_pk(day), "DAY")
        return DayState.model_validate(item["data"]) if item and "data" in item else None

    def save_day_state(self, state: DayState) -> None:
        """Plain Put (one execution per day writes it); on gsi1 `DAYS` / <date>."""
        self._put(
            {
                "pk": day_pk(state.day),
                "sk": "DAY",
                "gsi1pk": "DAYS",
                "gsi1sk": state.day.isoformat(),
                "type": "day",
                "status": state.status,
                "updated_at": _now(),
                "data": self._data(state),
            }
        )

    def day_states_since(self, since: date) -> list[DayState]:
        """Newest first, via gsi1 `DAYS` (eventually consistent). Day items written before
        day states existed (no `data`) are skipped."""
        items = self._query("DAYS", "", index="gsi1", forward=False, sk_from=since.isoformat())
        return [DayState.model_validate(i["data"]) for i in items if "data" in i]

    # -- sources, picks, implementations ---------------------------------------------------

    def save_sources(self, day: date, statuses: list[SourceStatus]) -> None:
        """One item per status name (`SOURCE#<name>`): a status replaces the stored one of
        its name, others are kept, and units saving at once do not race."""
        self._batch_put(
            [
                {
                    "pk": day_pk(day),
                    "sk": f"SOURCE#{status.name}",
                    "type": "source",
                    "data": self._data(status),
                }
                for status in {s.name: s for s in statuses}.values()
            ]
        )

    def sources_for_day(self, day: date) -> list[SourceStatus]:
        """By name. Also reads the day's older single `SOURCES` item (a list), which
        per-name items override."""
        found: dict[str, SourceStatus] = {}
        for item in self._query(day_pk(day), "SOURCE"):
            if item["sk"] == "SOURCES":
                legacy = (SourceStatus.model_validate(s) for s in item["data"])
                found = {s.name: s for s in legacy} | found
            else:
                status = SourceStatus.model_validate(item["data"])
                found[status.name] = status
        return [found[name] for name in sorted(found)]

    def save_picks(self, day: date, picks: list[Pick]) -> None:
        self._put(
            {
                "pk": day_pk(day),
                "sk": "PICKS",
                "type": "picks",
                "data": [self._data(p) for p in picks],
            }
        )

    def picks_for_day(self, day: date) -> list[Pick]:
        item = self._get(day_pk(day), "PICKS")
        picks = [Pick.model_validate(p) for p in item["data"]] if item else []
        return sorted(picks, key=lambda p: p.rank)

    def save_implementation(self, implementation: Implementation) -> None:
        self._put(
            {
                "pk": paper_pk(implementation.arxiv_id),
                "sk": "IMPL",
                "type": "implementation",
                "status": implementation.status,
                "data": self._data(implementation),
            }
        )

    def get_implementation(self, arxiv_id: str) -> Implementation | None:
        item = self._get(paper_pk(arxiv_id), "IMPL")
        return Implementation.model_validate(item["data"]) if item else None

    # -- runs ------------------------------------------------------------------------------

    def save_run(self, run: TrainingRun) -> None:
        self._put(
            {
                "pk": day_pk(run.day),
                "sk": f"RUN#{run.run_id}",
                "gsi1pk": paper_pk(run.arxiv_id),
                "gsi1sk": f"RUN#{run.run_id}",
                "type": "run",
                "status": run.status,
                "job_name": run.job_name,
                "data": self._data(run),
            }
        )

    def get_run(self, run_id: str) -> TrainingRun | None:
        try:
            day = day_of_run_id(run_id)
        except ValueError:
            return None
        item = self._get(day_pk(day), f"RUN#{run_id}")
        return TrainingRun.model_validate(item["data"]) if item else None

    def runs_for_day(self, day: date) -> list[TrainingRun]:
        return [TrainingRun.model_validate(i["data"]) for i in self._query(day_pk(day), "RUN#")]

    def runs_for_paper(self, arxiv_id: str) -> list[TrainingRun]:
        items = self._query(paper_pk(arxiv_id), "RUN#", index="gsi1")
        return [TrainingRun.model_validate(i["data"]) for i in items]

    # -- LLM review, tournament, spend ledger ------------------------------------------------

    def save_review(self, review: PaperReview) -> None:
        self._put(
            {
                "pk": day_pk(review.day),
                "sk": f"REVIEW#{review.arxiv_id}",
                "type": "review",
                "data": self._data(review),
            }
        )

    def reviews_for_day(self, day: date) -> dict[str, PaperReview]:
        items = self._query(day_pk(day), "REVIEW#")
        return {(r := PaperReview.model_validate(i["data"])).arxiv_id: r for i in items}

    def save_tournament(self, tournament: Tournament) -> None:
        self._put(
            {
                "pk": day_pk(tournament.day),
                "sk": "TOURNAMENT",
                "type": "tournament",
                "data": self._data(tournament),
            }
        )

    def get_tournament(self, day: date) -> Tournament | None:
        item = self._get(day_pk(day), "TOURNAMENT")
        return Tournament.model_validate(item["data"]) if item else None

    def record_llm_call(self, call: LLMCall) -> None:
        # time first so the ledger reads in order; a random suffix keeps concurrent
        # calls in the same microsecond apart
        suffix = uuid.uuid4().hex[:8]
        self._put(
            {
                "pk": day_pk(call.day),
                "sk": f"LLMCALL#{call.at.isoformat()}#{suffix}",
                "type": "llm_call",
                "data": self._data(call),
            }
        )

    def llm_calls_for_day(self, day: date) -> list[LLMCall]:
        return [LLMCall.model_validate(i["data"]) for i in self._query(day_pk(day), "LLMCALL#")]
