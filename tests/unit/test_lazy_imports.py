"""What importing each function's handler loads: the first part of its cold start.

The wiring builds each part when it is first asked for (`runtime.wiring`) and boto3 comes with the
first AWS client (`adapters.clients`), so importing a handler module loads none of what only other
functions use, and not yet the services its own wiring builds on the first invocation. Each handler
module is imported in a fresh interpreter, as Lambda does (its code folder, then the layer, on the
path); the modules named below, or any module inside them, must not be in its `sys.modules` then.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import NamedTuple

import pytest

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

PROBE = (
    "import importlib, json, sys; module = importlib.import_module(sys.argv[1]); "
    "handler = callable(getattr(module, sys.argv[2], None)); "
    "print(json.dumps({'handler': handler, 'modules': sorted(sys.modules)}))"
)


@cache
def handlers() -> dict[str, tuple[Path, str]]:
    """Each function's code folder and handler, by the folder's name."""
    return {code_uri.name: (code_uri, handler) for code_uri, handler in function_handlers(TEMPLATE).values()}


def loaded_by_import(code_uri: Path, handler: str, layer: Path = LAYER) -> set[str]:
    """The modules in `sys.modules` once a fresh interpreter imported the handler's module."""
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
    return set(answer["modules"])


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
    modules = loaded_by_import(code_uri, handler)

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
    modules = loaded_by_import(tmp_path, "app.handler")

    # Then the admin service is found among the modules loaded, and the boto3 of its stores is not
    assert found(modules, ADMIN) == ["handoff.services.admin"]
    assert found(modules, ("boto3",)) == []
