"""The after-hours flow, step by step as SPEC.md tells it (Given / When / Then)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from flow_support import REF, Driver, after_hours_rule, tenant

from handoff.config.models import ChannelAccount, HandoffRule
from handoff.config.texts import texts_for
from handoff.engine.bot import BotMessage, BotQuestion, BotTurn
from handoff.engine.errors import Conflict, NotYours, TemplateRefused, WindowClosed
from handoff.engine.facts import MissingFact
from handoff.engine.flow import RECENT_EVENT_IDS, step
from handoff.engine.model import (
    NO_PAYLOAD,
    YES_PAYLOAD,
    Conversation,
    ConversationEvent,
    Effect,
    Metric,
    Option,
    SendChoice,
    SendOptions,
    SendTemplate,
    SendText,
    SessionCheck,
    SessionClosed,
    TranscriptEntry,
    UserMessage,
    WaitEnded,
)

TEXTS = texts_for(tenant(), None, "en")


def sent(effects: list[Effect]) -> list[str]:
    return [
        e.text if isinstance(e, SendText | SendChoice) else f"template:{e.name}"
        for e in effects
        if isinstance(e, SendText | SendChoice | SendTemplate)
    ]


def of(kind: type, effects: list[Effect]) -> list:
    return [e for e in effects if isinstance(e, kind)]


def metrics(effects: list[Effect]) -> list[str]:
    return [e.name for e in of(Metric, effects)]


def waiting_driver(*, direct: bool = False) -> Driver:
    driver = Driver(tenant(rule=after_hours_rule(direct=direct)))
    driver.user("hello")
    driver.user("I want an agent")
    driver.user(payload=YES_PAYLOAD, text="Yes")
    assert driver.conversation.state == "queued" and driver.conversation.on_hold
    return driver


# --- step 1 and 2 -------------------------------------------------------------------------------


def test_the_bot_answers_and_opens_a_session():
    driver = Driver(tenant(rule=after_hours_rule()))
    effects = driver.user("hello")
    assert sent(effects) == ["bot: hello"]
    assert driver.conversation.session is not None and driver.conversation.session.number == 1
    assert driver.conversation.state == "bot"


def test_no_rule_for_the_channel_means_no_handoff_here():
    driver = Driver(tenant(rule=None))
    effects = driver.user("agent please")
    assert sent(effects) == [TEXTS.handoff_unavailable]
    assert driver.conversation.state == "bot"
    assert not of(SessionClosed, effects)


def test_available_is_the_conventional_handoff():
    driver = Driver(tenant(rule=after_hours_rule()), online=True)
    effects = driver.user("agent please")
    assert sent(effects) == [TEXTS.attention]
    [closed] = of(SessionClosed, effects)
    assert closed.record.resolution == "transferred" and not closed.record.after_hours
    assert driver.conversation.state == "queued" and not driver.conversation.on_hold
    assert "HandoffTransferred" in metrics(effects)


def test_not_available_without_after_hours_says_no_agents_and_goes_on():
    driver = Driver(tenant(rule={"channel": "whatsapp", "after_hours": False}))
    effects = driver.user("agent please")
    assert sent(effects) == [TEXTS.no_agents]
    assert driver.conversation.state == "bot"
    assert driver.user("thanks") and sent(driver.effects[-3:]) == ["bot: thanks"]


def test_not_available_with_after_hours_asks_whether_to_wait():
    driver = Driver(tenant(rule=after_hours_rule()))
    effects = driver.user("agent please")
    [choice] = of(SendChoice, effects)
    assert choice.text == TEXTS.offer
    assert (choice.yes_title, choice.no_title) == (TEXTS.offer_yes, TEXTS.offer_no)
    assert driver.conversation.state == "offered"
    assert metrics(effects) == ["HandoffOffered"]


def test_closed_business_hours_make_it_unavailable_even_with_agents_online():
    hours = {"timezone": "UTC", "weekly": {"mon": [{"start": "09:00", "end": "10:00"}]}}
    driver = Driver(tenant(rule=after_hours_rule(business_hours=hours)), online=True)  # START is a Wednesday
    effects = driver.user("agent please")
    assert of(SendChoice, effects)


# --- step 3: YES ---------------------------------------------------------------------------------


@pytest.mark.parametrize("answer", [{"payload": YES_PAYLOAD, "text": "Yes"}, {"text": "yes"}, {"text": "Sí"}])
def test_yes_transfers_and_puts_the_user_on_hold(answer):
    driver = Driver(tenant(rule=after_hours_rule()))
    driver.user("agent please")
    effects = driver.user(**answer)
    assert sent(effects) == [f"{TEXTS.attention} Your place in line: 1."]
    assert driver.last_asked == ["agents_online", "place_in_line"]  # never the bot
    [closed] = of(SessionClosed, effects)
    assert closed.record.resolution == "transferred" and closed.record.after_hours and closed.record.offered
    conversation = driver.conversation
    assert conversation.state == "queued" and conversation.on_hold
    assert conversation.queued_at == driver.now and conversation.session is None
    assert metrics(effects) == ["HandoffTransferred", "HandoffAccepted"]


def test_the_waiting_acknowledgment_tells_the_place_in_line():
    driver = Driver(tenant(rule=after_hours_rule()), place=4)
    driver.user("agent please")
    effects = driver.user(payload=YES_PAYLOAD, text="Yes")
    assert sent(effects) == [f"{TEXTS.attention} Your place in line: 4."]


def test_a_conventional_handoff_says_no_place_in_line():
    driver = Driver(tenant(rule=after_hours_rule()), online=True, place=4)
    assert sent(driver.user("agent please")) == [TEXTS.attention]


def test_yes_when_an_agent_came_online_meanwhile_is_the_conventional_handoff():
    driver = Driver(tenant(rule=after_hours_rule()))
    driver.user("agent please")
    driver.online = True
    effects = driver.user(payload=YES_PAYLOAD, text="Yes")
    assert driver.conversation.state == "queued" and not driver.conversation.on_hold
    assert "HandoffAccepted" not in metrics(effects)


# --- step 4: NO and anything else ----------------------------------------------------------------


@pytest.mark.parametrize("answer", [{"payload": NO_PAYLOAD, "text": "No"}, {"text": "no"}, {"text": "não"}])
def test_no_goes_on_with_the_bot(answer):
    driver = Driver(tenant(rule=after_hours_rule()))
    driver.user("agent please")
    effects = driver.user(**answer)
    assert sent(effects) == [TEXTS.declined]
    assert driver.conversation.state == "bot"
    assert driver.conversation.session is not None and driver.conversation.session.declined
    assert not of(SessionClosed, effects)
    assert metrics(effects) == ["HandoffDeclined"]


def test_a_reply_that_is_neither_drops_the_offer_and_goes_to_the_bot():
    driver = Driver(tenant(rule=after_hours_rule()))
    driver.user("agent please")
    effects = driver.user("what time do you open")
    assert sent(effects) == ["bot: what time do you open"]
    assert driver.conversation.state == "bot"
    driver.user("yes")  # the offer is gone: a later yes is just text for the bot
    assert driver.conversation.state == "bot"


# --- step 3.4: while waiting ---------------------------------------------------------------------


def test_direct_keeps_everything_for_the_agent():
    driver = waiting_driver(direct=True)
    effects = driver.user("are you there?") + driver.user("agent!!") + driver.user(kind="image")
    assert sent(effects) == []
    assert [e.author for e in of(TranscriptEntry, effects)] == ["user", "user", "user"]
    assert driver.conversation.state == "queued"


def test_not_direct_chats_in_a_second_session_and_never_transfers_twice():
    driver = waiting_driver()
    queued_at = driver.conversation.queued_at
    driver.wait(minutes=5)
    effects = driver.user("where is my order")
    assert sent(effects) == ["bot: where is my order"]
    assert driver.conversation.session is not None
    assert driver.conversation.session.number == 2 and driver.conversation.session.while_waiting
    effects = driver.user("I still want an agent")
    assert sent(effects) == [TEXTS.attention]  # shown the handoff message again...
    assert not of(SessionClosed, effects)  # ...but Live gets no second transfer
    assert "HandoffTransferred" not in metrics(effects)
    assert driver.conversation.queued_at == queued_at
    assert driver.conversation.session.handoff_repeated


def test_media_while_waiting_is_kept_for_the_agent_without_a_bot_reply():
    driver = waiting_driver()
    effects = driver.user(kind="image", text="photo of the box")
    assert sent(effects) == []
    assert of(TranscriptEntry, effects)[0].kind == "image"


def test_media_with_the_bot_gets_the_text_only_answer():
    driver = Driver(tenant(rule=after_hours_rule()))
    effects = driver.user(kind="audio")
    assert sent(effects) == [TEXTS.text_only]


# --- step 5: an agent becomes available ----------------------------------------------------------


def test_a_waiting_user_is_told_once_when_an_agent_is_available():
    driver = waiting_driver()
    assert driver.wake() == []  # nobody online yet
    driver.online = True
    effects = driver.wake()
    assert sent(effects) == [TEXTS.agent_available]
    assert metrics(effects) == ["UserWoken"]
    assert driver.wake() == []
    assert driver.conversation.notified_available


def _window_closed_but_still_waiting(driver: Driver) -> Driver:
    """The user's last message is 25 h old while the wait itself is fresh (e.g. late timestamps)."""
    driver.conversation = driver.conversation.model_copy(
        update={"last_user_message_at": driver.now - timedelta(hours=25), "last_activity_at": driver.now}
    )
    driver.online = True
    return driver


