"""Each function's role grants what its code calls, and nothing more (issue 12, point 8).

The after-hours story of `make demo`, an agent's template, a user's photo the agent opens and a few
admin API calls run on moto while every DynamoDB, SQS and EventBridge call is recorded with the
function that made it. Each
call must be allowed by that function's statements in template.yaml (actions, resources,
`dynamodb:LeadingKeys`), and each grant must be used by some call, or be listed in
NOT_IN_THE_STORY with the code path that needs it.
A change to the code that reads or writes another key prefix fails here until the template says so.
"""

from __future__ import annotations

import contextlib
import contextvars
import fnmatch
import io
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore import handlers

from handoff.runtime import wiring
from handoff_local import demo
from handoff_local.aws import load_template, socket_api
from handoff_local.runtime import LocalRun
from handoff_tools.functions import ROOT, TEMPLATE

FUNCTIONS = (
    "WhatsappWebhookFunction",
    "MessengerWebhookFunction",
    "InstagramWebhookFunction",
    "ConversationFunction",
    "WakeFunction",
    "LiveApiFunction",
    "AdminApiFunction",
    "LivePushFunction",
)
WEBHOOKS = FUNCTIONS[:3]
RECORDED_SERVICES = ("dynamodb", "sqs", "events", "apigatewaymanagementapi")
ACTION_PREFIXES = ("dynamodb", "sqs", "events", "execute-api")
"""IAM's prefix of the recorded services' actions (API Gateway's @connections API is `execute-api`)."""
# Resources as the statements name them (logical ids; an index as "<table>/index/<name>").
TABLE_RESOURCES = {"AppTable"}

# Grants the story does not exercise, each with the code that needs it.
NOT_IN_THE_STORY: dict[tuple[str, str, str, str | None], str] = {
    ("ConversationFunction", "dynamodb:DeleteItem", "AppTable", "CONV#*"): (
        "ConversationStore.move and forget_lines: a user whose channel id changed (UserChangedId)"
    ),
    ("ConversationFunction", "dynamodb:DeleteItem", "AppTable", "ID#*"): (
        "ConversationStore.commit(retired_ids=...): two conversations merged by a move"
    ),
    ("ConversationFunction", "dynamodb:UpdateItem", "AppTable", "CONV#*"): (
        "ConversationStore.mark_undelivered: Meta refused a message for good"
    ),
    ("ConversationFunction", "dynamodb:Query", "AppTable", "CONV#*"): (
        "a tenant's own bot reading the transcript (Bots), and ConversationStore.move's lines"
    ),
    ("ConversationFunction", "dynamodb:Query", "AppTable", "OUTBOX#*"): (
        "ConversationStore.pending: a redelivery, or a conversation whose messages wait in the outbox"
    ),
    ("ConversationFunction", "dynamodb:UpdateItem", "AppTable", "OUTBOX#*"): (
        "ConversationStore.claim and release: those messages sent under a lease"
    ),
    ("LiveApiFunction", "dynamodb:PutItem", "AppTable", "ID#*"): (
        "ConversationStore.commit renewing a conversation's id lookup, or giving an id to a "
        "conversation stored before conversations had ids"
    ),
    ("LiveApiFunction", "dynamodb:Query", "AppTable", "OUTBOX#*"): (
        "ConversationStore.pending: an agent's action on a conversation whose messages wait in the outbox"
    ),
    ("LiveApiFunction", "dynamodb:UpdateItem", "AppTable", "OUTBOX#*"): (
        "ConversationStore.claim and release: those messages sent under a lease"
    ),
    ("LiveApiFunction", "dynamodb:UpdateItem", "AppTable", "CONV#*"): (
        "ConversationStore.mark_undelivered: Meta refused an agent's reply for good"
    ),
    ("WakeFunction", "dynamodb:UpdateItem", "AppTable", "CONV#*"): (
        "the outbox sweep's mark_undelivered: Meta refused an old message for good"
    ),
    ("WakeFunction", "dynamodb:UpdateItem", "AppTable", "OUTBOX#*"): (
        "the outbox sweep's leases (ConversationStore.claim): messages left in the outbox"
    ),
    ("ConversationFunction", "dynamodb:UpdateItem", "AppTable", "PACE#*"): (
        "SendSchedule.take past an instance's own part of the rate: a wake-up's burst "
        "(tests/integration/test_paced_sends.py)"
    ),
    ("WakeFunction", "dynamodb:GetItem", "AppTable", "WAKE#*"): (
        "ConversationStore.wake_cursor: where a pass cut short by its time stopped "
        "(tests/integration/test_wake_pass.py)"
    ),
    ("WakeFunction", "dynamodb:PutItem", "AppTable", "WAKE#*"): (
        "ConversationStore.keep_wake_cursor: a pass cut short by its time "
        "(tests/integration/test_wake_pass.py)"
    ),
    ("WakeFunction", "dynamodb:DeleteItem", "AppTable", "WAKE#*"): (
        "ConversationStore.keep_wake_cursor: a pass that went to the end after one cut short"
    ),
    ("WakeFunction", "dynamodb:UpdateItem", "AppTable", "PACE#*"): (
        "the outbox sweep taking a send slot (SendSchedule.take) for a message left in the outbox"
    ),
    ("ConversationFunction", "sqs:ChangeMessageVisibility", "InboundQueue", None): (
        "QueuedEvents.apply putting a record back for later (return_later): Meta throttled its send, "
        "or its account's schedule is booked ahead (tests/integration/test_paced_sends.py)"
    ),
    ("WakeFunction", "dynamodb:DeleteItem", "AppTable", "OUTBOX#*"): (
        "the outbox sweep removing what it sent (ConversationStore.delivered)"
    ),
    ("AdminApiFunction", "dynamodb:DeleteItem", "AppTable", "OUTBOX#*"): (
        "ConversationStore.erase: an erased user still owed a message Meta asked to wait for"
    ),
    ("WakeFunction", "events:PutEvents", "HandoffBus", None): (
        "the outbox sweep sending a conversation event left in the outbox"
    ),
}


