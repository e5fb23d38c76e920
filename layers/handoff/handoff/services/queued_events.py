"""The FIFO consumer's side of applying events: which try this is, and when a record comes back.

A record whose sends had to wait (Meta throttled them, the account's schedule was booked ahead, the
invocation ran out of time) is not failed: its event is committed and what it owes waits in the
outbox. It is put back with a visibility timeout that brings it again when they may be tried
(`Applied.retry_at`: an exponential backoff with jitter), and its conversation's later events wait
behind it in their FIFO group. SQS counts each return as a receive, so a record comes back only while
it has receives to spare: on its last one the outbox sweep takes over, and waiting never sends a
record to the dead-letter queue. Returns happen only after the event's commit, so they never leave a
failing event fewer tries (a step fails before its commit, and then has not been returned yet).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from handoff.adapters.inbound_queue import return_later
from handoff.engine.model import Event
from handoff.observability import logger
from handoff.services.conversations import Conversations
from handoff.services.pacing import Sending, come_back_in, send_deadline


class QueuedEvents:
    def __init__(
        self,
        conversations: Conversations,
        queue_url: str,
        *,
        bot_attempts: int,
        max_receives: int,
        now: Callable[[], datetime],
    ) -> None:
        self.conversations = conversations
        self.queue_url = queue_url
        self.bot_attempts = bot_attempts
        self.max_receives = max_receives
        self.now = now

    def apply(self, event: Event, *, receipt_handle: str, receive_count: int, remaining: timedelta) -> bool:
        """Apply one queued event on its `receive_count`th receive, with `remaining` time left in the
        invocation. True when its record is put back for later: it must not be deleted (the caller
        reports it failed). Its visibility is set here, the moment its sends had to wait, so it comes
        back when they may go, however long the rest of the batch takes."""
        sending = Sending(
            until=send_deadline(self.now(), remaining),
            attempt=receive_count,
            comes_back=receive_count < self.max_receives,
            instance_share=True,
        )
        applied = self.conversations.apply(
            event, last_try=receive_count >= self.bot_attempts, sending=sending
        )
        if applied.retry_at is None:
            return False
        seconds = come_back_in(
            applied.retry_at, self.now(), receive_count=receive_count, max_receives=self.max_receives
        )
        if seconds is None:
            logger.info("the record's receives are spent: the outbox sweep sends what waits")
            return False
        return_later(self.queue_url, {receipt_handle: seconds})
        return True