def test_outside_the_window_the_configured_template_is_sent_instead():
    driver = waiting_driver()
    driver.tenant = tenant(
        rule=after_hours_rule(templates={"agent_available": {"name": "agent_ready", "language": "en_US"}})
    )
    assert sent(_window_closed_but_still_waiting(driver).wake()) == ["template:agent_ready"]


def test_outside_the_window_without_a_template_nothing_is_sent_and_live_is_told():
    driver = _window_closed_but_still_waiting(waiting_driver())
    effects = driver.wake()
    assert sent(effects) == []
    assert "window" in (of(TranscriptEntry, effects)[0].text or "")
    assert driver.conversation.notified_available


# --- step 6: with an agent -----------------------------------------------------------------------


def test_an_agent_takes_replies_and_closes():
    driver = waiting_driver()
    driver.user("still there?")  # second session, while waiting
    driver.wait(minutes=30)
    effects = driver.take()
    [closed] = of(SessionClosed, effects)
    assert closed.record.resolution == "while_waiting"
    [ended] = of(WaitEnded, effects)
    assert ended.outcome == "taken" and ended.on_hold
    [time_to_agent] = [m for m in of(Metric, effects) if m.name == "TimeToAgent"]
    assert time_to_agent.value == pytest.approx(30 * 60)
    assert driver.conversation.state == "with_agent"

    assert sent(driver.user("hello?")) == []  # the bot is silent with an agent
    assert sent(driver.reply("Hi, I'm Ana")) == ["Hi, I'm Ana"]
    driver.close()
    assert driver.conversation.state == "bot"
    effects = driver.user("one more thing")
    assert sent(effects) == ["bot: one more thing"]
    assert driver.conversation.session is not None and driver.conversation.session.number == 3


