"""Erase one user of a tenant through the admin API, and print what was erased.

    python -m handoff_tools.erase --url https://API/ --token "$TOKEN" --channel whatsapp --user 573001234567
    python -m handoff_tools.erase --url https://API/ --token "$TOKEN" --conversation q3V9c0yJ1mXb2Zl8Tn4WkA
    python -m handoff_tools.erase --url http://127.0.0.1:3000 --local --tenant acme --conversation ...

It sends `POST /admin/erasures` as the token's tenant administrator (`--local`: a token the local
run signs for `--tenant`). Running it again is safe: a second erasure finds nothing and says so.
Exit status: 0 when the API answered, 1 when it refused (the reason is printed), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, get_args

from handoff.config.models import Channel
from handoff_tools import tokens
from handoff_tools.config import Transport, http_transport


def erase(call: Transport, tenant_id: str, request: dict[str, Any]) -> tuple[int, Any]:
    return call("POST", "/admin/erasures", request, tenant_id)


def describe(answer: dict[str, Any]) -> str:
    """The API's answer in a line a person reads (counts only: no id is printed)."""
    erased = answer["erased"]
    if not answer["conversations_found"]:
        return "nothing held about this user (never seen, or erased already)"
    parts = ", ".join(f"{count} {name.replace('_', ' ')}" for name, count in erased.items() if count)
    return f"erased from {answer['conversations_found']} conversation(s): {parts}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m handoff_tools.erase", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--url", required=True, help="the HTTP API's base URL (make local: http://127.0.0.1:3000)"
    )
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--token", help="an admins-group ID token: the tenant is the token's")
    who.add_argument(
        "--local", action="store_true", help="sign a local admin token for --tenant (make local only)"
    )
    parser.add_argument("--tenant", help="the tenant (with --local)")
    parser.add_argument("--channel", choices=get_args(Channel), help="the user's channel (with --user)")
    parser.add_argument(
        "--user", help="the user's id on the channel (WhatsApp BSUID or phone number, PSID, IGSID)"
    )
    parser.add_argument("--conversation", help="a conversation id, as Live shows it")
    args = parser.parse_args(argv)

    if args.local and not args.tenant:
        parser.error("--local needs --tenant")
    if (args.conversation is None) == (args.user is None) or (args.user is None) != (args.channel is None):
        parser.error("name the user with --channel and --user, or the conversation with --conversation")
    request: dict[str, Any] = (
        {"conversation_id": args.conversation}
        if args.conversation is not None
        else {"channel": args.channel, "user_id": args.user}
    )
    given = args.token

    def token(tenant_id: str) -> str:
        return given or tokens.issue(tenant_id, "erasure", groups=tokens.ADMIN_GROUPS)

    status, answer = erase(http_transport(args.url, token), args.tenant or "", request)
    if status != 200:
        print(f"refused ({status}): {json.dumps(answer)}", file=sys.stderr)
        return 1
    print(describe(answer))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