@dataclass(frozen=True)
class Call:
    function: str
    action: str
    resource: str
    leading_key: str | None = None


# --- recording -------------------------------------------------------------------------------------


def _logical(physical: str) -> str:
    """The template's logical id in a local physical name: `<stack>-<LogicalId>[.fifo]`, or a queue URL."""
    return physical.rsplit("/", 1)[-1].removesuffix(".fifo").rsplit("-", 1)[-1]


def _pk(item_or_key: dict[str, Any]) -> str:
    return str(item_or_key["pk"]["S"])


def _query_pk(params: dict[str, Any]) -> str | None:
    found = re.search(r"\bpk\s*=\s*(:\w+)", params.get("KeyConditionExpression", ""))
    return str(params["ExpressionAttributeValues"][found.group(1)]["S"]) if found else None


def _calls(function: str, service: str, operation: str, params: dict[str, Any]) -> list[Call]:
    """What IAM authorizes for one API call: one action per item of a transaction."""
    if service == "sqs":
        # a batch is authorized as its single action: SendMessageBatch as sqs:SendMessage,
        # ChangeMessageVisibilityBatch as sqs:ChangeMessageVisibility
        action = f"sqs:{operation.removesuffix('Batch')}"
        return [Call(function, action, _logical(params["QueueUrl"]))]
    if service == "apigatewaymanagementapi":
        # authorized as ManageConnections on the WebSocket API whose stage the client was made for
        api = socket_api(TEMPLATE)
        assert api is not None
        return [Call(function, "execute-api:ManageConnections", api.logical_id)]
    if service == "events":
        return [
            Call(function, f"events:{operation}", _logical(entry.get("EventBusName", "default")))
            for entry in params.get("Entries", [])
        ]
    if operation == "TransactWriteItems":
        found = []
        for entry in params["TransactItems"]:
            ((kind, request),) = entry.items()
            item = request.get("Item") or request["Key"]
            action = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem"}.get(
                kind, f"{kind}Item"
            )
            found.append(Call(function, f"dynamodb:{action}", _logical(request["TableName"]), _pk(item)))
        return found
    table = _logical(params["TableName"])
    if operation == "Query":
        if "IndexName" in params:
            return [Call(function, "dynamodb:Query", f"{table}/index/{params['IndexName']}")]
        return [Call(function, "dynamodb:Query", table, _query_pk(params))]
    key = params.get("Item") or params.get("Key")
    return [Call(function, f"dynamodb:{operation}", table, _pk(key) if key and "pk" in key else None)]


