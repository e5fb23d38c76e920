"""What the user sent, for Live: the transcript's files and places as agents see them, and the files
themselves, fetched from Meta with the tenant's token when an agent asks.

The transcript keeps what reaches a file (WhatsApp's media id, Messenger's and Instagram's CDN
link: `engine.model.Media`); Live shows neither. Each line with a file shows instead the path of
`GET /live/conversations/{id}/media/{line}`, where `line` is a hash of the message's id (a wamid
encodes a phone number, and a message id can hold `/` or `=`). That route, behind the same token
and tenant check as the rest of Live, fetches the file through Meta each time (WhatsApp:
`GET /{media-id}`, then the five-minute URL it gives, both with the channel account's token;
Messenger and Instagram: the CDN link, without a token) and answers its bytes. Nothing is kept:
the file stays Meta's, and the console holds it for the session only.

Limits. A file is answered only if it is at most `MEDIA_LIMIT` (4 MiB): a Lambda function's answer
carries at most 6 MB, and the bytes travel base64-encoded (4 MiB is 5.6 MB so encoded). WhatsApp's
declared `file_size` is checked before the download, a `Content-Length` before the body is read,
and the bytes while they are read. The whole fetch must end within `FETCH_SECONDS`. Its type must
be one of `ALLOWED_TYPES` (images, voice
notes and audio, videos, PDFs, office documents, plain text): what a browser shows inline is
limited to images, audio and video, and everything else is a download (`Content-Disposition:
attachment`), never a page the console's origin would run.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

from pydantic import BaseModel, Field

from handoff.engine.model import Conversation, Media, TranscriptEntry
from handoff.observability import logger as log
from handoff.observability import metrics
from handoff.services.errors import NotFound

if TYPE_CHECKING:
    from handoff.adapters.graph import GraphClient, GraphError
    from handoff.store.conversation_store import ConversationStore

MEDIA_LIMIT = 4 * 1024 * 1024
"""The largest file Live answers: base64-encoded it must fit a Lambda function's 6 MB answer."""

ALLOWED_TYPES: dict[str, str] = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",  # WhatsApp's stickers
    "audio/ogg": "ogg",  # WhatsApp's voice notes (opus)
    "audio/mpeg": "mp3",
    "audio/aac": "aac",
    "audio/mp4": "m4a",
    "audio/amr": "amr",
    "video/mp4": "mp4",
    "video/3gpp": "3gp",
    "application/pdf": "pdf",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/vnd.ms-powerpoint": "ppt",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "pptx",
    "text/plain": "txt",
}
"""The types a file may have to be answered, with the extension a download gets when it has no name."""

FETCH_SECONDS = 6.0
"""How long fetching one file from Meta may take, all requests together: with the Graph client's
2-second reads (`READ_TIMEOUT`) it ends well inside the Live function's 10-second timeout, so a slow
Meta is a 424 for the agent, never a timed-out function (a 5XX)."""
READ_TIMEOUT = 2.0
"""The Graph client's connect and read timeouts for files (`runtime.wiring.media_files`)."""

INLINE_FAMILIES = ("image/", "audio/", "video/")
"""Shown in the console (`Content-Disposition: inline`); every other type is only downloaded."""

GENERIC_TYPES = ("application/octet-stream", "binary/octet-stream")
"""Types that say nothing: the type Meta declared for the file is used instead."""

_UNSAFE_IN_FILE_NAME = re.compile(r"[^A-Za-z0-9._() -]+")
FILE_NAME_LENGTH = 100


# --- what Live shows ---------------------------------------------------------------------------------


class MediaView(BaseModel, defer_build=True):
    """A user's file or place as Live shows it: never the CDN link nor Meta's media id."""

    mime_type: str | None = Field(
        default=None,
        description="the type the user's app declared (WhatsApp); the file's own is checked when fetched",
    )
    file_name: str | None = Field(default=None, description="a document's name, as the user sent it")
    caption: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    name: str | None = Field(default=None, description="a place's name")
    address: str | None = Field(default=None, description="a place's address")
    path: str | None = Field(
        default=None,
        description="GET it with the same token for the file (`/live/conversations/{id}/media/{line}`); "
        "none for a place, or when Meta gave no way to the file",
    )


class TranscriptLine(TranscriptEntry):
    """A transcript line as Live shows it: the engine's line, its media shown as a `MediaView`."""

    # the engine's `Media` holds what reaches the file (a public CDN link, Meta's media id); Live's
    # line replaces it with what an agent may see, and every other field stays the engine's own
    media: MediaView | None = None  # type: ignore[assignment]


def line_id(event_id: str) -> str:
    """The `{line}` of a message's media path: a hash of its id (no phone number, no `/` or `=`)."""
    return hashlib.sha256(event_id.encode()).hexdigest()[:32]


