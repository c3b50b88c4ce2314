"""HTTP plumbing shared by the sources: one client factory, one retrying GET, one error type.

Retries (tenacity) cover what is worth waiting for: HTTP 429, HTTP 5xx, timeouts and other
transport errors. Backoff is exponential with full jitter, and a server's `Retry-After`
(seconds or an HTTP date) on 429/503 is honoured, capped at `max_wait`. A DNS failure is not
retried: the name will not resolve a few seconds later either, and the CLI wants to fall back
to the sample day quickly when the machine is offline.

Deadlines: a caller that must return by a certain time (a Lambda task, one scrape unit) passes
`deadline`, a value of `clock()`. Then no wait is started that would pass it: a `Retry-After`
or backoff that would fails at once with "retry later (Retry-After N s)" (or "(backoff N s)"),
and so does a `Retry-After` longer than `max_wait` (waiting minutes is the workflow's job, a
free Step Functions retry, not a billed Lambda's); each request's timeouts are cut to the time
left. Without a deadline a long `Retry-After` is capped at `max_wait` as before.

Every failure leaves as `SourceError` with a one-line message naming the source.
"""

from __future__ import annotations

import logging
import math
import socket
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

log = logging.getLogger(__name__)

USER_AGENT = "paperfoundry/0.1 (+https://github.com/paperfoundry/paperfoundry)"
DEFAULT_TIMEOUT = 20.0
RETRY_AFTER_STATUSES = frozenset({429, 503})
MIN_REQUEST_SECONDS = 1.0  # with a deadline: less time than this left is too little for a request


class SourceError(Exception):
    """A source could not deliver. `str(error)` is one line: "<source>: <what happened>".

    `unreachable` is True when the host could not be reached at all (DNS failure, connection
    refused): the signal the CLI uses to fall back to the sample day.
    """

    def __init__(self, source: str, message: str, *, unreachable: bool = False) -> None:
        self.source = source
        self.message = " ".join(str(message).split())  # always one line
        self.unreachable = unreachable
        super().__init__(f"{source}: {self.message}")


class RetryableStatus(Exception):
    """Internal: an HTTP status worth retrying (429, 5xx)."""

    def __init__(self, response: httpx.Response, retry_after: float | None) -> None:
        self.response = response
        self.retry_after = retry_after
        super().__init__(f"HTTP {response.status_code}")


def make_client(timeout: float = DEFAULT_TIMEOUT, *, connect: float = 10.0) -> httpx.Client:
    """An httpx client with bounded timeouts and an honest User-Agent (no personal data)."""
    return httpx.Client(
        timeout=httpx.Timeout(timeout, connect=min(connect, timeout)),
        headers={"User-Agent": USER_AGENT},
        follow_redirects=True,
    )


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds from now: "30" or an HTTP date; None when absent or garbled."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _is_dns_failure(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, socket.gaierror):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    text = str(exc).lower()
    return (
        "name or service not known" in text
        or "nodename nor servname" in text
        or ("temporary failure in name resolution" in text)
    )


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, RetryableStatus):
        return True
    if isinstance(exc, httpx.ConnectError) and _is_dns_failure(exc):
        return False
    return isinstance(exc, httpx.TransportError)  # timeouts are TransportErrors too


def _timeout_seconds(timeout: httpx.Timeout, exc: httpx.TimeoutException) -> float | None:
    if isinstance(exc, httpx.ConnectTimeout):
        return timeout.connect
    if isinstance(exc, httpx.WriteTimeout):
        return timeout.write
    if isinstance(exc, httpx.PoolTimeout):
        return timeout.pool
    return timeout.read


def _fmt_seconds(value: float | None) -> str:
    if value is None:
        return "?"
    return f"{value:g}s"


def whole_seconds(value: float) -> int:
    """Seconds rounded up, for messages ("retry later (Retry-After 360 s)")."""
    return max(0, math.ceil(value - 1e-9))


def retry_later(source: str, what: str, kind: str, seconds: float, why: str) -> SourceError:
    """The error for a wait we will not do: "<source>: <what>; retry later (<kind> N s): <why>"."""
    prefix = f"{what}; " if what else ""
    return SourceError(source, f"{prefix}retry later ({kind} {whole_seconds(seconds)} s): {why}")


def _capped_timeout(timeout: httpx.Timeout, limit: float) -> httpx.Timeout:
    def cap(value: float | None) -> float:
        return limit if value is None else min(value, limit)

    return httpx.Timeout(
        connect=cap(timeout.connect),
        read=cap(timeout.read),
        write=cap(timeout.write),
        pool=cap(timeout.pool),
    )