def _admin_calls(run: LocalRun) -> None:
    """What an administrator does: read and edit the config, read the report."""
    headers = run.as_admin(demo.TENANT)
    config = run.http("GET", "/admin/config", headers=headers)
    assert config.status == 200, config.body
    seats = run.http(
        "PUT",
        "/admin/agent-seats",
        headers=headers,
        body={"version": config.json()["version"], "agent_seats": 4},
    )
    assert seats.status == 200, seats.body
    templates = run.http("GET", "/admin/agent-templates", headers=headers)
    assert templates.status == 200, templates.body
    rewritten = run.http("PUT", "/admin/agent-templates", headers=headers, body=templates.json())
    assert rewritten.status == 200, rewritten.body
    canned = run.http("GET", "/admin/canned-answers", headers=headers)
    assert canned.status == 200, canned.body
    rewritten = run.http("PUT", "/admin/canned-answers", headers=headers, body=canned.json())
    assert rewritten.status == 200, rewritten.body
    today = datetime.now(UTC).date()
    report = run.http(
        "GET",
        "/admin/report",
        headers=headers,
        query={"from": str(today - timedelta(days=7)), "to": str(today + timedelta(days=7))},
    )
    assert report.status == 200, report.body
    _erasure_calls(run, headers)


def _template_calls(run: LocalRun) -> None:
    """An agent lists the tenant's templates and sends one to a user silent for 25 hours, then lists
    who is online and puts the conversation back in the queue (issue 13)."""
    from handoff import clock
    from handoff_local import payloads

    agent = run.as_agent(demo.TENANT, "carla")
    user, number = "573009990002", demo.ACCOUNTS["whatsapp"]
    run.advance_to(10, "America/Bogota", weekday=True)  # acme's hours: straight into Live's queue
    assert run.http("PUT", "/live/presence", headers=agent, body={"online": True}).status == 200
    asks = payloads.whatsapp_text(user, "Quiero hablar con un asesor", clock.now())
    assert run.webhook("whatsapp", payloads.whatsapp_delivery(number, asks)).status == 200
    run.drain()
    listed = run.http("GET", "/live/conversations", headers=agent).json()["conversations"]
    [queued] = [c for c in listed if c["state"] == "queued"]
    assert run.http("POST", f"/live/conversations/{queued['id']}/take", headers=agent).status == 200
    run.advance(25 * 3600)
    [template, *_] = run.http("GET", "/live/templates", headers=agent).json()["templates"]
    canned = run.http("GET", "/live/canned-answers", headers=agent, query={"language": "es"})
    assert canned.status == 200, canned.body
    body = {
        "name": template["name"],
        "language": template["language"],
        "parameters": ["Ana"] * len(template["parameters"]),
    }
    sent = run.http("POST", f"/live/conversations/{queued['id']}/template", headers=agent, body=body)
    assert sent.status == 200, sent.body
    assert run.http("GET", "/live/agents", headers=agent).status == 200
    back = run.http("POST", f"/live/conversations/{queued['id']}/handover", headers=agent, body={"to": None})
    assert back.status == 200, back.body


