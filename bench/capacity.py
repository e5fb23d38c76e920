"""DynamoDB capacity units, worked out from the requests themselves, by AWS's documented rules.

What a request consumes depends on the items it reads or writes, so `Capacity.measure` makes the
request and, with the counting off, reads what it needs around it: before a write, the items it
names as they are (a consistent `GetItem`, or one `BatchGetItem` for a transaction or a batch);
after an `UpdateItem`, the item as it became. Nothing is assumed about which items the product
writes: the table's key, its global secondary indexes and their projections come from
template.yaml, and the sizes from the attribute values.

The rules (Amazon DynamoDB Developer Guide: "DynamoDB item sizes and formats", "Capacity unit
consumption for reads/writes", "Global secondary indexes: provisioned throughput considerations",
"Capacity management for transactions"; as this module applies them):

- Item size: the sum, over its attributes, of the name's UTF-8 bytes and the value's size. S: its
  UTF-8 bytes; N: 1 byte per two significant digits (leading and trailing zeros trimmed) plus 1;
  B: its raw bytes; BOOL and NULL: 1; L and M: 3 plus each element's size plus 1 per element (and a
  map's names); SS, NS, BS: the sum of their members' sizes.
- Writes, one unit per started 1 KB: `PutItem` and `UpdateItem` the larger of the item before and
  after, `DeleteItem` the deleted item (1 when there was none), `BatchWriteItem` each put or delete
  alike. A conditional write whose condition fails consumes 1 unit when the item does not exist,
  else the units of the larger of the existing item and, for a put, the item it would have written
  (for an update: the existing item's, the item it would have become is not read).
- `TransactWriteItems`: 2 units per started 1 KB of each item (a prepare and a commit), by the
  rules above; a `ConditionCheck` as a transactional write of the item it checks (2 when absent). A
  cancelled transaction consumes, for each of its items, what a failed conditional write of it would,
  doubled: the guide says the capacity of a transaction is consumed even when it is cancelled.
- Global secondary indexes: each write to the table writes each index the item belongs to before or
  after (it has the index's key attributes): an entry that appears is a put of its projected size,
  one that disappears a delete of it, a changed index key a delete and a put, a changed projection
  under the same key one write of the larger entry, an unchanged entry nothing; 1 unit per started
  1 KB of the entry. Index writes follow the commit, outside the transaction: standard units, not
  doubled (`INDEX_WRITES_IN_TRANSACTIONS`). An entry is what the index's `Projection` keeps: the
  table's and the index's keys (KEYS_ONLY), plus the listed attributes (INCLUDE), or the whole item
  (ALL).
- Reads, one unit per started 4 KB, half of it unless `ConsistentRead`: `GetItem` the item (an
  absent one as one 4 KB), `BatchGetItem` each item apart, `Query` and `Scan` the summed size of
  the items each page evaluates (the index entries on an index; a filter, a projection or
  `Select: COUNT` reads them just the same), at least one 4 KB per page; `TransactGetItems` 2 units
  per started 4 KB of each item.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

from botocore.exceptions import ClientError

WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096
TRANSACTION_FACTOR = 2
"""Every item of a transaction is written (or read) twice: to prepare it and to commit it."""
INDEX_WRITES_IN_TRANSACTIONS = 1
"""Index entries are written after a transaction commits, as for any write (the guide: "changes made
with transactions are propagated to global secondary indexes ... after the transaction completes"):
their units are not doubled."""
EVENTUALLY_CONSISTENT = 0.5

Call = Callable[[str, dict[str, Any]], Any]
"""Makes a DynamoDB request that is neither counted nor measured: (operation, parameters) -> answer."""
Item = Mapping[str, Mapping[str, Any]]

TABLE = "table"
"""The target of a read or write of the table itself (else the index's name)."""
READ_OPERATIONS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"})
WRITE_OPERATIONS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
NO_UNITS = frozenset(
    {
        "CreateTable",
        "DeleteTable",
        "DescribeTable",
        "DescribeTimeToLive",
        "DescribeContinuousBackups",
        "ListTables",
        "ListTagsOfResource",
        "TagResource",
        "UpdateContinuousBackups",
        "UpdateTable",
        "UpdateTimeToLive",
        "DescribeEndpoints",
        "DescribeLimits",
    }
)
"""Control-plane requests: they read or write no item and consume no capacity units."""
FAILED_WRITE_CODES = frozenset({"ConditionalCheckFailedException", "TransactionCanceledException"})


# --- sizes --------------------------------------------------------------------------------------------


def number_size(text: str) -> int:
    """The size of a number: 1 byte per two significant digits, leading and trailing zeros trimmed,
    plus 1 byte."""
    try:
        digits = Decimal(text.strip()).normalize().as_tuple().digits
    except InvalidOperation as exc:
        raise ValueError(f"not a DynamoDB number: {text!r}") from exc
    significant = "".join(str(d) for d in digits).strip("0")
    return (max(len(significant), 1) + 1) // 2 + 1


def value_size(value: Mapping[str, Any]) -> int:
    """The size of an attribute value in DynamoDB's JSON form (`{"S": "..."}`, `{"N": "12"}`...)."""
    if len(value) != 1:
        raise ValueError(f"an attribute value has one type: {value!r}")
    ((kind, data),) = value.items()
    match kind:
        case "S":
            return len(str(data).encode())
        case "N":
            return number_size(str(data))
        case "B":
            return len(_raw(data))
        case "BOOL" | "NULL":
            return 1
        case "SS":
            return sum(len(str(member).encode()) for member in data)
        case "NS":
            return sum(number_size(str(member)) for member in data)
        case "BS":
            return sum(len(_raw(member)) for member in data)
        case "L":
            return 3 + sum(value_size(element) + 1 for element in data)
        case "M":
            return 3 + sum(len(name.encode()) + value_size(element) + 1 for name, element in data.items())
    raise ValueError(f"unknown attribute type {kind!r}")


def item_size(item: Item) -> int:
    """An item's size: each attribute's name (UTF-8 bytes) and value."""
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def _raw(data: Any) -> bytes:
    return bytes(data) if isinstance(data, bytes | bytearray) else str(data).encode()


def write_units(size: int) -> int:
    """Units of a standard write of `size` bytes: one per started 1 KB, at least one."""
    return max(1, math.ceil(size / WRITE_UNIT_BYTES))


def read_units(size: int, *, consistent: bool) -> float:
    """Units of reading `size` bytes in one operation: one per started 4 KB (at least one), halved
    for an eventually consistent read."""
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    return units if consistent else units * EVENTUALLY_CONSISTENT


# --- the table's schema, from template.yaml ------------------------------------------------------------


Projection = Literal["KEYS_ONLY", "INCLUDE", "ALL"]


@dataclass(frozen=True)
class Index:
    """A global secondary index: its key attributes and what it projects."""

    name: str
    keys: tuple[str, ...]
    projection: Projection
    included: tuple[str, ...] = ()

    def entry(self, item: Item | None, table_keys: Sequence[str]) -> dict[str, Any] | None:
        """The item's entry in this index (None when the item lacks a key attribute: a sparse index)."""
        if item is None or any(key not in item for key in self.keys):
            return None
        if self.projection == "ALL":
            return dict(item)
        kept = {*table_keys, *self.keys, *(self.included if self.projection == "INCLUDE" else ())}
        return {name: value for name, value in item.items() if name in kept}


@dataclass(frozen=True)
class TableSchema:
    """A table's key attributes (partition, then sort) and its global secondary indexes."""

    keys: tuple[str, ...]
    indexes: tuple[Index, ...] = ()

    def key_of(self, item: Item) -> dict[str, Any]:
        return {name: dict(item[name]) for name in self.keys}

    def index(self, name: str) -> Index:
        for index in self.indexes:
            if index.name == name:
                return index
        raise KeyError(f"no index {name!r}")


def table_schemas(template_path: Path) -> dict[str, TableSchema]:
    """Each `AWS::DynamoDB::Table` of the template, by logical id: its key and its global secondary
    indexes, as the template declares them."""
    from handoff_local.aws import load_template

    template = load_template(template_path)
    schemas: dict[str, TableSchema] = {}
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::DynamoDB::Table":
            continue
        properties = resource.get("Properties", {})
        if properties.get("LocalSecondaryIndexes"):
            raise NotImplementedError(f"{logical_id}: local secondary indexes are not measured")
        indexes = []
        for index in properties.get("GlobalSecondaryIndexes", []):
            projection = index.get("Projection", {})
            indexes.append(
                Index(
                    name=str(index["IndexName"]),
                    keys=_key_names(index["KeySchema"]),
                    projection=projection.get("ProjectionType", "KEYS_ONLY"),
                    included=tuple(str(name) for name in projection.get("NonKeyAttributes", [])),
                )
            )
        schemas[logical_id] = TableSchema(keys=_key_names(properties["KeySchema"]), indexes=tuple(indexes))
    return schemas


def _key_names(schema: Iterable[Mapping[str, Any]]) -> tuple[str, ...]:
    ordered = sorted(schema, key=lambda element: element["KeyType"] != "HASH")
    return tuple(str(element["AttributeName"]) for element in ordered)


# --- what one write does to the table and its indexes ----------------------------------------------------


@dataclass(frozen=True)
class IndexWrite:
    index: str
    units: int


def index_writes(schema: TableSchema, before: Item | None, after: Item | None) -> list[IndexWrite]:
    """The index writes that a table item going from `before` to `after` costs (None: no item)."""
    writes = []
    for index in schema.indexes:
        old = index.entry(before, schema.keys)
        new = index.entry(after, schema.keys)
        if old == new:
            continue
        if old is None and new is not None:
            units = write_units(item_size(new))
        elif new is None and old is not None:
            units = write_units(item_size(old))
        elif old is not None and new is not None:
            if any(old[key] != new[key] for key in index.keys):  # moved: delete the old, put the new
                units = write_units(item_size(old)) + write_units(item_size(new))
            else:
                units = write_units(max(item_size(old), item_size(new)))
        writes.append(IndexWrite(index.name, units))
    return writes


# --- measuring requests ---------------------------------------------------------------------------------


UnitKey = tuple[str, str, str, str]
"""(kind: "write" | "read", origin, operation, target: TABLE or an index's name)."""


@dataclass
class Capacity:
    """Capacity units of the DynamoDB requests `measure` makes, by origin, operation and target.

    `schemas`: each table's schema by its name as requests give it (`TableName`).
    """

    schemas: Mapping[str, TableSchema]
    units: dict[UnitKey, float] = field(default_factory=dict)
    failed: Counter[tuple[str, str]] = field(default_factory=Counter)
    """Write units of writes whose condition failed (or cancelled transactions), within `units`."""
    unmeasured: Counter[tuple[str, str]] = field(default_factory=Counter)
    """Requests whose units this module does not work out (PartiQL...), by origin and operation."""
    overhead_seconds: float = 0.0
    """Time spent in the reads the measuring makes around requests (not the product's own time)."""

    def measure(self, origin: str, label: str, operation: str, params: Mapping[str, Any], call: Call) -> Any:
        """Make the request `operation` (through `call`), record its units under (origin, label), and
        return its answer or raise its error, as the request alone would."""
        request = dict(params)

        def extra(name: str, arguments: dict[str, Any]) -> Any:  # a read of the measuring's own
            started = time.perf_counter()
            try:
                return call(name, arguments)
            finally:
                self.overhead_seconds += time.perf_counter() - started

        if operation in READ_OPERATIONS:
            answer = call(operation, request)
            self._reads(origin, label, operation, request, answer, extra)
            return answer
        if operation in WRITE_OPERATIONS:
            return self._write(origin, label, operation, request, call, extra)
        if operation not in NO_UNITS:
            self.unmeasured[(origin, label)] += 1
        return call(operation, request)

    # --- totals ---

    def snapshot(self) -> Capacity:
        return Capacity(self.schemas, dict(self.units), Counter(self.failed), Counter(self.unmeasured))

    def since(self, earlier: Capacity) -> Capacity:
        """What was measured after `earlier` (a snapshot of this one) was taken."""
        units = {key: n - earlier.units.get(key, 0) for key, n in self.units.items()}
        return Capacity(
            self.schemas,
            {key: n for key, n in units.items() if n},
            self.failed - earlier.failed,
            self.unmeasured - earlier.unmeasured,
        )

    def total(self, kind: str, *, target: str | None = None, origin: str | None = None) -> float:
        """Units of `kind` ("write" or "read"); `target`: TABLE, an index's name, or None for all."""
        return sum(
            n
            for (k, o, _, t), n in self.units.items()
            if k == kind and (target is None or t == target) and (origin is None or o == origin)
        )

    def index_total(self, kind: str) -> float:
        return sum(n for (k, _, _, t), n in self.units.items() if k == kind and t != TABLE)

    def targets(self, kind: str) -> list[str]:
        """TABLE first, then the indexes that had units of `kind`, by name."""
        found = {t for (k, _, _, t) in self.units if k == kind}
        return ([TABLE] if TABLE in found else []) + sorted(found - {TABLE})

    def by_operation(self, kind: str) -> dict[str, dict[str, float]]:
        """Units of `kind` per operation, per target."""
        table: dict[str, dict[str, float]] = {}
        for (k, _, operation, target), n in self.units.items():
            if k == kind:
                row = table.setdefault(operation, {})
                row[target] = row.get(target, 0) + n
        return dict(sorted(table.items()))

    def as_json(self) -> dict[str, Any]:
        nested: dict[str, Any] = {}
        for (kind, origin, operation, target), n in sorted(self.units.items()):
            nested.setdefault(kind, {}).setdefault(operation, {}).setdefault(target, {})[origin] = n
        return {
            "units": nested,
            "failed_write_units": {f"{o} {op}": n for (o, op), n in sorted(self.failed.items())},
            "unmeasured_requests": {f"{o} {op}": n for (o, op), n in sorted(self.unmeasured.items())},
        }

    # --- reads ---

    def _reads(
        self, origin: str, label: str, operation: str, request: dict[str, Any], answer: Any, call: Call
    ) -> None:
        if operation == "GetItem":
            item = answer.get("Item")
            if item is not None and _projected(request):
                item = call("GetItem", _full_get(request)).get("Item")
            size = item_size(item) if item is not None else 0
            self._add("read", origin, label, TABLE, read_units(size, consistent=_consistent(request)))
        elif operation == "BatchGetItem":
            for table_name, wanted in request["RequestItems"].items():
                items = answer.get("Responses", {}).get(table_name, [])
                if _projected(wanted):
                    items = self._get_all(table_name, wanted.get("Keys", []), call)
                consistent = bool(wanted.get("ConsistentRead"))
                missing = len(wanted.get("Keys", [])) - len(items)
                units = sum(read_units(item_size(i), consistent=consistent) for i in items)
                units += max(missing, 0) * read_units(0, consistent=consistent)
                self._add("read", origin, label, TABLE, units)
        elif operation in ("Query", "Scan"):
            items = answer.get("Items", [])
            if _sized_differently(request):
                items = call(operation, _evaluated(request)).get("Items", [])
            index_name = request.get("IndexName")
            target = TABLE
            if index_name is not None:
                schema = self.schemas[request["TableName"]]
                index = schema.index(index_name)
                items = [entry for i in items if (entry := index.entry(i, schema.keys)) is not None]
                target = index_name
            size = sum(item_size(i) for i in items)
            self._add("read", origin, label, target, read_units(size, consistent=_consistent(request)))
        elif operation == "TransactGetItems":
            for entry in request["TransactItems"]:
                get = entry["Get"]
                found = call(
                    "GetItem", {"TableName": get["TableName"], "Key": get["Key"], "ConsistentRead": True}
                ).get("Item")
                size = item_size(found) if found is not None else 0
                units = TRANSACTION_FACTOR * read_units(size, consistent=True)
                self._add("read", origin, label, TABLE, units)

    # --- writes ---

    def _write(
        self, origin: str, label: str, operation: str, request: dict[str, Any], call: Call, extra: Call
    ) -> Any:
        actions = _write_actions(operation, request, self.schemas)
        before = self._get_all_actions(actions, extra)
        try:
            answer = call(operation, request)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in FAILED_WRITE_CODES:
                factor = TRANSACTION_FACTOR if operation == "TransactWriteItems" else 1
                units = factor * sum(_failed_write_units(action, before[action.ref]) for action in actions)
                self._add("write", origin, label, TABLE, units)
                self.failed[(origin, label)] += units
            raise
        processed = _processed(operation, answer, actions, self.schemas)
        updated = [a for a in processed if a.kind == "Update"]
        after = self._get_all_actions(updated, extra) if updated else {}
        factor = TRANSACTION_FACTOR if operation == "TransactWriteItems" else 1
        index_factor = INDEX_WRITES_IN_TRANSACTIONS if operation == "TransactWriteItems" else 1
        for action in processed:
            old = before[action.ref]
            new: Item | None
            if action.kind == "Put":
                new = action.item
            elif action.kind == "Update":
                new = after.get(action.ref)
            elif action.kind == "Delete":
                new = None
            else:  # ConditionCheck: nothing written
                new = old
            sizes = [item_size(i) for i in (old, new) if i is not None]
            self._add("write", origin, label, TABLE, factor * write_units(max(sizes, default=0)))
            if action.kind == "ConditionCheck":
                continue
            for write in index_writes(self.schemas[action.table], old, new):
                self._add("write", origin, label, write.index, index_factor * write.units)
        return answer

    def _get_all_actions(self, actions: Sequence[_Action], call: Call) -> dict[_Ref, Item | None]:
        found: dict[_Ref, Item | None] = {action.ref: None for action in actions}
        by_table: dict[str, list[dict[str, Any]]] = {}
        for action in actions:
            by_table.setdefault(action.table, []).append(action.key)
        if len(actions) == 1:
            (action,) = actions
            item = call(
                "GetItem", {"TableName": action.table, "Key": action.key, "ConsistentRead": True}
            ).get("Item")
            found[action.ref] = item
            return found
        for table_name, keys in by_table.items():
            for item in self._get_all(table_name, keys, call):
                found[(table_name, _key_text(self._key(table_name, item)))] = item
        return found

    def _get_all(self, table_name: str, keys: Sequence[Mapping[str, Any]], call: Call) -> list[Item]:
        """The items at `keys` (those that exist), by consistent `BatchGetItem`s of up to 100 keys."""
        items: list[Item] = []
        for first in range(0, len(keys), 100):
            pending: dict[str, Any] = {
                table_name: {"Keys": [dict(k) for k in keys[first : first + 100]], "ConsistentRead": True}
            }
            while pending:
                answer = call("BatchGetItem", {"RequestItems": pending})
                items += answer.get("Responses", {}).get(table_name, [])
                pending = answer.get("UnprocessedKeys") or {}
        return items

    def _key(self, table_name: str, item: Item) -> dict[str, Any]:
        return self.schemas[table_name].key_of(item)

    def _add(self, kind: str, origin: str, label: str, target: str, units: float) -> None:
        key = (kind, origin, label, target)
        self.units[key] = self.units.get(key, 0) + units


_Ref = tuple[str, str]
"""(table name, the item's key as text): one item a write names."""


@dataclass(frozen=True)
class _Action:
    kind: str  # Put | Update | Delete | ConditionCheck
    table: str
    key: dict[str, Any]
    item: Item | None = None  # a put's new item

    @property
    def ref(self) -> _Ref:
        return (self.table, _key_text(self.key))


def _key_text(key: Mapping[str, Any]) -> str:
    return repr(sorted((name, sorted(value.items())) for name, value in key.items()))


def _write_actions(
    operation: str, request: Mapping[str, Any], schemas: Mapping[str, TableSchema]
) -> list[_Action]:
    """The items a write request names, in its order."""
    if operation in ("PutItem", "UpdateItem", "DeleteItem"):
        return [_action(operation.removesuffix("Item"), request, schemas)]
    if operation == "TransactWriteItems":
        actions = []
        for entry in request["TransactItems"]:
            ((kind, body),) = entry.items()
            actions.append(_action(kind, body, schemas))
        return actions
    return _batch_actions(request["RequestItems"], schemas)  # BatchWriteItem


def _batch_actions(
    requests: Mapping[str, Sequence[Mapping[str, Any]]], schemas: Mapping[str, TableSchema]
) -> list[_Action]:
    actions = []
    for table_name, entries in requests.items():
        for entry in entries:
            if "PutRequest" in entry:
                actions.append(_action("Put", {"TableName": table_name, **entry["PutRequest"]}, schemas))
            else:
                actions.append(
                    _action("Delete", {"TableName": table_name, **entry["DeleteRequest"]}, schemas)
                )
    return actions


def _action(kind: str, body: Mapping[str, Any], schemas: Mapping[str, TableSchema]) -> _Action:
    table = str(body["TableName"])
    if kind == "Put":
        return _Action(kind, table, schemas[table].key_of(body["Item"]), body["Item"])
    return _Action(kind, table, dict(body["Key"]))


def _processed(
    operation: str, answer: Any, actions: list[_Action], schemas: Mapping[str, TableSchema]
) -> list[_Action]:
    """The actions a successful request carried out (a batch may leave some unprocessed)."""
    unprocessed = answer.get("UnprocessedItems") if operation == "BatchWriteItem" else None
    if not unprocessed:
        return actions
    skipped = {(a.kind, a.ref) for a in _batch_actions(unprocessed, schemas)}
    return [a for a in actions if (a.kind, a.ref) not in skipped]


def _failed_write_units(action: _Action, existing: Item | None) -> int:
    """A write whose condition failed: 1 unit when the item does not exist, else the units of the
    larger of the existing item and the item a put would have written."""
    if existing is None:
        return 1
    sizes = [item_size(existing)]
    if action.kind == "Put" and action.item is not None:
        sizes.append(item_size(action.item))
    return write_units(max(sizes))


def _consistent(request: Mapping[str, Any]) -> bool:
    return bool(request.get("ConsistentRead"))


_PROJECTING = ("ProjectionExpression", "AttributesToGet")
_NARROWING = ("Select", "FilterExpression", "QueryFilter", "ScanFilter", "ConditionalOperator", *_PROJECTING)
_PLACEHOLDER = re.compile(r"[#:][A-Za-z0-9_]+")


def _projected(request: Mapping[str, Any]) -> bool:
    return any(name in request for name in _PROJECTING)


def _sized_differently(request: Mapping[str, Any]) -> bool:
    """Whether a page's answer lacks some of what it read (a filter, a projection, a count)."""
    return any(name in request for name in _NARROWING)


def _full_get(request: Mapping[str, Any]) -> dict[str, Any]:
    return _without(request, _PROJECTING)


def _evaluated(request: Mapping[str, Any]) -> dict[str, Any]:
    """The same page of a Query or Scan, answering every item it evaluates, whole."""
    return _without(request, _NARROWING)


def _without(request: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """`request` without the parameters `names`, and without the expression placeholders only they used."""
    kept = {name: value for name, value in request.items() if name not in set(names)}
    used = {
        placeholder
        for name, value in kept.items()
        if name.endswith("Expression") and isinstance(value, str)
        for placeholder in _PLACEHOLDER.findall(value)
    }
    for placeholders in ("ExpressionAttributeNames", "ExpressionAttributeValues"):
        if placeholders in kept:
            narrowed = {k: v for k, v in kept[placeholders].items() if k in used}
            if narrowed:
                kept[placeholders] = narrowed
            else:
                del kept[placeholders]
    return kept
