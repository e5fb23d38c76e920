"""template.yaml: what the local run builds from it on moto, least privilege, and that SAM accepts it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import boto3
import pytest
from moto import mock_aws

from handoff.api.refusals import CONVERSATION_CONTENDED
from handoff.engine.model import BusinessMetric
from handoff.services.conversations import DELIVERY_FAILED
from handoff_local.aws import (
    LOCAL_AWS_ENVIRONMENT,
    LocalStack,
    function_handlers,
    function_routes,
    function_triggers,
    load_template,
    provision,
)
from handoff_tools.functions import ROOT, TEMPLATE

WEBHOOK_FUNCTIONS = {
    "whatsapp": "WhatsappWebhookFunction",
    "messenger": "MessengerWebhookFunction",
    "instagram": "InstagramWebhookFunction",
}
FUNCTIONS = (*WEBHOOK_FUNCTIONS.values(), "ConversationFunction", "WakeFunction", "LiveApiFunction")
DYNAMODB_WRITES = {
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:PartiQLInsert",
    "dynamodb:PartiQLUpdate",
    "dynamodb:PartiQLDelete",
}
# SAM policy templates that grant DynamoDB writes (or more) on a table.
DYNAMODB_WRITE_TEMPLATES = {"DynamoDBCrudPolicy", "DynamoDBWritePolicy", "AmazonDynamoDBFullAccess"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalStack]:
    for name, value in LOCAL_AWS_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield provision(TEMPLATE)


def resource(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    properties: dict[str, Any] = template["Resources"][logical_id].get("Properties", {})
    return properties


def statements(template: dict[str, Any], function: str) -> list[dict[str, Any]]:
    """The function's inline policy statements (SAM `Policies: - Statement: [...]`)."""
    found: list[dict[str, Any]] = []
    for policy in resource(template, function).get("Policies", []):
        if isinstance(policy, dict) and "Statement" in policy:
            found.extend(policy["Statement"])
    return found


def policy_templates(template: dict[str, Any], function: str) -> set[str]:
    """The SAM policy templates (or managed policy names) the function uses."""
    names: set[str] = set()
    for policy in resource(template, function).get("Policies", []):
        if isinstance(policy, str):
            names.add(policy)
        elif isinstance(policy, dict) and "Statement" not in policy:
            names |= set(policy)
    return names


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def actions(template: dict[str, Any], function: str) -> set[str]:
    """What the function's statements allow (a Deny takes away; it grants nothing)."""
    return {
        action
        for statement in statements(template, function)
        if statement["Effect"] == "Allow"
        for action in as_list(statement["Action"])
    }


def resources_text(statement: dict[str, Any]) -> str:
    """A statement's resources as text (intrinsics included), for substring checks."""
    return json.dumps(statement.get("Resource", statement.get("NotResource")))


# --- the local stack, built from the template ----------------------------------------------------


def test_app_table_has_keys_both_sparse_indexes_and_ttl(stack: LocalStack) -> None:
    dynamodb = boto3.client("dynamodb")

    table = dynamodb.describe_table(TableName=stack.table_name)["Table"]
    ttl = dynamodb.describe_time_to_live(TableName=stack.table_name)["TimeToLiveDescription"]

    assert stack.table_name == "async-handoff-local-AppTable"
    assert {(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]} == {
        ("pk", "HASH"),
        ("sk", "RANGE"),
    }
    indexes = {index["IndexName"]: index for index in table["GlobalSecondaryIndexes"]}
    assert set(indexes) == {"wake", "wait_expiry", "live", "sessions"}
    assert [(k["AttributeName"], k["KeyType"]) for k in indexes["wake"]["KeySchema"]] == [
        ("wake_tenant", "HASH"),
        ("wake_sort", "RANGE"),
    ]
    assert [(k["AttributeName"], k["KeyType"]) for k in indexes["wait_expiry"]["KeySchema"]] == [
        ("expiry_tenant", "HASH"),
        ("wait_expires", "RANGE"),
    ]
    assert [(k["AttributeName"], k["KeyType"]) for k in indexes["live"]["KeySchema"]] == [
        ("live_tenant", "HASH"),
        ("live_sort", "RANGE"),
    ]
    assert [(k["AttributeName"], k["KeyType"]) for k in indexes["sessions"]["KeySchema"]] == [
        ("session_tenant", "HASH"),
        ("session_last", "RANGE"),
    ]
    # the wake pass reads keys only: whom to tell, whose wait is over
    assert indexes["wake"]["Projection"]["ProjectionType"] == "KEYS_ONLY"
    assert indexes["wait_expiry"]["Projection"]["ProjectionType"] == "KEYS_ONLY"
    assert indexes["live"]["Projection"]["ProjectionType"] == "ALL"
    assert indexes["sessions"]["Projection"]["ProjectionType"] == "KEYS_ONLY"  # the key is all it needs
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}


