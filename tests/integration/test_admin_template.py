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
        ("GET", "/admin/report"),
    }
    assert all((r.function, r.authorized) == (ADMIN, True) for r in routes.values())
    assert function_handlers(TEMPLATE)[ADMIN] == (ROOT / "functions" / "admin_api", "app.handler")


def test_the_admin_function_reads_and_conditionally_writes_the_table_and_nothing_else(
    template: dict[str, Any],
) -> None:
    properties = template["Resources"][ADMIN]["Properties"]
    [statement] = [s for policy in properties["Policies"] for s in policy["Statement"]]

    assert set(statement["Action"]) == {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"}
    assert statement["Resource"] == {"Fn::GetAtt": ["AppTable", "Arn"]}
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
