"""template.yaml's admin API: routes behind the JWT, least privilege, logs and alarms, report retention."""

from __future__ import annotations

from typing import Any

import pytest

from handoff_local.aws import function_handlers, function_routes, load_template
from handoff_tools.functions import ROOT, TEMPLATE

ADMIN = "AdminApiFunction"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


def test_every_admin_route_needs_the_jwt_and_reaches_the_admin_function() -> None:
    routes = {(r.method, r.path): r for r in function_routes(TEMPLATE) if r.path.startswith("/admin/")}

    assert set(routes) == {
        ("GET", "/admin/config"),
        ("PUT", "/admin/config"),
        ("GET", "/admin/rules/{channel}"),
        ("PUT", "/admin/rules/{channel}"),
        ("DELETE", "/admin/rules/{channel}"),
        ("GET", "/admin/messages/{language}"),
        ("PUT", "/admin/messages/{language}"),
        ("GET", "/admin/intents"),
        ("PUT", "/admin/intents"),
        ("GET", "/admin/bot"),
        ("PUT", "/admin/bot"),
        ("GET", "/admin/agent-seats"),
        ("PUT", "/admin/agent-seats"),
        ("GET", "/admin/agent-templates"),
        ("PUT", "/admin/agent-templates"),
        ("GET", "/admin/canned-answers"),
        ("PUT", "/admin/canned-answers"),
        ("POST", "/admin/erasures"),
        ("GET", "/admin/report"),
    }
    assert all((r.function, r.authorized) == (ADMIN, True) for r in routes.values())
    assert function_handlers(TEMPLATE)[ADMIN] == (ROOT / "functions" / "admin_api", "app.handler")


def test_the_admin_function_reads_and_conditionally_writes_the_table_and_nothing_else(
    template: dict[str, Any],
) -> None:
    properties = template["Resources"][ADMIN]["Properties"]
    statements = [s for policy in properties["Policies"] for s in policy["Statement"]]
    table = {"Fn::GetAtt": ["AppTable", "Arn"]}

    def leading(*patterns: str) -> dict[str, Any]:
        return {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": list(patterns)}}

    # the pseudonym key; its tenant's config item (TENANT#{tenant}) read and written, its report's
    # rows read; an erasure's items found, deleted and report records put back anonymous. Which
    # tenant is the caller's is the code's to keep (the role is every tenant's)
    assert [(s["Effect"], s["Action"], s["Resource"], s.get("Condition")) for s in statements] == [
        ("Allow", "secretsmanager:GetSecretValue", {"Ref": "PseudonymKey"}, None),
        ("Allow", ["dynamodb:GetItem", "dynamodb:PutItem"], table, leading("TENANT#*")),
        ("Allow", "dynamodb:Query", table, leading("REPORT#*")),
        ("Allow", "dynamodb:GetItem", table, leading("CONV#*", "ID#*", "REPORT#*")),
        ("Allow", "dynamodb:Query", table, leading("CONV#*", "OUTBOX#*")),
        ("Allow", "dynamodb:DeleteItem", table, leading("CONV#*", "ID#*", "OUTBOX#*", "REPORT#*")),
        ("Allow", "dynamodb:PutItem", table, leading("REPORT#*")),
    ]
    assert "Environment" not in properties


def test_the_admin_function_logs_with_retention_and_is_alarmed(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    group = resources[ADMIN]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    alarms = [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::CloudWatch::Alarm" and r["Properties"].get("Namespace") == "AWS/Lambda"
    ]

    assert resources[group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    watched = {(a["MetricName"], a["Dimensions"][0]["Value"]["Ref"]) for a in alarms}
    assert {("Errors", ADMIN), ("Throttles", ADMIN)} <= watched


def test_report_retention_is_a_parameter_every_function_gets(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["ReportRetentionDays"]

    assert parameter["Default"] == 400
    assert template["Globals"]["Function"]["Environment"]["Variables"]["REPORT_RETENTION_DAYS"] == {
        "Ref": "ReportRetentionDays"
    }
