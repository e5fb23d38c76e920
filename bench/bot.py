"""`make bench`'s bot part: what an external bot adds per message in the conversation function.

The same traffic runs twice on the embedded stack, once answered by the built-in intent bot and
once by the example bot in Rasa's REST format (examples/rasa_bot.py) on loopback, and the bench
compares the conversation function's time per message and the requests per message: DynamoDB,
the Graph API and the bot. Loopback HTTP is a floor: a real bot adds its own latency and the
network's on top, which this cannot measure.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.throughput import SEND_SLOT, AwsRequests
from handoff_local import payloads
from handoff_local.runtime import LocalRun
from handoff_local.server import example_bot
from handoff_tools.functions import ROOT

INTENTS_CONFIG = ROOT / "examples" / "config.yaml"
HTTP_CONFIG = ROOT / "examples" / "config.http-bot.yaml"
EXAMPLE_BOT_URL = "http://127.0.0.1:5005"
PHONE_NUMBER_ID = "200000000000001"
ZONE = "America/Bogota"
TEXTS = ("Hola", "Buenas noches", "¿Tienen descuentos?", "Ok, entiendo")


@dataclass
class BotRun:
    """One run's figures: the conversation function's seconds per invocation and the requests."""

    kind: str
    messages: int
    function_seconds: list[float] = field(default_factory=list)
    events: int = 0
    dynamodb: int = 0  # send slots apart
    send_slots: int = 0
    graph: int = 0
    bot: int = 0
    dead_letters: int = 0

    def per_message(self, count: int) -> float:
        return count / self.messages

    @property
    def milliseconds_per_message(self) -> float:
        return 1000 * sum(self.function_seconds) / self.messages


@contextmanager
def http_config() -> Iterator[tuple[Path, Counter[str]]]:
    """examples/config.http-bot.yaml pointed at the example bot on a free loopback port, and a count
    of the requests the bot receives."""
    bot = example_bot()
    server, port = bot.start(port=0)
    received: Counter[str] = Counter()
    handle = server.RequestHandlerClass.do_POST

    def counted(handler: Any) -> None:
        received["requests"] += 1
        handle(handler)

    server.RequestHandlerClass.do_POST = counted
    try:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "config.yaml"
            text = HTTP_CONFIG.read_text(encoding="utf-8").replace(
                EXAMPLE_BOT_URL, f"http://127.0.0.1:{port}"
            )
            path.write_text(text, encoding="utf-8")
            yield path, received
    finally:
        server.RequestHandlerClass.do_POST = handle
        server.shutdown()


def run_traffic(kind: str, config: Path, messages: int, users: int) -> BotRun:
    from handoff import clock
    from handoff.runtime.wiring import conversation_store

    result = BotRun(kind=kind, messages=messages)
    with LocalRun(config) as run:
        run.advance_to(22, ZONE, weekday=True)
        _time_the_conversation_function(run, result)
        requests = AwsRequests()
        with requests.counting():
            sent = 0
            while sent < messages:
                batch = range(sent, min(sent + users, messages))
                for n in batch:
                    user = f"57310{n % users:07d}"
                    text = payloads.whatsapp_text(user, TEXTS[n % len(TEXTS)], clock.now())
                    run.webhook("whatsapp", payloads.whatsapp_delivery(PHONE_NUMBER_ID, text))
                result.events += run.drain()
                run.advance(30)
                sent += len(batch)
        # a send slot costs one write or two by the time between sends, which the bot changes: apart
        dynamodb = requests.by_operation("dynamodb")
        result.dynamodb = sum(count for operation, count in dynamodb.items() if operation != SEND_SLOT)
        result.send_slots = dynamodb[SEND_SLOT]
        result.graph = len(run.graph.requests)
        result.dead_letters = run.dead_letters()
        assert not conversation_store().all_pending(), "the outbox should be empty"
    return result


def _time_the_conversation_function(run: LocalRun, result: BotRun) -> None:
    invoke = run.invoke

    def timed(function: str, event: Mapping[str, Any]) -> Any:
        if function != "ConversationFunction":
            return invoke(function, event)
        started = time.perf_counter()
        try:
            return invoke(function, event)
        finally:
            result.function_seconds.append(time.perf_counter() - started)

    run.invoke = timed  # type: ignore[method-assign]


def measure(messages: int, users: int) -> dict[str, Any]:
    """Both runs, and their comparison, as figures."""
    intents = run_traffic("intents", INTENTS_CONFIG, messages, users)
    with http_config() as (config, received):
        http = run_traffic("http", config, messages, users)
        http.bot = received["requests"]
    runs = {run.kind: run for run in (intents, http)}
    return {
        kind: {
            "messages": run.messages,
            "conversation_ms_per_message": round(run.milliseconds_per_message, 2),
            "conversation_ms_median_invocation": round(1000 * statistics.median(run.function_seconds), 2),
            "dynamodb_per_message": round(run.per_message(run.dynamodb), 3),
            "send_slot_writes_per_message": round(run.per_message(run.send_slots), 3),
            "graph_per_message": round(run.per_message(run.graph), 3),
            "bot_per_message": round(run.per_message(run.bot), 3),
            "dead_letters": run.dead_letters,
        }
        for kind, run in runs.items()
    } | {
        "added_ms_per_message": round(http.milliseconds_per_message - intents.milliseconds_per_message, 2),
        "ok": http.bot == messages and intents.dead_letters == http.dead_letters == 0,
    }


def report(figures: Mapping[str, Any]) -> str:
    intents, http = figures["intents"], figures["http"]
    lines = [
        f"Your own bot: {intents['messages']} texts answered by the built-in bot, then by the example bot",
        "over HTTP in Rasa's REST format (examples/rasa_bot.py, on loopback)",
        f"  {'per message':<38}{'built-in':>10}{'HTTP bot':>10}",
        *(
            f"  {label:<38}{intents[key]:>10.{digits}f}{http[key]:>10.{digits}f}"
            for label, key, digits in (
                ("conversation function, ms", "conversation_ms_per_message", 2),
                ("DynamoDB requests (send slots apart)", "dynamodb_per_message", 3),
                ("send slot writes", "send_slot_writes_per_message", 3),
                ("Graph API requests", "graph_per_message", 3),
                ("bot requests", "bot_per_message", 3),
            )
        ),
        f"  added by the HTTP bot: {figures['added_ms_per_message']:.2f} ms per message in the conversation "
        "function (loopback: a real bot adds its own time and the network's)",
        f"  dead-letter queue: {intents['dead_letters']} and {http['dead_letters']}"
        + ("" if figures["ok"] else "   FAILED: every message should reach the bot once, none dead-lettered"),
    ]
    return "\n".join(lines)
