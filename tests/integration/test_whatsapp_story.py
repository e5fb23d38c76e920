"""The after-hours story on WhatsApp through the real handlers, the FIFO queue and DynamoDB (moto)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from conftest import ACME_NUMBER, BOGOTA, CONFIG, GLOBEX_NUMBER, Agent, WhatsAppUser
from handoff.config.texts import texts_for
from handoff.engine.flow import applied_recently
from handoff.engine.model import NO_PAYLOAD, YES_PAYLOAD
from handoff.runtime.wiring import conversation_store
from handoff_local import payloads
from handoff_tools.config_file import load_config
from handoff_tools.functions import ROOT

ACME = load_config(CONFIG)[0]
TEXTS = texts_for(ACME, ACME.rule_for("whatsapp"), "es")


def at_night(run) -> None:
    run.advance_to(22, BOGOTA, weekday=True)


def waiting_user(run, wa_id: str = "573001110001") -> WhatsAppUser:
    user = WhatsAppUser(run, wa_id, name="Ana")
    user.says("Quiero hablar con un agente")
    user.taps(YES_PAYLOAD, "Sí, quiero esperar")
    return user


def report(tenant: str = "acme") -> list[dict]:
    return sorted(
        (row.model_dump() for row in conversation_store().report_rows(tenant)),
        key=lambda r: (r["conversation_id"], r["session"]),
    )


def test_the_whole_story(run):
    at_night(run)
    ana = WhatsAppUser(run, "573001110001", name="Ana")
    carla = Agent(run, "carla")

    # Given no agent online at night, when Ana asks for an agent, then she is offered to wait
    ana.says("Hola")
    ana.says("Quiero hablar con un agente")
    offer = ana.received()[-1]
    assert offer["type"] == "interactive" and offer["interactive"]["type"] == "button"
    buttons = [b["reply"] for b in offer["interactive"]["action"]["buttons"]]
    assert [b["id"] for b in buttons] == [YES_PAYLOAD, NO_PAYLOAD]
    assert offer["interactive"]["body"]["text"] == TEXTS.offer

    # When she taps YES, then she gets the attention message and waits in Live, marked on hold
    ana.taps(YES_PAYLOAD, "Sí, quiero esperar")
    assert ana.texts()[-1] == f"{TEXTS.attention} Tu lugar en la fila: 1."
    [waiting] = carla.conversations()
    assert waiting["on_hold"] and waiting["state"] == "queued" and waiting["user_name"] == "Ana"

    # She chats with the bot meanwhile; asking again shows the message again but no second transfer
    ana.says("¿Cuál es el horario?")
    assert "9:00" in ana.texts()[-1]
    ana.says("Por favor, un agente")
    assert ana.texts()[-1] == TEXTS.attention
    assert [c["id"] for c in carla.conversations()] == [waiting["id"]]
    assert carla.conversations()[0]["queued_at"] == waiting["queued_at"]

    # In the morning Carla comes online: Ana is told, once
    run.advance_to(9, BOGOTA, weekday=True)
    before = len(ana.received())
    assert carla.online().status == 200
    assert ana.texts()[before:] == [TEXTS.agent_available]
    run.tick()
    run.tick()
    assert len(ana.received()) == before + 1

    # Carla takes it, reads everything, replies; the bot stays silent
    assert carla.take(waiting["id"]).status == 200
    transcript = carla.read(waiting["id"]).json()["transcript"]
    user_lines = [line["text"] for line in transcript if line["author"] == "user"]
    assert user_lines == [
        "Hola",
        "Quiero hablar con un agente",
        "Sí, quiero esperar",
        "¿Cuál es el horario?",
        "Por favor, un agente",
    ]
    assert carla.reply(waiting["id"], "Hola Ana, soy Carla").status == 200
    assert ana.texts()[-1] == "Hola Ana, soy Carla"
    before = len(ana.received())
    ana.says("Mi pedido no llegó")
    assert len(ana.received()) == before
    assert carla.close(waiting["id"]).status == 200
    assert carla.conversations() == []

    # The chat report: the first session transferred, the second was the chat while waiting
    rows = report()
    assert [(r["session"], r["resolution"], r["after_hours"]) for r in rows] == [
        (1, "transferred", True),
        (2, "while_waiting", False),
    ]
    assert rows[1]["handoff_repeated"]
    assert run.dead_letters() == 0


def test_no_goes_on_with_the_bot_and_nothing_is_transferred(run):
    at_night(run)
    user = WhatsAppUser(run, "573001110002")
    user.says("agente")
    user.taps(NO_PAYLOAD, "No, gracias")
    assert user.texts()[-1] == TEXTS.declined
    assert Agent(run, "carla").conversations() == []


def test_typed_yes_in_spanish_is_a_yes(run):
    at_night(run)
    user = WhatsAppUser(run, "573001110003")
    user.says("agente")
    user.says("sí")
    assert user.texts()[-1].startswith(TEXTS.attention)
    assert len(Agent(run, "carla").conversations()) == 1


def test_silent_bot_sessions_get_their_report_rows_the_next_day_without_the_user(run):
    at_night(run)
    chatter = WhatsAppUser(run, "573001110021")
    chatter.says("Hola")  # only chats with the bot
    decliner = WhatsAppUser(run, "573001110022")
    decliner.says("Quiero hablar con un agente")
    decliner.says("no")  # says NO to the offer, then never comes back
    assert report() == []
    run.advance(23 * 3600)
    assert run.tick()["sessions_to_close"] == 0  # not silent for 24 hours yet
    # the index finds a session by the hour its last activity ends in: within an hour of its 24th
    run.advance(2 * 3600)
    assert run.tick()["sessions_to_close"] == 2
    rows = {(r["resolution"], r["declined"]) for r in report()}
    assert rows == {("bot", False), ("bot", True)}
    assert run.tick()["sessions_to_close"] == 0  # closed once
    from handoff import clock

    day = clock.now().date()
    response = run.http(
        "GET", "/admin/report", headers=run.as_admin("acme"),
        query={"from": str(day - timedelta(days=2)), "to": str(day)},
    )  # fmt: skip
    assert [row["resolution"] for row in response.json()["rows"]] == ["bot", "declined"]


def test_the_transcript_reads_in_the_users_order_when_meta_delivers_out_of_order(run):
    at_night(run)
    ana = WhatsAppUser(run, "573001110031", name="Ana")
    sent = ana.now()
    first = payloads.whatsapp_text(ana.wa_id, "primero", sent)
    second = payloads.whatsapp_text(ana.wa_id, "segundo", sent + timedelta(seconds=2))
    third = payloads.whatsapp_text(ana.wa_id, "tercero", sent + timedelta(seconds=4))
    run.advance(10)
    ana.send(third)  # Meta delivers the last one first, in its own delivery...
    run.advance(5)
    ana.send(second)
    run.advance(5)
    ana.send(first)  # ...and the first one last
    conversation = conversation_store().load_key(f"acme#whatsapp#{ACME_NUMBER}#{ana.wa_id}")
    assert conversation is not None
    lines = conversation_store().transcript(conversation.ref)
    users = [line.text for line in lines if line.author == "user"]
    assert users == ["primero", "segundo", "tercero"]  # as she sent them, not as they arrived
    times = [line.at for line in lines if line.author == "user"]
    assert times == sorted(times)
    # each of the bot's replies still comes after the message it answers
    for index, line in enumerate(lines):
        if line.author == "bot":
            assert any(earlier.author == "user" for earlier in lines[:index])


def test_a_redelivery_never_sends_what_the_dead_invocation_still_holds(run):
    from handoff.runtime.wiring import conversations

    at_night(run)
    ana = WhatsAppUser(run, "573001110041")
    graph = conversations().graph
    post = graph.post
    crashes = []

    def crash_before_the_send(request, token):  # the function dies between its commit and its send
        if not crashes:
            crashes.append(True)
            raise RuntimeError("the function crashed")
        return post(request, token)

    graph.post = crash_before_the_send
    try:
        ana.says("Hola")  # the queue redelivers; the event is known, its message leased to the dead one
    finally:
        graph.post = post
    # the redelivery sent nothing: the message is the dead invocation's for a minute from its commit
    assert crashes and ana.received() == [] and run.pending_outbox() == 1
    assert run.returned() == 1  # its record comes back when that lease ends
    run.advance(30)
    run.drain()
    assert ana.received() == [] and run.returned() == 1
    run.advance(31)
    run.drain()
    assert ana.texts() == [TEXTS.fallback] and run.pending_outbox() == 0 and run.dead_letters() == 0


def test_a_message_redriven_long_after_is_applied_once(run):
    from pydantic import TypeAdapter

    from handoff.engine.model import Event
    from handoff.runtime.wiring import conversations

    ana = WhatsAppUser(run, "573001110061")
    invoke = run.invoke
    bodies = []

    def keep_the_first_record(function, event):
        if function == "ConversationFunction" and not bodies:
            bodies.append(event["Records"][0]["body"])
        return invoke(function, event)

    run.invoke = keep_the_first_record
    ana.says("estado de mi pedido")
    run.invoke = invoke
    for n in range(40):  # enough newer messages that its id has left the conversation's recent ids
        ana.says(f"mensaje {n}")
    key = f"acme#whatsapp#{ACME_NUMBER}#{ana.wa_id}"
    conversation = conversation_store().load_key(key)
    assert conversation is not None
    lines, sent = len(conversation_store().transcript(conversation.ref)), len(ana.received())

    # a DLQ redrive days later: the FIFO dedupe long past, the id gone from the recent ones
    event = TypeAdapter(Event).validate_json(bodies[0])
    assert not applied_recently(conversation, event.event_id)
    conversations().apply(event)

    assert len(conversation_store().transcript(conversation.ref)) == lines  # nothing applied again
    assert len(ana.received()) == sent  # nothing sent again


def test_a_wait_expires_after_24_hours_without_activity(run):
    at_night(run)
    user = waiting_user(run, "573001110004")
    run.advance(23 * 3600)
    assert run.tick()["to_expire"] == 0
    run.advance(3600)
    assert run.tick()["to_expire"] == 1
    assert Agent(run, "carla").conversations() == []
    user.says("hola de nuevo")
    assert user.texts()[-1] == TEXTS.fallback  # starts afresh with the bot


def test_direct_handoff_keeps_the_bot_silent_while_waiting(run):
    run.advance_to(22, "America/Sao_Paulo", weekday=True)
    user = WhatsAppUser(run, "5511999990001", number=GLOBEX_NUMBER)
    user.says("quero falar com um atendente")
    user.taps(YES_PAYLOAD, "Sim")
    before = len(user.received())
    user.says("oi?")
    user.says("atendente por favor")
    assert len(user.received()) == before
    [waiting] = Agent(run, "rui", tenant_id="globex").conversations()
    assert waiting["direct"]


# --- Meta's delivery semantics ------------------------------------------------------------------


def test_the_same_delivery_twice_is_answered_once(run):
    user = WhatsAppUser(run, "573001110005")
    message = payloads.whatsapp_text(user.wa_id, "estado de mi pedido", user.now())
    assert user.send(message).status == 200
    assert user.send(message).status == 200
    assert len(user.received()) == 1


def test_a_batched_delivery_is_processed_whole(run):
    first, second = WhatsAppUser(run, "573001110006"), WhatsAppUser(run, "573001110007")
    body = payloads.whatsapp_delivery(
        ACME_NUMBER,
        payloads.whatsapp_text(first.wa_id, "hola", first.now()),
        payloads.whatsapp_text(first.wa_id, "mi pedido", first.now()),
    )
    other = payloads.whatsapp_delivery(
        ACME_NUMBER,
        payloads.whatsapp_text(second.wa_id, "horario", second.now()),
        payloads.whatsapp_text(second.wa_id, "gracias", second.now()),
    )
    body["entry"] += other["entry"]
    assert run.webhook("whatsapp", body).status == 200
    run.drain()
    assert len(first.received()) == 2 and len(second.received()) == 2


def test_an_unknown_phone_number_id_is_acknowledged_and_ignored(run):
    user = WhatsAppUser(run, "573001110008", number="999999999999999")
    assert user.says("hola").status == 200
    assert run.graph.requests == []


def test_a_bad_or_missing_signature_is_refused_and_nothing_is_queued(run):
    body = payloads.whatsapp_delivery(
        ACME_NUMBER, payloads.whatsapp_text("573001110009", "hola", WhatsAppUser(run, "x").now())
    )
    assert run.webhook("whatsapp", body, signed=False).status == 401
    forged = run.http(
        "POST",
        "/webhooks/whatsapp",
        body=b'{"object":"whatsapp_business_account","entry":[]}',
        headers={"X-Hub-Signature-256": "sha256=" + "0" * 64},
    )
    assert forged.status == 401
    assert run.drain() == 0


def test_malformed_json_is_a_clear_400(run):
    response = run.webhook("whatsapp", b'{"object": "whatsapp_business_account", "entry": [')
    assert response.status == 400
    assert "JSON" in response.body


def test_statuses_are_acknowledged_and_drive_nothing(run):
    body = json.loads((ROOT / "tests" / "fixtures" / "whatsapp" / "statuses_delivered_read.json").read_text())
    assert run.webhook("whatsapp", body).status == 200
    assert run.drain() == 0 and run.graph.requests == []


def test_the_verification_handshake(run):
    ok = run.http(
        "GET",
        "/webhooks/whatsapp",
        query={
            "hub.mode": "subscribe",
            "hub.verify_token": "local-verify-token",
            "hub.challenge": "1158201444",
        },
    )
    assert (ok.status, ok.body) == (200, "1158201444")
    wrong = run.http(
        "GET",
        "/webhooks/whatsapp",
        query={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1158201444"},
    )
    assert wrong.status == 403 and "1158201444" not in wrong.body


# --- nothing lost, nothing sent twice ------------------------------------------------------------


def test_a_graph_api_outage_delays_the_answer_but_never_loses_or_repeats_it(run):
    user = WhatsAppUser(run, "573001110010")
    throttled = {"error": {"message": "(#130429) Rate limit hit", "type": "OAuthException", "code": 130429}}
    run.graph.fail_next(400, throttled, times=2)
    user.says("estado de mi pedido")  # the send is refused: the answer waits in the outbox
    key = f"acme#whatsapp#{ACME_NUMBER}#{user.wa_id}"
    assert len(conversation_store().pending(key)) == 1
    user.says("gracias")  # the next step tries the older answer first (refused again), never the newer
    first_answer = user.received()[0]
    assert user.received() == [first_answer, first_answer]
    assert len(conversation_store().pending(key)) == 2
    run.advance(120)  # the sweep leaves messages younger than 2 minutes to their own step
    run.tick()
    received = user.received()
    assert len(received) == 4 and received[2] == first_answer  # each answer once more, in order
    assert received[3] != first_answer
    assert run.dead_letters() == 0 and conversation_store().pending(key) == []


def test_a_send_that_must_wait_puts_its_record_back_for_later_and_holds_no_other_conversation(run):
    ana, bruno = WhatsAppUser(run, "573001110013"), WhatsAppUser(run, "573001110014")
    down = {"error": {"message": "Service temporarily unavailable", "type": "OAuthException", "code": 2}}
    run.graph.fail_next(503, down)
    invoke = run.invoke
    results = []

    def recorded(function, event):
        result = invoke(function, event)
        if function == "ConversationFunction":
            results.append(result)
        return result

    run.invoke = recorded
    body = payloads.whatsapp_delivery(
        ACME_NUMBER,
        payloads.whatsapp_text(ana.wa_id, "Hola", ana.now()),
        payloads.whatsapp_text(bruno.wa_id, "Hola", bruno.now()),
    )
    run.webhook("whatsapp", body)
    run.drain()
    run.invoke = invoke
    # Ana's record is put back for later (her event applied, its send waiting), not failed
    assert [len(result["batchItemFailures"]) for result in results] == [1] and run.returned() == 1
    assert len(ana.received()) == 1 and bruno.texts() == [TEXTS.fallback]  # Bruno was not held
    run.advance(2)  # the first backoff: 1 to 2 seconds
    run.drain()
    assert ana.texts() == [TEXTS.fallback, TEXTS.fallback] and run.pending_outbox() == 0
    assert run.returned() == 0 and run.dead_letters() == 0


def test_a_send_that_keeps_failing_comes_back_with_backoff_then_the_sweep_sends_it_once(run):
    user = WhatsAppUser(run, "573001110011")
    down = {"error": {"message": "Service temporarily unavailable", "type": "OAuthException", "code": 2}}
    run.graph.fail_next(503, down, times=5)  # the first try and the record's four returns fail
    user.says("estado de mi pedido")
    key = f"acme#whatsapp#{ACME_NUMBER}#{user.wa_id}"
    for backoff in (2, 4, 8, 16):  # the longest each wait may be: 1-2, 2-4, 4-8, 8-16 seconds
        assert len(conversation_store().pending(key)) == 1 and run.returned() == 1
        run.advance(backoff)
        run.drain()
    # its five receives spent (the queue's maxReceiveCount): the sweep has it now, never the DLQ
    assert len(conversation_store().pending(key)) == 1 and run.returned() == 0
    run.advance(120)
    run.tick()
    accepted = [r for r in run.graph.requests if r.json.get("to") == f"+{user.wa_id}"][5:]
    assert len(accepted) == 1
    assert conversation_store().pending(key) == [] and run.dead_letters() == 0


def test_a_message_refused_for_good_is_not_retried(run):
    user = WhatsAppUser(run, "573001110012")
    invalid = {"error": {"message": "(#100) Invalid parameter", "type": "OAuthException", "code": 100}}
    run.graph.fail_next(400, invalid)
    user.says("estado de mi pedido")
    run.advance(180)
    run.tick()
    assert len(user.received()) == 1
    assert run.dead_letters() == 0


# --- Live -----------------------------------------------------------------------------------------


def test_two_agents_take_at_once_one_gets_a_409(run):
    at_night(run)
    waiting_user(run, "573001110013")
    ana, bruno = Agent(run, "ana"), Agent(run, "bruno")
    [conversation] = ana.conversations()
    assert ana.take(conversation["id"]).status == 200
    taken = bruno.take(conversation["id"])
    assert taken.status == 409 and "Another agent" in taken.json()["message"]


def test_another_tenant_sees_nothing_and_gets_404(run):
    at_night(run)
    waiting_user(run, "573001110014")
    [conversation] = Agent(run, "carla").conversations()
    outsider = Agent(run, "rui", tenant_id="globex")
    assert outsider.conversations() == []
    for response in (
        outsider.read(conversation["id"]),
        outsider.take(conversation["id"]),
        outsider.reply(conversation["id"], "hi"),
        outsider.close(conversation["id"]),
    ):
        assert response.status == 404


def test_live_needs_a_valid_token(run):
    assert run.http("GET", "/live/conversations").status == 401
    assert run.http("GET", "/live/conversations", headers={"Authorization": "Bearer nope"}).status == 401


def test_a_bad_reply_body_is_a_422_that_names_the_field(run):
    at_night(run)
    waiting_user(run, "573001110015")
    carla = Agent(run, "carla")
    [conversation] = carla.conversations()
    carla.take(conversation["id"])
    response = carla.call("POST", f"/live/conversations/{conversation['id']}/reply", {"txt": "hi"})
    assert response.status == 422
    assert "text" in response.body


@pytest.mark.parametrize("conversation", ["not-an-id!", "YWNtZSN3aGF0c2FwcCMx", "A" * 22])
def test_an_unknown_conversation_is_a_404(run, conversation):
    assert Agent(run, "carla").read(conversation).status == 404


def test_yes_tapped_again_while_waiting_tells_the_place_since_the_wait_began(run):
    at_night(run)
    first, second, _later = (waiting_user(run, f"57300111003{n}") for n in range(3))
    run.advance(600)
    second.taps(YES_PAYLOAD, "Sí, quiero esperar")  # an old message's button, tapped again
    # second in line: one wait began before hers; the third, who came later, does not count
    assert second.texts()[-1] == "Ya estás en la fila de atención. Tu lugar: 2."
    assert first.texts()[-1].endswith("Tu lugar en la fila: 1.")


# --- capacity-aware wake-ups --------------------------------------------------------------------


def test_users_are_told_in_line_order_as_seats_free_up(run):
    at_night(run)
    first, second, third = (waiting_user(run, f"57300111002{n}") for n in range(3))
    assert first.texts()[-1].endswith("Tu lugar en la fila: 1.")
    assert third.texts()[-1].endswith("Tu lugar en la fila: 3.")
    run.advance_to(9, BOGOTA, weekday=True)
    carla = Agent(run, "carla")
    carla.online()  # acme's agents have 3 seats each: Carla alone can take all three
    told = [u for u in (first, second, third) if u.texts()[-1] == TEXTS.agent_available]
    assert told == [first, second, third]


def test_with_one_seat_the_next_user_is_told_when_the_seat_frees(run):
    at_night(run)
    first, second = waiting_user(run, "573001110030"), waiting_user(run, "573001110031")
    from handoff.runtime.wiring import directory

    acme = directory().tenant("acme")
    directory().save_tenant(acme.model_copy(update={"agent_seats": 1}))
    run.advance_to(9, BOGOTA, weekday=True)
    carla = Agent(run, "carla")
    carla.online()
    assert first.texts()[-1] == TEXTS.agent_available
    assert second.texts()[-1] != TEXTS.agent_available  # one seat: only the first in line
    run.tick()
    assert second.texts()[-1] != TEXTS.agent_available  # still promised to the first
    [waiting_first] = [c for c in carla.conversations() if c["notified_available"]]
    carla.take(waiting_first["id"])
    run.tick()
    assert second.texts()[-1] != TEXTS.agent_available  # Carla's only seat is taken by the chat
    carla.close(waiting_first["id"])
    run.tick()
    assert second.texts()[-1] == TEXTS.agent_available


def test_an_agent_at_capacity_is_refused_another_take(run):
    at_night(run)
    for wa_id in ("573001110032", "573001110033"):
        waiting_user(run, wa_id)
    from handoff.runtime.wiring import directory

    acme = directory().tenant("acme")
    directory().save_tenant(acme.model_copy(update={"agent_seats": 1}))
    run.advance_to(9, BOGOTA, weekday=True)
    carla = Agent(run, "carla")
    carla.online()
    [one, other] = sorted(carla.conversations(), key=lambda c: c["queued_at"])
    assert carla.take(one["id"]).status == 200

    refused = carla.take(other["id"])

    assert refused.status == 409
    assert refused.json()["message"] == (
        "you already have 1 chat, as many as your 1 seat: close one before taking another"
    )
    assert carla.take(one["id"]).status == 200  # her own chat again is not another one
    assert Agent(run, "diego").take(other["id"]).status == 200  # another agent's seats are his


def test_an_agents_own_seats_come_before_the_tenants(run):
    at_night(run)
    users = [waiting_user(run, f"57300111007{n}") for n in range(4)]
    run.advance_to(9, BOGOTA, weekday=True)

    carla = Agent(run, "carla", seats=1)  # Cognito's custom:seats; acme gives 3 to the others
    presence = carla.online().json()
    assert presence["seats"] == 1
    assert [u.texts()[-1] == TEXTS.agent_available for u in users] == [True, False, False, False]

    Agent(run, "diego").online()  # acme's default: 3 seats
    assert [u.texts()[-1] == TEXTS.agent_available for u in users] == [True, True, True, True]

    [taken, *_] = sorted(carla.conversations(), key=lambda c: c["queued_at"])
    assert carla.take(taken["id"]).status == 200
    other = next(c for c in carla.conversations() if c["state"] == "queued")
    assert carla.take(other["id"]).status == 409  # one seat, one chat


def test_everyone_mode_tells_every_waiting_user_at_once(run):
    at_night(run)
    users = [waiting_user(run, f"57300111004{n}") for n in range(4)]
    from handoff.runtime.wiring import directory

    acme = directory().tenant("acme")
    directory().save_tenant(acme.model_copy(update={"agent_seats": 1, "wake_mode": "everyone"}))
    run.advance_to(9, BOGOTA, weekday=True)
    Agent(run, "carla").online()
    assert all(u.texts()[-1] == TEXTS.agent_available for u in users)


def test_live_is_for_the_agents_group(run):
    from handoff_tools import tokens

    outsider = tokens.issue("acme", "someone", groups=())
    response = run.http("GET", "/live/conversations", headers={"Authorization": f"Bearer {outsider}"})
    assert response.status == 403
    assert "agents group" in response.json()["message"]


def test_presence_lapses_without_a_heartbeat(run):
    at_night(run)
    user = waiting_user(run, "573001110050")
    run.advance_to(9, BOGOTA, weekday=True)
    carla = Agent(run, "carla")
    carla.online()
    run.advance(3 * 60)  # the console stopped sending presence: Carla closed her laptop
    later = waiting_user(run, "573001110051")
    run.tick()
    assert later.texts()[-1] != TEXTS.agent_available
    carla.online()  # the heartbeat comes back
    assert later.texts()[-1] == TEXTS.agent_available
    assert user.texts().count(TEXTS.agent_available) == 1


# --- events out ------------------------------------------------------------------------------------


def test_taking_closing_and_expiring_are_published_on_the_bus(run):
    at_night(run)
    waiting_user(run, "573001110060")
    run.advance_to(9, BOGOTA, weekday=True)
    carla = Agent(run, "carla")
    [conversation] = carla.conversations()
    carla.take(conversation["id"])
    carla.close(conversation["id"])
    at_night(run)
    waiting_user(run, "573001110061")
    run.advance(24 * 3600)
    run.tick()

    assert [e.detail_type for e in run.published] == [
        "ConversationQueued",
        "ConversationTaken",
        "ConversationClosed",
        "ConversationQueued",
        "WaitExpired",
    ]
    queued, taken = run.published[0].detail, run.published[1].detail
    assert queued["conversation_id"] == conversation["id"] and queued["on_hold"]
    assert queued["agent_id"] is None and queued["at"] == queued["queued_at"]
    assert taken["conversation_id"] == conversation["id"] and taken["agent_id"] == "carla"
    assert taken["tenant_id"] == "acme" and taken["channel"] == "whatsapp" and taken["on_hold"]
    assert taken["waited_seconds"] > 10 * 3600
    assert run.published[4].detail["agent_id"] is None
    assert conversation_store().all_pending() == []  # nothing left owed


def test_an_event_the_bus_refuses_stays_owed_and_is_published_later(run, monkeypatch):
    from handoff.adapters.event_bus import EventBusUnavailable
    from handoff.runtime import wiring

    at_night(run)
    waiting_user(run, "573001110062")
    carla = Agent(run, "carla")
    [conversation] = carla.conversations()
    publish = wiring.publish_event
    failures = iter([EventBusUnavailable("ThrottlingException")])  # refused once, then fine

    def flaky(event):
        error = next(failures, None)
        if error is not None:
            raise error
        publish(event)

    monkeypatch.setattr(wiring, "publish_event", flaky)
    assert [e.detail_type for e in run.published] == ["ConversationQueued"]
    run.published.clear()
    assert carla.take(conversation["id"]).status == 200  # the take is committed either way
    assert [e.detail_type for e in run.published] == []
    assert len(conversation_store().all_pending()) == 1
    run.advance(180)
    run.tick()
    assert [e.detail_type for e in run.published] == ["ConversationTaken"]
    assert conversation_store().all_pending() == []
