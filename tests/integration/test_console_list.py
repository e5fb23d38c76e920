"""The console asks for the Live list with the tag of the one it holds, and an unchanged list costs
a 304 with no body (issue 14): headless Chromium against the local run (console_steps.py)."""

from __future__ import annotations

from typing import Any

from console_steps import YES, Phone, eventually, screenshot
from local_server_process import next_night


def test_the_console_polls_with_if_none_match_and_an_unchanged_list_is_a_304(server, graph, page):
    from playwright.sync_api import expect

    answers: list[tuple[int, str | None]] = []  # the list's answers: status and the tag asked with

    def seen(response: Any) -> None:
        if response.url.split("?")[0].endswith("/live/conversations") and response.request.method == "GET":
            answers.append((response.status, response.request.headers.get("if-none-match")))

    page.on("response", seen)
    server.advance_to(next_night(server.now()))
    ana = Phone(server, graph, "573001230001", "Ana Etiqueta")
    ana.says("Quiero hablar con un agente")
    ana.taps(YES, "Sí, quiero esperar")
    page.goto(f"{server.url}/console/?push=off")  # polling every 2.5 s, the fallback of live updates
    page.get_by_label("Tenant").fill("acme")
    page.get_by_label("Agent").fill("carla")
    page.get_by_role("button", name="Sign in").click()
    item = page.locator("#conversations li.conversation", has_text="Ana Etiqueta")
    expect(item).to_be_visible()

    # the first answer is whole; the polls after it carry its tag and cost a 304, the list stays
    # (Playwright hands over the page's events while it is called: the condition waits through it)
    eventually(
        lambda: page.wait_for_timeout(100) or sum(status == 304 for status, _ in answers) >= 2,
        "two polls answered 304",
    )
    assert answers[0] == (200, None)
    assert all(tag for status, tag in answers if status == 304)
    expect(item).to_be_visible()
    expect(page.locator("#count")).to_have_text("(1)")
    screenshot(page, "70-list-not-modified")

    # a change answers whole again, and the console shows it
    luis = Phone(server, graph, "573001230002", "Luis Etiqueta")
    luis.says("Necesito un agente")
    luis.taps(YES, "Sí, quiero esperar")
    expect(page.locator("#conversations li.conversation", has_text="Luis Etiqueta")).to_be_visible()
    expect(page.locator("#count")).to_have_text("(2)")
    assert page.title().startswith("(2) ")
