"""The layer's import rules, read from the source with `ast` (nothing is imported or run).

The package `handoff` (layers/handoff/handoff/) is laid out in rooms: its top-level folders and its
two root modules `clock` and `observability`. `ARROWS` says which rooms each room may import from
(besides itself); docs/architecture.md shows the same table. Every import counts, at module level or
inside a function: `from handoff import clock` is an import of the module `handoff.clock`, and
`from handoff.config.models import HandoffRule` one of `handoff.config.models`.

Each rule is a function from the modules' imports to the list of its violations, and is also run on
a small made-up package below, so that a test which would pass on anything cannot hide here.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

# room -> the other rooms it may import from (a room may always import from itself)
ARROWS: dict[str, frozenset[str]] = {
    "config": frozenset(),
    "engine": frozenset({"config"}),
    "bots": frozenset({"engine", "config"}),
    "channels": frozenset({"engine", "config", "observability"}),
    "reports": frozenset({"engine", "config"}),
    "store": frozenset({"engine", "config", "channels", "reports", "adapters", "observability"}),
    "adapters": frozenset({"engine", "config", "channels", "observability"}),
    "services": frozenset(
        {"engine", "bots", "channels", "config", "reports", "store", "adapters", "observability", "clock"}
    ),
    "api": frozenset({"services", "engine", "config", "reports", "store", "runtime", "observability"}),
    "runtime": frozenset(
        {"services", "store", "adapters", "channels", "bots", "config", "engine", "observability", "clock"}
    ),
    "deploy": frozenset({"adapters", "observability"}),
    "clock": frozenset(),
    "observability": frozenset(),
}

PACKAGE = "handoff"
PACKAGE_DIR = Path(__file__).resolve().parents[2] / "layers" / "handoff" / PACKAGE

# the pure rooms: no I/O, no clock, no environment, nothing of the application
PURE_ROOMS = ("engine", "channels", "config", "reports", "bots")
NOT_IN_PURE_ROOMS = (
    "boto3",
    "botocore",
    "os",
    "urllib3",
    "handoff.clock",
    "handoff.services",
    "handoff.store",
    "handoff.adapters",
    "handoff.runtime",
    "handoff.api",
)
ENVIRONMENT_ATTRIBUTES = frozenset({"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"})

# only these rooms speak to AWS through boto3 / botocore
AWS_SDK = ("boto3", "botocore")
AWS_ROOMS = frozenset({"store", "adapters"})

# never in the layer: a YAML library (the YAML config file is read by the tools) or the tools and
# the local run themselves
NOT_IN_THE_LAYER = ("yaml", "ruamel", "handoff_tools", "handoff_local")


# --- reading the package ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Import:
    """One module named by an import statement, resolved to its full dotted name."""

    target: str
    line: int
    statement: str
    in_function: bool = False

    def describe(self) -> str:
        where = "inside a function" if self.in_function else "at module level"
        return f"line {self.line}, {where}: `{self.statement}`"


@dataclass(frozen=True)
class Module:
    name: str
    imports: tuple[Import, ...] = ()
    environment_uses: tuple[tuple[int, str], ...] = ()  # (line, code) of each os.environ, getenv...


def module_name(path: Path, package_dir: Path = PACKAGE_DIR) -> str:
    parts = [package_dir.name, *path.relative_to(package_dir).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_files(package_dir: Path = PACKAGE_DIR) -> dict[str, Path]:
    return {
        module_name(path, package_dir): path
        for path in sorted(package_dir.rglob("*.py"))
        if "__pycache__" not in path.parts
    }


class _ImportCollector(ast.NodeVisitor):
    def __init__(self, module: str, is_package: bool, known: frozenset[str]) -> None:
        self.module = module
        self.is_package = is_package
        self.known = known
        self.imports: list[Import] = []
        self.environment_uses: list[tuple[int, str]] = []
        self._depth = 0  # functions (and lambdas) we are inside of

    def _in_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        self._depth += 1
        self.generic_visit(node)
        self._depth -= 1

    visit_FunctionDef = _in_function
    visit_AsyncFunctionDef = _in_function
    visit_Lambda = _in_function

    def _add(self, target: str, node: ast.stmt) -> None:
        self.imports.append(Import(target, node.lineno, ast.unparse(node), self._depth > 0))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            anchor = self.module.split(".")
            if not self.is_package:
                anchor = anchor[:-1]
            anchor = anchor[: len(anchor) - (node.level - 1)]
            base = ".".join([*anchor, base] if base else anchor)
        targets = (f"{base}.{alias.name}" for alias in node.names)  # a module, or a name in `base`
        for target in dict.fromkeys(t if t in self.known else base for t in targets):
            self._add(target, node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in ENVIRONMENT_ATTRIBUTES:
            self.environment_uses.append((node.lineno, ast.unparse(node)))
        self.generic_visit(node)


def read_module(
    name: str, source: str, known: Iterable[str], *, is_package: bool = False, filename: str = "<source>"
) -> Module:
    """The imports of one module's source; `known` are the package's modules, to tell
    `from handoff.config import texts` (the module) from `from handoff.config.models import X` (a name)."""
    collector = _ImportCollector(name, is_package, frozenset(known))
    collector.visit(ast.parse(source, filename=filename))
    return Module(name, tuple(collector.imports), tuple(collector.environment_uses))


def read_package(package_dir: Path = PACKAGE_DIR) -> dict[str, Module]:
    files = package_files(package_dir)
    return {
        name: read_module(
            name,
            path.read_text(encoding="utf-8"),
            files,
            is_package=path.name == "__init__.py",
            filename=str(path),
        )
        for name, path in files.items()
    }


# --- the rules: each returns its violations, one line each -----------------------------------------


def room_of(module: str) -> str | None:
    """The room of a module of the package (None: the package itself, or a room not in ARROWS)."""
    parts = module.split(".")
    if parts[0] != PACKAGE or len(parts) < 2:
        return None
    return parts[1] if parts[1] in ARROWS else None


def _in_package(target: str) -> bool:
    return target == PACKAGE or target.startswith(PACKAGE + ".")


def _names(target: str, prefixes: Iterable[str]) -> str | None:
    """The first prefix that `target` is, or is a submodule of."""
    return next((p for p in prefixes if target == p or target.startswith(p + ".")), None)


def folder_arrow_violations(modules: Mapping[str, Module]) -> list[str]:
    found = []
    for module in modules.values():
        room = room_of(module.name)
        if room is None:
            if module.name != PACKAGE:
                found.append(f"{module.name} is in no room of ARROWS (a new folder? add it to the table)")
            continue
        allowed = ARROWS[room]
        for imp in module.imports:
            if not _in_package(imp.target):
                continue
            target_room = room_of(imp.target)
            if target_room == room or target_room in allowed:
                continue
            rule = f"{room} may import only {', '.join(sorted(allowed)) or 'itself'}"
            if target_room is None:
                rule = f"{imp.target} is in no room of ARROWS"
            found.append(f"{module.name} imports {imp.target} ({imp.describe()}): {rule}")
    return found


def import_cycles(modules: Mapping[str, Module]) -> list[list[str]]:
    """One cycle (its modules, the first again at the end) per strongly connected set of modules."""
    graph = {
        name: sorted({imp.target for imp in module.imports if imp.target in modules})
        for name, module in modules.items()
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)

    cycles = []
    for component in sorted(components):
        start = component[0]
        if len(component) == 1 and start not in graph[start]:
            continue
        members = set(component)
        paths: dict[str, list[str]] = {start: [start]}  # breadth first: the shortest way back
        queue = [start]
        cycle = None
        while queue and cycle is None:
            node = queue.pop(0)
            for nxt in graph[node]:
                if nxt == start:
                    cycle = [*paths[node], start]
                    break
                if nxt in members and nxt not in paths:
                    paths[nxt] = [*paths[node], nxt]
                    queue.append(nxt)
        assert cycle is not None
        cycles.append(cycle)
    return cycles


def describe_cycle(cycle: list[str], modules: Mapping[str, Module]) -> str:
    steps = []
    for importer, imported in itertools.pairwise(cycle):
        how = next(imp for imp in modules[importer].imports if imp.target == imported)
        steps.append(f"    {importer} imports {imported} ({how.describe()})")
    return " -> ".join(cycle) + "\n" + "\n".join(steps)


def cycle_violations(modules: Mapping[str, Module]) -> list[str]:
    return [describe_cycle(cycle, modules) for cycle in import_cycles(modules)]


def _banned_imports(
    modules: Mapping[str, Module],
    banned: Iterable[str],
    applies: Callable[[str | None], bool],
    why: Callable[[str | None, str], str],
) -> list[str]:
    """Each import of a `banned` module (or of one inside it) by a module whose room `applies`."""
    found = []
    for module in modules.values():
        room = room_of(module.name)
        if not applies(room):
            continue
        for imp in module.imports:
            name = _names(imp.target, banned)
            if name:
                found.append(f"{module.name} imports {imp.target} ({imp.describe()}): {why(room, name)}")
    return found


def pure_room_violations(modules: Mapping[str, Module]) -> list[str]:
    found = _banned_imports(
        modules,
        NOT_IN_PURE_ROOMS,
        lambda room: room in PURE_ROOMS,
        lambda room, name: f"{room} is pure, no {name}",
    )
    for module in modules.values():
        room = room_of(module.name)
        if room in PURE_ROOMS:
            found += [
                f"{module.name} reads the environment (line {line}: `{code}`): {room} is pure"
                for line, code in module.environment_uses
            ]
    return found


def aws_sdk_violations(modules: Mapping[str, Module]) -> list[str]:
    where = " and ".join(sorted(AWS_ROOMS))
    return _banned_imports(
        modules, AWS_SDK, lambda room: room not in AWS_ROOMS, lambda room, name: f"only {where} use {name}"
    )


def layer_boundary_violations(modules: Mapping[str, Module]) -> list[str]:
    return _banned_imports(
        modules, NOT_IN_THE_LAYER, lambda room: True, lambda room, name: f"never {name} in the layer"
    )


# --- the package as it is --------------------------------------------------------------------------


class _Package(dict[str, Module]):
    def __repr__(self) -> str:  # what a failure shows of the fixture: the violations say the rest
        return f"<the {len(self)} modules of {PACKAGE_DIR}>"


@pytest.fixture(scope="module")
def package() -> dict[str, Module]:
    return _Package(read_package())


def test_every_room_is_found(package: dict[str, Module]) -> None:
    """The walk reads the package: every room of the table has a module (no rule passes on nothing)."""
    rooms = {room_of(name) for name in package}
    assert set(ARROWS) <= rooms, f"rooms with no module: {sorted(set(ARROWS) - rooms)}"
    assert any(module.imports for module in package.values())


# rule -> the test's id: what the package keeps to
RULES = {
    folder_arrow_violations: "rooms_import_only_along_the_arrows",
    cycle_violations: "no_import_cycles_between_modules",
    pure_room_violations: "pure_rooms_use_no_aws_clock_environment_or_application",
    aws_sdk_violations: "only_store_and_adapters_import_boto3",
    layer_boundary_violations: "no_yaml_tools_or_local_run_in_the_layer",
}


@pytest.mark.parametrize("rule", RULES, ids=RULES.get)
def test_the_package_keeps_the_rule(package: dict[str, Module], rule: Callable[..., list[str]]) -> None:
    violations = rule(package)
    assert not violations, f"{len(violations)} violation(s) of {RULES[rule]}:\n" + "\n".join(violations)


# --- the checker itself, on a made-up package ------------------------------------------------------


def fake(**imports: list[str]) -> dict[str, Module]:
    """Modules named with `__` for `.` (`engine__flow` is handoff.engine.flow), each importing `imports`."""
    modules = {}
    for key, targets in imports.items():
        name = f"{PACKAGE}.{key.replace('__', '.')}"
        modules[name] = Module(
            name, tuple(Import(t, n, f"import {t}") for n, t in enumerate(targets, start=1))
        )
    return modules


def test_reading_resolves_every_form_of_import() -> None:
    known = {"handoff", "handoff.clock", "handoff.config", "handoff.config.texts", "handoff.config.models"}
    known |= {"handoff.engine", "handoff.engine.model"}
    source = """
