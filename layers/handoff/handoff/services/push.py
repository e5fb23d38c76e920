"""Live's push channel: what changed in a tenant's conversations, told at once to its agents' consoles.

The consoles hold a WebSocket open on the stack's WebSocket API. An agent opens one with a
ticket the Live API issues to the signed-in agent (`ticket`): single use, short-lived, bound to the
agent and their tenant, so the Cognito token never travels in a URL (query strings end up in access
logs). The WebSocket API's authorizer takes the ticket (`admit`), its `$connect` records the
socket under the tenant (`connected`), its `$disconnect` forgets it (`disconnected`).

The conversation events on the bus (docs/events.md) come here through an EventBridge rule
(`announce`): each is posted to every socket of its tenant as `{"type", "conversation_id", "at"}`,
ids and a time and nothing else, and the console reads what changed through the Live API, which
checks the agent's token as for any read. A socket found gone is forgotten.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from handoff.adapters.connections import ConnectionsUnavailable
from handoff.observability import logger
from handoff.store.push_connections import Admission, PushConnections

TICKET_LIFETIME = timedelta(seconds=60)
"""Long enough to open a socket right after asking, short enough that a leaked ticket is worthless."""
CONNECTION_LIFETIME = timedelta(hours=3)
"""How long a socket's item is kept: API Gateway closes a connection after 2 hours at the most."""
TICKET_BYTES = 32


class PushTicket(BaseModel, defer_build=True):
    url: str = Field(description="the WebSocket address to open, with `?ticket=` and the ticket appended")
    ticket: str = Field(description="opens one socket, once, within a minute; bound to the agent who asked")
    expires_at: datetime = Field(description="after this the ticket opens nothing: ask for another")


class PushMessage(BaseModel, defer_build=True):
    """What a console is told: which conversation changed, how and when; it reads the rest itself."""

    type: str
    conversation_id: str
    at: str


class Announced(BaseModel, defer_build=True):
    """What one announcement came to: sockets sent to, found gone, and failed (left for next time)."""

    sockets: int = 0
    sent: int = 0
    gone: int = 0
    failed: int = 0


class _Detail(BaseModel, defer_build=True):
    """The part of a conversation event's detail the push channel reads."""

    tenant_id: str = Field(min_length=1)
    conversation_id: str = Field(min_length=1)
    at: str = Field(min_length=1)


class Push:
    def __init__(
        self,
        connections: PushConnections,
        push_url: str,
        post: Callable[[str, str, bytes], bool],
        now: Callable[[], datetime],
    ) -> None:
        self.connections = connections
        self.push_url = push_url
        self.post = post
        self.now = now

    def ticket(self, tenant_id: str, agent_id: str) -> PushTicket:
        """A ticket that opens one socket for this agent of this tenant, within `TICKET_LIFETIME`."""
        ticket = secrets.token_urlsafe(TICKET_BYTES)
        expires_at = self.now() + TICKET_LIFETIME
        admission = Admission(tenant_id=tenant_id, agent_id=agent_id)
        self.connections.put_ticket(ticket, admission, expires_at=expires_at)
        return PushTicket(url=self.push_url, ticket=ticket, expires_at=expires_at)

    def admit(self, ticket: str) -> Admission | None:
        """Whom the ticket lets in, using it up; None for a ticket unknown, used or expired."""
        if not ticket or len(ticket) > 256:
            return None
        return self.connections.take_ticket(ticket, now=self.now())

    def connected(self, connection_id: str, admission: Admission) -> None:
        self.connections.add(connection_id, admission, expires_at=self.now() + CONNECTION_LIFETIME)

    def disconnected(self, tenant_id: str, connection_id: str) -> None:
        self.connections.remove(tenant_id, connection_id)

    def announce(self, detail_type: str, detail: Mapping[str, Any]) -> Announced:
        """Tell every console of the event's tenant that a conversation changed."""
        try:
            read = _Detail.model_validate(detail)
        except ValidationError:
            logger.warning("a conversation event without tenant, conversation or time: not pushed",
                           extra={"detail_type": detail_type})  # fmt: skip
            return Announced()
        message = PushMessage(type=detail_type, conversation_id=read.conversation_id, at=read.at)
        data = json.dumps(message.model_dump(), separators=(",", ":")).encode()
        result = Announced()
        # one after the other: a tenant has a handful of agents online, and a post takes milliseconds
        for connection_id in self.connections.connection_ids(read.tenant_id, now=self.now()):
            result.sockets += 1
            try:
                sent = self.post(self.push_url, connection_id, data)
            except ConnectionsUnavailable as error:
                # the console's slow safety refresh shows the change anyway; others are still told
                logger.warning("API Gateway did not take a push", extra={"reason": str(error)})
                result.failed += 1
                continue
            if sent:
                result.sent += 1
            else:
                self.connections.remove(read.tenant_id, connection_id)
                result.gone += 1
        logger.info("pushed", extra={"detail_type": detail_type, **result.model_dump()})
        return result
