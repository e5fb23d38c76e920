"""The flow's invariants over random conversations: whatever users, agents and the clock do."""

from __future__ import annotations

import contextlib
from datetime import timedelta

from flow_support import Driver, after_hours_rule, tenant
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handoff.engine.errors import FlowError
from handoff.engine.model import (
    NO_PAYLOAD,
    YES_PAYLOAD,
    Metric,
    SendChoice,
    SendTemplate,
    SendText,
    SessionClosed,
    UserMessage,
)
from handoff.engine.windows import INACTIVITY_LIMIT

TEXTS = ["hola", "I want an agent", "agent", "yes", "no", "sí", "não", "where is my order", "ok"]
user_actions = st.tuples(
    st.just("user"),
    st.sampled_from(TEXTS),
    st.sampled_from([None, None, YES_PAYLOAD, NO_PAYLOAD]),
    st.sampled_from(["text", "text", "text", "image"]),
)
clock_moves = st.tuples(
    st.just("wait"), st.sampled_from([1, 60, 3600, 6 * 3600, 23 * 3600 + 3599, 24 * 3600, 30 * 3600])
)
presence = st.tuples(st.just("online"), st.booleans())
wake_pass = st.sampled_from([("wake",), ("expiry",)])
agent_actions = st.tuples(st.sampled_from(["take", "reply", "close"]), st.sampled_from(["ana", "bruno"]))
actions = st.lists(
    st.one_of(user_actions, user_actions, clock_moves, presence, wake_pass, agent_actions), max_size=40
)


def play(driver: Driver, action: tuple) -> None:
    match action:
        case ("user", text, payload, kind):
            driver.user(text, payload=payload, kind=kind)
        case ("wait", seconds):
            driver.wait(seconds=seconds)
        case ("online", online):
            driver.online = online
        case ("wake",):
            driver.wake()
        case ("expiry",):
            driver.expiry_check()
        case ("take", agent):
            driver.take(agent)
        case ("reply", agent):
            driver.reply("hello from Live", agent)
        case ("close", agent):
            driver.close(agent)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(direct=st.booleans(), script=actions)
def test_the_flow_invariants_hold_for_any_sequence(direct, script):
    driver = Driver(tenant(rule=after_hours_rule(direct=direct)))
    woken_per_wait: dict[object, int] = {}
    for action in script:
        before = driver.conversation
        mark = len(driver.effects)
        try:
            play(driver, action)
        except FlowError:
            assert driver.conversation == before, "a refused action changes nothing"
            continue
        after, effects = driver.conversation, driver.effects[mark:]
        event_kind = action[0]
        idle = driver.now - (before.last_activity_at or before.queued_at or driver.now)
        expired_on_arrival = before.state == "queued" and idle >= INACTIVITY_LIMIT

        # never two Live transfers for one wait: a transfer happens exactly when a wait begins
        transfers = [
            e for e in effects if isinstance(e, SessionClosed) and e.record.resolution == "transferred"
        ]
        entered_queue = after.state == "queued" and (
            before.state != "queued" or before.queued_at != after.queued_at
        )
        assert len(transfers) == (1 if entered_queue else 0)
        if before.state == "queued" and after.state == "queued" and not expired_on_arrival:
            assert after.queued_at == before.queued_at

        # a waiting conversation leaves the queue only by an agent or after 24 h without activity
        if before.state == "queued" and after.state not in ("queued", "with_agent"):
            assert event_kind in ("take", "close") or expired_on_arrival

        # with an agent the conversation ends only when the agent closes it
        if before.state == "with_agent" and after.state != "with_agent":
            assert event_kind == "close"

        # direct handoffs never get a bot reply while waiting or with an agent
        bot_replies = [
            e for e in effects if isinstance(e, SendText | SendChoice | SendTemplate) and e.author == "bot"
        ]
        waiting_or_taken = before.state in ("queued", "with_agent") and not expired_on_arrival
        if before.direct and waiting_or_taken and event_kind == "user":
            assert bot_replies == []

        # the bot is silent with an agent, whatever the user writes
        if before.state == "with_agent" and event_kind == "user":
            assert bot_replies == []

        # each waiting user is told once that an agent is available
        woken = sum(1 for e in effects if isinstance(e, Metric) and e.name == "UserWoken")
        if woken:
            woken_per_wait[after.queued_at] = woken_per_wait.get(after.queued_at, 0) + woken
            assert woken_per_wait[after.queued_at] == 1


@settings(max_examples=100, deadline=None)
@given(script=actions)
def test_replaying_any_user_message_changes_nothing(script):
    driver = Driver(tenant(rule=after_hours_rule()))
    for action in script:
        try:
            play(driver, action)
        except FlowError:
            continue
    message = UserMessage(
        ref=driver.conversation.ref, event_id="wamid.replayed", sent_at=driver.now, kind="text", text="agent"
    )
    driver.apply(message)
    settled = driver.conversation
    assert driver.apply(message) == []
    assert driver.conversation == settled


@settings(max_examples=100, deadline=None)
@given(script=actions)
def test_the_engine_reads_no_clock(script):
    """The same events at the same context times give the same result, whenever they are run."""
    first, second = Driver(tenant(rule=after_hours_rule())), Driver(tenant(rule=after_hours_rule()))
    for action in script:
        for driver in (first, second):
            with contextlib.suppress(FlowError):
                play(driver, action)
    # event ids differ between the two drivers, and with them what is derived from them
    derived = {"recent_event_ids": True, "session": {"id"}}
    assert first.conversation.model_dump(exclude=derived) == second.conversation.model_dump(exclude=derived)
    assert len(first.effects) == len(second.effects)
    assert first.now - second.now == timedelta(0)
