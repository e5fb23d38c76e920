"""Live's push channel on the embedded run (issue 13, live updates): a ticket from the Live API opens
one WebSocket on the template's WebSocket API, once, for its agent's tenant; the conversation events
of the bus reach every socket of that tenant through the push function's rule, as ids and a time;
sockets that close, or are found gone, are forgotten.

The client is the `websockets` library, independent of the local run's server side of the protocol.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from conftest import BOGOTA, GLOBEX_NUMBER, Agent, WhatsAppUser, table_items
from handoff.engine.model import YES_PAYLOAD
from handoff_local.aws import load_template, socket_api
from handoff_local.runtime import LocalRun
from handoff_tools.functions import TEMPLATE

RECEIVE_SECONDS = 5.0


def ticket(run: LocalRun, agent: str = "carla", tenant: str = "acme") -> dict[str, Any]:
    issued = run.http("POST", "/live/push-ticket", headers=run.as_agent(tenant, agent))
    assert issued.status == 200, issued.body
    return issued.json()


@contextmanager
def socket(run: LocalRun, agent: str = "carla", tenant: str = "acme") -> Iterator[ClientConnection]:
    issued = ticket(run, agent, tenant)
    with connect(f"{issued['url']}?ticket={issued['ticket']}", open_timeout=RECEIVE_SECONDS) as opened:
        yield opened


def pushed(client: ClientConnection) -> dict[str, Any]:
    return json.loads(client.recv(timeout=RECEIVE_SECONDS))


def nothing_pushed(client: ClientConnection) -> bool:
    try:
        client.recv(timeout=0.5)
    except TimeoutError:
        return True
    return False


def refused_status(url: str) -> int:
    with pytest.raises(InvalidStatus) as refused:
        connect(url, open_timeout=RECEIVE_SECONDS)
    return refused.value.response.status_code


def eventually(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + RECEIVE_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"never happened: {what}")
        time.sleep(0.05)


def push_items(prefix: str) -> list[dict[str, Any]]:
    return [item for item in table_items() if item["pk"]["S"].startswith(prefix)]


# --- the door -----------------------------------------------------------------------------------------


def test_a_ticket_opens_one_socket_once_and_nothing_else_opens_one(run):
    # Given a ticket Carla asked for
    issued = ticket(run)
    url = f"{issued['url']}?ticket={issued['ticket']}"

    # When she opens the socket with it, then tries again with the same ticket
    with connect(url, open_timeout=RECEIVE_SECONDS):
        again = refused_status(url)

    # Then the first opened, and the used ticket, a made-up one and none at all are refused
    assert again == 403
    assert refused_status(f"{issued['url']}?ticket=made-up") == 403
    assert refused_status(issued["url"]) == 401  # API Gateway asks the authorizer nothing without one


def test_a_ticket_opens_nothing_after_a_minute(run):
    issued = ticket(run)

    run.advance(61)

    assert refused_status(f"{issued['url']}?ticket={issued['ticket']}") == 403


def test_only_a_signed_in_agent_gets_a_ticket_and_the_table_keeps_it_hashed(run):
    assert run.http("POST", "/live/push-ticket").status == 401

    issued = ticket(run)

    stored = json.dumps(push_items("PUSHTICKET#"))
    assert issued["ticket"] not in stored
    assert '"agent_id": {"S": "carla"}' in stored and '"tenant_id": {"S": "acme"}' in stored


# --- what is pushed ----------------------------------------------------------------------------------


def test_the_tenants_consoles_hear_of_every_change_and_another_tenants_of_none(run):
    # Given Carla's and Diego's consoles of acme, and one of globex, open at night
    run.advance_to(22, BOGOTA, weekday=True)
    with (
        socket(run, "carla") as carla,
        socket(run, "diego") as diego,
        socket(run, "gina", "globex") as globex,
    ):
        # When a user waits, writes, is taken, answered and closed
        user = WhatsAppUser(run, "573005550001", name="Ana")
        user.says("Quiero hablar con un agente")
        user.taps(YES_PAYLOAD, "Sí, quiero esperar")
        queued = pushed(carla)
        user.says("¿Hay alguien?")
        written = pushed(carla)
        agent = Agent(run, "carla")
        conversation_id = queued["conversation_id"]
        assert agent.take(conversation_id).status == 200
        assert agent.reply(conversation_id, "Hola Ana").status == 200
        assert agent.close(conversation_id).status == 200
        rest = [pushed(carla)["type"] for _ in range(3)]

        # Then acme's consoles hear each change as ids and a time, and globex's hears nothing
        assert (queued["type"], written["type"], rest) == (
            "ConversationQueued",
            "UserMessageReceived",
            ["ConversationTaken", "AgentMessageSent", "ConversationClosed"],
        )
        assert set(written) == {"type", "conversation_id", "at"}
        assert written["conversation_id"] == conversation_id
        assert [pushed(diego)["type"] for _ in range(5)] == [
            "ConversationQueued",
            "UserMessageReceived",
            *rest,
        ]
        assert nothing_pushed(globex)


def test_the_bots_chatter_outside_live_is_not_pushed(run):
    with socket(run) as carla:
        WhatsAppUser(run, "573005550002", name="Beto").says("Hola, ¿a qué hora abren?")

        assert nothing_pushed(carla)


def test_a_globex_user_reaches_globex_consoles_only(run):
    run.advance_to(22, BOGOTA, weekday=True)
    with socket(run, "carla") as carla, socket(run, "gina", "globex") as globex:
        user = WhatsAppUser(run, "573005550003", name="Caro", number=GLOBEX_NUMBER)
        user.says("Quiero hablar con un agente")
        user.taps(YES_PAYLOAD, "Sí")

        assert pushed(globex)["type"] == "ConversationQueued"
        assert nothing_pushed(carla)


# --- sockets that end ------------------------------------------------------------------------------------


def test_a_socket_that_closes_is_forgotten(run):
    with socket(run):
        assert len(push_items("PUSH#acme")) == 1

    # $disconnect runs once the close reached the server, on its own thread
    eventually(lambda: push_items("PUSH#acme") == [], "the closed socket's item is deleted")
    assert run.sockets is not None and run.sockets.count() == 0


def test_a_socket_gone_without_its_disconnect_is_forgotten_at_the_next_push(run):
    # Given a socket whose $disconnect never ran (on AWS it is best effort)
    assert run.sockets is not None
    run.advance_to(22, BOGOTA, weekday=True)
    with socket(run, "carla") as carla, socket(run, "diego"):
        [diegos] = [c for c in run.sockets.connection_ids() if c != _connection_of(run, "carla")]
        run.sockets.drop(diegos)
        assert len(push_items("PUSH#acme")) == 2

        # When the next change is pushed
        user = WhatsAppUser(run, "573005550004", name="Dani")
        user.says("Quiero hablar con un agente")
        user.taps(YES_PAYLOAD, "Sí")

        # Then Carla still hears it, and the gone socket's item is deleted
        assert pushed(carla)["type"] == "ConversationQueued"
        assert [item["sk"]["S"] for item in push_items("PUSH#acme")] == [
            f"CONN#{_connection_of(run, 'carla')}"
        ]


def test_a_ping_keeps_the_socket_and_answers_nothing(run):
    with socket(run) as carla:
        carla.send(json.dumps({"action": "ping"}))

        assert nothing_pushed(carla)
        assert run.sockets is not None and run.sockets.count() == 1


def test_api_gateways_two_hour_limit_closes_a_socket_and_forgets_it(run):
    with socket(run) as carla:
        run.advance(2 * 3600)

        with pytest.raises(ConnectionClosed, match="1001"):
            carla.recv(timeout=RECEIVE_SECONDS)
    eventually(lambda: push_items("PUSH#acme") == [], "the closed socket's item is deleted")


def _connection_of(run: LocalRun, agent: str) -> str:
    [item] = [i for i in push_items("PUSH#acme") if i["agent_id"]["S"] == agent]
    return str(item["sk"]["S"]).removeprefix("CONN#")


# --- the template -----------------------------------------------------------------------------------


def test_the_address_the_functions_are_given_is_the_stage_the_template_deploys():
    template = load_template(TEMPLATE)
    api = socket_api(TEMPLATE)

    push_url = template["Globals"]["Function"]["Environment"]["Variables"]["PUSH_URL"]["Fn::Sub"]
    output = template["Outputs"]["PushUrl"]["Value"]["Fn::Sub"]
    grant = [
        s["Resource"]["Fn::Sub"]
        for s in template["Resources"]["LivePushFunction"]["Properties"]["Policies"][0]["Statement"]
        if s["Action"] == "execute-api:ManageConnections"
    ]
    assert api is not None and api.stage == "live"
    assert push_url == output == "wss://${PushApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/live"
    assert grant == [
        "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${PushApi}/live/POST/@connections/*"
    ]
    routes = {route.route_key: route for route in api.routes}
    assert set(routes) == {"$connect", "$disconnect", "$default"}
    assert {route.function for route in routes.values()} == {"LivePushFunction"}
    assert routes["$connect"].authorizer == "LivePushFunction"
    assert routes["$connect"].identity_source == ("route.request.querystring.ticket",)
    assert routes["$disconnect"].authorizer is None and routes["$default"].authorizer is None


def test_a_handover_is_pushed_too(run):
    # Given Carla's console open and a chat she took
    run.advance_to(22, BOGOTA, weekday=True)
    with socket(run, "carla") as carla:
        user = WhatsAppUser(run, "573005550005", name="Eva")
        user.says("Quiero hablar con un agente")
        user.taps(YES_PAYLOAD, "Sí")
        conversation_id = pushed(carla)["conversation_id"]
        agent = Agent(run, "carla")
        assert agent.take(conversation_id).status == 200
        assert pushed(carla)["type"] == "ConversationTaken"

        # When she puts it back in the queue
        handed = agent.call("POST", f"/live/conversations/{conversation_id}/handover", {"to": None})

        # Then her console hears of it like any other change
        assert handed.status == 200, handed.body
        handover = pushed(carla)
        assert (handover["type"], handover["conversation_id"]) == ("ConversationHandedOver", conversation_id)
