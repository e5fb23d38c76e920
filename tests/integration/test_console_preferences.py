"""The console in the agent's language and time zone, and its opt-in alerts (sound, desktop
notifications), in headless Chromium against the local run (console_steps.py)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from console_steps import YES, Phone, eventually, screenshot, sign_in
from local_server_process import next_night

# The browser's Notification and the tones the console plays, recorded: headless Chromium shows no
# notification and plays no sound, and a real permission prompt would wait for a person.
RECORD_ALERTS = """
window.__alerts = { notifications: [], tones: 0, asked: 0 };
class RecordedNotification {
  constructor(title, options = {}) {
    window.__alerts.notifications.push({ title, body: options.body || "", tag: options.tag || "" });
  }
  close() {}
}
RecordedNotification.permission = "default";
RecordedNotification.requestPermission = async () => {
  window.__alerts.asked += 1;
  RecordedNotification.permission = "granted";
  return "granted";
};
window.Notification = RecordedNotification;
const PageAudio = window.AudioContext;
window.AudioContext = class extends PageAudio {
  createOscillator() {
    window.__alerts.tones += 1;
    return super.createOscillator();
  }
};
"""


def alerts(page: Any) -> dict[str, Any]:
    return dict(page.evaluate("window.__alerts"))


def titles(page: Any) -> list[str]:
    return [n["title"] for n in alerts(page)["notifications"]]


def test_an_agent_who_opts_in_hears_and_sees_who_starts_waiting_and_writes(server, graph, page):
    from playwright.sync_api import expect

    page.add_init_script(RECORD_ALERTS)
    night = server.advance_to(next_night(server.now()))
    sign_in(page, server, "carla")
    expect(page.locator("#empty")).to_be_visible()

    # nothing is on until the agent says so; turning notifications on asks the browser once
    page.get_by_text("Preferences").click()
    sound, notify = page.get_by_label("Sound on new activity"), page.get_by_label("Desktop notifications")
    expect(sound).not_to_be_checked()
    expect(notify).not_to_be_checked()
    sound.check()
    notify.check()
    expect(notify).to_be_checked()
    assert alerts(page)["asked"] == 1
    tones = alerts(page)["tones"]  # checking the box plays the chime once, so the agent knows it
    assert tones > 0
    screenshot(page, "20-preferences")
    page.get_by_text("Preferences").click()

    # a user starts waiting: a tone and a notification naming them
    ana = Phone(server, graph, "573001110001", "Ana Pérez")
    ana.says("Quiero hablar con un agente")
    ana.taps(YES, "Sí, quiero esperar")
    expect(page.locator("#conversations li.conversation", has_text="Ana Pérez")).to_be_visible()
    eventually(lambda: "Ana Pérez is waiting for an agent" in titles(page), "the queue's notification")
    assert alerts(page)["tones"] > tones

    # the waiting user writes: another notification, with what they wrote
    server.advance_to(night + timedelta(minutes=5))
    ana.says("Sigo aquí, es por mi pedido 1234")
    eventually(lambda: "Ana Pérez wrote" in titles(page), "the new message's notification")
    wrote = [n for n in alerts(page)["notifications"] if n["title"] == "Ana Pérez wrote"][-1]
    assert wrote["body"] == "Sigo aquí, es por mi pedido 1234"
    assert wrote["tag"].startswith("handoff-")  # a newer one replaces it, one per conversation

    # what the agent does themselves is not news: taking the chat alerts nobody
    before = len(titles(page))
    item = page.locator("#conversations li.conversation", has_text="Ana Pérez")
    item.locator("button.open").click()
    page.get_by_role("button", name="Take").click()
    expect(item.locator(".badge.mine")).to_have_text("Yours")
    page.wait_for_timeout(3000)  # a poll later, still nothing
    assert len(titles(page)) == before, titles(page)

    # turned off, a new waiting user makes no notification
    page.get_by_text("Preferences").click()
    notify.uncheck()
    sound.uncheck()
    tones = alerts(page)["tones"]
    luis = Phone(server, graph, "573001110002", "Luis Gómez")
    luis.says("Necesito un agente")
    luis.taps(YES, "Sí, quiero esperar")
    expect(page.locator("#conversations li.conversation", has_text="Luis Gómez")).to_be_visible()
    page.wait_for_timeout(3000)
    assert "Luis Gómez is waiting for an agent" not in titles(page)
    assert alerts(page)["tones"] == tones


def shown_hour(text: str) -> int:
    """The hour of a short en-US time as the console shows it ("12/2/26, 9:05 PM")."""
    found = re.search(r"(\d{1,2}):(\d{2})\s*(AM|PM)", text.replace("\u202f", " "))
    assert found, text
    hour = int(found[1]) % 12
    return hour + 12 if found[3] == "PM" else hour


def test_the_console_speaks_the_agents_language_and_shows_their_time_zone(server, graph, page):
    from playwright.sync_api import expect

    server.advance_to(next_night(server.now()))
    ana = Phone(server, graph, "573001110003", "Ana Pérez")
    ana.says("Quiero hablar con un agente")
    ana.taps(YES, "Sí, quiero esperar")
    sign_in(page, server, "carla")
    item = page.locator("#conversations li.conversation", has_text="Ana Pérez")
    item.locator("button.open").click()
    expect(page.get_by_role("button", name="Take")).to_be_visible()

    # Spanish: the page's words, the list's badges, the transcript's authors, the page's language
    page.get_by_text("Preferences").click()
    page.get_by_label("Language").select_option("es")
    expect(page.get_by_role("button", name="Tomar")).to_be_visible()
    expect(page.locator("#list-title")).to_contain_text("Conversaciones")
    expect(item.locator(".badge")).to_have_text("En espera")
    expect(page.locator("#transcript .author").first).to_have_text("Usuario")
    expect(page.locator("#presence-text")).to_have_text("Desconectado")
    assert page.evaluate("document.documentElement.lang") == "es"
    screenshot(page, "21-console-in-spanish")

    # the choice is kept in this browser: a reload comes back in Spanish
    page.reload()
    expect(page.get_by_role("button", name="Cerrar sesión")).to_be_visible()
    expect(page.locator("summary")).to_have_text("Preferencias")

    page.get_by_text("Preferencias").click()
    page.get_by_label("Idioma").select_option("pt")
    expect(page.get_by_role("button", name="Sair")).to_be_visible()
    expect(item.locator(".badge")).to_have_text("Em espera")
    item.locator("button.open").click()
    expect(page.get_by_role("button", name="Assumir")).to_be_visible()
    screenshot(page, "22-console-in-portuguese")

    # the time zone: the transcript's times in the zone chosen, whatever the computer's
    page.get_by_label("Idioma").select_option("en")
    line = page.locator("#transcript time").first
    at = datetime.fromisoformat(str(line.get_attribute("datetime")).replace("Z", "+00:00"))
    for zone in ("Asia/Tokyo", "America/Sao_Paulo"):
        page.get_by_label("Time zone").select_option(zone)
        expect(line).not_to_have_text("")
        hour = at.astimezone(ZoneInfo(zone)).hour
        eventually(lambda h=hour: shown_hour(line.inner_text()) == h, f"times in {zone}")
    screenshot(page, "23-time-zone")
    page.get_by_label("Language").select_option("auto")
    expect(page.get_by_role("button", name="Take")).to_be_visible()  # Chromium here speaks English
