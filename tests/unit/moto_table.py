"""The application table's keys alone, on moto: for tests of one store at a time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import boto3
import pytest
from moto import mock_aws

from handoff.adapters import clients
from handoff_local.aws import LOCAL_AWS_ENVIRONMENT

TABLE = "app"


@contextmanager
def app_table(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The table `pk`/`sk`, on demand, and the local run's AWS settings; yields its name."""
    for name, value in LOCAL_AWS_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        clients.reset()
        boto3.client("dynamodb").create_table(
            TableName=TABLE,
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        try:
            yield TABLE
        finally:
            clients.reset()
