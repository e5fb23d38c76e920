"""Secrets from SSM Parameter Store (SecureString), cached for five minutes per process."""

from __future__ import annotations

from aws_lambda_powertools.utilities import parameters

CACHE_SECONDS = 300


def secret(name: str) -> str:
    value = parameters.get_parameter(name, decrypt=True, max_age=CACHE_SECONDS)
    return str(value)


def forget() -> None:
    """Drop cached values and providers (tests and the local run start moto afresh)."""
    parameters.clear_caches()
    parameters.base.DEFAULT_PROVIDERS.clear()
