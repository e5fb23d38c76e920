"""The throughput bench on a small run: no Scan, one Graph request per message, DynamoDB requests bounded."""

from __future__ import annotations

from pathlib import Path

from bench_process import run_bench

HANDLERS = {"whatsapp_webhook", "conversation", "wake", "live_api"}

# Measured: 3 requests per inbound text (the conversation's GetItem, its TransactWriteItems, the outbox
# DeleteItem once Meta accepted the answer; the send comes from the instance's own part of the number's
# rate, with no write) plus the directory reads each process caches (tenant config, channel account):
# 3.15 at 20 messages. 3.3 leaves room for those one-off reads and a send slot taken now and then,
# and fails as soon as any step adds one request per message (4.1).
DYNAMODB_REQUESTS_PER_MESSAGE_BOUND = 3.3


def test_a_small_bench_run(tmp_path: Path) -> None:
    # Given a bench of 20 texts from 4 users, one import-time repetition per module
    arguments = ["--messages", "20", "--users", "4", "--import-repetitions", "1", "--bot-messages", "8"]

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
    # and the import-time section has a ratio to `import boto3` for each handler
    handlers = figures["import_time"]["handlers"]
    assert set(handlers) == HANDLERS
    assert all(handler["ratio_to_boto3"] > 0 for handler in handlers.values())
    assert "noisy machine" in result.stdout
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


def test_a_small_scale_bench_run(tmp_path: Path) -> None:
    # Given `make bench-scale` at a small size: 6,000 users (the goal's time has a few seconds of
    # start-up in it: fewer users could not meet it), 20,000 over passes of 5,000, and 30 on the
    # embedded stack with the fake Graph API refusing past 10 a second
    arguments = [
        "--users", "6000", "--big-users", "20000", "--pass-size", "5000",
        "--embedded-users", "30", "--embedded-rate", "10",
    ]  # fmt: skip

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
    assert embedded["run"]["told"] == 30 and embedded["run"]["sent_twice"] == 0
    assert "told in" in result.stdout and "all goals met" in result.stdout
