"""Seats and windows: the pure rules the wake pass, the take and Live's list share."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flow_support import REF, START

from handoff.engine.errors import AtCapacity
from handoff.engine.model import Conversation
from handoff.engine.seats import OnlineAgent, check_can_take, seats_left
from handoff.engine.windows import (
    agent_may_send,
    chat_closes_at,
    is_expired,
    reply_window_closes_at,
    wait_expires_at,
    window_closes_at,
    window_open,
)


def with_agent(agent_id: str) -> Conversation:
    return Conversation(ref=REF, state="with_agent", agent_id=agent_id, taken_at=START)


def waiting() -> Conversation:
    return Conversation(ref=REF, state="queued", on_hold=True, queued_at=START)


def test_free_seats_are_the_online_agents_seats_less_their_chats_and_the_users_told():
    online = [OnlineAgent(agent_id="ana", seats=3), OnlineAgent(agent_id="bo")]  # bo: the tenant's 2
    chats = [with_agent("ana"), with_agent("bo"), with_agent("bo")]
    assert seats_left(online, chats, promised=1, tenant_seats=2) == (3 - 1) + (2 - 2) - 1


def test_an_agent_over_their_seats_frees_none_for_others_and_nothing_goes_negative():
    online = [OnlineAgent(agent_id="ana", seats=1)]
    assert seats_left(online, [with_agent("ana"), with_agent("ana")], promised=1, tenant_seats=5) == 0
    assert seats_left([], [], promised=0, tenant_seats=5) == 0


def test_a_take_is_refused_at_the_agents_own_seats_before_the_tenants():
    check_can_take("ana", 2, 1, [with_agent("ana")])  # her own 2 seats: one left
    with pytest.raises(AtCapacity, match="1 chat, as many as your 1 seat"):
        check_can_take("ana", None, 1, [with_agent("ana"), with_agent("bo")])


def test_windows_follow_the_users_last_message_and_the_channel():
    last = START
    conversation = Conversation(ref=REF, last_user_message_at=last)
    messenger = Conversation(ref=REF.model_copy(update={"channel": "messenger"}), last_user_message_at=last)
    assert window_closes_at(conversation) == last + timedelta(hours=24)
    assert reply_window_closes_at(conversation) == last + timedelta(hours=24)
    assert reply_window_closes_at(messenger) == last + timedelta(days=7)
    assert window_open(conversation, last + timedelta(hours=23, minutes=59))
    assert not window_open(conversation, last + timedelta(hours=24))
    assert window_closes_at(Conversation(ref=REF)) is None and not window_open(Conversation(ref=REF), last)


def test_what_an_agent_may_send_text_then_a_template_on_whatsapp_then_nothing_on_messenger():
    last = START
    whatsapp = Conversation(ref=REF, last_user_message_at=last)
    messenger = Conversation(ref=REF.model_copy(update={"channel": "messenger"}), last_user_message_at=last)
    assert agent_may_send(whatsapp, last + timedelta(hours=23, minutes=59)) == "text"
    assert agent_may_send(whatsapp, last + timedelta(hours=24)) == "template"
    assert agent_may_send(messenger, last + timedelta(days=6, hours=23)) == "text"
    assert agent_may_send(messenger, last + timedelta(days=7)) == "nothing"
    assert agent_may_send(Conversation(ref=REF), last) == "template"  # the user never wrote


def test_a_wait_expires_24_hours_after_its_last_activity_and_only_while_queued():
    queued = waiting().model_copy(update={"last_activity_at": START + timedelta(hours=2)})
    assert wait_expires_at(queued) == START + timedelta(hours=26)
    assert not is_expired(queued, START + timedelta(hours=25, minutes=59))
    assert is_expired(queued, START + timedelta(hours=26))
    assert wait_expires_at(with_agent("ana")) is None


def test_an_idle_chat_closes_after_its_days_but_never_inside_the_agents_reply_window():
    messenger = REF.model_copy(update={"channel": "messenger"})
    chat = Conversation(
        ref=messenger, state="with_agent", agent_id="ana", taken_at=START,
        last_activity_at=START, last_user_message_at=START,
    )  # fmt: skip
    # one day asked for, but Messenger lets the agent answer for 7 days after the user's message
    assert chat_closes_at(chat, timedelta(days=1)) == START + timedelta(days=7)
    assert chat_closes_at(chat, timedelta(days=10)) == START + timedelta(days=10)
    on_whatsapp = chat.model_copy(update={"ref": REF})
    assert chat_closes_at(on_whatsapp, timedelta(days=1)) == START + timedelta(days=1)
    # only a chat an agent holds ever closes so
    assert chat_closes_at(waiting(), timedelta(days=1)) is None
