"""Meta's webhook deliveries, for every channel: verify, parse into user messages, route to tenants,
queue, answer fast."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

from handoff.adapters.inbound_queue import enqueue
from handoff.channels import adapter_for
from handoff.channels.meta import verify_handshake, verify_signature
from handoff.config.models import Channel
from handoff.engine.model import ConversationRef, UserMessage
from handoff.observability import logger
from handoff.store.directory import Directory


class VerificationRefused(Exception):
    """Meta's subscription check named another verify token."""


class SignatureInvalid(Exception):
    """The delivery's X-Hub-Signature-256 is missing or is not the app secret's signature of the body."""


class UnreadableDelivery(Exception):
    """The delivery is signed but is not a JSON object."""


class Webhooks:
    def __init__(
        self,
        directory: Directory,
        queue_url: str,
        app_secret: Callable[[], str],
        verify_token: Callable[[], str],
    ) -> None:
        self.directory = directory
        self.queue_url = queue_url
        self.app_secret = app_secret
        self.verify_token = verify_token

    def handshake(self, params: Mapping[str, str]) -> str:
        """Meta's GET subscription check: the challenge to echo verbatim when the token matches."""
        challenge = verify_handshake(params, self.verify_token())
        if challenge is None:
            logger.warning("webhook verification refused", extra={"mode": params.get("hub.mode")})
            raise VerificationRefused("verification failed")
        return challenge

    def delivery(self, channel: Channel, raw_body: bytes, signature: str | None) -> int:
        """A POST from Meta: returns once every user message in it is safely queued (how many).

        The signature is checked on the raw bytes before anything is parsed. A delivery for an
        account no tenant owns is acknowledged (Meta would retry it for days) and logged.
        """
        if not verify_signature(raw_body, signature, self.app_secret()):
            logger.warning("webhook signature invalid", extra={"channel": channel, "bytes": len(raw_body)})
            raise SignatureInvalid("invalid or missing X-Hub-Signature-256")
        try:
            body = json.loads(raw_body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UnreadableDelivery(f"body is not valid JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise UnreadableDelivery("body must be a JSON object")
        delivery = adapter_for(channel).parse_delivery(body)
        events: list[UserMessage] = []
        unknown: set[str] = set()
        # Meta does not promise order: within a delivery, apply messages in the order they were
        # sent (Messenger/Instagram milliseconds and WhatsApp seconds are all aware datetimes here)
        for message in sorted(delivery.messages, key=lambda m: m.sent_at):
            tenant_id = self.directory.tenant_for_account(channel, message.account_id)
            if tenant_id is None:
                unknown.add(message.account_id)
                continue
            ref = ConversationRef(
                tenant_id=tenant_id, channel=channel, account_id=message.account_id, user_id=message.user_id
            )
            events.append(
                UserMessage(
                    ref=ref,
                    event_id=message.event_id,
                    sent_at=message.sent_at,
                    kind=message.kind,
                    text=message.text,
                    payload=message.payload,
                    user_name=message.user_name,
                    address=message.address,
                )
            )
        for account_id in sorted(unknown):
            logger.warning(
                "delivery for an unknown channel account ignored",
                extra={"channel": channel, "account_id": account_id},
            )
        enqueue(self.queue_url, events)
        logger.info(
            "delivery queued",
            extra={"channel": channel, "messages": len(events), "ignored": delivery.ignored},
        )
        return len(events)
