"""WhatsApp Cloud API: webhook deliveries parsed into channel messages, replies rendered as Graph requests.

Who the user is. Every messages webhook has carried the user's business-scoped user id (BSUID,
`messages[].from_user_id`, `contacts[].user_id`, e.g. `US.13491208655302741918`) since April
2026, while the phone number (`from`, `wa_id`) is left out once a user adopts a username and has
not talked with the business for 30 days. So `user_id` is the BSUID when the delivery has one,
else the phone number (payloads from before the rollout, dashboard tests): going forward the
BSUID is the one identifier that is always there, so the conversation keeps one key. A BSUID
always holds a `.` and a phone number never does, so the two cannot collide. The address keeps
both, whichever are known. A phone number change gives the user a new BSUID, announced by a
`system` message (`user_changed_number`, or `user_changed_user_id` when the new number cannot be
shared): it is parsed into a `ChannelIdChange`, and the conversation moves to the new id.

How the reply reaches the user. `to` = `+<phone>` whenever the phone number is known (Meta
recommends phone numbers, so that they keep appearing in webhooks); otherwise the 2026
`recipient` field with the BSUID, and no `to` (when both are sent, `to` wins). The v23.0 OpenAPI
description predates `recipient` and still requires `to`: BSUID-only bodies follow the 2026 API,
not that file.

What becomes a message. Text, taps (reply buttons, list rows, template quick replies: kind
`choice`), media, location, contacts, orders, Meta's `unsupported` and types this adapter does
not know yet (kind `other`) reach the conversation. Statuses, `value.errors`, reactions, other
`system` messages, `request_welcome` (the user opened the chat; no content), group messages and
webhook fields other than `messages` are counted in `ParsedDelivery.ignored` and left out. A
malformed message is skipped and logged (without ids: a wamid encodes the phone number); the
rest of the delivery still counts. What a message may carry is bounded as on every Meta channel
(`channels/meta.py`: ids, text lengths, lone surrogates, timestamps), and `contacts[]` is indexed
once per value, so a delivery of Meta's largest size (3 MB) parses in linear time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from handoff.channels.base import ChannelIdChange, ChannelMessage, GraphRequest, ParsedDelivery
from handoff.channels.media import whatsapp_media
from handoff.channels.meta import (
    ID_LIMIT,
    MESSAGE_ID_LIMIT,
    DeliveryTally,
    Ignored,
    bounded,
    check_ids,
    read_number,
)
from handoff.channels.meta import read_id as _id
from handoff.channels.meta import read_text as _text
from handoff.channels.text import choice_titles, fit_options, utf16_length
from handoff.channels.text import split_text as split_measured
from handoff.config.models import Channel
from handoff.engine.model import (
    NO_PAYLOAD,
    YES_PAYLOAD,
    Conversation,
    MessageKind,
    Option,
    Outbound,
    SendChoice,
    SendOptions,
    SendTemplate,
    SendText,
    UserAddress,
)

WHATSAPP_OBJECT = "whatsapp_business_account"
TEXT_LIMIT = 4096
INTERACTIVE_BODY_LIMIT = 1024
BUTTON_TITLE_LIMIT = 20
BUTTON_ID_LIMIT = 256
MOST_BUTTONS = 3

IgnoredReason = Literal[
    "not_whatsapp", "other_field", "status", "error", "reaction", "system", "request_welcome",
    "group", "malformed",
]  # fmt: skip

ID_CHANGES = ("user_changed_number", "user_changed_user_id")
"""`system` messages that say the user's id changed: their conversation follows them. Other
`system` messages are counted as `system` and left out."""

_IGNORED_TYPES: dict[str, IgnoredReason] = {
    "reaction": "reaction",
    "system": "system",
    "request_welcome": "request_welcome",
}
_MEDIA_KINDS: dict[str, MessageKind] = {
    "image": "image",
    "video": "video",
    "audio": "audio",  # voice notes (`voice: true`) and audio files alike
    "document": "document",
    "sticker": "sticker",
}


class WhatsAppAdapter:
    """The `ChannelAdapter` for WhatsApp."""

    channel: Channel = "whatsapp"

    def parse(self, body: dict[str, Any]) -> list[ChannelMessage]:
        """Every user message in a delivery, batched entries included; all else is left out."""
        return self.parse_delivery(body).messages

    def parse_delivery(self, body: dict[str, Any]) -> ParsedDelivery:
        """The user messages of a delivery, plus a count of what was left out and why."""
        tally = DeliveryTally("WhatsApp")
        messages: list[ChannelMessage] = []
        id_changes: list[ChannelIdChange] = []
        if not isinstance(body, dict) or body.get("object") != WHATSAPP_OBJECT:
            tally.add("not_whatsapp")
            return ParsedDelivery(ignored=tally.as_dict())
        for e, entry in enumerate(tally.objects(body.get("entry"), "entry")):
            for c, change in enumerate(tally.objects(entry.get("changes"), f"entry[{e}].changes")):
                where = f"entry[{e}].changes[{c}]"
                if change.get("field") != "messages":
                    tally.add("other_field")
                    continue
                value = change.get("value")
                if not isinstance(value, dict):
                    tally.malformed(where, "value is not an object")
                    continue
                found, changes = _parse_value(value, tally, where)
                messages.extend(found)
                id_changes.extend(changes)
        return ParsedDelivery(messages=messages, id_changes=id_changes, ignored=tally.as_dict())

    def render(self, outbound: Outbound, conversation: Conversation) -> list[GraphRequest]:
        """The Graph API requests that deliver `outbound` to the conversation's user, in order.

        One request, except a text over 4096 characters, split at whitespace into several.
        Raises ValueError for what WhatsApp would refuse (empty text, a button title over 20
        characters, an interactive body over 1024) rather than sending it to fail there.
        """
        ref = conversation.ref
        if ref.channel != "whatsapp":
            raise ValueError(f"cannot render for the {ref.channel} channel with the WhatsApp adapter")
        path = f"{ref.account_id}/messages"
        recipient = _recipient(conversation)
        bodies: list[dict[str, Any]]
        match outbound:
            case SendText():
                bodies = [_envelope(recipient, "text", {"body": part}) for part in split_text(outbound.text)]
            case SendChoice():
                bodies = [_envelope(recipient, "interactive", _reply_buttons(outbound))]
            case SendTemplate():
                bodies = [_envelope(recipient, "template", _template(outbound))]
            case SendOptions():
                before, body, options = fit_options(
                    outbound.text,
                    outbound.options,
                    text_limit=INTERACTIVE_BODY_LIMIT,
                    most=MOST_BUTTONS,
                    title_limit=BUTTON_TITLE_LIMIT,
                )
                bodies = [_envelope(recipient, "text", {"body": part}) for part in before]
                bodies.append(_envelope(recipient, "interactive", _option_buttons(body, options)))
        return [GraphRequest(path=path, body=body) for body in bodies]


# --- parsing ------------------------------------------------------------------------------------


def _parse_value(
    value: dict[str, Any], tally: DeliveryTally, where: str
) -> tuple[list[ChannelMessage], list[ChannelIdChange]]:
    for name, reason in (("statuses", "status"), ("errors", "error")):
        items = value.get(name)
        if isinstance(items, list):
            tally.add(reason, len(items))
    raw_messages = value.get("messages")
    if raw_messages is None:
        return [], []
    if not isinstance(raw_messages, list):
        tally.malformed(f"{where}.value.messages", "not an array")
        return [], []
    metadata = value.get("metadata")
    account_id = _id(metadata.get("phone_number_id")) if isinstance(metadata, dict) else None
    raw_contacts = value.get("contacts")
    contacts = _Contacts(
        [c for c in raw_contacts if isinstance(c, dict)] if isinstance(raw_contacts, list) else []
    )
    parsed: list[ChannelMessage] = []
    changes: list[ChannelIdChange] = []
    for m, raw in enumerate(raw_messages):
        try:
            if account_id is None:
                raise Ignored("malformed", "no metadata.phone_number_id")
            if _is_id_change(raw):
                changes.append(_parse_id_change(raw, account_id))
            else:
                parsed.append(bounded(_parse_message(raw, account_id, contacts), tally))
        except Ignored as skip:
            tally.skip(f"{where}.value.messages[{m}]", skip)
    return parsed, changes


def _is_id_change(raw: Any) -> bool:
    if not isinstance(raw, dict) or raw.get("type") != "system":
        return False
    system = raw.get("system")
    return isinstance(system, dict) and system.get("type") in ID_CHANGES


def _parse_id_change(raw: dict[str, Any], account_id: str) -> ChannelIdChange:
    """A `user_changed_number` / `user_changed_user_id` system message: who the user was, and is.

    The old id is the one their conversation is keyed by: the previous BSUID when Meta gives it
    (`system.previous_user_id`, since August 2026), else the sender's BSUID, else the old phone
    number (`from`). The new one is the new BSUID (`system.user_id`) when given, else the new phone
    number (`system.wa_id`): the same choice as for a message (BSUID first)."""
    system = raw["system"]
    event_id = _id(raw.get("id"))
    if event_id is None:
        raise Ignored("malformed", "no id")
    old = _id(system.get("previous_user_id")) or _id(raw.get("from_user_id")) or _id(raw.get("from"))
    new_phone = _id(system.get("wa_id")) if system.get("type") == "user_changed_number" else None
    new_bsuid = _id(system.get("user_id"))
    new = new_bsuid or new_phone
    if old is None or new is None:
        raise Ignored("malformed", "an id change names no old or no new id")
    user_ids = [(value, ID_LIMIT) for value in (old, new, new_phone) if value]
    check_ids([(event_id, MESSAGE_ID_LIMIT), *user_ids])
    return ChannelIdChange(
        channel="whatsapp",
        account_id=account_id,
        user_id=old,
        event_id=event_id,
        sent_at=_timestamp(raw.get("timestamp")),
        new_user_id=new,
        address=UserAddress(phone=new_phone, bsuid=new_bsuid),
    )


def _parse_message(raw: Any, account_id: str, contacts: _Contacts) -> ChannelMessage:
    if not isinstance(raw, dict):
        raise Ignored("malformed", "message is not an object")
    msg_type = raw.get("type")
    if not isinstance(msg_type, str) or not msg_type:
        raise Ignored("malformed", "no type")
    if msg_type in _IGNORED_TYPES:
        raise Ignored(_IGNORED_TYPES[msg_type])
    if raw.get("group_id"):
        raise Ignored("group")
    event_id = _id(raw.get("id"))
    if event_id is None:
        raise Ignored("malformed", "no id")
    sent_at = _timestamp(raw.get("timestamp"))

    phone = _id(raw.get("from"))
    bsuid = _id(raw.get("from_user_id"))
    contact = contacts.sender(phone, bsuid)
    if contact is not None:
        phone = phone or _id(contact.get("wa_id"))
        bsuid = bsuid or _id(contact.get("user_id"))
    user_id = bsuid or phone
    if user_id is None:
        raise Ignored("malformed", "no sender (neither from_user_id nor from)")

    kind, text, payload = _content(msg_type, raw)
    return ChannelMessage(
        channel="whatsapp",
        account_id=account_id,
        user_id=user_id,
        event_id=event_id,
        sent_at=sent_at,
        kind=kind,
        text=text,
        payload=payload,
        user_name=_profile_name(contact),
        address=UserAddress(phone=phone, bsuid=bsuid),
        media=whatsapp_media(msg_type, raw),
    )


class _Contacts:
    """A value's `contacts[]`, indexed once by BSUID and by phone number (the first contact of each).

    Each message's sender is then found by lookup, so a delivery's parse takes time in proportion to
    its size: scanning every contact for every message took 18.8 s on a 0.87 MB delivery, past the
    webhook's 10 s timeout.
    """

    def __init__(self, contacts: list[dict[str, Any]]) -> None:
        self.by_bsuid: dict[str, dict[str, Any]] = {}
        self.by_phone: dict[str, dict[str, Any]] = {}
        for contact in contacts:
            if (bsuid := _id(contact.get("user_id"))) is not None:
                self.by_bsuid.setdefault(bsuid, contact)
            if (phone := _id(contact.get("wa_id"))) is not None:
                self.by_phone.setdefault(phone, contact)
        self.only = contacts[0] if len(contacts) == 1 else None

    def sender(self, phone: str | None, bsuid: str | None) -> dict[str, Any] | None:
        """The message sender's contact: by BSUID, else by phone, else the only one.

        `from` and `wa_id` may legitimately differ (number formats in Brazil, Mexico), so a lone
        contact matches unless its BSUID says it is someone else.
        """
        if bsuid is not None and bsuid in self.by_bsuid:
            return self.by_bsuid[bsuid]
        if phone is not None and phone in self.by_phone:
            return self.by_phone[phone]
        if self.only is not None:
            other = _id(self.only.get("user_id"))
            if bsuid is None or other is None or other == bsuid:
                return self.only
        return None


def _profile_name(contact: dict[str, Any] | None) -> str | None:
    profile = contact.get("profile") if contact else None
    return _text(profile.get("name")) if isinstance(profile, dict) else None


def _content(msg_type: str, raw: dict[str, Any]) -> tuple[MessageKind, str | None, str | None]:
    """(kind, text, payload) of a message by its type; a tap carries the tapped id as payload."""
    obj = raw.get(msg_type)
    obj = obj if isinstance(obj, dict) else {}
    if msg_type == "text":
        body = obj.get("body")
        if not isinstance(body, str):
            raise Ignored("malformed", "text without body")
        return "text", body, None
    if msg_type == "interactive":
        reply_type = obj.get("type")
        if reply_type in ("button_reply", "list_reply"):
            reply = obj.get(reply_type)
            reply_id = _id(reply.get("id")) if isinstance(reply, dict) else None
            if reply_id is None or not isinstance(reply, dict):
                raise Ignored("malformed", f"{reply_type} without id")
            return "choice", _text(reply.get("title")), reply_id
        return "other", None, None  # flow replies (nfm_reply), call permission replies, ...
    if msg_type == "button":
        label = _text(obj.get("text"))
        payload = _text(obj.get("payload")) or label  # Meta's payload is the label unless one was set
        if payload is None:
            raise Ignored("malformed", "button without payload or text")
        return "choice", label, payload
    if msg_type in _MEDIA_KINDS:
        return _MEDIA_KINDS[msg_type], _text(obj.get("caption")), None
    if msg_type == "location":
        parts = [_text(obj.get(key)) for key in ("name", "address")]
        return "location", " — ".join(p for p in parts if p) or None, None
    if msg_type == "contacts":
        names: list[str] = []
        shared = raw.get("contacts")  # the shared contact cards: a list, unlike other types' objects
        for card in shared if isinstance(shared, list) else []:
            card_name = card.get("name") if isinstance(card, dict) else None
            formatted = _text(card_name.get("formatted_name")) if isinstance(card_name, dict) else None
            if formatted:
                names.append(formatted)
        return "contacts", ", ".join(names) or None, None
    if msg_type == "order":
        return "order", _text(obj.get("text")), None
    if msg_type == "unsupported":
        return "unsupported", None, None
    return "other", None, None


def _timestamp(value: Any) -> datetime:
    """WhatsApp's `timestamp`: Unix seconds, as a string (numbers accepted), to an aware UTC datetime."""
    seconds = read_number(value)
    if seconds is None:
        raise Ignored("malformed", "timestamp is not Unix seconds")
    try:
        return datetime.fromtimestamp(int(seconds), tz=UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise Ignored("malformed", "timestamp out of range") from exc


# --- rendering ----------------------------------------------------------------------------------


def _recipient(conversation: Conversation) -> dict[str, str]:
    """`to` with the phone number when known, else `recipient` with the BSUID (see the module notes)."""
    phone, bsuid = conversation.address.phone, conversation.address.bsuid
    if not phone and not bsuid:
        user_id = conversation.ref.user_id
        if is_bsuid(user_id):
            bsuid = user_id
        else:
            phone = user_id
    if phone:
        digits = phone.strip().lstrip("+")
        if digits:
            return {"to": f"+{digits}"}
    if bsuid:
        return {"recipient": bsuid}
    raise ValueError("the conversation has no phone number nor BSUID to send to")


def is_bsuid(user_id: str) -> bool:
    """Whether a WhatsApp user id is a BSUID (`CC.<alphanumerics>`) rather than a phone number."""
    return "." in user_id


def _envelope(recipient: dict[str, str], msg_type: str, content: dict[str, Any]) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        **recipient,
        "type": msg_type,
        msg_type: content,
    }


