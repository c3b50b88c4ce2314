"""`DynamoStore`: the `PaperStore` port on one DynamoDB table (single-table design).

Key design (docs/DATA_MODEL.md has the full table and the access patterns):

    item            pk                  sk                 gsi1pk           gsi1sk
    paper           PAPER#<id>          META               -                -
    day membership  DAY#<date>          PAPER#<id>         -                -
    implementation  PAPER#<id>          IMPL               -                -
    day             DAY#<date>          DAY                DAYS             <date>
    sources         DAY#<date>          SOURCES            -                -
    picks           DAY#<date>          PICKS              -                -
    score           DAY#<date>          SCORE#<id>         SCORES#<date>    <score 0-padded>#<id>
    run             DAY#<date>          RUN#<run_id>       PAPER#<id>       RUN#<run_id>
    LLM review      DAY#<date>          REVIEW#<id>        -                -
    tournament      DAY#<date>          TOURNAMENT         -                -
    LLM call        DAY#<date>          LLMCALL#<time>#<n> -                -

Everything a step reads right after another step wrote it lives in the base table (reads
are strongly consistent); the GSI serves the two read paths that tolerate its eventual
consistency: a day's best-first score listing (`top_scores`) and a paper's runs on other
days (`runs_for_paper`, used to skip papers already trained).

Idempotency: `save_score` writes the score and bumps the day's `ranked` counter in one
transaction guarded by `attribute_not_exists`, so a redelivered SQS message neither
overwrites the score nor counts twice. `claim_ranked_event` / `mark_digest_sent` are
conditional flags on the day item: exactly one caller wins each.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from ...models import (
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

SCORE_SCALE = 10**9  # 9 decimal places in the sort key
SCORE_WIDTH = 13  # scores up to 9999.999999999 sort correctly


# -- keys --------------------------------------------------------------------------------


def paper_pk(arxiv_id: str) -> str:
    return f"PAPER#{arxiv_id}"


def day_pk(day: date) -> str:
    return f"DAY#{day.isoformat()}"


def score_sort_key(total: float, arxiv_id: str) -> str:
    """Zero-padded, so lexicographic order is numeric order (negative scores clamp to 0)."""
    scaled = max(0, min(int(round(total * SCORE_SCALE)), 10**SCORE_WIDTH - 1))
    return f"{scaled:0{SCORE_WIDTH}d}#{arxiv_id}"


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
    ) -> Iterator[dict[str, Any]]:
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
        """Insert new papers; merge the signals of known ones. Both the canonical item
        (PAPER#id/META) and the day membership copy (DAY#date/PAPER#id) are written."""
        incoming: dict[str, Paper] = {}
        for paper in papers:  # merge duplicates within the batch first
            if paper.arxiv_id in incoming:
                incoming[paper.arxiv_id] = _merge(incoming[paper.arxiv_id], paper)
            else:
                incoming[paper.arxiv_id] = paper
        if not incoming:
            return []
        existing = {
            item["arxiv_id"]: Paper.model_validate(item["data"])
            for item in self._batch_get([(paper_pk(pid), "META") for pid in incoming])
        }
        items: list[dict[str, Any]] = []
        new_ids: list[str] = []
        for pid, paper in incoming.items():
            if pid in existing:
                merged = _merge(existing[pid], paper)
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

    # -- scores + the day's fan-in counters -------------------------------------------------

    def save_score(self, score: Score) -> bool:
        """Write the score and increment the day's `ranked` counter atomically, only the
        first time this (day, paper) is scored. Returns False on a redelivery."""
        item = self._item(
            {
                "pk": day_pk(score.day),
                "sk": f"SCORE#{score.arxiv_id}",
                "gsi1pk": f"SCORES#{score.day.isoformat()}",
                "gsi1sk": score_sort_key(score.total, score.arxiv_id),
                "type": "score",
                "arxiv_id": score.arxiv_id,
                "total": score.total,
                "data": self._data(score),
            }
        )
        try:
            self.client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table_name,
                            "Item": item,
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Update": {
                            "TableName": self.table_name,
                            "Key": self._key(day_pk(score.day), "DAY"),
                            "UpdateExpression": "ADD #ranked :one SET #type = :type",
                            "ExpressionAttributeNames": {"#ranked": "ranked", "#type": "type"},
                            "ExpressionAttributeValues": {
                                ":one": {"N": "1"},
                                ":type": {"S": "day"},
                            },
                        }
                    },
                ]
            )
        except self.client.exceptions.TransactionCanceledException as exc:
            reasons = exc.response.get("CancellationReasons") or []
            if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
                return False
            raise
        return True

    def scores_for_day(self, day: date) -> list[Score]:
        """Best first (ties by arXiv id). Read from the base table (strongly consistent,
        the selection runs right after the last score is written) and sorted here."""
        scores = [Score.model_validate(i["data"]) for i in self._query(day_pk(day), "SCORE#")]
        return sorted(scores, key=lambda s: (-s.total, s.arxiv_id))

    def top_scores(self, day: date, limit: int = 10) -> list[Score]:
        """The day's best scores via gsi1 (ScanIndexForward=False): one page, no sorting."""
        items = self._query(
            f"SCORES#{day.isoformat()}", "", index="gsi1", forward=False, limit=limit
        )
        return [Score.model_validate(i["data"]) for i in items]

    def set_day_total(self, day: date, total: int, *, scraped: bool = True) -> None:
        """Record how many papers the day has (the fan-in target); `scraped` marks the day
        done for the scraper's backfill (left unset when every source failed)."""
        names = {
            "#total": "total",
            "#type": "type",
            "#updated": "updated_at",
            "#gpk": "gsi1pk",
            "#gsk": "gsi1sk",
        }
        values: dict[str, Any] = {
            ":total": {"N": str(total)},
            ":type": {"S": "day"},
            ":now": {"S": _now()},
            ":days": {"S": "DAYS"},
            ":date": {"S": day.isoformat()},
        }
        expression = (
            "SET #total = :total, #type = :type, #updated = :now, #gpk = :days, #gsk = :date"
        )
        if scraped:
            names["#scraped"] = "scraped_at"
            expression += ", #scraped = if_not_exists(#scraped, :now)"
        self.client.update_item(
            TableName=self.table_name,
            Key=self._key(day_pk(day), "DAY"),
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def get_day(self, day: date) -> dict[str, Any] | None:
        return self._get(day_pk(day), "DAY")

    def day_scraped(self, day: date) -> bool:
        item = self.get_day(day)
        return bool(item and item.get("scraped_at"))

    def day_progress(self, day: date) -> tuple[int, int | None]:
        """(ranked, total); total is None until the scraper recorded it."""
        item = self.get_day(day) or {}
        return int(item.get("ranked", 0)), item.get("total")

    def record_ranked(self, day: date, arxiv_id: str) -> tuple[int, int | None]:
        """Counter state after a paper of `day` was ranked (the increment itself happens
        inside `save_score`, so it is counted once); kept for callers that want one call."""
        return self.day_progress(day)

    def _claim(self, day: date, flag: str) -> bool:
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=self._key(day_pk(day), "DAY"),
                UpdateExpression="SET #flag = :now, #type = :type",
                ConditionExpression="attribute_not_exists(#flag)",
                ExpressionAttributeNames={"#flag": flag, "#type": "type"},
                ExpressionAttributeValues={":now": {"S": _now()}, ":type": {"S": "day"}},
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def _release(self, day: date, flag: str) -> None:
        self.client.update_item(
            TableName=self.table_name,
            Key=self._key(day_pk(day), "DAY"),
            UpdateExpression="REMOVE #flag",
            ExpressionAttributeNames={"#flag": flag},
        )

    def claim_ranked_event(self, day: date) -> bool:
        """True for exactly one caller: the one that announces DayRanked."""
        return self._claim(day, "ranked_event_at")

    def mark_digest_sent(self, day: date) -> bool:
        """True for exactly one caller: the one that sends the day's digest."""
        return self._claim(day, "digest_sent_at")

    def clear_digest_sent(self, day: date) -> None:
        """Undo `mark_digest_sent` when sending failed, so a retry can send it."""
        self._release(day, "digest_sent_at")

    def release_ranked_event(self, day: date) -> None:
        """Undo `claim_ranked_event` when putting the event failed."""
        self._release(day, "ranked_event_at")

    def claim_selection(self, day: date, *, stale_after_seconds: float = 1800) -> bool:
        """True for exactly one caller: the one that selects and starts the day's training.
        A claim whose selection never finished (the Lambda died) may be taken over after
        `stale_after_seconds`; a finished selection is never repeated."""
        stale = datetime.now(UTC).timestamp() - stale_after_seconds
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=self._key(day_pk(day), "DAY"),
                UpdateExpression="SET #sel = :now, #selts = :ts, #type = :type",
                ConditionExpression="attribute_not_exists(#sel) OR "
                "(attribute_not_exists(#done) AND #selts < :stale)",
                ExpressionAttributeNames={
                    "#sel": "selected_at",
                    "#selts": "selected_ts",
                    "#done": "selection_done_at",
                    "#type": "type",
                },
                ExpressionAttributeValues={
                    ":now": {"S": _now()},
                    ":ts": {"N": str(datetime.now(UTC).timestamp())},
                    ":stale": {"N": str(stale)},
                    ":type": {"S": "day"},
                },
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def release_selection(self, day: date) -> None:
        self._release(day, "selected_at")

    def finish_selection(self, day: date, notes: list[str]) -> None:
        """Mark the day selected and keep the selection's notes for the report."""
        self.client.update_item(
            TableName=self.table_name,
            Key=self._key(day_pk(day), "DAY"),
            UpdateExpression="SET #done = :now, #notes = :notes",
            ExpressionAttributeNames={"#done": "selection_done_at", "#notes": "notes"},
            ExpressionAttributeValues={
                ":now": {"S": _now()},
                ":notes": self._ser.serialize(list(notes)),
            },
        )

    def days_awaiting_selection(self, before: datetime) -> list[date]:
        """Days scraped at or before `before` whose selection never finished (their
        ranking stalled: papers in the DLQ, or the announcement was lost)."""
        stalled = []
        for item in self.recent_days():
            scraped = item.get("scraped_at")
            if not scraped or item.get("selection_done_at"):
                continue
            if datetime.fromisoformat(scraped) <= before:
                stalled.append(date.fromisoformat(item["pk"].removeprefix("DAY#")))
        return sorted(stalled)

    def recent_days(self, limit: int = 30) -> list[dict[str, Any]]:
        """The newest scraped day items, newest first (gsi1 `DAYS` / <date>)."""
        return list(self._query("DAYS", "", index="gsi1", forward=False, limit=limit))

    # -- sources, picks, implementations ---------------------------------------------------

    def save_sources(self, day: date, statuses: list[SourceStatus]) -> None:
        self._put(
            {
                "pk": day_pk(day),
                "sk": "SOURCES",
                "type": "sources",
                "data": [self._data(s) for s in statuses],
            }
        )

    def sources_for_day(self, day: date) -> list[SourceStatus]:
        item = self._get(day_pk(day), "SOURCES")
        return [SourceStatus.model_validate(s) for s in item["data"]] if item else []

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
        return [Pick.model_validate(p) for p in item["data"]] if item else []

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


def _merge(old: Paper, new: Paper) -> Paper:
    """Keep the first-seen day and identity; take newer text when present; merge signals
    per source (the newer source record wins) and categories (union, order kept)."""
    merged = old.model_copy(deep=True)
    merged.signals = {**old.signals, **new.signals}
    merged.categories = list(dict.fromkeys([*old.categories, *new.categories]))
    if new.version and (old.version or 0) < new.version:
        merged.version = new.version
    if not old.abstract and new.abstract:
        merged.abstract = new.abstract
    if not old.authors and new.authors:
        merged.authors = new.authors
    if old.published is None and new.published is not None:
        merged.published = new.published
    return merged
