"""The after-hours handoff flow: `step(conversation, event, context) -> (conversation, effects)`.

Pure: time and every fact the step needs (is an agent online, the place in line, the bot's
answer) come in the context, gathered by the shell beforehand (`engine.facts` says how), and every
outcome is returned as data for the shell to commit and deliver. SPEC.md "The flow" is the
reference; the numbered comments below point at its steps.

States:
    bot         the bot answers (a bot session is open once the user has written)
    offered     the after-hours offer is out; the next message is read as YES / NO / anything else
    queued      transferred to Live, no agent yet; `on_hold` when the user accepted to wait after hours
    with_agent  an agent took it; the bot is silent until the agent closes it

A queued conversation leaves the queue only when an agent takes or closes it, or after 24 hours
with no message from the user or an agent (step 7). That expiry is applied by the wake pass and,
because the pass may lag, again by any event that finds the conversation already past it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from handoff.config.hours import BusinessHours
from handoff.config.models import HandoffRule, TenantConfig, parameter_problem
from handoff.config.texts import ResolvedTexts, texts_for, with_place
from handoff.engine.bot import BotQuestion, BotTurn
from handoff.engine.choice import understand_choice
from handoff.engine.errors import Conflict, FlowError, NotYours, TemplateRefused, WindowClosed
from handoff.engine.facts import (
    AgentsOnlineQuestion,
    Facts,
    MissingFact,
    PlaceInLineQuestion,
    Question,
)
from handoff.engine.model import (
    YES_PAYLOAD,
    AgentCloses,
    AgentHandsOver,
    AgentReplies,
    AgentsAvailable,
    AgentSendsTemplate,
    AgentTakes,
    BotSession,
    BusinessMetric,
    ChatEnded,
    ChatOutcome,
    Conversation,
    ConversationEvent,
    ConversationEventName,
    Effect,
    Event,
    ExpiryCheck,
    Metric,
    MetricUnit,
    Outbound,
    Resolution,
    SendChoice,
    SendOptions,
    SendTemplate,
    SendText,
    SessionCheck,
    SessionClosed,
    SessionRecord,
    TranscriptEntry,
    UserChangedId,
    UserMessage,
    WaitEnded,
    WaitOutcome,
)
from handoff.engine.windows import (
    HUMAN_AGENT_WINDOW,
    INACTIVITY_LIMIT,
    MESSAGING_WINDOW,
    STALE_MESSAGE_AGE,
    agent_may_send,
    chat_closes_at,
    is_expired,
    reply_window_closes_at,
    window_open,
)

RECENT_EVENT_IDS = 8
READABLE_KINDS = ("text", "choice", "story_reply")
"""What the bot reads; any other kind is kept in the transcript and answered with "text only"."""


@dataclass(frozen=True)
class StepContext:
    """What the engine may know beyond the conversation: the time, the tenant, and the facts the
    shell gathered for this step (`engine.facts`)."""

    now: datetime
    tenant: TenantConfig
    facts: Facts = field(default_factory=Facts)

    def knowing(self, facts: Facts) -> StepContext:
        return StepContext(now=self.now, tenant=self.tenant, facts=facts)


@dataclass
class _Step:
    """The conversation being rewritten and the effects gathered along one step."""

    conversation: Conversation
    context: StepContext
    event_id: str = ""
    effects: list[Effect] = field(default_factory=list)

    @property
    def now(self) -> datetime:
        return self.context.now

    @property
    def rule(self) -> HandoffRule | None:
        return self.context.tenant.rule_for(self.conversation.ref.channel)

    @property
    def texts(self) -> ResolvedTexts:
        return texts_for(self.context.tenant, self.rule, self.conversation.language)

    def update(self, **changes: object) -> None:
        self.conversation = self.conversation.model_copy(update=changes)

    def say(self, outbound: Outbound, *, shown: str | None = None) -> None:
        """Send `outbound`, and write right after it the transcript line that says it (the shell
        ties the two, to mark the line if Meta refuses the message); `shown` is that line's text
        when it is not the message's own (a template's filled-in body)."""
        self.effects.append(outbound)
        if isinstance(outbound, SendTemplate):
            line = TranscriptEntry(
                at=self.now, author=outbound.author, kind="template", text=shown or outbound.name
            )
        else:
            line = TranscriptEntry(at=self.now, author=outbound.author, kind="text", text=outbound.text)
        if outbound.author == "agent":  # only the agent who has the conversation writes to the user
            line = line.model_copy(update={"agent_name": self.conversation.agent_name})
        self.effects.append(line)

    def note(self, text: str) -> None:
        self.effects.append(TranscriptEntry(at=self.now, author="system", kind="text", text=text))

    def metric(self, name: BusinessMetric, value: float = 1.0, unit: MetricUnit = "Count") -> None:
        self.effects.append(Metric(name=name, value=value, unit=unit))

    # --- facts: each read only where the flow needs it, so the shell gathers only those -----------

    def available(self, rule: HandoffRule) -> bool:
        """Inside the rule's business hours (no hours set: no gate) and an agent online."""
        if not in_business_hours(rule, self.now):
            return False
        online = self.context.facts.agents_online
        if online is None:
            raise MissingFact(AgentsOnlineQuestion())
        return online

    def place_in_line(self, since: datetime) -> int:
        """The user's place in Live's queue, for a wait that began at `since`."""
        place = self.context.facts.place_in_line
        if place is None:
            raise MissingFact(PlaceInLineQuestion(since=since))
        return place

    def bot(self, message: UserMessage) -> BotTurn:
        """The bot's answer to `message`, which belongs to the open bot session."""
        session = self.conversation.session
        assert session is not None, "the bot reads a message only within a bot session"
        turn = self.context.facts.bot_turn
        if turn is None:
            raise MissingFact(
                BotQuestion(
                    text=message.text or message.payload or "",
                    payload=message.payload,
                    language=self.conversation.language,
                    channel=self.conversation.ref.channel,
                    event_id=message.event_id,
                    kind=message.kind,
                    session=session.number,
                    session_id=session.id,
                    user_name=self.conversation.user_name,
                )
            )
        return turn


