"""`make demo`: the whole after-hours story on the embedded default, told as each party saw it.

One shop, three channels, each with its own rule (examples/config.yaml): Ana on WhatsApp and Iván
on Instagram ask for an agent at night, are offered to wait and say yes; Ana chats with the bot
while she waits and asks again (no second transfer), while on Instagram (`direct`) the bot stays
silent. Marta's Messenger has no after-hours mode: she hears that nobody is there, and is handed
over the conventional way in the morning. When agent Carla comes online the waiting users are
told; she takes and answers each, and two days later follows up with Iván, which Instagram only
accepts as a person's reply tagged HUMAN_AGENT. Bruno's wait on WhatsApp expires after 24 hours.

Then the same shop with its own bot over HTTP, in Rasa's REST format: examples/rasa_bot.py on a free
loopback port, acme's config with `bot: {kind: http, http: {url: ...}}` in a second run. Sofía
greets it and gets its menu as WhatsApp reply buttons, taps "talk to an agent" (the payload /agent
goes back to the bot, which asks for a handoff), accepts to wait, and is told when Carla comes online.
Everything runs through the real handlers on moto, with resources made from template.yaml.
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from handoff_local import payloads
from handoff_local.fake_graph import RecordedRequest, describe
from handoff_local.runtime import LocalRun
from handoff_local.server import start_example_bot
from handoff_tools.functions import ROOT

CONFIG = ROOT / "examples" / "config.yaml"
TENANT = "acme"
ACCOUNTS = {  # acme's channel accounts in examples/config.yaml
    "whatsapp": "200000000000001",
    "messenger": "300000000000001",
    "instagram": "17841400000000001",
}
CHANNEL_NAMES = {"whatsapp": "WhatsApp", "messenger": "Messenger", "instagram": "Instagram"}
ZONE_NAME = "America/Bogota"
ZONE = ZoneInfo(ZONE_NAME)
YES = "HANDOFF_WAIT_YES"


@dataclass(frozen=True)
class Person:
    """A user of one channel: `user_id` is the WhatsApp number, the Messenger PSID or the Instagram IGSID."""

    name: str
    channel: str
    user_id: str

    @property
    def conversation_key(self) -> str:
        return f"{TENANT}#{self.channel}#{ACCOUNTS[self.channel]}#{self.user_id}"

    @property
    def recipient(self) -> str:
        """How the Graph API requests address them: `to` on WhatsApp, `recipient.id` on Meta's platform."""
        return f"+{self.user_id}" if self.channel == "whatsapp" else self.user_id


ANA = Person("Ana", "whatsapp", "573001112233")
BRUNO = Person("Bruno", "whatsapp", "573004445566")
MARTA = Person("Marta", "messenger", "4000000000000001")
IVAN = Person("Iván", "instagram", "6000000000000001")
SOFIA = Person("Sofía", "whatsapp", "573007778899")  # part two: the shop's own bot over HTTP
PEOPLE = (ANA, BRUNO, MARTA, IVAN, SOFIA)


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

    def says(self, person: Person, text: str) -> None:
        self.run.advance(30)  # people take a moment to type
        print(f"  {person.name} ({CHANNEL_NAMES[person.channel]}) writes: {text}")
        if person.channel == "whatsapp":
            self._deliver(person, payloads.whatsapp_text(person.user_id, text, self.now()))
        else:
            account = ACCOUNTS[person.channel]
            self._deliver(person, payloads.meta_platform_text(person.user_id, account, text, self.now()))

    def taps(self, person: Person, payload: str, title: str) -> None:
        self.run.advance(10)
        print(f"  {person.name} ({CHANNEL_NAMES[person.channel]}) taps: [{title}]")
        if person.channel == "whatsapp":
            self._deliver(person, payloads.whatsapp_button_reply(person.user_id, payload, title, self.now()))
        else:
            account = ACCOUNTS[person.channel]
            tap = payloads.meta_platform_quick_reply(person.user_id, account, payload, title, self.now())
            self._deliver(person, tap)

    def echo(self, person: Person, text: str) -> None:
        """Meta sends the page's own message back (`message_echoes`): acknowledged, never answered."""
        account = ACCOUNTS[person.channel]
        self._deliver(person, payloads.meta_platform_echo(person.user_id, account, text, self.now()))
        print("    (Meta echoes it back to the webhook: acknowledged, and the bot does not answer it)")

    def _deliver(self, person: Person, message: dict[str, Any]) -> None:
        if person.channel == "whatsapp":
            body = payloads.whatsapp_delivery(
                ACCOUNTS["whatsapp"],
                message,
                contacts=[payloads.whatsapp_contact(person.user_id, person.name)],
            )
        else:
            body = payloads.meta_platform_delivery(person.channel, ACCOUNTS[person.channel], message)
        response = self.run.webhook(person.channel, body)
        if response.status != 200:
            raise SystemExit(f"the {person.channel} webhook answered {response.status}: {response.body}")
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
            mark = (
                f"with {c['agent_id']}"
                if c["state"] == "with_agent"
                else "ON HOLD"
                if c["on_hold"]
                else "queued"
            )
            waited = f", waiting {c['waited_seconds'] // 60} min" if c["state"] == "queued" else ""
            direct = ", direct" if c["direct"] else ""
            print(f"    - {name_of(c['id'])} ({c['channel']}) [{mark}{waited}{direct}]")
        if not conversations:
            print("    (empty)")
        return conversations

    def conversation_of(self, person: Person, agent_id: str) -> str:
        wanted = id_of(person)
        listed = self.agent("GET", "/live/conversations", agent_id)["conversations"]
        [found] = [c["id"] for c in listed if c["id"] == wanted]
        return str(found)


