"""Who is calling the Live API: tenant and agent from the JWT claims the HTTP API authorizer passes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from handoff.engine.model import Frozen

TENANT_CLAIM = "custom:tenant_id"


class NotAuthorized(Exception):
    """The token carries no tenant or no agent: the caller is not an agent of any tenant."""


class Agent(Frozen):
    tenant_id: str
    agent_id: str


def agent_from_claims(claims: Mapping[str, Any] | None) -> Agent:
    claims = claims or {}
    tenant_id = claims.get(TENANT_CLAIM)
    agent_id = claims.get("sub")
    if not isinstance(tenant_id, str) or not tenant_id or not isinstance(agent_id, str) or not agent_id:
        raise NotAuthorized("the token names no tenant or no agent")
    return Agent(tenant_id=tenant_id, agent_id=agent_id)
