"""Files and places in Meta's webhooks, read into the engine's `Media`, and where a file may come from.

WhatsApp. An `image`, `video`, `audio`, `document` or `sticker` message carries an object of that
name: `id` (the media id), `mime_type` (with parameters, e.g. `audio/ogg; codecs=opus`), `sha256`,
and maybe `caption` and, for a document, `filename`. The file is not in the webhook: `GET
/{media-id}` with the channel account's token gives a `url` valid for five minutes, downloaded
with the same token. A `location` carries `latitude` and `longitude` (numbers; 0 is one), and
`name` and `address` for a chosen place only.

Messenger and Instagram. An attachment (`message.attachments[]`: `image`, `video`, `audio`, `file`,
and Instagram's `story_mention`) carries `payload.url`, a link on Meta's CDN that anyone holding it
can open until it expires: it is kept on the server and never shown. A Messenger location carries
`payload.coordinates.lat` / `.long` and maybe a `title`.

Bounds, as for the rest of a delivery (`channels/meta.py`): an id or a link that is not valid
Unicode, or too long, is left out (neither can be repaired); names, captions and addresses have a
lone surrogate replaced and are cut; a coordinate that is not a finite number in range is left out.

Where a file may be fetched from (`on_meta_cdn`): https on the default port, on one of Meta's CDN
domains or a subdomain of one. Both the stored CDN links and the URLs Meta's `GET /{media-id}`
gives are checked before anything is requested, so a link in a delivery can never make the server
call anywhere else (SSRF), and the account's token goes to Meta only.
"""

from __future__ import annotations

import math
import re
from typing import Any
from urllib.parse import urlsplit

from handoff.channels.meta import ID_LIMIT, TEXT_LIMIT, read_id, read_text
from handoff.engine.model import Media, MessageKind

WHATSAPP_FILE_TYPES = ("image", "video", "audio", "document", "sticker")
PLATFORM_FILE_KINDS: tuple[MessageKind, ...] = (
    "image",
    "video",
    "audio",
    "document",
    "sticker",
    "story_mention",
)
"""The kinds of a Messenger or Instagram message whose attachment is a file to show."""

META_CDN_DOMAINS = ("fbcdn.net", "fbsbx.com", "cdninstagram.com", "whatsapp.net")
"""Meta's CDN domains: Messenger's and Instagram's attachments (`scontent-*.xx.fbcdn.net`,
`lookaside.fbsbx.com`, `*.cdninstagram.com`) and WhatsApp's media downloads (`lookaside.fbsbx.com`,
`mmg.whatsapp.net`)."""

URL_LIMIT = 4096
"""The longest CDN link kept (Meta's are a few hundred characters, signatures included)."""
FILE_NAME_LIMIT = 255
NAME_LIMIT = 1024  # a place's name or address
MIME_TYPE_LIMIT = 255

_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")
_MIME_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$")
# the characters a URL may hold as RFC 3986 writes it: anything else (a backslash, a space, a
# control character, non-ASCII) is read differently by different URL parsers, so it is refused
# rather than reasoned about
_URL_CHARACTERS = re.compile(r"^[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+$")


def whatsapp_media(message_type: str, raw: dict[str, Any]) -> Media | None:
    """The file or place of a WhatsApp message of `message_type`; None for any other type."""
    content = raw.get(message_type)
    content = content if isinstance(content, dict) else {}
    if message_type in WHATSAPP_FILE_TYPES:
        return Media(
            media_id=_id(content.get("id")),
            mime_type=_mime_type(content.get("mime_type")),
            file_name=_text(content.get("filename"), FILE_NAME_LIMIT) if message_type == "document" else None,
            caption=_text(content.get("caption"), TEXT_LIMIT),
        )
    if message_type == "location":
        return _place(
            content.get("latitude"), content.get("longitude"), content.get("name"), content.get("address")
        )
    return None


def platform_media(kind: MessageKind, message: dict[str, Any]) -> Media | None:
    """The file or place of a Messenger or Instagram message of `kind` (its first attachment)."""
    attachments = message.get("attachments")
    first = (
        next((a for a in attachments if isinstance(a, dict)), None) if isinstance(attachments, list) else None
    )
    if first is None:
        return None
    payload = first.get("payload")
    payload = payload if isinstance(payload, dict) else {}
    if kind in PLATFORM_FILE_KINDS:
        return Media(url=_url(payload.get("url")))
    if kind == "location":
        coordinates = payload.get("coordinates")
        coordinates = coordinates if isinstance(coordinates, dict) else {}
        return _place(coordinates.get("lat"), coordinates.get("long"), first.get("title"), None)
    return None


def on_meta_cdn(url: str) -> bool:
    """Whether `url` is https, on the default port, on one of `META_CDN_DOMAINS` (or a subdomain),
    with no user name or password in it and nothing a URL parser could read two ways."""
    if not _URL_CHARACTERS.match(url):
        return False
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a port that is not a number, a bracketed host that is not an IPv6 address
        return False
    host = (parts.hostname or "").lower()
    if parts.scheme.lower() != "https" or port not in (None, 443) or "@" in parts.netloc:
        return False
    return any(host == domain or host.endswith(f".{domain}") for domain in META_CDN_DOMAINS)


def same_origin(url: str, base_url: str) -> bool:
    """Whether `url` has the scheme, host and port of `base_url` (the Graph API the stack calls)."""
    if not _URL_CHARACTERS.match(url):
        return False
    try:
        one, other = urlsplit(url), urlsplit(base_url)
        ports = (_port(one.scheme, one.port), _port(other.scheme, other.port))
    except ValueError:
        return False
    if "@" in one.netloc or not one.hostname:
        return False
    return (
        one.scheme.lower() == other.scheme.lower()
        and one.hostname.lower() == (other.hostname or "").lower()
        and ports[0] == ports[1]
    )


def _port(scheme: str, port: int | None) -> int | None:
    if port is not None:
        return port
    return {"https": 443, "http": 80}.get(scheme.lower())


def _place(latitude: Any, longitude: Any, name: Any, address: Any) -> Media | None:
    place = Media(
        latitude=_coordinate(latitude, 90),
        longitude=_coordinate(longitude, 180),
        name=_text(name, NAME_LIMIT),
        address=_text(address, NAME_LIMIT),
    )
    if place.latitude is None or place.longitude is None:
        place = place.model_copy(update={"latitude": None, "longitude": None})  # half a point is none
    return None if place == Media() else place


def _coordinate(value: Any, bound: float) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except (OverflowError, ValueError):
        return None
    return number if math.isfinite(number) and -bound <= number <= bound else None


def _id(value: Any) -> str | None:
    media_id = read_id(value)
    if media_id is None or _LONE_SURROGATE.search(media_id) or len(media_id.encode()) > ID_LIMIT:
        return None
    return media_id


def _url(value: Any) -> str | None:
    if not isinstance(value, str) or len(value) > URL_LIMIT or not _URL_CHARACTERS.match(value):
        return None
    return value


def _mime_type(value: Any) -> str | None:
    """The type without its parameters, lower case (`audio/ogg; codecs=opus` is `audio/ogg`)."""
    if not isinstance(value, str) or len(value) > MIME_TYPE_LIMIT:
        return None
    base = value.split(";", 1)[0].strip().lower()
    return base if _MIME_TYPE.match(base) else None


def _text(value: Any, limit: int) -> str | None:
    text = read_text(value)
    if text is None:
        return None
    text = _LONE_SURROGATE.sub("\ufffd", text.strip())
    return text if len(text) <= limit else text[: limit - 1] + "…"
