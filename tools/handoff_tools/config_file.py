"""Read tenants from a YAML config file, and refuse the whole file, with every problem listed, if invalid.

The file holds one key, `tenants`, a list of tenants (see examples/config.yaml). It is read as
YAML 1.2 (ruamel.yaml's default), not YAML 1.1: only true/false are booleans (`no` stays the
word "no", as in a keyword list), and 18:00 stays a time instead of becoming the number 1080.
A key written twice in one mapping is an error instead of the last one silently winning.

Beyond each tenant's own rules (handoff.config.models), the file as a whole must hold: tenant ids
are unique, a channel account (channel + account_id) belongs to one tenant only, and a rule's
channel has an account in its tenant (otherwise no message could ever reach the rule).

ruamel.yaml is a dependency of the tools that read the file, not of the Lambda layer: it is imported
when a file is read, so the rest of this module (ConfigError, parse_config's checks) imports without it.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from handoff.config.models import (
    ChannelAccount,
    TenantConfig,
    no_account_reason,
    rules_without_account,
)
from handoff.services.errors import error_message, path

Location = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the file: where (`tenants[0].rules[1]`), what, and the line when known."""

    path: str
    message: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        text = f"{self.path}: {self.message}" if self.path else self.message
        if self.line is not None and self.column is not None:
            return f"{text} (line {self.line}, column {self.column})"
        if self.line is not None:
            return f"{text} (line {self.line})"
        return text


class ConfigError(Exception):
    """The config file is invalid; `problems` lists everything found, and nothing was loaded."""

    def __init__(self, source: str, problems: Sequence[Problem]) -> None:
        self.source = source
        self.problems = tuple(problems)
        count = len(self.problems)
        heading = f"{source}: the configuration has {count} problem{'s' if count != 1 else ''}:"
        super().__init__("\n".join([heading, *(f"  - {problem}" for problem in self.problems)]))


def load_config(path: Path) -> list[TenantConfig]:
    """Every tenant in the YAML file at `path`, validated; ConfigError if anything is wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), [Problem("", f"cannot read the file: {exc}")]) from exc
    return parse_config(text, source=str(path))


def parse_config(text: str, source: str = "<config>") -> list[TenantConfig]:
    """Every tenant in the YAML `text`, validated; ConfigError (naming `source`) if anything is wrong."""
    document, root = _read_yaml(text, source)
    problems: list[Problem] = []
    raw_tenants = _raw_tenants(document, problems)
    tenants: list[TenantConfig] = []
    for index, raw in enumerate(raw_tenants):
        try:
            tenants.append(TenantConfig.model_validate(raw))
        except ValidationError as exc:
            problems += [_from_pydantic(("tenants", index), error) for error in exc.errors()]
    problems += file_problems(raw_tenants)
    if problems:
        located = [_locate(problem, root) for problem in problems]
        raise ConfigError(source, sorted(located, key=lambda problem: problem.line or 0))
    return tenants


def file_problems(raw_tenants: Sequence[Any]) -> list[Problem]:
    """What is wrong between tenants, or between a tenant's rules and its accounts, in raw config data.

    Works on the raw mappings so that it also reports on tenants that fail their own validation.
    """
    problems: list[Problem] = []
    tenant_ids: dict[str, int] = {}
    owners: dict[tuple[str, str], tuple[int, int]] = {}
    for index, raw in enumerate(raw_tenants):
        if not isinstance(raw, Mapping):
            continue
        where = f"tenants[{index}]"
        tenant_id = raw.get("tenant_id")
        if isinstance(tenant_id, str):
            if tenant_id in tenant_ids:
                problems.append(
                    Problem(
                        f"{where}.tenant_id",
                        f"tenant id {tenant_id!r} is already used by tenants[{tenant_ids[tenant_id]}]",
                    )
                )
            else:
                tenant_ids[tenant_id] = index
        accounts = _items(raw.get("accounts"))
        for position, account in enumerate(accounts):
            key = _account_key(account)
            if key is None:
                continue
            if key in owners:
                problems.append(
                    Problem(f"{where}.accounts[{position}]", _claimed(key, owners[key], raw_tenants))
                )
            else:
                owners[key] = (index, position)
        rule_channels = [
            r.get("channel") if isinstance(r, Mapping) else None for r in _items(raw.get("rules"))
        ]
        account_channels = [a.get("channel") for a in accounts if isinstance(a, Mapping)]
        for position, channel in rules_without_account(rule_channels, account_channels):
            reason = f"{no_account_reason(channel)}; add the account under accounts, or remove the rule"
            problems.append(Problem(f"{where}.rules[{position}]", reason))
    return problems


def _items(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _account_key(raw: Any) -> tuple[str, str] | None:
    try:
        account = ChannelAccount.model_validate(raw)
    except ValidationError:
        return None  # reported by the tenant's own validation
    return account.channel, account.account_id


def _claimed(key: tuple[str, str], owner: tuple[int, int], raw_tenants: Sequence[Any]) -> str:
    channel, account_id = key
    tenant, position = owner
    owner_id = raw_tenants[tenant].get("tenant_id")
    return (
        f"{channel} account {account_id} is already claimed by tenant {owner_id!r} "
        f"(tenants[{tenant}].accounts[{position}]); an account routes its messages to one tenant only"
    )


def _raw_tenants(document: Any, problems: list[Problem]) -> list[Any]:
    shape = "the file must be a mapping with one key, tenants: a list of tenants (see examples/config.yaml)"
    if document is None:
        problems.append(Problem("", f"the file is empty; {shape}"))
        return []
    if not isinstance(document, dict):
        problems.append(Problem("", shape))
        return []
    for key in document:
        if key != "tenants":
            problems.append(Problem(str(key), f"unknown key at the top level; {shape}"))
    tenants = document.get("tenants")
    if "tenants" not in document:
        problems.append(Problem("tenants", "missing: list the tenants under tenants:"))
    elif not isinstance(tenants, list):
        problems.append(Problem("tenants", "must be a list of tenants (each item starting with '- ')"))
    elif not tenants:
        problems.append(Problem("tenants", "the list is empty; the file must hold at least one tenant"))
    else:
        return tenants
    return []


def _from_pydantic(prefix: Location, error: ErrorDetails) -> Problem:
    """pydantic's error as `path: message`, in words a person editing the file understands."""
    location: Location = (*prefix, *error["loc"])
    kind = error["type"]
    given = error.get("input")
    if location and location[-1] == "[key]":
        location = location[:-1]
        message = f"not an allowed key: {_should(error['msg'])}"
    elif kind in ("value_error", "assertion_error"):
        message = error_message(error)
        field = location[-1] if location else None
        if isinstance(field, str) and message.startswith(f"{field}: "):
            message = message[len(field) + 2 :]
    elif kind == "extra_forbidden":
        message = "unknown field: check its spelling and indentation"
    elif kind == "missing":
        message = "missing: this field is required"
    else:
        message = _should(error["msg"])
        if isinstance(given, str | int | float | bool) or given is None:
            message += f" (got {given!r})"
    return Problem(path(location), message)