def in_business_hours(rule: HandoffRule, now: datetime) -> bool:
    """Inside the rule's business hours; a rule without hours is always open."""
    return rule.business_hours is None or BusinessHours(rule.business_hours).is_open(now)


def next_question(conversation: Conversation, event: Event, context: StepContext) -> Question | None:
    """The first fact this step needs that `context.facts` lacks; None when the step can run."""
    try:
        step(conversation, event, context)
    except MissingFact as missing:
        return missing.question
    except FlowError:  # the step refuses: it needs no more facts to say so
        return None
    return None


def event_mark(event_id: str) -> str:
    """What the conversation keeps of an event it applied: 64 bits of a SHA-256 of its id. A WhatsApp
    message id runs to 60-70 characters (and encodes the user's number): 32 of them were most of
    the state item, which every message writes; a mark is 16."""
    return hashlib.sha256(event_id.encode()).hexdigest()[:16]


def applied_recently(conversation: Conversation, event_id: str) -> bool:
    """Whether the event is one of the last `RECENT_EVENT_IDS` the conversation applied (a mark, or
    the whole id as conversations stored before marks keep it)."""
    recent = conversation.recent_event_ids
    return event_mark(event_id) in recent or event_id in recent


def step(conversation: Conversation, event: Event, context: StepContext) -> tuple[Conversation, list[Effect]]:
    """Apply one event; a redelivered event (same id) changes nothing and owes nothing."""
    if applied_recently(conversation, event.event_id):
        return conversation, []
    run = _Step(conversation, context, event.event_id)
    marks = (*conversation.recent_event_ids, event_mark(event.event_id))[-RECENT_EVENT_IDS:]
    run.update(recent_event_ids=marks)
    if is_expired(run.conversation, run.now):
        _expire(run)
    match event:
        case UserMessage():
            _user_message(run, event)
        case UserChangedId():
            _user_changed_id(run, event)
        case AgentsAvailable():
            _agents_available(run)
        case ExpiryCheck():
            _close_idle_chat(run)  # a wait's expiry is applied above, for every event kind alike
        case SessionCheck():
            _close_stale_session(run)
        case AgentTakes():
            _agent_takes(run, event)
        case AgentReplies():
            _agent_replies(run, event)
        case AgentSendsTemplate():
            _agent_sends_template(run, event)
        case AgentCloses():
            _agent_closes(run, event)
        case AgentHandsOver():
            _agent_hands_over(run, event)
    return run.conversation, run.effects


