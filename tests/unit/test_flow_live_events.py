"""The conversation events that keep Live's consoles current (issue 13, live updates): a conversation
entering the queue, a user's message while it is in Live, an agent's message. Never the bot's
chatter outside Live: that would cost a bus event per message for nothing (Given / When / Then)."""

from __future__ import annotations

from flow_support import Driver, after_hours_rule, tenant

from handoff.engine.flow import step
from handoff.engine.model import YES_PAYLOAD, ConversationEvent, Effect, UserMessage

CHECKING_IN = {"name": "checking_in", "language": "en_US", "title": "Checking in", "parameters": ["Name"]}


def announced(effects: list[Effect]) -> list[tuple[str, str | None]]:
    return [(e.name, e.agent_id) for e in effects if isinstance(e, ConversationEvent)]


def test_chatting_with_the_bot_announces_nothing():
    driver = Driver(tenant(rule=after_hours_rule()))

    effects = driver.user("hello") + driver.user("what are your hours?")

    assert announced(effects) == []


def test_a_conventional_handoff_announces_the_queued_conversation_not_the_message():
    # Given an agent online, when the user asks for one
    driver = Driver(tenant(rule=after_hours_rule()), online=True)
    effects = driver.user("I want an agent")

    # Then Live hears that a conversation entered the queue, once
    [queued] = [e for e in effects if isinstance(e, ConversationEvent)]
    assert (queued.name, queued.agent_id, queued.on_hold) == ("ConversationQueued", None, False)
    assert queued.queued_at == queued.at == driver.now


def test_accepting_to_wait_after_hours_announces_a_queued_conversation_on_hold():
    driver = Driver(tenant(rule=after_hours_rule()))
    driver.user("I want an agent")

    effects = driver.user(payload=YES_PAYLOAD, text="Yes")

    [queued] = [e for e in effects if isinstance(e, ConversationEvent)]
    assert (queued.name, queued.on_hold) == ("ConversationQueued", True)


def test_the_users_messages_are_announced_while_waiting_and_while_with_an_agent():
    # Given a user waiting after hours
    driver = Driver(tenant(rule=after_hours_rule()))
    driver.user("I want an agent")
    driver.user(payload=YES_PAYLOAD, text="Yes")

    # When they write while waiting (the bot chats with them meanwhile), then after Ana took it
    driver.wait(minutes=5)
    waiting = driver.user("hello? anyone?")
    driver.take("ana")
    driver.wait(minutes=1)
    with_ana = driver.user("my order is late") + driver.user(kind="image")

    # Then each message is announced, naming who holds the conversation
    assert announced(waiting) == [("UserMessageReceived", None)]
    assert announced(with_ana) == [("UserMessageReceived", "ana"), ("UserMessageReceived", "ana")]


def test_a_direct_handoff_announces_the_messages_it_keeps_for_the_agent():
    driver = Driver(tenant(rule=after_hours_rule(direct=True)))
    driver.user("I want an agent")
    driver.user(payload=YES_PAYLOAD, text="Yes")

    assert announced(driver.user("hello? anyone?")) == [("UserMessageReceived", None)]


def test_after_the_agent_closed_the_users_messages_go_unannounced_again():
    driver = Driver(tenant(rule=after_hours_rule()), online=True)
    driver.user("I want an agent")
    driver.take("ana")
    driver.close("ana")

    assert announced(driver.user("thanks, bye")) == []


def test_a_message_after_the_wait_expired_announces_the_expiry_only():
    driver = Driver(tenant(rule=after_hours_rule()))
    driver.user("I want an agent")
    driver.user(payload=YES_PAYLOAD, text="Yes")
    driver.wait(hours=25)

    assert announced(driver.user("still there?")) == [("WaitExpired", None)]


def test_an_agents_reply_and_template_are_announced():
    # Given a chat Ana took
    driver = Driver(tenant(rule=after_hours_rule(), agent_templates=[CHECKING_IN]), online=True)
    driver.user("I want an agent")
    driver.take("ana")

    # When she replies, and a day later sends a template
    reply = driver.reply("hi, how can I help?", agent="ana")
    driver.wait(hours=25)
    template = driver.send_template("checking_in", "en_US", "Sam", agent="ana")

    # Then each is announced as hers
    assert announced(reply) == [("AgentMessageSent", "ana")]
    assert announced(template) == [("AgentMessageSent", "ana")]


def test_a_redelivered_message_announces_nothing_twice():
    # Given a queued conversation whose user's message was applied once
    driver = Driver(tenant(rule=after_hours_rule()), online=True)
    driver.user("I want an agent")
    message = UserMessage(ref=driver.ref, event_id="wamid.again", sent_at=driver.now, kind="text", text="hi")
    once = driver.apply(message)

    # When the queue delivers it again
    _, again = step(driver.conversation, message, driver.context())

    # Then only the first time was announced
    assert announced(once) == [("UserMessageReceived", None)]
    assert again == []
