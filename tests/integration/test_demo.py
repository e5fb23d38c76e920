"""`make demo` tells the story on all three channels, through the real handlers, and ends clean."""

from __future__ import annotations

import pytest

from handoff_local import demo


def test_the_demo_shows_whatsapp_messenger_and_instagram(capsys: pytest.CaptureFixture[str]) -> None:
    assert demo.main() == 0
    out = capsys.readouterr().out
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
