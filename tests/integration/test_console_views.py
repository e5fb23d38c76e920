"""The console's views in a real browser (console_steps.py): three users on WhatsApp and Messenger,
an agent who switches between Queue, Mine, All and Closed, filters by channel, searches by name and
by a text of the transcript, and reads a closed conversation that no action can change."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

from console_steps import YES, Phone, screenshot, sign_in
from local_server_process import ACME, LocalServerProcess, next_night

from handoff.config.models import HandoffRule
from handoff.engine.flow import in_business_hours
from handoff_local import payloads

ACME_PAGE = "300000000000001"  # acme's Facebook page (Messenger) in examples/config.yaml
TITLE = "Live: agents' console"


def messenger_rule() -> HandoffRule:
    rule = ACME.rule_for("messenger")
    assert rule is not None
    return rule


def weekday_night(server: LocalServerProcess) -> datetime:
    """A night after which acme's Messenger (weekdays only) is open at 10:00 too."""
    night = next_night(server.now())
    while not in_business_hours(messenger_rule(), night + timedelta(hours=12)):
        night = next_night(night)
    return night


def messenger_user_writes(server: LocalServerProcess, psid: str, text: str) -> None:
    event = payloads.meta_platform_text(psid, ACME_PAGE, text, server.advance(5))
    body = payloads.meta_platform_delivery("messenger", ACME_PAGE, event)
    answer = server.webhook(json.dumps(body, ensure_ascii=False).encode(), "messenger")
    assert answer.status == 200, answer.text
    server.drain()


def test_an_agent_switches_views_filters_searches_and_reads_a_closed_chat(server, graph, page):
    from playwright.sync_api import expect

    browser_errors: list[str] = []
    page.on("pageerror", lambda error: browser_errors.append(str(error)))
    items = page.locator("#conversations li.conversation")
    names = items.locator(".name")

    # Given Ana and Bruno wait on WhatsApp overnight
    night = server.advance_to(weekday_night(server))
    for wa_id, name in (("573009990061", "Ana Vistas"), ("573009990062", "Bruno Núñez")):
        user = Phone(server, graph, wa_id, name)
        user.says("Quiero hablar con un agente")
        user.taps(YES, "Sí, quiero esperar")
        server.drain()

    # In the morning Carla signs in and goes online; then a Messenger user asks for an agent
    server.advance_to(night + timedelta(hours=12))
    sign_in(page, server, "carla")
    page.get_by_role("switch").check()
    expect(page.locator("#presence-text")).to_have_text("Online")
    messenger_user_writes(
        server, "7100000000000061", "Necesito un asesor: la nevera llegó con la puerta dañada"
    )

    # All is the first view: the three, the queue first; the tabs count what they hold
    tabs = page.get_by_role("tablist", name="Views")
    expect(items).to_have_count(3)
    expect(tabs.get_by_role("tab", name="All (3)")).to_have_attribute("aria-selected", "true")
    expect(tabs.get_by_role("tab", name="Queue (3)")).to_be_visible()
    expect(tabs.get_by_role("tab", name="Mine (0)")).to_be_visible()
    expect(page).to_have_title(f"(3) {TITLE}")
    screenshot(page, "60-views-all")

    # Mine is empty, and says so in its own words
    tabs.get_by_role("tab", name="Mine").click()
    expect(page.locator("#empty")).to_have_text("You have no chats.")
    expect(items).to_have_count(0)

    # She takes Ana from All: Mine holds her, and the tab title counts the two still waiting
    tabs.get_by_role("tab", name="All").click()
    items.filter(has_text="Ana Vistas").locator("button.open").click()
    page.get_by_role("button", name="Take").click()
    expect(tabs.get_by_role("tab", name="Mine (1)")).to_be_visible()
    tabs.get_by_role("tab", name="Mine").click()
    expect(names).to_have_text(["Ana Vistas"])
    expect(page).to_have_title(f"(2) {TITLE}")
    screenshot(page, "61-views-mine")

    # The arrow keys move between the tabs: Queue, the longest waiting first
    tabs.get_by_role("tab", name="Mine").focus()
    page.keyboard.press("ArrowLeft")
    expect(tabs.get_by_role("tab", name="Queue (2)")).to_have_attribute("aria-selected", "true")
    expect(tabs.get_by_role("tab", name="Queue (2)")).to_be_focused()
    expect(names).to_have_text(["Bruno Núñez", "Unnamed user"])

    # The channel filter: the queue's Messenger user only
    page.get_by_label("Channel").select_option("messenger")
    expect(items).to_have_count(1)
    expect(items.locator(".channel")).to_have_text("Messenger")
    screenshot(page, "62-views-queue-messenger")
    page.get_by_label("Channel").select_option("")
    expect(items).to_have_count(2)

    # The search, over All: a text of a transcript, a name without its accent; Escape clears it
    tabs.get_by_role("tab", name="All").click()
    search = page.get_by_label("Search")
    search.fill("NEVERA")
    expect(items).to_have_count(1)
    expect(items.locator(".channel")).to_have_text("Messenger")
    search.fill("nunez")
    expect(names).to_have_text(["Bruno Núñez"])
    screenshot(page, "63-views-search")
    search.fill("pedido que nadie escribió")
    expect(page.locator("#empty")).to_have_text(
        "No conversation of this view matches the channel or the search."
    )
    search.press("Escape")
    expect(search).to_have_value("")
    expect(items).to_have_count(3)

    # She answers Ana and closes the chat: Ana leaves Live
    tabs.get_by_role("tab", name="Mine").click()
    items.filter(has_text="Ana Vistas").locator("button.open").click()
    page.get_by_label("Reply").fill("Listo Ana, quedó resuelto.")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#transcript .author-agent", has_text="quedó resuelto")).to_be_visible()
    page.get_by_role("button", name="Close conversation").click()
    expect(items).to_have_count(0)
    expect(page.locator("#pane-meta")).to_have_text("With the bot")  # no longer in Live

    # Closed lists her with who closed it and when; the polls keep the view, the title still counts
    tabs.get_by_role("tab", name="Closed").click()
    closed = items.filter(has_text="Ana Vistas")
    expect(closed.locator(".badge.closed")).to_have_text("Closed")
    expect(closed.locator(".closed-by")).to_have_text(re.compile(r"^Closed by carla on \S+"))
    expect(page.locator("#pane-meta")).to_have_text(re.compile(r"^Closed by carla on .+ · read only$"))
    page.wait_for_timeout(3000)  # a poll or more
    expect(tabs.get_by_role("tab", name="Closed")).to_have_attribute("aria-selected", "true")
    expect(items).to_have_count(1)
    expect(page).to_have_title(f"(2) {TITLE}")
    screenshot(page, "64-views-closed")

    # Opened, it reads whole and read-only: no take, reply, template or close
    closed.locator("button.open").click()
    transcript = page.locator("#transcript")
    expect(transcript.locator(".author-user", has_text="Quiero hablar con un agente")).to_be_visible()
    expect(transcript.locator(".author-agent", has_text="quedó resuelto")).to_be_visible()
    expect(page.locator("#pane-meta")).to_have_text(re.compile(r"^Closed by carla on .+ · read only$"))
    for action in ("Take", "Send", "Close conversation", "Send template"):
        expect(page.get_by_role("button", name=action)).to_be_hidden()
    expect(page.get_by_label("Reply")).to_be_hidden()
    screenshot(page, "65-views-closed-read-only")
    assert browser_errors == []
