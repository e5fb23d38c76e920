"""Conversations in DynamoDB: load, and commit state with everything it owes in one transaction.

`commit` is the transactional outbox: the new state (conditional on the version it was read
at), its transcript lines, its chat-report rows and the Graph API requests it owes the user are
written by one `TransactWriteItems`, or not at all. Requests are flushed after the commit and
deleted once Meta accepted them, so a crash anywhere leaves them in the outbox to be sent later,
and a stale writer changes nothing.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from handoff.adapters.clients import client
from handoff.channels.base import GraphRequest
from handoff.engine.flow import surviving
from handoff.engine.model import (
    ChatEnded,
    Conversation,
    ConversationRef,
    Effect,
    Frozen,
    SessionClosed,
    SessionRecord,
    TranscriptEntry,
    WaitEnded,
)
from handoff.engine.windows import wait_expires_at
from handoff.observability import pseudonym
from handoff.reports.records import ChatRecord, WaitRecord
from handoff.store import keys
from handoff.store.keys import item_key as _key
from handoff.store.outcomes import Erased, StaleConversation

TRANSCRIPT_RETENTION = timedelta(days=30)
REPORT_RETENTION = timedelta(days=400)
"""The default; the stack's ReportRetentionDays parameter sets it (REPORT_RETENTION_DAYS)."""
WAKE_CURSOR_KEPT = timedelta(minutes=10)
"""How long a wake pass's place is gone on from: passes run every minute, and a place older than this
starts again from the first user to tell (a user passed over by a pass cut short is then told)."""
IDLE_CONVERSATION_RETENTION = timedelta(days=30)
QUEUED_CONVERSATION_RETENTION = timedelta(hours=48)
ID_LOOKUP_MARGIN = timedelta(days=30)
"""How long the lookup from a conversation's id outlives the conversation's own expiry (a link from
a report row or a bus event still opens it meanwhile); refreshed once the expiry moves past it."""
APPLIED_MARKER_RETENTION = timedelta(days=8)
"""Meta redelivers for up to 7 days, and a dead-letter queue keeps a message for 14 (redrive it
within 7 days, docs/deployment.md): a day more than the longest of Meta's windows."""
"""DynamoDB's TTL only tidies up: expiry is decided in logic at 24 h, long before this."""


class EventAlreadyApplied(Exception):
    """A marker says this channel message was applied before: applying it again would double it."""


class BusEvent(Frozen):
    """An event for other systems, owed like a message: on the bus after the commit, never lost."""

    detail_type: str
    detail: dict[str, Any]


class Owed(Frozen):
    """A Graph API request or a bus event a step owes, and the effect whose transcript line says it."""

    item: GraphRequest | BusEvent
    line: int | None = None  # the index, among the step's effects, of the message's transcript line


class OutboxMessage(Frozen):
    """What the conversation owes, waiting in the outbox: a Graph API request, or a bus event."""

    pk: str
    sk: str
    conversation_key: str
    channel: str
    account_id: str
    request: GraphRequest | None = None
    event: BusEvent | None = None
    created_at: datetime
    transcript_sk: str | None = None  # the transcript item whose line says this message (marked if refused)
    transcript_line: int | None = None  # that line's place in the item (None: an item of one line)
    slot_at: datetime | None = None  # a send slot booked for it in its account's schedule, if any


class Applying(Frozen):
    """The channel message a step applies: its id and Meta's timestamp name the step's transcript
    item, which is its applied marker."""

    event_id: str
    sent_at: datetime


class Waiting(Frozen):
    """A waiting conversation as a keys-only index names it: enough to queue an event for it."""

    ref: ConversationRef
    id: str
    at: str
    """The instant its index sorts it by (when it began to wait, or when its wait expires)."""
    place: str
    """Where it is in its index, for a pass that goes on from it."""


WAIT_INDEX_ATTRIBUTES = ("wake_tenant", "wake_sort", "expiry_tenant", "wait_expires")
"""What puts a queued conversation in the wake pass's indexes (`wake`, `wait_expiry`)."""


class IndexedWaits(Frozen):
    """What `ConversationStore.index_waits` found in a tenant's queue."""

    indexed: int = 0
    """Conversations given the wake pass's index attributes (or that would be, in a dry run)."""
    already: int = 0
    """Conversations that had them."""
    written_since: int = 0
    """Conversations written between the read and the write: the write that moved them on set them."""


