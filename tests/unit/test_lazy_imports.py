"""What importing each function's handler loads and builds: the first part of its cold start.

The wiring builds each part when it is first asked for (`runtime.wiring`) and boto3 comes with the
first AWS client (`adapters.clients`), so importing a handler module loads none of what only other
functions use, and not yet the services its own wiring builds on the first invocation. Each handler
module is imported in a fresh interpreter, as Lambda does (its code folder, then the layer, on the
path); the modules named below, or any module inside them, must not be in its `sys.modules` then.

Every pydantic model of the layer and the handlers is declared with `defer_build=True`: its
validator and serializer are built the first time it is used, not when its module is imported, so
a handler's import pays for no model it does not use. After the import, no model may be built yet.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import NamedTuple

import pytest
from pydantic import BaseModel

from handoff_local.aws import function_handlers
from handoff_tools.functions import ROOT, TEMPLATE

LAYER = ROOT / "layers" / "handoff"


class Unloaded(NamedTuple):
    never: tuple[str, ...]
    """What the function never uses: other functions' services and APIs."""
    first_call: tuple[str, ...]
    """What it uses, but its wiring builds on the first invocation (boto3 with the first client)."""


# the services and APIs of each kind of function, as their handlers and `runtime.wiring` use them
ADMIN = ("handoff.services.admin", "handoff.services.erasure")
LIVE = (
    "handoff.services.live",
    "handoff.services.live_views",
    "handoff.services.media",
    "handoff.services.people",
    "handoff.api.media",
)
WEBHOOK = ("handoff.services.webhooks", "handoff.api.webhook")
QUEUE_CONSUMER = ("handoff.services.queued_events", "aws_lambda_powertools.utilities.batch")
WAKE = ("handoff.services.wake",)
PUSH = ("handoff.services.push",)
HTTP_APIS = ("aws_lambda_powertools.event_handler", "handoff.api")

AWS_SDK = ("boto3", "handoff.adapters.parameters")  # Powertools' parameters bring boto3 too
CONVERSATIONS = (
    "handoff.services.conversations",
    "handoff.store.conversation_store",
    "handoff.engine.flow",
    "handoff.adapters.graph",
)

_WEBHOOK = Unloaded(
    never=(*ADMIN, *LIVE, *QUEUE_CONSUMER, *WAKE, *PUSH, "handoff.services.conversations", "handoff.reports"),
    first_call=(*AWS_SDK, "handoff.services.webhooks", "handoff.store", "handoff.channels", "handoff.engine"),
)

UNLOADED: dict[str, Unloaded] = {
    "whatsapp_webhook": _WEBHOOK,
    "messenger_webhook": _WEBHOOK,
    "instagram_webhook": _WEBHOOK,
    "conversation": Unloaded(
        never=(*ADMIN, *LIVE, *WEBHOOK, *WAKE, *PUSH, *HTTP_APIS),
        # the queue's record model, every engine event, comes with the first record
        first_call=(*AWS_SDK, *CONVERSATIONS, "handoff.services.queued_events", "handoff.engine"),
    ),
    "wake": Unloaded(
        never=(*ADMIN, *LIVE, *WEBHOOK, *QUEUE_CONSUMER, *PUSH, *HTTP_APIS),
        first_call=(*AWS_SDK, *CONVERSATIONS, *WAKE, "handoff.store", "handoff.engine", "handoff.reports"),
    ),
    "live_api": Unloaded(
        never=(*ADMIN, *WEBHOOK, *QUEUE_CONSUMER, *WAKE),
        first_call=(*AWS_SDK, *CONVERSATIONS),
    ),
    "live_push": Unloaded(
        never=(*ADMIN, *LIVE, *WEBHOOK, *QUEUE_CONSUMER, *WAKE, *CONVERSATIONS, *HTTP_APIS, "handoff.engine"),
        first_call=(*AWS_SDK, *PUSH),
    ),
    "admin_api": Unloaded(
        never=(*LIVE, *WEBHOOK, *QUEUE_CONSUMER, *WAKE, *PUSH, "handoff.services.conversations"),
        first_call=(*AWS_SDK, "handoff.store.conversation_store"),
    ),
    # the console's deployment (a CloudFormation custom resource, its handler in the layer)
    "console": Unloaded(
        never=("handoff.services", "handoff.store", "handoff.engine", "handoff.runtime", *HTTP_APIS),
        first_call=("boto3",),
    ),
}

PROBE = """
import importlib, json, sys
from pydantic import BaseModel
module = importlib.import_module(sys.argv[1])
handler = callable(getattr(module, sys.argv[2], None))
def models(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from models(sub)
built = {
    f"{m.__module__}.{m.__qualname__}"
    for m in models(BaseModel)
    if m.__pydantic_complete__ and (m.__module__.startswith("handoff.") or m.__module__ == module.__name__)
}
print(json.dumps({"handler": handler, "modules": sorted(sys.modules), "built": sorted(built)}))
"""


