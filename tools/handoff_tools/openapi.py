"""The Live and admin APIs' OpenAPI descriptions, generated from the handlers' routes and pydantic models.

python -m handoff_tools.openapi           # writes docs/openapi/live.json and docs/openapi/admin.json
python -m handoff_tools.openapi --check   # fails if a committed one no longer matches the code
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer, Server

from handoff_tools.functions import ROOT, load_function

OPENAPI_DIR = ROOT / "docs" / "openapi"
APIS = {
    "live": (
        "LiveApiFunction",
        "Live API",
        "Agents: presence, the conversation list, transcripts, take, reply, close.",
    ),
    "admin": (
        "AdminApiFunction",
        "Admin API",
        "Tenant administrators: handoff rules per channel, business hours, messages, templates, agent "
        "seats, bot intents (versioned writes), and the chat report.",
    ),
}
VERSION = "1.0.0"


def description(api: str) -> str:
    function, title, summary = APIS[api]
    module = load_function(function, ROOT / "functions" / f"{api}_api", "app.handler")
    app: Any = module.app
    document: str = app.get_openapi_json_schema(
        title=f"async-handoff {title}",
        version=VERSION,
        description=summary,
        servers=[Server(url="http://127.0.0.1:3000", description="make local")],
        security_schemes={"cognito": HTTPBearer(bearerFormat="JWT", description="a Cognito ID token")},
        security=[{"cognito": []}],
    )
    return json.dumps(json.loads(document), indent=2, ensure_ascii=False) + "\n"


def path(api: str) -> Path:
    return OPENAPI_DIR / f"{api}.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m handoff_tools.openapi", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--check", action="store_true", help="fail if a committed description is stale")
    args = parser.parse_args(argv)
    stale = []
    for api in APIS:
        text = description(api)
        if args.check:
            if not path(api).is_file() or path(api).read_text(encoding="utf-8") != text:
                stale.append(str(path(api)))
            continue
        OPENAPI_DIR.mkdir(parents=True, exist_ok=True)
        path(api).write_text(text, encoding="utf-8")
        print(f"wrote {path(api)}")
    if stale:
        print(f"stale: {', '.join(stale)}; run python -m handoff_tools.openapi", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