def id_of(person: Person) -> str | None:
    """The opaque id Live and the report give the person's conversation (None before it exists)."""
    from handoff.runtime.wiring import conversation_store

    stored = conversation_store().load_key(person.conversation_key)
    return stored.id if stored is not None else None


def name_of(conversation_id: str) -> str:
    return next((p.name for p in PEOPLE if id_of(p) == conversation_id), "?")


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def printer(request: RecordedRequest) -> None:
    """What reaches each user, by name and channel (the fake Graph API's own line masks the id)."""
    body = request.json if isinstance(request.json, dict) else {}
    recipient = body.get("recipient")
    address = recipient.get("id") if isinstance(recipient, dict) else body.get("to") or recipient
    person = next((p for p in PEOPLE if p.recipient == address), None)
    line = describe(request)
    if person is not None:
        line = f"{CHANNEL_NAMES[person.channel]} → {person.name}: {line.split(': ', 1)[1]}"
    print(f"    {line}")


def main() -> int:
    shop_story()
    own_bot_story()
    return 0


def shop_story() -> None:
    """Part one: the shop's built-in bot, on all three channels."""
    with LocalRun(CONFIG, graph_printer=printer) as run:
        story = Story(run)

        run.advance_to(22, ZONE_NAME, weekday=True)
        story.heading("Night: three customers write to the shop; no agent is online")
        story.says(ANA, "Hola")
        story.says(ANA, "Quiero hablar con un agente")
        story.taps(ANA, YES, "Sí, quiero esperar")
        story.says(IVAN, "Hola, quiero hablar con un asesor")
        story.taps(IVAN, YES, "Sí, quiero esperar")
        story.says(MARTA, "Necesito hablar con una persona")
        print("  (Messenger has no after-hours mode in this shop's rules: nothing is offered)")
        story.live_list("carla")

        story.heading("While they wait: Ana chats with the bot; on Instagram (direct) the bot is silent")
        story.says(ANA, "¿Cuál es el horario de atención?")
        story.says(ANA, "Por favor, un agente")
        print("  (shown the handoff message again; Live got no second transfer)")
        story.says(IVAN, "Es por un cambio de talla")
        print("    (no bot reply: kept for the agent)")
        story.live_list("carla")

        run.advance_to(9, ZONE_NAME, weekday=True)
        story.heading("Morning: agent Carla comes online in Live; the waiting users are told")
        story.agent("PUT", "/live/presence", "carla", {"online": True})
        story.live_list("carla")
        ana = story.conversation_of(ANA, "carla")
        story.agent("POST", f"/live/conversations/{ana}/take", "carla")
        print("  Carla takes Ana's conversation and reads the transcript:")
        detail = story.agent("GET", f"/live/conversations/{ana}", "carla")
        for line in detail["transcript"]:
            print(f"    {line['author']:>6}: {line['text'] or '(' + line['kind'] + ')'}")
        story.agent(
            "POST",
            f"/live/conversations/{ana}/reply",
            "carla",
            {"text": "¡Hola Ana! Soy Carla, ¿en qué te ayudo?"},
        )
        story.says(ANA, "Mi pedido no ha llegado")
        print("    (no bot reply: the conversation is with Carla)")
        story.agent("POST", f"/live/conversations/{ana}/close", "carla")
        ivan = story.conversation_of(IVAN, "carla")
        story.agent("POST", f"/live/conversations/{ivan}/take", "carla")
        story.agent(
            "POST", f"/live/conversations/{ivan}/reply", "carla", {"text": "Hola Iván, ¿qué talla necesitas?"}
        )

        story.heading("Marta writes again on Messenger, now that someone is there")
        story.says(MARTA, "Hola, ¿ya hay alguien? Quiero hablar con un agente")
        marta = story.conversation_of(MARTA, "carla")
        story.agent("POST", f"/live/conversations/{marta}/take", "carla")
        story.agent(
            "POST",
            f"/live/conversations/{marta}/reply",
            "carla",
            {"text": "Hola Marta, soy Carla. Cuéntame."},
        )
        story.echo(MARTA, "Hola Marta, soy Carla. Cuéntame.")
        story.agent("POST", f"/live/conversations/{marta}/close", "carla")
        story.agent("PUT", "/live/presence", "carla", {"online": False})

        run.advance_to(23, ZONE_NAME, weekday=True)
        story.heading("Night again: Bruno accepts to wait on WhatsApp, and nobody comes for 24 hours")
        story.says(BRUNO, "Necesito un agente")
        story.taps(BRUNO, YES, "Sí, quiero esperar")
        run.advance(24 * 3600)
        story.heading("24 hours later: the minute schedule runs")
        summary = run.tick()
        print(f"  wake pass: {summary['to_expire']} wait over, {summary['to_wake']} told")
        story.live_list("carla")

        story.heading("Carla follows up with Iván, two days after his last message")
        print("  (Instagram takes only a person's reply now, tagged HUMAN_AGENT, up to 7 days)")
        story.agent(
            "POST",
            f"/live/conversations/{ivan}/reply",
            "carla",
            {"text": "Iván, ya tenemos tu talla. ¿Te la envío?"},
        )

        print("\n== Chat report (one row per bot session)")
        from handoff.runtime.wiring import conversation_store

        names = {id_of(p): p.name for p in PEOPLE}
        rows = sorted(conversation_store().report_rows(TENANT), key=lambda r: r.started_at)
        print(
            f"  {'user':<7}{'channel':<11}{'session':>7}  {'resolution':<15}{'after hours':<13}{'direct':<8}"
            f"{'offered':<9}"
        )
        for row in rows:
            print(
                f"  {names.get(row.conversation_id, '?'):<7}{row.channel:<11}{row.session:>7}  "
                f"{row.resolution:<15}{_yes(row.after_hours):<13}{_yes(row.direct):<8}"
                f"{_yes(row.offered):<9}"
            )
        sent = len(run.graph.requests)
        print(f"\nDead-letter queue: {run.dead_letters()} messages. Graph API requests: {sent}.")


