"""People in Live: the tenant's online agents by name (whom a conversation can be handed to), and
what a handover asks for."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pydantic import BaseModel, Field

from handoff.engine.model import Conversation
from handoff.engine.seats import OnlineAgent, chats_by_agent, seats_of
from handoff.store.directory import AgentPresence


class OnlineAgentSummary(BaseModel, defer_build=True):
    agent_id: str = Field(description="the agent's id: what a handover's `to` names")
    name: str = Field(
        description="what people call the agent: the display name of their last presence report (their "
        "id only for a report from before names were kept)"
    )
    chats: int = Field(description="conversations the agent has now")
    seats: int = Field(
        description="how many the agent takes at once: their own `custom:seats`, else the tenant's "
        "`agent_seats`; a handover to an agent with as many chats as seats is refused"
    )


class OnlineAgents(BaseModel, defer_build=True):
    agents: list[OnlineAgentSummary] = Field(
        description="the tenant's agents online now (the caller too, if online), by name"
    )


class Handover(BaseModel, defer_build=True):
    """An agent's request to hand the conversation they have to another agent, or back to the queue."""

    to: str | None = Field(
        min_length=1,
        max_length=128,
        description="the `agent_id` of another agent of GET /live/agents, online with a free seat; "
        "null: back to Live's queue, in the place the conversation had",
    )


def online(presences: Iterable[AgentPresence], now: datetime) -> list[OnlineAgent]:
    """The agents whose presence is current, with their seats and names as last reported."""
    return [
        OnlineAgent(agent_id=p.agent_id, seats=p.seats, name=p.name) for p in presences if p.is_online(now)
    ]


def online_agents(
    agents: Iterable[OnlineAgent], in_live: Iterable[Conversation], tenant_seats: int
) -> OnlineAgents:
    """Each online agent with their chats and seats, by name (then id, for two of the same name)."""
    chats = chats_by_agent(in_live)
    summaries = [
        OnlineAgentSummary(
            agent_id=agent.agent_id,
            name=agent.name or agent.agent_id,
            chats=chats[agent.agent_id],
            seats=seats_of(agent.seats, tenant_seats),
        )
        for agent in agents
    ]
    return OnlineAgents(agents=sorted(summaries, key=lambda a: (a.name.casefold(), a.agent_id)))
