"""The after-hours story on Messenger and Instagram through the real handlers, the FIFO queue and DynamoDB.

Each channel is driven through SPEC.md's whole flow with payloads in Meta's documented formats.
The story tests run on a copy of examples/config.yaml whose rules for Messenger and Instagram are
set per test (after hours on, `direct` on or off); the per-channel tests use the example as is.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from conftest import ACME_INSTAGRAM, ACME_PAGE, BOGOTA, CONFIG, Agent, MetaPlatformUser, WhatsAppUser
from handoff.config.models import TenantConfig
from handoff.config.texts import ResolvedTexts, texts_for
from handoff.engine.model import NO_PAYLOAD, YES_PAYLOAD
from handoff.runtime.wiring import conversation_store
from handoff_local import payloads
from handoff_local.runtime import LocalRun
from handoff_tools.config_file import load_config
from handoff_tools.functions import ROOT

CHANNELS = ("messenger", "instagram")
WEEKDAYS_9_TO_18 = {
    "timezone": BOGOTA,
    "weekly": {day: [{"start": "09:00", "end": "18:00"}] for day in ("mon", "tue", "wed", "thu", "fri")},
}


def rule(channel: str, *, after_hours: bool = True, direct: bool = False) -> dict[str, Any]:
    return {
        "channel": channel,
        "type": "live",
        "after_hours": after_hours,
        "direct": direct,
        "business_hours": WEEKDAYS_9_TO_18,
    }


def config_with(directory: Path, rules: list[dict[str, Any]]) -> Path:
    """examples/config.yaml with acme's handoff rules replaced by `rules` (JSON is YAML too)."""
    tenants = [t.model_dump(mode="json", exclude_none=True) for t in load_config(CONFIG)]
    tenants[0]["rules"] = rules
    path = directory / "config.yaml"
    path.write_text(json.dumps({"tenants": tenants}, ensure_ascii=False), encoding="utf-8")
    return path


def acme(path: Path = CONFIG) -> TenantConfig:
    return load_config(path)[0]


def texts(channel: str, path: Path = CONFIG) -> ResolvedTexts:
    tenant = acme(path)
    return texts_for(tenant, tenant.rule_for(channel), "es")