def media_path(conversation_id: str, event_id: str) -> str:
    return f"/live/conversations/{conversation_id}/media/{line_id(event_id)}"


def transcript_line(entry: TranscriptEntry, conversation_id: str) -> TranscriptLine:
    """The line as Live shows it (`media` as a `MediaView`, with its path when there is a file)."""
    view = None
    if entry.media is not None:
        media = entry.media
        has_path = media.has_file and entry.event_id is not None
        view = MediaView(
            mime_type=media.mime_type,
            file_name=media.file_name,
            caption=media.caption,
            latitude=media.latitude,
            longitude=media.longitude,
            name=media.name,
            address=media.address,
            path=media_path(conversation_id, entry.event_id) if has_path and entry.event_id else None,
        )
    return TranscriptLine.model_validate({**entry.model_dump(exclude={"media"}), "media": view})


# --- refusals ---------------------------------------------------------------------------------------


class MediaRefused(Exception):
    """The file cannot be answered; the subclass says why (`api/media.py` maps each to HTTP)."""


class MediaTooLarge(MediaRefused):
    """Over `MEDIA_LIMIT` (Meta's declared size, or the bytes read)."""


class MediaTypeRefused(MediaRefused):
    """Not one of `ALLOWED_TYPES`."""


class MediaGone(MediaRefused):
    """Meta no longer has it (deleted, expired, the CDN link's signature lapsed)."""


class MediaLinkRefused(MediaRefused):
    """The stored link is not on Meta's CDN: it is never requested."""


class MetaUnavailable(MediaRefused):
    """Meta refused or did not answer (its token refused, throttled, down)."""


# --- fetching ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MediaFile:
    """A file to answer: its bytes, its type (one of `ALLOWED_TYPES`), how the browser should take it."""

    content: bytes
    content_type: str
    disposition: str


class MediaFiles:
    """Fetches a transcript line's file from Meta for an agent of the conversation's tenant."""

    def __init__(
        self,
        store: ConversationStore,
        graph: GraphClient,
        access_token: Callable[[str], str],
        *,
        limit: int = MEDIA_LIMIT,
    ) -> None:
        self.store = store
        self.graph = graph
        self.access_token = access_token
        self.limit = limit

    def fetch(self, tenant_id: str, conversation_id: str, line: str) -> MediaFile:
        """The file of the line `line` (`line_id`) of the tenant's conversation `conversation_id`.

        NotFound for another tenant's conversation, a line that is not there or holds no file;
        a `MediaRefused` when the file cannot be answered.
        """
        conversation = self.store.load_id(conversation_id)
        if conversation is None or conversation.ref.tenant_id != tenant_id:
            raise NotFound("conversation not found")
        entry = next(
            (
                e
                for e in self.store.transcript(conversation.ref)
                if e.event_id is not None and e.media is not None and line_id(e.event_id) == line
            ),
            None,
        )
        if entry is None or entry.media is None or not entry.media.has_file:
            raise NotFound("no file on that line of this conversation")
        media = entry.media
        deadline = time.monotonic() + FETCH_SECONDS
        if media.media_id is not None:
            content, content_type = self._from_whatsapp(
                conversation, media.media_id, media.mime_type, deadline
            )
        else:
            content, content_type = self._from_cdn(media, deadline)
        return MediaFile(
            content=content,
            content_type=content_type,
            disposition=_disposition(entry, content_type, line),
        )

    def _from_whatsapp(
        self, conversation: Conversation, media_id: str, declared_type: str | None, deadline: float
    ) -> tuple[bytes, str]:
        """WhatsApp: `GET /{media-id}` (only if the account's number holds it), then its URL, both
        with the account's token; the declared size and type are checked before the download."""
        from handoff.adapters.graph import FileTooLarge, GraphError, NotMetaUrl

        account_id = conversation.ref.account_id
        token = self.access_token(account_id)
        try:
            found = self.graph.get(media_id, token, {"phone_number_id": account_id}, deadline=deadline)
        except GraphError as error:
            raise _meta_refused(error) from error
        size = _size(found.get("file_size"))
        if size is not None and size > self.limit:
            raise _too_large(size, self.limit)
        meta_type = _base_type(found.get("mime_type")) or declared_type
        if meta_type is not None and meta_type not in ALLOWED_TYPES:
            raise _type_refused(meta_type)
        url = found.get("url")
        if not isinstance(url, str) or not url:
            log.warning("media metadata without a url")
            raise MetaUnavailable("Meta gave no link to the file; try again in a minute")
        try:
            download = self.graph.download(url, limit=self.limit, access_token=token, deadline=deadline)
        except NotMetaUrl as error:
            log.warning("media metadata with a url off Meta's CDN: not fetched")
            raise MetaUnavailable(
                "Meta's link to the file is not on its CDN, so it was not fetched"
            ) from error
        except FileTooLarge as error:
            raise _too_large(error.size, self.limit) from error
        except GraphError as error:
            raise _meta_refused(error) from error
        return download.content, _checked_type(download.content_type, meta_type)

    def _from_cdn(self, media: Media, deadline: float) -> tuple[bytes, str]:
        """Messenger and Instagram: the stored CDN link, only if it is Meta's (no token: it needs none)."""
        from handoff.adapters.graph import FileTooLarge, GraphError, NotMetaUrl

        assert media.url is not None
        try:
            download = self.graph.download(media.url, limit=self.limit, deadline=deadline)
        except NotMetaUrl as error:
            log.warning("a stored media link is off Meta's CDN: not fetched")
            raise MediaLinkRefused(
                "the file's link is not on Meta's CDN (https on fbcdn.net, fbsbx.com, cdninstagram.com "
                "or whatsapp.net), so it is not fetched"
            ) from error
        except FileTooLarge as error:
            raise _too_large(error.size, self.limit) from error
        except GraphError as error:
            raise _meta_refused(error) from error
        return download.content, _checked_type(download.content_type, media.mime_type)