def _closed_view_calls(run: LocalRun) -> None:
    """An agent takes a chat from the queue and closes it, then finds it in the closed view by a
    text of its transcript."""
    agent = run.as_agent(demo.TENANT, "carla")
    chat, *_ = run.http("GET", "/live/conversations", headers=agent, query={"view": "queue"}).json()[
        "conversations"
    ]
    for action in ("take", "close"):
        done = run.http("POST", f"/live/conversations/{chat['id']}/{action}", headers=agent)
        assert done.status == 200, done.body
    closed = run.http("GET", "/live/conversations", headers=agent, query={"view": "closed", "q": "asesor"})
    assert [c["id"] for c in closed.json()["conversations"]] == [chat["id"]], closed.body


def _media_calls(run: LocalRun) -> None:
    """A user sends a photo and an agent opens it: Live reads the line and fetches the file from Meta
    (issue 13) with the account's token, which `ReadChannelAccessTokens` grants (SSM calls are not
    recorded here: `test_the_live_function_reads_channel_tokens_and_no_other_parameter` holds it)."""
    from handoff import clock
    from handoff_local import payloads

    user, number = "573009990003", demo.ACCOUNTS["whatsapp"]
    media_id = run.graph.add_media(b"\xff\xd8\xff\xe0 a photo", "image/jpeg")
    photo = payloads.whatsapp_media(user, "image", media_id, "image/jpeg", clock.now())
    assert run.webhook("whatsapp", payloads.whatsapp_delivery(number, photo)).status == 200
    run.drain()
    stored = wiring.conversation_store().load_key(f"{demo.TENANT}#whatsapp#{number}#{user}")
    assert stored is not None
    agent = run.as_agent(demo.TENANT, "carla")
    read = run.http("GET", f"/live/conversations/{stored.id}", headers=agent)
    [path] = [line["media"]["path"] for line in read.json()["transcript"] if line["media"]]
    fetched = run.http("GET", path, headers=agent)
    assert fetched.status == 200, fetched.body


def _push_calls(run: LocalRun) -> None:
    """An agent's console opens the push channel with a ticket, hears that a user entered the queue,
    and closes (issue 13, live updates)."""
    from websockets.sync.client import connect

    from handoff import clock
    from handoff_local import payloads

    agent = run.as_agent(demo.TENANT, "diego")
    run.advance_to(10, "America/Bogota", weekday=True)  # acme's hours: straight into Live's queue
    assert run.http("PUT", "/live/presence", headers=agent, body={"online": True}).status == 200
    issued = run.http("POST", "/live/push-ticket", headers=agent).json()
    with connect(f"{issued['url']}?ticket={issued['ticket']}", open_timeout=10) as console:
        asks = payloads.whatsapp_text("573009990003", "Quiero hablar con un asesor", clock.now())
        delivery = payloads.whatsapp_delivery(demo.ACCOUNTS["whatsapp"], asks)
        assert run.webhook("whatsapp", delivery).status == 200
        run.drain()
        while json.loads(console.recv(timeout=10))["type"] != "ConversationQueued":
            pass  # earlier conversations of the story change meanwhile (a wait expires)
    assert run.sockets is not None
    deadline = time.monotonic() + 10  # $disconnect runs on the socket's own thread once it closed
    while run.sockets.count() or _push_items():
        assert time.monotonic() < deadline, "the closed socket was never forgotten"
        time.sleep(0.05)


def _push_items() -> list[Any]:
    import boto3

    from handoff.runtime.settings import settings

    found = boto3.client("dynamodb").query(
        TableName=settings().table_name,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"PUSH#{demo.TENANT}"}},
    )
    return list(found["Items"])


def _erasure_calls(run: LocalRun, headers: dict[str, str]) -> None:
    """An administrator erases a user whose silent bot session has its report row, by conversation
    id; then again by channel and user id (nothing is left to find)."""
    from handoff_local import payloads

    user, number = "573009990001", demo.ACCOUNTS["whatsapp"]
    hello = payloads.whatsapp_text(user, "Hola", datetime.now(UTC))
    assert run.webhook("whatsapp", payloads.whatsapp_delivery(number, hello)).status == 200
    run.drain()
    run.advance(25 * 3600)
    run.tick()
    stored = wiring.conversation_store().load_key(f"{demo.TENANT}#whatsapp#{number}#{user}")
    assert stored is not None
    for body in ({"conversation_id": stored.id}, {"channel": "whatsapp", "user_id": user}):
        erased = run.http("POST", "/admin/erasures", headers=headers, body=body)
        assert erased.status == 200, erased.body


