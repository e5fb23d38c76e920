"""The single table's keys: every item's partition and sort key is built here and nowhere else.

| item              | pk                          | sk                                  |
| ----------------- | --------------------------- | ----------------------------------- |
| conversation      | CONV#{conversation key}     | STATE                               |
| transcript line   | CONV#{conversation key}     | MSG#{at}#{version}#{n}              |
| applied marker    | CONV#{conversation key}     | APPLIED#{hash of the message id}    |
| outbox message    | OUTBOX#{shard}              | {conversation key}#{created}#{n}    |
| chat-report row   | REPORT#{tenant}             | SESSION#{started}#{key}#{number}    |
| wait record       | REPORT#{tenant}             | WAIT#{queued}#{key}                 |
| tenant config     | TENANT#{tenant}             | CONFIG                              |
| agent presence    | TENANT#{tenant}             | AGENT#{agent id}                    |
| tenant directory  | TENANTS                     | {tenant}                            |
| channel account   | ACCOUNT#{channel}#{account} | ACCOUNT                             |

Sparse indexes: `waiting` (waiting_tenant, waiting_since) holds queued conversations ordered by
when they began to wait; `live` (live_tenant, live_sort) holds every conversation in Live;
`sessions` (session_tenant, session_last; keys only) holds conversations with an open bot session,
by its last activity.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

OUTBOX_SHARDS = 4
STATE = "STATE"


def item_key(pk: str, sk: str) -> dict[str, dict[str, str]]:
    """An item's key as DynamoDB's low-level API takes it."""
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def conversation_pk(key: str) -> str:
    return f"CONV#{key}"


def key_of_conversation_pk(pk: str) -> str:
    """The reverse of `conversation_pk`."""
    return pk.removeprefix("CONV#")


def applied_sk(event_id: str) -> str:
    """The marker of a channel message applied to its conversation (hashed: ids can be long)."""
    return f"APPLIED#{hashlib.sha256(event_id.encode()).hexdigest()[:40]}"


def transcript_sk(at: datetime, version: int, n: int) -> str:
    return f"MSG#{stamp(at)}#{version:010d}#{n:03d}"


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


def conversation_id(key: str) -> str:
    """The conversation key as the Live API shows it in URLs (base64url, no padding)."""
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def conversation_key(conversation_id: str) -> str:
    padded = conversation_id + "=" * (-len(conversation_id) % 4)
    try:
        return base64.urlsafe_b64decode(padded.encode()).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("not a conversation id") from exc
