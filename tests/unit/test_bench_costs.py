"""The bench's cost model (bench/costs.py): the functions as template.yaml declares them, what a
request is billed as, usage priced, and the console's cost per agent-hour (bench/wake_pass.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench import costs, wake_pass

from handoff_local.aws import load_template
from handoff_tools.functions import TEMPLATE


def test_the_functions_memory_architecture_and_log_level_come_from_the_template() -> None:
    functions = costs.Functions.from_template(TEMPLATE)
    template = load_template(TEMPLATE)
    defaults = template["Globals"]["Function"]
    assert defaults["Architectures"] == ["arm64"] and functions.gb_second is costs.LAMBDA_ARM_GB_SECOND
    assert functions.memory_mb["conversation"] == defaults["MemorySize"]
    assert functions.log_level == template["Parameters"]["LogLevel"]["Default"]
    assert functions.metrics_namespace and functions.service
    assert functions.access_log_format is not None and "$context.routeKey" in functions.access_log_format


def test_sqs_and_eventbridge_bill_each_64_kb() -> None:
    small = {"Entries": [{"Id": "1", "MessageBody": "x" * 1000}, {"Id": "2", "MessageBody": "y" * 1000}]}
    large = {"Entries": [{"Id": "1", "MessageBody": "x" * 70_000}]}
    assert costs.billed_requests("sqs", "SendMessageBatch", small) == 1
    assert costs.billed_requests("sqs", "SendMessageBatch", large) == 2
    assert costs.billed_requests("sqs", "ReceiveMessage", {}) == 1
    events = {"Entries": [{"Source": "s", "DetailType": "d", "Detail": "{}"}] * 3}
    assert costs.billed_requests("events", "PutEvents", events) == 3
    assert costs.billed_requests("dynamodb", "Query", {}) == 1


def test_usage_is_priced_per_service() -> None:
    functions = costs.Functions.from_template(TEMPLATE)
    use = costs.Usage(
        dynamodb_write_units=2_000_000, dynamodb_read_units=8_000_000, lambda_gb_seconds=1000, log_bytes=2**30
    )
    lines = {line.service: line.dollars for line in costs.priced(use, functions)}
    assert lines["DynamoDB writes"] == pytest.approx(2 * 0.625)
    assert lines["DynamoDB reads"] == pytest.approx(8 * 0.125)
    assert lines["Lambda duration"] == pytest.approx(1000 * 0.0000133334)
    assert lines["CloudWatch Logs ingestion"] == pytest.approx(0.50)
    assert costs.total(costs.priced(use.scaled(0.5), functions)) == pytest.approx(sum(lines.values()) / 2)
    assert (use + use).dynamodb_write_units == 4_000_000


def test_an_access_log_line_is_the_templates_format_filled_in() -> None:
    functions = costs.Functions.from_template(TEMPLATE)
    invocations = costs.Invocations(functions)
    invocations.http("POST /webhooks/whatsapp", 200, 0, 0.012)
    assert invocations.http_requests == {"POST /webhooks/whatsapp": 1}
    assert 150 < invocations.access_log_bytes < 600
    with invocations.timing("conversation"):
        pass
    assert invocations.milliseconds == {"conversation": [1]}  # rounded up to the millisecond
    assert invocations.gb_seconds() == pytest.approx(0.001 * functions.memory_mb["conversation"] / 1024)
    assert invocations.platform_log_bytes["conversation"] > 0


def test_the_consoles_requests_come_from_console_pushs_json_when_given(tmp_path: Path) -> None:
    figures = {
        "requests_per_agent_hour_quiet": 310,
        "requests_per_agent_hour_with_messages": 2400,
        "quiet_seconds": 60.0,
        "busy_seconds": 36.0,
        "socket_frames": 10,
        "requests_by_route": {"GET /live/conversations": 10, "GET /live/conversations/{id}": 10},
    }
    path = tmp_path / "console.json"
    path.write_text(json.dumps({"polling": {}, "push": figures}), encoding="utf-8")
    rates = wake_pass.console_rates(path)
    assert (rates.quiet, rates.writing, rates.frames_per_hour) == (310, 2400, pytest.approx(1000))

    prices = {"list": 0.001, "list_304": 0.001, "conversation": 0.00001, "heartbeat": 0.000002}
    hour = wake_pass.agent_hour({k: {"dollars": v} for k, v in prices.items()}, rates, "dollars")
    socket, frames = costs.WEBSOCKET_CONNECTION_MINUTE.of(60), costs.WEBSOCKET_MESSAGE.of(1000)
    assert hour["writing"] == pytest.approx(1200 * 0.001 + 1200 * 0.00001 + socket + frames)
    # quiet: the list once a minute (the console's safety refresh), the rest as the dearer other request
    assert hour["quiet"] == pytest.approx(60 * 0.001 + 250 * 0.00001 + socket)
    assert hour["quiet"] < hour["quiet_upper_bound"] == pytest.approx(310 * 0.001 + socket)

    # without the file: docs/console.md's figures, and the report says so
    assert "docs/console.md" in wake_pass.console_rates(tmp_path / "missing.json").source
