"""Config as code: check a YAML config, show what would change, apply it through the admin API.

    python -m handoff_tools.config diff  examples/config.yaml --url http://127.0.0.1:3000 --local
    python -m handoff_tools.config apply examples/config.yaml --url https://API/ --token "$ADMIN_TOKEN"
    python -m handoff_tools.config schema [--check]

The file is the one `make seed` reads (the same pydantic models as the admin API), checked whole
first: if anything is wrong, every problem is printed and nothing is sent. `diff` (the dry run)
prints, per tenant, the difference between the stored config and the file; `apply` sends each
changed tenant with the version it read, so an edit made meanwhile is refused (409), not
overwritten. `--local` signs an administrator's token per tenant with the local run's key;
against a deployed stack, `--token` is a Cognito ID token of the admins group and the file's
tenants are narrowed to that token's tenant with `--tenant`.

`schema` writes the JSON Schema of the file (schema/config.schema.json, for editors) and the
reference page generated from it (docs/config-reference.md); `--check` fails if either is stale.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from handoff.config.models import TenantConfig
from handoff_tools import tokens
from handoff_tools.config_file import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = ROOT / "schema" / "config.schema.json"
REFERENCE_PATH = ROOT / "docs" / "config-reference.md"

Transport = Callable[[str, str, dict[str, Any] | None, str], tuple[int, Any]]
"""(method, path, JSON body, tenant id) -> (status, JSON answer): one call as that tenant's admin."""


class ConfigFile(BaseModel):
    """A YAML config file: every tenant, its channel accounts, rules, hours, messages and bot."""

    model_config = ConfigDict(extra="forbid", title="async-handoff configuration")

    tenants: list[TenantConfig] = Field(min_length=1)


def json_schema() -> str:
    schema = ConfigFile.model_json_schema()
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def reference() -> str:
    """The config reference page: one table per object of the schema, fields in the file's order."""
    schema = json.loads(json_schema())
    objects = {"ConfigFile": schema, **schema.get("$defs", {})}
    lines = [
        "# Configuration reference",
        "",
        "Generated from `schema/config.schema.json` (itself generated from the pydantic models) by",
        "`python -m handoff_tools.config schema`; do not edit by hand. The rules between fields are in",
        "[configuration.md](configuration.md).",
    ]
    for name, node in objects.items():
        if node.get("type") != "object" or "properties" not in node:
            continue
        lines += ["", f"## {name}", ""]
        if node.get("description"):
            lines += [" ".join(str(node["description"]).split()), ""]
        required = set(node.get("required", []))
        lines += ["| field | type | required | default | description |", "| --- | --- | --- | --- | --- |"]
        for field, spec in node["properties"].items():
            default = json.dumps(spec["default"], ensure_ascii=False) if "default" in spec else ""
            description = " ".join(str(spec.get("description", "")).split()).replace("|", "\\|")
            cells = [f"`{field}`", _type(spec), "yes" if field in required else "", default, description]
            lines.append(
                "| "
                + " | ".join(cell.replace("|", "\\|") if i < 4 else cell for i, cell in enumerate(cells))
                + " |"
            )
    return "\n".join(lines) + "\n"


def _type(spec: dict[str, Any]) -> str:
    if "$ref" in spec:
        name = str(spec["$ref"]).rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    if "anyOf" in spec:
        return " or ".join(_type(option) for option in spec["anyOf"])
    if "enum" in spec:
        return " or ".join(f"`{value}`" for value in spec["enum"])
    if "const" in spec:
        return f"`{spec['const']}`"
    kind = spec.get("type", "any")
    if kind == "array":
        return f"list of {_type(spec.get('items', {}))}"
    if kind == "object":
        values = spec.get("additionalProperties")
        keys = spec.get("propertyNames")
        key = _type(keys) if isinstance(keys, dict) else "string"
        return f"map of {key} to {_type(values)}" if isinstance(values, dict) else "object"
    text = str(kind)
    if "pattern" in spec:
        text += f" matching `{spec['pattern']}`"
    if "format" in spec:
        text += f" ({spec['format']})"
    bounds = [
        f"{word} {spec[key]}"
        for key, word in (
            ("minimum", ">="),
            ("maximum", "<="),
            ("minLength", "length >="),
            ("maxLength", "length <="),
        )
        if key in spec
    ]
    return text + (f", {', '.join(bounds)}" if bounds else "")


@dataclass(frozen=True)
class TenantChange:
    tenant_id: str
    diff: list[str]
    applied_version: int | None = None


class ApplyFailed(Exception):
    pass


