"""What the user sent, in the agents' console (issue 13; console_steps.py): a user waiting overnight
sends a photo, an invoice, a place and a voice note Meta no longer keeps; in the morning the agent sees
the photo, downloads the invoice, sees the place with a map link, and reads why the voice note cannot
be played. Each file is fetched once, from the Live API (which fetches it from the fake Graph API),
and only once its conversation is open."""

from __future__ import annotations

import struct
import zlib
from datetime import timedelta
from pathlib import Path
from typing import Any

from console_steps import YES, Phone, eventually, screenshot, sign_in
from local_server_process import next_night

from handoff_local import payloads

PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A real PNG of one colour (the browser must decode it, not merely receive it)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def media_gets(graph: Any) -> list[str]:
    return [r.path for r in graph.requests if r.method == "GET"]


def test_the_agent_sees_the_photo_downloads_the_invoice_and_sees_the_place(
    server, graph, page, tmp_path: Path
):
    from playwright.sync_api import expect

    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    photo = png(96, 64, (11, 92, 173))
    photo_id = graph.add_media(photo, "image/png")
    invoice_id = graph.add_media(PDF, "application/pdf")
    voice_id = graph.add_media(b"OggS voice", "audio/ogg")

    # Given a night in Bogotá, Lucía waits for an agent and sends what shows her problem
    night = server.advance_to(next_night(server.now()))
    lucia = Phone(server, graph, "573009990050", "Lucía Media")
    lucia.says("Quiero hablar con un agente")
    lucia.taps(YES, "Sí, quiero esperar")
    lucia.deliver(
        payloads.whatsapp_media(
            lucia.wa_id, "image", photo_id, "image/png", server.advance(5), caption="Así llegó la caja"
        )
    )
    lucia.deliver(
        payloads.whatsapp_media(
            lucia.wa_id,
            "document",
            invoice_id,
            "application/pdf",
            server.advance(5),
            filename="factura-4411.pdf",
        )
    )
    lucia.deliver(
        payloads.whatsapp_location(
            lucia.wa_id,
            4.6533,
            -74.0836,
            server.advance(5),
            name="Tienda Chapinero",
            address="Calle 60 # 9-20",
        )
    )
    lucia.deliver(
        payloads.whatsapp_media(lucia.wa_id, "audio", voice_id, "audio/ogg; codecs=opus", server.advance(5))
    )
    graph.forget_media(voice_id)  # Meta lost the voice note before anyone listened

    # When Carla signs in in the morning, nothing is fetched until she opens the conversation
    server.advance_to(night + timedelta(hours=12))
    sign_in(page, server, "carla")
    item = page.locator("#conversations li.conversation", has_text="Lucía Media")
    expect(item).to_be_visible()
    screenshot(page, "50-media-waiting")
    assert media_gets(graph) == []
    page.set_viewport_size({"width": 1280, "height": 640})  # a laptop's screen: the last lines below the fold
    item.locator("button.open").click()

    # Then she sees the photo, decoded, with its caption as its text
    transcript = page.locator("#transcript")
    image = transcript.locator("img.media-image")
    expect(image).to_be_visible()
    expect(image).to_have_attribute("alt", "Así llegó la caja")
    eventually(lambda: image.evaluate("img => img.complete && img.naturalWidth") == 96, "the photo decoded")
    assert (image.get_attribute("src") or "").startswith("blob:")
    # the voice note's line is below the fold: it is fetched only once she scrolls to it
    assert f"/{voice_id}" not in media_gets(graph)

    # the invoice is a download with its name and size
    invoice = transcript.get_by_role("link", name="Download factura-4411.pdf")
    expect(invoice).to_contain_text("kB")
    with page.expect_download() as download:
        invoice.click()
    assert download.value.suggested_filename == "factura-4411.pdf"
    saved = tmp_path / "factura.pdf"
    download.value.save_as(saved)
    assert saved.read_bytes() == PDF

    # the place: its name and address, its coordinates, a link to a map (opened by her, not fetched)
    place = transcript.locator(".entry", has_text="Tienda Chapinero — Calle 60 # 9-20")
    expect(place.locator(".coordinates")).to_have_text("Coordinates 4.6533, -74.0836")
    map_link = place.get_by_role("link", name="Open Tienda Chapinero in a map (a new tab)")
    assert map_link.get_attribute("href") == (
        "https://www.openstreetmap.org/?mlat=4.6533&mlon=-74.0836#map=17/4.6533/-74.0836"
    )
    assert map_link.get_attribute("target") == "_blank"

    # the voice note Meta no longer has: the API's reason on its line, and a way to try again
    voice = transcript.locator(".entry.author-user", has_text="audio")
    voice.scroll_into_view_if_needed()
    failed = voice.locator(".media-error")
    expect(failed).to_have_text(
        "The file cannot be shown: the file is no longer available at Meta (deleted, or its link expired)"
    )
    expect(transcript.get_by_role("button", name="Try again")).to_be_visible()
    screenshot(page, "51-media-transcript")

    # each file was fetched once, through Meta's metadata then its URL, and the list's refreshes
    # (every 2.5 s) draw the transcript again without fetching anything again
    fetched = media_gets(graph)
    assert fetched.count(f"/{photo_id}") == 1 and fetched.count(f"/{invoice_id}") == 1
    assert f"/{voice_id}" in fetched
    page.wait_for_timeout(6000)
    expect(image).to_be_visible()
    assert media_gets(graph) == fetched
    screenshot(page, "52-media-after-refresh")
    assert errors == []
