"""Agents' tokens for the local run: the claims a Cognito id token carries, signed with a local key.

The deployed HTTP API's JWT authorizer validates Cognito's tokens and hands the function their
claims; locally this module plays that part, so the Live API sees the same claims either way.
`python -m handoff_local.tokens TENANT AGENT` prints a token for scripts and curl.
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
    if len(argv) != 2:
        print("usage: python -m handoff_local.tokens TENANT_ID AGENT_ID", file=sys.stderr)
        return 2
    print(issue(argv[0], argv[1]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