def plan(tenants: Sequence[TenantConfig], call: Transport, *, apply: bool) -> list[TenantChange]:
    """Per tenant: the difference between the stored config and the file; sent when `apply`."""
    changes = []
    for tenant in tenants:
        status, answer = call("GET", "/admin/config", None, tenant.tenant_id)
        if status != 200:
            raise ApplyFailed(f"{tenant.tenant_id}: reading its config failed ({status}): {_message(answer)}")
        stored = TenantConfig.model_validate(answer["config"])
        diff = _diff(stored, tenant)
        version = None
        if apply and diff:
            body = {"version": answer["version"], "config": tenant.model_dump(mode="json")}
            status, written = call("PUT", "/admin/config", body, tenant.tenant_id)
            if status != 200:
                raise ApplyFailed(
                    f"{tenant.tenant_id}: the admin API refused it ({status}): {_message(written)}"
                )
            version = int(written["version"])
        changes.append(TenantChange(tenant.tenant_id, diff, version))
    return changes


def _diff(stored: TenantConfig, wanted: TenantConfig) -> list[str]:
    def lines(config: TenantConfig) -> list[str]:
        return json.dumps(config.model_dump(mode="json"), indent=2, ensure_ascii=False).splitlines()

    return list(
        difflib.unified_diff(
            lines(stored),
            lines(wanted),
            f"{stored.tenant_id} (stored)",
            f"{wanted.tenant_id} (file)",
            lineterm="",
        )
    )


def _message(answer: Any) -> str:
    if isinstance(answer, dict):
        return str(answer.get("message") or answer)
    return str(answer)


def http_transport(base_url: str, token: Callable[[str], str]) -> Transport:
    def call(method: str, path: str, body: dict[str, Any] | None, tenant_id: str) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(base_url.rstrip("/") + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {token(tenant_id)}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            raw = error.read()
            try:
                return error.code, json.loads(raw)
            except json.JSONDecodeError:
                return error.code, raw.decode(errors="replace")

    return call


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m handoff_tools.config", description=__doc__.splitlines()[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (("diff", "show what apply would change (a dry run)"), ("apply", "apply the file")):
        command = commands.add_parser(name, help=text)
        command.add_argument("config", type=Path, help="the YAML config file")
        command.add_argument(
            "--url", required=True, help="the HTTP API's base URL (make local: http://127.0.0.1:3000)"
        )
        who = command.add_mutually_exclusive_group(required=True)
        who.add_argument("--local", action="store_true", help="sign local admin tokens (make local only)")
        who.add_argument("--token", help="an admins-group ID token (one tenant: use --tenant)")
        command.add_argument("--tenant", help="only this tenant of the file")
    schema = commands.add_parser("schema", help=f"write {SCHEMA_PATH.relative_to(ROOT)}")
    schema.add_argument("--check", action="store_true", help="fail if the committed schema is stale")
    args = parser.parse_args(argv)

    if args.command == "schema":
        return _schema(check=args.check)
    try:
        tenants = load_config(args.config)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 1
    if args.tenant:
        tenants = [t for t in tenants if t.tenant_id == args.tenant]
        if not tenants:
            print(f"{args.config} has no tenant {args.tenant!r}", file=sys.stderr)
            return 1
    elif args.token and len(tenants) > 1:
        print("a token is one tenant's: name it with --tenant", file=sys.stderr)
        return 2
    given = args.token

    def token(tenant_id: str) -> str:
        return given or tokens.issue(tenant_id, "config-as-code", groups=tokens.ADMIN_GROUPS)

    try:
        changes = plan(tenants, http_transport(args.url, token), apply=args.command == "apply")
    except ApplyFailed as error:
        print(error, file=sys.stderr)
        return 1
    print(report(changes, applied=args.command == "apply"))
    return 0


def report(changes: Sequence[TenantChange], *, applied: bool) -> str:
    lines = []
    for change in changes:
        if not change.diff:
            lines.append(f"{change.tenant_id}: no change")
            continue
        lines += change.diff
        if applied:
            lines.append(f"{change.tenant_id}: applied (version {change.applied_version})")
        else:
            lines.append(f"{change.tenant_id}: would change (dry run; nothing sent)")
    return "\n".join(lines)


def _schema(*, check: bool) -> int:
    stale = 0
    for path, text in ((SCHEMA_PATH, json_schema()), (REFERENCE_PATH, reference())):
        if check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                print(f"{path} is stale: run python -m handoff_tools.config schema", file=sys.stderr)
                stale = 1
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    return stale


if __name__ == "__main__":
    raise SystemExit(main())
