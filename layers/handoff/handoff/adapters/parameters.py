"""Secrets from SSM Parameter Store (SecureString) and Secrets Manager, cached five minutes per process."""

from __future__ import annotations

from aws_lambda_powertools.utilities import parameters

CACHE_SECONDS = 300


def secret(name: str) -> str:
    value = parameters.get_parameter(name, decrypt=True, max_age=CACHE_SECONDS)
    return str(value)


def generated_secret(secret_id: str) -> str:
    """A secret the stack generated in Secrets Manager (the pseudonym key), cached likewise."""
    return str(parameters.get_secret(secret_id, max_age=CACHE_SECONDS))


def forget() -> None:
    """Drop cached values and providers (tests and the local run start moto afresh)."""
    parameters.clear_caches()
    parameters.base.DEFAULT_PROVIDERS.clear()
