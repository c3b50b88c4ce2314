"""get_with_retry: 429/Retry-After, 5xx, timeouts, unreachable hosts, clear one-line errors."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
import respx
from paperfoundry.sources.http import (
    USER_AGENT,
    SourceError,
    get_with_retry,
    make_client,
    parse_retry_after,
)

URL = "https://huggingface.co/api/daily_papers"


def test_make_client_has_user_agent_and_bounded_timeouts():
    with make_client(timeout=15) as http:
        assert http.headers["User-Agent"] == USER_AGENT
        assert "paperfoundry/0.1" in USER_AGENT and "@" not in USER_AGENT
        assert http.timeout.read == 15 and http.timeout.connect == 10


@respx.mock
def test_429_honours_retry_after_then_succeeds(client):
    route = respx.get(URL).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "30"}),
            httpx.Response(200, json=[]),
        ]
    )
    sleeps: list[float] = []
    response = get_with_retry(
        client, URL, {"date": "2024-02-29"}, source="huggingface", sleep=sleeps.append
    )
    assert response.status_code == 200
    assert sleeps == [30]
    assert route.call_count == 2
    assert route.calls.last.request.url.params["date"] == "2024-02-29"


@respx.mock
def test_429_exhausted_gives_clear_error(client):
    respx.get(URL).mock(return_value=httpx.Response(429, headers={"Retry-After": "30"}))
    sleeps: list[float] = []
    with pytest.raises(SourceError) as err:
        get_with_retry(client, URL, None, source="huggingface", sleep=sleeps.append)
    assert str(err.value) == "huggingface: HTTP 429 after 4 attempts (Retry-After 30s)"
    assert sleeps == [30, 30, 30]
    assert not err.value.unreachable


@respx.mock
def test_retry_after_is_capped_and_accepts_http_dates(client):
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=600), usegmt=True)
    respx.get(URL).mock(
        side_effect=[
            httpx.Response(503, headers={"Retry-After": later}),
            httpx.Response(429, headers={"Retry-After": "3600"}),
            httpx.Response(200, json=[]),
        ]
    )
    sleeps: list[float] = []
    get_with_retry(client, URL, None, source="huggingface", max_wait=60, sleep=sleeps.append)
    assert sleeps == [60, 60]


def test_parse_retry_after():
    now = datetime(2024, 2, 29, 12, 0, tzinfo=UTC)
    assert parse_retry_after("12", now=now) == 12
    assert parse_retry_after("Thu, 29 Feb 2024 12:00:45 GMT", now=now) == 45
    assert parse_retry_after("Thu, 29 Feb 2024 11:00:00 GMT", now=now) == 0
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None) is None


@respx.mock
def test_5xx_is_retried_with_bounded_jittered_backoff(client):
    route = respx.get(URL).mock(
        side_effect=[httpx.Response(500), httpx.Response(502), httpx.Response(200, json=[])]
    )
    sleeps: list[float] = []
    get_with_retry(client, URL, None, source="huggingface", max_wait=8, sleep=sleeps.append)
    assert route.call_count == 3
    assert len(sleeps) == 2 and all(0 <= s <= 8 for s in sleeps)


@respx.mock
def test_5xx_exhausted(client):
    respx.get(URL).mock(return_value=httpx.Response(500))
    with pytest.raises(SourceError, match=r"^huggingface: HTTP 500 after 2 attempts$"):
        get_with_retry(client, URL, None, source="huggingface", attempts=2, sleep=lambda s: None)


@respx.mock
def test_4xx_is_not_retried(client):
    route = respx.get(URL).mock(return_value=httpx.Response(404))
    with pytest.raises(SourceError, match=r"^huggingface: HTTP 404 for https://huggingface.co/"):
        get_with_retry(client, URL, None, source="huggingface", sleep=lambda s: None)
    assert route.call_count == 1


@respx.mock
def test_timeouts_retry_then_clear_error(client):
    route = respx.get("https://rss.arxiv.org/rss/cs.LG").mock(
        side_effect=httpx.ReadTimeout("read timed out")
    )
    sleeps: list[float] = []
    with pytest.raises(SourceError) as err:
        get_with_retry(
            client, "https://rss.arxiv.org/rss/cs.LG", None, source="arxiv", sleep=sleeps.append
        )
    assert str(err.value).startswith("arxiv: timed out after 20s")
    assert "\n" not in str(err.value)
    assert route.call_count == 4 and len(sleeps) == 3
    assert not err.value.unreachable


@respx.mock
def test_timeout_then_success(client):
    respx.get(URL).mock(side_effect=[httpx.ConnectTimeout("slow"), httpx.Response(200, json=[])])
    assert get_with_retry(client, URL, None, sleep=lambda s: None).status_code == 200


@respx.mock
def test_dns_failure_is_unreachable_and_not_retried(client):
    def fail(request):
        try:
            raise socket.gaierror(-2, "Name or service not known")
        except socket.gaierror as exc:
            raise httpx.ConnectError("[Errno -2] Name or service not known") from exc

    route = respx.get(URL).mock(side_effect=fail)
    with pytest.raises(SourceError) as err:
        get_with_retry(client, URL, None, source="huggingface", sleep=lambda s: None)
    assert err.value.unreachable
    assert route.call_count == 1
    assert str(err.value).startswith("huggingface: cannot connect to huggingface.co")


@respx.mock
def test_connection_refused_is_retried_then_unreachable(client):
    route = respx.get(URL).mock(side_effect=httpx.ConnectError("Connection refused"))
    with pytest.raises(SourceError) as err:
        get_with_retry(client, URL, None, source="huggingface", attempts=3, sleep=lambda s: None)
    assert err.value.unreachable and route.call_count == 3


@respx.mock
def test_before_attempt_runs_before_every_attempt(client):
    respx.get(URL).mock(side_effect=[httpx.Response(503), httpx.Response(200, json=[])])
    calls: list[int] = []
    get_with_retry(client, URL, None, sleep=lambda s: None, before_attempt=lambda: calls.append(1))
    assert len(calls) == 2


@respx.mock
def test_a_deadline_cuts_each_requests_timeouts_to_the_time_left(client):
    route = respx.get(URL).mock(return_value=httpx.Response(200, json=[]))
    now = [100.0]
    get_with_retry(client, URL, None, clock=lambda: now[0], deadline=105.0, sleep=lambda s: None)
    timeout = route.calls.last.request.extensions["timeout"]
    assert timeout == {"connect": 5.0, "read": 5.0, "write": 5.0, "pool": 5.0}


@respx.mock
def test_without_a_deadline_a_long_retry_after_is_capped_not_refused(client):
    respx.get(URL).mock(
        side_effect=[
            httpx.Response(503, headers={"Retry-After": "360"}),
            httpx.Response(200, json=[]),
        ]
    )
    sleeps: list[float] = []
    get_with_retry(client, URL, None, max_wait=60, sleep=sleeps.append)
    assert sleeps == [60]


@respx.mock
def test_the_last_attempt_reports_exhaustion_not_retry_later(client):
    respx.get(URL).mock(return_value=httpx.Response(503, headers={"Retry-After": "5"}))
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with pytest.raises(SourceError) as err:
        get_with_retry(
            client, URL, None, source="huggingface", attempts=2, clock=lambda: now[0],
            deadline=100.0, sleep=sleep,
        )  # fmt: skip
    assert str(err.value) == "huggingface: HTTP 503 after 2 attempts (Retry-After 5s)"
    assert now[0] == 5.0