def test_two_agents_taking_at_once_one_wins():
    driver = waiting_driver()
    driver.take("ana")
    with pytest.raises(Conflict):
        driver.take("bruno")
    assert driver.take("ana") == []  # a repeated click by the winner changes nothing
    with pytest.raises(NotYours):
        driver.reply("hi", agent="bruno")


def test_replying_before_taking_is_refused():
    driver = waiting_driver()
    with pytest.raises(Conflict):
        driver.reply("hi")


def test_an_agent_reply_outside_the_24_hour_window_is_refused():
    driver = waiting_driver()
    driver.take()
    driver.wait(hours=24, seconds=1)
    with pytest.raises(WindowClosed, match="template"):
        driver.reply("sorry for the delay")


# --- agents' templates: WhatsApp past the 24-hour window -----------------------------------------

FOLLOW_UP = {
    "name": "follow_up",
    "language": "en_US",
    "title": "Follow up",
    "parameters": ["Name", "Order"],
    "text": "Hi {{1}}, about your order {{2}}: shall we go on here?",
}
CHECKING_IN = {"name": "checking_in", "language": "en_US", "title": "Checking in", "parameters": ["Name"]}


def taken_past_the_window() -> Driver:
    """A chat an agent took, the user silent for 25 hours: WhatsApp takes only templates now."""
    driver = waiting_driver()
    driver.tenant = tenant(rule=after_hours_rule(), agent_templates=[FOLLOW_UP, CHECKING_IN])
    driver.take()
    driver.wait(hours=25)
    return driver


