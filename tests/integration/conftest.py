"""The embedded run for handler tests: moto with the template's resources, a fake Graph API, real handlers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest

from handoff_local import payloads
from handoff_local.fake_graph import shown_text, whatsapp_sent_to
from handoff_local.runtime import ROOT, HttpResult, LocalRun

CONFIG = ROOT / "examples" / "config.yaml"
ACME_NUMBER = "200000000000001"  # acme's WhatsApp phone_number_id in examples/config.yaml
GLOBEX_NUMBER = "200000000000002"
BOGOTA = "America/Bogota"


@pytest.fixture
def run() -> Iterator[LocalRun]:
    with LocalRun(CONFIG) as local:
        yield local


@dataclass
class WhatsAppUser:
    """A user on their phone: writes, taps, and reads what the fake Graph API got for them."""

    run: LocalRun
    wa_id: str
    name: str = "Test User"
    number: str = ACME_NUMBER

    def now(self) -> datetime:
        from handoff import clock

        return clock.now()

    def send(self, *messages: dict[str, Any], drain: bool = True) -> HttpResult:
        body = payloads.whatsapp_delivery(
            self.number, *messages, contacts=[payloads.whatsapp_contact(self.wa_id, self.name)]
        )
        response = self.run.webhook("whatsapp", body)
        if drain:
            self.run.drain()
        return response

    def says(self, text: str) -> HttpResult:
        self.run.advance(5)
        return self.send(payloads.whatsapp_text(self.wa_id, text, self.now()))

    def taps(self, button_id: str, title: str = "Yes") -> HttpResult:
        self.run.advance(5)
        return self.send(payloads.whatsapp_button_reply(self.wa_id, button_id, title, self.now()))

    def received(self) -> list[dict[str, Any]]:
        """Every WhatsApp request body sent to this user, oldest first."""
        return whatsapp_sent_to(self.run.graph.requests, self.wa_id)

    def texts(self) -> list[str]:
        return [shown_text(body) for body in self.received()]


@dataclass
class Agent:
    run: LocalRun
    agent_id: str
    tenant_id: str = "acme"

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> HttpResult:
        response = self.run.http(
            method, path, body=body, headers=self.run.as_agent(self.tenant_id, self.agent_id)
        )
        self.run.drain()
        return response

    def online(self, online: bool = True) -> HttpResult:
        return self.call("PUT", "/live/presence", {"online": online})

    def conversations(self) -> list[dict[str, Any]]:
        response = self.call("GET", "/live/conversations")
        assert response.status == 200, response.body
        return response.json()["conversations"]

    def take(self, conversation_id: str) -> HttpResult:
        return self.call("POST", f"/live/conversations/{conversation_id}/take")

    def reply(self, conversation_id: str, text: str) -> HttpResult:
        return self.call("POST", f"/live/conversations/{conversation_id}/reply", {"text": text})

    def close(self, conversation_id: str) -> HttpResult:
        return self.call("POST", f"/live/conversations/{conversation_id}/close")

    def read(self, conversation_id: str) -> HttpResult:
        return self.call("GET", f"/live/conversations/{conversation_id}")
