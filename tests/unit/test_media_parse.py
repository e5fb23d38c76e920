"""What the user sent besides text, parsed into `Media`: WhatsApp's media ids and places, Messenger's and
Instagram's CDN links and places, their bounds, and the transcript line that keeps them."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from flow_support import Driver, tenant

from handoff.channels.media import FILE_NAME_LIMIT, URL_LIMIT
from handoff.channels.meta_platform import InstagramAdapter, MessengerAdapter
from handoff.channels.whatsapp import WhatsAppAdapter
from handoff.engine.model import ConversationRef, Media, TranscriptEntry, UserMessage

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
whatsapp = WhatsAppAdapter()
messenger = MessengerAdapter()
instagram = InstagramAdapter()


def fixture(channel: str, name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / channel / f"{name}.json").read_text(encoding="utf-8"))


def whatsapp_message(body: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = body["entry"][0]["changes"][0]["value"]["messages"][0]
    return message


def platform_message(body: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = body["entry"][0]["messaging"][0]["message"]
    return message


# --- WhatsApp ---------------------------------------------------------------------------------------

WHATSAPP_MEDIA = {
    "image": Media(media_id="900000000000001", mime_type="image/jpeg", caption="Damaged box"),
    "document": Media(
        media_id="900000000000005",
        mime_type="application/pdf",
        file_name="invoice-1234.pdf",
        caption="My invoice",
    ),
    # the type's parameters (`; codecs=opus`) are left out: what is checked is the type itself
    "audio_voice": Media(media_id="900000000000002", mime_type="audio/ogg"),
    "location": Media(
        latitude=37.4611978,
        longitude=-122.2164385,
        name="Example Venue",
        address="1 Example Way, Springfield",
    ),
    "location_pin": Media(latitude=0, longitude=0),  # a bare pin at 0, 0 is a place too
    "text": None,
    "interactive_button_reply_yes": None,
    "contacts": None,
}


@pytest.mark.parametrize(("name", "expected"), WHATSAPP_MEDIA.items())
def test_whatsapp_files_and_places_are_kept_with_their_message(name: str, expected: Media | None) -> None:
    [message] = whatsapp.parse(fixture("whatsapp", name))

    assert message.media == expected


@pytest.mark.parametrize("name", ["video", "sticker"])
def test_every_whatsapp_file_type_keeps_its_media_id_and_type(name: str) -> None:
    body = fixture("whatsapp", name)
    raw = whatsapp_message(body)[name]

    [message] = whatsapp.parse(body)

    assert message.media is not None
    assert message.media.media_id == raw["id"]
    assert message.media.mime_type == raw["mime_type"].split(";")[0]
    assert message.media.has_file


def test_a_file_name_is_kept_for_documents_only() -> None:
    body = fixture("whatsapp", "image")
    whatsapp_message(body)["image"]["filename"] = "photo.jpg"

    [message] = whatsapp.parse(body)

    assert message.media is not None and message.media.file_name is None


def test_a_media_id_that_is_not_valid_unicode_or_too_long_is_left_out_not_the_message() -> None:
    for bad_id in ("9000\ud83d", "9" * 300):
        body = fixture("whatsapp", "image")
        whatsapp_message(body)["image"]["id"] = bad_id

        [message] = whatsapp.parse(body)

        assert message.kind == "image"
        assert message.media is not None and message.media.media_id is None
        assert not message.media.has_file


def test_a_file_name_is_repaired_and_cut() -> None:
    body = fixture("whatsapp", "document")
    whatsapp_message(body)["document"]["filename"] = "bad\ud83d" + "x" * 1000 + ".pdf"

    [message] = whatsapp.parse(body)

    assert message.media is not None and message.media.file_name is not None
    assert message.media.file_name.startswith("bad\ufffdxxx")
    assert len(message.media.file_name) == FILE_NAME_LIMIT
    assert message.media.file_name.endswith("…")
    json.dumps(message.model_dump(mode="json")).encode()  # it can be queued


@pytest.mark.parametrize(
    "mime_type", ["image", "not a type", "text/html<script>", 7, "x/" + "y" * 300, "image/jpeg\r\nX-A: b"]
)
def test_a_declared_type_that_is_not_a_type_is_left_out(mime_type: Any) -> None:
    body = fixture("whatsapp", "image")
    whatsapp_message(body)["image"]["mime_type"] = mime_type

    [message] = whatsapp.parse(body)

    assert message.media is not None
    assert message.media.mime_type is None
    assert message.media.media_id == "900000000000001"


@pytest.mark.parametrize(
    ("latitude", "longitude"),
    [(91, 10), (10, -180.5), (True, 10), ("north", 10), (None, 10), (10, None), ([1], 10), (1e309, 10)],
)
def test_coordinates_out_of_range_or_not_numbers_are_left_out_together(latitude: Any, longitude: Any) -> None:
    body = fixture("whatsapp", "location")
    place = whatsapp_message(body)["location"]
    place["latitude"], place["longitude"] = latitude, longitude

    [message] = whatsapp.parse(body)

    assert message.media == Media(name="Example Venue", address="1 Example Way, Springfield")


def test_a_location_with_nothing_readable_has_no_media() -> None:
    body = fixture("whatsapp", "location")
    whatsapp_message(body)["location"] = {"latitude": "x"}

    [message] = whatsapp.parse(body)

    assert message.kind == "location"
    assert message.media is None


# --- Messenger and Instagram ----------------------------------------------------------------------

PLATFORM_MEDIA = {
    (messenger, "messenger", "image"): Media(url="https://cdn.example.test/synthetic-image"),
    (messenger, "messenger", "file"): Media(url="https://cdn.example.test/synthetic-file"),
    (messenger, "messenger", "sticker"): Media(url="https://cdn.example.test/synthetic-image"),
    (instagram, "instagram", "image"): Media(url="https://cdn.example.test/synthetic-image"),
    (instagram, "instagram", "story_mention"): Media(
        url="https://lookaside.example.test/mention/synthetic.mp4"
    ),
    (messenger, "messenger", "text"): None,
    (messenger, "messenger", "quick_reply"): None,
    (messenger, "messenger", "postback"): None,
    (messenger, "messenger", "fallback_share"): None,
    (instagram, "instagram", "ig_post_share"): None,
}


@pytest.mark.parametrize(("adapter", "channel", "name"), PLATFORM_MEDIA)
def test_platform_attachments_keep_their_cdn_link(adapter: Any, channel: str, name: str) -> None:
    [message] = adapter.parse(fixture(channel, name))

    assert message.media == PLATFORM_MEDIA[(adapter, channel, name)]


def test_every_platform_file_kind_keeps_its_link() -> None:
    for name, kind in (("audio", "audio"), ("video", "video"), ("file", "document")):
        [message] = messenger.parse(fixture("messenger", name))

        assert message.kind == kind
        assert message.media is not None and message.media.has_file


def test_a_messenger_location_keeps_its_coordinates_and_title() -> None:
    body = fixture("messenger", "image")
    platform_message(body)["attachments"] = [
        {
            "type": "location",
            "title": "Pinned Location",
            "payload": {"coordinates": {"lat": 4.6097, "long": -74.0817}},
        }
    ]

    [message] = messenger.parse(body)

    assert message.kind == "location"
    assert message.media == Media(latitude=4.6097, longitude=-74.0817, name="Pinned Location")


@pytest.mark.parametrize(
    "url", ["https://cdn.example.test/a b", "https://cdn.example.test/\\evil", "https://x/\ud83d", 42, None]
)
def test_a_link_a_url_parser_could_read_two_ways_is_not_kept(url: Any) -> None:
    body = fixture("messenger", "image")
    platform_message(body)["attachments"][0]["payload"]["url"] = url

    [message] = messenger.parse(body)

    assert message.kind == "image"
    assert message.media == Media()
    assert not message.media.has_file


def test_a_link_longer_than_the_limit_is_not_kept() -> None:
    body = fixture("messenger", "image")
    platform_message(body)["attachments"][0]["payload"]["url"] = "https://cdn.example.test/" + "a" * URL_LIMIT

    [message] = messenger.parse(body)

    assert message.media == Media()


# --- from the channel to the transcript -----------------------------------------------------------


def test_the_engine_event_and_the_users_transcript_line_carry_the_media() -> None:
    [parsed] = whatsapp.parse(fixture("whatsapp", "document"))
    driver = Driver(tenant())
    ref = ConversationRef(
        tenant_id="acme", channel="whatsapp", account_id=parsed.account_id, user_id=parsed.user_id
    )

    event = parsed.event(ref)
    effects = driver.apply(UserMessage.model_validate(event.model_dump()))

    assert event.media == parsed.media
    [line] = [e for e in effects if isinstance(e, TranscriptEntry) and e.author == "user"]
    assert (line.kind, line.media) == ("document", parsed.media)


def test_a_stored_line_without_media_still_reads() -> None:
    """Lines written before media were kept have no `media` key: they read as before."""
    line = TranscriptEntry(at="2026-03-04T23:00:00Z", author="user", kind="image", event_id="wamid.1")
    stored = json.loads(line.model_dump_json())
    del stored["media"]

    assert TranscriptEntry.model_validate(copy.deepcopy(stored)).media is None
