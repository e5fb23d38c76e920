"""Erasing one user of a tenant on request: everything held about them, answered with what it was.

A user is named by channel and user id (the id Meta gives the business: a WhatsApp BSUID or phone
number, a Messenger PSID, an Instagram IGSID), which reaches their conversation on each of the
tenant's accounts on that channel, or by the conversation id Live shows. Erased: the state, the
transcript, the applied-message markers, the place in Live's queue, what the outbox still owes
them and the lookup from the conversation's id. The chat report's records stay for the counts,
their conversation id replaced by one that leads nowhere. Asking again erases nothing more.

The erasure is logged with its counts, never with the user's id or the conversation's.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, model_validator

from handoff.config.models import Channel
from handoff.engine.model import ConversationRef
from handoff.observability import logger
from handoff.store.outcomes import Erased

if TYPE_CHECKING:
    from handoff.store.conversation_store import ConversationStore
    from handoff.store.directory import Directory

_USER_ID = re.compile(r"[^#\s]{1,256}")


class ErasureRequest(BaseModel):
    """Whom to erase: `channel` and `user_id`, or `conversation_id`."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    channel: Channel | None = None
    user_id: str | None = Field(
        default=None,
        description="the user's id on the channel: WhatsApp BSUID or phone number, Messenger PSID, IGSID",
    )
    conversation_id: str | None = Field(default=None, description="the id Live shows the conversation by")

    @model_validator(mode="after")
    def _one_way(self) -> ErasureRequest:
        by_user = self.channel is not None or self.user_id is not None
        if by_user == (self.conversation_id is not None):
            raise ValueError("name the user by channel and user_id, or the conversation by conversation_id")
        if by_user and (self.channel is None or self.user_id is None):
            raise ValueError("channel and user_id go together")
        if self.user_id is not None and not _USER_ID.fullmatch(self.user_id):
            raise ValueError("user_id: 1 to 256 characters, no '#' and no spaces")
        return self


class ErasureAnswer(BaseModel, defer_build=True):
    conversations_found: int = Field(description="conversations of the user that held anything")
    erased: Erased


class Erasure:
    def __init__(self, store: ConversationStore, directory: Directory) -> None:
        self.store = store
        self.directory = directory

    def erase(self, tenant_id: str, request: ErasureRequest) -> ErasureAnswer:
        found = 0
        total = Erased()
        for key in self._keys(tenant_id, request):
            erased = self.store.erase(key)
            found += erased != Erased()
            total += erased
        logger.info(
            "user erased",
            extra={"named_by": "conversation_id" if request.conversation_id else "user_id",
                   "conversations_found": found, **total.model_dump()},
        )  # fmt: skip
        return ErasureAnswer(conversations_found=found, erased=total)

    def _keys(self, tenant_id: str, request: ErasureRequest) -> list[str]:
        if request.conversation_id is not None:
            conversation = self.store.load_id(request.conversation_id)
            if conversation is None or conversation.ref.tenant_id != tenant_id:
                return []  # unknown, another tenant's, or erased already
            return [conversation.ref.key]
        assert request.channel is not None and request.user_id is not None
        tenant = self.directory.tenant(tenant_id)
        accounts = [a.account_id for a in tenant.accounts if a.channel == request.channel] if tenant else []
        return [
            ConversationRef(
                tenant_id=tenant_id, channel=request.channel, account_id=account, user_id=request.user_id
            ).key
            for account in accounts
        ]
