"""The embedded run's moto keeps its memory bounded (its time per webhook at 10,000 messages is
measured and gated by `make chaos`, not here: timings belong to the benchmarks), and its answers as
they were: a transaction is still all or nothing, a Query returns the same items in the
same order, and items past their TTL go as DynamoDB's TTL deletes them."""

from __future__ import annotations

import gc
import json
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import moto
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from handoff_local import moto_patches
from handoff_local.fake_graph import FakeGraphApi
from handoff_local.runtime import LocalRun

TABLE = "embedded"
REGION = "us-east-1"
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    """A table keyed like the app's (pk, sk; a sparse index `waiting`; TTL on `expires_at`), on moto
    as the embedded run patches it."""
    with mock_aws(), moto_patches.lean_moto():
        client = boto3.client("dynamodb", region_name=REGION)
        client.create_table(
            TableName=TABLE,
            AttributeDefinitions=[
                {"AttributeName": name, "AttributeType": "S"}
                for name in ("pk", "sk", "waiting_tenant", "waiting_since")
            ],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "waiting",
                    "KeySchema": [
                        {"AttributeName": "waiting_tenant", "KeyType": "HASH"},
                        {"AttributeName": "waiting_since", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        client.update_time_to_live(
            TableName=TABLE, TimeToLiveSpecification={"AttributeName": "expires_at", "Enabled": True}
        )
        yield client


def key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def fill(client: Any, first: int, last: int) -> None:
    """Conversations `first` to `last - 1`, each a state item and two transcript lines."""
    items = [
        {**key(f"CONV#{n}", sk), "data": {"S": "x" * 200}}
        for n in range(first, last)
        for sk in ("STATE", "MSG#1", "MSG#2")
    ]
    for start in range(0, len(items), 25):
        requests = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        client.batch_write_item(RequestItems={TABLE: requests})


def commit(client: Any, n: int) -> None:
    """A step's commit: a new conversation on the condition that there is none, and a transcript line."""
    client.transact_write_items(
        TransactItems=[
            {
                "Put": {
                    "TableName": TABLE,
                    "Item": {**key(f"NEW#{n}-{time.perf_counter_ns()}", "STATE"), "version": {"N": "1"}},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {"Put": {"TableName": TABLE, "Item": {**key("CONV#0", f"MSG#{n}-{time.perf_counter_ns()}")}}},
        ]
    )


def waiting(client: Any, n: int, tenant: str = "acme") -> None:
    """Conversation `n` waits for an agent: in the sparse index."""
    client.update_item(
        TableName=TABLE,
        Key=key(f"CONV#{n}", "STATE"),
        UpdateExpression="SET waiting_tenant = :tenant, waiting_since = :since",
        ExpressionAttributeValues={":tenant": {"S": tenant}, ":since": {"S": f"2026-03-0{n % 9 + 1}#{n}"}},
    )


def test_moto_keeps_no_copy_of_the_table_per_transaction(dynamodb):
    from moto.dynamodb.models.dynamo_type import Item

    fill(dynamodb, 0, 300)
    gc.collect()
    before = sum(1 for obj in gc.get_objects() if isinstance(obj, Item))

    for n in range(30):
        commit(dynamodb, n)

    gc.collect()
    after = sum(1 for obj in gc.get_objects() if isinstance(obj, Item))
    # the 60 items written, and nothing of the 30 whole-table copies moto as it is keeps (27,000 items)
    assert after - before <= 100, f"{after - before} more moto items alive after 30 transactions"


def test_a_failed_condition_cancels_the_whole_transaction_and_changes_nothing(dynamodb):
    # Given an item to update, one to delete, and one whose condition will fail
    for sk, version in (("UPDATED", "1"), ("DELETED", "1"), ("GUARD", "7")):
        dynamodb.put_item(TableName=TABLE, Item={**key("CONV#1", sk), "version": {"N": version}})
    before = dynamodb.scan(TableName=TABLE, ConsistentRead=True)["Items"]

    # When one transaction writes a new item, updates, deletes, then checks a condition that fails
    with pytest.raises(ClientError) as raised:
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": {**key("CONV#1", "NEW"), "version": {"N": "1"}}}},
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": key("CONV#1", "UPDATED"),
                        "UpdateExpression": "SET version = :two",
                        "ExpressionAttributeValues": {":two": {"N": "2"}},
                    }
                },
                {"Delete": {"TableName": TABLE, "Key": key("CONV#1", "DELETED")}},
                {
                    "ConditionCheck": {
                        "TableName": TABLE,
                        "Key": key("CONV#1", "GUARD"),
                        "ConditionExpression": "version = :six",
                        "ExpressionAttributeValues": {":six": {"N": "6"}},
                    }
                },
            ]
        )

    # Then it is cancelled for that condition, and every item is as it was
    error = raised.value.response
    assert error["Error"]["Code"] == "TransactionCanceledException"
    reasons = [reason["Code"] for reason in error["CancellationReasons"]]
    assert reasons == ["None", "None", "None", "ConditionalCheckFailed"]
    assert dynamodb.scan(TableName=TABLE, ConsistentRead=True)["Items"] == before


def test_a_transaction_refused_midway_changes_nothing(dynamodb):
    # Given an item
    dynamodb.put_item(TableName=TABLE, Item={**key("CONV#2", "STATE"), "version": {"N": "1"}})
    before = dynamodb.scan(TableName=TABLE, ConsistentRead=True)["Items"]

    # When a transaction writes a new item and updates the first, then names that item again
    # (moto has written the first two when it refuses the third)
    with pytest.raises(ClientError) as raised:
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": {**key("CONV#3", "STATE"), "version": {"N": "1"}}}},
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": key("CONV#2", "STATE"),
                        "UpdateExpression": "SET version = :two",
                        "ExpressionAttributeValues": {":two": {"N": "2"}},
                    }
                },
                {"Delete": {"TableName": TABLE, "Key": key("CONV#2", "STATE")}},
            ]
        )

    # Then it is refused, and nothing it wrote is left
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert dynamodb.scan(TableName=TABLE, ConsistentRead=True)["Items"] == before


