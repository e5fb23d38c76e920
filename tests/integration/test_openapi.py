"""The Live and admin APIs' OpenAPI descriptions: committed, current, and kept by the running local server.

The schemathesis run starts `python -m handoff_local.server` (what `make local` runs) and checks,
with a few generated requests per operation, that no answer is a 5XX and none contradicts the
description (status code, content type, body schema).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from handoff_local.server_process import server_process, wait_until_healthy
from handoff_tools import openapi, tokens

EXAMPLES_PER_OPERATION = 8
TIME_LIMIT_SECONDS = 240


@pytest.mark.parametrize("api", sorted(openapi.APIS))
def test_the_committed_description_is_generated_from_the_code(api: str) -> None:
    assert openapi.path(api).read_text(encoding="utf-8") == openapi.description(api), (
        f"{openapi.path(api)} is stale: run python -m handoff_tools.openapi"
    )


@pytest.fixture(scope="module")
def local_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log_path = tmp_path_factory.mktemp("schemathesis") / "server.log"
    with server_process(log_path) as (port, process):
        wait_until_healthy(port, process, log_path)
        yield f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("api", sorted(openapi.APIS))
def test_schemathesis_finds_no_5xx_and_nothing_that_contradicts_the_description(
    api: str, local_server: str, tmp_path: Path
) -> None:
    schemathesis = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert schemathesis, "schemathesis is in requirements-dev.txt: make test installs it"
    token = tokens.issue("acme", "schemathesis", groups=tokens.ADMIN_GROUPS)
    command = [
        schemathesis,
        "run",
        str(openapi.path(api)),
        "--url",
        local_server,
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        "--max-examples",
        str(EXAMPLES_PER_OPERATION),
        "--generation-deterministic",
        "--request-timeout",
        "20",
        "--no-color",
    ]

    result = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=TIME_LIMIT_SECONDS, check=False
    )

    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
