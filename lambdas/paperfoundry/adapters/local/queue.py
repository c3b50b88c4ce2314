"""In-process queue: the local stand-in for SQS fan-out."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Any


class InProcessQueue:
    def __init__(self) -> None:
        self._items: deque[dict[str, Any]] = deque()

    def send(self, messages: list[dict[str, Any]]) -> None:
        self._items.extend(messages)

    def __len__(self) -> int:
        return len(self._items)

    def drain(self) -> Iterator[dict[str, Any]]:
        while self._items:
            yield self._items.popleft()
