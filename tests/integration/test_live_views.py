"""Live's views (issue 13): the queue, the agent's own chats, everything in Live and the chats closed
lately, filtered by channel and searched by name or transcript, through the real handlers and
DynamoDB (moto), with acme and globex from examples/config.yaml."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

from conftest import BOGOTA, GLOBEX_NUMBER, Agent, MetaPlatformUser, WhatsAppUser
from handoff.config.models import MAX_CLOSED_READABLE_DAYS, TenantConfig
from handoff.engine.model import YES_PAYLOAD
from handoff.services import live_views
from handoff_local.runtime import HttpResult, LocalRun

CLOSED_DAYS = TenantConfig.model_fields["closed_readable_days"].default
IDLE_DAYS = TenantConfig.model_fields["close_idle_chats_after_days"].default


def listing(run: LocalRun, agent: str = "carla", tenant: str = "acme", **query: str) -> HttpResult:
    return run.http("GET", "/live/conversations", headers=run.as_agent(tenant, agent), query=query)


def listed(run: LocalRun, agent: str = "carla", tenant: str = "acme", **query: str) -> list[dict[str, Any]]:
    answer = listing(run, agent, tenant, **query)
    assert answer.status == 200, answer.body
    conversations: list[dict[str, Any]] = answer.json()["conversations"]
    return conversations


def names(run: LocalRun, agent: str = "carla", **query: str) -> list[str | None]:
    return [c["user_name"] for c in listed(run, agent, **query)]


@dataclass
class Scene:
    """Acme at 10:00 on a weekday: Ana and Lucía wait on WhatsApp; José (WhatsApp) is Carla's chat,
    a Messenger user is Bruno's. Their ids by name ("messenger" for the nameless Messenger user)."""

    run: LocalRun
    carla: Agent
    bruno: Agent
    ids: dict[str, str]


@pytest.fixture
def scene(run: LocalRun) -> Scene:
    run.advance_to(10, BOGOTA, weekday=True)
    carla, bruno = Agent(run, "carla"), Agent(run, "bruno")
    carla.online()
    bruno.online()
    jose = WhatsAppUser(run, "573001110001", name="José Niño")
    jose.says("Quiero hablar con un agente")
    messenger = MetaPlatformUser(run, "messenger", "7100000000000001")
    messenger.says("Necesito un asesor, la nevera llegó con la puerta DAÑADA")
    WhatsAppUser(run, "573001110002", name="Ana Pérez").says("Quiero hablar con un asesor")
    WhatsAppUser(run, "573001110003", name="Lucía Gómez").says("Necesito un asesor, por favor")
    ids = {c["user_name"] or c["channel"]: c["id"] for c in listed(run)}
    assert carla.take(ids["José Niño"]).status == 200
    assert bruno.take(ids["messenger"]).status == 200
    return Scene(run, carla, bruno, ids)


# --- the views of Live ------------------------------------------------------------------------------


def test_the_queue_lists_the_waiting_users_oldest_first(scene: Scene):
    queue = listed(scene.run, view="queue")

    assert [c["user_name"] for c in queue] == ["Ana Pérez", "Lucía Gómez"]
    assert all(c["state"] == "queued" for c in queue)
    assert queue[0]["waited_seconds"] > queue[1]["waited_seconds"]


def test_mine_lists_the_callers_own_chats_only(scene: Scene):
    assert [c["id"] for c in listed(scene.run, "carla", view="mine")] == [scene.ids["José Niño"]]
    assert [c["id"] for c in listed(scene.run, "bruno", view="mine")] == [scene.ids["messenger"]]
    assert listed(scene.run, "dora", view="mine") == []


def test_all_is_the_default_the_queue_first_then_the_chats_in_the_order_taken(scene: Scene):
    everything = ["Ana Pérez", "Lucía Gómez", "José Niño", None]

    assert names(scene.run) == everything
    assert names(scene.run, view="all") == everything
    assert all(c["closed_at"] is None and c["closed_by"] is None for c in listed(scene.run))


def test_the_channel_filter_applies_to_every_view(scene: Scene):
    assert [c["id"] for c in listed(scene.run, channel="messenger")] == [scene.ids["messenger"]]
    assert names(scene.run, view="queue", channel="whatsapp") == ["Ana Pérez", "Lucía Gómez"]
    assert names(scene.run, view="queue", channel="messenger") == []
    assert names(scene.run, "bruno", view="mine", channel="whatsapp") == []
    assert listed(scene.run, view="all", channel="instagram") == []


# --- search -------------------------------------------------------------------------------------------


def test_search_finds_the_users_name_whatever_the_case_and_accents(scene: Scene):
    assert names(scene.run, q="perez") == ["Ana Pérez"]
    assert names(scene.run, q="  JOSÉ  niño ") == ["José Niño"]
    assert names(scene.run, q="lucia") == ["Lucía Gómez"]
    assert names(scene.run, q="Pérez García") == []