def test_the_stack_has_one_table(template: dict[str, Any]) -> None:
    # a redelivered event is recognised by the conversation's own items (the transcript item its
    # step wrote on the condition that it was not there, its recent event ids): there is no
    # idempotency table to keep or erase
    tables = [n for n, r in template["Resources"].items() if r["Type"] == "AWS::DynamoDB::Table"]
    assert tables == ["AppTable"]


def test_inbound_queue_is_fifo_and_redrives_to_a_fifo_dead_letter_queue(stack: LocalStack) -> None:
    sqs = boto3.client("sqs")

    inbound = sqs.get_queue_attributes(QueueUrl=stack.queue_url, AttributeNames=["All"])["Attributes"]
    dead = sqs.get_queue_attributes(QueueUrl=stack.dead_letter_queue_url, AttributeNames=["All"])[
        "Attributes"
    ]

    assert stack.queue_url.endswith("/async-handoff-local-InboundQueue.fifo")
    assert inbound["FifoQueue"] == "true"
    assert inbound["ContentBasedDeduplication"] == "false"
    assert inbound["DeduplicationScope"] == "messageGroup"
    assert inbound["FifoThroughputLimit"] == "perMessageGroupId"
    assert json.loads(inbound["RedrivePolicy"]) == {
        "deadLetterTargetArn": dead["QueueArn"],
        "maxReceiveCount": 5,
    }
    assert dead["FifoQueue"] == "true"
    assert dead["MessageRetentionPeriod"] == str(14 * 24 * 3600)


def test_bus_and_secret_placeholders_exist(stack: LocalStack) -> None:
    events = boto3.client("events")
    ssm = boto3.client("ssm")

    bus = events.describe_event_bus(Name=stack.event_bus_name)
    secret = ssm.get_parameter(Name=stack.app_secret_parameter, WithDecryption=True)["Parameter"]
    token = ssm.get_parameter(Name=stack.verify_token_parameter, WithDecryption=True)["Parameter"]

    assert bus["Name"] == "async-handoff-local-HandoffBus"
    assert (secret["Type"], secret["Value"]) == ("SecureString", "local-app-secret")
    assert (token["Type"], token["Value"]) == ("SecureString", "local-verify-token")
    assert stack.app_secret_parameter == "/async-handoff/app-secret"


def test_access_tokens_go_where_the_functions_may_read_them(stack: LocalStack) -> None:
    name = stack.put_access_token("200000000000001", "token-1")

    value = boto3.client("ssm").get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]

    assert name == "/async-handoff/access-tokens/200000000000001"
    assert value == "token-1"


def test_environment_is_exactly_the_template_globals(stack: LocalStack, template: dict[str, Any]) -> None:
    declared = template["Globals"]["Function"]["Environment"]["Variables"]

    environment = stack.environment("http://127.0.0.1:8081")

    assert set(environment) == set(declared)
    assert environment["TABLE_NAME"] == stack.table_name
    assert environment["INBOUND_QUEUE_URL"] == stack.queue_url
    assert environment["EVENT_BUS_NAME"] == stack.event_bus_name
    assert environment["GRAPH_API_URL"] == "http://127.0.0.1:8081"
    assert environment["PARAMETER_PREFIX"] == stack.parameter_prefix
    for name, value in declared.items():
        if isinstance(value, str):
            assert environment[name] == value
    assert all(isinstance(value, str) for value in environment.values())


def test_no_function_adds_environment_the_local_run_would_miss(template: dict[str, Any]) -> None:
    for function in FUNCTIONS:
        assert "Environment" not in resource(template, function), function


def test_parameter_overrides_reach_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in LOCAL_AWS_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        stack = provision(TEMPLATE, "demo", parameters={"ParameterPrefix": "/demo", "LogLevel": "DEBUG"})
        stored = boto3.client("ssm").get_parameter(Name="/demo/verify-token", WithDecryption=True)

    environment = stack.environment("http://127.0.0.1:1")

    assert environment["PARAMETER_PREFIX"] == "/demo"
    assert environment["POWERTOOLS_LOG_LEVEL"] == "DEBUG"
    assert environment["TABLE_NAME"] == "demo-AppTable"
    assert stored["Parameter"]["Value"] == "local-verify-token"


# --- routes, handlers and triggers read from the template ----------------------------------------


