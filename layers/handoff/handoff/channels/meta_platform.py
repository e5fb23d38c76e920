"""Messenger and Instagram: Meta Messaging Platform webhooks parsed into channel messages, replies
rendered for its Send API.

The two channels share one shape (`object: "page"` / `"instagram"`, `entry[].messaging[]` events
with `sender`, `recipient`, a millisecond `timestamp` and one payload key), so one adapter serves
both; `MessengerAdapter` and `InstagramAdapter` only set the webhook object, the name and the
text limit.

Who and where. `entry[].id` is the channel account (the Facebook page id, the Instagram account
id) and routes the delivery to its tenant (`recipient.id` when an entry has no id). The user is
`sender.id`, the PSID or IGSID, kept as the address's `scoped_id`; the webhook carries no name.

What becomes a message. Text; quick-reply taps and postbacks (kind `choice`: the payload decides
YES/NO, the title is only what the user saw); Instagram story replies (kind `story_reply`: text the
bot reads) and story mentions; attachments by kind (image, sticker, video, audio, file as
`document`, location, shares of posts, reels and links as `share`); Instagram's `is_unsupported`.
Text the user typed wins over a link preview attached to it. Timestamps are Unix milliseconds; a
number below 10^11 is taken as seconds (the App Dashboard's test events send seconds). Ids, texts
and timestamps are bounded as on every Meta channel (`channels/meta.py`).

What is left out, counted by reason in `ParsedDelivery.ignored`, and never answered: echoes of the
page's own messages (`is_echo`, or sent by the account itself: answering one would be the bot
talking to itself), unsent messages (`is_deleted`), delivery and read receipts, reactions, edits,
handover / conversation-routing events, `standby` arrays (another app owns the thread), other
events (referrals, opt-ins, ...) and `changes[]` fields (comments, mentions, dashboard tests).

How replies go out. `POST {GRAPH_API_URL}/me/messages` with the channel account's access token:
the token says which page or Instagram account sends, so the path never needs the page id (an
Instagram account id is not one) and works for Instagram through a Facebook page and with
Instagram Login alike. `messaging_type` is `RESPONSE` (every message follows from the user's
own); a person's reply between 24 hours and 7 days after the user's last message is
`MESSAGE_TAG` with `tag: HUMAN_AGENT`, and only an agent's message may carry it. The YES/NO
question goes out as two quick replies. A text over the channel's limit (Messenger: under 2000
characters; Instagram: 1000 UTF-8 bytes) is split at whitespace into several messages; a
question, whose quick replies belong to one message, is refused instead.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from handoff.channels.base import ChannelMessage, GraphRequest, ParsedDelivery
from handoff.channels.media import platform_media
from handoff.channels.meta import DeliveryTally, Ignored, bounded, read_id, read_number, read_text
from handoff.channels.text import (
    Measure,
    choice_titles,
    fit_options,
    split_text,
    utf8_length,
    utf16_length,
)
from handoff.config.models import Channel
from handoff.engine.model import (
    NO_PAYLOAD,
    YES_PAYLOAD,
    Conversation,
    MessageKind,
    Outbound,
    SendChoice,
    SendOptions,
    SendTemplate,
    SendText,
    UserAddress,
)

SEND_PATH = "me/messages"
HUMAN_AGENT_TAG = "HUMAN_AGENT"
QUICK_REPLY_TITLE_LIMIT = 20
PAYLOAD_LIMIT = 1000  # a quick reply's payload
MOST_QUICK_REPLIES = 13
PAYLOAD_LIMIT = 1000  # a quick reply's payload
MESSENGER_TEXT_LIMIT = 1999  # "UTF-8 and less than 2000 characters"
INSTAGRAM_TEXT_LIMIT = 1000  # "UTF-8 and 1000 bytes or less"
MILLISECONDS_FROM = 10**11
"""A timestamp at least this big is in milliseconds (10^11 ms is 1973; 10^11 s is the year 5138)."""

IgnoredReason = Literal[
    "echo", "unsend", "receipt", "reaction", "edit", "handover", "standby", "other_event",
    "other_field", "malformed",
]  # fmt: skip

_HANDOVER_EVENTS = ("pass_thread_control", "take_thread_control", "request_thread_control", "app_roles")
_RECEIPT_EVENTS = ("delivery", "read")
_ATTACHMENT_KINDS: dict[str, MessageKind] = {
    "image": "image",  # on Instagram also GIFs and stickers
    "video": "video",
    "audio": "audio",
    "file": "document",
    "location": "location",
    "story_mention": "story_mention",
    "share": "share",
    "ig_post": "share",
    "reel": "share",
    "ig_reel": "share",
    "story": "share",
    "ig_story": "share",
    "media": "share",
    "fallback": "share",  # a link share Meta cannot show otherwise
    "template": "share",
}


class MetaPlatformAdapter:
    """The `ChannelAdapter` for a channel of the Meta Messaging Platform (Messenger, Instagram)."""

    def __init__(
        self,
        channel: Channel,
        *,
        webhook_object: str,
        name: str,
        text_limit: int,
        measure: Measure,
        unit: str,
    ) -> None:
        self.channel: Channel = channel
        self.webhook_object = webhook_object
        self.name = name
        self.text_limit = text_limit
        self.measure = measure
        self.unit = unit

    # --- parsing --------------------------------------------------------------------------------

    def parse(self, body: dict[str, Any]) -> list[ChannelMessage]:
        """Every user message in a delivery, batched entries included; all else is left out."""
        return self.parse_delivery(body).messages

    def parse_delivery(self, body: dict[str, Any]) -> ParsedDelivery:
        """The user messages of a delivery (every entry, every event), plus what was left out and why."""
        tally = DeliveryTally(self.name)
        messages: list[ChannelMessage] = []
        if not isinstance(body, dict) or body.get("object") != self.webhook_object:
            tally.add(f"not_{self.channel}")
            return ParsedDelivery(ignored=tally.as_dict())
        for e, entry in enumerate(tally.objects(body.get("entry"), "entry")):
            where = f"entry[{e}]"
            tally.add("standby", len(tally.objects(entry.get("standby"), f"{where}.standby")))
            tally.add("other_field", len(tally.objects(entry.get("changes"), f"{where}.changes")))
            account_id = read_id(entry.get("id"))
            for m, event in enumerate(tally.objects(entry.get("messaging"), f"{where}.messaging")):
                try:
                    messages.append(bounded(self._parse_event(event, account_id, entry.get("time")), tally))
                except Ignored as skip:
                    tally.skip(f"{where}.messaging[{m}]", skip)
        return ParsedDelivery(messages=messages, ignored=tally.as_dict())

    def _parse_event(self, event: dict[str, Any], entry_id: str | None, entry_time: Any) -> ChannelMessage:
        if "message" in event:
            content = event["message"]
        elif "postback" in event:
            content = event["postback"]
        else:
            raise Ignored(_other_event(event))
        if not isinstance(content, dict):
            raise Ignored("malformed", "message or postback is not an object")
        sender = read_id(_party(event, "sender"))
        account_id = entry_id or read_id(_party(event, "recipient"))
        if content.get("is_echo") or (sender is not None and sender == account_id):
            raise Ignored("echo")  # the account's own message (ours, another app's, a person's)
        if content.get("is_deleted"):
            raise Ignored("unsend")
        if account_id is None:
            raise Ignored("malformed", "no entry id nor recipient.id")
        if sender is None:
            raise Ignored("malformed", "no sender.id")
        raw_time = event.get("timestamp", entry_time)
        sent_at = _timestamp(raw_time)
        if "message" in event:
            event_id = read_id(content.get("mid"))
            if event_id is None:
                raise Ignored("malformed", "message without mid")
            kind, text, payload = _message_content(content)
            media = platform_media(kind, content)
        else:
            # Meta's current postbacks carry a mid; older ones only the time, which is the same in
            # a redelivery, so the dedupe key stays stable
            event_id = read_id(content.get("mid")) or f"postback#{sender}#{raw_time}"
            text, payload = read_text(content.get("title")), read_text(content.get("payload"))
            if text is None and payload is None:
                raise Ignored("malformed", "postback without title nor payload")
            kind, media = "choice", None
        return ChannelMessage(
            channel=self.channel,
            account_id=account_id,
            user_id=sender,
            event_id=event_id,
            sent_at=sent_at,
            kind=kind,
            text=text,
            payload=payload,
            address=UserAddress(scoped_id=sender),
            media=media,
        )

    # --- rendering ------------------------------------------------------------------------------

    def render(self, outbound: Outbound, conversation: Conversation) -> list[GraphRequest]:
        """The Send API requests that deliver `outbound` to the conversation's user, in order.

        One request, except a text over the channel's limit, split at whitespace into several.
        Raises ValueError for what the channel would refuse or Meta's policy forbids: an empty
        text, a question over the limit, a quick-reply title over 20 characters, a template, the
        HUMAN_AGENT tag on a message no person wrote.
        """
        ref = conversation.ref
        if ref.channel != self.channel:
            raise ValueError(f"cannot render for the {ref.channel} channel with the {self.name} adapter")
        recipient = {"id": conversation.address.scoped_id or ref.user_id}
        match outbound:
            case SendText():
                if outbound.human_agent_tag and outbound.author != "agent":
                    raise ValueError(
                        f"the HUMAN_AGENT tag is for a person's reply only, not for a {outbound.author} "
                        "message: an automated message outside the 24-hour window must not be sent"
                    )
                parts = split_text(outbound.text, self.text_limit, self.measure)
                bodies = [
                    _envelope(recipient, {"text": part}, human_agent=outbound.human_agent_tag)
                    for part in parts
                ]
            case SendChoice():
                bodies = [_envelope(recipient, self._quick_replies(outbound), human_agent=False)]
            case SendOptions():
                before, text, options = fit_options(
                    outbound.text,
                    outbound.options,
                    text_limit=self.text_limit,
                    most=MOST_QUICK_REPLIES,
                    title_limit=QUICK_REPLY_TITLE_LIMIT,
                    measure=self.measure,
                )
                bodies = [_envelope(recipient, {"text": part}, human_agent=False) for part in before]
                quick_replies = [
                    {
                        "content_type": "text",
                        "title": o.title,
                        "payload": o.payload[:PAYLOAD_LIMIT],
                    }
                    for o in options
                ]
                message = {"text": text, "quick_replies": quick_replies}
                bodies.append(_envelope(recipient, message, human_agent=False))
            case SendTemplate():
                raise ValueError(
                    f"templates are a WhatsApp feature; {self.name} has none to send outside the "
                    "24-hour window"
                )
        return [GraphRequest(path=SEND_PATH, body=body) for body in bodies]

    def _quick_replies(self, choice: SendChoice) -> dict[str, Any]:
        question = choice.text.strip()
        if not question:
            raise ValueError("a choice needs a question: the text is empty")
        size = self.measure(question)
        if size > self.text_limit:
            raise ValueError(
                f"a choice's text is {size} {self.unit}; {self.name} allows {self.text_limit}, and the "
                "question cannot be split: its quick replies belong to one message"
            )
        titles = choice_titles(
            choice.yes_title,
            choice.no_title,
            name="quick reply",
            limit=QUICK_REPLY_TITLE_LIMIT,
            channel=self.name,
        )
        return {
            "text": question,
            "quick_replies": [
                {"content_type": "text", "title": title, "payload": payload}
                for title, payload in zip(titles, (YES_PAYLOAD, NO_PAYLOAD), strict=True)
            ],
        }


class MessengerAdapter(MetaPlatformAdapter):
    def __init__(self) -> None:
        super().__init__(
            "messenger",
            webhook_object="page",
            name="Messenger",
            text_limit=MESSENGER_TEXT_LIMIT,
            measure=utf16_length,
            unit="characters",
        )


class InstagramAdapter(MetaPlatformAdapter):
    def __init__(self) -> None:
        super().__init__(
            "instagram",
            webhook_object="instagram",
            name="Instagram",
            text_limit=INSTAGRAM_TEXT_LIMIT,
            measure=utf8_length,
            unit="bytes (UTF-8)",
        )


# --- parsing helpers ----------------------------------------------------------------------------


def _party(event: dict[str, Any], role: str) -> Any:
    party = event.get(role)
    return party.get("id") if isinstance(party, dict) else None


def _other_event(event: dict[str, Any]) -> IgnoredReason:
    if any(key in event for key in _RECEIPT_EVENTS):
        return "receipt"
    if "reaction" in event:
        return "reaction"
    if "message_edit" in event:
        return "edit"
    if any(key in event for key in _HANDOVER_EVENTS):
        return "handover"
    return "other_event"  # referral, optin, account_linking, policy_enforcement, ...


def _message_content(message: dict[str, Any]) -> tuple[MessageKind, str | None, str | None]:
    """(kind, text, payload) of a `message` object; a quick-reply tap carries its payload."""
    text = read_text(message.get("text"))
    quick_reply = message.get("quick_reply")
    payload = read_text(quick_reply.get("payload")) if isinstance(quick_reply, dict) else None
    if payload is not None:
        return "choice", text, payload
    reply_to = message.get("reply_to")
    if text is not None and isinstance(reply_to, dict) and isinstance(reply_to.get("story"), dict):
        return "story_reply", text, None
    if message.get("is_unsupported"):
        return "unsupported", text, None
    if text is not None:
        return "text", text, None
    attachments = message.get("attachments")
    if isinstance(attachments, list):
        first = next((a for a in attachments if isinstance(a, dict)), None)
        if first is not None:
            return _attachment_kind(first, message), None, None
    if message.get("sticker_id"):
        return "sticker", None, None
    return "other", None, None


def _attachment_kind(attachment: dict[str, Any], message: dict[str, Any]) -> MessageKind:
    kind = attachment.get("type")
    payload = attachment.get("payload")
    sticker = message.get("sticker_id") or (isinstance(payload, dict) and payload.get("sticker_id"))
    if kind == "image" and sticker:
        return "sticker"  # Messenger sends stickers (the thumbs-up too) as images with a sticker_id
    return _ATTACHMENT_KINDS.get(kind, "other") if isinstance(kind, str) else "other"


def _timestamp(value: Any) -> datetime:
    """Meta's `timestamp`: Unix milliseconds (seconds below 10^11), a number or a numeric string."""
    number = read_number(value)
    if number is None:
        raise Ignored("malformed", "timestamp is not Unix milliseconds")
    milliseconds = int(number) if number >= MILLISECONDS_FROM else int(number * 1000)
    try:
        return datetime.fromtimestamp(milliseconds // 1000, tz=UTC) + timedelta(
            milliseconds=milliseconds % 1000
        )
    except (OverflowError, OSError, ValueError) as exc:
        raise Ignored("malformed", "timestamp out of range") from exc


# --- rendering helpers --------------------------------------------------------------------------


def _envelope(recipient: dict[str, str], message: dict[str, Any], *, human_agent: bool) -> dict[str, Any]:
    if human_agent:
        return {
            "recipient": recipient,
            "messaging_type": "MESSAGE_TAG",
            "tag": HUMAN_AGENT_TAG,
            "message": message,
        }
    return {"recipient": recipient, "messaging_type": "RESPONSE", "message": message}
