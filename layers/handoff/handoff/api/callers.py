"""Who calls the Live and admin APIs: tenant, agent, name and groups from the JWT claims the authorizer
passes."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from handoff.config.models import is_tenant_id
from handoff.engine.model import Frozen

TENANT_CLAIM = "custom:tenant_id"
SEATS_CLAIM = "custom:seats"
MAX_SEATS = 100
GROUPS_CLAIM = "cognito:groups"
ADMINS_GROUP = "admins"
AGENTS_GROUP = "agents"
_AGENT_ID = re.compile(r"[A-Za-z0-9._@+=-]{1,128}")
"""A Cognito `sub` (a UUID), or a local run's agent name: nothing that could split a key."""
NAME_CLAIMS = ("name", "email", "cognito:username")
"""Where an agent's display name comes from, first found first: Cognito's standard `name`
attribute, else their email, else their username (never the `sub`: people read names, not ids)."""
MAX_NAME_LENGTH = 64
"""Characters of a display name kept: enough for a full name, short enough for the console's lines."""


class NotAuthorized(Exception):
    """The token carries no tenant or no agent: the caller is not an agent of any tenant."""


class Agent(Frozen):
    tenant_id: str
    agent_id: str
    seats: int | None = None
    """The agent's own number of concurrent chats (`custom:seats`); None: the tenant's agent_seats."""
    name: str | None = None
    """What other agents and the transcript call them (`display_name`); None: the token has no name."""


def agent_from_claims(claims: Mapping[str, Any] | None) -> Agent:
    """Whoever the token names: tenant and user, whatever their groups."""
    claims = claims or {}
    tenant_id = claims.get(TENANT_CLAIM)
    agent_id = claims.get("sub")
    if not isinstance(tenant_id, str) or not tenant_id or not isinstance(agent_id, str) or not agent_id:
        raise NotAuthorized("the token names no tenant or no agent")
    # a tenant claim is compared by equality everywhere; a claim like "acme#whatsapp" is no tenant
    if not is_tenant_id(tenant_id):
        raise NotAuthorized("the token's tenant is not a tenant id")
    if not _AGENT_ID.fullmatch(agent_id):
        raise NotAuthorized("the token's subject is not an agent id")
    return Agent(
        tenant_id=tenant_id,
        agent_id=agent_id,
        seats=_seats(claims.get(SEATS_CLAIM)),
        name=display_name(claims),
    )


def display_name(claims: Mapping[str, Any]) -> str | None:
    """The agent's name from the first of `NAME_CLAIMS` that holds one, tidied: control characters
    and runs of spaces made one space, lone surrogates replaced, at most `MAX_NAME_LENGTH`
    characters. A username equal to the `sub` is passed over: a pool that signs in by email names
    its users by their `sub`."""
    for claim in NAME_CLAIMS:
        raw = claims.get(claim)
        if not isinstance(raw, str) or (claim == "cognito:username" and raw == claims.get("sub")):
            continue
        text = raw.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        text = " ".join("".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text).split())
        if text:
            return text if len(text) <= MAX_NAME_LENGTH else text[: MAX_NAME_LENGTH - 1] + "…"
    return None


def _seats(raw: Any) -> int | None:
    """A whole number of seats from 1 to 100 (tokens carry Cognito's number attributes as text)."""
    try:
        seats = int(str(raw).strip()) if raw is not None else None
    except ValueError:
        return None
    return seats if seats is not None and 1 <= seats <= MAX_SEATS else None


def groups_from_claims(claims: Mapping[str, Any] | None) -> frozenset[str]:
    """The caller's Cognito groups: a list in the token, a string like "[admins agents]" from the HTTP API.

    API Gateway's JWT authorizer flattens array claims into that bracketed, space-separated string.
    """
    raw = (claims or {}).get(GROUPS_CLAIM)
    if isinstance(raw, str):
        return frozenset(part for part in raw.strip().strip("[]").replace(",", " ").split() if part)
    if isinstance(raw, list | tuple):
        return frozenset(str(part) for part in raw)
    return frozenset()


def admin_from_claims(claims: Mapping[str, Any] | None) -> Agent:
    """The tenant administrator calling; NotAuthorized unless the token is in the admins group."""
    caller = agent_from_claims(claims)
    if ADMINS_GROUP not in groups_from_claims(claims):
        raise NotAuthorized("only the tenant's administrators (the admins group) may do this")
    return caller


def live_agent_from_claims(claims: Mapping[str, Any] | None) -> Agent:
    """An agent working in Live: the agents group (administrators may work there too)."""
    caller = agent_from_claims(claims)
    if not groups_from_claims(claims) & {AGENTS_GROUP, ADMINS_GROUP}:
        raise NotAuthorized("only the tenant's agents (the agents group) may work in Live")
    return caller
