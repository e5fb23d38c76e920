"""People, not ids, and the handover, in the agents' console (issue 13; console_steps.py): two agents
each in their own browser tab, signed in with a display name, hand a conversation from one to the
other and back to the queue, where it is first in line again."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from console_steps import YES, Phone, eventually, screenshot
from local_server_process import next_night

CARLA_ID, CARLA = "u-carla-7f3c", "Carla Gómez"
DIEGO_ID, DIEGO = "u-diego-2b91", "Diego Ruiz"


def sign_in_as(page: Any, server: Any, agent_id: str, name: str) -> None:
    """The local sign-in with a display name, then online (the handover picker lists online agents)."""
    from playwright.sync_api import expect

    page.goto(f"{server.url}/console/")
    page.get_by_label("Tenant").fill("acme")
    page.get_by_label("Agent").fill(agent_id)
    page.get_by_label("Name (optional)").fill(name)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("switch").check()
    expect(page.locator("#presence-text")).to_have_text("Online")


def a_second_tab(page: Any) -> tuple[Any, list[str]]:
    """Another tab of the same browser: its own session (tokens are kept per tab), and what it would
    complain of (a block by the Content-Security-Policy, a script error)."""
    tab = page.context.new_page()
    complaints: list[str] = []
    tab.on("console", lambda m: complaints.extend([m.text] if "Content Security Policy" in m.text else []))
    tab.on("pageerror", lambda error: complaints.append(str(error)))
    return tab, complaints


def test_carla_hands_a_conversation_to_diego_who_puts_it_back_first_in_line(server, graph, page):
    from playwright.sync_api import expect

    browser_errors: list[str] = []
    page.on("pageerror", lambda error: browser_errors.append(str(error)))

    # Given Ana, then Luis, asked for an agent at night and wait
    night = server.advance_to(next_night(server.now()))
    ana = Phone(server, graph, "573009990041", "Ana Traspaso")
    ana.says("Quiero hablar con un agente")
    ana.taps(YES, "Sí, quiero esperar")
    server.advance(600)
    luis = Phone(server, graph, "573009990042", "Luis Después")
    luis.says("Necesito un agente")
    luis.taps(YES, "Sí, quiero esperar")
    server.advance_to(night + timedelta(hours=12))

    # In the morning Diego is online in his tab, and Carla in hers takes Ana's conversation
    diego, diegos_complaints = a_second_tab(page)
    sign_in_as(diego, server, DIEGO_ID, DIEGO)
    sign_in_as(page, server, CARLA_ID, CARLA)
    expect(page.locator("#who")).to_have_text(f"{CARLA} · acme")  # her name, never her id
    item = page.locator("#conversations li.conversation", has_text="Ana Traspaso")
    item.locator("button.open").click()
    page.get_by_role("button", name="Take").click()
    expect(item.locator(".badge.mine")).to_have_text("Yours")
    transcript = page.locator("#transcript")
    expect(transcript.locator(".author-system", has_text=f"{CARLA} took the conversation.")).to_be_visible()
    reply = "Hola Ana, soy Carla."
    page.get_by_label("Reply").fill(reply)
    page.get_by_role("button", name="Send", exact=True).click()
    mine = transcript.locator(".author-agent", has_text=reply)
    expect(mine.locator(".author")).to_have_text(CARLA)  # the line says which agent wrote it
    ana.wait_to_read(reply)
    screenshot(page, "40-carla-took-it-by-name")

    # Diego sees the conversation as Carla's, by name: no agent id anywhere on his screen
    theirs = diego.locator("#conversations li.conversation", has_text="Ana Traspaso")
    expect(theirs.locator(".badge.taken")).to_have_text(f"With {CARLA}")
    theirs.locator("button.open").click()
    expect(diego.locator("#pane-meta")).to_contain_text(f"With {CARLA}")
    expect(diego.locator("#transcript .author-agent .author")).to_have_text(CARLA)
    expect(diego.locator("#handover-form")).to_be_hidden()  # not his to hand over
    for id_ in (CARLA_ID, DIEGO_ID):
        assert id_ not in diego.locator("body").inner_text()
    screenshot(diego, "41-diego-sees-carlas-name")

    # Carla hands it to Diego: the picker lists him by name (not herself) and the way back to the queue
    told = len(ana.texts())
    handover = page.get_by_label("Hand over to")
    expect(handover.locator("option")).to_have_text(
        [f"{DIEGO} (0 of 3 chats)", "Back to the queue (keeps its place)"]
    )
    handover.select_option(label=f"{DIEGO} (0 of 3 chats)")
    screenshot(page, "42-carla-picks-diego")
    page.get_by_role("button", name="Hand over").click()
    expect(item.locator(".badge.taken")).to_have_text(f"With {DIEGO}")
    expect(page.locator("#pane-meta")).to_contain_text(f"With {DIEGO}")
    expect(page.get_by_role("button", name="Send", exact=True)).to_be_hidden()  # no longer hers to answer
    expect(page.locator("#handover-form")).to_be_hidden()
    expect(
        transcript.locator(".author-system", has_text=f"{CARLA} handed the conversation to {DIEGO}.")
    ).to_be_visible()
    screenshot(page, "43-handed-to-diego")

    # Diego sees it as his, and can answer
    expect(theirs.locator(".badge.mine")).to_have_text("Yours")
    expect(diego.get_by_role("button", name="Send", exact=True)).to_be_visible()
    expect(diego.locator("#handover-form")).to_be_visible()
    screenshot(diego, "44-diego-has-it")

    # Then Diego puts it back in the queue: it waits again, first in line, ahead of Luis
    diego.get_by_label("Hand over to").select_option(label="Back to the queue (keeps its place)")
    diego.get_by_role("button", name="Hand over").click()
    expect(theirs.locator(".badge.hold")).to_have_text("On hold")
    expect(diego.get_by_role("button", name="Take")).to_be_visible()
    first = diego.locator("#conversations li.conversation").first
    expect(first).to_contain_text("Ana Traspaso")
    expect(
        diego.locator(
            "#transcript .author-system", has_text=f"{DIEGO} put the conversation back in the queue."
        )
    ).to_be_visible()
    screenshot(diego, "45-back-first-in-line")
    expect(page.locator("#conversations li.conversation").first).to_contain_text("Ana Traspaso")
    screenshot(page, "46-carla-sees-it-waiting")

    eventually(lambda: server.drain()["pending_outbox"] == 0, "the outbox emptied")
    assert len(ana.texts()) == told  # the user was not told of either handover
    assert browser_errors == [] and diegos_complaints == []
