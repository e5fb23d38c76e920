"""The AWS clients, each created once and lazily (so moto can be started before the first call)."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3


@cache
def client(service: str) -> Any:
    return boto3.client(service)  # type: ignore[call-overload]


@cache
def endpoint_client(service: str, endpoint_url: str) -> Any:
    """A client of a service at an address of its own: API Gateway's @connections API is reached at
    its WebSocket API's stage."""
    return boto3.client(service, endpoint_url=endpoint_url)  # type: ignore[call-overload]


def reset() -> None:
    """Forget the clients (tests and the local run start moto afresh)."""
    client.cache_clear()
    endpoint_client.cache_clear()
