"""The single table's keys: every item's partition and sort key is built here and nowhere else.

| item              | pk                          | sk                                  |
| ----------------- | --------------------------- | ----------------------------------- |
| conversation      | CONV#{conversation key}     | STATE                               |
| conversation id   | ID#{conversation id}        | KEY                                 |
| transcript step   | CONV#{conversation key}     | MSG#{at}#{version}                  |
|  (applying a msg) | CONV#{conversation key}     | MSG#{sent at}#m{hash of its id}     |
| applied marker    | CONV#{conversation key}     | APPLIED#{hash of the message id}    |
| report pointer    | CONV#{conversation key}     | REF#{the report record's sk}        |
| outbox message    | OUTBOX#{shard}              | {conversation key}#{created}#{n}    |
| chat-report row   | REPORT#{tenant}             | SESSION#{started}#{id}#{number}     |
| wait record       | REPORT#{tenant}             | WAIT#{queued}#{id}                  |
| chat record       | REPORT#{tenant}             | CHAT#{taken}#{id}                   |
| tenant config     | TENANT#{tenant}             | CONFIG                              |
| agent presence    | TENANT#{tenant}             | AGENT#{agent id}                    |
| tenant directory  | TENANTS                     | {tenant}                            |
| channel account   | ACCOUNT#{channel}#{account} | ACCOUNT                             |
| push ticket       | PUSHTICKET#{sha256(ticket)} | TICKET                              |
| push connection   | PUSH#{tenant}               | CONN#{connection id}                |
| send schedule     | PACE#{channel}#{account}    | SCHEDULE                            |
| wake cursor       | WAKE#{tenant}               | CURSOR                              |

The conversation key (`tenant#channel#account#user`) holds the user's channel id (a phone number
on WhatsApp), so it stays in the conversation's own items and the outbox that sends to it. Everything
that leaves the table, or stays after the conversation (report rows, bus events, Live's URLs), names
the conversation by its id: random, given when the conversation is first stored, and looked up
through its `ID#` item.

Sparse indexes: `wake` (wake_tenant, wake_sort; keys only) holds queued users on hold, to tell
(`0#`) or told and not taken (`1#`), in the order they began to wait; `wait_expiry` (expiry_tenant,
wait_expires; keys only) holds queued conversations by when their wait expires; `live` (live_tenant,
live_sort) holds every conversation in Live; `sessions` (session_tenant, session_last; keys only)
holds conversations with an open bot session, by the hour its last activity ends in.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime

OUTBOX_SHARDS = 4
STATE = "STATE"
SEND_SCHEDULE = "SCHEDULE"
WAKE_CURSOR = "CURSOR"


def item_key(pk: str, sk: str) -> dict[str, dict[str, str]]:
    """An item's key as DynamoDB's low-level API takes it."""
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def conversation_pk(key: str) -> str:
    return f"CONV#{key}"


def key_of_conversation_pk(pk: str) -> str:
    """The reverse of `conversation_pk`."""
    return pk.removeprefix("CONV#")


def message_hash(event_id: str) -> str:
    """What keys name a channel message by: 80 bits of a SHA-256 of its id (ids are long, and a
    WhatsApp message id encodes the user's number)."""
    return hashlib.sha256(event_id.encode()).hexdigest()[:20]


def applied_sk(event_id: str) -> str:
    """The marker of a channel message applied to a conversation whose transcript moved away (a
    user's id change) or whose step wrote no line."""
    return f"APPLIED#{message_hash(event_id)}"


def report_ref_sk(report_sk: str) -> str:
    """A conversation's pointer to one of its report records (an erasure finds them without a Scan)."""
    return f"REF#{report_sk}"


def transcript_sk(at: datetime, version: int) -> str:
    """The transcript item of one step: its lines, in order."""
    return f"MSG#{stamp(at)}#{version:010d}"


def message_transcript_sk(sent_at: datetime, event_id: str) -> str:
    """The transcript item of the step that applied a channel message: named by the message alone,
    so that the same message applied again finds it there (it is the step's applied marker)."""
    return f"MSG#{stamp(sent_at)}#m{message_hash(event_id)}"


def transcript_order(sk: str, version: int) -> tuple[str, int]:
    """Where a transcript item reads: by its time, then by the step that wrote it."""
    return sk.split("#", 2)[1], version


def wake_cursor_pk(tenant_id: str) -> str:
    """Where a tenant's last wake pass stopped for want of time (its users to tell go on from there)."""
    return f"WAKE#{tenant_id}"


def send_schedule_pk(account: str) -> str:
    """The schedule of a sending account (`{channel}#{account id}`): its next free send slot."""
    return f"PACE#{account}"


def outbox_pk(key: str) -> str:
    return f"OUTBOX#{outbox_shard(key)}"


def outbox_shard(key: str) -> int:
    return int(hashlib.sha256(key.encode()).hexdigest(), 16) % OUTBOX_SHARDS


def outbox_sk(key: str, created: datetime, version: int, n: int) -> str:
    return f"{key}#{stamp(created)}#{version:010d}#{n:03d}"


def report_pk(tenant_id: str) -> str:
    return f"REPORT#{tenant_id}"


def tenant_pk(tenant_id: str) -> str:
    return f"TENANT#{tenant_id}"


def account_pk(channel: str, account_id: str) -> str:
    return f"ACCOUNT#{channel}#{account_id}"


def stamp(at: datetime) -> str:
    """A sortable UTC timestamp with microseconds (ISO 8601, fixed width)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def push_ticket_pk(ticket: str) -> str:
    """A ticket to open the push channel, hashed: the table holds nothing that opens a socket."""
    return f"PUSHTICKET#{hashlib.sha256(ticket.encode()).hexdigest()}"


PUSH_TICKET_SK = "TICKET"


def push_pk(tenant_id: str) -> str:
    """The tenant's open push sockets (one item each, `push_connection_sk`)."""
    return f"PUSH#{tenant_id}"


PUSH_CONNECTION_PREFIX = "CONN#"


def push_connection_sk(connection_id: str) -> str:
    return f"{PUSH_CONNECTION_PREFIX}{connection_id}"


def conversation_id_pk(conversation_id: str) -> str:
    return f"ID#{conversation_id}"


CONVERSATION_ID_SK = "KEY"


def new_conversation_id() -> str:
    """A conversation's opaque id: 128 random bits, base64url (22 characters), nothing derived."""
    return secrets.token_urlsafe(16)


def is_conversation_id(value: str) -> bool:
    """Whether a caller's string can be a conversation id at all (checked before any lookup)."""
    return len(value) == 22 and all(c.isalnum() or c in "-_" for c in value) and value.isascii()
