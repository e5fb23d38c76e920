"""Meta's webhook deliveries, for every channel: verify, parse into user messages, route to tenants,
queue, answer fast.

A signed delivery is still untrusted input. A body that is not plain JSON (malformed, nested too
deeply, an integer past Python's digit limit: `services/json_body.py`) is refused with a 400;
everything else is acknowledged. Within a delivery, one bad message is left out and counted,
never allowed to fail the others (Meta would send the whole delivery again for days): the
channels bound ids and texts (`channels/meta.py`), a message whose timestamp is out of range
(before 2000, or more than a day after the delivery arrived) is counted as `malformed` here, where
the clock is, and an event the queue cannot take is counted as `unqueueable`. The counts are in
the "delivery queued" log line's `ignored`, with no ids.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime

from handoff import clock
from handoff.adapters.inbound_queue import enqueue
from handoff.channels import adapter_for
from handoff.channels.base import ChannelIdChange, ChannelMessage
from handoff.channels.meta import sent_in_range, verify_handshake, verify_signature
from handoff.config.models import Channel
from handoff.engine.model import ConversationRef, Event
from handoff.observability import logger, metrics
from handoff.services.errors import SignatureInvalid, UnreadableDelivery, VerificationRefused
from handoff.services.json_body import read_json
from handoff.store.directory import Directory

STATUS_UPDATES = "StatusUpdates"
"""Meta's statuses of the messages sent (sent, delivered, read, failed), one metric for them all."""


class Webhooks:
    def __init__(
        self,
        directory: Directory,
        queue_url: str,
        app_secret: Callable[[], str],
        verify_token: Callable[[], str],
        now: Callable[[], datetime] = clock.now,
    ) -> None:
        self.directory = directory
        self.queue_url = queue_url
        self.app_secret = app_secret
        self.verify_token = verify_token
        self.now = now

    def handshake(self, params: Mapping[str, str]) -> str:
        """Meta's GET subscription check: the challenge to echo verbatim when the token matches."""
        challenge = verify_handshake(params, self.verify_token())
        if challenge is None:
            logger.warning("webhook verification refused", extra={"mode": params.get("hub.mode")})
            raise VerificationRefused("verification failed")
        return challenge

    def delivery(self, channel: Channel, raw_body: bytes, signature: str | None) -> int:
        """A POST from Meta: returns once every user message in it that can be is safely queued
        (how many).

        The signature is checked on the raw bytes before anything is parsed. A delivery for an
        account no tenant owns is acknowledged (Meta would retry it for days) and logged; so is
        each message left out (see the module's notes), counted in the "delivery queued" line (at
        INFO when anything was left out, else at DEBUG). Meta's statuses of the messages sent are
        not left-out messages: they are counted in the `StatusUpdates` metric, never logged one by one.
        """
        if not verify_signature(raw_body, signature, self.app_secret()):
            logger.warning("webhook signature invalid", extra={"channel": channel, "bytes": len(raw_body)})
            raise SignatureInvalid("invalid or missing X-Hub-Signature-256")
        received_at = self.now()
        try:
            body = read_json(raw_body)
        except json.JSONDecodeError as exc:
            raise UnreadableDelivery(f"body is not valid JSON: {exc.msg}") from exc
        if not isinstance(body, dict):
            raise UnreadableDelivery("body must be a JSON object")
        delivery = adapter_for(channel).parse_delivery(body)
        ignored = Counter(delivery.ignored)
        parsed: list[ChannelMessage | ChannelIdChange] = [*delivery.messages, *delivery.id_changes]
        messages = [m for m in parsed if sent_in_range(m.sent_at, received_at)]
        if out_of_range := len(parsed) - len(messages):
            ignored["malformed"] += out_of_range
            logger.warning(
                "skipped messages of a delivery: timestamp out of range",
                extra={"channel": channel, "messages": out_of_range},
            )
        events: list[Event] = []
        unknown: set[str] = set()
        # Meta does not promise order: within a delivery, apply messages in the order they were
        # sent (Messenger/Instagram milliseconds and WhatsApp seconds are all aware datetimes here)
        for message in sorted(messages, key=lambda m: m.sent_at):
            tenant_id = self.directory.tenant_for_account(channel, message.account_id)
            if tenant_id is None:
                unknown.add(message.account_id)
                continue
            ref = ConversationRef(
                tenant_id=tenant_id, channel=channel, account_id=message.account_id, user_id=message.user_id
            )
            events.append(message.event(ref))
        for account_id in sorted(unknown):
            logger.warning(
                "delivery for an unknown channel account ignored",
                extra={"channel": channel, "account_id": account_id},
            )
        if unqueueable := enqueue(self.queue_url, events):
            ignored["unqueueable"] += unqueueable
        queued = len(events) - unqueueable
        # Meta's delivery statuses (sent, delivered, read: three webhooks per reply) are counted, not
        # logged one by one; the line is INFO only when the delivery left something else out
        if statuses := ignored.pop("status", 0):
            metrics.add_metric(name=STATUS_UPDATES, unit="Count", value=statuses)
        log = logger.info if ignored else logger.debug
        log("delivery queued", extra={"channel": channel, "messages": queued, "ignored": dict(ignored)})
        return queued
