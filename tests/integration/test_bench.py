"""The throughput bench on a small run: no Scan, one Graph request per message, DynamoDB requests bounded."""

from __future__ import annotations

from pathlib import Path

from bench_process import run_bench

HANDLERS = {"whatsapp_webhook", "conversation", "wake", "live_api"}

# Measured: 3 requests per inbound text (the conversation's GetItem, its TransactWriteItems, the
# outbox DeleteItem once Meta accepted the answer) plus the two directory reads each process caches
# (tenant config, channel account): 3.1 at 20 messages. 3.5 leaves room for those one-off reads and
# fails as soon as any step adds one request per message (4.1).
DYNAMODB_REQUESTS_PER_MESSAGE_BOUND = 3.5


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
