"""Secrets Manager look-ups with an in-process TTL cache (one call per cold start and
per `ttl` seconds, not per invocation). Values are never logged.

Plain boto3 rather than Powertools parameters, so the adapters stay Powertools-free.
"""

from __future__ import annotations

import json
import time
from typing import Any

DEFAULT_TTL = 300.0

_cache: dict[str, tuple[float, str]] = {}


def get_secret(
    secret_id: str,
    *,
    client: Any = None,
    ttl: float = DEFAULT_TTL,
    field: str | None = None,
) -> str:
    """The secret's string value; with `field`, that key of a JSON secret (e.g. {"url":...}).

    A plain (non-JSON) secret with `field` given is returned whole, so a webhook URL can be
    stored either as the bare string or as {"url": "..."}.
    """
    now = time.monotonic()
    cached = _cache.get(secret_id)
    if cached is None or now - cached[0] > ttl:
        if client is None:
            import boto3

            client = boto3.client("secretsmanager")
        response = client.get_secret_value(SecretId=secret_id)
        value = response.get("SecretString")
        if value is None:
            value = response["SecretBinary"].decode()
        _cache[secret_id] = (now, value)
        cached = _cache[secret_id]
    value = cached[1]
    if field is None:
        return value
    try:
        parsed = json.loads(value)
    except ValueError:
        return value
    if isinstance(parsed, dict):
        if field not in parsed:
            raise KeyError(f"secret has no field {field!r}")
        return str(parsed[field])
    return value


def clear_cache() -> None:
    _cache.clear()
