"""Live, the agents' side: presence, transcripts, take, reply, template, close, the online agents
and the handover (the conversation list and its views: `live_views.py`).

Every action on a conversation is an engine event applied through `Conversations.apply`, with
the same conditional write as the user's messages: two agents taking at once, one wins.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator, BaseModel, Field

from handoff.config.models import (
    MAX_TEMPLATE_PARAMETERS,
    TEMPLATE_LANGUAGE,
    TEMPLATE_NAME,
    AgentTemplate,
    CannedAnswer,
    Language,
    TenantConfig,
    parameter_problem,
)
from handoff.engine.model import (
    AgentCloses,
    AgentHandsOver,
    AgentReplies,
    AgentSendsTemplate,
    AgentTakes,
    Conversation,
    Event,
)
from handoff.engine.seats import check_can_receive, check_can_take
from handoff.engine.windows import (
    AgentMaySend,
    agent_may_send,
    chat_closes_at,
    reply_window_closes_at,
    wait_expires_at,
    window_closes_at,
)
from handoff.services.errors import NotFound
from handoff.services.media import TranscriptLine, transcript_line
from handoff.services.pacing import Sending
from handoff.services.people import OnlineAgents, online, online_agents
from handoff.store.directory import AgentPresence, Directory

if TYPE_CHECKING:
    from handoff.services.conversations import Conversations
    from handoff.store.conversation_store import ConversationStore

SEND_WINDOW = timedelta(seconds=8)
"""How long an agent's action may take to send what it owes: the Live API function's timeout (10 s)
less pacing's SEND_MARGIN (a test holds it to template.yaml). A send that cannot start in time
(its account's schedule booked more than that ahead) waits in the outbox for the sweep."""


class ConversationSummary(BaseModel, defer_build=True):
    id: str
    channel: str
    state: str
    on_hold: bool
    direct: bool
    user_name: str | None
    agent_id: str | None
    agent_name: str | None = Field(description="the display name of the agent who has it")
    queued_at: datetime | None
    waited_seconds: int | None
    last_user_message_at: datetime | None
    window_closes_at: datetime | None  # after this only a person may write (Messenger, Instagram)
    reply_window_closes_at: datetime | None  # after this nobody may write until the user does
    agent_may_send: AgentMaySend = Field(
        description="what an agent may send now: `text` (inside the reply window), `template` (WhatsApp "
        "past 24 hours: an approved template only, until the user writes), `nothing` (Messenger and "
        "Instagram past 7 days, until the user writes)"
    )
    notice: str | None
    wait_expires_at: datetime | None
    closes_at: datetime | None  # a chat an agent took: closed then if nobody writes meanwhile
    notified_available: bool


class ConversationDetail(ConversationSummary):
    transcript: list[TranscriptLine]  # a user's file or place shown without its link (services/media.py)


class AgentTemplates(BaseModel, defer_build=True):
    templates: list[AgentTemplate] = Field(
        description="the approved WhatsApp templates the tenant lets agents send (its agent_templates)"
    )


class CannedAnswers(BaseModel, defer_build=True):
    language: Language = Field(description="the language asked for, else the tenant's language")
    canned_answers: list[CannedAnswer] = Field(
        description="the tenant's canned answers in that language (its canned_answers), for the "
        "console's '/' suggestions"
    )


def _sendable(value: str) -> str:
    """A parameter WhatsApp would take; refused here so the agent hears why before anything is sent."""
    problem = parameter_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


class TemplateSend(BaseModel, defer_build=True):
    """An agent's request to send one of the tenant's templates, filled in."""

    name: str = Field(pattern=TEMPLATE_NAME, description="a template of GET /live/templates")
    language: str = Field(pattern=TEMPLATE_LANGUAGE, description="its language, as listed there")
    parameters: list[Annotated[str, AfterValidator(_sendable)]] = Field(
        default_factory=list,
        max_length=MAX_TEMPLATE_PARAMETERS,
        description="the values of the body's {{1}}, {{2}}..., exactly as many as the template's "
        "parameters; WhatsApp takes no empty one, no line break or tab, and no more than four spaces "
        "in a row",
    )


class Live:
    def __init__(
        self,
        conversations: Conversations,
        store: ConversationStore,
        directory: Directory,
        announce_agent_available: Callable[[str], None],
        now: Callable[[], datetime],
    ) -> None:
        self.conversations = conversations
        self.store = store
        self.directory = directory
        self.announce_agent_available = announce_agent_available
        self.now = now

    def set_presence(
        self,
        tenant_id: str,
        agent_id: str,
        *,
        online: bool,
        seats: int | None = None,
        name: str | None = None,
    ) -> AgentPresence:
        """Record the agent's presence with their seats (their own, else the tenant's agent_seats)
        and their display name, which other agents see. Only an agent coming online (offline or
        lapsed before) is announced to the wake function: a heartbeat every 30 s is not news, and
        the wake's own pass every minute hands out seats freed meanwhile."""
        presence, came_online = self.directory.set_presence(
            tenant_id,
            agent_id,
            online=online,
            at=self.now(),
            seats=seats or self._tenant_seats(tenant_id),
            name=name,
        )
        if came_online:
            self.announce_agent_available(tenant_id)
        return presence

    def read(self, tenant_id: str, conversation_id: str) -> ConversationDetail:
        conversation = self._find(tenant_id, conversation_id)
        summary = summarize(conversation, self.now(), self._tenant(tenant_id).close_idle_chats_after_days)
        lines = [transcript_line(e, conversation.id) for e in self.store.transcript(conversation.ref)]
        return ConversationDetail(**summary.model_dump(), transcript=lines)

    def take(
        self,
        tenant_id: str,
        agent_id: str,
        conversation_id: str,
        *,
        seats: int | None = None,
        name: str | None = None,
    ) -> ConversationSummary:
        """Take a queued conversation, unless the agent already holds `seats` chats (AtCapacity).

        `seats` is the agent's own (the token's `custom:seats`), else the tenant's agent_seats.
        """
        conversation = self._find(tenant_id, conversation_id)
        if conversation.state == "queued":  # taking what is already yours again is not another chat
            check_can_take(agent_id, seats, self._tenant_seats(tenant_id), self.store.in_live(tenant_id))
        return self._apply(
            AgentTakes(ref=conversation.ref, event_id=_action_id(), agent_id=agent_id, agent_name=name)
        )

    def reply(self, tenant_id: str, agent_id: str, conversation_id: str, text: str) -> ConversationSummary:
        ref = self._find(tenant_id, conversation_id).ref
        return self._apply(AgentReplies(ref=ref, event_id=_action_id(), agent_id=agent_id, text=text))

    def templates(self, tenant_id: str) -> AgentTemplates:
        """The approved templates the tenant lets agents send (its `agent_templates`)."""
        return AgentTemplates(templates=self._tenant(tenant_id).agent_templates)

    def canned_answers(self, tenant_id: str, language: Language | None = None) -> CannedAnswers:
        """The tenant's canned answers in `language` (default: the tenant's language)."""
        tenant = self._tenant(tenant_id)
        chosen = language or tenant.language
        return CannedAnswers(language=chosen, canned_answers=tenant.canned_answers.get(chosen, []))

    def send_template(
        self,
        tenant_id: str,
        agent_id: str,
        conversation_id: str,
        name: str,
        language: str,
        parameters: Sequence[str],
    ) -> ConversationSummary:
        """Send one of the tenant's agent templates, filled in; the engine checks it is one of them,
        with its number of parameters (TemplateRefused), and that the channel has templates."""
        ref = self._find(tenant_id, conversation_id).ref
        event = AgentSendsTemplate(
            ref=ref,
            event_id=_action_id(),
            agent_id=agent_id,
            name=name,
            language=language,
            parameters=tuple(parameters),
        )
        return self._apply(event)

    def close(self, tenant_id: str, agent_id: str, conversation_id: str) -> ConversationSummary:
        ref = self._find(tenant_id, conversation_id).ref
        return self._apply(AgentCloses(ref=ref, event_id=_action_id(), agent_id=agent_id))

    def online_agents(self, tenant_id: str) -> OnlineAgents:
        """The tenant's online agents with their names, chats and seats (the handover's choices)."""
        return online_agents(
            online(self.directory.agents(tenant_id), self.now()),
            self.store.in_live(tenant_id),
            self._tenant_seats(tenant_id),
        )

    def hand_over(
        self, tenant_id: str, agent_id: str, conversation_id: str, to: str | None, *, name: str | None = None
    ) -> ConversationSummary:
        """Hand the agent's conversation to another agent (`to`), online with a free seat (Conflict,
        AtCapacity), or back to the queue (`to` None) in its place; `name` is the giver's."""
        conversation = self._find(tenant_id, conversation_id)
        to_name = None
        mine = conversation.state == "with_agent" and conversation.agent_id == agent_id
        if to is not None and to != agent_id and mine:  # otherwise the engine says what is wrong
            receiver = check_can_receive(
                to,
                online(self.directory.agents(tenant_id), self.now()),
                self._tenant_seats(tenant_id),
                self.store.in_live(tenant_id),
            )
            to_name = receiver.name
        event = AgentHandsOver(
            ref=conversation.ref,
            event_id=_action_id(),
            agent_id=agent_id,
            agent_name=name,
            to_agent_id=to,
            to_agent_name=to_name,
        )
        return self._apply(event)

    def _apply(self, event: Event) -> ConversationSummary:
        # what it owes and cannot send in time waits in the outbox, for the sweep
        sending = Sending(until=self.now() + SEND_WINDOW)
        stored = self.conversations.apply(event, sending=sending).conversation
        if stored is None:
            raise NotFound("conversation not found")
        return summarize(stored, self.now(), self._tenant(stored.ref.tenant_id).close_idle_chats_after_days)

    def _tenant_seats(self, tenant_id: str) -> int:
        return self._tenant(tenant_id).agent_seats

    def _tenant(self, tenant_id: str) -> TenantConfig:
        """The tenant's config (cached by the directory); the defaults for a tenant without one."""
        return self.directory.tenant(tenant_id) or TenantConfig(tenant_id=tenant_id)

    def _find(self, tenant_id: str, conversation_id: str) -> Conversation:
        """The tenant's conversation with this id; NotFound for any other (another tenant's too)."""
        conversation = self.store.load_id(conversation_id)
        if conversation is None or conversation.ref.tenant_id != tenant_id:
            raise NotFound("conversation not found")
        return conversation


def summarize(
    conversation: Conversation, now: datetime, close_idle_chats_after_days: int
) -> ConversationSummary:
    queued_at = conversation.queued_at
    return ConversationSummary(
        id=conversation.id,
        channel=conversation.ref.channel,
        state=conversation.state,
        on_hold=conversation.on_hold,
        direct=conversation.direct,
        user_name=conversation.user_name,
        agent_id=conversation.agent_id,
        agent_name=conversation.agent_name,
        queued_at=queued_at,
        waited_seconds=int((now - queued_at).total_seconds()) if queued_at else None,
        last_user_message_at=conversation.last_user_message_at,
        window_closes_at=window_closes_at(conversation),
        reply_window_closes_at=reply_window_closes_at(conversation),
        agent_may_send=agent_may_send(conversation, now),
        notice=conversation.notice,
        wait_expires_at=wait_expires_at(conversation),
        closes_at=chat_closes_at(conversation, timedelta(days=close_idle_chats_after_days)),
        notified_available=conversation.notified_available,
    )


def _action_id() -> str:
    return f"live#{uuid.uuid4()}"