def test_routes_are_the_three_webhooks_open_and_the_eight_live_routes_authorized() -> None:
    routes = {(route.method, route.path): route for route in function_routes(TEMPLATE)}
    webhooks = {key: route for key, route in routes.items() if key[1].startswith("/webhooks/")}
    live = {key: route for key, route in routes.items() if key[1].startswith("/live/")}

    assert set(webhooks) == {
        (method, f"/webhooks/{channel}") for method in ("GET", "POST") for channel in WEBHOOK_FUNCTIONS
    }
    for (_, path), route in webhooks.items():
        channel = path.removeprefix("/webhooks/")
        assert (route.function, route.authorized) == (WEBHOOK_FUNCTIONS[channel], False)
        assert route.code_uri == ROOT / "functions" / f"{channel}_webhook"
    assert set(live) == {
        ("GET", "/live/conversations"),
        ("GET", "/live/conversations/{conversation_id}"),
        ("GET", "/live/conversations/{conversation_id}/media/{line}"),
        ("POST", "/live/conversations/{conversation_id}/take"),
        ("POST", "/live/conversations/{conversation_id}/reply"),
        ("POST", "/live/conversations/{conversation_id}/template"),
        ("POST", "/live/conversations/{conversation_id}/close"),
        ("PUT", "/live/presence"),
        ("GET", "/live/templates"),
        ("GET", "/live/canned-answers"),
        ("GET", "/live/agents"),
        ("POST", "/live/conversations/{conversation_id}/handover"),
        ("POST", "/live/push-ticket"),
    }
    for route in live.values():
        assert (route.function, route.authorized) == ("LiveApiFunction", True)
        assert route.code_uri == ROOT / "functions" / "live_api"
    assert {path.split("/")[1] for _, path in routes} <= {"webhooks", "live", "admin"}


def test_a_route_matches_its_path_parameters() -> None:
    take = next(route for route in function_routes(TEMPLATE) if route.path.endswith("/take"))

    assert take.match("POST", "/live/conversations/c-1/take") == {"conversation_id": "c-1"}
    assert take.match("GET", "/live/conversations/c-1/take") is None
    assert take.match("POST", "/live/conversations/c-1/close") is None


def test_handlers_and_triggers_follow_the_template() -> None:
    handlers = function_handlers(TEMPLATE)
    triggers = {(trigger.function, trigger.kind): trigger for trigger in function_triggers(TEMPLATE)}

    assert {name: handlers[name] for name in FUNCTIONS} == {
        "WhatsappWebhookFunction": (ROOT / "functions" / "whatsapp_webhook", "app.handler"),
        "MessengerWebhookFunction": (ROOT / "functions" / "messenger_webhook", "app.handler"),
        "InstagramWebhookFunction": (ROOT / "functions" / "instagram_webhook", "app.handler"),
        "ConversationFunction": (ROOT / "functions" / "conversation", "app.handler"),
        "WakeFunction": (ROOT / "functions" / "wake", "app.handler"),
        "LiveApiFunction": (ROOT / "functions" / "live_api", "app.handler"),
    }
    assert set(triggers) == {
        ("ConversationFunction", "sqs"),
        ("WakeFunction", "schedule"),
        ("WakeFunction", "eventbridge"),
        ("LivePushFunction", "eventbridge"),
    }
    assert triggers[("ConversationFunction", "sqs")].source == "InboundQueue"
    assert triggers[("ConversationFunction", "sqs")].batch_size == 10
    assert triggers[("WakeFunction", "schedule")].schedule == "rate(1 minute)"
    rule = triggers[("WakeFunction", "eventbridge")]
    assert rule.source == "HandoffBus"
    assert rule.matches({"source": "async-handoff.live", "detail-type": "AgentAvailable", "detail": {}})
    assert not rule.matches({"source": "async-handoff.live", "detail-type": "AgentAway"})
    # and a pass cut short by its time going on at once from its place
    assert rule.matches({"source": "async-handoff.wake", "detail-type": "WakePassContinues", "detail": {}})
    # every conversation event, and nothing else, reaches the push function (Live updates)
    push = triggers[("LivePushFunction", "eventbridge")]
    assert push.source == "HandoffBus"
    assert push.matches({"source": "async-handoff.conversations", "detail-type": "UserMessageReceived"})
    assert not push.matches({"source": "async-handoff.live", "detail-type": "AgentAvailable"})


# --- least privilege and operational settings ----------------------------------------------------


