"""The project's functions as Lambda loads them: a handler's module from its code folder, else the layer."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


def load_function(logical_id: str, code_uri: Path, handler: str) -> ModuleType:
    """The module of `handler` (`app.handler`), loaded from `code_uri` under a name of its own."""
    module_name, _, _function = handler.rpartition(".")
    path = code_uri / f"{module_name.replace('.', '/')}.py"
    if not path.is_file():  # as on Lambda, a handler not in the code folder comes from the layer
        return importlib.import_module(module_name)
    spec = importlib.util.spec_from_file_location(f"functions_{logical_id}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