def test_a_query_returns_the_same_items_in_the_same_order_as_moto_as_it_is(dynamodb):
    fill(dynamodb, 0, 50)
    for sk in ("MSG#3", "MSG#10", "MSG#0", "STATE"):
        dynamodb.put_item(TableName=TABLE, Item=key("CONV#7", sk))
    for n in (9, 3, 12, 40):
        waiting(dynamodb, n, tenant="acme" if n != 12 else "globex")
    queries: list[dict[str, Any]] = [
        {
            "IndexName": "waiting",
            "KeyConditionExpression": "waiting_tenant = :tenant",
            "ExpressionAttributeValues": {":tenant": {"S": "acme"}},
        },
        {
            "IndexName": "waiting",
            "KeyConditionExpression": "waiting_tenant = :tenant AND waiting_since < :day",
            "ExpressionAttributeValues": {":tenant": {"S": "acme"}, ":day": {"S": "2026-03-05"}},
            "ScanIndexForward": False,
            "Limit": 1,
        },
        {"KeyConditionExpression": "pk = :pk", "ExpressionAttributeValues": {":pk": {"S": "CONV#7"}}},
        {
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :msg)",
            "ExpressionAttributeValues": {":pk": {"S": "CONV#7"}, ":msg": {"S": "MSG#"}},
            "ScanIndexForward": False,
            "Limit": 3,
        },
        {"KeyConditionExpression": "pk = :pk", "ExpressionAttributeValues": {":pk": {"S": "NONE#1"}}},
    ]

    patched = [dynamodb.query(TableName=TABLE, **q) for q in queries]
    scanned = dynamodb.scan(TableName=TABLE)["Items"]
    moto_patches.uninstall()  # the fixture's hold: moto as it is, for the same requests
    try:
        as_is = [dynamodb.query(TableName=TABLE, **q) for q in queries]
        scanned_as_is = dynamodb.scan(TableName=TABLE)["Items"]
    finally:
        moto_patches.install()

    for mine, theirs in zip(patched, as_is, strict=True):
        assert mine["Items"] == theirs["Items"]
        assert mine.get("LastEvaluatedKey") == theirs.get("LastEvaluatedKey")
    assert [i["pk"]["S"] for i in patched[0]["Items"]] == ["CONV#9", "CONV#3", "CONV#40"]
    assert [i["sk"]["S"] for i in patched[3]["Items"]] == ["MSG#3", "MSG#2", "MSG#10"]
    assert scanned == scanned_as_is