# --- user messages ------------------------------------------------------------------------------


def surviving(moved: Conversation, existing: Conversation) -> Conversation:
    """Whose state stays when a conversation moves to a user id that has one already (the user
    wrote from their new number before Meta's notice of the change came): the one in Live, the
    moved one when both or neither are (it holds the user's history and place in line)."""
    in_live = ("queued", "with_agent")
    if existing.state in in_live and moved.state not in in_live:
        return existing
    return moved


def _user_changed_id(run: _Step, change: UserChangedId) -> None:
    """The conversation follows the user to their new id: the same state, place in line and
    transcript; replies go to the new address (the old phone number is dropped)."""
    ref = run.conversation.ref.model_copy(update={"user_id": change.new_user_id})
    run.update(ref=ref, address=change.address)
    run.note("The user's id on the channel changed (a new phone number); the conversation moved with them.")


def _user_message(run: _Step, message: UserMessage) -> None:
    conv = run.conversation
    address = conv.address.model_copy(
        update={k: v for k, v in message.address.model_dump().items() if v is not None}
    )
    run.update(
        user_name=message.user_name or conv.user_name,
        address=address,
        last_activity_at=_latest(conv.last_activity_at, run.now),
        last_user_message_at=_latest(conv.last_user_message_at, message.sent_at),
        notice=None,  # the user wrote: the window is open again
    )
    run.effects.append(
        TranscriptEntry(
            at=message.sent_at,
            author="user",
            kind=message.kind,
            text=message.text,
            event_id=message.event_id,
            media=message.media,
        )
    )
    if run.conversation.state in ("queued", "with_agent"):
        # Live's consoles hear of it (the bot's chatter outside Live costs no bus event)
        _publish(run, "UserMessageReceived", run.now, run.conversation.agent_id)
    if run.now - message.sent_at > STALE_MESSAGE_AGE:
        run.note("An old message arrived late; the bot did not answer it.")
        return
    _close_stale_session(run)
    match run.conversation.state:
        case "with_agent":
            return  # step 6: the agent answers
        case "queued":
            _while_queued(run, message)
        case "offered":
            _answer_to_offer(run, message)
        case "bot":
            _to_bot(run, message)


def _close_stale_session(run: _Step) -> None:
    """A bot session nobody wrote in for 24 hours has ended; the next message opens a new one."""
    conv = run.conversation
    if conv.state in ("bot", "offered") and conv.session is not None:
        last = conv.session.last_activity_at or conv.session.started_at
        if run.now - last >= INACTIVITY_LIMIT:
            _close_session(run, conv.session, last, "bot")
            run.update(session=None, state="bot")


def _open_session(run: _Step, *, while_waiting: bool = False) -> BotSession:
    conv = run.conversation
    if conv.session is not None and not conv.session.id:  # a session opened before sessions had ids
        run.update(session=conv.session.model_copy(update={"id": _session_id(run.event_id)}))
    if conv.session is None:
        number = conv.sessions_started + 1
        session = BotSession(
            number=number,
            id=_session_id(run.event_id),
            started_at=run.now,
            while_waiting=while_waiting,
        )
        run.update(session=session, sessions_started=number)
    assert run.conversation.session is not None
    return run.conversation.session


