"""The AWS clients, each created once and lazily (so moto can be started before the first call)."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3


@cache
def client(service: str) -> Any:
    return boto3.client(service)  # type: ignore[call-overload]


def reset() -> None:
    """Forget the clients (tests and the local run start moto afresh)."""
    client.cache_clear()
