"""The AWS clients, each created once and lazily (so moto can be started before the first call).

boto3 itself is imported with the first client, not with this module: a function's import (its cold
start's first part) does not wait for it, and its first call to AWS loads it once. One client per
service and process: every DynamoDB request of a function goes through the same `client("dynamodb")`.
"""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def client(service: str) -> Any:
    import boto3

    return boto3.client(service)  # type: ignore[call-overload]


@cache
def endpoint_client(service: str, endpoint_url: str) -> Any:
    """A client of a service at an address of its own: API Gateway's @connections API is reached at
    its WebSocket API's stage."""
    import boto3

    return boto3.client(service, endpoint_url=endpoint_url)  # type: ignore[call-overload]


def reset() -> None:
    """Forget the clients (tests and the local run start moto afresh)."""
    client.cache_clear()
    endpoint_client.cache_clear()