def test_search_finds_a_text_of_the_transcript_within_the_view_only(scene: Scene):
    assert [c["id"] for c in listed(scene.run, q="puerta dañada")] == [scene.ids["messenger"]]
    assert [c["id"] for c in listed(scene.run, q="DANADA")] == [scene.ids["messenger"]]
    assert names(scene.run, view="queue", q="dañada") == []  # Bruno's chat is not in the queue
    # the bot's and Live's lines are searched too: every user who asked was told they wait in line
    assert len(listed(scene.run, q="por favor")) == 1
    assert names(scene.run, view="queue", q="   ") == ["Ana Pérez", "Lucía Gómez"]  # blank: no search


def test_search_reads_the_newest_lines_of_as_many_transcripts_as_its_bounds_say(
    scene: Scene, monkeypatch: pytest.MonkeyPatch
):
    scene.run.advance(60)
    scene.carla.reply(scene.ids["José Niño"], "Hola José, ya reviso tu garantía")
    scene.bruno.reply(scene.ids["messenger"], "Hola, ya reviso tu garantía")

    assert len(listed(scene.run, q="garantia")) == 2
    monkeypatch.setattr(live_views, "MAX_SEARCHED_TRANSCRIPTS", 3)  # Ana's, Lucía's and José's
    assert [c["id"] for c in listed(scene.run, q="garantia")] == [scene.ids["José Niño"]]
    assert names(scene.run, q="lucia") == ["Lucía Gómez"], "past the bound, the name still matches"
    monkeypatch.setattr(live_views, "MAX_SEARCHED_TRANSCRIPTS", 100)
    monkeypatch.setattr(live_views, "MAX_SEARCHED_LINES", 1)
    assert len(listed(scene.run, q="garantia")) == 2, "the newest line is read"
    assert listed(scene.run, q="dañada") == [], "an older line is not"


# --- refusals and tenants --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"view": "open"}, "view"),
        ({"view": ""}, "view"),
        ({"channel": "web"}, "channel"),
        ({"channel": "telegram"}, "channel"),
        ({"q": "x" * (live_views.MAX_SEARCH_CHARS + 1)}, "q"),
    ],
)
def test_a_bad_parameter_is_a_422_naming_it(run: LocalRun, query: dict[str, str], field: str):
    answer = listing(run, **query)

    assert answer.status == 422, answer.body
    assert [p["loc"] for p in answer.json()["detail"]] == [["query", field]]


def test_the_longest_search_is_taken(run: LocalRun):
    assert listed(run, q="x" * live_views.MAX_SEARCH_CHARS) == []


def test_another_tenants_conversations_are_never_listed(scene: Scene):
    run = scene.run
    user = WhatsAppUser(run, "5511999990001", name="Ana Souza", number=GLOBEX_NUMBER)
    user.says("quero falar com um atendente")
    user.taps(YES_PAYLOAD, "Sim")
    [theirs] = listed(run, "rui", "globex")
    assert Agent(run, "rui", tenant_id="globex").take(theirs["id"]).status == 200
    assert Agent(run, "rui", tenant_id="globex").close(theirs["id"]).status == 200

    for view in ("queue", "mine", "all", "closed"):
        assert theirs["id"] not in [c["id"] for c in listed(run, view=view, q="ana")]
    assert [c["id"] for c in listed(run, "rui", "globex", view="closed")] == [theirs["id"]]
    assert listed(run, "rui", "globex") == []
    assert listed(run, "rui", "globex", view="closed", q="nevera") == []


# --- closed conversations --------------------------------------------------------------------------


def test_closed_chats_are_listed_latest_first_with_who_closed_them_and_stay_readable(scene: Scene):
    run = scene.run
    jose, messenger = scene.ids["José Niño"], scene.ids["messenger"]
    assert scene.carla.close(jose).status == 200
    closed_jose = run_now(run)
    run.advance(3600)
    assert scene.bruno.close(messenger).status == 200

    closed = listed(run, view="closed")

    assert [c["id"] for c in closed] == [messenger, jose]
    assert [(c["closed_by"], c["chat_outcome"], c["state"]) for c in closed] == [
        ("bruno", "closed", "bot"),
        ("carla", "closed", "bot"),
    ]
    assert abs(datetime.fromisoformat(closed[1]["closed_at"]) - closed_jose) < timedelta(seconds=10)
    assert [c["id"] for c in listed(run, view="closed", channel="whatsapp")] == [jose]
    assert [c["id"] for c in listed(run, view="closed", q="nino")] == [jose]
    assert [c["id"] for c in listed(run, view="closed", q="puerta dañada")] == [messenger]
    assert jose not in [c["id"] for c in listed(run)]
    read = scene.carla.read(jose)
    assert read.status == 200 and read.json()["state"] == "bot"
    assert "Quiero hablar con un agente" in [line["text"] for line in read.json()["transcript"]]
    refused = [
        scene.carla.take(jose),
        scene.carla.reply(jose, "¿Sigues ahí?"),
        scene.carla.send_template(jose, "acme_seguimiento", "es", ["José"]),
        scene.carla.close(jose),
    ]
    assert [answer.status for answer in refused] == [409] * 4, [answer.body for answer in refused]


