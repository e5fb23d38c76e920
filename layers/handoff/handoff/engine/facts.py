"""Facts in: what a step may need to know beyond the conversation, gathered by the shell first.

A step may need to know whether an agent of the tenant is online (only when a handoff is asked
inside business hours), the user's place in Live's queue (only when a user begins to wait after
hours) and the bot's answer (only for a message the bot reads). The engine says which, purely:
`next_question` runs the step on the facts gathered so far and returns the first one it lacked.
The shell answers it, and asks again until there is nothing left to ask, then steps for real:

    facts = Facts()
    while (question := next_question(conversation, event, context(facts))) is not None:
        facts = facts.answer(question, <the shell's answer>)
    conversation, effects = step(conversation, event, context(facts))

So DynamoDB is asked about presence only for the few messages that ask for a handoff, and the
bot only for the messages it reads: never the answer to the wait offer, never while a direct
handoff waits or an agent has the conversation.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from handoff.engine.bot import BotQuestion, BotTurn
from handoff.engine.model import Frozen


class AgentsOnlineQuestion(Frozen):
    """Is at least one of the tenant's agents online now?"""

    fact: Literal["agents_online"] = "agents_online"


class PlaceInLineQuestion(Frozen):
    """How many of the tenant's conversations began to wait before `since` and still wait, plus one?"""

    fact: Literal["place_in_line"] = "place_in_line"
    since: datetime


Question = AgentsOnlineQuestion | PlaceInLineQuestion | BotQuestion
Answer = bool | int | BotTurn


class Facts(Frozen):
    """The answers the shell has gathered for one step; None: not asked (yet)."""

    agents_online: bool | None = None
    place_in_line: int | None = None
    bot_turn: BotTurn | None = None

    def answer(self, question: Question, answer: Answer) -> Facts:
        return self.model_copy(update={question.fact: answer})


class MissingFact(Exception):
    """The step needs a fact it was not given: `question` says which."""

    def __init__(self, question: Question) -> None:
        super().__init__(question.fact)
        self.question = question