@pytest.fixture(scope="module")
def recorded() -> Iterator[list[Call]]:
    """Every call of the functions during the demo's shop story and the admin calls."""
    running: contextvars.ContextVar[str | None] = contextvars.ContextVar("function", default=None)
    calls: list[Call] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        service = model.service_model.service_name
        function = running.get()
        if function is not None and service in RECORDED_SERVICES:
            calls.extend(_calls(function, service, model.name, params))

    invoke = LocalRun.invoke

    def invoke_recorded(self: LocalRun, function: str, event: Any) -> Any:
        # each invocation builds its own parts, as in its own Lambda instance: no read cached by
        # another function's (the local run shares one process, and the directory caches reads)
        for part in vars(wiring).values():
            if getattr(part, "__module__", None) == wiring.__name__ and hasattr(part, "cache_clear"):
                part.cache_clear()
        token = running.set(function)  # nested (Live's presence wakes the wake function): restored after
        try:
            return invoke(self, function, event)
        finally:
            running.reset(token)

    with pytest.MonkeyPatch.context() as patch:
        # every botocore session made from here on (moto makes a new default one) records the calls
        patch.setattr(
            handlers, "BUILTIN_HANDLERS", [*handlers.BUILTIN_HANDLERS, ("before-parameter-build", record)]
        )
        patch.setattr(LocalRun, "invoke", invoke_recorded)
        with contextlib.redirect_stdout(io.StringIO()):
            demo.shop_story()
            with LocalRun(demo.CONFIG) as run:
                _admin_calls(run)
                _template_calls(run)
                _push_calls(run)
                _closed_view_calls(run)
                _media_calls(run)
    assert {call.function for call in calls} >= set(FUNCTIONS)
    yield calls


# --- the template's grants -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


def statements(template: dict[str, Any], function: str) -> list[dict[str, Any]]:
    """The function's inline statements, those of conditional policies (`!If`) included."""
    found: list[dict[str, Any]] = []
    for policy in template["Resources"][function]["Properties"].get("Policies", []):
        if isinstance(policy, dict) and "Fn::If" in policy:
            policy = policy["Fn::If"][1]
        if isinstance(policy, dict) and "Statement" in policy:
            found.extend(policy["Statement"])
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def resource_name(node: Any) -> str:
    """A statement's resource as a logical name (`AppTable`, `AppTable/index/live`), else as JSON."""
    if isinstance(node, dict) and "Fn::GetAtt" in node and node["Fn::GetAtt"][1] == "Arn":
        return str(node["Fn::GetAtt"][0])
    if isinstance(node, dict) and isinstance(node.get("Fn::Sub"), str):
        index = re.fullmatch(r"\$\{(\w+)\.Arn\}/index/(\w+)", node["Fn::Sub"])
        if index:
            return f"{index.group(1)}/index/{index.group(2)}"
        api = re.fullmatch(r"arn:\$\{AWS::Partition\}:execute-api:[^/]*:\$\{(\w+)\}/.+", node["Fn::Sub"])
        if api:
            return api.group(1)
    return json.dumps(node, sort_keys=True)


def leading_keys(statement: dict[str, Any]) -> list[str] | None:
    """The statement's `dynamodb:LeadingKeys` patterns; None when it has no condition."""
    condition = statement.get("Condition")
    if condition is None:
        return None
    assert list(condition) == ["ForAllValues:StringLike"], statement.get("Sid")
    assert list(condition["ForAllValues:StringLike"]) == ["dynamodb:LeadingKeys"], statement.get("Sid")
    return list(condition["ForAllValues:StringLike"]["dynamodb:LeadingKeys"])


