"""The benches on small runs: throughput (no Scan, one Graph request per message, DynamoDB requests
bounded, capacity units and cost per message), the handlers' import times, bench-scale, and Live
with users waiting."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from bench_process import ROOT, run_bench

from handoff_local.aws import function_handlers
from handoff_tools.functions import TEMPLATE

# Measured: 3 requests per inbound text (the conversation's GetItem, its TransactWriteItems, the outbox
# DeleteItem once Meta accepted the answer; the send comes from the instance's own part of the number's
# rate, with no write) plus the directory reads each process caches (tenant config, channel account):
# 3.15 at 20 messages. 3.3 leaves room for those one-off reads and a send slot taken now and then,
# and fails as soon as any step adds one request per message (4.1).
DYNAMODB_REQUESTS_PER_MESSAGE_BOUND = 3.3


def test_a_small_bench_run(tmp_path: Path) -> None:
    # Given a bench of 20 texts from 4 users, 4 status deliveries of each kind
    arguments = [
        "--messages", "20", "--users", "4", "--bot-messages", "8", "--status-deliveries", "4",
    ]  # fmt: skip

    # When it runs as `make bench` runs it (its own process: it patches botocore and starts moto)
    result, figures = run_bench("bench.throughput", arguments, tmp_path / "bench.json")

    # Then every check passed, nothing scanned, each message got one answer and few DynamoDB requests
    assert figures["ok"] and all(check["ok"] for check in figures["checks"].values())
    assert figures["scans"] == 0
    assert "Scan" not in figures["aws_requests"]["dynamodb"]
    assert figures["graph_requests_per_message"] == 1
    assert figures["dynamodb_per_message_total"] <= DYNAMODB_REQUESTS_PER_MESSAGE_BOUND
    # steady answers leave from the instance's own part of the number's rate: few shared slots taken
    assert figures["dynamodb_per_message"].get("UpdateItem (send slot)", 0) <= 0.25
    # and the own-bot part: the HTTP bot is asked once per message, and costs no DynamoDB request
    own_bot = figures["own_bot"]
    assert (
        own_bot["ok"]
        and own_bot["http"]["bot_per_message"] == 1
        and own_bot["intents"]["bot_per_message"] == 0
    )
    assert own_bot["http"]["dynamodb_per_message"] == own_bot["intents"]["dynamodb_per_message"]
    assert own_bot["http"]["graph_per_message"] == own_bot["intents"]["graph_per_message"] == 1
    assert "added by the HTTP bot" in result.stdout
    # and DynamoDB's capacity units, per message and in the steady state, against issue 14's goals
    units = figures["dynamodb_units"]
    assert units["write_units_per_message"] == pytest.approx(
        units["write_units_per_message_table"] + units["write_units_per_message_indexes"]
    )
    writes = sum(n for op, n in figures["dynamodb_per_message"].items() if op not in ("GetItem", "Query"))
    assert units["write_units_per_message_table"] >= writes  # a unit at least per write request
    assert units["read_units_per_message"] > 0 and units["unmeasured_requests"] == 0
    steady = units["steady_state"]
    assert steady["messages"] == 16 and steady["write_units_goal"] == 7
    # a steady text with one bot reply: the state, one transcript item and the outbox message in one
    # transaction (2 units each, under a kilobyte), and the outbox delete; no index written
    assert steady["write_units_per_message"] <= 7 and steady["write_units_per_message_indexes"] == 0
    assert steady["dynamodb_requests_per_message"] == 3
    assert "DynamoDB write units per message" in result.stdout and "goal <= 7" in result.stdout
    # and the cost per 1,000 messages, status webhooks included, against the issue's $0.025
    cost = figures["costs"]
    assert cost["status_deliveries_measured"] == 3 * 4 and cost["status_deliveries_per_1000"] == 3000
    assert 0 < cost["status_webhooks"] < cost["per_1000_messages"]
    services = {row["service"]: row["dollars"] for row in cost["per_1000_messages_by_service"]}
    assert services["DynamoDB writes"] > 0 and services["HTTP API requests"] > 0
    assert services["Lambda duration"] > 0 and services["CloudWatch Logs ingestion"] > 0
    assert sum(services.values()) == pytest.approx(cost["per_1000_messages"])
    assert "before $0.025" in result.stdout


def test_a_small_wake_pass_bench_run(tmp_path: Path) -> None:
    # Given Live at a small size: 40 users waiting, the console's figures from docs/console.md
    arguments = ["--conversations", "40"]

    # When it runs as `make bench` runs it (its own process: it starts moto)
    result, figures = run_bench("bench.wake_pass", arguments, tmp_path / "wake.json")

    # Then both passes read the waiting users, and the list answered whole, then 304 with its ETag
    assert figures["ok"] and figures["conversations"] == 40
    for name in ("agent_online", "schedule"):
        wake = figures["wake_pass"][name]
        assert wake["invocations"] == 1 and wake["read_units"] > 0 and wake["dynamodb_requests"] > 0
        assert wake["read_units_by_index"]["wake"] > 0
    assert figures["listed"] == {"answered": 40, "total": 40}
    listing, unchanged = figures["live_api"]["list"], figures["live_api"]["list_304"]
    assert (listing["status"], unchanged["status"], unchanged["response_bytes"]) == (200, 304, 0)
    assert listing["read_units"] > 0 and listing["dollars"] > listing["dollars_without_aws_time"] > 0
    # and the console's cost per agent-hour, against the issue's $0.94
    hour = figures["agent_hour"]
    assert hour["before"] == 0.94 and "docs/console.md" in hour["requests_source"]
    assert (
        0 < hour["quiet"] <= hour["quiet_upper_bound"] and 0 < hour["writing"] <= hour["writing_upper_bound"]
    )
    assert "before: $0.94" in result.stdout and "Result: ok" in result.stdout


def test_a_small_imports_bench_run(tmp_path: Path) -> None:
    # Given the import bench at one round (it builds .venv-layer, or reuses it while its stamp matches)
    figures_path = tmp_path / "imports.json"

    # When it runs as `make bench` runs it; a handler over the goal makes it exit 1, so both are taken
    result = subprocess.run(
        [sys.executable, "-m", "bench.imports", "--repetitions", "1", "--json", str(figures_path)],
        cwd=ROOT,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(str(ROOT / f) for f in ("layers/handoff", "tools", "local")),
        },
        capture_output=True,
        text=True,
        timeout=900,  # building the venv included: a guard against a hang, not a timing assertion
        check=False,
    )
    assert result.returncode in (0, 1), result.stdout + result.stderr
    figures = json.loads(figures_path.read_text(encoding="utf-8"))

    # Then every function of the template has a ratio to `import boto3`, judged against the goal,
    # timed with the layer venv's python, and the exit code says whether all met it
    functions = {code_uri.name for code_uri, _ in function_handlers(TEMPLATE).values()}
    handlers = figures["handlers"]
    assert set(handlers) == functions
    assert figures["python"].startswith(str(ROOT / ".venv-layer"))
    for handler in handlers.values():
        assert handler["ratio_to_boto3"] > 0
        assert handler["ok"] == (handler["ratio_to_boto3"] <= figures["goal_ratio"])
    assert handlers["wake"]["handler_module"] == "functions/wake/app.py"
    assert result.returncode == (0 if figures["ok"] else 1)
    assert "noisy machine" in result.stdout


def test_a_small_scale_bench_run(tmp_path: Path) -> None:
    # Given `make bench-scale` with the issue's 10,000 users (simulated: seconds), 20,000 over passes
    # as large as the embedded run's own pass queues in its time, and 40 users on the embedded stack
    # with the fake Graph API refusing past 20 a second (at 10, a 5% margin is half a message)
    arguments = [
        "--users",
        "10000",
        "--big-users",
        "20000",
        "--embedded-users",
        "40",
        "--embedded-rate",
        "20",
    ]

    # When it runs as `make bench-scale` runs it (its own process: it starts moto)
    result, figures = run_bench("bench.scale", arguments, tmp_path / "scale.json")

    # Then the paced code meets every goal where the goals apply, and the report says so per row
    rows = {row["scenario"]: row for row in figures["simulation"]}
    goals = [row for row in rows.values() if row["goal"]]
    assert [row["code"] for row in goals] == ["after", "after"] and figures["ok"]
    for row in goals:
        assert row["told"] == row["users"] and row["time_ratio"] <= 1.0
        assert row["throttled_share"] < 0.01 and row["dead_lettered"] == 0 and row["sent_twice"] == 0
    # and the code before it is shown beside: unpaced, most calls throttled, the records of the
    # path the issue measured failing back to the queue
    before = rows["before, C=1000"]
    assert before["code"] == "before" and before["throttled_share"] > 0.1
    issue = rows["issue 14's model, C=1000"]
    assert issue["throttled_share"] > 0.1 and issue["receives_per_user"] > 1.2
    # and the embedded run told each of its users once, as the simulation of it predicts
    embedded = figures["embedded"]
    assert embedded["checks"] == {"real run": True, "agreement": True}
    assert embedded["run"]["told"] == 40 and embedded["run"]["sent_twice"] == 0
    # and the passes of the 20,000 are as large as the embedded run's pass queued in a pass's time
    assert "the embedded run's pass queued" in figures["big_users_note"]
    assert "told in" in result.stdout and "all goals met" in result.stdout
