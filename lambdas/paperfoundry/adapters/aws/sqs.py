"""`SqsQueue`: the `Queue` port on SQS (one message per work item)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

BATCH_SIZE = 10  # SendMessageBatch limit


class QueueSendError(RuntimeError):
    """Some messages could not be sent after retries; `failed` holds their SQS errors."""

    def __init__(self, failed: list[dict[str, Any]]) -> None:
        self.failed = failed
        codes = sorted({f.get("Code", "?") for f in failed})
        super().__init__(f"{len(failed)} message(s) not sent to SQS ({', '.join(codes)})")


class SqsQueue:
    def __init__(
        self,
        queue_url: str,
        client: Any = None,
        *,
        attempts: int = 4,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if client is None:
            import boto3

            client = boto3.client("sqs")
        self.queue_url = queue_url
        self.client = client
        self.attempts = attempts
        self.sleep = sleep

    def send(self, messages: list[dict[str, Any]]) -> None:
        """Send in batches of 10; failed entries are retried with backoff, and a
        sender-side failure (malformed message) or persistent failure raises."""
        for start in range(0, len(messages), BATCH_SIZE):
            chunk = messages[start : start + BATCH_SIZE]
            entries = {
                str(i): {"Id": str(i), "MessageBody": json.dumps(body, sort_keys=True)}
                for i, body in enumerate(chunk)
            }
            self._send_batch(entries)

    def _send_batch(self, entries: dict[str, dict[str, Any]]) -> None:
        pending = entries
        failed: list[dict[str, Any]] = []
        for attempt in range(self.attempts):
            response = self.client.send_message_batch(
                QueueUrl=self.queue_url, Entries=list(pending.values())
            )
            failed = response.get("Failed", [])
            if not failed:
                return
            if any(f.get("SenderFault") for f in failed):
                raise QueueSendError(failed)
            pending = {f["Id"]: pending[f["Id"]] for f in failed}
            if attempt + 1 < self.attempts:
                self.sleep(min(0.2 * 2**attempt, 2.0))
        raise QueueSendError(failed)
