"""Read tenants from a YAML config file, and refuse the whole file, with every problem listed, if invalid.

The file holds one key, `tenants`, a list of tenants (see examples/config.yaml). It is read as
YAML 1.2 scalars, not PyYAML's YAML 1.1 defaults: only true/false are booleans (`no` stays the
word "no", as in a keyword list), and 18:00 stays a time instead of becoming the number 1080.
A key written twice in one mapping is an error instead of the last one silently winning.

Beyond each tenant's own rules (handoff.config.models), the file as a whole must hold: tenant ids
are unique, a channel account (channel + account_id) belongs to one tenant only, and a rule's
channel has an account in its tenant (otherwise no message could ever reach the rule).

PyYAML is a dependency of the tools that read the file, not of the Lambda layer: it is imported
when a file is read, so the rest of this module (ConfigError, parse_config's checks) imports without it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, get_args

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from handoff.config.models import Channel, ChannelAccount, TenantConfig

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
    channels: frozenset[str] = frozenset(get_args(Channel))
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
        with_account = {account.get("channel") for account in accounts if isinstance(account, Mapping)}
        for position, rule in enumerate(_items(raw.get("rules"))):
            channel = rule.get("channel") if isinstance(rule, Mapping) else None
            if channel in channels and channel not in with_account:
                problems.append(
                    Problem(
                        f"{where}.rules[{position}]",
                        f"{channel} channel: the tenant has no {channel} account, so this rule can never "
                        f"apply; add the account under accounts, or remove the rule",
                    )
                )
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
        message = str(error.get("ctx", {}).get("error", error["msg"]))
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
    return Problem(_path(location), message)


def _should(message: str) -> str:
    return re.sub(r"^(Input|String|Value) should", "should", message)


def _path(location: Location) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


# --- YAML ---------------------------------------------------------------------------------------


def _read_yaml(text: str, source: str) -> tuple[Any, Any]:
    """The document and its node tree (for line numbers); ConfigError on a syntax error."""
    import yaml

    loader = _yaml_loader()(text)
    try:
        root = loader.get_single_node()
        document = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        detail = " ".join(part for part in (exc.problem, exc.context and f"({exc.context})") if part)
        problem = Problem(
            "",
            f"YAML syntax error: {detail}",
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        )
        raise ConfigError(source, [problem]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(source, [Problem("", f"YAML error: {exc}")]) from exc
    finally:
        loader.dispose()
    return document, root


@functools.cache
def _yaml_loader() -> type[Any]:
    """PyYAML's safe loader with YAML 1.2 scalars and duplicate keys refused."""
    import yaml

    replaced = {"tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"}

    class Loader(yaml.SafeLoader):
        yaml_implicit_resolvers: ClassVar[dict[str, list[tuple[str, re.Pattern[str]]]]] = {
            first: [(tag, pattern) for tag, pattern in resolvers if tag not in replaced]
            for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
        }

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            if isinstance(node, yaml.MappingNode):
                first_seen: dict[str, Any] = {}
                for key_node, _ in node.value:
                    if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                        continue
                    if key_node.value in first_seen:
                        raise yaml.constructor.ConstructorError(
                            None,
                            None,
                            f"the key {key_node.value!r} appears twice in the same mapping "
                            f"(first at line {first_seen[key_node.value].start_mark.line + 1})",
                            key_node.start_mark,
                        )
                    first_seen[key_node.value] = key_node
            return super().construct_mapping(node, deep=deep)

    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
    )
    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"), list("-+0123456789")
    )
    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(
            r"^(?:[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?[0-9]+[eE][-+]?[0-9]+"
            r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
        ),
        list("-+0123456789."),
    )
    return Loader


def _locate(problem: Problem, root: Any) -> Problem:
    """The problem with the line of the deepest part of its path found in the YAML node tree."""
    if problem.line is not None or root is None or not problem.path:
        return problem
    import yaml

    node, line = root, None
    for part in _parts(problem.path):
        found = None
        if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            found = node.value[part]
        elif isinstance(node, yaml.MappingNode):
            found = next((value for key, value in node.value if key.value == part), None)
            key_line = next((key.start_mark.line + 1 for key, _ in node.value if key.value == part), None)
            if found is not None and key_line is not None:
                line = key_line
                node = found
                continue
        if found is None:
            break
        node = found
        line = found.start_mark.line + 1
    return Problem(problem.path, problem.message, line=line or root.start_mark.line + 1)


def _parts(path: str) -> list[str | int]:
    return [int(index) if index else name for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path)]