def matches(statement: dict[str, Any], call: Call) -> bool:
    if not any(fnmatch.fnmatchcase(call.action, action) for action in as_list(statement["Action"])):
        return False
    if "NotResource" in statement:
        return call.resource not in {resource_name(r) for r in as_list(statement["NotResource"])}
    if call.resource not in {resource_name(r) for r in as_list(statement["Resource"])}:
        return False
    patterns = leading_keys(statement)
    return patterns is None or (
        call.leading_key is not None and any(fnmatch.fnmatchcase(call.leading_key, p) for p in patterns)
    )


def allowed(template: dict[str, Any], call: Call) -> bool:
    granted = statements(template, call.function)
    if any(s["Effect"] == "Deny" and matches(s, call) for s in granted):
        return False
    return any(s["Effect"] == "Allow" and matches(s, call) for s in granted)


def grants(template: dict[str, Any], function: str) -> set[tuple[str, str, str, str | None]]:
    """(function, action, resource, leading-key pattern) for each Allow on a recorded service."""
    found = set()
    for statement in statements(template, function):
        if statement["Effect"] != "Allow":
            continue
        for action in as_list(statement["Action"]):
            if action.split(":")[0] not in ACTION_PREFIXES:
                continue
            for resource in as_list(statement["Resource"]):
                for pattern in leading_keys(statement) or [None]:
                    found.add((function, action, resource_name(resource), pattern))
    return found


# --- code against template -------------------------------------------------------------------------


def test_every_call_of_the_story_is_granted_by_the_template(
    recorded: list[Call], template: dict[str, Any]
) -> None:
    refused = sorted({call for call in recorded if not allowed(template, call)}, key=str)

    assert refused == [], "template.yaml does not grant: " + "\n".join(map(str, refused))


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_grant_is_used_by_the_story_or_says_what_needs_it(
    recorded: list[Call], template: dict[str, Any], function: str
) -> None:
    def used(grant: tuple[str, str, str, str | None]) -> bool:
        _, action, resource, pattern = grant
        return any(
            call.function == function
            and call.action == action
            and call.resource == resource
            and (pattern is None or fnmatch.fnmatchcase(call.leading_key or "", pattern))
            for call in recorded
        )

    unused = {grant for grant in grants(template, function) if not used(grant)}
    explained = {grant for grant in NOT_IN_THE_STORY if grant[0] == function}

    assert unused == explained, f"unused grants: {sorted(unused - explained, key=str)}"


def test_the_live_function_reads_channel_tokens_and_no_other_parameter(template: dict[str, Any]) -> None:
    """Live sends what agents' actions owe and fetches users' files from Meta: both with the channel
    account's token, and nothing else of Parameter Store."""
    granted = [
        s
        for s in statements(template, "LiveApiFunction")
        if any(a.startswith("ssm:") for a in as_list(s["Action"]))
    ]

    assert [(s["Sid"], s["Action"], s["Resource"]) for s in granted] == [
        (
            "ReadChannelAccessTokens",
            ["ssm:GetParameter", "ssm:GetParameters"],
            {
                "Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter"
                "${ParameterPrefix}/access-tokens/*"
            },
        )
    ]


def test_only_the_webhooks_and_the_wake_queue_events_as_their_code_does() -> None:
    layer = ROOT / "layers" / "handoff" / "handoff"
    enqueuing = sorted(
        path.relative_to(layer).as_posix()
        for path in layer.rglob("*.py")
        if "enqueue(" in path.read_text() and path.name != "inbound_queue.py"
    )

    assert enqueuing == ["services/wake.py", "services/webhooks.py"]