def _close_session(run: _Step, session: BotSession, ended_at: datetime, resolution: Resolution) -> None:
    channel = run.conversation.ref.channel
    run.effects.append(SessionClosed(record=SessionRecord.closing(session, channel, ended_at, resolution)))


def _touch_session(run: _Step, **changes: object) -> None:
    session = _open_session(run)
    run.update(session=session.model_copy(update={"last_activity_at": run.now, **changes}))


def _to_bot(run: _Step, message: UserMessage) -> None:
    """Step 1: the bot answers, or asks for a handoff."""
    _touch_session(run)
    if message.kind not in READABLE_KINDS:
        run.say(SendText(text=run.texts.text_only))
        return
    turn = run.bot(message)
    if turn.failed:
        run.say(SendText(text=run.texts.bot_unavailable))
        return
    _say_bot(run, turn)
    if turn.handoff:
        _handoff_asked(run)


def _say_bot(run: _Step, turn: BotTurn) -> None:
    """The bot's messages, in order; those with buttons as a choice the user can tap."""
    for message in turn.messages:
        if message.options:
            run.say(SendOptions(text=message.text, options=message.options))
        else:
            run.say(SendText(text=message.text))


def _handoff_asked(run: _Step) -> None:
    """Step 2: nobody configured a rule / available / no agents / the after-hours offer."""
    rule = run.rule
    if rule is None:
        run.say(SendText(text=run.texts.handoff_unavailable))
        return
    if run.available(rule):
        _transfer(run, rule, on_hold=False)
    elif rule.after_hours:
        texts = run.texts
        run.say(SendChoice(text=texts.offer, yes_title=texts.offer_yes, no_title=texts.offer_no))
        _touch_session(run, offered=True, after_hours=True)
        run.update(state="offered")
        run.metric("HandoffOffered")
    else:
        run.say(SendText(text=run.texts.no_agents))


def _answer_to_offer(run: _Step, message: UserMessage) -> None:
    """Steps 3 and 4: YES waits (or transfers if someone came online), NO and anything else go on."""
    answer = understand_choice(message.text, message.payload) if message.kind in READABLE_KINDS else None
    rule = run.rule
    if answer == "yes" and rule is not None:
        _touch_session(run, accepted=True)
        on_hold = not run.available(rule)
        _transfer(run, rule, on_hold=on_hold)
        if on_hold:
            run.metric("HandoffAccepted")
        return
    run.update(state="bot")
    if answer == "no":
        _touch_session(run, declined=True)
        run.say(SendText(text=run.texts.declined))
        run.metric("HandoffDeclined")
        return
    _to_bot(run, message)  # neither YES nor NO: the offer is dropped and the bot reads it


def _transfer(run: _Step, rule: HandoffRule, *, on_hold: bool) -> None:
    """Steps 2 (conventional) and 3.1-3.3: attention message, session `transferred`, into the queue."""
    place = run.place_in_line(run.now) if on_hold else None
    run.say(SendText(text=with_place(run.texts.attention, run.texts.place_in_line, place)))
    session = _open_session(run).model_copy(update={"direct": rule.direct, "after_hours": on_hold})
    _close_session(run, session, run.now, "transferred")
    run.update(
        state="queued",
        session=None,
        on_hold=on_hold,
        direct=rule.direct,
        queued_at=run.now,
        notified_available=not on_hold,
        agent_id=None,
        agent_name=None,
        taken_at=None,
        returned_at=None,
    )
    _publish(run, "ConversationQueued", run.now)
    run.metric("HandoffTransferred")
    run.note("Waiting for an agent (after hours)." if on_hold else "Transferred to Live.")


