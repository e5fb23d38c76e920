"""The agents' console in a real browser, the steps every browser test shares: Debian's headless
Chromium driven by Playwright, `python -m handoff_local.server` with the fake Graph API in this
process, a WhatsApp user, an agent signing in, screenshots kept in `test-artifacts/console/`.

The fixtures (`chromium`, `page`, `graph`, `server`) reach the tests through conftest.py.

The browser is Debian's `chromium` package, installed here when missing (apt; the test fails with
apt's output if it cannot be), never a download by Playwright: this network has no browser CDN.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from local_server_process import LocalServerProcess, Response, next_night, running_local_server
from local_server_process import Phone as SignedPhone

from handoff_local.fake_graph import FakeGraphApi
from handoff_tools.functions import ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts" / "console"
YES = "HANDOFF_WAIT_YES"
UI_TIMEOUT_MS = 20_000  # the list polls every 2.5 s; generous for a loaded CI machine
DELIVERY_TIMEOUT_SECONDS = 20.0


# --- the browser ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's chromium, installed with apt when missing; a failure to install fails the test."""
    if not CHROMIUM.exists():
        apt = shutil.which("apt-get")
        if apt is None:
            pytest.fail(f"{CHROMIUM} is missing and there is no apt-get to install Debian's chromium")
        output = []
        for command in ([apt, "update"], [apt, "install", "-y", "chromium"]):
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
                check=False,
            )
            output.append(f"$ {' '.join(command)}\n{done.stdout}{done.stderr}")
            if done.returncode != 0:
                pytest.fail(f"installing Debian's chromium failed ({done.returncode}):\n" + "\n".join(output))
        if not CHROMIUM.exists():
            pytest.fail(f"apt installed chromium but {CHROMIUM} is still missing:\n" + "\n".join(output))
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()  # this run's screenshots only
    return CHROMIUM


@pytest.fixture
def page(chromium: Path, tmp_path: Path) -> Iterator[Any]:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        # a persistent context is how Playwright takes a user-data dir: a fresh one for each test
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(chromium),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 800},
        )
        try:
            context.set_default_timeout(UI_TIMEOUT_MS)
            expect.set_options(timeout=UI_TIMEOUT_MS)
            page = context.pages[0] if context.pages else context.new_page()
            blocked: list[str] = []  # the page's Content-Security-Policy must never have to block anything
            csp = "Content Security Policy"
            page.on("console", lambda m: blocked.extend([m.text] if csp in m.text else []))
            yield page
            assert blocked == [], blocked
        finally:
            context.close()


# --- the local run, over HTTP --------------------------------------------------------------------


@pytest.fixture
def graph() -> Iterator[FakeGraphApi]:
    with FakeGraphApi() as fake:
        yield fake


@pytest.fixture
def server(graph: FakeGraphApi, tmp_path: Path) -> Iterator[LocalServerProcess]:
    with running_local_server(tmp_path / "server.log", graph) as running:
        yield running


class Phone(SignedPhone):
    """A WhatsApp user: each signed delivery accepted and drained, what the fake Graph API got out."""

    def deliver(self, *messages: dict[str, Any]) -> Response:
        response = super().deliver(*messages)
        assert response.status == 200, response.text
        self.server.drain()
        return response

    def wait_to_read(self, text: str) -> list[str]:
        """The user's texts once `text` reached them (the queue drains on its own thread)."""
        deadline = time.monotonic() + DELIVERY_TIMEOUT_SECONDS
        while text not in self.texts():
            if time.monotonic() > deadline:
                pytest.fail(f"{text!r} never reached {self.wa_id}; they got {self.texts()}")
            self.server.drain()
            time.sleep(0.2)
        return self.texts()


def eventually(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + UI_TIMEOUT_MS / 1000
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"never happened: {what}")
        time.sleep(0.05)


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page: Any, server: LocalServerProcess, agent: str, tenant: str = "acme") -> None:
    """Open the console of the local run and sign in as `agent` of `tenant` (the local sign-in)."""
    page.goto(f"{server.url}/console/")
    page.get_by_label("Tenant").fill(tenant)
    page.get_by_label("Agent").fill(agent)
    page.get_by_role("button", name="Sign in").click()


def carla_takes_after_a_night_of_waiting(server, graph, page, wa_id: str, name: str) -> Phone:
    """A user asks for an agent at night and waits; in the morning Carla signs in to the console
    and takes the chat. Returns the user's phone."""
    from playwright.sync_api import expect

    night = server.advance_to(next_night(server.now()))
    user = Phone(server, graph, wa_id, name)
    user.says("Quiero hablar con un agente")
    user.taps(YES, "Sí, quiero esperar")
    server.advance_to(night + timedelta(hours=12))
    sign_in(page, server, "carla")
    item = page.locator("#conversations li.conversation", has_text=name)
    item.locator("button.open").click()
    page.get_by_role("button", name="Take").click()
    expect(item.locator(".badge.mine")).to_have_text("Yours")
    return user
