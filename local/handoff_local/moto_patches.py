"""What the embedded run changes in moto so that a day of traffic fits in bounded memory and time.

moto is a test double, built for small tests: it keeps every model object it ever created (for
its dashboard), backs up each table a `TransactWriteItems` names with a deep copy of the whole
table, and sorts the whole table for each Query. Over thousands of messages each commit cost
memory and time in proportion to the table: `make local` reached 14 GB and about 1 s per webhook
after some 1,900 messages. Its SQS works out every message's state from the clock several times
per request, and it never deletes items whose TTL has passed, as DynamoDB does.

`lean_moto()` (or `install()` and `uninstall()`) patches moto while it is held, so that the cost
of a request does not grow with the table, nor memory with what moto made before; each patch
below says what moto does, why it is patched, and why the handlers see the same AWS. And
`expire_items()` plays DynamoDB's TTL deletions. The patches rely on moto's internals, so they
are pinned to the moto of requirements-dev.txt: another version is refused with `MotoPatchError`
until each patch is checked against it and `MOTO_VERSION` is updated.
"""

from __future__ import annotations

import copy
import inspect
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

MOTO_VERSION = "5.2.5"

# DynamoDB does not delete an item whose TTL is more than five years in the past (it takes such a
# value for a mistake, in milliseconds or the like).
TTL_IGNORED_AFTER = timedelta(days=5 * 365)

# The services whose model objects moto still tracks: its S3 reset closes the files of the keys it
# tracked (the embedded run uses no S3, but other tests in the same process may).
_STILL_TRACKED_SERVICES = frozenset({"s3"})


class MotoPatchError(RuntimeError):
    """The installed moto is not the one these patches were written against."""


def _check_moto() -> None:
    import moto

    if moto.__version__ != MOTO_VERSION:
        raise MotoPatchError(
            f"handoff_local.moto_patches patches moto {MOTO_VERSION}'s internals, and moto "
            f"{moto.__version__} is installed: install moto=={MOTO_VERSION} (requirements-dev.txt), or "
            "check each patch in local/handoff_local/moto_patches.py against the new moto and update "
            "MOTO_VERSION"
        )


# --- 1. moto's record of every model object ---------------------------------------------------------


class _UntrackedInstances:
    """moto's `BaseModel.__new__` appends every model object it creates (each DynamoDB item, each
    copy of one, each SQS message...) to a class-level list that only moto's dashboard reads, so
    nothing it ever made is freed. Patched: objects are no longer listed (but for S3's). moto's
    answers never read that list, so the handlers see no difference."""

    def __init__(self) -> None:
        from moto.core.common_models import BaseModel

        original = BaseModel.__dict__.get("__new__")
        if not isinstance(original, staticmethod):
            raise MotoPatchError("moto's BaseModel.__new__ has moved: check _UntrackedInstances")
        self._model: type[Any] = BaseModel
        self._original = original

    def install(self) -> None:
        from moto.core.model_instances import model_data

        model = self._model

        def new_untracked(cls: Any, *args: Any, **kwargs: Any) -> Any:
            instance = super(model, cls).__new__(cls)  # as moto's own, but for the list
            if cls.__module__.split(".")[1] in _STILL_TRACKED_SERVICES:
                cls.instances_tracked.append(instance)
            return instance

        model.__new__ = staticmethod(new_untracked)  # type: ignore[assignment]
        for service, models in model_data.items():  # and forget what is listed already
            if service not in _STILL_TRACKED_SERVICES:
                for tracked in models.values():
                    tracked.instances_tracked = []  # type: ignore[attr-defined]

    def uninstall(self) -> None:
        self._model.__new__ = self._original


# --- 2. the whole-table backup of each DynamoDB transaction -------------------------------------------


class _TablesNotCopied:
    """The `copy` module as `moto.dynamodb.models` sees it while patched: inside `skipping()` (on
    this thread) a deep copy of a whole `Table` is the table itself; every other copy is made as
    before."""

    def __init__(self, table_type: type[Any]) -> None:
        self._table_type = table_type
        self._local = threading.local()

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    def deepcopy(self, value: Any, memo: dict[int, Any] | None = None) -> Any:
        if isinstance(value, self._table_type) and getattr(self._local, "skipping", False):
            return value
        return copy.deepcopy(value, memo)

    @contextmanager
    def skipping(self) -> Iterator[None]:
        self._local.skipping = True
        try:
            yield
        finally:
            self._local.skipping = False