class ConversationStore:
    def __init__(self, table_name: str, *, report_retention: timedelta = REPORT_RETENTION) -> None:
        self.table_name = table_name
        self.report_retention = report_retention

    @property
    def _db(self) -> Any:
        return client("dynamodb")

    # --- conversations ---------------------------------------------------------------------------

    def load(self, ref: ConversationRef) -> Conversation | None:
        item = self._db.get_item(
            TableName=self.table_name,
            Key=_key(keys.conversation_pk(ref.key), keys.STATE),
            ConsistentRead=True,
        ).get("Item")
        if item is None:
            return None
        conversation = _conversation(item)
        return conversation if conversation.id else self._give_id(conversation)

    def load_key(self, key: str) -> Conversation | None:
        """Load by key; None for a key that names no conversation (or is not a key at all)."""
        try:
            ref = ConversationRef.from_key(key)
        except ValueError:
            return None
        return self.load(ref)

    def load_id(self, conversation_id: str) -> Conversation | None:
        """Load by the conversation's opaque id; None for an id that names no conversation."""
        if not keys.is_conversation_id(conversation_id):
            return None
        item = self._db.get_item(
            TableName=self.table_name,
            Key=_key(keys.conversation_id_pk(conversation_id), keys.CONVERSATION_ID_SK),
            ConsistentRead=True,
        ).get("Item")
        if item is None:
            return None
        conversation = self.load_key(item["key"]["S"])
        return conversation if conversation is not None and conversation.id == conversation_id else None

    def _give_id(self, conversation: Conversation) -> Conversation:
        """A conversation stored before conversations had ids gets one, with its `ID#` item."""
        for _ in range(3):
            try:
                stored, _ = self.commit(
                    conversation.model_copy(update={"id": keys.new_conversation_id()}),
                    [],
                    now=conversation.last_activity_at or datetime.now(UTC),
                )
                return stored
            except StaleConversation:
                reloaded = self.load(conversation.ref)
                if reloaded is None or reloaded.id:
                    return reloaded or conversation
                conversation = reloaded
        raise StaleConversation(pseudonym(conversation.ref.key))

    def commit(
        self,
        conversation: Conversation,
        effects: Iterable[Effect],
        outbox: Iterable[Owed] = (),
        *,
        now: datetime,
        applies: Applying | None = None,
        leaving: Conversation | None = None,
        retired_ids: Iterable[str] = (),
        leased_until: datetime | None = None,
    ) -> tuple[Conversation, list[OutboxMessage]]:
        """Write the new state, its records and its outbox atomically; returns them as stored.

        `conversation.version` is the version it was read at (0 for a new one); the stored copy
        gets the next. Raises StaleConversation when that version is no longer the stored one.
        `applies`: the id of the channel message this step applies; a marker of it is written in
        the same transaction, and EventAlreadyApplied is raised (nothing written) when one is
        there: a message is applied once, however late Meta or a redrive brings it again.
        The lookup from the conversation's id (its `ID#` item) is written in the same transaction
        when the conversation is new, and again whenever the conversation would outlive it.
        `leaving`: the state stored under the user's old id, deleted in the same transaction (on
        the condition that it is still the version read) when the conversation moves (`move`);
        `retired_ids`: ids of conversations merged into this one, whose lookups are deleted.
        `leased_until`: the outbox messages are written leased to the committer until then (it sends
        them next, with no lease of its own to take: no other sender may meanwhile).
        """
        read_version = conversation.version
        if not conversation.id:
            raise ValueError("a conversation is stored with its id")
        stored = conversation.model_copy(update={"version": read_version + 1})
        key = conversation.ref.key
        keep_id_until = (_expiry(stored, now) or now + IDLE_CONVERSATION_RETENTION) + ID_LOOKUP_MARGIN
        id_lookup = (
            leaving is not None
            or stored.id_kept_until is None
            or stored.id_kept_until < keep_id_until - ID_LOOKUP_MARGIN
        )
        if id_lookup:
            stored = stored.model_copy(update={"id_kept_until": keep_id_until})
        condition: dict[str, Any] = (
            {"ConditionExpression": "attribute_not_exists(pk)"}
            if read_version == 0
            else {
                "ConditionExpression": "version = :read",
                "ExpressionAttributeValues": {":read": {"N": str(read_version)}},
            }
        )
        writes: list[dict[str, Any]] = [
            {"Put": {"TableName": self.table_name, "Item": _conversation_item(stored, now), **condition}}
        ]
        if leaving is not None:
            writes.append(
                {
                    "Delete": {
                        "TableName": self.table_name,
                        "Key": _key(keys.conversation_pk(leaving.ref.key), keys.STATE),
                        "ConditionExpression": "version = :read",
                        "ExpressionAttributeValues": {":read": {"N": str(leaving.version)}},
                    }
                }
            )
        writes += [
            {
                "Delete": {
                    "TableName": self.table_name,
                    "Key": _key(keys.conversation_id_pk(retired), keys.CONVERSATION_ID_SK),
                }
            }
            for retired in retired_ids
            if retired != stored.id
        ]
        if id_lookup:
            writes.append({"Put": _id_item(self.table_name, stored, keep_id_until)})
        marker_at = len(writes)
        entries = [(n, effect) for n, effect in enumerate(effects) if isinstance(effect, TranscriptEntry)]
        lines: dict[int, tuple[str, int]] = {}  # effect index -> its transcript item and place in it
        if entries:
            # the step's lines in one item, in order: applying a channel message, the item is named
            # by the message and written on the condition that it is not there (its applied marker)
            at = applies.sent_at if applies is not None else entries[0][1].at
            sk = (
                keys.message_transcript_sk(at, applies.event_id)
                if applies is not None
                else keys.transcript_sk(at, stored.version)
            )
            lines = {n: (sk, place) for place, (n, _) in enumerate(entries)}
            transcript: dict[str, Any] = {
                "TableName": self.table_name,
                "Item": _transcript_item(
                    keys.conversation_pk(key), sk, [e for _, e in entries], stored.version
                ),
            }
            if applies is not None:
                transcript["ConditionExpression"] = "attribute_not_exists(pk)"
            writes.append({"Put": transcript})
        if applies is not None and (not entries or read_version == 0):
            # no line to mark it by, or a conversation new under this key: its marker, if a message
            # applied here before the conversation moved away left one, must not be there
            marker = {
                **_key(keys.conversation_pk(key), keys.applied_sk(applies.event_id)),
                "expires_at": _epoch(now + APPLIED_MARKER_RETENTION),
            }
            writes.append(
                {
                    "Put": {
                        "TableName": self.table_name,
                        "Item": marker,
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            )
        marker_end = len(writes)
        for n, effect in enumerate(effects):
            item = self._record_item(stored, effect, n, now)
            if item is not None:
                writes.append({"Put": {"TableName": self.table_name, "Item": item}})
            if item is not None and item["pk"]["S"].startswith("REPORT#"):
                # the conversation's own pointer to its report record: what an erasure follows
                pointer = {
                    **_key(keys.conversation_pk(key), keys.report_ref_sk(item["sk"]["S"])),
                    "expires_at": item["expires_at"],
                }
                writes.append({"Put": {"TableName": self.table_name, "Item": pointer}})
        messages = [
            OutboxMessage(
                pk=keys.outbox_pk(key),
                sk=keys.outbox_sk(key, now, stored.version, n),
                conversation_key=key,
                channel=conversation.ref.channel,
                account_id=conversation.ref.account_id,
                request=owed.item if isinstance(owed.item, GraphRequest) else None,
                event=owed.item if isinstance(owed.item, BusEvent) else None,
                created_at=now,
                transcript_sk=lines[owed.line][0] if owed.line in lines else None,
                transcript_line=lines[owed.line][1] if owed.line in lines else None,
            )
            for n, owed in enumerate(outbox)
        ]
        writes += [
            {"Put": {"TableName": self.table_name, "Item": _outbox_item(m, leased_until)}} for m in messages
        ]
        if len(writes) > 100:  # DynamoDB's limit; one step owes a handful of writes
            raise ValueError("a step produced more than 100 writes")
        try:
            self._db.transact_write_items(TransactItems=writes)
        except ClientError as exc:
            codes = [reason.get("Code") for reason in exc.response.get("CancellationReasons") or []]
            if applies is not None and "ConditionalCheckFailed" in codes[marker_at:marker_end]:
                raise EventAlreadyApplied(applies.event_id) from exc
            if "ConditionalCheckFailed" in codes[:marker_at]:
                raise StaleConversation(pseudonym(key)) from exc
            raise
        return stored, messages

    def move(
        self,
        before: Conversation,
        after: Conversation,
        effects: Iterable[Effect],
        outbox: Iterable[Owed] = (),
        *,
        now: datetime,
        applies: Applying | None = None,
        leased_until: datetime | None = None,
    ) -> tuple[Conversation, list[OutboxMessage]]:
        """Commit a step that moved the conversation to the user's new id (`after.ref`).

        The transcript is copied to the new key first (again on a retry: the same items), then one
        transaction deletes the old state, writes the new one and points the conversation's id at
        the new key; the old lines are deleted after it. Its id, report rows and place in line
        stay. When the new id has a conversation already (the user wrote from it before Meta's
        notice came), the two transcripts are merged and `engine.flow.surviving` says whose state
        stays. Raises StaleConversation when either state changed meanwhile.
        """
        old_pk = keys.conversation_pk(before.ref.key)
        new_pk = keys.conversation_pk(after.ref.key)
        followers = self._followers(old_pk)
        for item in followers:
            self._db.put_item(TableName=self.table_name, Item={**item, "pk": {"S": new_pk}})
        for item in followers:
            # a transcript item that marked a message applied here leaves its marker behind: the
            # message coming again under the old id must find it was applied
            hashed = item["sk"]["S"].rpartition("#m")[2] if "#m" in item["sk"]["S"] else None
            if hashed is not None:
                marker = {
                    **_key(old_pk, f"APPLIED#{hashed}"),
                    "expires_at": _epoch(now + APPLIED_MARKER_RETENTION),
                }
                self._db.put_item(TableName=self.table_name, Item=marker)
        existing = self.load(after.ref)
        if existing is None:
            state = after.model_copy(update={"version": 0})
        else:
            survivor = surviving(after, existing)
            state = survivor.model_copy(update={"ref": after.ref, "version": existing.version})
        retired = (before.id, existing.id) if existing is not None else ()
        stored, messages = self.commit(
            state,
            effects,
            outbox,
            now=now,
            applies=applies,
            leaving=before,
            retired_ids=retired,
            leased_until=leased_until,
        )
        self._delete(old_pk, followers)
        return stored, messages

    def forget_followers(self, ref: ConversationRef) -> int:
        """Delete the lines and report pointers left under a key whose state is gone (a move cut
        short after its commit: they are under the new key already)."""
        pk = keys.conversation_pk(ref.key)
        followers = self._followers(pk)
        self._delete(pk, followers)
        return len(followers)

    def _followers(self, pk: str) -> list[dict[str, Any]]:
        """What moves with a conversation: its transcript lines and its report pointers."""
        return [
            item
            for item in self._query(
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": pk}},
                ConsistentRead=True,
            )
            if item["sk"]["S"].startswith(("MSG#", "REF#"))
        ]

    def _delete(self, pk: str, items: Iterable[dict[str, Any]]) -> None:
        for item in items:
            self._db.delete_item(TableName=self.table_name, Key=_key(pk, item["sk"]["S"]))

    # --- erasure ------------------------------------------------------------------------------------

    def erase(self, key: str) -> Erased:
        """Erase everything held about one conversation key: its state, transcript, markers and
        report pointers, its id's lookup, what it still owes in the outbox; its report records stay
        for the counts, under a new id that leads nowhere. Idempotent: a second time erases nothing.
        """
        pk = keys.conversation_pk(key)
        items = list(
            self._query(
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": pk}},
                ConsistentRead=True,
            )
        )
        kinds = [item["sk"]["S"].split("#", 1)[0] for item in items]
        ids = {_conversation(item).id for item in items if item["sk"]["S"] == keys.STATE}
        reports = [
            item["sk"]["S"].removeprefix("REF#") for item in items if item["sk"]["S"].startswith("REF#")
        ]
        ids |= {sk.split("#")[2] for sk in reports}
        tenant_id = ConversationRef.from_key(key).tenant_id
        erased_id = f"erased-{secrets.token_urlsafe(9)}"
        report_records = sum(self._anonymize(tenant_id, sk, erased_id) for sk in reports)
        lookups = sum(self._forget_id(conversation_id, key) for conversation_id in ids if conversation_id)
        owed = self.pending(key)
        for message in owed:
            self.delivered(message)
        self._delete(pk, items)
        return Erased(
            conversations=kinds.count(keys.STATE),
            transcript_lines=sum(
                len(_transcript_lines(item)) for item in items if item["sk"]["S"].startswith("MSG#")
            ),
            applied_markers=kinds.count("APPLIED"),
            outbox_messages=len(owed),
            report_records=report_records,
            id_lookups=lookups,
        )

    def _anonymize(self, tenant_id: str, report_sk: str, erased_id: str) -> int:
        """Put a report record back under `erased_id` in place of its conversation's id (its counts
        and its join with the conversation's other records stay); 0 when it is gone already."""
        report_pk = keys.report_pk(tenant_id)
        item = self._db.get_item(
            TableName=self.table_name, Key=_key(report_pk, report_sk), ConsistentRead=True
        ).get("Item")
        if item is None:
            return 0
        kind, at, _, *rest = report_sk.split("#")
        data = json.loads(item["data"]["S"])
        if "conversation_id" in data:
            data["conversation_id"] = erased_id
        anonymous = {
            **item,
            **_key(report_pk, "#".join([kind, at, erased_id, *rest])),
            "data": {"S": json.dumps(data)},
        }
        self._db.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": self.table_name, "Item": anonymous}},
                {"Delete": {"TableName": self.table_name, "Key": _key(report_pk, report_sk)}},
            ]
        )
        return 1

    def _forget_id(self, conversation_id: str, key: str) -> int:
        """Delete an id's lookup if it leads to this key; 0 if it is gone or leads elsewhere."""
        try:
            self._db.delete_item(
                TableName=self.table_name,
                Key=_key(keys.conversation_id_pk(conversation_id), keys.CONVERSATION_ID_SK),
                ConditionExpression="#key = :key",
                ExpressionAttributeNames={"#key": "key"},
                ExpressionAttributeValues={":key": {"S": key}},
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            return 0
        return 1

    def _record_item(
        self, conversation: Conversation, effect: Effect, n: int, now: datetime
    ) -> dict[str, Any] | None:
        """The report record an effect writes, if any (transcript lines are written by `commit`)."""
        ref = conversation.ref
        if isinstance(effect, SessionClosed):
            record = effect.record.model_copy(update={"conversation_id": conversation.id})
            return {
                **_key(
                    keys.report_pk(ref.tenant_id),
                    f"SESSION#{keys.stamp(record.started_at)}#{conversation.id}#{record.session:06d}",
                ),
                "data": {"S": record.model_dump_json()},
                "expires_at": _epoch(record.ended_at + self.report_retention),
            }
        if isinstance(effect, ChatEnded):
            return {
                **_key(
                    keys.report_pk(ref.tenant_id), f"CHAT#{keys.stamp(effect.taken_at)}#{conversation.id}"
                ),
                "data": {"S": effect.model_dump_json()},
                "expires_at": _epoch(effect.ended_at + self.report_retention),
            }
        if isinstance(effect, WaitEnded):
            return {
                **_key(
                    keys.report_pk(ref.tenant_id), f"WAIT#{keys.stamp(effect.queued_at)}#{conversation.id}"
                ),
                "data": {"S": effect.model_dump_json()},
                "expires_at": _epoch(effect.ended_at + self.report_retention),
            }
        return None

    # --- reading for Live --------------------------------------------------------------------------

    def transcript(self, ref: ConversationRef) -> list[TranscriptEntry]:
        items = self._query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :msg)",
            ExpressionAttributeValues={
                ":pk": {"S": keys.conversation_pk(ref.key)},
                ":msg": {"S": "MSG#"},
            },
        )
        return [line for item in sorted(items, key=_transcript_order) for line in _transcript_lines(item)]

    def latest_lines(self, ref: ConversationRef, most: int) -> list[TranscriptEntry]:
        """The newest `most` lines of a transcript, newest first (Live's search reads no more)."""
        lines: list[TranscriptEntry] = []
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :msg)",
            "ExpressionAttributeValues": {":pk": {"S": keys.conversation_pk(ref.key)}, ":msg": {"S": "MSG#"}},
            "ScanIndexForward": False,
        }
        items: list[dict[str, Any]] = []
        while len(lines) < most:
            page = self._db.query(**request, Limit=most - len(lines))
            items += page.get("Items", [])
            lines = [
                line for item in sorted(items, key=_transcript_order) for line in _transcript_lines(item)
            ]
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return lines[::-1][:most]

    def to_tell(
        self, tenant_id: str, *, limit: int | None, after: str | None = None
    ) -> tuple[list[Waiting], str | None]:
        """Users on hold not told yet, the longest waiting first, from the `wake` index (keys only):
        at most `limit` (None: all), after the place `after` (a `Waiting.place`). Returns them and the
        place to go on from, None once there are no more."""
        start = {"ExclusiveStartKey": self._wake_key(tenant_id, after)} if after else {}
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": "wake",
            "KeyConditionExpression": "wake_tenant = :t AND begins_with(wake_sort, :to_tell)",
            "ExpressionAttributeValues": {":t": {"S": tenant_id}, ":to_tell": {"S": "0#"}},
            **start,
        }
        found: list[Waiting] = []
        while limit is None or len(found) < limit:
            page = self._db.query(**request, **({"Limit": limit - len(found)} if limit is not None else {}))
            found += [_waiting(item, "wake_sort") for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return found, None
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return found, found[-1].place if found else None

    def _wake_key(self, tenant_id: str, place: str) -> dict[str, Any]:
        """The `wake` index's key of the item at `place` (where a pass left off)."""
        sort, pk = place.split("|", 1)
        return {
            "wake_tenant": {"S": tenant_id},
            "wake_sort": {"S": sort},
            "pk": {"S": pk},
            "sk": {"S": keys.STATE},
        }

    def wake_cursor(self, tenant_id: str, now: datetime) -> str | None:
        """Where the last pass over a tenant's users to tell stopped for want of time, if it did
        lately (`WAKE_CURSOR_KEPT`): the next pass goes on from there."""
        item = self._db.get_item(
            TableName=self.table_name, Key=_key(keys.wake_cursor_pk(tenant_id), keys.WAKE_CURSOR)
        ).get("Item")
        if item is None or int(item["expires_at"]["N"]) <= now.timestamp():
            return None
        return str(item["place"]["S"])

    def keep_wake_cursor(self, tenant_id: str, place: str | None, now: datetime) -> None:
        """Keep where a pass stopped (None: it went to the end, and the next starts from the first)."""
        key = _key(keys.wake_cursor_pk(tenant_id), keys.WAKE_CURSOR)
        if place is None:
            self._db.delete_item(TableName=self.table_name, Key=key)
            return
        item = {**key, "place": {"S": place}, "expires_at": _epoch(now + WAKE_CURSOR_KEPT)}
        self._db.put_item(TableName=self.table_name, Item=item)

    def told_not_taken(self, tenant_id: str) -> int:
        """How many users on hold were told an agent is available and are not taken yet (each holds
        a seat for the agent who takes them)."""
        return self._count(
            IndexName="wake",
            KeyConditionExpression="wake_tenant = :t AND begins_with(wake_sort, :told)",
            ExpressionAttributeValues={":t": {"S": tenant_id}, ":told": {"S": "1#"}},
        )

    def expired_waits(self, tenant_id: str, now: datetime) -> list[Waiting]:
        """Waits whose 24 hours without activity are over by `now` (the `wait_expiry` index, keys only)."""
        return [
            _waiting(item, "wait_expires")
            for item in self._query(
                IndexName="wait_expiry",
                KeyConditionExpression="expiry_tenant = :t AND wait_expires < :now",
                ExpressionAttributeValues={":t": {"S": tenant_id}, ":now": {"S": keys.stamp(now)}},
            )
        ]

    def with_agents(self, tenant_id: str) -> list[Conversation]:
        """The conversations of a tenant agents hold now (the `live` index past its queue)."""
        return [
            _conversation(item)
            for item in self._query(
                IndexName="live",
                KeyConditionExpression="live_tenant = :t AND begins_with(live_sort, :taken)",
                ExpressionAttributeValues={":t": {"S": tenant_id}, ":taken": {"S": "1#"}},
            )
        ]

    def index_waits(self, tenant_id: str, now: datetime, *, dry_run: bool = False) -> IndexedWaits:
        """Put a tenant's conversations in Live's queue into the wake pass's indexes where they are
        missing. A stack deployed before `wake` and `wait_expiry` existed holds waiting
        conversations without their attributes: the pass would neither tell those users nor end
        their waits until something wrote them again. Each is written on the condition that its
        version is still the one read (the `live` index, projecting all attributes); running it
        again changes nothing."""
        found = {"indexed": 0, "already": 0, "written_since": 0}
        for item in self._query(
            IndexName="live",
            KeyConditionExpression="live_tenant = :t AND begins_with(live_sort, :queued)",
            ExpressionAttributeValues={":t": {"S": tenant_id}, ":queued": {"S": "0#"}},
        ):
            wanted = {
                name: value
                for name, value in _conversation_item(_conversation(item), now).items()
                if name in WAIT_INDEX_ATTRIBUTES
            }
            if all(item.get(name) == value for name, value in wanted.items()):
                found["already"] += 1
                continue
            if not dry_run:
                try:
                    self._db.update_item(
                        TableName=self.table_name,
                        Key={"pk": item["pk"], "sk": item["sk"]},
                        UpdateExpression="SET " + ", ".join(f"{name} = :{name}" for name in wanted),
                        ConditionExpression="version = :version",
                        ExpressionAttributeValues={
                            **{f":{name}": value for name, value in wanted.items()},
                            ":version": item["version"],
                        },
                    )
                except self._db.exceptions.ConditionalCheckFailedException:
                    found["written_since"] += 1
                    continue
            found["indexed"] += 1
        return IndexedWaits(**found)

    def waiting_ahead(self, tenant_id: str, since: datetime) -> int:
        """How many conversations of a tenant began waiting before `since` and still wait in Live's queue."""
        return self._count(
            IndexName="live",
            KeyConditionExpression="live_tenant = :t AND live_sort BETWEEN :first AND :since",
            ExpressionAttributeValues={
                ":t": {"S": tenant_id},
                ":first": {"S": "0#"},
                ":since": {"S": f"0#{keys.stamp(since)}"},
            },
        )

    def _count(self, **kwargs: Any) -> int:
        request: dict[str, Any] = {"TableName": self.table_name, "Select": "COUNT", **kwargs}
        count = 0
        while True:
            page = self._db.query(**request)
            count += page["Count"]
            if "LastEvaluatedKey" not in page:
                return count
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def idle_sessions(self, tenant_id: str, before: datetime) -> list[ConversationRef]:
        """Conversations of a tenant whose open bot session was last active before `before` (the
        sparse `sessions` index, keys only)."""
        return [
            ConversationRef.from_key(keys.key_of_conversation_pk(item["pk"]["S"]))
            for item in self._query(
                IndexName="sessions",
                KeyConditionExpression="session_tenant = :t AND session_last < :before",
                ExpressionAttributeValues={":t": {"S": tenant_id}, ":before": {"S": keys.stamp(before)}},
            )
        ]

    def in_live(self, tenant_id: str) -> list[Conversation]:
        """Every conversation of a tenant in Live: queued ones first, the longest waiting first."""
        return [
            _conversation(item)
            for item in self._query(
                IndexName="live",
                KeyConditionExpression="live_tenant = :t",
                ExpressionAttributeValues={":t": {"S": tenant_id}},
            )
        ]

    def report_rows(self, tenant_id: str) -> list[SessionRecord]:
        """Every stored chat-report row of a tenant (tests and the demo; the report reads by day)."""
        return [
            SessionRecord.model_validate_json(item["data"]["S"])
            for item in self._query(
                KeyConditionExpression="pk = :pk AND begins_with(sk, :s)",
                ExpressionAttributeValues={":pk": {"S": keys.report_pk(tenant_id)}, ":s": {"S": "SESSION#"}},
            )
        ]

    # --- the chat report ----------------------------------------------------------------------------

    def sessions(self, tenant_id: str, first_day: date, last_day: date) -> list[SessionRecord]:
        """The bot sessions that started on these UTC days (both included), oldest first."""
        return [
            SessionRecord.model_validate_json(item["data"]["S"])
            for item in self._report_range(
                tenant_id, f"SESSION#{first_day.isoformat()}", f"SESSION#{last_day.isoformat()}T~"
            )
        ]

    def waits(self, tenant_id: str, first_queued: datetime, last_queued: datetime) -> list[WaitRecord]:
        """The ended waits that began between the two instants (both included)."""
        return self._records(WaitRecord, tenant_id, "WAIT", first_queued, last_queued)

    def chats(self, tenant_id: str, first_taken: datetime, last_taken: datetime) -> list[ChatRecord]:
        """The ended chats that agents took between the two instants (both included)."""
        return self._records(ChatRecord, tenant_id, "CHAT", first_taken, last_taken)

    def _records[R: (WaitRecord, ChatRecord)](
        self, model: type[R], tenant_id: str, kind: str, first: datetime, last: datetime
    ) -> list[R]:
        """Report records `{kind}#{at}#{conversation id}` from `first` to `last`, with their id."""
        return [
            model.model_validate(
                {**json.loads(item["data"]["S"]), "conversation_id": item["sk"]["S"].split("#", 2)[2]}
            )
            for item in self._report_range(
                tenant_id, f"{kind}#{keys.stamp(first)}", f"{kind}#{keys.stamp(last)}#~"
            )
        ]

    def _report_range(self, tenant_id: str, low: str, high: str) -> Iterator[dict[str, Any]]:
        return self._query(
            KeyConditionExpression="pk = :pk AND sk BETWEEN :low AND :high",
            ExpressionAttributeValues={
                ":pk": {"S": keys.report_pk(tenant_id)},
                ":low": {"S": low},
                ":high": {"S": high},
            },
        )

    # --- the outbox ---------------------------------------------------------------------------------

    def pending(self, conversation_key: str) -> list[OutboxMessage]:
        """What this conversation still owes, oldest first."""
        return [
            _outbox_message(item)
            for item in self._query(
                KeyConditionExpression="pk = :pk AND begins_with(sk, :k)",
                ExpressionAttributeValues={
                    ":pk": {"S": keys.outbox_pk(conversation_key)},
                    ":k": {"S": f"{conversation_key}#"},
                },
            )
        ]

    def all_pending(self) -> list[OutboxMessage]:
        """Everything in the outbox, for the sweep (a few Query calls, one per shard)."""
        found: list[OutboxMessage] = []
        for shard in range(keys.OUTBOX_SHARDS):
            found += [
                _outbox_message(item)
                for item in self._query(
                    KeyConditionExpression="pk = :pk",
                    ExpressionAttributeValues={":pk": {"S": f"OUTBOX#{shard}"}},
                )
            ]
        return found

    def claim(self, message: OutboxMessage, *, now: datetime, lease: timedelta) -> datetime | None:
        """Take a lease on a message so two senders never send it; None once it is ours. Otherwise
        when it may be tried again: the end of another sender's lease or of a wait Meta asked for
        (`hold`), or `now` when it is gone (another sender sent it meanwhile)."""
        try:
            self._db.update_item(
                TableName=self.table_name,
                Key=_key(message.pk, message.sk),
                UpdateExpression="SET lease_until = :until",
                ConditionExpression=(
                    "attribute_exists(pk) AND (attribute_not_exists(lease_until) OR lease_until < :now)"
                ),
                ExpressionAttributeValues={":until": _instant(now + lease), ":now": _instant(now)},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self._db.exceptions.ConditionalCheckFailedException as refused:
            held = (refused.response.get("Item") or {}).get("lease_until")
            return datetime.fromtimestamp(float(held["N"]), UTC) if held else now
        return None

    def hold(
        self, message: OutboxMessage, *, until: datetime | None, ours: datetime, slot: datetime | None = None
    ) -> None:
        """Pass on a lease that is ours (`ours`: the time it was taken until): held by no sender
        before `until` (a wait Meta asked for, or a booked `slot` its record comes back for), or free
        at once (None); unless it is someone else's now, or the message is gone."""
        values = {":ours": _instant(ours)}
        if until is None:
            update = "REMOVE lease_until, slot_at"
        elif slot is None:
            update = "SET lease_until = :until REMOVE slot_at"
            values[":until"] = _instant(until)
        else:
            update = "SET lease_until = :until, slot_at = :slot"
            values |= {":until": _instant(until), ":slot": _instant(slot)}
        with contextlib.suppress(self._db.exceptions.ConditionalCheckFailedException):
            self._db.update_item(
                TableName=self.table_name,
                Key=_key(message.pk, message.sk),
                UpdateExpression=update,
                ConditionExpression="lease_until = :ours",
                ExpressionAttributeValues=values,
            )

    def mark_undelivered(self, message: OutboxMessage, reason: str) -> None:
        """Say on the message's transcript line that the channel refused it for good, and why."""
        if message.transcript_sk is None:
            return
        line = message.transcript_line
        # the line may have expired meanwhile: then there is nothing to mark
        with contextlib.suppress(self._db.exceptions.ConditionalCheckFailedException):
            self._db.update_item(
                TableName=self.table_name,
                Key=_key(keys.conversation_pk(message.conversation_key), message.transcript_sk),
                UpdateExpression="SET #undelivered = :why",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={
                    "#undelivered": "undelivered" if line is None else f"undelivered_{line}"
                },
                ExpressionAttributeValues={":why": {"S": reason}},
            )

    def delivered(self, message: OutboxMessage) -> None:
        self._db.delete_item(TableName=self.table_name, Key=_key(message.pk, message.sk))

    def _query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        kwargs["TableName"] = self.table_name
        while True:
            page = self._db.query(**kwargs)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


# --- items ------------------------------------------------------------------------------------------


def _epoch(at: datetime) -> dict[str, str]:
    return {"N": str(int(at.timestamp()))}


def _instant(at: datetime) -> dict[str, str]:
    """A lease's or a booked slot's time: epoch seconds to the millisecond (slots are milliseconds
    apart; the TTL's `expires_at` stays in whole seconds, as DynamoDB reads it)."""
    return {"N": f"{at.timestamp():.3f}"}


def _conversation_item(conversation: Conversation, now: datetime) -> dict[str, Any]:
    key = conversation.ref.key
    tenant = conversation.ref.tenant_id
    conversation_id = conversation.id
    item: dict[str, Any] = {
        **_key(keys.conversation_pk(key), keys.STATE),
        # what differs from the defaults only: the state is written by every message (a write unit
        # a kilobyte, two in a transaction), and nulls and falses were a third of it
        "data": {"S": conversation.model_dump_json(exclude_defaults=True, exclude={"version"})},
        "version": {"N": str(conversation.version)},
        "tenant_id": {"S": tenant},
        "state": {"S": conversation.state},
    }
    expiry = _expiry(conversation, now)
    if expiry is not None:
        item["expires_at"] = _epoch(expiry)
    if conversation.state == "queued" and conversation.queued_at is not None:
        since = f"{keys.stamp(conversation.queued_at)}#{conversation_id}"
        item["live_tenant"] = {"S": tenant}
        item["live_sort"] = {"S": f"0#{since}"}
        if conversation.on_hold:
            # on hold: to tell (0#) in the order they began to wait, or told and not taken yet (1#)
            item["wake_tenant"] = {"S": tenant}
            item["wake_sort"] = {"S": f"{1 if conversation.notified_available else 0}#{since}"}
        expires = wait_expires_at(conversation)
        if expires is not None:
            item["expiry_tenant"] = {"S": tenant}
            item["wait_expires"] = {"S": f"{keys.stamp(expires)}#{conversation_id}"}
    elif conversation.state == "with_agent" and conversation.taken_at is not None:
        item["live_tenant"] = {"S": tenant}
        item["live_sort"] = {"S": f"1#{keys.stamp(conversation.taken_at)}#{conversation_id}"}
    session = conversation.session
    if conversation.state in ("bot", "offered") and session is not None:
        # by the hour its last activity ends in, not the instant: the index entry moves once an hour
        # at most, not with every message (a moved entry costs two index writes); a session is
        # found idle up to an hour late, and the engine reads its real last activity
        session_last = _hour_after(session.last_activity_at or session.started_at)
        item["session_tenant"] = {"S": tenant}
        item["session_last"] = {"S": f"{keys.stamp(session_last)}#{conversation_id}"}
    return item


def _waiting(item: dict[str, Any], sort: str) -> Waiting:
    """A keys-only index item: its sort key is `[{n}#]{instant}#{conversation id}`."""
    value = item[sort]["S"]
    at, conversation_id = value.rsplit("#", 2)[-2:]
    return Waiting(
        ref=ConversationRef.from_key(keys.key_of_conversation_pk(item["pk"]["S"])),
        id=conversation_id,
        at=at,
        place=f"{value}|{item['pk']['S']}",
    )


def _hour_after(at: datetime) -> datetime:
    """The end of the hour `at` falls in."""
    return at.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


def _id_item(table_name: str, conversation: Conversation, until: datetime) -> dict[str, Any]:
    """The lookup from a conversation's id to its key, kept a while after the conversation's expiry."""
    return {
        "TableName": table_name,
        "Item": {
            **_key(keys.conversation_id_pk(conversation.id), keys.CONVERSATION_ID_SK),
            "key": {"S": conversation.ref.key},
            "tenant_id": {"S": conversation.ref.tenant_id},
            "expires_at": _epoch(until),
        },
    }


def _expiry(conversation: Conversation, now: datetime) -> datetime | None:
    """When DynamoDB's TTL may remove the conversation's state (None: a chat with an agent)."""
    last = conversation.last_activity_at or now
    if conversation.state == "queued" and conversation.queued_at is not None:
        return last + QUEUED_CONVERSATION_RETENTION
    if conversation.state == "with_agent" and conversation.taken_at is not None:
        return None
    return last + IDLE_CONVERSATION_RETENTION


def _conversation(item: dict[str, Any]) -> Conversation:
    conversation = Conversation.model_validate_json(item["data"]["S"])
    return conversation.model_copy(update={"version": int(item["version"]["N"])})


def _transcript_item(pk: str, sk: str, entries: list[TranscriptEntry], version: int) -> dict[str, Any]:
    """A step's transcript lines in one item (a write unit for a message and its reply, not two)."""
    return {
        **_key(pk, sk),
        "data": {"S": "[" + ",".join(entry.model_dump_json(exclude_none=True) for entry in entries) + "]"},
        "version": {"N": str(version)},
        "expires_at": _epoch(entries[0].at + TRANSCRIPT_RETENTION),
    }


def _transcript_order(item: dict[str, Any]) -> tuple[str, int, int]:
    """A step's item by its time, then its step; an item of one line (as written before a step's
    lines shared one) by its time, step and place, which its key holds."""
    sk = item["sk"]["S"]
    if "version" in item:
        return (*keys.transcript_order(sk, int(item["version"]["N"])), 0)
    _, at, version, n = sk.split("#")
    return at, int(version), int(n)


def _transcript_lines(item: dict[str, Any]) -> list[TranscriptEntry]:
    data = json.loads(item["data"]["S"])
    if isinstance(data, dict):  # one line an item
        entry = TranscriptEntry.model_validate(data)
        if "undelivered" in item:
            entry = entry.model_copy(update={"undelivered": item["undelivered"]["S"]})
        return [entry]
    entries = [TranscriptEntry.model_validate(line) for line in data]
    return [
        entry.model_copy(update={"undelivered": item[f"undelivered_{n}"]["S"]})
        if f"undelivered_{n}" in item
        else entry
        for n, entry in enumerate(entries)
    ]


def _outbox_item(message: OutboxMessage, leased_until: datetime | None = None) -> dict[str, Any]:
    item = {
        **_key(message.pk, message.sk),
        "data": {"S": message.model_dump_json(exclude={"pk", "sk", "slot_at"})},
    }
    if leased_until is not None:
        item["lease_until"] = _instant(leased_until)
    return item


def _outbox_message(item: dict[str, Any]) -> OutboxMessage:
    data = json.loads(item["data"]["S"])
    slot = item.get("slot_at")
    slot_at = datetime.fromtimestamp(float(slot["N"]), UTC) if slot else None
    return OutboxMessage.model_validate(
        {**data, "pk": item["pk"]["S"], "sk": item["sk"]["S"], "slot_at": slot_at}
    )
