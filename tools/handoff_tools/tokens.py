"""Agents' tokens for the local run: the claims a Cognito id token carries, signed with a local key.

The deployed HTTP API's JWT authorizer validates Cognito's tokens and hands the function their
claims; locally this module plays that part, so the Live API sees the same claims either way.
`python -m handoff_tools.tokens TENANT AGENT [--admin] [--seats N] [--name NAME]` prints a token for
scripts and curl (`--admin`: a tenant administrator's, in the admins group, for the admin API;
`--seats`: the agent's own number of concurrent chats, Cognito's `custom:seats`; `--name`: the
agent's display name, Cognito's standard `name` attribute, by default the agent id).
"""

from __future__ import annotations

import argparse
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


def issue(
    tenant_id: str,
    agent_id: str,
    *,
    groups: tuple[str, ...] = ("agents",),
    seats: int | None = None,
    name: str | None = None,
) -> str:
    """A token like Cognito's ID token; `seats` sets `custom:seats` (text, as Cognito sends numbers),
    `name` the `name` claim (default: the agent id)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": agent_id,
        "name": name or agent_id,
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
    if seats is not None:
        claims["custom:seats"] = str(seats)
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
    parser = argparse.ArgumentParser(
        prog="python -m handoff_tools.tokens", description="Print a local token for the Live and admin APIs."
    )
    parser.add_argument("tenant_id")
    parser.add_argument("agent_id")
    parser.add_argument("--admin", action="store_true", help="a tenant administrator's (admins group)")
    parser.add_argument("--seats", type=_seats, metavar="1-100", help="the agent's own concurrent chats")
    parser.add_argument("--name", help="the agent's display name (default: the agent id)")
    args = parser.parse_args(argv)
    groups = ADMIN_GROUPS if args.admin else ("agents",)
    print(issue(args.tenant_id, args.agent_id, groups=groups, seats=args.seats, name=args.name))
    return 0


def _seats(value: str) -> int:
    try:
        seats = int(value)
    except ValueError:
        seats = 0
    if not 1 <= seats <= 100:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number from 1 to 100")
    return seats


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