def test_past_24_hours_the_agent_sends_a_template_and_free_text_waits_for_the_users_answer():
    driver = taken_past_the_window()
    with pytest.raises(WindowClosed, match="template"):
        driver.reply("sorry for the delay")

    effects = driver.send_template("follow_up", "en_US", "Ana", "4411")
    [template] = of(SendTemplate, effects)
    assert (template.name, template.language, template.parameters) == ("follow_up", "en_US", ("Ana", "4411"))
    assert template.author == "agent"
    [line] = of(TranscriptEntry, effects)
    assert (line.author, line.kind, line.text) == (
        "agent",
        "template",
        "Hi Ana, about your order 4411: shall we go on here?",
    )
    assert effects.index(line) == effects.index(template) + 1  # the line that says it follows it
    assert driver.conversation.last_activity_at == driver.now  # the agent's activity keeps the chat

    # a template does not reopen the window (Meta's rule): free text waits until the user answers
    with pytest.raises(WindowClosed):
        driver.reply("are you there?")
    driver.wait(minutes=20)
    driver.user("yes, still here")
    assert sent(driver.reply("great, let's go on")) == ["great, let's go on"]


def test_a_template_without_its_text_shows_its_title_and_values():
    driver = taken_past_the_window()
    [line] = of(TranscriptEntry, driver.send_template("checking_in", "en_US", "Ana"))
    assert line.text == "Template Checking in: Ana"


def test_a_template_may_go_out_inside_the_window_too():
    driver = taken_past_the_window()
    driver.user("hello again")
    assert sent(driver.send_template("checking_in", "en_US", "Ana")) == ["template:checking_in"]


@pytest.mark.parametrize(
    ("name", "language", "parameters", "field", "reason"),
    [
        ("follow_up", "en_US", ("Ana",), "parameters", r"takes 2 parameters \(Name, Order\); 1 given"),
        ("follow_up", "en_US", ("Ana", "4411", "x"), "parameters", "3 given"),
        ("follow_up", "en_US", ("Ana", "   "), "parameters", r"\{\{2\}\} \(Order\): it is empty"),
        ("follow_up", "en_US", ("Ana", "44\n11"), "parameters", "no line break or tab"),
        ("follow_up", "en_US", ("Ana", "44      11"), "parameters", "four spaces"),
        ("follow_up", "es", ("Ana", "4411"), "name", "not one of the templates this tenant lets agents"),
        ("hello_world", "en_US", (), "name", "'hello_world' in 'en_US' is not one of"),
    ],
)
def test_a_template_must_be_one_of_the_tenants_filled_in_as_approved(
    name, language, parameters, field, reason
):
    driver = taken_past_the_window()
    before = driver.conversation
    with pytest.raises(TemplateRefused, match=reason) as refused:
        driver.send_template(name, language, *parameters)
    assert refused.value.field == field
    assert driver.conversation == before


def test_only_the_agent_holding_the_chat_sends_a_template():
    driver = waiting_driver()
    driver.tenant = tenant(rule=after_hours_rule(), agent_templates=[CHECKING_IN])
    with pytest.raises(Conflict):
        driver.send_template("checking_in", "en_US", "Ana")  # still in the queue
    driver.take("ana")
    with pytest.raises(NotYours):
        driver.send_template("checking_in", "en_US", "Ana", agent="bruno")


def test_the_automatic_template_is_marked_as_one_in_the_transcript():
    driver = waiting_driver()
    driver.tenant = tenant(
        rule=after_hours_rule(templates={"agent_available": {"name": "agent_ready", "language": "en_US"}})
    )
    [line] = of(TranscriptEntry, _window_closed_but_still_waiting(driver).wake())
    assert (line.author, line.kind, line.text) == ("system", "template", "agent_ready")


# --- step 7: 24 hours with no activity -----------------------------------------------------------


def test_a_wait_expires_after_24_hours_of_inactivity():
    driver = waiting_driver()
    driver.wait(hours=23, minutes=59)
    assert driver.expiry_check() == []
    driver.wait(minutes=1)
    effects = driver.expiry_check()
    [ended] = of(WaitEnded, effects)
    assert ended.outcome == "expired"
    assert metrics(effects) == ["WaitExpired"]
    assert driver.conversation.state == "bot" and driver.conversation.queued_at is None


def test_a_user_message_keeps_the_wait_alive():
    driver = waiting_driver()
    driver.wait(hours=20)
    driver.user("still waiting")
    driver.wait(hours=20)
    assert driver.expiry_check() == []
    assert driver.conversation.state == "queued"


