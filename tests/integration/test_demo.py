"""`make demo` tells the story on all three channels, through the real handlers, and ends clean; then
the same shop with its own bot over HTTP (the example bot, in Rasa's REST format)."""

from __future__ import annotations

import contextlib
import io

import pytest

from handoff_local import demo
from handoff_local.server import example_bot


@pytest.fixture(scope="module")
def out() -> str:
    """What `make demo` prints (told once for the module: it takes seconds)."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert demo.main() == 0
    return printed.getvalue()


def test_the_demo_shows_whatsapp_messenger_and_instagram(out: str) -> None:
    for line in (
        "WhatsApp → Ana: En este momento no hay ningún agente en línea.",
        "Instagram → Iván: Ahora no hay asesores conectados en Instagram.",
        "[Sí, quiero esperar] | [No, gracias]",
        "Messenger → Marta: Ahora no hay asesores en Messenger.",
        "Messenger → Marta: Hola Marta, soy Carla.",
        "(tag HUMAN_AGENT)",
        "Dead-letter queue: 0 messages.",
    ):
        assert line in out, line
    assert out.count("(tag HUMAN_AGENT)") == 1, "only the agent's late follow-up is tagged"
    assert "Iván (instagram) [ON HOLD" in out and "direct]" in out


def test_the_demo_hands_off_from_the_shop_s_own_bot_over_http(out: str) -> None:
    heading = "== Part two: your own bot over HTTP (Rasa's REST format)"
    assert out.count(heading) == 1, "the demo tells part two once"
    part_one, part_two = out.split(heading)
    bot = example_bot().TEXTS["es"]
    menu = f"{bot['menu']} " + " | ".join(f"[{title}]" for title in bot["buttons"])
    story = [
        "Sofía (WhatsApp) writes: Hola",
        f"WhatsApp → Sofía: {menu}",  # the bot's menu, as WhatsApp reply buttons
        f"Sofía (WhatsApp) taps: [{bot['buttons'][2]}]",  # its payload, /agent, goes to the bot
        f"WhatsApp → Sofía: {bot['handoff']}",  # the bot's text before its handoff
        "WhatsApp → Sofía: En este momento no hay ningún agente en línea.",  # after hours: the offer
        "Sofía (WhatsApp) taps: [Sí, quiero esperar]",
        "WhatsApp → Sofía: Listo, quedaste en la fila de atención de Acme.",
        "- Sofía (whatsapp) [ON HOLD",  # waiting in Live
        "WhatsApp → Sofía: ¡Buenas noticias! Ya hay un agente disponible",  # Carla online: told
        "Dead-letter queue: 0 messages.",
    ]
    at = 0
    for line in story:
        found = part_two.find(line, at)
        assert found >= 0, f"{line!r} is missing after {story[max(0, story.index(line) - 1)]!r}"
        at = found + len(line)
    assert "Sofía" not in part_one, "part one is told as before"
