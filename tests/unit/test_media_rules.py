"""Where a user's file may be fetched from (Meta's CDN only: no SSRF), and what Live shows of it (never
the link nor Meta's media id)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from handoff.channels.media import on_meta_cdn, same_origin
from handoff.engine.model import Media, TranscriptEntry
from handoff.services.media import MediaView, line_id, transcript_line

AT = datetime(2026, 3, 4, 23, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "url",
    [
        "https://scontent-mia3-1.xx.fbcdn.net/v/t1.15752-9/4_n.jpg?_nc_cat=1&oh=00_AbC&oe=66A1B2C3",
        "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1&ext=2&hash=3",
        "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1&signature=x",
        "https://scontent.cdninstagram.com/v/t51/x.mp4",
        "https://mmg.whatsapp.net/v/t62.7118-24/abc?ccb=11-4",
        "https://LOOKASIDE.FBSBX.COM/x",
        "https://cdn.fbsbx.com:443/v/file.pdf",
        "https://fbcdn.net/x",
    ],
)
def test_metas_cdn_links_may_be_fetched(url: str) -> None:
    assert on_meta_cdn(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://scontent.xx.fbcdn.net/x.jpg",  # not https
        "https://scontent.xx.fbcdn.net:8443/x.jpg",  # not the default port
        "https://evilfbcdn.net/x.jpg",  # a look-alike, not a subdomain
        "https://fbcdn.net.evil.test/x.jpg",
        "https://fbcdn.net@evil.test/x.jpg",  # a user name that looks like the host
        "https://user:pass@scontent.xx.fbcdn.net/x.jpg",  # any user name or password
        "https://evil.test\\@fbcdn.net/x.jpg",  # parsers read a backslash two ways
        "https://evil.test#@fbcdn.net",
        "https://evil.test/?x=.fbcdn.net",
        "https://scontent.xx.fbcdn.net./x.jpg",
        "https://[::1]/x.jpg",
        "https://scontent.xx.fbcdn.net:abc/x.jpg",
        "https://169.254.169.254/latest/meta-data/",
        "file:///etc/passwd",
        "https://sçontent.fbcdn.net/x.jpg",
        "https://scontent.xx.fbcdn.net/x.jpg\r\nHost: evil.test",
        "",
    ],
)
def test_anything_else_is_never_requested(url: str) -> None:
    assert not on_meta_cdn(url)


def test_the_graph_apis_own_origin_is_recognised_by_scheme_host_and_port() -> None:
    base = "http://127.0.0.1:8123/v23.0"

    assert same_origin("http://127.0.0.1:8123/media-download/9?hash=x", base)
    assert same_origin("https://graph.facebook.com/x", "https://graph.facebook.com:443/v23.0")
    assert not same_origin("http://127.0.0.1:8124/media-download/9", base)
    assert not same_origin("https://127.0.0.1:8123/media-download/9", base)
    assert not same_origin("http://localhost:8123/media-download/9", base)
    assert not same_origin("http://x@127.0.0.1:8123/", base)


# --- what Live shows ----------------------------------------------------------------------------------


def test_a_files_line_shows_a_path_of_lives_own_never_the_link_nor_the_media_id() -> None:
    cdn = TranscriptEntry(
        at=AT,
        author="user",
        kind="image",
        event_id="m_SYNTHETIC/mid=",
        media=Media(url="https://scontent.xx.fbcdn.net/v/x.jpg?oh=secret-signature"),
    )
    whatsapp = TranscriptEntry(
        at=AT,
        author="user",
        kind="document",
        text="My invoice",
        event_id="wamid.HBgLMTU1NTAwMDIyMjIVAgASGBQ=",
        media=Media(
            media_id="900000000000005",
            mime_type="application/pdf",
            file_name="invoice.pdf",
            caption="My invoice",
        ),
    )

    shown = [transcript_line(line, "conv1") for line in (cdn, whatsapp)]
    text = json.dumps([line.model_dump(mode="json") for line in shown])

    assert "secret-signature" not in text and "fbcdn" not in text
    assert "900000000000005" not in text
    assert shown[0].media == MediaView(path=f"/live/conversations/conv1/media/{line_id('m_SYNTHETIC/mid=')}")
    assert shown[1].media == MediaView(
        mime_type="application/pdf",
        file_name="invoice.pdf",
        caption="My invoice",
        path=f"/live/conversations/conv1/media/{line_id(whatsapp.event_id or '')}",
    )
    assert (shown[1].kind, shown[1].text, shown[1].event_id) == ("document", "My invoice", whatsapp.event_id)


def test_a_line_id_holds_nothing_of_the_message_id_and_is_safe_in_a_path() -> None:
    wamid = "wamid.HBgLMTU1NTAwMDIyMjIVAgASGBQ+/=="

    assert line_id(wamid) == line_id(wamid)
    assert line_id(wamid) != line_id(wamid + "x")
    assert line_id(wamid).isalnum() and len(line_id(wamid)) == 32


def test_a_place_and_a_file_meta_gave_no_way_to_have_no_path() -> None:
    place = TranscriptEntry(
        at=AT,
        author="user",
        kind="location",
        event_id="wamid.2",
        media=Media(latitude=4.6, longitude=-74.08, name="Shop", address="Calle 1"),
    )
    no_file = TranscriptEntry(at=AT, author="user", kind="image", event_id="wamid.3", media=Media())

    assert transcript_line(place, "c").media == MediaView(
        latitude=4.6, longitude=-74.08, name="Shop", address="Calle 1"
    )
    assert transcript_line(no_file, "c").media == MediaView()
    assert transcript_line(TranscriptEntry(at=AT, author="bot", kind="text", text="hi"), "c").media is None