def _while_queued(run: _Step, message: UserMessage) -> None:
    """Step 3.4: direct keeps everything for the agent; otherwise the bot chats in a new session."""
    conv = run.conversation
    if conv.direct or message.kind not in READABLE_KINDS:
        return
    if message.payload == YES_PAYLOAD and conv.on_hold and conv.queued_at is not None:
        # the offer's YES tapped again (an old message's button): the user already waits
        place = run.place_in_line(conv.queued_at)
        run.say(SendText(text=run.texts.already_in_line.replace("{place}", str(place))))
        return
    _touch_session(run, while_waiting=True)
    turn = run.bot(message)
    if turn.failed:
        run.say(SendText(text=run.texts.bot_unavailable))
    elif turn.handoff:
        # already in the queue: the user sees the attention message again, Live gets nothing new
        _touch_session(run, handoff_repeated=True)
        run.say(SendText(text=run.texts.attention))
    else:
        _say_bot(run, turn)


# --- the wake pass ------------------------------------------------------------------------------


def _agents_available(run: _Step) -> None:
    """Step 5: each waiting user is told once that an agent is available."""
    conv = run.conversation
    rule = run.rule
    if conv.state != "queued" or not conv.on_hold or conv.notified_available or rule is None:
        return
    if not run.available(rule):
        return
    run.update(notified_available=True)
    run.metric("UserWoken")
    if window_open(conv, run.now):
        run.say(SendText(text=run.texts.agent_available, author="system"))
        return
    template = rule.templates.get("agent_available") if conv.ref.channel == "whatsapp" else None
    if template is not None:
        run.say(SendTemplate(name=template.name, language=template.language))
        return
    # Meta forbids automated messages outside the window (the HUMAN_AGENT tag is for people only)
    why = "no template is set" if conv.ref.channel == "whatsapp" else "only an agent may write now"
    notice = f"Agent available, but the user was not told: the 24-hour window is closed and {why}."
    run.update(notice=notice)
    run.note(notice)


def _expire(run: _Step) -> None:
    """Step 7: 24 hours with no activity end the wait; the next message starts with the bot."""
    conv = run.conversation
    ended_at = (conv.last_activity_at or conv.queued_at or run.now) + INACTIVITY_LIMIT
    _end_wait(run, "expired", ended_at)
    run.metric("WaitExpired")
    _publish(run, "WaitExpired", ended_at)
    run.effects.append(
        TranscriptEntry(at=ended_at, author="system", kind="text", text="The wait expired after 24 hours.")
    )
    run.update(**_left_queue())


def _end_wait(run: _Step, outcome: WaitOutcome, ended_at: datetime) -> None:
    """The queued conversation leaves the queue: its bot session (if open) and its wait end."""
    conv = run.conversation
    assert conv.queued_at is not None
    if conv.session is not None:
        _close_session(run, conv.session, ended_at, "while_waiting")
    run.effects.append(
        WaitEnded(
            queued_at=conv.returned_at or conv.queued_at,
            ended_at=ended_at,
            outcome=outcome,
            on_hold=conv.on_hold,
            woken=_woken(conv),
            returned=conv.returned_at is not None,
        )
    )


def _publish(
    run: _Step,
    name: ConversationEventName,
    at: datetime,
    agent_id: str | None = None,
    *,
    idle: bool = False,
    to_agent_id: str | None = None,
) -> None:
    conv = run.conversation
    run.effects.append(
        ConversationEvent(
            name=name,
            at=at,
            agent_id=agent_id,
            queued_at=conv.queued_at,
            on_hold=conv.on_hold,
            idle=idle,
            to_agent_id=to_agent_id,
        )
    )


def _left_queue() -> dict[str, object]:
    return {
        "state": "bot",
        "session": None,
        "on_hold": False,
        "direct": False,
        "queued_at": None,
        "notified_available": False,
        "agent_id": None,
        "agent_name": None,
        "taken_at": None,
        "returned_at": None,
        "notice": None,
    }


# --- agents -------------------------------------------------------------------------------------


