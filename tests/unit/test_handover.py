"""Handing a conversation over (issue 13): to another agent, or back to the queue in its place.

The agent's chat ends (`handed_over` / `returned`), the receiver's begins, the transcript and the
bus say it by name and id, and the user is not told.
"""

from __future__ import annotations

import json
from datetime import timedelta
from itertools import count

import pytest
from flow_support import Driver, after_hours_rule, tenant

from handoff.engine.errors import AtCapacity, Conflict, NotYours
from handoff.engine.model import (
    YES_PAYLOAD,
    AgentCloses,
    AgentHandsOver,
    AgentReplies,
    AgentTakes,
    ChatEnded,
    Conversation,
    ConversationEvent,
    Effect,
    Metric,
    SendChoice,
    SendTemplate,
    SendText,
    SessionClosed,
    TranscriptEntry,
    WaitEnded,
)
from handoff.engine.seats import OnlineAgent, check_can_receive
from handoff.engine.windows import chat_closes_at, wait_expires_at
from handoff.reports.chat import build_report
from handoff.reports.records import ChatRecord, WaitRecord

_ids = count(1)


def of[E](kind: type[E], effects: list[Effect]) -> list[E]:
    return [e for e in effects if isinstance(e, kind)]


def notes(effects: list[Effect]) -> list[str | None]:
    return [e.text for e in of(TranscriptEntry, effects) if e.author == "system"]


def take(driver: Driver, agent: str, name: str | None) -> list[Effect]:
    return driver.apply(
        AgentTakes(ref=driver.ref, event_id=f"take#{next(_ids)}", agent_id=agent, agent_name=name)
    )


def hand_over(
    driver: Driver, agent: str, to: str | None, *, name: str | None = None, to_name: str | None = None
) -> list[Effect]:
    event = AgentHandsOver(
        ref=driver.ref,
        event_id=f"handover#{next(_ids)}",
        agent_id=agent,
        agent_name=name,
        to_agent_id=to,
        to_agent_name=to_name,
    )
    return driver.apply(event)


def reply(driver: Driver, agent: str, text: str) -> list[Effect]:
    return driver.apply(
        AgentReplies(ref=driver.ref, event_id=f"reply#{next(_ids)}", agent_id=agent, text=text)
    )


def with_carla() -> Driver:
    """A user who waited the night; Carla took the conversation in the morning."""
    driver = Driver(tenant(rule=after_hours_rule()))
    driver.user("I want an agent")
    driver.user(payload=YES_PAYLOAD, text="Yes")
    driver.wait(hours=9)
    take(driver, "carla", "Carla")
    driver.wait(minutes=5)
    assert (driver.conversation.state, driver.conversation.agent_name) == ("with_agent", "Carla")
    return driver


def sends(effects: list[Effect]) -> list[Effect]:
    return [e for e in effects if isinstance(e, SendText | SendChoice | SendTemplate)]


def test_carla_hands_the_conversation_to_diego_whose_chat_begins_then():
    driver = with_carla()
    taken_at = driver.conversation.taken_at
    queued_at = driver.conversation.queued_at

    effects = hand_over(driver, "carla", "diego", name="Carla", to_name="Diego")

    [ended] = of(ChatEnded, effects)
    assert (ended.outcome, ended.agent_id, ended.agent_name) == ("handed_over", "carla", "Carla")
    assert (ended.taken_at, ended.ended_at) == (taken_at, driver.now)
    conversation = driver.conversation
    assert (conversation.state, conversation.agent_id, conversation.agent_name) == (
        "with_agent",
        "diego",
        "Diego",
    )
    assert conversation.taken_at == driver.now and conversation.queued_at == queued_at
    assert notes(effects) == ["Carla handed the conversation to Diego."]
    [event] = of(ConversationEvent, effects)
    assert (event.name, event.agent_id, event.to_agent_id) == ("ConversationHandedOver", "carla", "diego")
    assert sends(effects) == [] and of(WaitEnded, effects) == []  # the user is not told; no wait

    with pytest.raises(NotYours):
        reply(driver, "carla", "still me?")
    [line] = [e for e in of(TranscriptEntry, reply(driver, "diego", "Hi, Diego here")) if e.author == "agent"]
    assert (line.text, line.agent_name) == ("Hi, Diego here", "Diego")

    driver.wait(minutes=20)
    closed = driver.apply(AgentCloses(ref=driver.ref, event_id="close#diego", agent_id="diego"))
    [ended] = of(ChatEnded, closed)
    assert (ended.outcome, ended.agent_id, ended.agent_name) == ("closed", "diego", "Diego")
    assert ended.taken_at == conversation.taken_at  # Diego's chat, from the handover
    assert notes(closed) == ["Diego closed the conversation."]


