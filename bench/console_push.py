"""`make bench`, the console's part: the agents' console polling, then with live updates (push).

`python -m handoff_local.server` runs as `make local` does, in a process of its own, with its
built-in fake Graph API; Debian's headless Chromium opens the console, signs an agent in, goes
online and takes a user's chat. Each mode then measures, with that conversation open:

- requests per agent-hour: every request the console makes to the local server (the Live API and
  its tickets; the socket's own frames are counted apart) over a quiet stretch, and over the
  stretch in which the user writes, each scaled to an hour;
- the delay from a user's message (a signed webhook posted to the local server) to its text on the
  agent's screen, median and max over the messages, sent at random moments a few seconds apart.

The first mode opens the console with `?push=off` (polling every 2.5 s, as before live updates),
the second as agents do. Both run in one process against one server.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from handoff_local import payloads
from handoff_local.server_process import server_process, wait_until_healthy

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
]
APP_SECRET = "local-app-secret"  # the local run's
ACME_NUMBER = "200000000000001"  # acme's WhatsApp number in examples/config.yaml
BOGOTA = ZoneInfo("America/Bogota")
OPEN_HOUR = 10  # acme answers 9:00-18:00 on weekdays: an agent online takes the handoff at once
STARTUP_SECONDS = 60.0
SHOWN_TIMEOUT_MS = 15_000
MODES = (("polling", "?push=off"), ("push", ""))


# --- the local server, in its own process -------------------------------------------------------------


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> Any:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            answer = connection.getresponse()
            payload = answer.read()
        finally:
            connection.close()
        if answer.status != 200:
            raise RuntimeError(f"{method} {path} answered {answer.status}: {payload[:200]!r}")
        return (
            json.loads(payload)
            if answer.getheader("Content-Type", "").startswith("application/json")
            else payload
        )

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.request("POST", path, json.dumps(body).encode(), {"Content-Type": "application/json"})

    def now(self) -> datetime:
        return datetime.fromisoformat(self.request("GET", "/_local/clock")["now"])

    def advance(self, seconds: float) -> datetime:
        return datetime.fromisoformat(self.post("/_local/clock", {"advance_seconds": seconds})["now"])

    def deliver(self, wa_id: str, name: str, text: str) -> None:
        """A user's text as Meta posts it: a WhatsApp delivery signed over its exact bytes."""
        at = self.advance(1)
        body = payloads.whatsapp_delivery(
            ACME_NUMBER,
            payloads.whatsapp_text(wa_id, text, at),
            contacts=[payloads.whatsapp_contact(wa_id, name)],
        )
        raw = json.dumps(body, ensure_ascii=False).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Signature-256": payloads.meta_signature(raw, APP_SECRET),
        }
        self.request("POST", "/webhooks/whatsapp", raw, headers)


@contextmanager
def local_server(log: Path) -> Iterator[Server]:
    with server_process(log) as (port, process):
        wait_until_healthy(port, process, log, STARTUP_SECONDS)
        yield Server(port, process)


def next_opening(now: datetime) -> datetime:
    """The next weekday at OPEN_HOUR in Bogotá, after `now`."""
    day = now.astimezone(BOGOTA).replace(hour=OPEN_HOUR, minute=0, second=0, microsecond=0)
    while day <= now or day.weekday() >= 5:
        day = (day + timedelta(days=1)).replace(hour=OPEN_HOUR)
    return day


# --- one mode -----------------------------------------------------------------------------------------


@dataclass
class Measured:
    mode: str
    quiet_seconds: float
    quiet_requests: int
    busy_seconds: float
    busy_requests: int
    delays: list[float] = field(default_factory=list)
    frames: int = 0  # messages the socket received over both stretches
    by_route: dict[str, int] = field(default_factory=dict)

    @property
    def quiet_per_hour(self) -> float:
        return self.quiet_requests / self.quiet_seconds * 3600

    @property
    def busy_per_hour(self) -> float:
        return self.busy_requests / self.busy_seconds * 3600

    def as_json(self) -> dict[str, Any]:
        return {
            "requests_per_agent_hour_quiet": round(self.quiet_per_hour),
            "requests_per_agent_hour_with_messages": round(self.busy_per_hour),
            "quiet_seconds": round(self.quiet_seconds, 1),
            "quiet_requests": self.quiet_requests,
            "busy_seconds": round(self.busy_seconds, 1),
            "busy_requests": self.busy_requests,
            "delay_median_seconds": round(statistics.median(self.delays), 3),
            "delay_max_seconds": round(max(self.delays), 3),
            "delays_seconds": [round(d, 3) for d in self.delays],
            "socket_frames": self.frames,
            "requests_by_route": self.by_route,
        }


