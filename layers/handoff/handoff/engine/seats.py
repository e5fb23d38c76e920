"""Seats: how many chats an agent holds at once, and how many waiting users may be told now.

An online agent has their own seats (`custom:seats`, recorded with their presence) or else the
tenant's `agent_seats`. A seat is taken by a conversation the agent holds, and reserved by a
waiting user who was told an agent is available and is not taken yet. The wake pass tells as many
users as there are free seats; a take by an agent with no free seat of their own is refused.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from handoff.engine.errors import AtCapacity, Conflict
from handoff.engine.model import Conversation, Frozen


class OnlineAgent(Frozen):
    agent_id: str
    seats: int | None = None
    """The agent's own seats; None: the tenant's agent_seats."""
    name: str | None = None


def seats_of(agent_seats: int | None, tenant_seats: int) -> int:
    return agent_seats or tenant_seats


def chats_by_agent(in_live: Iterable[Conversation]) -> Counter[str]:
    """How many conversations each agent holds now."""
    return Counter(c.agent_id for c in in_live if c.state == "with_agent" and c.agent_id is not None)


def seats_left(
    online: Iterable[OnlineAgent], chats: Iterable[Conversation], promised: int, tenant_seats: int
) -> int:
    """Seats of online agents not taken by one of the `chats`, less `promised` (users told and not
    taken yet, each holding a seat)."""
    held = chats_by_agent(chats)
    free = sum(max(0, seats_of(a.seats, tenant_seats) - held[a.agent_id]) for a in online)
    return max(0, free - promised)


def check_can_take(
    agent_id: str, agent_seats: int | None, tenant_seats: int, in_live: Iterable[Conversation]
) -> None:
    """AtCapacity when the agent already holds as many chats as their seats."""
    capacity = seats_of(agent_seats, tenant_seats)
    chats = chats_by_agent(in_live)[agent_id]
    if chats >= capacity:
        raise AtCapacity(
            f"you already have {chats} chat{'s' if chats != 1 else ''}, as many as your "
            f"{capacity} seat{'s' if capacity != 1 else ''}: close one before taking another"
        )


def check_can_receive(
    to_agent_id: str, online: Iterable[OnlineAgent], tenant_seats: int, in_live: Iterable[Conversation]
) -> OnlineAgent:
    """The receiver of a handover, if online with a free seat: Conflict when they are not online,
    AtCapacity when they already hold as many chats as their seats."""
    receiver = next((agent for agent in online if agent.agent_id == to_agent_id), None)
    if receiver is None:
        raise Conflict(
            "That agent is not online now: hand the conversation to an online agent, or back to the queue."
        )
    capacity = seats_of(receiver.seats, tenant_seats)
    chats = chats_by_agent(in_live)[to_agent_id]
    if chats >= capacity:
        raise AtCapacity(
            f"{receiver.name or 'that agent'} already has {chats} chat{'s' if chats != 1 else ''}, as many "
            f"as their {capacity} seat{'s' if capacity != 1 else ''}: hand the conversation to someone "
            "else, or back to the queue"
        )
    return receiver
