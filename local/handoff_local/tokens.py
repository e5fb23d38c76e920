"""Agents' tokens for the local run: the claims a Cognito id token carries, signed with a local key.

The deployed HTTP API's JWT authorizer validates Cognito's tokens and hands the function their
claims; locally this module plays that part, so the Live API sees the same claims either way.
`python -m handoff_local.tokens TENANT AGENT [--admin]` prints a token for scripts and curl
(`--admin`: a tenant administrator's, in the admins group, for the admin API).
"""

from __future__ import annotations

import sys
import time
import uuid
from typing import Any

import jwt

LOCAL_SIGNING_KEY = "async-handoff-local-signing-key-not-for-production"
ISSUER = "https://127.0.0.1/async-handoff-local"
AUDIENCE = "async-handoff-local-console"
LIFETIME_SECONDS = 12 * 3600
ADMIN_GROUPS = ("admins", "agents")


def issue(tenant_id: str, agent_id: str, *, groups: tuple[str, ...] = ("agents",)) -> str:
    now = int(time.time())
    claims = {
        "sub": agent_id,
        "custom:tenant_id": tenant_id,
        "cognito:groups": list(groups),
        "cognito:username": agent_id,
        "token_use": "id",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + LIFETIME_SECONDS,
        "jti": str(uuid.uuid4()),
    }
    return jwt.encode(claims, LOCAL_SIGNING_KEY, algorithm="HS256")


def verify(authorization: str) -> dict[str, Any] | None:
    """The claims of a valid `Bearer` token, or None (the authorizer's 401)."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    try:
        claims: dict[str, Any] = jwt.decode(
            token, LOCAL_SIGNING_KEY, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER
        )
    except jwt.PyJWTError:
        return None
    return claims


def main(argv: list[str]) -> int:
    admin = "--admin" in argv
    names = [arg for arg in argv if arg != "--admin"]
    if len(names) != 2:
        print("usage: python -m handoff_local.tokens TENANT_ID AGENT_ID [--admin]", file=sys.stderr)
        return 2
    print(issue(names[0], names[1], groups=ADMIN_GROUPS if admin else ("agents",)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
