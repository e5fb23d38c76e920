"""The embedded run for handler tests: moto with the template's resources, a fake Graph API, real handlers."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from console_steps import chromium, graph, page, server  # noqa: F401  (the browser tests' fixtures)

from handoff_local import payloads
from handoff_local.fake_graph import meta_platform_sent_to, shown_text, whatsapp_sent_to
from handoff_local.runtime import HttpResult, LocalRun
from handoff_tools.functions import ROOT

CONFIG = ROOT / "examples" / "config.yaml"
ACME_NUMBER = "200000000000001"  # acme's WhatsApp phone_number_id in examples/config.yaml
GLOBEX_NUMBER = "200000000000002"
ACME_PAGE = "300000000000001"  # acme's Facebook page id (Messenger) in examples/config.yaml
ACME_INSTAGRAM = "17841400000000001"  # acme's Instagram account id
ACME_ACCOUNTS = {"whatsapp": ACME_NUMBER, "messenger": ACME_PAGE, "instagram": ACME_INSTAGRAM}
BOGOTA = "America/Bogota"


@pytest.fixture
def run() -> Iterator[LocalRun]:
    with LocalRun(CONFIG) as local:
        yield local


@pytest.fixture
def loud_run() -> Iterator[LocalRun]:
    """A run that logs everything a deployment logs at INFO."""
    with LocalRun(CONFIG, log_level="INFO") as local:
        yield local


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """Every log line the functions write, as CloudWatch would get it (Powertools' JSON)."""
    from handoff.observability import logger

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)


def table_items() -> list[dict[str, Any]]:
    """The whole application table (a test may Scan; the product never does)."""
    import boto3

    from handoff.runtime.settings import settings

    items: list[dict[str, Any]] = []
    for scanned in boto3.client("dynamodb").get_paginator("scan").paginate(TableName=settings().table_name):
        items += scanned["Items"]
    return items


class ChatUser:
    """What every user has: the run's clock, and the texts the fake Graph API got for them."""

    def now(self) -> datetime:
        from handoff import clock

        return clock.now()

    def received(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def texts(self) -> list[str]:
        return [shown_text(body) for body in self.received()]


@dataclass
class WhatsAppUser(ChatUser):
    """A user on their phone: writes, taps, and reads what the fake Graph API got for them."""

    run: LocalRun
    wa_id: str
    name: str = "Test User"
    number: str = ACME_NUMBER

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


@dataclass
class MetaPlatformUser(ChatUser):
    """A Messenger or Instagram user: writes, taps quick replies, presses buttons, and reads what the
    fake Graph API got for their PSID / IGSID."""

    run: LocalRun
    channel: str  # messenger or instagram
    scoped_id: str
    account_id: str = ""

    def __post_init__(self) -> None:
        self.account_id = self.account_id or ACME_ACCOUNTS[self.channel]

    def delivery(self, *events: dict[str, Any]) -> dict[str, Any]:
        return payloads.meta_platform_delivery(self.channel, self.account_id, *events)

    def send(self, *events: dict[str, Any], drain: bool = True) -> HttpResult:
        response = self.run.webhook(self.channel, self.delivery(*events))
        if drain:
            self.run.drain()
        return response

    def text(self, text: str, at: datetime | None = None) -> dict[str, Any]:
        return payloads.meta_platform_text(self.scoped_id, self.account_id, text, at or self.now())

    def says(self, text: str) -> HttpResult:
        self.run.advance(5)
        return self.send(self.text(text))

    def taps(self, payload: str, title: str = "Sí") -> HttpResult:
        """A quick-reply tap."""
        self.run.advance(5)
        return self.send(
            payloads.meta_platform_quick_reply(self.scoped_id, self.account_id, payload, title, self.now())
        )

    def presses(self, payload: str, title: str) -> HttpResult:
        """A postback button (persistent menu, button template, Instagram icebreaker)."""
        self.run.advance(5)
        return self.send(
            payloads.meta_platform_postback(self.scoped_id, self.account_id, payload, title, self.now())
        )

    def attaches(self, kind: str) -> HttpResult:
        self.run.advance(5)
        return self.send(payloads.meta_platform_attachment(self.scoped_id, self.account_id, kind, self.now()))

    def received(self) -> list[dict[str, Any]]:
        """Every Send API body sent to this user, oldest first."""
        return meta_platform_sent_to(self.run.graph.requests, self.scoped_id)


@dataclass
class Agent:
    run: LocalRun
    agent_id: str
    tenant_id: str = "acme"
    seats: int | None = None  # the token's custom:seats (None: the tenant's agent_seats)

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> HttpResult:
        headers = self.run.as_agent(self.tenant_id, self.agent_id, seats=self.seats)
        response = self.run.http(method, path, body=body, headers=headers)
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

    def send_template(
        self, conversation_id: str, name: str, language: str, parameters: list[str]
    ) -> HttpResult:
        body = {"name": name, "language": language, "parameters": parameters}
        return self.call("POST", f"/live/conversations/{conversation_id}/template", body)

    def templates(self) -> list[dict[str, Any]]:
        response = self.call("GET", "/live/templates")
        assert response.status == 200, response.body
        return response.json()["templates"]

    def close(self, conversation_id: str) -> HttpResult:
        return self.call("POST", f"/live/conversations/{conversation_id}/close")

    def read(self, conversation_id: str) -> HttpResult:
        return self.call("GET", f"/live/conversations/{conversation_id}")


def taken_after_a_night_of_waiting(run: LocalRun, wa_id: str, name: str) -> tuple[WhatsAppUser, Agent, str]:
    """A WhatsApp user asks for an agent at night and waits; in the morning carla comes online and
    takes the conversation. Returns the user, carla and the conversation's id."""
    from handoff.engine.model import YES_PAYLOAD

    run.advance_to(22, BOGOTA, weekday=True)
    user = WhatsAppUser(run, wa_id, name=name)
    user.says("Quiero hablar con un agente")
    user.taps(YES_PAYLOAD, "Sí, quiero esperar")
    carla = Agent(run, "carla")
    run.advance_to(9, BOGOTA, weekday=True)
    carla.online()
    [waiting] = [c for c in carla.conversations() if c["state"] == "queued"]
    assert carla.take(waiting["id"]).status == 200
    return user, carla, waiting["id"]