def test_expiry_is_enforced_even_if_the_wake_pass_lagged():
    driver = waiting_driver(direct=True)
    driver.wait(hours=30)
    effects = driver.user("hello again")
    assert of(WaitEnded, effects)[0].outcome == "expired"
    assert sent(effects) == ["bot: hello again"]  # starts afresh with the bot
    assert driver.conversation.state == "bot"


# --- inbound that is not a fresh user message ----------------------------------------------------


def test_a_redelivered_event_changes_nothing():
    driver = Driver(tenant(rule=after_hours_rule()))
    message = UserMessage(
        ref=driver.conversation.ref, event_id="wamid.same", sent_at=driver.now, kind="text", text="hi"
    )
    assert sent(driver.apply(message)) == ["bot: hi"]
    before = driver.conversation
    assert driver.apply(message) == []
    assert driver.conversation == before


def test_the_state_keeps_short_marks_of_recent_events_not_their_ids():
    driver = Driver(tenant(rule=after_hours_rule()))
    ids = [
        f"wamid.HBgMNTczMDAxMTEwMDAxFQIAEhggQjVBMkE0RTM5QkY0RkI3RjU3NTk2QjI3NEUy{n:04d}AA=="
        for n in range(40)
    ]
    for event_id in ids:
        driver.apply(
            UserMessage(
                ref=driver.conversation.ref, event_id=event_id, sent_at=driver.now, kind="text", text="hi"
            )
        )
    marks = driver.conversation.recent_event_ids
    assert len(marks) == RECENT_EVENT_IDS == 8 and all(len(mark) == 16 for mark in marks)
    assert not any(event_id in marks for event_id in ids), "no message id (it encodes the number) is kept"
    # a WhatsApp id is about 70 characters: 32 of them made most of the state every message writes; 8
    # marks keep the state under the kilobyte of one write unit (a message applied before them is
    # recognised by its transcript item)
    assert len(json.dumps(marks, separators=(",", ":"))) == 2 + 8 * 19 - 1  # ["…",…]: 18 a mark, commas
    before = driver.conversation
    repeat = UserMessage(ref=before.ref, event_id=ids[-1], sent_at=driver.now, kind="text", text="hi")
    assert driver.apply(repeat) == [] and driver.conversation == before


def test_a_message_delivered_days_late_is_kept_but_not_answered():
    driver = Driver(tenant(rule=after_hours_rule()))
    old = UserMessage(
        ref=driver.conversation.ref,
        event_id="wamid.old",
        sent_at=driver.now - timedelta(days=3),
        kind="text",
        text="agent",
    )
    effects = driver.apply(old)
    assert sent(effects) == []
    assert of(TranscriptEntry, effects)[0].author == "user"


# --- windows per channel -------------------------------------------------------------------------


def messenger_driver() -> Driver:
    ref = REF.model_copy(update={"channel": "messenger", "account_id": "300000000000001"})
    config = tenant().model_copy(
        update={
            "accounts": [ChannelAccount(channel="messenger", account_id="300000000000001")],
            "rules": [HandoffRule(channel="messenger", after_hours=True)],
        }
    )
    return Driver(config, conversation=Conversation(ref=ref, language="en"))


def test_on_messenger_a_person_may_answer_for_7_days_with_the_human_agent_tag():
    driver = messenger_driver()
    driver.user("agent please")
    driver.user("yes")
    driver.take()
    driver.wait(hours=2)
    [within] = of(SendText, driver.reply("hi"))
    assert not within.human_agent_tag
    driver.wait(days=3)
    [tagged] = of(SendText, driver.reply("sorry for the wait"))
    assert tagged.human_agent_tag and tagged.author == "agent"
    driver.wait(days=4)
    with pytest.raises(WindowClosed, match="7 days"):
        driver.reply("anyone?")


def test_on_messenger_no_automatic_message_goes_out_after_24_hours_and_live_is_told():
    driver = _window_closed_but_still_waiting(messenger_driver_waiting())
    effects = driver.wake()
    assert sent(effects) == []
    assert driver.conversation.notice is not None and "only an agent" in driver.conversation.notice
    driver.user("hello?")
    assert driver.conversation.notice is None


def test_messenger_has_no_templates_and_the_refusal_says_when_the_agent_may_write():
    driver = messenger_driver()
    driver.user("agent please")
    driver.user("yes")
    driver.take()
    driver.wait(days=2)
    with pytest.raises(
        WindowClosed, match=r"^Messenger has no templates: reply with text instead, possible until"
    ):
        driver.send_template("follow_up", "en_US", "Ana", "4411")
    driver.wait(days=5)
    with pytest.raises(WindowClosed, match="nobody may write until the user writes again"):
        driver.send_template("follow_up", "en_US", "Ana", "4411")


