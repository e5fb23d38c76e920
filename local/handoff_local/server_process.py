"""`python -m handoff_local.server` in a process of its own, on a free loopback port, until it is
healthy: what the tests over HTTP and `make bench`'s console part start it with."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from handoff_tools.functions import ROOT

STARTUP_TIMEOUT_SECONDS = 60.0


class ServerNotHealthy(RuntimeError):
    """The server exited, or did not answer its health check in time; the message holds its log."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def server_process(log_path: Path, **environment: str) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """Start the local server (`environment` adds to this process's); stopped however the block ends.

    Its output goes to `log_path`, a file rather than a pipe: a full pipe would block the server.
    """
    port = free_port()
    python_path = [str(ROOT / "layers" / "handoff"), str(ROOT / "tools"), str(ROOT / "local")]
    if os.environ.get("PYTHONPATH"):
        python_path.append(os.environ["PYTHONPATH"])
    variables = {**os.environ, **environment, "PORT": str(port), "PYTHONPATH": os.pathsep.join(python_path)}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "handoff_local.server"],
            cwd=ROOT,
            env=variables,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield port, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def wait_until_healthy(
    port: int, process: subprocess.Popen[bytes], log_path: Path, timeout: float = STARTUP_TIMEOUT_SECONDS
) -> None:
    """Return once `GET /_local/health` answers `{"status": "ok"}`; ServerNotHealthy if the process
    exits first or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise ServerNotHealthy(f"the local server exited with {process.returncode}:\n{_log(log_path)}")
        if _healthy(port):
            return
        if time.monotonic() > deadline:
            raise ServerNotHealthy(f"the local server was not healthy in {timeout:.0f} s:\n{_log(log_path)}")
        time.sleep(0.1)


def _healthy(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/_local/health")
        answer = connection.getresponse()
        return answer.status == 200 and json.loads(answer.read()) == {"status": "ok"}
    except (OSError, ValueError):
        return False
    finally:
        connection.close()


def _log(log_path: Path) -> str:
    return log_path.read_text(errors="replace")