def test_diego_puts_it_back_in_the_queue_where_it_keeps_its_place():
    driver = with_carla()
    queued_at = driver.conversation.queued_at
    hand_over(driver, "carla", "diego", name="Carla", to_name="Diego")
    driver.wait(minutes=10)

    effects = hand_over(driver, "diego", None, name="Diego")

    [ended] = of(ChatEnded, effects)
    assert (ended.outcome, ended.agent_id, ended.agent_name) == ("returned", "diego", "Diego")
    conversation = driver.conversation
    assert conversation.state == "queued" and conversation.queued_at == queued_at  # its place in line
    assert (conversation.agent_id, conversation.agent_name, conversation.taken_at) == (None, None, None)
    assert conversation.on_hold and conversation.returned_at == driver.now
    assert notes(effects) == ["Diego put the conversation back in the queue."]
    [event] = of(ConversationEvent, effects)
    assert (event.name, event.agent_id, event.to_agent_id, event.queued_at) == (
        "ConversationHandedOver", "diego", None, queued_at,
    )  # fmt: skip
    assert sends(effects) == [] and of(WaitEnded, effects) == []

    returned_at = driver.now
    driver.wait(minutes=15)
    retaken = take(driver, "ana", "Ana")
    [wait] = of(WaitEnded, retaken)  # the stretch since the return, not the whole wait again
    assert (wait.queued_at, wait.ended_at, wait.outcome, wait.returned) == (
        returned_at, driver.now, "taken", True,
    )  # fmt: skip
    [waited] = [m for m in of(Metric, retaken) if m.name == "TimeToAgent"]
    assert waited.value == pytest.approx(15 * 60)
    assert notes(retaken) == ["Ana took the conversation."]
    assert driver.conversation.returned_at is None


def test_the_first_wait_record_keeps_the_transfer_and_the_returned_one_its_own_stretch():
    driver = with_carla()
    first_take = driver.conversation.taken_at
    hand_over(driver, "carla", None, name="Carla")
    driver.wait(minutes=30)
    take(driver, "diego", "Diego")
    driver.wait(minutes=5)
    driver.apply(AgentCloses(ref=driver.ref, event_id="close#d", agent_id="diego"))

    waits = [
        WaitRecord(conversation_id="c1", **w.model_dump(exclude={"effect"}))
        for w in of(WaitEnded, driver.effects)
    ]
    chats = [
        ChatRecord(conversation_id="c1", **c.model_dump(exclude={"effect"}))
        for c in of(ChatEnded, driver.effects)
    ]
    sessions = [
        s.record.model_copy(update={"conversation_id": "c1"}) for s in of(SessionClosed, driver.effects)
    ]
    assert [w.returned for w in waits] == [False, True]
    assert len({w.queued_at for w in waits}) == 2  # two records: the second does not overwrite the first
    assert [(c.outcome, c.agent_name) for c in chats] == [("returned", "Carla"), ("closed", "Diego")]

    day = driver.now.date()
    report = build_report("acme", day - timedelta(days=1), day, sessions, waits, chats)
    [row] = report.rows
    assert row.resolution == "transferred" and row.wait_outcome == "taken"
    assert row.seconds_to_agent == int((first_take - row.ended_at).total_seconds())  # the first wait
    assert row.chat_outcome == "returned"