def messenger_driver_waiting() -> Driver:
    driver = messenger_driver()
    driver.user("agent please")
    driver.user("yes")
    assert driver.conversation.state == "queued"
    return driver


def test_take_close_and_expiry_announce_themselves():
    driver = waiting_driver()
    driver.wait(minutes=10)
    [taken] = of(ConversationEvent, driver.take("ana"))
    assert (taken.name, taken.agent_id, taken.on_hold) == ("ConversationTaken", "ana", True)
    [closed] = of(ConversationEvent, driver.close("ana"))
    assert closed.name == "ConversationClosed"
    expiring = waiting_driver()
    expiring.wait(hours=24)
    [expired] = of(ConversationEvent, expiring.expiry_check())
    assert expired.name == "WaitExpired" and expired.agent_id is None


# --- facts in: the engine asks only for what the step needs ------------------------------------------


def test_a_message_for_the_bot_asks_the_bot_and_nothing_else():
    driver = Driver(tenant(rule=after_hours_rule()))
    driver.user("hello")
    assert driver.last_asked == ["bot_turn"]


def test_presence_is_asked_only_once_the_bot_asks_for_a_handoff():
    driver = Driver(tenant(rule=after_hours_rule()))
    driver.user("agent please")
    assert driver.last_asked == ["bot_turn", "agents_online"]
    [question] = [q for q in driver.asked[-1] if q.fact == "bot_turn"]
    assert (question.text, question.language, question.session) == ("agent please", "en", 1)


def test_closed_hours_make_presence_needless():
    closed_all_week = {"timezone": "UTC", "weekly": {}}
    driver = Driver(tenant(rule=after_hours_rule(business_hours=closed_all_week)), online=True)
    driver.user("agent please")
    assert driver.last_asked == ["bot_turn"]


@pytest.mark.parametrize("answer", [{"payload": NO_PAYLOAD, "text": "No"}, {"text": "no"}])
def test_the_answer_to_the_offer_is_never_put_to_the_bot(answer):
    driver = Driver(tenant(rule=after_hours_rule()))
    driver.user("agent please")
    driver.user(**answer)
    assert driver.last_asked == []


def test_nothing_is_asked_while_a_direct_handoff_waits():
    driver = Driver(tenant(rule=after_hours_rule(direct=True)))
    driver.user("agent please")
    driver.user("yes")
    driver.user("hello? anyone?")
    assert driver.last_asked == []


def test_the_bot_is_not_asked_while_an_agent_has_the_conversation():
    driver = Driver(tenant(rule=after_hours_rule()), online=True)
    driver.user("agent please")
    driver.take()
    driver.user("hello")
    assert driver.last_asked == []


def test_a_step_missing_a_fact_refuses_to_guess():
    driver = Driver(tenant(rule=after_hours_rule()))
    message = UserMessage(ref=REF, event_id="wamid.x", sent_at=driver.now, kind="text", text="hello")
    with pytest.raises(MissingFact) as missing:
        step(driver.conversation, message, driver.context())
    assert missing.value.question.fact == "bot_turn"


# --- any bot behind the port: several messages, buttons, a handoff, a failure -----------------------


class ScriptedBot:
    """Answers every message with the same turn, and keeps the questions it was asked."""

    def __init__(self, turn: BotTurn) -> None:
        self.turn = turn
        self.questions: list[BotQuestion] = []

    def answer(self, question: BotQuestion) -> BotTurn:
        self.questions.append(question)
        return self.turn


MENU = BotMessage(text="How can I help?", options=(Option(title="Hours", payload="/hours"),))


def test_a_bots_messages_are_sent_in_order_and_its_buttons_as_options():
    driver = Driver(tenant(rule=after_hours_rule()))
    driver.bot = ScriptedBot(BotTurn(messages=(BotMessage(text="Hi!"), MENU)))
    effects = driver.user("hello")
    assert [type(e).__name__ for e in effects if isinstance(e, SendText | SendOptions)] == [
        "SendText",
        "SendOptions",
    ]
    [options] = of(SendOptions, effects)
    assert options.text == "How can I help?" and options.options == MENU.options


