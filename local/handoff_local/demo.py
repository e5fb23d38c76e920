"""`make demo`: the whole after-hours story on the embedded default, told as each party saw it.

A WhatsApp user asks for an agent at night, is offered to wait, says yes, chats with the bot
while waiting, asks again (no second transfer); an agent comes online in the morning, the user
is told; the agent takes the conversation and replies. A second user's wait expires after 24 h.
Everything runs through the real handlers on moto, with resources made from template.yaml.
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from handoff_local import payloads
from handoff_local.fake_graph import RecordedRequest, describe
from handoff_local.runtime import ROOT, LocalRun

CONFIG = ROOT / "examples" / "config.yaml"
TENANT = "acme"
PHONE_NUMBER_ID = "200000000000001"
ZONE_NAME = "America/Bogota"
ZONE = ZoneInfo(ZONE_NAME)
YES = "HANDOFF_WAIT_YES"


class Story:
    """Drives the local run and prints a readable transcript."""

    def __init__(self, run: LocalRun) -> None:
        self.run = run

    def now(self) -> datetime:
        from handoff import clock

        return clock.now()

    def heading(self, text: str) -> None:
        local = self.now().astimezone(ZONE)
        print(f"\n== {text}  [{local:%a %d %b %H:%M} America/Bogota]")

    def user_says(self, name: str, wa_id: str, text: str) -> None:
        self.run.advance(30)  # people take a moment to type
        print(f"  {name} writes: {text}")
        self._deliver(payloads.whatsapp_text(wa_id, text, self.now()), wa_id, name)

    def user_taps(self, name: str, wa_id: str, button_id: str, title: str) -> None:
        self.run.advance(10)
        print(f"  {name} taps: [{title}]")
        self._deliver(payloads.whatsapp_button_reply(wa_id, button_id, title, self.now()), wa_id, name)

    def _deliver(self, message: dict[str, Any], wa_id: str, name: str) -> None:
        body = payloads.whatsapp_delivery(
            PHONE_NUMBER_ID, message, contacts=[payloads.whatsapp_contact(wa_id, name)]
        )
        response = self.run.webhook("whatsapp", body)
        if response.status != 200:
            raise SystemExit(f"the webhook answered {response.status}: {response.body}")
        self.run.drain()

    def agent(self, method: str, path: str, agent_id: str, body: dict[str, Any] | None = None) -> Any:
        response = self.run.http(method, path, body=body, headers=self.run.as_agent(TENANT, agent_id))
        if response.status >= 400:
            raise SystemExit(f"Live answered {response.status}: {response.body}")
        self.run.drain()
        return response.json()

    def live_list(self, agent_id: str) -> list[dict[str, Any]]:
        conversations = self.agent("GET", "/live/conversations", agent_id)["conversations"]
        print(f"  Live, {agent_id}'s list:")
        for c in conversations:
            mark = "ON HOLD" if c["on_hold"] else c["state"]
            waited = f", waiting {c['waited_seconds'] // 60} min" if c["state"] == "queued" else ""
            print(f"    - {c['user_name']} ({c['channel']}) [{mark}{waited}]")
        if not conversations:
            print("    (empty)")
        return conversations


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def printer(request: RecordedRequest) -> None:
    print(f"    {describe(request)}")


def main() -> int:
    with LocalRun(CONFIG, graph_printer=printer) as run:
        story = Story(run)
        ana, bruno = "573001112233", "573004445566"

        run.advance_to(22, ZONE_NAME, weekday=True)
        story.heading("Night: Ana writes to the shop on WhatsApp; no agent is online")
        story.user_says("Ana", ana, "Hola")
        story.user_says("Ana", ana, "Quiero hablar con un agente")
        story.user_taps("Ana", ana, YES, "Sí, quiero esperar")
        story.live_list("carla")

        story.heading("Ana goes on chatting with the bot while she waits")
        story.user_says("Ana", ana, "¿Cuál es el horario de atención?")
        story.user_says("Ana", ana, "Por favor, un agente")
        print("  (shown the handoff message again; Live got no second transfer:)")
        story.live_list("carla")

        run.advance_to(9, ZONE_NAME, weekday=True)
        story.heading("Morning: agent Carla comes online in Live")
        story.agent("PUT", "/live/presence", "carla", {"online": True})
        [waiting] = story.live_list("carla")
        story.agent("POST", f"/live/conversations/{waiting['id']}/take", "carla")
        print("  Carla takes Ana's conversation and reads the transcript:")
        detail = story.agent("GET", f"/live/conversations/{waiting['id']}", "carla")
        for line in detail["transcript"]:
            print(f"    {line['author']:>6}: {line['text'] or '(' + line['kind'] + ')'}")
        story.agent(
            "POST",
            f"/live/conversations/{waiting['id']}/reply",
            "carla",
            {"text": "¡Hola Ana! Soy Carla, ¿en qué te ayudo?"},
        )
        story.user_says("Ana", ana, "Mi pedido no ha llegado")
        print("    (no bot reply: the conversation is with Carla)")
        story.agent("POST", f"/live/conversations/{waiting['id']}/close", "carla")
        story.agent("PUT", "/live/presence", "carla", {"online": False})

        run.advance_to(23, ZONE_NAME, weekday=True)
        story.heading("Night again: Bruno accepts to wait, and nobody comes for 24 hours")
        story.user_says("Bruno", bruno, "Necesito un agente")
        story.user_taps("Bruno", bruno, YES, "Sí, quiero esperar")
        run.advance(24 * 3600)
        story.heading("24 hours later: the minute schedule runs")
        summary = run.tick()
        print(f"  wake pass: {summary['waiting']} waiting, {summary['to_expire']} expired")
        story.live_list("carla")

        print("\n== Chat report (one row per bot session)")
        from handoff.store.keys import conversation_id
        from handoff.wiring import conversation_store

        names = {
            conversation_id(f"{TENANT}#whatsapp#{PHONE_NUMBER_ID}#{wa}"): n
            for n, wa in (("Ana", ana), ("Bruno", bruno))
        }
        rows = sorted(conversation_store().report_rows(TENANT), key=lambda r: r["started_at"])
        print(
            f"  {'user':<8}{'session':>8}  {'resolution':<15}{'after hours':<13}{'direct':<8}{'offered':<9}"
        )
        for row in rows:
            print(
                f"  {names.get(row['conversation_id'], '?'):<8}{row['session']:>8}  {row['resolution']:<15}"
                f"{_yes(row['after_hours']):<13}{_yes(row['direct']):<8}{_yes(row['offered']):<9}"
            )
        sent = len(run.graph.requests)
        print(f"\nDead-letter queue: {run.dead_letters()} messages. Graph API requests: {sent}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