def _agent_takes(run: _Step, event: AgentTakes) -> None:
    conv = run.conversation
    if conv.state == "with_agent" and conv.agent_id == event.agent_id:
        return  # a repeated click
    if conv.state == "with_agent":
        raise Conflict("Another agent already took this conversation.")
    if conv.state != "queued":
        raise Conflict("This conversation is not waiting in Live's queue.")
    assert conv.queued_at is not None
    _end_wait(run, "taken", run.now)
    waited = run.now - (conv.returned_at or conv.queued_at)  # this stretch's wait
    run.metric("TimeToAgent", waited.total_seconds(), "Seconds")
    _publish(run, "ConversationTaken", run.now, event.agent_id)
    run.update(
        state="with_agent",
        agent_id=event.agent_id,
        agent_name=event.agent_name,
        taken_at=run.now,
        returned_at=None,
        session=None,
    )
    run.note(f"{event.agent_name or 'An agent'} took the conversation.")


def _agent_replies(run: _Step, event: AgentReplies) -> None:
    conv = run.conversation
    _require_own(conv, event.agent_id)
    match agent_may_send(conv, run.now):
        case "template":
            raise WindowClosed(
                "The user's last message is more than 24 hours old: WhatsApp only accepts an approved "
                "template now."
            )
        case "nothing":
            raise WindowClosed(
                "The user's last message is more than 7 days old: the channel accepts no message until "
                "the user writes again."
            )
    assert conv.last_user_message_at is not None  # the reply window is open
    run.update(last_activity_at=run.now, notice=None)
    # between 24 hours and 7 days a person may still answer on Messenger and Instagram, tagged
    tagged = run.now - conv.last_user_message_at >= MESSAGING_WINDOW
    run.say(SendText(text=event.text, author="agent", human_agent_tag=tagged))
    _publish(run, "AgentMessageSent", run.now, event.agent_id)


def _agent_sends_template(run: _Step, event: AgentSendsTemplate) -> None:
    """An approved template, filled in by the agent: on WhatsApp it reaches the user at any time,
    the 24-hour window closed or not. It does not reopen the window: free text waits until the user
    answers (Meta's rule), and the transcript shows what the user received."""
    conv = run.conversation
    _require_own(conv, event.agent_id)
    if conv.ref.channel != "whatsapp":
        channel = conv.ref.channel.capitalize()
        closes_at = reply_window_closes_at(conv)
        days = HUMAN_AGENT_WINDOW[conv.ref.channel].days
        if closes_at is not None and run.now < closes_at:
            raise WindowClosed(
                f"{channel} has no templates: reply with text instead, possible until "
                f"{closes_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC ({days} days after the user's last "
                "message); after that nobody may write until the user does."
            )
        raise WindowClosed(
            f"{channel} has no templates, and the user's last message is more than {days} days old: "
            "nobody may write until the user writes again."
        )
    template = run.context.tenant.agent_template(event.name, event.language)
    if template is None:
        raise TemplateRefused(
            "name",
            f"{event.name!r} in {event.language!r} is not one of the templates this tenant lets agents "
            "send (agent_templates)",
        )
    if len(event.parameters) != len(template.parameters):
        labels = ", ".join(template.parameters) or "none"
        raise TemplateRefused(
            "parameters",
            f"template {template.title!r} takes {len(template.parameters)} parameters ({labels}); "
            f"{len(event.parameters)} given",
        )
    for n, (label, value) in enumerate(zip(template.parameters, event.parameters, strict=True), start=1):
        problem = parameter_problem(value)
        if problem is not None:
            raise TemplateRefused("parameters", f"parameter {{{{{n}}}}} ({label}): {problem}")
    run.update(last_activity_at=run.now, notice=None)
    outbound = SendTemplate(
        name=template.name, language=template.language, parameters=event.parameters, author="agent"
    )
    run.say(outbound, shown=template.shown(event.parameters))
    _publish(run, "AgentMessageSent", run.now, event.agent_id)