def own_bot_story() -> None:
    """Part two: the same shop with its own bot over HTTP (the example bot, in Rasa's REST format)."""
    bot, url = start_example_bot()  # a free port on 127.0.0.1
    try:
        with tempfile.TemporaryDirectory(prefix="handoff-demo-") as directory:
            config = config_with_http_bot(url, Path(directory) / "config.yaml")
            with LocalRun(config, graph_printer=printer) as run:
                tell_own_bot_story(Story(run), url)
    finally:
        bot.shutdown()
        bot.server_close()


def tell_own_bot_story(story: Story, url: str) -> None:
    run = story.run
    print("\n\n== Part two: your own bot over HTTP (Rasa's REST format)")
    print("  The same shop, its bot now the example bot (examples/rasa_bot.py) on loopback:")
    print(f"    bot: {{kind: http, http: {{url: {url}}}}}")
    print("  Each message is POSTed to it; its buttons become WhatsApp reply buttons, and its")
    print('  {"custom": {"handoff": true}} hands the user over under the same after-hours rule.')

    run.advance_to(22, ZONE_NAME, weekday=True)
    story.heading("Night: Sofía writes to the shop's own bot on WhatsApp; no agent is online")
    story.says(SOFIA, "Hola")
    story.taps(SOFIA, "/agent", "Hablar con un agente")
    print("  (the bot got the button's payload, /agent, and asked for a handoff; after hours: the offer)")
    story.taps(SOFIA, YES, "Sí, quiero esperar")
    story.live_list("carla")

    run.advance_to(9, ZONE_NAME, weekday=True)
    story.heading("Morning: Carla comes online in Live; Sofía is told")
    story.agent("PUT", "/live/presence", "carla", {"online": True})
    sent = len(run.graph.requests)
    print(f"\nDead-letter queue: {run.dead_letters()} messages. Graph API requests: {sent}.")


def config_with_http_bot(url: str, path: Path) -> Path:
    """acme of examples/config.yaml with its bot over HTTP at `url` instead of the built-in one,
    written to `path` (as JSON, which the YAML reader reads too) and validated again when loaded."""
    from handoff.config.models import BotConfig, HttpBot
    from handoff_tools.config_file import load_config

    [acme] = [tenant for tenant in load_config(CONFIG) if tenant.tenant_id == TENANT]
    own = acme.model_copy(update={"bot": BotConfig(kind="http", http=HttpBot(url=url))})
    tenants = [own.model_dump(mode="json", exclude_defaults=True)]
    path.write_text(json.dumps({"tenants": tenants}, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


if __name__ == "__main__":
    sys.exit(main())