def _failure_name(exc: BaseException | None) -> str:
    if isinstance(exc, RetryableStatus):
        return f"HTTP {exc.response.status_code}"
    return type(exc).__name__ if exc is not None else "failure"


def get_with_retry(
    client: httpx.Client,
    url: str,
    params: Mapping[str, Any] | None = None,
    *,
    source: str = "http",
    attempts: int = 4,
    max_wait: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
    before_attempt: Callable[[], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    deadline: float | None = None,
    describe_error: Callable[[httpx.Response], str | None] | None = None,
) -> httpx.Response:
    """GET `url`, retrying 429/5xx/timeouts/transport errors; return a 2xx/3xx response.

    `sleep` and `clock` are injectable so tests never wait; `before_attempt` runs before every
    attempt (arXiv uses it to keep its 3-second spacing across retries too). `deadline` (a
    `clock()` value) bounds every wait and request, see the module docstring.
    `describe_error` may turn a 4xx body into a one-line reason. Raises `SourceError`.
    """
    backoff = wait_random_exponential(multiplier=1, max=max_wait)
    used_timeout: list[httpx.Timeout] = [client.timeout]

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        last = state.attempt_number >= max(1, attempts)  # no sleep follows the last attempt
        retry_after = exc.retry_after if isinstance(exc, RetryableStatus) else None
        if retry_after is not None:
            kind, shown = "Retry-After", retry_after
            if retry_after > max_wait and deadline is not None and not last:
                raise retry_later(
                    source,
                    _failure_name(exc),
                    kind,
                    shown,
                    f"longer than the {max_wait:g} s one call waits",
                ) from exc
            seconds = min(retry_after, max_wait)
        else:
            seconds = backoff(state)
            kind, shown = "backoff", seconds
        if deadline is not None and not last and clock() + seconds > deadline:
            left = max(0.0, deadline - clock())
            raise retry_later(
                source,
                _failure_name(exc),
                kind,
                shown,
                f"waiting would pass the deadline ({left:.0f} s left)",
            ) from exc
        return seconds

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait_s = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "%s: attempt %d/%d for %s failed (%s); retrying in %.1fs",
            source,
            state.attempt_number,
            attempts,
            url,
            exc or "?",
            wait_s,
        )

    def attempt() -> httpx.Response:
        if before_attempt is not None:
            before_attempt()
        if deadline is None:
            response = client.get(url, params=params)
        else:
            left = deadline - clock()
            if left < MIN_REQUEST_SECONDS:
                raise SourceError(
                    source,
                    f"retry later: {max(0.0, left):.1f} s left before the deadline, "
                    "too little for a request",
                )
            used_timeout[0] = _capped_timeout(client.timeout, left)
            response = client.get(url, params=params, timeout=used_timeout[0])
        status = response.status_code
        if status == 429 or status >= 500:
            retry_after = None
            if status in RETRY_AFTER_STATUSES:
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise RetryableStatus(response, retry_after)
        return response

    retrying = Retrying(
        stop=stop_after_attempt(max(1, attempts)),
        wait=wait,
        retry=retry_if_exception(_retryable),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        response = retrying(attempt)
    except RetryableStatus as exc:
        detail = f"HTTP {exc.response.status_code} after {attempts} attempts"
        if exc.retry_after is not None:
            detail += f" (Retry-After {_fmt_seconds(exc.retry_after)})"
        raise SourceError(source, detail) from exc
    except httpx.TimeoutException as exc:
        raise SourceError(
            source,
            f"timed out after {_fmt_seconds(_timeout_seconds(used_timeout[0], exc))} "
            f"({type(exc).__name__}, {attempts} attempts)",
        ) from exc
    except httpx.ConnectError as exc:
        host = httpx.URL(url).host
        raise SourceError(
            source, f"cannot connect to {host} ({type(exc).__name__}: {exc})", unreachable=True
        ) from exc
    except httpx.TransportError as exc:
        raise SourceError(source, f"transport error ({type(exc).__name__}: {exc})") from exc
    except httpx.InvalidURL as exc:
        raise SourceError(source, f"invalid URL {url!r}: {exc}") from exc

    if response.status_code >= 400:
        detail = describe_error(response) if describe_error is not None else None
        reason = f": {detail}" if detail else ""
        raise SourceError(source, f"HTTP {response.status_code} for {response.request.url}{reason}")
    return response
