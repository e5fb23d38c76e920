"""People, not ids (issue 13): an agent's display name from their token, and the online agents by name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from handoff.api.callers import MAX_NAME_LENGTH, live_agent_from_claims
from handoff.engine.model import Conversation, ConversationRef
from handoff.services.people import online, online_agents
from handoff.store.directory import AgentPresence

SUB = "7f3c2a10-5b1e-4c7e-9a1d-0c2b4e6f8a90"
CLAIMS = {"sub": SUB, "custom:tenant_id": "acme", "cognito:groups": "[agents]"}
NOW = datetime(2026, 3, 5, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("extra", "name"),
    [
        ({"name": "Carla Gómez", "email": "carla@example.com"}, "Carla Gómez"),
        ({"email": "carla@example.com", "cognito:username": "carla"}, "carla@example.com"),  # no name
        ({"name": "  ", "email": "carla@example.com"}, "carla@example.com"),  # a blank name is none
        ({"cognito:username": "carla"}, "carla"),
        ({"cognito:username": SUB}, None),  # a pool that signs in by email names users by their sub
        ({}, None),
        ({"name": " Carla\n\tGómez\x00 "}, "Carla Gómez"),  # control characters and runs of spaces: one space
        ({"name": "Carla \ud83d"}, "Carla \ufffd"),  # a lone surrogate cannot be stored or sent
        ({"name": 42, "email": "carla@example.com"}, "carla@example.com"),
    ],
)
def test_the_name_is_the_tokens_name_else_email_else_username_never_the_sub(extra, name) -> None:
    assert live_agent_from_claims({**CLAIMS, **extra}).name == name


def test_a_local_token_without_a_name_is_named_by_its_agent_id() -> None:
    local = {**CLAIMS, "sub": "diego", "name": "diego", "cognito:username": "diego"}  # handoff_tools.tokens
    assert live_agent_from_claims(local).name == "diego"


def test_a_long_name_is_cut_to_a_bound() -> None:
    name = live_agent_from_claims({**CLAIMS, "name": "Carla " * 40}).name
    assert name is not None and len(name) == MAX_NAME_LENGTH and name.endswith("…")


def presence(
    agent_id: str, name: str | None, *, seen: timedelta = timedelta(0), seats: int = 3
) -> AgentPresence:
    return AgentPresence(
        tenant_id="acme", agent_id=agent_id, online=True, seen_at=NOW - seen, seats=seats, name=name
    )


def held_by(agent_id: str) -> Conversation:
    ref = ConversationRef(tenant_id="acme", channel="whatsapp", account_id="1", user_id=agent_id)
    return Conversation(ref=ref, state="with_agent", agent_id=agent_id, taken_at=NOW)


def test_online_agents_by_name_with_their_chats_and_seats() -> None:
    presences = [
        presence("u-diego", "Diego"),
        presence("u-carla", "carla"),
        presence("u-ana", None, seats=1),  # reported before names were kept
        presence("u-bruno", "Bruno", seen=timedelta(minutes=3)),  # lapsed: offline
        AgentPresence(tenant_id="acme", agent_id="u-eva", online=False, seen_at=NOW, name="Eva"),
    ]

    listed = online_agents(online(presences, NOW), [held_by("u-diego"), held_by("u-diego")], 3).agents

    assert [(a.agent_id, a.name, a.chats, a.seats) for a in listed] == [
        ("u-carla", "carla", 0, 3),
        ("u-diego", "Diego", 2, 3),
        ("u-ana", "u-ana", 0, 1),
    ]