@dataclass(frozen=True)
class _ItemBackup:
    """One item a transaction names, as it was before: a deep copy, or None when there was none."""

    table: Any  # moto's Table
    hash_key: Any  # DynamoType
    range_key: Any  # DynamoType, None on a table without a sort key
    item: Any  # moto's Item, or None

    def restore(self) -> None:
        items = self.table.items
        if self.range_key is None:
            if self.item is None:
                items.pop(self.hash_key, None)
            else:
                items[self.hash_key] = self.item
        elif self.item is None:
            if self.hash_key in items:
                items[self.hash_key].pop(self.range_key, None)
        else:
            items[self.hash_key][self.range_key] = self.item


class _LeanTransactions:
    """moto's `TransactWriteItems` deep-copies every table it names before writing (to put the
    copy back if the transaction is cancelled): a cost in time and memory that grows with the table,
    on every commit. Patched: the tables are not copied; the transaction backs up only the items it
    names, a deep copy of each (a transaction writes nothing else: each of its operations writes at
    most its own key), and puts those back whenever moto cancels it or fails midway. So it is still
    all or nothing: a failed condition anywhere cancels it with the same
    `TransactionCanceledException` and reasons and leaves every item as it was, and a request moto
    refuses midway leaves nothing of it. (A table with a stream, which the template has none of,
    keeps moto's own way: the stream would record the rollback.)"""

    def __init__(self) -> None:
        from moto.dynamodb import models
        from moto.dynamodb.models.table import Table

        if getattr(models, "copy", None) is not copy:
            raise MotoPatchError("moto.dynamodb.models no longer imports copy: check _LeanTransactions")
        if not callable(getattr(models.DynamoDBBackend, "transact_write_items", None)):
            raise MotoPatchError(
                "moto's DynamoDBBackend.transact_write_items has moved: check _LeanTransactions"
            )
        self._models: Any = models
        self._original = models.DynamoDBBackend.transact_write_items
        self._copy_proxy = _TablesNotCopied(Table)

    def install(self) -> None:
        original = self._original
        tables_not_copied = self._copy_proxy

        def transact_write_items(backend: Any, transact_items: list[dict[str, Any]]) -> None:
            backups = _item_backups(backend, transact_items)
            if backups is None:
                original(backend, transact_items)
                return
            try:
                with tables_not_copied.skipping():
                    original(backend, transact_items)
            except BaseException:
                for backup in reversed(backups):
                    backup.restore()
                raise

        self._models.copy = self._copy_proxy
        self._models.DynamoDBBackend.transact_write_items = transact_write_items

    def uninstall(self) -> None:
        self._models.DynamoDBBackend.transact_write_items = self._original
        self._models.copy = copy


