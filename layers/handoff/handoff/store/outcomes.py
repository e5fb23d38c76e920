"""What the conversation store tells its callers besides conversations: a conflict it refuses
(`StaleConversation`) and what an erasure removed (`Erased`).

They live apart from `conversation_store` so that an API can name them in its refusals and answers
without loading the store, which a function's wiring loads with its first call (`runtime.wiring`).
"""

from __future__ import annotations

from handoff.engine.model import Frozen


class StaleConversation(Exception):
    """Someone else committed this conversation since it was read: read again and redo the step.

    Carries the conversation's pseudonym, never its key (which holds the user's channel id)."""


class Erased(Frozen):
    """What an erasure removed, by kind (report records are kept, under an id that leads nowhere)."""

    conversations: int = 0
    transcript_lines: int = 0
    applied_markers: int = 0
    outbox_messages: int = 0
    report_records: int = 0
    id_lookups: int = 0

    def __add__(self, other: Erased) -> Erased:
        return Erased(**{name: getattr(self, name) + getattr(other, name) for name in Erased.model_fields})