def _reply_buttons(choice: SendChoice) -> dict[str, Any]:
    body = choice.text.strip()
    if not body:
        raise ValueError("a choice needs a question: the text is empty")
    if text_length(body) > INTERACTIVE_BODY_LIMIT:
        raise ValueError(
            f"a choice's text is {text_length(body)} characters; WhatsApp allows {INTERACTIVE_BODY_LIMIT}"
        )
    titles = choice_titles(
        choice.yes_title, choice.no_title, name="button", limit=BUTTON_TITLE_LIMIT, channel="WhatsApp"
    )
    return {
        "type": "button",
        "body": {"text": body},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": payload, "title": title}}
                for payload, title in zip((YES_PAYLOAD, NO_PAYLOAD), titles, strict=True)
            ]
        },
    }


def _option_buttons(body: str, options: list[Option]) -> dict[str, Any]:
    """A bot's buttons as reply buttons: the id is the payload the bot gets back when one is tapped."""
    return {
        "type": "button",
        "body": {"text": body},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": option.payload[:BUTTON_ID_LIMIT], "title": option.title}}
                for option in options
            ]
        },
    }


def _template(template: SendTemplate) -> dict[str, Any]:
    if not template.name.strip() or not template.language.strip():
        raise ValueError("a template needs a name and a language")
    for i, parameter in enumerate(template.parameters, start=1):
        if not parameter.strip():
            raise ValueError(f"template {template.name!r}: parameter {{{{{i}}}}} is empty")
    content: dict[str, Any] = {
        "name": template.name,
        # `policy` is the legacy field the v23.0 description still requires; Meta accepts it.
        "language": {"policy": "deterministic", "code": template.language},
    }
    if template.parameters:
        content["components"] = [
            {"type": "body", "parameters": [{"type": "text", "text": p} for p in template.parameters]}
        ]
    return content


def text_length(text: str) -> int:
    """Length in UTF-16 code units: never less than the character count, so a limit kept here holds
    however Meta counts (an emoji outside the BMP counts 2)."""
    return utf16_length(text)


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """`text` in parts of at most `limit` UTF-16 units, cut at a paragraph, line or word break
    (see handoff.channels.text). Raises ValueError on empty text."""
    return split_measured(text, limit, utf16_length)