def _should(message: str) -> str:
    return re.sub(r"^(Input|String|Value) should", "should", message)


# --- YAML ---------------------------------------------------------------------------------------


def _read_yaml(text: str, source: str) -> tuple[Any, Any]:
    """The document, and the same document when it carries line numbers (a mapping or a list; None
    otherwise); ConfigError on a syntax error or a key written twice.

    ruamel.yaml's round-trip loader reads YAML 1.2 and records where every mapping and list, and
    each of their keys and items, starts (`.lc`).
    """
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    yaml = YAML(typ="rt", pure=True)
    yaml.Constructor = _constructor()
    yaml.allow_duplicate_keys = False
    try:
        document = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        detail = " ".join(part for part in (exc.problem, exc.context and f"({exc.context})") if part)
        problem = Problem(
            "",
            f"YAML syntax error: {detail}",
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        )
        raise ConfigError(source, [problem]) from exc
    except YAMLError as exc:
        raise ConfigError(source, [Problem("", f"YAML error: {exc}")]) from exc
    return document, document if isinstance(document, CommentedMap | CommentedSeq) else None


_PLAIN_DECIMAL = re.compile(r"[-+]?(0|[1-9][0-9]*)")


@functools.cache
def _constructor() -> type[Any]:
    """ruamel's round-trip constructor, read as data rather than for writing the file back: an explicit
    `!!str` gives a string and an unknown tag is an error (not ruamel's TaggedScalar), and a duplicate
    key's error names the lines of both keys."""
    from ruamel.yaml.constructor import DuplicateKeyError, RoundTripConstructor, SafeConstructor

    class Constructor(RoundTripConstructor):
        def construct_yaml_int(self, node: Any) -> Any:
            # Only plain decimals are numbers: 0123, 0x1F, 0o17 and 1_000 stay as written, so an
            # unquoted id keeps its leading zero instead of silently becoming another id.
            if not _PLAIN_DECIMAL.fullmatch(str(node.value)):
                return str(node.value)
            return super().construct_yaml_int(node)

        def check_mapping_key(self, node: Any, key_node: Any, mapping: Any, key: Any, value: Any) -> bool:
            try:
                return bool(super().check_mapping_key(node, key_node, mapping, key, value))
            except DuplicateKeyError:
                first_line, _ = mapping.lc.key(key)
                raise DuplicateKeyError(
                    None,
                    None,
                    f"the key {key!r} appears twice in the same mapping (first at line {first_line + 1})",
                    key_node.start_mark,
                ) from None

    Constructor.add_constructor("tag:yaml.org,2002:int", Constructor.construct_yaml_int)
    Constructor.add_constructor("tag:yaml.org,2002:str", RoundTripConstructor.construct_scalar)
    Constructor.add_constructor(None, SafeConstructor.construct_undefined)
    return Constructor


_MISSING = object()


def _locate(problem: Problem, root: Any) -> Problem:
    """The problem with the line of the deepest part of its path found in the document's positions."""
    if problem.line is not None or root is None or not problem.path:
        return problem
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    node, line = root, None
    for part in _parts(problem.path):
        if isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
            line = node.lc.item(part)[0] + 1
            node = node[part]
        elif isinstance(node, CommentedMap):
            key = next((key for key in node if str(key) == str(part)), _MISSING)
            if key is _MISSING:
                break
            with contextlib.suppress(KeyError):  # a key taken from a merge (<<) has no position here
                line = node.lc.key(key)[0] + 1
            node = node[key]
        else:
            break
    return Problem(problem.path, problem.message, line=line or root.lc.line + 1)


def _parts(path: str) -> list[str | int]:
    return [int(index) if index else name for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path)]