def test_a_tapped_button_goes_back_to_the_bot_with_its_payload():
    driver = Driver(tenant(rule=after_hours_rule()))
    bot = ScriptedBot(BotTurn.saying("Open 9 to 6."))
    driver.bot = bot
    driver.user("Hours", payload="/hours")
    [question] = bot.questions
    assert (question.text, question.payload, question.kind) == ("Hours", "/hours", "choice")
    assert question.session_id and question.session_id == driver.conversation.session.id


def test_a_bot_handoff_says_the_bots_texts_first_then_follows_the_tenants_rule():
    driver = Driver(tenant(rule=after_hours_rule()))
    driver.bot = ScriptedBot(BotTurn.saying("Let me find someone.", handoff=True))
    effects = driver.user("anything")
    assert sent(effects) == ["Let me find someone.", TEXTS.offer]
    assert driver.conversation.state == "offered"


def test_a_bot_that_failed_every_try_is_said_to_be_unavailable_and_the_message_kept():
    driver = Driver(tenant(rule=after_hours_rule()))
    driver.bot = ScriptedBot(BotTurn(failed=True))
    effects = driver.user("hello")
    assert sent(effects) == [TEXTS.bot_unavailable]
    assert [e.text for e in of(TranscriptEntry, effects) if e.author == "user"] == ["hello"]
    assert driver.conversation.state == "bot"


def test_the_session_id_is_opaque_and_stable_through_the_session():
    driver = Driver(tenant(rule=after_hours_rule()))
    bot = ScriptedBot(BotTurn.saying("ok"))
    driver.bot = bot
    driver.user("one")
    driver.user("two")
    first, second = bot.questions
    assert first.session_id == second.session_id and len(first.session_id) == 32
    assert REF.user_id not in first.session_id


# --- the offer's YES tapped again while waiting ------------------------------------------------------


def test_a_second_yes_tap_while_waiting_says_the_place_in_line_and_asks_no_bot():
    driver = Driver(tenant(rule=after_hours_rule()), place=3)
    driver.user("agent please")
    driver.user(payload=YES_PAYLOAD, text="Yes")
    queued_at = driver.conversation.queued_at
    driver.wait(minutes=5)
    effects = driver.user(payload=YES_PAYLOAD, text="Yes")
    assert sent(effects) == ["You're already in line. Your place: 3."]
    [question] = driver.asked[-1]
    assert question.fact == "place_in_line" and question.since == queued_at  # counted from the wait's start
    assert driver.conversation.queued_at == queued_at and driver.conversation.session is None


def test_a_second_yes_tap_while_a_direct_handoff_waits_is_kept_silently():
    driver = Driver(tenant(rule=after_hours_rule(direct=True)))
    driver.user("agent please")
    driver.user(payload=YES_PAYLOAD, text="Yes")
    assert sent(driver.user(payload=YES_PAYLOAD, text="Yes")) == []
    assert driver.last_asked == []


# --- silent bot sessions closed by the schedule --------------------------------------------------------


def test_a_session_check_closes_a_bot_session_silent_for_24_hours_at_its_last_activity():
    driver = Driver(tenant(rule=after_hours_rule()))
    driver.user("hello")
    last = driver.now
    driver.wait(hours=23, minutes=59)
    assert driver.apply(SessionCheck(ref=REF, event_id="session#early")) == []
    driver.wait(minutes=1)
    effects = driver.apply(SessionCheck(ref=REF, event_id="session#due"))
    [closed] = of(SessionClosed, effects)
    assert (closed.record.resolution, closed.record.ended_at) == ("bot", last)
    assert driver.conversation.session is None and driver.asked[-1] == []
    # the user coming back later opens session 2 and closes nothing twice
    effects = driver.user("hello again")
    assert not of(SessionClosed, effects) and driver.conversation.session.number == 2


def test_a_waiting_users_session_ends_with_the_wait_not_as_a_bot_session():
    driver = Driver(tenant(rule=after_hours_rule()))
    driver.user("agent please")
    driver.user(payload=YES_PAYLOAD, text="Yes")
    driver.user("hello while waiting")
    driver.wait(hours=23)
    assert not of(SessionClosed, driver.apply(SessionCheck(ref=REF, event_id="session#x")))
    driver.wait(hours=2)  # 24 hours silent: the wait expires, and the session with it
    closed = of(SessionClosed, driver.apply(SessionCheck(ref=REF, event_id="session#y")))
    assert [c.record.resolution for c in closed] == ["while_waiting"]