def _item_backups(backend: Any, transact_items: list[dict[str, Any]]) -> list[_ItemBackup] | None:
    """A backup of each item the transaction names; None when a table it names has a stream (moto's
    own way then: a stream would record the rollback's writes too). An operation whose table or key
    cannot be read is skipped: moto cannot write it either (it fails the transaction, which is then
    rolled back)."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    backups = []
    for entry in transact_items:
        if not isinstance(entry, dict) or len(entry) != 1:
            continue
        ((kind, operation),) = entry.items()
        try:
            table = backend.tables[operation["TableName"]]
            key = operation["Item"] if kind == "Put" else operation["Key"]
            hash_key = DynamoType(key[table.hash_key_attr])
            range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr is not None else None
            partition = table.items.get(hash_key)  # .get: moto's items are a defaultdict
            item = partition if range_key is None or partition is None else partition.get(range_key)
        except (KeyError, TypeError, AttributeError, ValueError):
            continue
        if table.stream_shard is not None:
            return None
        backups.append(_ItemBackup(table, hash_key, range_key, copy.deepcopy(item)))
    return backups


# --- 3. the whole-table sort of each DynamoDB query -------------------------------------------------


class _NarrowQueries:
    """moto answers each Query by sorting every item of the table (`Table.all_items`, comparing key
    objects that work their value out again at each comparison), then keeping those of the
    partition asked for: a cost that grows with the table, on every Query (the minute's schedule
    makes several). Patched: while moto answers a Query, `all_items` gives only the items it would
    keep anyway, the queried partition (a Query on the table's key) or the items whose index
    partition key matches (a Query on an index), and sorts them on key values worked out once per
    item. The same items come back in the same order: filtering before sorting is filtering after,
    and the key values order items as the key objects do (one type per key attribute in a table).
    A Scan still reads and sorts the whole table (the product makes none)."""

    def __init__(self) -> None:
        from moto.dynamodb.models.table import Table

        original_query = Table.__dict__.get("query")
        original_all_items = Table.__dict__.get("all_items")
        if not callable(original_query) or not callable(original_all_items):
            raise MotoPatchError("moto's Table.query or Table.all_items has moved: check _NarrowQueries")
        signature = inspect.signature(original_query)
        if not {"hash_key", "index_name", "hash_key_conditions"} <= set(signature.parameters):
            raise MotoPatchError("moto's Table.query takes other parameters: check _NarrowQueries")
        self._table: type[Any] = Table
        self._original_query: Callable[..., Any] = original_query
        self._original_all_items: Callable[..., Any] = original_all_items
        self._signature = signature
        self._local = threading.local()

    def install(self) -> None:
        original_query, signature, local = self._original_query, self._signature, self._local

        def query(table: Any, *args: Any, **kwargs: Any) -> Any:
            local.candidates = (table, _query_candidates(table, signature.bind(table, *args, **kwargs)))
            try:
                return original_query(table, *args, **kwargs)
            finally:
                local.candidates = None

        def all_items(table: Any) -> list[Any]:
            scope = getattr(local, "candidates", None)
            if scope is not None and scope[0] is table and scope[1] is not None:
                return sorted(scope[1](), key=_sort_key)
            return sorted(_items(table), key=_sort_key)

        self._table.query = query
        self._table.all_items = all_items

    def uninstall(self) -> None:
        self._table.query = self._original_query
        self._table.all_items = self._original_all_items


def _query_candidates(table: Any, bound: inspect.BoundArguments) -> Callable[[], list[Any]] | None:
    """The items moto's `Table.query` can keep for these arguments (None: any item of the table).

    On the table's key, moto keeps the items whose partition key equals `hash_key`: those stored
    under it. On an index, it keeps the items whose attribute equals each value of
    `hash_key_conditions` (and has none without such conditions: then any item is a candidate)."""
    arguments = bound.arguments
    hash_key = arguments.get("hash_key")
    conditions = list(arguments.get("hash_key_conditions") or [])
    if not arguments.get("index_name"):
        if hash_key is None:
            return None

        def partition() -> list[Any]:
            stored = table.items.get(hash_key)  # .get: moto's items are a defaultdict
            if stored is None:
                return []
            return list(stored.values()) if table.range_key_attr is not None else [stored]

        return partition
    if not conditions:
        return None

    def matching() -> list[Any]:
        return [
            item
            for item in _items(table)
            if all(
                (value := item.attrs.get(name)) is not None and value == expected
                for name, expected in conditions
            )
        ]

    return matching


def _sort_key(item: Any) -> Any:
    """The order of moto's `all_items`: by partition key, then sort key (when the item has one)."""
    if item.range_key:
        return (item.hash_key.cast_value, item.range_key.cast_value)
    return item.hash_key.cast_value


# --- 4. the message counts moto works out for each message sent ------------------------------------


class _CheapSendChecks:
    """moto checks each message sent to a FIFO queue by reading `queue.attributes`, which works out
    every attribute of the queue, the approximate message counts too (a pass over every message in
    the queue, reading the clock for each), twice per message, and again for a batch: a POST of the
    webhook costs more the more messages wait in the queue. Patched: the check reads the one
    attribute it needs (ContentBasedDeduplication, as `attributes` gives it). The same messages are
    accepted and refused with the same errors; GetQueueAttributes still counts."""

    def __init__(self) -> None:
        from moto.sqs.models import SQSBackend

        original = SQSBackend.__dict__.get("_validate_message")
        if not callable(original):
            raise MotoPatchError("moto's SQSBackend._validate_message has moved: check _CheapSendChecks")
        self._backend: type[Any] = SQSBackend
        self._original: Callable[..., Any] = original

    def install(self) -> None:
        original = self._original

        def validate_message(backend: Any, queue: Any, *args: Any, **kwargs: Any) -> Any:
            return original(backend, _QueueAsChecked(queue), *args, **kwargs)

        self._backend._validate_message = validate_message

    def uninstall(self) -> None:
        self._backend._validate_message = self._original


class _QueueAsChecked:
    """A moto queue whose `attributes` hold only ContentBasedDeduplication, rendered as moto's do."""

    def __init__(self, queue: Any) -> None:
        self._queue = queue

    def __getattr__(self, name: str) -> Any:
        return getattr(self._queue, name)

    @property
    def attributes(self) -> dict[str, Any]:
        value = self._queue.content_based_deduplication
        return {"ContentBasedDeduplication": str(value).lower() if isinstance(value, bool) else value}


# --- 5. the clock moto reads for each queued message -------------------------------------------------


class _QuickQueueClock:
    """moto's SQS reads the clock for each message each time it looks at the queue (is it visible
    yet? still delayed?), through datetime arithmetic, several passes per request: with messages
    waiting, most of the time of a send or a receive. Patched: the queue reads the same clock,
    `time.time()` in milliseconds, without the datetime round trip. Messages become visible,
    delayed and counted at the same moments as before (to the microsecond)."""

    def __init__(self) -> None:
        from moto.core import utils
        from moto.sqs import models

        if getattr(models, "unix_time_millis", None) is not utils.unix_time_millis:
            raise MotoPatchError("moto.sqs.models no longer uses unix_time_millis: check _QuickQueueClock")
        self._models: Any = models
        self._original: Callable[..., float] = utils.unix_time_millis

    def install(self) -> None:
        original = self._original

        def unix_time_millis(dt: datetime | None = None) -> float:
            return time.time() * 1000.0 if dt is None else original(dt)

        self._models.unix_time_millis = unix_time_millis

    def uninstall(self) -> None:
        self._models.unix_time_millis = self._original


# --- install and remove -------------------------------------------------------------------------------


class _Patch(Protocol):
    def install(self) -> None: ...

    def uninstall(self) -> None: ...


_lock = threading.Lock()
_holders = 0
_installed: list[_Patch] = []


def install() -> None:
    """Patch moto (each call to be matched by one `uninstall`: they nest)."""
    global _holders
    with _lock:
        if _holders == 0:
            _check_moto()
            # each patch checks moto's internals when made: all of them before any is installed
            patches: list[_Patch] = [
                _UntrackedInstances(),
                _LeanTransactions(),
                _NarrowQueries(),
                _CheapSendChecks(),
                _QuickQueueClock(),
            ]
            for patch in patches:
                patch.install()
                _installed.append(patch)
        _holders += 1


def uninstall() -> None:
    """Undo one `install`; the last one puts moto back as it was."""
    global _holders
    with _lock:
        if _holders == 0:
            return
        _holders -= 1
        if _holders == 0:
            while _installed:
                _installed.pop().uninstall()


def installed() -> bool:
    with _lock:
        return _holders > 0


@contextmanager
def lean_moto() -> Iterator[None]:
    """`with lean_moto(): ...` moto patched for the block (nested blocks and threads share one patch)."""
    install()
    try:
        yield
    finally:
        uninstall()


# --- what the queue consumer did with a record ------------------------------------------------------


def visible_at(queue_url: str, receipt_handle: str) -> float | None:
    """When (epoch seconds, moto's clock) the message received with `receipt_handle` becomes visible
    again; None when it is gone (deleted). The local run's SQS poller reads it to tell a record the
    conversation function put back for later (ChangeMessageVisibility) from one it left alone."""
    from moto.sqs.models import sqs_backends

    _check_moto()  # it reads the queues as the pinned moto keeps them
    name = queue_url.rsplit("/", 1)[-1]
    for _, _, backend in sqs_backends.iter_backends():
        queue = backend.queues.get(name)  # type: ignore[attr-defined]
        if queue is None:
            continue
        for message in queue._messages:
            if message.receipt_handle == receipt_handle:
                return float(message.visible_at) / 1000.0
    return None


# --- DynamoDB's TTL deletions -------------------------------------------------------------------------


def expire_items(now: datetime) -> int:
    """Delete, as DynamoDB's TTL does, every item whose TTL attribute is a number of epoch seconds
    before `now` (and not more than five years before), in every table of moto's with TTL enabled;
    returns how many. moto keeps expired items forever. DynamoDB deletes them within days of their
    time, and the product relies on neither (it treats what has expired as gone when it reads it):
    deleting them at their time is one of the timings DynamoDB allows."""
    from moto.dynamodb.models import dynamodb_backends

    _check_moto()  # it reads the tables as the pinned moto keeps them
    deadline = now.timestamp()
    oldest = deadline - TTL_IGNORED_AFTER.total_seconds()
    deleted = 0
    for _, _, backend in dynamodb_backends.iter_backends():
        for table in list(backend.tables.values()):  # type: ignore[attr-defined]
            ttl = table.ttl
            if ttl.get("TimeToLiveStatus") != "ENABLED" or not ttl.get("AttributeName"):
                continue
            for item in _items(table):
                value = item.attrs.get(ttl["AttributeName"])
                if value is None or value.type != "N":
                    continue
                try:
                    expires = float(value.value)
                except ValueError:
                    continue
                if oldest <= expires < deadline:
                    table.delete_item(item.hash_key, item.range_key)
                    deleted += 1
                    if item.range_key is not None and not table.items.get(item.hash_key):
                        del table.items[item.hash_key]  # an empty partition (moto keeps them)
    return deleted


def _items(table: Any) -> list[Any]:
    """Every item of a moto table, unsorted (moto's `all_items` sorts them all)."""
    if table.range_key_attr is None:
        return list(table.items.values())
    return [item for partition in table.items.values() for item in partition.values()]