def test_webhook_routes_are_open_and_every_live_route_needs_the_jwt(template: dict[str, Any]) -> None:
    api = resource(template, "HttpApi")
    authorizer = api["Auth"]["Authorizers"]["AgentsAuthorizer"]

    assert api["Auth"]["DefaultAuthorizer"] == "AgentsAuthorizer"
    assert authorizer["IdentitySource"] == "$request.header.Authorization"
    assert authorizer["JwtConfiguration"]["audience"] == [{"Ref": "AgentsUserPoolClient"}]
    assert "${AgentsUserPool}" in authorizer["JwtConfiguration"]["issuer"]["Fn::Sub"]
    for function in FUNCTIONS:
        for event in resource(template, function).get("Events", {}).values():
            if event["Type"] != "HttpApi":
                continue
            path = event["Properties"]["Path"]
            auth = event["Properties"].get("Auth", {}).get("Authorizer")
            if path.startswith("/webhooks/"):
                assert auth == "NONE", path
            else:
                assert path.startswith("/live/"), path
                assert auth in (None, "AgentsAuthorizer"), path


@pytest.mark.parametrize("function", WEBHOOK_FUNCTIONS.values())
def test_webhook_cannot_write_data_nor_read_access_tokens(template: dict[str, Any], function: str) -> None:
    granted = actions(template, function)

    assert not granted & DYNAMODB_WRITES
    # the channel account's routing item only (tests/integration/test_least_privilege.py)
    assert {a for a in granted if a.startswith("dynamodb:")} == {"dynamodb:GetItem"}
    assert {a for a in granted if a.startswith("sqs:")} == {"sqs:SendMessage"}
    assert policy_templates(template, function) == set()
    assert "events:PutEvents" not in granted
    ssm = [s for s in statements(template, function) if "ssm:GetParameter" in as_list(s["Action"])]
    assert ssm
    for statement in ssm:
        text = resources_text(statement)
        assert "access-tokens" not in text
        assert "/app-secret" in text
        assert "/verify-token" in text


def test_the_three_webhooks_have_the_same_least_privilege(template: dict[str, Any]) -> None:
    whatsapp, messenger, instagram = (resource(template, f) for f in WEBHOOK_FUNCTIONS.values())

    assert messenger["Policies"] == whatsapp["Policies"] == instagram["Policies"]
    assert "MessengerWebhookUrl" in template["Outputs"] and "InstagramWebhookUrl" in template["Outputs"]
    body = resource(template, "Dashboard")["DashboardBody"]["Fn::Sub"]
    assert all("${" + f + "}" in body for f in WEBHOOK_FUNCTIONS.values())


def test_wake_writes_only_the_outbox_and_reads_only_access_tokens(template: dict[str, Any]) -> None:
    # the wake pass reads, and keeps where it stopped for want of time (its cursor); its outbox sweep
    # leases, paces, sends and removes outbox items, and marks the transcript line of a message Meta
    # refused for good
    writing = [s for s in statements(template, "WakeFunction") if set(as_list(s["Action"])) & DYNAMODB_WRITES]
    assert [(s["Action"], s["Condition"]) for s in writing] == [
        (
            ["dynamodb:PutItem", "dynamodb:DeleteItem"],
            {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["WAKE#*"]}},
        ),
        (
            "dynamodb:UpdateItem",
            {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["CONV#*", "OUTBOX#*"]}},
        ),
        # the sweep's sends take their slots in the number's schedule like every send
        ("dynamodb:UpdateItem", {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["PACE#*"]}}),
        ("dynamodb:DeleteItem", {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["OUTBOX#*"]}}),
    ]
    ssm = [s for s in statements(template, "WakeFunction") if "ssm:GetParameter" in as_list(s["Action"])]
    assert ssm and all("access-tokens/*" in resources_text(s) for s in ssm)
    assert policy_templates(template, "WakeFunction") == set()
    assert {a for a in actions(template, "WakeFunction") if a.startswith(("sqs:", "events:"))} == {
        "sqs:SendMessage",
        "events:PutEvents",
    }


def test_no_wildcard_actions_no_scan_and_secrets_only_under_the_prefix(template: dict[str, Any]) -> None:
    for function in FUNCTIONS:
        granted = actions(template, function)
        assert "dynamodb:Scan" not in granted, function
        assert not any(a == "*" or a.endswith(":*") for a in granted), function
        assert not policy_templates(template, function) & DYNAMODB_WRITE_TEMPLATES, function
        for statement in statements(template, function):
            if statement["Effect"] == "Deny":  # a wildcard only to take away: the consumer's other queues
                assert (function, statement["Action"]) == ("ConversationFunction", "sqs:*")
        for statement in statements(template, function):
            if any(action.startswith("ssm:") for action in as_list(statement["Action"])):
                for arn in as_list(statement["Resource"]):
                    assert ":parameter${ParameterPrefix}/" in arn["Fn::Sub"], function
            if "kms:Decrypt" in as_list(statement["Action"]):
                condition = statement["Condition"]["StringEquals"]["kms:ViaService"]
                assert condition == {"Fn::Sub": "ssm.${AWS::Region}.${AWS::URLSuffix}"}, function


