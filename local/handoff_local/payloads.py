"""Meta webhook deliveries as a user's phone would cause them, and the signature Meta sends them with,
for the demo, the local run and tests."""

from __future__ import annotations

import hmac
import itertools
from datetime import datetime
from typing import Any

_sequence = itertools.count(1)


# --- Meta's signature -----------------------------------------------------------------------------


def meta_signature(raw: bytes, app_secret: str, algorithm: str = "sha256") -> str:
    """The `X-Hub-Signature-256` value Meta sends with a delivery: `sha256=` and the hex HMAC of the
    exact body bytes under the app secret (`algorithm="sha1"`: the legacy `X-Hub-Signature`)."""
    return f"{algorithm}=" + hmac.new(app_secret.encode(), raw, algorithm).hexdigest()


# --- WhatsApp -------------------------------------------------------------------------------------


def whatsapp_delivery(
    phone_number_id: str, *messages: dict[str, Any], contacts: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """One WhatsApp Cloud API delivery (object `whatsapp_business_account`) carrying `messages`."""
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "100000000000001",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550001111",
                                "phone_number_id": phone_number_id,
                            },
                            "contacts": contacts or [],
                            "messages": list(messages),
                        },
                    }
                ],
            }
        ],
    }


def whatsapp_contact(wa_id: str, name: str) -> dict[str, Any]:
    return {"profile": {"name": name}, "wa_id": wa_id}


def whatsapp_text(wa_id: str, text: str, at: datetime, message_id: str | None = None) -> dict[str, Any]:
    return {
        "from": wa_id,
        "id": message_id or _wamid(),
        "timestamp": str(int(at.timestamp())),
        "type": "text",
        "text": {"body": text},
    }


def whatsapp_button_reply(wa_id: str, button_id: str, title: str, at: datetime) -> dict[str, Any]:
    return {
        "from": wa_id,
        "id": _wamid(),
        "timestamp": str(int(at.timestamp())),
        "type": "interactive",
        "interactive": {"type": "button_reply", "button_reply": {"id": button_id, "title": title}},
    }


def whatsapp_image(wa_id: str, at: datetime, caption: str | None = None) -> dict[str, Any]:
    image: dict[str, Any] = {"mime_type": "image/jpeg", "sha256": "c3ludGhldGlj", "id": "900000000000001"}
    if caption:
        image["caption"] = caption
    return {
        "from": wa_id,
        "id": _wamid(),
        "timestamp": str(int(at.timestamp())),
        "type": "image",
        "image": image,
    }


def whatsapp_media(
    wa_id: str,
    kind: str,
    media_id: str,
    mime_type: str,
    at: datetime,
    *,
    caption: str | None = None,
    filename: str | None = None,
) -> dict[str, Any]:
    """A file a user sends (`kind`: image, video, audio, document, sticker), kept by Meta as `media_id`."""
    media: dict[str, Any] = {"mime_type": mime_type, "sha256": "c3ludGhldGlj", "id": media_id}
    if caption:
        media["caption"] = caption
    if filename:
        media["filename"] = filename
    return {"from": wa_id, "id": _wamid(), "timestamp": str(int(at.timestamp())), "type": kind, kind: media}


def whatsapp_location(
    wa_id: str,
    latitude: float,
    longitude: float,
    at: datetime,
    *,
    name: str | None = None,
    address: str | None = None,
) -> dict[str, Any]:
    """A place a user shares: a bare pin, or a chosen place with its name and address."""
    place: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
    if name:
        place["name"] = name
    if address:
        place["address"] = address
    return {
        "from": wa_id,
        "id": _wamid(),
        "timestamp": str(int(at.timestamp())),
        "type": "location",
        "location": place,
    }


def _wamid() -> str:
    return f"wamid.LOCAL{next(_sequence):012d}"


# --- Messenger and Instagram (the Meta Messaging Platform) ----------------------------------------

WEBHOOK_OBJECTS = {"messenger": "page", "instagram": "instagram"}


def meta_platform_delivery(
    channel: str, account_id: str, *events: dict[str, Any], standby: bool = False
) -> dict[str, Any]:
    """One Messenger (object `page`) or Instagram (object `instagram`) delivery: one entry for the
    page or Instagram account, its events under `messaging` (or `standby`, when another app owns
    the thread)."""
    return {
        "object": WEBHOOK_OBJECTS[channel],
        "entry": [
            {
                "id": account_id,
                "time": max((e.get("timestamp", 0) for e in events), default=0) + 123,
                "standby" if standby else "messaging": list(events),
            }
        ],
    }


def meta_platform_text(
    user_id: str, account_id: str, text: str, at: datetime, mid: str | None = None
) -> dict[str, Any]:
    return _meta_event(user_id, account_id, at, message={"mid": mid or _mid(), "text": text})


def meta_platform_quick_reply(
    user_id: str, account_id: str, payload: str, title: str, at: datetime
) -> dict[str, Any]:
    """A quick-reply tap: the title as the message text, plus the payload the button was sent with."""
    message = {"mid": _mid(), "text": title, "quick_reply": {"payload": payload}}
    return _meta_event(user_id, account_id, at, message=message)


def meta_platform_postback(
    user_id: str, account_id: str, payload: str, title: str, at: datetime
) -> dict[str, Any]:
    return _meta_event(user_id, account_id, at, postback={"mid": _mid(), "title": title, "payload": payload})


def meta_platform_attachment(user_id: str, account_id: str, kind: str, at: datetime) -> dict[str, Any]:
    """A message with one attachment of `kind` (image, video, audio, file, story_mention, ...)."""
    attachment = {"type": kind, "payload": {"url": "https://cdn.example.test/synthetic"}}
    return _meta_event(user_id, account_id, at, message={"mid": _mid(), "attachments": [attachment]})


def meta_platform_echo(user_id: str, account_id: str, text: str, at: datetime) -> dict[str, Any]:
    """The page's own message coming back (`message_echoes`): sender is the account, recipient the user."""
    return {
        "sender": {"id": account_id},
        "recipient": {"id": user_id},
        "timestamp": _milliseconds(at),
        "message": {"mid": _mid(), "is_echo": True, "text": text},
    }


def _meta_event(user_id: str, account_id: str, at: datetime, **content: Any) -> dict[str, Any]:
    return {
        "sender": {"id": user_id},
        "recipient": {"id": account_id},
        "timestamp": _milliseconds(at),
        **content,
    }


def _milliseconds(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _mid() -> str:
    return f"m_LOCAL{next(_sequence):012d}"