def test_only_the_agent_who_has_it_hands_it_over_and_never_to_themselves():
    driver = Driver(tenant(rule=after_hours_rule()))
    driver.user("I want an agent")
    driver.user(payload=YES_PAYLOAD, text="Yes")
    with pytest.raises(Conflict):
        hand_over(driver, "carla", "diego")  # queued: nobody has it
    take(driver, "carla", "Carla")
    with pytest.raises(NotYours):
        hand_over(driver, "diego", None)
    with pytest.raises(Conflict, match="already yours"):
        hand_over(driver, "carla", "carla")
    assert driver.conversation.agent_id == "carla"

    event = AgentHandsOver(ref=driver.ref, event_id="handover#once", agent_id="carla", to_agent_id=None)
    driver.apply(event)
    assert driver.apply(event) == []  # a repeated request changes nothing


def test_a_handover_restarts_the_idle_clocks():
    driver = with_carla()
    driver.wait(days=2)  # nobody wrote for two days
    hand_over(driver, "carla", "diego", name="Carla", to_name="Diego")
    assert chat_closes_at(driver.conversation, timedelta(days=3)) == driver.now + timedelta(days=3)

    driver.wait(hours=23)
    hand_over(driver, "diego", None, name="Diego")
    returned: Conversation = driver.conversation
    assert wait_expires_at(returned) == driver.now + timedelta(hours=24)
    driver.wait(hours=23)
    assert driver.expiry_check() == [] and driver.conversation.state == "queued"
    driver.wait(hours=1)
    expired = driver.expiry_check()
    [wait] = of(WaitEnded, expired)
    assert (wait.outcome, wait.queued_at, wait.returned) == ("expired", returned.returned_at, True)
    assert wait.ended_at >= wait.queued_at


def test_names_missing_from_older_events_fall_back_to_words():
    driver = Driver(tenant(rule=after_hours_rule()))
    driver.user("I want an agent")
    driver.user(payload=YES_PAYLOAD, text="Yes")
    effects = take(driver, "carla", None)
    assert notes(effects) == ["An agent took the conversation."]
    effects = hand_over(driver, "carla", "diego")
    assert notes(effects) == ["The agent handed the conversation to another agent."]
    assert of(ChatEnded, effects)[0].agent_name is None


def test_a_receiver_must_be_online_with_a_free_seat():
    driver = with_carla()
    diego = OnlineAgent(agent_id="diego", seats=1, name="Diego")
    ana = OnlineAgent(agent_id="ana", name="Ana")

    assert check_can_receive("ana", [diego, ana], 3, [driver.conversation]) == ana
    with pytest.raises(Conflict, match="not online"):
        check_can_receive("bruno", [diego, ana], 3, [])
    diegos = driver.conversation.model_copy(update={"agent_id": "diego"})
    with pytest.raises(AtCapacity, match="Diego already has 1 chat, as many as their 1 seat"):
        check_can_receive("diego", [diego, ana], 3, [diegos])
    assert check_can_receive("diego", [diego], 3, [driver.conversation]) == diego  # Carla's chat


def test_chat_records_read_back_whose_chat_it_was():
    """What the store keeps of a ChatEnded (its JSON, and the conversation id from the key), read back
    as the report and the console's closed chats read it; older records have neither field."""
    start = with_carla().now
    ended = ChatEnded(
        taken_at=start,
        ended_at=start + timedelta(minutes=5),
        outcome="handed_over",
        agent_id="carla",
        agent_name="Carla",
    )
    stored = {**json.loads(ended.model_dump_json()), "conversation_id": "c1"}
    record = ChatRecord.model_validate(stored)
    assert (record.outcome, record.agent_id, record.agent_name) == ("handed_over", "carla", "Carla")
    older = {k: v for k, v in stored.items() if k not in ("agent_id", "agent_name")}
    assert (ChatRecord.model_validate(older).agent_id, ChatRecord.model_validate(older).agent_name) == (
        None,
        None,
    )