def test_only_the_webhooks_and_the_wake_may_send_to_the_queue(template: dict[str, Any]) -> None:
    senders = {
        function
        for function in FUNCTIONS
        for statement in statements(template, function)
        if statement["Effect"] == "Allow" and "sqs:SendMessage" in as_list(statement["Action"])
    }

    assert senders == {*WEBHOOKS, "WakeFunction"}
    for function in FUNCTIONS:
        for statement in statements(template, function):
            if statement["Effect"] == "Allow" and any(
                a.startswith("sqs:") for a in as_list(statement["Action"])
            ):
                # the consumer may only put its own records back for later (the backoff)
                allowed = (
                    ["sqs:ChangeMessageVisibility"]
                    if function == "ConversationFunction"
                    else ["sqs:SendMessage"]
                )
                assert as_list(statement["Action"]) == allowed, function
                assert statement["Resource"] == {"Fn::GetAtt": ["InboundQueue", "Arn"]}, function


# --- the template's rules --------------------------------------------------------------------------


def test_no_function_uses_a_sam_policy_template_or_a_managed_policy(template: dict[str, Any]) -> None:
    for function in (*FUNCTIONS, "ConsoleSiteFunction"):
        policies = template["Resources"][function]["Properties"].get("Policies", [])
        for policy in policies:
            assert isinstance(policy, dict), (function, policy)
            assert "Statement" in policy or "Fn::If" in policy, (function, policy)


def test_no_batch_no_scan_no_partiql_and_no_condition_check(template: dict[str, Any]) -> None:
    for function in FUNCTIONS:
        granted = {
            a for s in statements(template, function) if s["Effect"] == "Allow" for a in as_list(s["Action"])
        }
        assert not granted & {"dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:Scan"}, function
        assert "dynamodb:ConditionCheckItem" not in granted, function
        assert not any(a.startswith("dynamodb:PartiQL") for a in granted), function


def test_every_table_grant_is_held_to_key_prefixes_and_every_index_is_named(template: dict[str, Any]) -> None:
    for function in FUNCTIONS:
        for statement in statements(template, function):
            if statement["Effect"] != "Allow" or not any(
                a.startswith("dynamodb:") for a in as_list(statement["Action"])
            ):
                continue
            resources = [resource_name(r) for r in as_list(statement["Resource"])]
            assert not any(r.endswith("/index/*") or "index/*" in r for r in resources), function
            if resources == ["AppTable"]:
                assert leading_keys(statement), (function, statement["Sid"])
            else:
                assert all(r.startswith("AppTable/index/") for r in resources), (function, statement["Sid"])


@pytest.mark.parametrize("function", WEBHOOKS)
def test_webhooks_only_get_channel_account_routing_items(template: dict[str, Any], function: str) -> None:
    table = [
        s
        for s in statements(template, function)
        if any(a.startswith("dynamodb:") for a in as_list(s["Action"]))
    ]

    assert [(s["Action"], s["Resource"], leading_keys(s)) for s in table] == [
        ("dynamodb:GetItem", {"Fn::GetAtt": ["AppTable", "Arn"]}, ["ACCOUNT#*"])
    ]


def test_the_admin_function_writes_only_tenant_items_and_reads_its_report(template: dict[str, Any]) -> None:
    access = {
        (action, pattern)
        for _, action, resource, pattern in grants(template, "AdminApiFunction")
        if resource == "AppTable"
    }

    # the tenant's config and report, and an erasure's finds, deletes and report rewrites; it
    # never writes a conversation (it only deletes an erased one) nor another tenant's config
    assert access == {
        ("dynamodb:GetItem", "TENANT#*"),
        ("dynamodb:PutItem", "TENANT#*"),
        ("dynamodb:Query", "REPORT#*"),
        ("dynamodb:GetItem", "CONV#*"),
        ("dynamodb:GetItem", "ID#*"),
        ("dynamodb:GetItem", "REPORT#*"),
        ("dynamodb:Query", "CONV#*"),
        ("dynamodb:Query", "OUTBOX#*"),
        ("dynamodb:DeleteItem", "CONV#*"),
        ("dynamodb:DeleteItem", "ID#*"),
        ("dynamodb:DeleteItem", "OUTBOX#*"),
        ("dynamodb:DeleteItem", "REPORT#*"),
        ("dynamodb:PutItem", "REPORT#*"),
    }
    assert {g[2] for g in grants(template, "AdminApiFunction")} == {"AppTable"}