def test_functions_that_send_have_the_secrets_they_need(template: dict[str, Any]) -> None:
    def parameters(path: str) -> str:
        arn = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${ParameterPrefix}"
        return json.dumps({"Fn::Sub": f"{arn}/{path}"})

    # the conversation function also reads the tenants' bot secrets (an HTTP bot's key); Live does not
    for function, paths in (
        ("ConversationFunction", ["access-tokens/*", "bots/*"]),
        ("LiveApiFunction", ["access-tokens/*"]),
    ):
        ssm = [s for s in statements(template, function) if "ssm:GetParameter" in as_list(s["Action"])]
        assert sorted(resources_text(s) for s in ssm) == sorted(map(parameters, paths)), function
        bus = [s["Resource"] for s in statements(template, function) if s["Action"] == "events:PutEvents"]
        assert bus == [{"Fn::GetAtt": ["HandoffBus", "Arn"]}], function


def test_queue_visibility_is_at_least_six_times_the_consumer_timeout(template: dict[str, Any]) -> None:
    timeout = resource(template, "ConversationFunction").get(
        "Timeout", template["Globals"]["Function"]["Timeout"]
    )
    queue = resource(template, "InboundQueue")
    event = resource(template, "ConversationFunction")["Events"]["Inbound"]["Properties"]

    assert queue["VisibilityTimeout"] >= 6 * timeout
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 5
    assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert event["BatchSize"] == 10


