"""What every channel adapter offers: parse a delivery into canonical messages, render replies.

WhatsApp (`channels/whatsapp.py`), Messenger and Instagram (`channels/meta_platform.py`) share
this one interface; what all three share of Meta's webhooks (the signature, the handshake, Graph
API error classes) is in `channels/meta.py`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from pydantic import Field

from handoff.config.models import Channel
from handoff.engine.model import (
    Conversation,
    ConversationRef,
    Frozen,
    Media,
    MessageKind,
    Outbound,
    UserAddress,
    UserChangedId,
    UserMessage,
)


class ChannelMessage(Frozen):
    """A user message parsed from a webhook, before it is routed to a tenant.

    `account_id` is the channel account it reached (WhatsApp phone_number_id, page id, IG id);
    the shell looks the tenant up by it and turns this into an engine `UserMessage`.
    """

    channel: Channel
    account_id: str
    user_id: str
    event_id: str
    sent_at: datetime
    kind: MessageKind
    text: str | None = None
    payload: str | None = None
    user_name: str | None = None
    address: UserAddress = UserAddress()
    media: Media | None = None

    def event(self, ref: ConversationRef) -> UserMessage:
        """The engine's event, once the shell knows the conversation (`ref`) it belongs to."""
        return UserMessage(ref=ref, **self.model_dump(exclude={"channel", "account_id", "user_id"}))


class ChannelIdChange(Frozen):
    """Meta's notice that a user's id changed (WhatsApp: a new phone number, a new BSUID): their
    conversation under `user_id` moves to `new_user_id`, reachable at `address` from now on."""

    channel: Channel
    account_id: str
    user_id: str
    event_id: str
    sent_at: datetime
    new_user_id: str
    address: UserAddress = UserAddress()

    def event(self, ref: ConversationRef) -> UserChangedId:
        """The engine's event, once the shell knows the conversation (`ref`) it belongs to."""
        return UserChangedId(ref=ref, **self.model_dump(exclude={"channel", "account_id", "user_id"}))


class ParsedDelivery(Frozen):
    """The user messages of one webhook delivery, the users whose id changed, and how many other
    things it held, by reason."""

    messages: list[ChannelMessage] = Field(default_factory=list)
    id_changes: list[ChannelIdChange] = Field(default_factory=list)
    ignored: dict[str, int] = Field(default_factory=dict)


class GraphRequest(Frozen):
    """One Graph API call: POST `{GRAPH_API_URL}/{path}` with `body` as JSON."""

    path: str
    body: dict[str, Any]


class ChannelAdapter(Protocol):
    @property
    def channel(self) -> Channel: ...

    def parse_delivery(self, body: dict[str, Any]) -> ParsedDelivery:
        """The user messages of a delivery (batched entries included), plus a count of what was left
        out and why. Never raises: what it cannot read is counted as `malformed`."""
        ...

    def parse(self, body: dict[str, Any]) -> list[ChannelMessage]:
        """Every user message in a delivery, batched entries included; all else is left out."""
        ...

    def render(self, outbound: Outbound, conversation: Conversation) -> list[GraphRequest]:
        """The Graph API requests that deliver `outbound` to the conversation's user (a long text
        may take several)."""
        ...