# --- helpers ----------------------------------------------------------------------------------------


def _meta_refused(error: GraphError) -> MediaRefused:
    """What Meta's refusal means for the agent: gone for good, or Meta unavailable (never a 5XX)."""
    log.warning(
        "media not fetched from Meta",
        extra={"http_status": error.http_status, "graph_code": error.code, "graph_subcode": error.subcode},
    )
    lapsed = error.code is None and error.http_status in (403, 404, 410)
    if lapsed or (error.code == 100 and error.subcode in (None, 33)):
        # a CDN link whose signature lapsed (403), a file Meta deleted (404, 410), or WhatsApp's
        # "Object with ID ... does not exist" (code 100, subcode 33): asking again will not bring it back
        return MediaGone("the file is no longer available at Meta (deleted, or its link expired)")
    if error.is_token_error:
        from handoff.services.conversations import TOKEN_REJECTED

        metrics.add_metric(name=TOKEN_REJECTED, unit="Count", value=1)
        return MetaUnavailable(
            "Meta refused the channel account's access token; the operator must replace it"
        )
    if error.retryable:
        return MetaUnavailable("Meta did not give the file now; try again in a minute")
    return MetaUnavailable(f"Meta refused to give the file ({error.message})")


def _too_large(size: int, limit: int) -> MediaTooLarge:
    mebibytes = limit / (1024 * 1024)
    return MediaTooLarge(
        f"the file is {size} bytes; Live answers files of up to {limit} bytes ({mebibytes:g} MiB), "
        "what a Lambda function's answer can carry once base64-encoded: open it on the user's channel"
    )


def _type_refused(content_type: str) -> MediaTypeRefused:
    return MediaTypeRefused(
        f"the file's type ({content_type}) is not one Live answers: images (jpeg, png, webp), audio "
        "(ogg, mpeg, aac, mp4, amr), video (mp4, 3gpp), pdf, office documents and plain text"
    )


def _checked_type(answered: str | None, declared: str | None) -> str:
    """The file's type as its server gave it (else as Meta declared it), if it is allowed."""
    content_type = _base_type(answered)
    if content_type is None or content_type in GENERIC_TYPES:
        content_type = declared
    if content_type is None or content_type not in ALLOWED_TYPES:
        raise _type_refused(content_type or "none given")
    return content_type


def _base_type(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    base = value.split(";", 1)[0].strip().lower()
    return base or None


def _size(value: object) -> int | None:
    """WhatsApp's `file_size`: a string of digits (a number accepted)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _disposition(entry: TranscriptEntry, content_type: str, line: str) -> str:
    """`inline` for what the console shows (an image, audio, video that is not a document);
    `attachment` with a file name safe in a header for everything else."""
    if content_type.startswith(INLINE_FAMILIES) and entry.kind != "document":
        return "inline"
    given = entry.media.file_name if entry.media is not None else None
    name = given or f"{entry.kind}-{line[:8]}.{ALLOWED_TYPES[content_type]}"
    ascii_name = (
        _UNSAFE_IN_FILE_NAME.sub("_", name).strip(" .")[-FILE_NAME_LENGTH:]
        or f"file.{ALLOWED_TYPES[content_type]}"
    )
    # RFC 6266: the plain name for old clients, the UTF-8 one (percent-encoded) for the others
    return (
        f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name[-FILE_NAME_LENGTH:], safe='')}"
    )
