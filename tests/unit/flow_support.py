"""Builders for engine tests: a tenant, a scripted bot, events and a driver that keeps the clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

from handoff.config.models import Language, TenantConfig
from handoff.engine.bot import Bot, BotQuestion, BotTurn
from handoff.engine.facts import AgentsOnlineQuestion, Answer, Facts, PlaceInLineQuestion, Question
from handoff.engine.flow import StepContext, next_question, step
from handoff.engine.model import (
    AgentCloses,
    AgentReplies,
    AgentsAvailable,
    AgentSendsTemplate,
    AgentTakes,
    Conversation,
    ConversationRef,
    Effect,
    Event,
    ExpiryCheck,
    MessageKind,
    UserMessage,
)

START = datetime(2026, 3, 4, 23, 0, tzinfo=UTC)
REF = ConversationRef(
    tenant_id="acme", channel="whatsapp", account_id="200000000000001", user_id="15550002222"
)


class KeywordBot:
    """A bot that asks for a handoff when the text mentions an agent, and echoes anything else."""

    def answer(self, question: BotQuestion) -> BotTurn:
        if "agent" in question.text.lower():
            return BotTurn(handoff=True, intent="handoff")
        return BotTurn.saying(f"bot: {question.text}", intent="echo")


def tenant(
    *,
    rule: dict[str, Any] | None = None,
    language: Language = "en",
    agent_templates: list[dict[str, Any]] | None = None,
) -> TenantConfig:
    accounts = [{"channel": "whatsapp", "account_id": REF.account_id}]
    return TenantConfig.model_validate(
        {
            "tenant_id": "acme",
            "language": language,
            "accounts": accounts,
            "rules": [rule] if rule else [],
            "agent_templates": agent_templates or [],
        }
    )


def after_hours_rule(*, direct: bool = False, **extra: Any) -> dict[str, Any]:
    return {"channel": "whatsapp", "type": "live", "after_hours": True, "direct": direct, **extra}


_ids = count(1)


@dataclass
class Driver:
    """Feeds events to the engine one by one, advancing a fake clock, and keeps what came out.

    It plays the shell: it answers the questions the engine asks before each step, and keeps them
    (`asked`, per step) so tests can say what the engine asked for, and what it did not."""

    tenant: TenantConfig
    online: bool = False
    place: int = 1  # what the shell would answer for the place in line
    now: datetime = START
    conversation: Conversation = field(default_factory=lambda: Conversation(ref=REF, language="en"))
    effects: list[Effect] = field(default_factory=list)
    asked: list[list[Question]] = field(default_factory=list)
    bot: Bot = field(default_factory=KeywordBot)

    @property
    def ref(self) -> ConversationRef:
        return self.conversation.ref

    def context(self, facts: Facts | None = None) -> StepContext:
        return StepContext(now=self.now, tenant=self.tenant, facts=facts or Facts())

    def answer(self, question: Question) -> Answer:
        match question:
            case AgentsOnlineQuestion():
                return self.online
            case PlaceInLineQuestion():
                return self.place
            case BotQuestion():
                return self.bot.answer(question)

    def apply(self, event: Event) -> list[Effect]:
        facts, asked = Facts(), []
        while (question := next_question(self.conversation, event, self.context(facts))) is not None:
            assert question not in asked, f"asked twice for {question}"
            asked.append(question)
            facts = facts.answer(question, self.answer(question))
        self.asked.append(asked)
        self.conversation, effects = step(self.conversation, event, self.context(facts))
        self.effects += effects
        return effects

    @property
    def last_asked(self) -> list[str]:
        """The facts the engine asked for before the last step, by name."""
        return [question.fact for question in self.asked[-1]]

    def wait(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    def user(
        self, text: str | None = None, *, payload: str | None = None, kind: MessageKind = "text"
    ) -> list[Effect]:
        if payload is not None and kind == "text":
            kind = "choice"
        return self.apply(
            UserMessage(
                ref=REF,
                event_id=f"wamid.{next(_ids)}",
                sent_at=self.now,
                kind=kind,
                text=text,
                payload=payload,
            )
        )

    def wake(self) -> list[Effect]:
        return self.apply(AgentsAvailable(ref=self.ref, event_id=f"wake#{next(_ids)}"))

    def expiry_check(self) -> list[Effect]:
        return self.apply(ExpiryCheck(ref=self.ref, event_id=f"expire#{next(_ids)}"))

    def take(self, agent: str = "agent-1") -> list[Effect]:
        return self.apply(AgentTakes(ref=self.ref, event_id=f"take#{next(_ids)}", agent_id=agent))

    def reply(self, text: str, agent: str = "agent-1") -> list[Effect]:
        return self.apply(
            AgentReplies(ref=self.ref, event_id=f"reply#{next(_ids)}", agent_id=agent, text=text)
        )

    def send_template(
        self, name: str, language: str, *parameters: str, agent: str = "agent-1"
    ) -> list[Effect]:
        return self.apply(
            AgentSendsTemplate(
                ref=self.ref,
                event_id=f"template#{next(_ids)}",
                agent_id=agent,
                name=name,
                language=language,
                parameters=parameters,
            )
        )

    def close(self, agent: str = "agent-1") -> list[Effect]:
        return self.apply(AgentCloses(ref=self.ref, event_id=f"close#{next(_ids)}", agent_id=agent))