class Imported(NamedTuple):
    modules: set[str]
    """What is in `sys.modules`."""
    built: set[str]
    """The layer's and the handler module's models whose validator is built, by module and name."""


@cache
def handlers() -> dict[str, tuple[Path, str]]:
    """Each function's code folder and handler, by the folder's name."""
    return {code_uri.name: (code_uri, handler) for code_uri, handler in function_handlers(TEMPLATE).values()}


def imported(code_uri: Path, handler: str, layer: Path = LAYER) -> Imported:
    """What a fresh interpreter has loaded and built once it imported the handler's module."""
    module, _, function = handler.rpartition(".")
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "PYTHON"))
    }
    environment |= {
        "AWS_DEFAULT_REGION": "us-east-1",
        "PYTHONPATH": os.pathsep.join([str(code_uri), str(layer)]),
    }
    result = subprocess.run(
        [sys.executable, "-c", PROBE, module, function],
        cwd=code_uri,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["handler"], f"{handler} is not a function of its module"
    return Imported(set(answer["modules"]), set(answer["built"]))


def found(modules: set[str], prefixes: tuple[str, ...]) -> list[str]:
    """The modules that are one of `prefixes` or inside one of them."""
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in prefixes))


def test_every_function_of_the_template_is_in_the_table() -> None:
    assert set(handlers()) == set(UNLOADED)


@pytest.mark.parametrize("function", sorted(UNLOADED))
def test_importing_the_handler_loads_neither_other_functions_parts_nor_its_own_services(
    function: str,
) -> None:
    # Given the function's handler, as template.yaml names it
    code_uri, handler = handlers()[function]
    unloaded = UNLOADED[function]

    # When a fresh interpreter imports its module, as Lambda's cold start does
    modules = imported(code_uri, handler).modules

    # Then nothing that only other functions use was loaded, nor what its wiring builds on first call
    assert found(modules, unloaded.never) == [], "loaded at import, though the function never uses them"
    assert found(modules, unloaded.first_call) == [], (
        "loaded at import, before the first invocation needs them"
    )
    # and the check sees what it should: the handler's own module and the layer's observability
    assert handler.rpartition(".")[0] in modules and "handoff.observability" in modules


def test_the_check_catches_a_module_loaded_at_import(tmp_path: Path) -> None:
    # Given a handler whose module imports a service it does not need yet, at module level
    (tmp_path / "app.py").write_text(
        "import handoff.services.admin\n\ndef handler(event, context):\n    return None\n", encoding="utf-8"
    )

    # When it is imported as a handler is
    modules = imported(tmp_path, "app.handler").modules

    # Then the admin service is found among the modules loaded, and the boto3 of its stores is not
    assert found(modules, ADMIN) == ["handoff.services.admin"]
    assert found(modules, ("boto3",)) == []


@pytest.mark.parametrize("function", sorted(UNLOADED))
def test_importing_the_handler_builds_no_model_it_has_not_used(function: str) -> None:
    # Given the function's handler
    code_uri, handler = handlers()[function]

    # When a fresh interpreter imports its module
    built = imported(code_uri, handler).built

    # Then no model's validator is built yet
    assert built == set(), "built at import: declare them with defer_build=True, validate nothing at import"


def test_every_model_of_the_layer_is_built_on_first_use() -> None:
    # Given every module of the layer, imported
    for path in sorted((LAYER / "handoff").rglob("*.py")):
        parts = path.relative_to(LAYER).with_suffix("").parts
        importlib.import_module(".".join(parts[:-1] if parts[-1] == "__init__" else parts))

    # When its pydantic models are listed
    def models(cls: type[BaseModel]) -> Iterator[type[BaseModel]]:
        for sub in cls.__subclasses__():
            yield sub
            yield from models(sub)

    layer_models = {m for m in models(BaseModel) if m.__module__.startswith("handoff.")}

    # Then each defers its build to its first use, also those no handler imports at cold start
    assert len(layer_models) > 50
    assert (
        sorted(
            f"{m.__module__}.{m.__qualname__}" for m in layer_models if not m.model_config.get("defer_build")
        )
        == []
    )


def test_the_check_catches_a_model_built_at_import(tmp_path: Path) -> None:
    # Given a handler module that declares one model as usual and one built on first use
    (tmp_path / "app.py").write_text(
        "from pydantic import BaseModel\n\n"
        "class Eager(BaseModel):\n    name: str\n\n"
        "class Deferred(BaseModel, defer_build=True):\n    name: str\n\n"
        "def handler(event, context):\n    return None\n",
        encoding="utf-8",
    )

    # When it is imported as a handler is
    built = imported(tmp_path, "app.handler").built

    # Then the first is found built, the second not
    assert built == {"app.Eager"}
