"""The bench's DynamoDB capacity units (bench/capacity.py): item sizes and units by AWS's documented
rules, checked by hand, then requests measured on moto against the template's own table."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from bench.capacity import (
    TABLE,
    Capacity,
    Index,
    TableSchema,
    index_writes,
    item_size,
    number_size,
    read_units,
    table_schemas,
    value_size,
    write_units,
)
from botocore.exceptions import ClientError
from moto import mock_aws

from handoff_local.aws import LOCAL_AWS_ENVIRONMENT, load_template
from handoff_tools.functions import TEMPLATE

# --- sizes, by hand -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ({"S": "abc"}, 3),
        ({"S": "añ"}, 3),  # UTF-8 bytes: ñ takes two
        ({"N": "123456"}, 4),  # 6 significant digits: 3 bytes, plus 1
        ({"N": "1760000000"}, 3),  # trailing zeros trimmed: 176, 2 bytes, plus 1
        ({"N": "-0012.500"}, 3),  # sign, leading and trailing zeros trimmed: 125
        ({"N": "1760000000.123"}, 8),  # 1760000000123: 13 digits, 7 bytes, plus 1
        ({"B": b"\x00\x01\x02"}, 3),
        ({"BOOL": True}, 1),
        ({"NULL": True}, 1),
        ({"SS": ["a", "bc"]}, 3),
        ({"NS": ["1", "22"]}, 4),  # 2 bytes each
        ({"L": [{"S": "a"}, {"N": "1"}]}, 3 + (1 + 1) + (2 + 1)),
        ({"M": {"x": {"S": "ab"}}}, 3 + (1 + 2 + 1)),
        ({"L": []}, 3),
    ],
)
def test_value_sizes(value: dict[str, Any], size: int) -> None:
    assert value_size(value) == size


def test_an_item_is_its_names_and_values() -> None:
    item = {"pk": {"S": "CONV#a"}, "version": {"N": "12"}, "expires_at": {"N": "1760000000"}}
    assert item_size(item) == (2 + 6) + (7 + 2) + (10 + 3)
    assert number_size("0") == 2


def test_units_round_up_per_kb_for_writes_and_per_4_kb_for_reads() -> None:
    assert [write_units(n) for n in (0, 1, 1024, 1025, 3000)] == [1, 1, 1, 2, 3]
    assert read_units(4096, consistent=True) == 1
    assert read_units(4097, consistent=True) == 2
    assert read_units(4097, consistent=False) == 1
    assert read_units(0, consistent=False) == 0.5  # an absent item, or an empty page


# --- indexes ------------------------------------------------------------------------------------------

SCHEMA = TableSchema(
    keys=("pk", "sk"),
    indexes=(
        Index("waiting", ("waiting_tenant", "waiting_since"), "ALL"),
        Index("sessions", ("session_tenant", "session_last"), "KEYS_ONLY"),
        Index("named", ("tenant",), "INCLUDE", ("name",)),
    ),
)
KEY = {"pk": {"S": "CONV#1"}, "sk": {"S": "STATE"}}


def test_an_index_entry_keeps_what_its_projection_says() -> None:
    item = {**KEY, "session_tenant": {"S": "acme"}, "session_last": {"S": "t1"}, "data": {"S": "x" * 50}}
    assert SCHEMA.index("sessions").entry(item, SCHEMA.keys) == {
        name: item[name] for name in ("pk", "sk", "session_tenant", "session_last")
    }
    assert SCHEMA.index("waiting").entry(item, SCHEMA.keys) is None  # sparse: no waiting_tenant
    named = {**KEY, "tenant": {"S": "acme"}, "name": {"S": "Ana"}, "data": {"S": "x"}}
    assert SCHEMA.index("named").entry(named, SCHEMA.keys) == {
        name: named[name] for name in ("pk", "sk", "tenant", "name")
    }


def test_index_writes_follow_the_entry() -> None:
    plain = {**KEY, "data": {"S": "x" * 100}}
    waiting = {**plain, "waiting_tenant": {"S": "acme"}, "waiting_since": {"S": "t1"}}
    moved = {**waiting, "waiting_since": {"S": "t2"}}
    bigger = {**waiting, "data": {"S": "x" * 1500}}

    # an entry that appears: one put; that disappears: one delete; nothing when it stays the same
    assert [(w.index, w.units) for w in index_writes(SCHEMA, plain, waiting)] == [("waiting", 1)]
    assert [(w.index, w.units) for w in index_writes(SCHEMA, waiting, None)] == [("waiting", 1)]
    assert index_writes(SCHEMA, waiting, dict(waiting)) == []
    assert index_writes(SCHEMA, plain, {**plain, "data": {"S": "y"}}) == []  # in no index
    # a changed index key: a delete and a put; a changed projection under the same key: one write
    # of the larger entry (1,5xx bytes: 2 units)
    assert [(w.index, w.units) for w in index_writes(SCHEMA, waiting, moved)] == [("waiting", 2)]
    assert [(w.index, w.units) for w in index_writes(SCHEMA, waiting, bigger)] == [("waiting", 2)]


def test_the_template_declares_the_table_and_its_indexes() -> None:
    schema = table_schemas(TEMPLATE)["AppTable"]
    declared = load_template(TEMPLATE)["Resources"]["AppTable"]["Properties"]["GlobalSecondaryIndexes"]
    assert schema.keys == ("pk", "sk")
    assert [index.name for index in schema.indexes] == [index["IndexName"] for index in declared]
    for index, spec in zip(schema.indexes, declared, strict=True):
        assert index.projection == spec["Projection"]["ProjectionType"]
        assert index.keys[0] == next(k["AttributeName"] for k in spec["KeySchema"] if k["KeyType"] == "HASH")


# --- requests on moto -----------------------------------------------------------------------------------


@pytest.fixture
def measured(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Capacity]]:
    """The template's AppTable on moto, and a Capacity that measures requests made through it."""
    for name, value in LOCAL_AWS_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    spec = load_template(TEMPLATE)["Resources"]["AppTable"]["Properties"]
    with mock_aws():
        client = boto3.client("dynamodb")
        client.create_table(
            TableName="app",
            AttributeDefinitions=spec["AttributeDefinitions"],
            KeySchema=spec["KeySchema"],
            GlobalSecondaryIndexes=[
                {k: index[k] for k in ("IndexName", "KeySchema", "Projection")}
                for index in spec["GlobalSecondaryIndexes"]
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client, Capacity({"app": table_schemas(TEMPLATE)["AppTable"]})


def request(client: Any, capacity: Capacity, operation: str, **params: Any) -> Any:
    call = client._make_api_call  # the request itself, not measured again
    table = {} if operation == "TransactWriteItems" else {"TableName": "app"}
    return capacity.measure("bench", operation, operation, {**table, **params}, call)


def state(n: int, size: int, **extra: str) -> dict[str, Any]:
    """A conversation-like item of about `size` bytes (its data), with string attributes `extra`."""
    return {
        "pk": {"S": f"CONV#{n}"},
        "sk": {"S": "STATE"},
        "data": {"S": "x" * size},
        **{name: {"S": value} for name, value in extra.items()},
    }


def test_writes_take_the_larger_item_and_index_entries(measured: tuple[Any, Capacity]) -> None:
    client, capacity = measured
    request(client, capacity, "PutItem", Item=state(1, 500))  # new, 1 KB, in no index
    request(client, capacity, "PutItem", Item=state(1, 1500))  # replaced by 1.5 KB: 2
    assert capacity.total("write", target=TABLE) == 1 + 2 and capacity.index_total("write") == 0

    # an update that puts it in the wake (keys only) and live (ALL) indexes: the item after it, 2 KB,
    # and a put into each index, of its keys (under a kilobyte) and of the whole item
    request(
        client,
        capacity,
        "UpdateItem",
        Key={"pk": {"S": "CONV#1"}, "sk": {"S": "STATE"}},
        UpdateExpression="SET wake_tenant = :t, wake_sort = :s, live_tenant = :t, live_sort = :s",
        ExpressionAttributeValues={":t": {"S": "acme"}, ":s": {"S": "2025-01-01T00:00:00"}},
    )
    assert capacity.total("write", target=TABLE) == 1 + 2 + 2
    assert capacity.total("write", target="wake") == 1 and capacity.total("write", target="live") == 2

    # deleted: the deleted item, and its entries leave both indexes
    request(client, capacity, "DeleteItem", Key={"pk": {"S": "CONV#1"}, "sk": {"S": "STATE"}})
    assert capacity.total("write", target=TABLE) == 1 + 2 + 2 + 2
    assert capacity.total("write", target="live") == 4 and capacity.total("write", target="wake") == 2
    assert capacity.failed.total() == 0


def test_a_failed_condition_still_writes(measured: tuple[Any, Capacity]) -> None:
    client, capacity = measured
    request(client, capacity, "PutItem", Item=state(2, 2500))  # 3 units
    with pytest.raises(ClientError):  # the request's own error, unchanged
        request(
            client, capacity, "PutItem", Item=state(2, 100), ConditionExpression="attribute_not_exists(pk)"
        )
    with pytest.raises(ClientError):  # a conditional write of an absent item: 1 unit
        request(
            client,
            capacity,
            "DeleteItem",
            Key={"pk": {"S": "CONV#9"}, "sk": {"S": "STATE"}},
            ConditionExpression="attribute_exists(pk)",
        )
    assert capacity.total("write") == 3 + 3 + 1
    assert capacity.failed.total() == 3 + 1


def test_a_transaction_writes_each_item_twice(measured: tuple[Any, Capacity]) -> None:
    client, capacity = measured
    items = [state(3, 100), state(4, 1500, session_tenant="acme", session_last="t1")]
    request(
        client,
        capacity,
        "TransactWriteItems",
        TransactItems=[{"Put": {"TableName": "app", "Item": i}} for i in items],
    )
    assert capacity.total("write", target=TABLE) == 2 * 1 + 2 * 2
    assert capacity.total("write", target="sessions") == 1  # keys only, written once: not doubled

    # cancelled (the first put's condition fails): each item as a failed write, twice
    with pytest.raises(ClientError):
        request(
            client,
            capacity,
            "TransactWriteItems",
            TransactItems=[
                {
                    "Put": {
                        "TableName": "app",
                        "Item": state(3, 100),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                {"Put": {"TableName": "app", "Item": state(5, 100)}},
            ],
        )
    assert capacity.failed.total() == 2 * 1 + 2 * 1


def test_reads_sum_what_each_page_evaluates(measured: tuple[Any, Capacity]) -> None:
    client, capacity = measured
    for n in range(5):  # five items in Live of about 3 KB: 15 KB on the index (ALL)
        client.put_item(TableName="app", Item=state(n, 3000, live_tenant="acme", live_sort=f"t{n}"))

    page = {"IndexName": "live", "KeyConditionExpression": "live_tenant = :t"}
    values = {":t": {"S": "acme"}}
    request(client, capacity, "Query", **page, ExpressionAttributeValues=values)
    assert capacity.total("read", target="live") == 0.5 * 4  # 15 KB: four 4 KB, eventually consistent
    # a count reads them all the same, and so does a projection
    request(client, capacity, "Query", **page, ExpressionAttributeValues=values, Select="COUNT")
    request(
        client,
        capacity,
        "Query",
        **page,
        ExpressionAttributeValues=values,
        ProjectionExpression="#p",
        ExpressionAttributeNames={"#p": "pk"},
    )
    assert capacity.total("read", target="live") == 3 * 2

    # a consistent GetItem of a 3 KB item: 1; of an absent one, eventually consistent: 0.5
    request(
        client, capacity, "GetItem", Key={"pk": {"S": "CONV#0"}, "sk": {"S": "STATE"}}, ConsistentRead=True
    )
    request(client, capacity, "GetItem", Key={"pk": {"S": "CONV#9"}, "sk": {"S": "STATE"}})
    assert capacity.total("read", target=TABLE) == 1 + 0.5
    assert capacity.total("write") == 0  # reads write nothing


def test_what_is_not_measured_is_said(measured: tuple[Any, Capacity]) -> None:
    client, capacity = measured
    capacity.measure("bench", "DescribeTable", "DescribeTable", {"TableName": "app"}, client._make_api_call)
    capacity.measure(
        "bench",
        "ExecuteStatement",
        "ExecuteStatement",
        {"Statement": 'SELECT * FROM "app"'},
        client._make_api_call,
    )
    assert capacity.unmeasured == {("bench", "ExecuteStatement"): 1}