@pytest.fixture(params=CHANNELS)
def channel(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def story_config(tmp_path: Path) -> Path:
    """Both Meta-platform channels with the after-hours mode on and `direct` off."""
    return config_with(tmp_path, [rule("messenger"), rule("instagram")])


@pytest.fixture
def story(story_config: Path) -> Iterator[LocalRun]:
    with LocalRun(story_config) as local:
        yield local


def at_night(run: LocalRun) -> None:
    run.advance_to(22, BOGOTA, weekday=True)


def user(run: LocalRun, channel: str, n: int = 1) -> MetaPlatformUser:
    return MetaPlatformUser(run, channel, f"{4 if channel == 'messenger' else 6}00000000000{n:04d}")


def waiting_user(run: LocalRun, channel: str, n: int = 1) -> MetaPlatformUser:
    someone = user(run, channel, n)
    someone.says("Quiero hablar con un agente")
    someone.taps(YES_PAYLOAD, "Sí, quiero esperar")
    return someone


def report(tenant: str = "acme") -> list[dict[str, Any]]:
    return sorted(
        (row.model_dump() for row in conversation_store().report_rows(tenant)),
        key=lambda r: (r["conversation_id"], r["session"]),
    )


def transcript(someone: MetaPlatformUser) -> list[Any]:
    key = f"acme#{someone.channel}#{someone.account_id}#{someone.scoped_id}"
    conversation = conversation_store().load_key(key)
    assert conversation is not None
    return conversation_store().transcript(conversation.ref)


def user_lines(someone: MetaPlatformUser) -> list[str | None]:
    return [line.text for line in transcript(someone) if line.author == "user"]


def is_quick_reply_offer(body: dict[str, Any], text: str) -> bool:
    message = body["message"]
    payloads_ = [(q["content_type"], q["payload"]) for q in message.get("quick_replies", [])]
    return message["text"] == text and payloads_ == [("text", YES_PAYLOAD), ("text", NO_PAYLOAD)]


# --- the whole flow, on each channel --------------------------------------------------------------


def test_the_whole_story(story: LocalRun, story_config: Path, channel: str) -> None:
    said = texts(channel, story_config)
    at_night(story)
    marta = user(story, channel)
    carla = Agent(story, "carla")

    # Given no agent online at night, when Marta asks for an agent, she is offered to wait
    marta.says("Hola")
    assert marta.texts()[-1] == said.fallback
    marta.says("Quiero hablar con un agente")
    offer = marta.received()[-1]
    assert is_quick_reply_offer(offer, said.offer)
    assert offer["recipient"] == {"id": marta.scoped_id} and offer["messaging_type"] == "RESPONSE"

    # When she taps YES, she gets the attention message and waits in Live, on hold, with her place
    marta.taps(YES_PAYLOAD, "Sí, quiero esperar")
    assert marta.texts()[-1] == f"{said.attention} Tu lugar en la fila: 1."
    [waiting] = carla.conversations()
    assert (waiting["channel"], waiting["state"], waiting["on_hold"]) == (channel, "queued", True)

    # She chats with the bot meanwhile (direct off); asking again: the message again, no second transfer
    marta.says("¿Cuál es el horario?")
    assert "9:00" in marta.texts()[-1]
    marta.says("Por favor, un agente")
    assert marta.texts()[-1] == said.attention
    [again] = carla.conversations()
    assert (again["id"], again["queued_at"]) == (waiting["id"], waiting["queued_at"])

    # In the morning Carla comes online: Marta is told, once
    story.advance_to(9, BOGOTA, weekday=True)
    before = len(marta.received())
    carla.online()
    assert marta.texts()[before:] == [said.agent_available]
    story.tick()
    story.tick()
    assert len(marta.received()) == before + 1

    # Carla takes it, reads everything, replies; the bot stays silent
    assert carla.take(waiting["id"]).status == 200
    transcript = carla.read(waiting["id"]).json()["transcript"]
    assert [line["text"] for line in transcript if line["author"] == "user"] == [
        "Hola",
        "Quiero hablar con un agente",
        "Sí, quiero esperar",
        "¿Cuál es el horario?",
        "Por favor, un agente",
    ]
    assert carla.reply(waiting["id"], "Hola, soy Carla").status == 200
    assert marta.texts()[-1] == "Hola, soy Carla"
    before = len(marta.received())
    marta.says("Mi pedido no llegó")
    assert len(marta.received()) == before
    assert carla.close(waiting["id"]).status == 200
    assert carla.conversations() == []

    # Two bot sessions: the first transferred, the second the chat while waiting
    rows = report()
    assert [(r["channel"], r["session"], r["resolution"], r["after_hours"]) for r in rows] == [
        (channel, 1, "transferred", True),
        (channel, 2, "while_waiting", False),
    ]
    assert rows[1]["handoff_repeated"]

    # Everything went out inside the 24-hour window: never tagged
    assert {(b["messaging_type"], b.get("tag")) for b in marta.received()} == {("RESPONSE", None)}
    assert story.dead_letters() == 0

    # After the agent closed it, the next message starts a new bot session
    marta.says("Hola otra vez")
    assert marta.texts()[-1] == said.fallback


def test_no_goes_on_with_the_bot_and_nothing_is_transferred(
    story: LocalRun, story_config: Path, channel: str
) -> None:
    at_night(story)
    someone = user(story, channel)
    someone.says("agente")
    someone.taps(NO_PAYLOAD, "No, gracias")
    assert someone.texts()[-1] == texts(channel, story_config).declined
    assert Agent(story, "carla").conversations() == []
    assert report() == []  # the bot session goes on: nothing transferred, nothing closed


def test_typed_si_is_a_yes_and_anything_else_goes_to_the_bot(
    story: LocalRun, story_config: Path, channel: str
) -> None:
    at_night(story)
    first, second = user(story, channel, 1), user(story, channel, 2)
    first.says("agente")
    first.says("sí")
    assert first.texts()[-1].startswith(texts(channel, story_config).attention)
    second.says("agente")
    second.says("¿a qué hora abren?")  # neither YES nor NO: the offer is dropped, the bot answers
    assert "9:00" in second.texts()[-1]
    assert [c["on_hold"] for c in Agent(story, "carla").conversations()] == [True]


def test_a_postback_yes_counts_like_a_quick_reply(story: LocalRun, channel: str) -> None:
    at_night(story)
    someone = user(story, channel)
    someone.says("agente")
    someone.presses(YES_PAYLOAD, "Esperar")
    assert len(Agent(story, "carla").conversations()) == 1


def test_direct_handoff_keeps_the_bot_silent_while_waiting(tmp_path: Path, channel: str) -> None:
    path = config_with(tmp_path, [rule(channel, direct=True)])
    with LocalRun(path) as run:
        at_night(run)
        someone = waiting_user(run, channel)
        before = len(someone.received())
        someone.says("¿hola?")
        someone.says("agente por favor")
        someone.attaches("image")
        assert len(someone.received()) == before
        [waiting] = Agent(run, "carla").conversations()
        assert waiting["direct"]
        transcript = Agent(run, "carla").read(waiting["id"]).json()["transcript"]
        assert [line["kind"] for line in transcript if line["author"] == "user"][-3:] == [
            "text",
            "text",
            "image",
        ]


def test_a_wait_expires_after_24_hours_without_activity(
    story: LocalRun, story_config: Path, channel: str
) -> None:
    at_night(story)
    someone = waiting_user(story, channel)
    story.advance(23 * 3600)
    assert story.tick()["to_expire"] == 0
    story.advance(3600)
    assert story.tick()["to_expire"] == 1
    assert Agent(story, "carla").conversations() == []
    someone.says("hola de nuevo")
    assert someone.texts()[-1] == texts(channel, story_config).fallback


# --- Meta's messaging windows -------------------------------------------------------------------


def test_an_agents_reply_3_days_later_goes_out_with_the_human_agent_tag(
    story: LocalRun, channel: str
) -> None:
    at_night(story)
    someone = waiting_user(story, channel)
    carla = Agent(story, "carla")
    story.advance_to(9, BOGOTA, weekday=True)
    carla.online()
    [waiting] = carla.conversations()
    carla.take(waiting["id"])
    carla.reply(waiting["id"], "Hola, ya estoy aquí")
    assert someone.received()[-1]["messaging_type"] == "RESPONSE"

    story.advance(3 * 24 * 3600)  # three days after the user's last message
    assert carla.reply(waiting["id"], "¿Pudiste resolverlo?").status == 200
    late = someone.received()[-1]
    assert (late["messaging_type"], late["tag"]) == ("MESSAGE_TAG", "HUMAN_AGENT")
    assert late["message"] == {"text": "¿Pudiste resolverlo?"}
    authors_tagged = [b for b in someone.received() if b.get("tag")]
    assert authors_tagged == [late], "the bot's and the automatic messages are never tagged"

    story.advance(4 * 24 * 3600)  # past 7 days: nobody may write until the user does
    refused = carla.reply(waiting["id"], "¿Sigues ahí?")
    assert refused.status == 409 and "7 days" in refused.json()["message"]
    assert someone.received()[-1] == late


def test_agent_available_outside_the_window_is_not_sent_and_live_is_flagged(
    story: LocalRun, channel: str
) -> None:
    # Meta delivers the user's messages late (a backlog): sent 23 h 40 min before they arrive
    story.advance_to(8, BOGOTA, weekday=True)
    someone = user(story, channel)
    sent = someone.now() - timedelta(hours=23, minutes=40)
    someone.send(someone.text("Quiero hablar con un agente", at=sent))
    someone.send(
        payloads.meta_platform_quick_reply(
            someone.scoped_id, someone.account_id, YES_PAYLOAD, "Sí", sent + timedelta(seconds=30)
        )
    )
    carla = Agent(story, "carla")
    [waiting] = carla.conversations()
    before = len(someone.received())

    story.advance_to(9, BOGOTA, weekday=True)  # the window closed; the wait is alive (1 h old)
    carla.online()
    assert len(someone.received()) == before  # no automatic message outside 24 h, not even tagged
    [flagged] = carla.conversations()
    assert flagged["id"] == waiting["id"] and flagged["notified_available"]
    assert "24-hour window is closed" in flagged["notice"]


# --- what is not a user message is never answered ------------------------------------------------


def test_echoes_are_acknowledged_and_never_answered(story: LocalRun, channel: str) -> None:
    at_night(story)
    someone = user(story, channel)
    someone.says("Quiero hablar con un agente")
    sent_before = len(story.graph.requests)
    echo = payloads.meta_platform_echo(
        someone.scoped_id, someone.account_id, "Quiero hablar con un agente", someone.now()
    )
    no_flag = dict(echo, message={k: v for k, v in echo["message"].items() if k != "is_echo"})
    assert someone.send(echo, no_flag).status == 200
    assert story.drain() == 0
    assert len(story.graph.requests) == sent_before


def test_standby_and_handover_events_are_acknowledged_and_drive_nothing(
    story: LocalRun, channel: str
) -> None:
    fixtures = ROOT / "tests" / "fixtures" / channel
    names = ["standby_text"] + (
        [
            "standby_echo",
            "standby_postback",
            "pass_thread_control",
            "take_thread_control",
            "request_thread_control",
        ]
        if channel == "messenger"
        else []
    )
    for name in names:
        assert story.webhook(channel, json.loads((fixtures / f"{name}.json").read_text())).status == 200
    assert story.drain() == 0 and story.graph.requests == []


@pytest.mark.parametrize(
    "names",
    [
        ["reaction", "unreaction", "message_edit"],
        ["delivery", "read", "referral", "optin"],
        ["seen", "unsend", "comment_change", "dashboard_test"],
    ],
)
def test_receipts_reactions_edits_and_unsends_drive_nothing(story: LocalRun, names: list[str]) -> None:
    for name in names:
        for channel in CHANNELS:
            path = ROOT / "tests" / "fixtures" / channel / f"{name}.json"
            if path.exists():
                assert story.webhook(channel, json.loads(path.read_text())).status == 200
    assert story.drain() == 0 and story.graph.requests == []


# --- Meta's delivery semantics ------------------------------------------------------------------


def test_batched_entries_and_events_are_all_processed_in_timestamp_order(
    story: LocalRun, channel: str
) -> None:
    first, second = user(story, channel, 1), user(story, channel, 2)
    now = first.now()
    body = first.delivery(
        first.text("horario", at=now),  # sent last, listed first
        first.text("hola", at=now - timedelta(milliseconds=400)),
    )
    other = second.delivery(
        second.text("estado de mi pedido", at=now),
        payloads.meta_platform_echo(second.scoped_id, second.account_id, "our own message", now),
        second.text("gracias", at=now + timedelta(milliseconds=1)),
    )
    body["entry"] += other["entry"]
    assert story.webhook(channel, body).status == 200
    story.drain()
    assert len(first.received()) == 2 and len(second.received()) == 2
    assert user_lines(first) == ["hola", "horario"]  # as sent, not as listed

    # the same delivery again (Meta retries): nothing new is said
    assert story.webhook(channel, body).status == 200
    story.drain()
    assert len(first.received()) == 2 and len(second.received()) == 2


def test_the_same_message_twice_is_answered_once(story: LocalRun, channel: str) -> None:
    someone = user(story, channel)
    message = someone.text("estado de mi pedido")
    assert someone.send(message).status == 200
    assert someone.send(message).status == 200
    assert len(someone.received()) == 1


def test_media_story_replies_and_mentions(story: LocalRun, story_config: Path, channel: str) -> None:
    someone = user(story, channel)
    someone.attaches("image")
    assert someone.texts()[-1] == texts(channel, story_config).text_only
    if channel == "instagram":
        someone.attaches("story_mention")
        assert someone.texts()[-1] == texts(channel, story_config).text_only
        someone.run.advance(5)
        reply = someone.text("¿A qué hora abren?")
        reply["message"]["reply_to"] = {"story": {"url": "https://lookaside.example.test/s.jpg", "id": "1"}}
        someone.send(reply)
        assert "9:00" in someone.texts()[-1]  # a story reply is text the bot reads
    kinds = [line.kind for line in transcript(someone) if line.author == "user"]
    assert kinds == (["image"] if channel == "messenger" else ["image", "story_mention", "story_reply"])


def test_an_unknown_account_is_acknowledged_and_ignored(story: LocalRun, channel: str) -> None:
    stranger = MetaPlatformUser(story, channel, "4000000000009999", account_id="999999999999999")
    assert stranger.says("hola").status == 200
    assert story.graph.requests == []


def test_signature_and_handshake(story: LocalRun, channel: str) -> None:
    someone = user(story, channel)
    body = someone.delivery(someone.text("hola"))
    assert story.webhook(channel, body, signed=False).status == 401
    forged = story.http(
        "POST",
        f"/webhooks/{channel}",
        body=json.dumps(body).encode(),
        headers={"X-Hub-Signature-256": "sha256=" + "0" * 64},
    )
    assert forged.status == 401 and story.drain() == 0
    query = {"hub.mode": "subscribe", "hub.verify_token": "local-verify-token", "hub.challenge": "1158201444"}
    ok = story.http("GET", f"/webhooks/{channel}", query=query)
    assert (ok.status, ok.body) == (200, "1158201444")
    assert story.http("GET", f"/webhooks/{channel}", query=query | {"hub.verify_token": "x"}).status == 403


def test_the_escaped_unicode_body_meta_signs_is_verified_as_received(story: LocalRun) -> None:
    someone = user(story, "messenger")
    body = someone.delivery(someone.text("¿Hay envíos a Bogotá? ñandú 👍"))
    raw = json.dumps(body, separators=(",", ":"), ensure_ascii=True).encode()  # as Meta sends it
    assert b"\\u00f1" in raw
    assert story.webhook("messenger", raw).status == 200
    story.drain()
    assert user_lines(someone) == ["¿Hay envíos a Bogotá? ñandú 👍"]


# --- errors from the Send API -------------------------------------------------------------------


def test_a_rate_limit_is_retried_with_backoff_by_the_records_visibility(
    story: LocalRun, channel: str
) -> None:
    someone = user(story, channel)
    limited = {"error": {"message": "(#613) Calls to this API have exceeded the rate limit.", "code": 613}}
    story.graph.fail_next(400, limited, times=2)
    someone.says("estado de mi pedido")
    assert len(someone.received()) == 1 and story.pending_outbox() == 1  # waiting in the outbox
    assert story.returned() == 1  # its record back on the queue for later, not failed
    for backoff in (2, 4):  # the longest the first two waits may be: 1-2, then 2-4 seconds
        story.advance(backoff)
        story.drain()
    assert len(someone.received()) == 3  # two refused attempts, then one accepted
    assert story.dead_letters() == 0 and story.pending_outbox() == 0 and story.returned() == 0


@pytest.mark.parametrize(
    ("channel", "status", "error"),
    [
        (
            "messenger",
            400,
            {
                "message": "(#10) This message is sent outside of allowed window.",
                "type": "OAuthException",
                "code": 10,
                "error_subcode": 2018278,
            },
        ),
        (
            "instagram",
            403,
            {
                "message": "This message is sent outside of allowed window.",
                "type": "IGApiException",
                "code": 10,
                "error_subcode": 2534022,
            },
        ),
    ],
)
def test_a_closed_window_is_not_retried(
    story: LocalRun, channel: str, status: int, error: dict[str, Any]
) -> None:
    someone = user(story, channel)
    story.graph.fail_next(status, {"error": error})
    someone.says("estado de mi pedido")
    story.advance(180)
    story.tick()
    assert len(someone.received()) == 1
    assert story.dead_letters() == 0 and story.pending_outbox() == 0
    # and the agents see it was not delivered, and why
    [refused] = [line for line in transcript(someone) if line.author == "bot"]
    assert (
        refused.undelivered
        == f"not delivered: Meta refused it (10/{error['error_subcode']}): {error['message']}"
    )


# --- rules per channel, independently -------------------------------------------------------------


def test_the_example_tenant_has_a_rule_of_its_own_on_each_channel() -> None:
    """The example: WhatsApp and Instagram after hours (direct off / on, own texts), Messenger not."""
    tenant = acme()
    whatsapp, messenger, instagram = (tenant.rule_for(c) for c in ("whatsapp", "messenger", "instagram"))
    assert whatsapp and messenger and instagram
    assert (whatsapp.after_hours, whatsapp.direct) == (True, False)
    assert (instagram.after_hours, instagram.direct) == (True, True)
    assert not messenger.after_hours
    assert texts("instagram").offer != texts("whatsapp").offer
    assert texts("instagram").attention != texts("whatsapp").attention
    assert texts("messenger").no_agents != texts("whatsapp").no_agents


def test_each_channel_follows_its_own_rule_in_the_example(run: LocalRun) -> None:
    at_night(run)
    ana = WhatsAppUser(run, "573001110101", name="Ana")
    ivan = MetaPlatformUser(run, "instagram", "6000000000000101")
    marta = MetaPlatformUser(run, "messenger", "4000000000000101")
    for someone in (ana, ivan, marta):
        someone.says("Quiero hablar con un agente")

    # WhatsApp: reply buttons with WhatsApp's offer; Instagram: quick replies with its own offer
    assert ana.received()[-1]["interactive"]["body"]["text"] == texts("whatsapp").offer
    assert is_quick_reply_offer(ivan.received()[-1], texts("instagram").offer)
    # Messenger has no after-hours mode: "no agents now" (its own text), nothing offered
    assert marta.texts()[-1] == texts("messenger").no_agents
    assert "quick_replies" not in marta.received()[-1]["message"]

    ana.taps(YES_PAYLOAD, "Sí, quiero esperar")
    ivan.taps(YES_PAYLOAD, "Sí, quiero esperar")
    marta.says("sí")  # no offer is out: just a message for the bot
    assert ana.texts()[-1].startswith(texts("whatsapp").attention)
    assert ivan.texts()[-1].startswith(texts("instagram").attention)
    waiting = {c["channel"]: c for c in Agent(run, "carla").conversations()}
    assert set(waiting) == {"whatsapp", "instagram"}
    assert (waiting["whatsapp"]["direct"], waiting["instagram"]["direct"]) == (False, True)

    # direct off on WhatsApp: the bot goes on; direct on on Instagram: silence, all kept for the agent
    ana.says("¿Cuál es el horario?")
    assert "9:00" in ana.texts()[-1]
    before = len(ivan.received())
    ivan.says("¿Cuál es el horario?")
    assert len(ivan.received()) == before


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        # Messenger after hours with direct on, Instagram conventional only, WhatsApp with no rule
        (
            {"messenger": {"after_hours": True, "direct": True}, "instagram": {"after_hours": False}},
            {"messenger": "offer", "instagram": "no_agents", "whatsapp": "handoff_unavailable"},
        ),
        # Instagram after hours with direct off, Messenger with no rule, WhatsApp after hours
        (
            {"instagram": {"after_hours": True, "direct": False}, "whatsapp": {"after_hours": True}},
            {"messenger": "handoff_unavailable", "instagram": "offer", "whatsapp": "offer"},
        ),
    ],
    ids=["messenger-only", "instagram-and-whatsapp"],
)
def test_any_combination_of_channel_rules(
    tmp_path: Path, settings: dict[str, dict[str, bool]], expected: dict[str, str]
) -> None:
    path = config_with(tmp_path, [rule(channel, **values) for channel, values in settings.items()])
    said = {channel: texts(channel, path) for channel in expected}
    with LocalRun(path) as run:
        at_night(run)
        people = {
            "whatsapp": WhatsAppUser(run, "573001110201"),
            "messenger": MetaPlatformUser(run, "messenger", "4000000000000201"),
            "instagram": MetaPlatformUser(run, "instagram", "6000000000000201"),
        }
        for channel, someone in people.items():
            someone.says("Quiero hablar con un agente")
            assert someone.texts()[-1] == getattr(said[channel], expected[channel]), channel
        for channel, someone in people.items():
            if expected[channel] == "offer":
                someone.taps(YES_PAYLOAD, "Sí")
        waiting = {c["channel"]: c["direct"] for c in Agent(run, "carla").conversations()}
        assert waiting == {
            channel: settings[channel].get("direct", False)
            for channel in people
            if expected[channel] == "offer"
        }


# --- the sample events of the handlers ------------------------------------------------------------


def test_acme_routes_its_page_and_instagram_account() -> None:
    accounts = {(a.channel, a.account_id) for a in acme().accounts}
    assert {("messenger", ACME_PAGE), ("instagram", ACME_INSTAGRAM)} <= accounts