def test_the_consumers_concurrency_is_capped_by_a_parameter(template: dict[str, Any]) -> None:
    event = resource(template, "ConversationFunction")["Events"]["Inbound"]["Properties"]
    parameter = template["Parameters"]["ConversationMaxConcurrency"]

    assert event["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "ConversationMaxConcurrency"}}
    # Lambda accepts 2 to 1000 for an SQS source's MaximumConcurrency; 25 reaches one WhatsApp
    # number's rate with room (make bench-scale: 10 instances fall short of it, 25 to 100 reach it)
    assert (parameter["Type"], parameter["Default"], parameter["MinValue"]) == ("Number", 25, 2)
    assert parameter["MaxValue"] == 1000


def test_the_consumer_knows_the_queues_receive_limit(template: dict[str, Any]) -> None:
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    queue = resource(template, "InboundQueue")

    assert int(variables["INBOUND_MAX_RECEIVES"]) == queue["RedrivePolicy"]["maxReceiveCount"]
    assert int(variables["BOT_ATTEMPTS"]) < queue["RedrivePolicy"]["maxReceiveCount"]


def test_each_channels_send_rate_is_a_parameter_with_metas_limit_as_default(template: dict[str, Any]) -> None:
    from handoff.runtime.settings import Settings

    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    parameters = template["Parameters"]
    defaults = Settings.model_fields
    for channel, parameter, meta_limit in (
        ("WHATSAPP", "WhatsappSendsPerSecond", 80),  # per phone number, by default
        ("MESSENGER", "MessengerSendsPerSecond", 300),  # per page, text
        ("INSTAGRAM", "InstagramSendsPerSecond", 300),  # per professional account, text
    ):
        assert variables[f"{channel}_SENDS_PER_SECOND"] == {"Ref": parameter}
        assert (parameters[parameter]["Type"], parameters[parameter]["Default"]) == ("Number", meta_limit)
        assert defaults[f"{channel.lower()}_sends_per_second"].default == meta_limit


def test_a_batchs_sends_fit_in_the_functions_that_send(template: dict[str, Any]) -> None:
    """No send starts unless its longest call (the Graph client's connect and read timeouts) ends
    SEND_MARGIN before the invocation does (pacing.Sending), so however many sends a batch owes it
    ends in time; each function that sends must leave room for its slot's wait and one call."""
    from handoff.adapters.graph import LONGEST_CALL
    from handoff.services.live import SEND_WINDOW
    from handoff.services.pacing import HORIZON, SEND_MARGIN

    def timeout(function: str) -> float:
        return float(resource(template, function).get("Timeout", template["Globals"]["Function"]["Timeout"]))

    one_send = (HORIZON + LONGEST_CALL + SEND_MARGIN).total_seconds()
    assert timeout("ConversationFunction") >= 3 * one_send  # 30 s: three sends even at their longest
    assert timeout("WakeFunction") >= one_send  # the sweep
    # the Live API gives its sends a window of its own (it has no Lambda context to read)
    assert SEND_WINDOW.total_seconds() + SEND_MARGIN.total_seconds() <= timeout("LiveApiFunction")
    assert SEND_WINDOW >= HORIZON + LONGEST_CALL  # an agent's reply waits its slot and still goes
    assert resource(template, "InboundQueue")["VisibilityTimeout"] >= 6 * timeout("ConversationFunction")


def test_every_function_logs_to_its_own_group_with_retention(template: dict[str, Any]) -> None:
    for function in FUNCTIONS:
        group = resource(template, function)["LoggingConfig"]["LogGroup"]["Ref"]
        properties = resource(template, group)
        assert template["Resources"][group]["Type"] == "AWS::Logs::LogGroup"
        assert properties["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        assert properties["LogGroupName"]["Fn::Sub"].startswith("/aws/lambda/")


def test_customer_managed_keys_are_an_option_that_encrypts_the_table_the_secret_and_every_log_group(
    template: dict[str, Any],
) -> None:
    parameter = template["Parameters"]["CustomerManagedKeys"]
    key = template["Resources"]["DataKey"]
    groups = {n: r for n, r in template["Resources"].items() if r["Type"] == "AWS::Logs::LogGroup"}
    (logs,) = [
        s for s in key["Properties"]["KeyPolicy"]["Statement"] if s["Sid"].startswith("CloudWatchLogs")
    ]

    assert (parameter["Default"], parameter["AllowedValues"]) == ("false", ["true", "false"])
    assert template["Conditions"]["UseCustomerManagedKeys"] == {
        "Fn::Equals": [{"Ref": "CustomerManagedKeys"}, "true"]
    }
    assert (key["Type"], key["Condition"]) == ("AWS::KMS::Key", "UseCustomerManagedKeys")
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "Retain"  # events written under it stay readable
    assert template["Resources"]["DataKeyAlias"]["Condition"] == "UseCustomerManagedKeys"
    assert len(groups) >= 9
    for name, group in groups.items():
        assert group["Properties"]["KmsKeyId"] == {
            "Fn::If": ["UseCustomerManagedKeys", {"Fn::GetAtt": ["DataKey", "Arn"]}, {"Ref": "AWS::NoValue"}]
        }, name
        group_name = group["Properties"]["LogGroupName"]["Fn::Sub"]
        allowed = logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
        assert any(
            a["Fn::Sub"].endswith(":log-group:" + group_name.rsplit("/", 1)[0] + "/*") for a in allowed
        ), name
    # CloudWatch Logs may use the key for this stack's log groups; the account's principals only
    # through DynamoDB and Secrets Manager; no one else but the account
    assert logs["Principal"] == {"Service": {"Fn::Sub": "logs.${AWS::Region}.${AWS::URLSuffix}"}}
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    assert [s["Principal"] for s in statements] == [
        {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}},
        {"AWS": "*"},
        {"AWS": "*"},
        logs["Principal"],
    ]
    for statement, service in zip(statements[1:3], ("dynamodb", "secretsmanager"), strict=True):
        assert statement["Condition"]["StringEquals"] == {
            "kms:CallerAccount": {"Ref": "AWS::AccountId"},
            "kms:ViaService": {"Fn::Sub": service + ".${AWS::Region}.${AWS::URLSuffix}"},
        }
    on_the_key = {"Fn::If": ["UseCustomerManagedKeys", {"Ref": "DataKey"}, {"Ref": "AWS::NoValue"}]}
    table = template["Resources"]["AppTable"]["Properties"]["SSESpecification"]
    assert table == {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": on_the_key}
    assert template["Resources"]["PseudonymKey"]["Properties"]["KmsKeyId"] == on_the_key


def test_every_function_has_error_and_throttle_alarms_to_the_topic(template: dict[str, Any]) -> None:
    alarms = [
        r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"
    ]
    watched = {
        (a["MetricName"], a["Dimensions"][0]["Value"]["Ref"])
        for a in alarms
        if a.get("Namespace") == "AWS/Lambda"
    }

    for function in FUNCTIONS:
        assert ("Errors", function) in watched
        assert ("Throttles", function) in watched
    assert {(a.get("Namespace"), a.get("MetricName")) for a in alarms} >= {
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("AWS/ApiGateway", "5xx"),
    }
    assert any("Metrics" in a for a in alarms)  # the DynamoDB throttle alarm (metric math)
    assert all(a["AlarmActions"] == [{"Ref": "AlarmTopic"}] for a in alarms)


def test_dashboard_shows_the_business_metrics_as_powertools_emits_them(template: dict[str, Any]) -> None:
    body = resource(template, "Dashboard")["DashboardBody"]["Fn::Sub"]
    widgets = json.loads(re.sub(r"\$\{([^}]+)\}", r"\1", body))["widgets"]
    rows = [row for widget in widgets for row in widget["properties"]["metrics"]]
    business = {
        row[1]
        for row in rows
        if row[0] in ("AsyncHandoff", ".") and row[2:4] in (["service", "async-handoff"], [".", "."])
    }

    emitted = set(get_args(BusinessMetric)) | {DELIVERY_FAILED, CONVERSATION_CONTENDED}
    assert emitted >= {"HandoffOffered", "UserWoken", "TimeToAgent", "DeliveryFailed"}
    assert business >= emitted, f"not on the dashboard: {emitted - business}"
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["POWERTOOLS_SERVICE_NAME"] == "async-handoff"
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "AsyncHandoff"


# --- SAM itself ------------------------------------------------------------------------------------


def _sam(*args: str, cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    bin_dir = Path(sys.executable).parent
    environment = {
        **os.environ,
        "SAM_CLI_TELEMETRY": "0",
        # `sam build` looks for python3.13 on PATH: use this interpreter's.
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    return subprocess.run(
        [str(bin_dir / "sam"), *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.slow
def test_sam_validate_lint_is_clean() -> None:
    result = _sam("validate", "--lint", "--template-file", str(TEMPLATE), cwd=ROOT, timeout=300)

    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_sam_build_builds_the_layer_with_the_handoff_package(tmp_path: Path) -> None:
    build_dir = tmp_path / "build"
    started = time.monotonic()

    # Run from tmp_path: sam keeps its scratch (.aws-sam/deps) under the working directory.
    result = _sam(
        "build",
        "--template-file",
        str(TEMPLATE),
        "--build-dir",
        str(build_dir),
        "--cache-dir",
        str(tmp_path / "cache"),
        cwd=tmp_path,
        timeout=1200,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    layer = build_dir / "HandoffLayer" / "python"
    assert (layer / "handoff" / "__init__.py").is_file()
    assert (layer / "aws_lambda_powertools").is_dir()
    assert not (layer / "aws_xray_sdk").exists()  # no X-Ray SDK: its recorder slows every cold start
    assert list(layer.glob("pydantic_core/*aarch64*.so")), "pydantic-core must be built for arm64"
    for function in FUNCTIONS:
        assert (build_dir / function).is_dir()
    # the console's publisher: the console's files as its code, its handler in the layer
    assert (layer / "handoff" / "deploy" / "console_site.py").is_file()
    assert not (layer / "handoff_tools").exists()  # the operator's commands never ship in the layer
    console = build_dir / "ConsoleSiteFunction"
    published = {path.name for path in (ROOT / "console").iterdir()}  # the page, its style, its modules
    assert {path.name for path in console.iterdir()} >= published >= {"index.html", "main.js", "console.css"}
    for name in published:
        assert (console / name).read_bytes() == (ROOT / "console" / name).read_bytes()
    print(f"sam build took {time.monotonic() - started:.0f} s")


def test_the_deployment_guide_names_every_function_parameter_and_output(template: dict[str, Any]) -> None:
    guide = (ROOT / "docs" / "deployment.md").read_text()
    functions = [
        name for name, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"
    ]

    missing = [
        name
        for name in (*functions, *template["Parameters"], *template["Outputs"])
        if f"`{name}`" not in guide
    ]
    assert missing == [], f"docs/deployment.md does not mention {missing}"


def test_totp_mfa_is_a_parameter_of_the_pool_on_by_default(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["AgentsMfa"]
    pool = resource(template, "AgentsUserPool")

    # Cognito sets MFA per pool: ON by default is what makes it required of administrators
    assert (parameter["Default"], parameter["AllowedValues"]) == ("ON", ["OFF", "OPTIONAL", "ON"])
    assert pool["MfaConfiguration"] == {"Ref": "AgentsMfa"}
    assert pool["EnabledMfas"] == {
        "Fn::If": ["HasAgentsMfa", ["SOFTWARE_TOKEN_MFA"], {"Ref": "AWS::NoValue"}]
    }
    assert template["Conditions"]["HasAgentsMfa"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AgentsMfa"}, "OFF"]}]
    }
    assert "SmsConfiguration" not in pool  # TOTP only: no SMS to pay for or to intercept


def test_tokens_carry_tenant_and_seats_that_agents_cannot_change(template: dict[str, Any]) -> None:
    pool = {a["Name"]: a for a in resource(template, "AgentsUserPool")["Schema"]}
    client = resource(template, "AgentsUserPoolClient")

    assert pool["tenant_id"]["Mutable"] is False
    seats = pool["seats"]
    assert (seats["AttributeDataType"], seats["Mutable"]) == ("Number", True)
    assert seats["NumberAttributeConstraints"] == {"MinValue": "1", "MaxValue": "100"}
    assert {"custom:tenant_id", "custom:seats"} <= set(client["ReadAttributes"])
    # without WriteAttributes a client may write every mutable attribute: agents could raise their seats
    assert "WriteAttributes" in client
    assert not {"custom:tenant_id", "custom:seats"} & set(client["WriteAttributes"])
    # the display name other agents see (issue 13): in the ID token, set by administrators only
    assert "name" in client["ReadAttributes"] and "name" not in client["WriteAttributes"]


def test_the_local_run_evaluates_the_templates_conditions_as_cloudformation_does() -> None:
    from handoff_local.aws import _Resolver

    template = {
        "Parameters": {"Keys": {"Default": "false"}, "Name": {"Default": ""}},
        "Conditions": {
            "UseKeys": {"Fn::Equals": [{"Ref": "Keys"}, "true"]},
            "Named": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Name"}, ""]}]},
            "Both": {"Fn::And": [{"Condition": "UseKeys"}, {"Condition": "Named"}]},
            "Either": {"Fn::Or": [{"Condition": "UseKeys"}, {"Condition": "Named"}]},
        },
    }
    sse = {"SSEEnabled": True, "KMSMasterKeyId": {"Fn::If": ["UseKeys", "key-1", {"Ref": "AWS::NoValue"}]}}

    off = _Resolver(template, pseudo={}, parameters={})
    assert off.value(sse) == {"SSEEnabled": True}
    assert off.value([{"Fn::If": ["Named", "a", {"Ref": "AWS::NoValue"}]}, "b"]) == ["b"]
    assert (off.condition("Both"), off.condition("Either")) == (False, False)
    on = _Resolver(template, pseudo={}, parameters={"Keys": "true", "Name": "x"})
    assert on.value(sse) == {"SSEEnabled": True, "KMSMasterKeyId": "key-1"}
    assert (on.condition("Both"), on.condition("Either")) == (True, True)


def test_webhook_deliveries_have_throttling_sized_for_metas_bursts(template: dict[str, Any]) -> None:
    """Each reply brings three status webhooks (sent, delivered, read): users told at a WhatsApp
    number's 80 a second bring 240 deliveries a second, above the other routes' 100. Each webhook's
    POST route has limits of its own, as stack parameters; a refused delivery Meta retries for days."""
    parameters = template["Parameters"]
    whatsapp_rate = int(parameters["WhatsappSendsPerSecond"]["Default"])
    assert int(parameters["WebhookThrottlingRateLimit"]["Default"]) >= 3 * whatsapp_rate
    assert int(parameters["WebhookThrottlingBurstLimit"]["Default"]) >= int(
        parameters["WebhookThrottlingRateLimit"]["Default"]
    )
    for function in ("WhatsappWebhookFunction", "MessengerWebhookFunction", "InstagramWebhookFunction"):
        deliver = template["Resources"][function]["Properties"]["Events"]["Deliver"]["Properties"]
        assert deliver["Method"] == "POST"
        assert deliver["RouteSettings"] == {
            "ThrottlingRateLimit": {"Ref": "WebhookThrottlingRateLimit"},
            "ThrottlingBurstLimit": {"Ref": "WebhookThrottlingBurstLimit"},
        }


def test_the_webhooks_are_untraced_and_every_other_function_traced(template: dict[str, Any]) -> None:
    """X-Ray bills each trace: the webhooks, most of the invocations (Meta's statuses) and the least
    of the work, pass through (Meta's requests carry no trace); the rest inherit `Active`."""
    assert template["Globals"]["Function"]["Tracing"] == "Active"
    webhooks = {"WhatsappWebhookFunction", "MessengerWebhookFunction", "InstagramWebhookFunction"}
    functions = {
        name: r["Properties"]
        for name, r in template["Resources"].items()
        if r["Type"] == "AWS::Serverless::Function"
    }
    assert webhooks < functions.keys()
    for name, properties in functions.items():
        assert properties.get("Tracing", "Active") == ("PassThrough" if name in webhooks else "Active"), name