def _agent_closes(run: _Step, event: AgentCloses) -> None:
    conv = run.conversation
    if conv.state == "queued":
        _end_wait(run, "closed", run.now)
    else:
        _require_own(conv, event.agent_id)
        _end_chat(run, "closed")
    _publish(run, "ConversationClosed", run.now, event.agent_id)
    closer = conv.agent_name if conv.state == "with_agent" else None
    run.update(**_left_queue())
    run.note(f"{closer} closed the conversation." if closer else "The agent closed the conversation.")


def _agent_hands_over(run: _Step, event: AgentHandsOver) -> None:
    """The agent's chat ends (`handed_over` or `returned`): the receiver's begins now, or the
    conversation waits again in its first place in line (`queued_at` unchanged). A handover counts
    as activity, so the receiver, or the queue, gets the whole time before the chat is closed idle
    or the wait expires. The user is not told: the transcript and the report say it."""
    conv = run.conversation
    _require_own(conv, event.agent_id)
    if event.to_agent_id == event.agent_id:
        raise Conflict("This conversation is already yours: hand it to another agent, or back to the queue.")
    giver = event.agent_name or conv.agent_name or "The agent"
    if event.to_agent_id is None:
        _end_chat(run, "returned", agent_name=event.agent_name)
        _publish(run, "ConversationHandedOver", run.now, event.agent_id)
        run.update(
            state="queued",
            agent_id=None,
            agent_name=None,
            taken_at=None,
            returned_at=run.now,
            last_activity_at=run.now,
        )
        run.note(f"{giver} put the conversation back in the queue.")
        return
    _end_chat(run, "handed_over", agent_name=event.agent_name)
    _publish(run, "ConversationHandedOver", run.now, event.agent_id, to_agent_id=event.to_agent_id)
    receiver = event.to_agent_name or "another agent"
    run.update(
        agent_id=event.to_agent_id, agent_name=event.to_agent_name, taken_at=run.now, last_activity_at=run.now
    )
    run.note(f"{giver} handed the conversation to {receiver}.")


def _close_idle_chat(run: _Step) -> None:
    """Close a chat an agent took once it has been idle past the tenant's limit (and the agent's
    reply window): nothing stays in Live, or in the table, forever."""
    conv = run.conversation
    limit = timedelta(days=run.context.tenant.close_idle_chats_after_days)
    closes_at = chat_closes_at(conv, limit)
    if closes_at is None or run.now < closes_at:
        return
    _end_chat(run, "closed_idle")
    run.metric("ChatClosedIdle")
    _publish(run, "ConversationClosed", run.now, conv.agent_id, idle=True)
    run.update(**_left_queue())
    run.note(f"Closed after {limit.days} days without activity.")


def _end_chat(run: _Step, outcome: ChatOutcome, *, agent_name: str | None = None) -> None:
    """The chat of the agent who has the conversation ends (`agent_name`: theirs as of now, when
    the event says it; else as of their take)."""
    conv = run.conversation
    assert conv.taken_at is not None
    run.effects.append(
        ChatEnded(
            taken_at=conv.taken_at,
            ended_at=run.now,
            outcome=outcome,
            agent_id=conv.agent_id,
            agent_name=agent_name or conv.agent_name,
        )
    )


def _woken(conv: Conversation) -> bool:
    # notified_available is set at transfer for a conventional handoff: only a wait on hold is woken
    return conv.on_hold and conv.notified_available


def _require_own(conv: Conversation, agent_id: str) -> None:
    if conv.state != "with_agent":
        raise Conflict("Take the conversation before replying to it, closing it or handing it over.")
    if conv.agent_id != agent_id:
        raise NotYours("This conversation is with another agent.")


def _session_id(event_id: str) -> str:
    """An opaque id for a bot session, from the id of the message that opened it (no user id in it)."""
    return hashlib.sha256(f"bot-session#{event_id}".encode()).hexdigest()[:32]


def _latest(current: datetime | None, candidate: datetime) -> datetime:
    return candidate if current is None or candidate > current else current