def test_items_past_their_ttl_are_deleted_and_no_others(dynamodb):
    def expiring(sk: str, value: dict[str, str] | None) -> None:
        item = key("CONV#5", sk) | ({"expires_at": value} if value is not None else {})
        dynamodb.put_item(TableName=TABLE, Item=item)

    epoch = int(NOW.timestamp())
    expiring("PAST", {"N": str(epoch - 1)})
    expiring("LATER", {"N": str(epoch + 60)})
    expiring("NO-TTL", None)
    expiring("TEXT", {"S": str(epoch - 1)})  # not a number: DynamoDB ignores it
    expiring("MILLISECONDS", {"N": str((epoch - 1) * 1000)})  # far in the future
    expiring("AGES-AGO", {"N": str(int((NOW - timedelta(days=6 * 365)).timestamp()))})  # ignored too

    assert moto_patches.expire_items(NOW) == 1

    left = {item["sk"]["S"] for item in dynamodb.scan(TableName=TABLE)["Items"]}
    assert left == {"LATER", "NO-TTL", "TEXT", "MILLISECONDS", "AGES-AGO"}
    assert moto_patches.expire_items(NOW + timedelta(seconds=60)) == 0  # due, not yet past
    assert moto_patches.expire_items(NOW + timedelta(seconds=61)) == 1
    assert moto_patches.expire_items(NOW + timedelta(seconds=61)) == 0


def test_the_minutes_schedule_deletes_what_has_expired_on_the_runs_clock(run: LocalRun):
    from handoff import clock

    assert run.stack is not None
    table = boto3.client("dynamodb")
    soon = int((clock.now() + timedelta(hours=1)).timestamp())
    for sk, expires in (("APPLIED#soon", soon), ("APPLIED#later", soon + 86400)):
        table.put_item(
            TableName=run.stack.table_name, Item={**key("CONV#x", sk), "expires_at": {"N": str(expires)}}
        )

    run.advance(2 * 3600)
    run.tick()

    left = table.query(
        TableName=run.stack.table_name,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "CONV#x"}},
    )["Items"]
    assert [item["sk"]["S"] for item in left] == ["APPLIED#later"]


def test_make_local_keeps_only_the_latest_graph_api_requests():
    with FakeGraphApi(history=2) as graph:
        for n in range(3):
            body = json.dumps({"messaging_product": "whatsapp", "to": f"+57300000000{n}", "type": "text"})
            request = urllib.request.Request(
                f"{graph.url}/v23.0/200000000000001/messages",
                data=body.encode(),
                headers={"Authorization": "Bearer token", "Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=5) as answer:
                assert answer.status == 200

        assert [r.json["to"] for r in graph.requests] == ["+573000000001", "+573000000002"]
        assert len(graph.answers) == 2


def test_another_moto_is_refused_until_the_patches_are_checked_against_it(monkeypatch):
    assert not moto_patches.installed()
    monkeypatch.setattr(moto, "__version__", "5.3.0")

    with pytest.raises(moto_patches.MotoPatchError, match=r"moto 5\.2\.5.*5\.3\.0 is installed"):
        moto_patches.install()
    assert not moto_patches.installed()


def test_moto_is_as_it_was_once_the_patches_are_released():
    from moto.core.common_models import BaseModel
    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    originals = (BaseModel.__dict__["__new__"], Table.query, Table.all_items, models.copy)
    originals_transact = models.DynamoDBBackend.transact_write_items

    with moto_patches.lean_moto(), moto_patches.lean_moto():  # they nest
        assert Table.query is not originals[1] and models.copy is not originals[3]
    assert (BaseModel.__dict__["__new__"], Table.query, Table.all_items, models.copy) == originals
    assert models.DynamoDBBackend.transact_write_items is originals_transact
