"""Meta webhook deliveries as a user's phone would cause them, for the demo, the local run and tests."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

_sequence = itertools.count(1)


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


def _wamid() -> str:
    return f"wamid.LOCAL{next(_sequence):012d}"
