"""People, not ids, and the handover (issue 13), through the Live API's real handler, the FIFO queue
and DynamoDB (moto): agents are shown by their display name, `GET /live/agents` lists who is online,
and `POST /live/conversations/{id}/handover` gives a conversation to another agent or back to the
queue in its place, as the transcript, the report and the bus tell."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from conftest import BOGOTA, Agent, WhatsAppUser
from handoff import clock
from handoff.engine.model import YES_PAYLOAD
from handoff.runtime import wiring
from handoff_local.runtime import HttpResult, LocalRun


@dataclass
class Person(Agent):
    """An agent whose token carries a display name (Cognito's `name`)."""

    name: str | None = None

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> HttpResult:
        headers = self.run.as_agent(self.tenant_id, self.agent_id, seats=self.seats, name=self.name)
        response = self.run.http(method, path, body=body, headers=headers)
        self.run.drain()
        return response

    def agents(self) -> list[dict[str, Any]]:
        response = self.call("GET", "/live/agents")
        assert response.status == 200, response.body
        return response.json()["agents"]

    def hand_over(self, conversation_id: str, to: str | None) -> HttpResult:
        return self.call("POST", f"/live/conversations/{conversation_id}/handover", {"to": to})


def waiting_overnight(run: LocalRun, wa_id: str, name: str) -> WhatsAppUser:
    user = WhatsAppUser(run, wa_id, name=name)
    user.says("Quiero hablar con un agente")
    user.taps(YES_PAYLOAD, "Sí, quiero esperar")
    return user


def morning_with_two_waiting(run: LocalRun) -> tuple[WhatsAppUser, Person, Person, str, str]:
    """Ana, then Luis, waited overnight; in the morning Carla and Diego come online and Carla takes
    Ana's conversation. Returns Ana, Carla, Diego and the two conversations' ids (Ana's first)."""
    run.advance_to(22, BOGOTA, weekday=True)
    ana = waiting_overnight(run, "573001110401", "Ana")
    run.advance(600)
    waiting_overnight(run, "573001110402", "Luis")
    run.advance_to(9, BOGOTA, weekday=True)
    carla = Person(run, "u-carla", name="Carla Gómez")
    diego = Person(run, "u-diego", name="Diego")
    assert carla.online().json()["name"] == "Carla Gómez"  # the presence record keeps the name
    diego.online()
    first, second = (c["id"] for c in carla.conversations())
    taken = carla.take(first)
    assert taken.status == 200, taken.body
    return ana, carla, diego, first, second


def test_agents_are_shown_by_name_and_the_online_ones_listed_for_a_handover(run):
    _, carla, diego, chat, _ = morning_with_two_waiting(run)

    mine = next(c for c in diego.conversations() if c["id"] == chat)
    assert (mine["agent_id"], mine["agent_name"]) == ("u-carla", "Carla Gómez")
    assert carla.reply(chat, "Hola Ana, soy Carla.").status == 200
    transcript = carla.read(chat).json()["transcript"]
    assert "Carla Gómez took the conversation." in [line["text"] for line in transcript]
    [line] = [line for line in transcript if line["author"] == "agent"]
    assert (line["text"], line["agent_name"]) == ("Hola Ana, soy Carla.", "Carla Gómez")

    listed = carla.agents()
    assert [(a["agent_id"], a["name"], a["chats"], a["seats"]) for a in listed] == [
        ("u-carla", "Carla Gómez", 1, 3),
        ("u-diego", "Diego", 0, 3),
    ]  # acme's agent_seats is 3
    diego.online(False)
    assert [a["name"] for a in carla.agents()] == ["Carla Gómez"]
    assert Person(run, "u-zoe", tenant_id="globex", name="Zoe").agents() == []  # the tenant's own only


def test_carla_hands_ana_to_diego_who_puts_her_back_first_in_line(run):
    ana, carla, diego, chat, luis = morning_with_two_waiting(run)
    queued_at = carla.conversations()[1]["queued_at"]  # Ana's, with Carla now
    told = len(ana.received())
    run.published.clear()

    handed = carla.hand_over(chat, "u-diego")
    assert handed.status == 200, handed.body
    assert (handed.json()["agent_id"], handed.json()["agent_name"]) == ("u-diego", "Diego")
    assert len(ana.received()) == told  # the user is not told
    assert carla.reply(chat, "¿Sigo yo?").status == 409
    assert diego.reply(chat, "Hola Ana, soy Diego.").status == 200
    [event] = [e for e in run.published if e.detail_type == "ConversationHandedOver"]
    assert (event.detail["agent_id"], event.detail["to_agent_id"]) == ("u-carla", "u-diego")
    assert "Carla Gómez handed the conversation to Diego." in [
        line["text"] for line in diego.read(chat).json()["transcript"]
    ]

    run.advance(300)
    returned = diego.hand_over(chat, None)
    assert returned.status == 200, returned.body
    assert (returned.json()["state"], returned.json()["agent_name"]) == ("queued", None)
    assert returned.json()["queued_at"] == queued_at
    queue = [c["id"] for c in carla.conversations() if c["state"] == "queued"]
    assert queue == [chat, luis]  # first in line again: she waited longest
    assert "Diego put the conversation back in the queue." in [
        line["text"] for line in carla.read(chat).json()["transcript"]
    ]
    assert [e.detail["to_agent_id"] for e in run.published if e.detail_type == "ConversationHandedOver"] == [
        "u-diego",
        None,
    ]

    # both agents' chats are on record, by id and name, for the report and the closed chats
    now = clock.now()
    chats = wiring.conversation_store().chats("acme", now - timedelta(days=1), now)
    assert [(c.outcome, c.agent_id, c.agent_name) for c in chats] == [
        ("handed_over", "u-carla", "Carla Gómez"),
        ("returned", "u-diego", "Diego"),
    ]
    report = run.http(
        "GET", "/admin/report", headers=run.as_admin("acme"),
        query={"from": (now - timedelta(days=1)).date().isoformat(), "to": now.date().isoformat()},
    )  # fmt: skip
    assert report.status == 200, report.body
    ana_row = next(
        r for r in report.json()["rows"] if r["conversation_id"] == chat and r["resolution"] == "transferred"
    )
    assert (ana_row["wait_outcome"], ana_row["chat_outcome"]) == ("taken", "handed_over")


def test_a_handover_is_refused_unless_yours_and_to_another_online_agent_with_a_free_seat(run):
    _, carla, diego, chat, luis = morning_with_two_waiting(run)
    bruno = Person(run, "u-bruno", name="Bruno")  # never online
    busy = Person(run, "u-eva", name="Eva", seats=1)
    busy.online()
    not_taken = diego.hand_over(luis, "u-carla")
    assert busy.take(luis).status == 200  # Eva's one seat is taken

    refusals = {
        "not yours": diego.hand_over(chat, None),
        "not taken": not_taken,
        "yourself": carla.hand_over(chat, "u-carla"),
        "offline": carla.hand_over(chat, "u-bruno"),
        "full": carla.hand_over(chat, "u-eva"),
    }
    for why, answer in refusals.items():
        assert answer.status == 409, (why, answer.body)
    assert "another agent" in refusals["not yours"].json()["message"]
    assert "already yours" in refusals["yourself"].json()["message"]
    assert "not online" in refusals["offline"].json()["message"]
    assert "Eva already has 1 chat" in refusals["full"].json()["message"]
    assert bruno.hand_over(chat, None).status == 409

    assert carla.hand_over("no-such-conversation", None).status == 404
    for body in ({}, {"to": ""}, {"to": 7}):
        bad = carla.call("POST", f"/live/conversations/{chat}/handover", body)
        assert bad.status == 422 and bad.json()["detail"][0]["loc"][:2] == ["body", "to"], body
    still = next(c for c in carla.conversations() if c["id"] == chat)
    assert (still["state"], still["agent_id"]) == ("with_agent", "u-carla")  # nothing refused changed it