def measure(
    browser: Any,
    server: Server,
    mode: str,
    query: str,
    messages: int,
    quiet_seconds: float,
    rng: random.Random,
) -> Measured:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    requests: list[str] = []
    frames: list[str] = []
    page.on(
        "request", lambda r: requests.append(f"{r.method} {r.url.split('?')[0].removeprefix(server.url)}")
    )
    page.on("websocket", lambda s: s.on("framereceived", lambda payload: frames.append(payload)))
    try:
        wa_id, name = f"5730099{random.randrange(10**5):05d}", f"Bench {mode}"
        page.goto(f"{server.url}/console/{query}")
        page.get_by_label("Tenant").fill("acme")
        page.get_by_label("Agent").fill(f"bench-{mode}")
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("switch").check()
        page.locator("#presence-text").filter(has_text="Online").wait_for()
        server.deliver(wa_id, name, "Quiero hablar con un agente")
        item = page.locator("#conversations li.conversation", has_text=name)
        item.locator("button.open").click(timeout=SHOWN_TIMEOUT_MS)
        page.get_by_role("button", name="Take").click()
        item.locator(".badge.mine").wait_for(timeout=SHOWN_TIMEOUT_MS)
        if mode == "push":
            page.locator("#push-state[data-state=live]").wait_for(timeout=SHOWN_TIMEOUT_MS)
        page.wait_for_timeout(3000)  # what the take itself set off settles

        page.evaluate("0")  # every event so far is in
        first, started = len(requests), time.monotonic()
        page.wait_for_timeout(quiet_seconds * 1000)
        page.evaluate("0")
        quiet = (len(requests) - first, time.monotonic() - started)

        first, started = len(requests), time.monotonic()
        first_frame = len(frames)
        delays = []
        for n in range(messages):
            page.wait_for_timeout(rng.uniform(1.5, 4.0) * 1000)  # a random moment of the poll's cycle
            text = f"Mensaje {n + 1} de {mode} {rng.randrange(10**6)}"
            sent = time.monotonic()
            server.deliver(wa_id, name, text)
            page.wait_for_function(
                "text => document.getElementById('transcript').textContent.includes(text)",
                arg=text,
                polling="raf",
                timeout=SHOWN_TIMEOUT_MS,
            )
            delays.append(time.monotonic() - sent)
        page.evaluate("0")
        busy = (len(requests) - first, time.monotonic() - started)
        routes: dict[str, int] = {}
        for request in requests[first:]:
            route = (
                "GET /live/conversations/{id}" if request.startswith("GET /live/conversations/") else request
            )
            routes[route] = routes.get(route, 0) + 1
        return Measured(
            mode=mode,
            quiet_seconds=quiet[1],
            quiet_requests=quiet[0],
            busy_seconds=busy[1],
            busy_requests=busy[0],
            delays=delays,
            frames=len(frames) - first_frame,
            by_route=routes,
        )
    finally:
        context.close()


def report(results: list[Measured]) -> str:
    lines = [
        "The agents' console: requests per agent-hour, and the delay from a user's message to the agent's"
        " screen",
        "",
        f"{'mode':<9} {'req/agent-hour quiet':>21} {'req/agent-hour writing':>23}"
        f" {'delay median':>13} {'delay max':>10}",
    ]
    for result in results:
        lines.append(
            f"{result.mode:<9} {result.quiet_per_hour:>21.0f} {result.busy_per_hour:>23.0f}"
            f" {statistics.median(result.delays):>12.2f}s {max(result.delays):>9.2f}s"
        )
    lines += [
        "",
        "quiet: a conversation open, nothing happening; writing: the user writes every 1.5-4 s.",
        "push: besides these requests, the socket received "
        + ", ".join(f"{r.frames} frames" for r in results if r.mode == "push")
        + " (one per change) and sends a ping every 5 minutes.",
    ]
    return "\n".join(lines)


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.console_push", description=__doc__)
    parser.add_argument("--messages", type=int, default=10, help="user messages per mode (default 10)")
    parser.add_argument("--quiet-seconds", type=float, default=60.0, help="the quiet stretch (default 60)")
    parser.add_argument("--seed", type=int, default=13, help="for the moments messages are sent")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON to PATH")
    args = parser.parse_args(argv)
    if args.messages < 1 or args.quiet_seconds <= 0:
        parser.error("--messages must be at least 1 and --quiet-seconds above 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(argv)
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    rng = random.Random(args.seed)
    results = []
    with tempfile.TemporaryDirectory() as folder, local_server(Path(folder) / "server.log") as server:
        server.advance((next_opening(server.now()) - server.now()).total_seconds())
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            try:
                for mode, query in MODES:
                    print(f"... the console, {mode}: {args.messages} messages", file=sys.stderr, flush=True)
                    results.append(
                        measure(browser, server, mode, query, args.messages, args.quiet_seconds, rng)
                    )
            finally:
                browser.close()
    print(report(results))
    figures = {result.mode: result.as_json() for result in results}
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