def test_the_closed_view_names_the_agent_as_their_token_does(scene: Scene):
    run = scene.run
    lucia = scene.ids["Lucía Gómez"]
    dora = run.as_agent("acme", "dora", name="Dora Díaz")
    for action in ("take", "close"):
        done = run.http("POST", f"/live/conversations/{lucia}/{action}", headers=dora)
        assert done.status == 200, done.body

    [closed] = listed(run, view="closed")

    assert (closed["id"], closed["closed_by"], closed["closed_by_name"]) == (lucia, "dora", "Dora Díaz")


def test_a_closed_chat_leaves_the_closed_view_after_the_tenants_days(scene: Scene):
    run = scene.run
    jose = scene.ids["José Niño"]
    assert scene.carla.close(jose).status == 200

    run.advance((timedelta(days=CLOSED_DAYS) - timedelta(minutes=5)).total_seconds())
    assert [c["id"] for c in listed(run, view="closed")] == [jose]
    run.advance(timedelta(minutes=10).total_seconds())
    assert listed(run, view="closed") == []
    assert scene.carla.read(jose).status == 200, "still kept: read by its id, as any conversation"


def test_a_conversation_back_in_live_is_listed_there_not_as_closed(scene: Scene):
    run = scene.run
    jose = scene.ids["José Niño"]
    assert scene.carla.close(jose).status == 200
    run.advance(3600)
    scene.carla.online()  # an hour later: her presence had lapsed
    WhatsAppUser(run, "573001110001", name="José Niño").says("Otra vez necesito un asesor")

    assert listed(run, view="closed") == []
    assert [c["user_name"] for c in listed(run, view="queue")][-1] == "José Niño"


def test_a_chat_put_back_in_the_queue_then_closed_from_there_is_not_a_closed_chat(scene: Scene):
    jose = scene.ids["José Niño"]
    back = scene.carla.call("POST", f"/live/conversations/{jose}/handover", {"to": None})
    assert back.status == 200, back.body
    assert scene.carla.close(jose).status == 200  # straight from the queue: no chat ended in a close

    assert listed(scene.run, view="closed") == []


def test_a_chat_closed_for_inactivity_is_listed_as_such(scene: Scene):
    run = scene.run
    jose = scene.ids["José Niño"]
    run.advance(timedelta(days=IDLE_DAYS, hours=1).total_seconds())
    at_the_top_of_the_hour(run)  # idle chats are closed by the schedule's first minute of an hour

    closed = listed(run, view="closed")

    assert {(c["id"], c["chat_outcome"], c["closed_by"]) for c in closed} == {
        (jose, "closed_idle", "carla"),
        (scene.ids["messenger"], "closed_idle", "bruno"),
    }


def test_the_closed_days_are_the_tenants_and_bounded(scene: Scene):
    run = scene.run
    admin = run.as_admin("acme")
    stored = run.http("GET", "/admin/config", headers=admin).json()
    assert stored["config"]["closed_readable_days"] == CLOSED_DAYS
    for bad in (0, MAX_CLOSED_READABLE_DAYS + 1):
        config = {**stored["config"], "closed_readable_days": bad}
        refused = run.http(
            "PUT", "/admin/config", headers=admin, body={"version": stored["version"], "config": config}
        )
        assert refused.status == 422, refused.body
        assert [p["loc"] for p in refused.json()["detail"]] == [["body", "config", "closed_readable_days"]]
    config = {**stored["config"], "closed_readable_days": 1}
    written = run.http(
        "PUT", "/admin/config", headers=admin, body={"version": stored["version"], "config": config}
    )
    assert written.status == 200, written.body
    assert scene.carla.close(scene.ids["José Niño"]).status == 200

    run.advance(timedelta(hours=23).total_seconds())
    assert len(listed(run, view="closed")) == 1
    run.advance(timedelta(hours=2).total_seconds())
    assert listed(run, view="closed") == []


def run_now(run: LocalRun) -> datetime:
    from handoff import clock

    return clock.now()


def at_the_top_of_the_hour(run: LocalRun) -> None:
    now = run_now(run)
    run.advance(((now + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0) - now).total_seconds())
    run.tick()