import os.path
import boto3.dynamodb.conditions as conditions
from handoff import clock
from handoff.config.models import HandoffRule, TenantConfig
from handoff.config import texts
from . import texts as same_room
from ..engine import model
from .models import HandoffRule as Rule

def later():
    from handoff.config.texts import texts_for
    return texts_for, __import__("os").environ.get("X")
"""
    module = read_module("handoff.config.hours", source, known)
    assert [(i.target, i.in_function) for i in module.imports] == [
        ("os.path", False),
        ("boto3.dynamodb.conditions", False),
        ("handoff.clock", False),
        ("handoff.config.models", False),
        ("handoff.config.texts", False),
        ("handoff.config.texts", False),
        ("handoff.engine.model", False),
        ("handoff.config.models", False),
        ("handoff.config.texts", True),
    ]
    assert module.environment_uses == ((13, "__import__('os').environ"),)
    assert module.imports[2].describe() == "line 4, at module level: `from handoff import clock`"
    package_init = read_module("handoff.config", "from . import texts", known, is_package=True)
    assert [i.target for i in package_init.imports] == ["handoff.config.texts"]


def test_module_names_come_from_the_paths(tmp_path: Path) -> None:
    for relative in ("__init__.py", "clock.py", "engine/__init__.py", "engine/flow.py"):
        (tmp_path / PACKAGE / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / PACKAGE / relative).write_text("")
    assert sorted(package_files(tmp_path / PACKAGE)) == [
        "handoff",
        "handoff.clock",
        "handoff.engine",
        "handoff.engine.flow",
    ]


def test_the_arrows_rule_catches_a_wrong_arrow_and_a_room_not_in_the_table() -> None:
    fine = fake(
        engine__flow=["handoff.config.models", "handoff.engine.model", "datetime"],
        services__live=["handoff.clock", "handoff.store.keys", "boto3"],
        api__webhook=["handoff.runtime.wiring"],
        clock=["datetime"],
    )
    assert folder_arrow_violations(fine) == []
    broken = fake(
        services__admin=["handoff.api.refusals"],
        engine__flow=["handoff.config.models", "handoff.channels.base"],
        config__models=["handoff.observability"],
        widgets__thing=["handoff.engine.model"],
    )
    assert folder_arrow_violations(broken) == [
        "handoff.services.admin imports handoff.api.refusals (line 1, at module level: "
        "`import handoff.api.refusals`): services may import only adapters, bots, channels, clock, "
        "config, engine, observability, reports, store",
        "handoff.engine.flow imports handoff.channels.base (line 2, at module level: "
        "`import handoff.channels.base`): engine may import only config",
        "handoff.config.models imports handoff.observability (line 1, at module level: "
        "`import handoff.observability`): config may import only itself",
        "handoff.widgets.thing is in no room of ARROWS (a new folder? add it to the table)",
    ]


def test_the_cycle_rule_finds_a_cycle_also_through_an_import_inside_a_function() -> None:
    assert import_cycles(fake(config__texts=["handoff.config.models"], config__models=[])) == []
    known = {"handoff.config.models", "handoff.config.texts"}
    models = read_module(
        "handoff.config.models", "def texts():\n    from handoff.config import texts\n", known
    )
    texts = read_module("handoff.config.texts", "from handoff.config.models import TenantConfig\n", known)
    modules = {m.name: m for m in (models, texts)}
    assert import_cycles(modules) == [
        ["handoff.config.models", "handoff.config.texts", "handoff.config.models"]
    ]
    [message] = cycle_violations(modules)
    assert "handoff.config.models -> handoff.config.texts -> handoff.config.models" in message
    assert "line 2, inside a function: `from handoff.config import texts`" in message
    longer = fake(a=["handoff.b"], b=["handoff.c"], c=["handoff.a"], d=["handoff.d"])
    assert import_cycles(longer) == [
        ["handoff.a", "handoff.b", "handoff.c", "handoff.a"],
        ["handoff.d", "handoff.d"],
    ]


@pytest.mark.parametrize(
    "target",
    [
        "boto3",
        "botocore.exceptions",
        "os",
        "os.path",
        "urllib3",
        "handoff.clock",
        "handoff.services.live",
        "handoff.store.keys",
        "handoff.adapters.graph",
        "handoff.runtime.wiring",
        "handoff.api.refusals",
    ],
)
@pytest.mark.parametrize("room", PURE_ROOMS)
def test_the_pure_rule_catches_each_banned_import_in_each_pure_room(room: str, target: str) -> None:
    [violation] = pure_room_violations(fake(**{f"{room}__thing": ["datetime", target]}))
    assert violation.startswith(f"handoff.{room}.thing imports {target} (line 2")
    assert pure_room_violations(fake(**{f"services__{room}": [target]})) == []  # the shell may


def test_the_pure_rule_catches_reading_the_environment_without_importing_os() -> None:
    source = 'def region():\n    return __import__("os").getenv("AWS_REGION")\n'
    pure, shell = "handoff.engine.flow", "handoff.runtime.settings"
    modules = {name: read_module(name, source, []) for name in (pure, shell)}
    assert pure_room_violations(modules) == [
        "handoff.engine.flow reads the environment (line 2: `__import__('os').getenv`): engine is pure"
    ]


def test_the_aws_rule_allows_boto3_only_in_store_and_adapters() -> None:
    assert aws_sdk_violations(fake(store__keys=["boto3"], adapters__clients=["botocore.config"])) == []
    broken = fake(services__live=["boto3.dynamodb.conditions"], runtime__wiring=["botocore"], clock=["boto3"])
    assert [v.split(" (")[0] for v in aws_sdk_violations(broken)] == [
        "handoff.services.live imports boto3.dynamodb.conditions",
        "handoff.runtime.wiring imports botocore",
        "handoff.clock imports boto3",
    ]


@pytest.mark.parametrize(
    "target", ["yaml", "ruamel.yaml", "handoff_tools.config_file", "handoff_local.payloads"]
)
@pytest.mark.parametrize("room", ["store", "runtime", "config"])
def test_the_layer_rule_catches_yaml_the_tools_and_the_local_run(room: str, target: str) -> None:
    [violation] = layer_boundary_violations(fake(**{f"{room}__thing": ["json", target]}))
    assert violation.startswith(f"handoff.{room}.thing imports {target} (line 2")
    assert layer_boundary_violations(fake(**{f"{room}__thing": ["json", "yamlish", "handoff.config"]})) == []


BROKEN = {
    folder_arrow_violations: fake(services__admin=["handoff.api.refusals"]),
    cycle_violations: fake(config__models=["handoff.config.texts"], config__texts=["handoff.config.models"]),
    pure_room_violations: fake(engine__flow=["os"]),
    aws_sdk_violations: fake(services__live=["boto3"]),
    layer_boundary_violations: fake(config__models=["yaml"]),
}


@pytest.mark.parametrize("rule", RULES, ids=RULES.get)
def test_the_package_test_fails_on_a_package_that_breaks_the_rule(rule: Callable[..., list[str]]) -> None:
    with pytest.raises(AssertionError, match=f"1 violation\\(s\\) of {RULES[rule]}:\\s+handoff\\."):
        test_the_package_keeps_the_rule(BROKEN[rule], rule)
    keeping_every_rule = fake(
        engine__flow=["handoff.config.models", "datetime"],
        store__keys=["boto3", "handoff.engine.model"],
        services__live=["handoff.clock", "handoff.store.keys", "handoff.engine.flow"],
    )
    test_the_package_keeps_the_rule(keeping_every_rule, rule)
