"""`python -m handoff_local.server` as a subprocess on a free loopback port, an HTTP client for it,
and what the tests over HTTP share: the running server, a WhatsApp user whose deliveries are signed
as Meta signs them, and acme's next night (examples/config.yaml)."""

from __future__ import annotations

import http.client
import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from handoff.config.models import HandoffRule
from handoff.config.texts import texts_for
from handoff.engine.flow import in_business_hours
from handoff_local import payloads
from handoff_local.fake_graph import FakeGraphApi, shown_text, whatsapp_sent_to
from handoff_local.server_process import ServerNotHealthy, server_process, wait_until_healthy
from handoff_tools.config_file import load_config
from handoff_tools.functions import ROOT

CONFIG = ROOT / "examples" / "config.yaml"
ACME = load_config(CONFIG)[0]
ACME_NUMBER = "200000000000001"  # acme's WhatsApp phone_number_id in examples/config.yaml
APP_SECRET = "local-app-secret"  # the local run's: every delivery is signed with it
BOGOTA = ZoneInfo("America/Bogota")


def _whatsapp_rule() -> HandoffRule:
    rule = ACME.rule_for("whatsapp")
    assert rule is not None
    return rule


WHATSAPP_RULE = _whatsapp_rule()
TEXTS = texts_for(ACME, WHATSAPP_RULE, "es")


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str]

    @property
    def text(self) -> str:
        return self.body.decode()

    def json(self) -> Any:
        return json.loads(self.body)


def http_request(
    port: int,
    method: str,
    path: str,
    body: bytes | dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    raw = json.dumps(body).encode() if isinstance(body, dict) else body
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=raw, headers=headers or {})
        answer = connection.getresponse()
        return Response(answer.status, answer.read(), {k.lower(): v for k, v in answer.getheaders()})
    finally:
        connection.close()


# --- the running server, over HTTP only ----------------------------------------------------------


@dataclass
class LocalServerProcess:
    """The running `python -m handoff_local.server`, spoken to over HTTP only."""

    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(
        self,
        method: str,
        path: str,
        body: bytes | dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        return http_request(self.port, method, path, body, headers)

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """POST that must be a 200: its JSON answer."""
        response = self.request("POST", path, body)
        assert response.status == 200, (path, response.status, response.text)
        return response.json()

    def webhook(
        self,
        raw: bytes,
        channel: str = "whatsapp",
        *,
        secret: str | None = APP_SECRET,
        signature: str | None = None,
    ) -> Response:
        """A delivery as Meta posts it: the exact bytes, signed with `secret` (unsigned when None)
        unless `signature` is given."""
        headers = {"Content-Type": "application/json"}
        if signature is None and secret is not None:
            signature = payloads.meta_signature(raw, secret)
        if signature is not None:
            headers["X-Hub-Signature-256"] = signature
        return self.request("POST", f"/webhooks/{channel}", raw, headers)

    def drain(self) -> dict[str, int]:
        return dict(self.post("/_local/drain"))

    def now(self) -> datetime:
        response = self.request("GET", "/_local/clock")
        assert response.status == 200, response.text
        return datetime.fromisoformat(response.json()["now"])

    def advance(self, seconds: float) -> datetime:
        return datetime.fromisoformat(self.post("/_local/clock", {"advance_seconds": seconds})["now"])

    def advance_to(self, moment: datetime) -> datetime:
        return self.advance(max(0.0, (moment - self.now()).total_seconds()))

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def running_local_server(
    log_path: Path, graph: FakeGraphApi, config: Path = CONFIG, **environment: str
) -> Iterator[LocalServerProcess]:
    """The local server on `config` (examples/config.yaml), sending to `graph`, once it answers its
    health check; `environment` adds to its variables."""
    variables = {"HANDOFF_CONFIG": str(config), "GRAPH_API_URL": graph.url, **environment}
    with server_process(log_path, **variables) as (port, process):
        try:
            wait_until_healthy(port, process, log_path)
        except ServerNotHealthy as error:
            pytest.fail(str(error))
        yield LocalServerProcess(port, process, log_path)


@dataclass
class Phone:
    """A WhatsApp user of acme: every delivery signed over its exact bytes, as Meta signs them."""

    server: LocalServerProcess
    graph: FakeGraphApi
    wa_id: str
    name: str

    def deliver(self, *messages: dict[str, Any]) -> Response:
        body = payloads.whatsapp_delivery(
            ACME_NUMBER, *messages, contacts=[payloads.whatsapp_contact(self.wa_id, self.name)]
        )
        return self.server.webhook(json.dumps(body, ensure_ascii=False).encode())

    def says(self, text: str) -> Response:
        return self.deliver(payloads.whatsapp_text(self.wa_id, text, self.server.advance(5)))

    def taps(self, button_id: str, title: str) -> Response:
        at = self.server.advance(5)
        return self.deliver(payloads.whatsapp_button_reply(self.wa_id, button_id, title, at))

    def received(self) -> list[dict[str, Any]]:
        return whatsapp_sent_to(self.graph.requests, self.wa_id)

    def texts(self) -> list[str]:
        return [shown_text(body) for body in self.received()]


def next_night(after: datetime) -> datetime:
    """The next 22:00 in Bogotá when nobody is available, with an open 10:00 the next morning (so
    agents can be available then)."""
    night = after.astimezone(BOGOTA).replace(hour=22, minute=0, second=0, microsecond=0)
    while True:
        morning = night + timedelta(hours=12)
        if night > after + timedelta(minutes=1) and in_business_hours(WHATSAPP_RULE, morning):
            assert not in_business_hours(WHATSAPP_RULE, night)
            return night
        night = (night + timedelta(days=1)).replace(hour=22)