def test_every_put_events_is_on_the_products_bus(template: dict[str, Any]) -> None:
    publishers = set()
    for function in (*FUNCTIONS, "ConsoleSiteFunction"):
        for statement in statements(template, function):
            if "events:PutEvents" in as_list(statement["Action"]):
                assert statement["Resource"] == {"Fn::GetAtt": ["HandoffBus", "Arn"]}, function
                publishers.add(function)

    assert publishers == {"ConversationFunction", "WakeFunction", "LiveApiFunction"}


def test_the_queue_consumer_may_touch_no_queue_but_its_own(template: dict[str, Any]) -> None:
    consumer = template["Resources"]["ConversationFunction"]["Properties"]
    (deny,) = [s for s in statements(template, "ConversationFunction") if s["Effect"] == "Deny"]

    assert consumer["Events"]["Inbound"]["Properties"]["Queue"] == {"Fn::GetAtt": ["InboundQueue", "Arn"]}
    assert (deny["Action"], deny["NotResource"]) == ("sqs:*", {"Fn::GetAtt": ["InboundQueue", "Arn"]})
    assert "Resource" not in deny


@pytest.mark.slow
def test_sams_transform_leaves_the_sqs_managed_policy_only_where_the_deny_confines_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    source = yaml_parse(TEMPLATE.read_text())
    for name, resource in source["Resources"].items():
        for uri in ("CodeUri", "ContentUri"):
            if uri in resource.get("Properties", {}):
                resource["Properties"][uri] = f"s3://artifacts/{name}"

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    resources = transform(source, {}, NoManagedPolicies())["Resources"]
    sqs_managed = {
        name
        for name, resource in resources.items()
        if resource["Type"] == "AWS::IAM::Role"
        and any(
            "AWSLambdaSQSQueueExecutionRole" in str(arn)
            for arn in resource["Properties"]["ManagedPolicyArns"]
        )
    }

    assert sqs_managed == {"ConversationFunctionRole"}
    inline = json.dumps(resources["ConversationFunctionRole"]["Properties"]["Policies"])
    assert (
        '"Effect": "Deny", "Action": "sqs:*", "NotResource": {"Fn::GetAtt": ["InboundQueue", "Arn"]}'
        in inline
    )


def test_checkov_runs_in_make_lint_and_every_accepted_finding_has_a_reason() -> None:
    makefile = (ROOT / "Makefile").read_text()
    config = (ROOT / ".checkov.yaml").read_text()
    baseline = json.loads((ROOT / ".checkov.baseline").read_text())

    assert re.search(r"^lint: .*\bcheckov\b", makefile, re.M)
    assert re.search(
        r"^checkov: \$\(CHECKOV_STAMP\)\n\t.*checkov --config-file \.checkov\.yaml$", makefile, re.M
    )
    assert (
        "requirements-dev.txt" not in re.search(r"^\$\(CHECKOV_STAMP\):.*?(?=^\S)", makefile, re.M | re.S)[0]
    )
    assert ".venv-checkov" in (ROOT / ".gitignore").read_text()
    assert "checkov" not in (ROOT / "requirements-dev.txt").read_text()
    assert "baseline: .checkov.baseline" in config and "skip-check" not in config
    accepted = {
        c for f in baseline["failed_checks"] for finding in f["findings"] for c in finding["check_ids"]
    }
    assert accepted == set(baseline["reasons"])
    assert all(len(reason) > 40 for reason in baseline["reasons"].values())


def test_the_security_section_names_every_function_it_scopes() -> None:
    guide = Path(ROOT / "docs" / "deployment.md").read_text()
    section = guide[guide.index("## Security") :]

    for function in FUNCTIONS:
        assert f"`{function}`" in section, function
