"""`make bench`: AWS and Graph API requests per inbound message on moto, and the handlers' import time."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.client

from handoff_local import payloads
from handoff_local.aws import LOCAL_AWS_ENVIRONMENT, function_handlers, load_template
from handoff_local.runtime import LocalRun
from handoff_tools.functions import ROOT, TEMPLATE

CONFIG = ROOT / "examples" / "config.yaml"
TENANT = "acme"
PHONE_NUMBER_ID = "200000000000001"  # acme's WhatsApp account in examples/config.yaml
ZONE = "America/Bogota"
# No intent of examples/config.yaml matches these: the bot answers each with the fallback text,
# and no handoff starts (so one message in, one Graph API request out).
TEXTS = ("Hola", "Buenas noches", "Gracias", "¿Tienen descuentos esta semana?", "Ok, entiendo")
SECONDS_BETWEEN_ROUNDS = 30  # on the run's clock: users take a moment before writing again

SEND_SLOT = "UpdateItem (send slot)"
"""A send slot taken in the sending account's schedule (`PACE#` items), counted apart from the other
`UpdateItem`s: one per send, two when the process guessed the schedule wrong, which depends on the
time between sends."""
POLLER = "sqs poller"
"""Who makes the requests of Lambda's SQS event source mapping, which `LocalRun.drain` plays."""

HANDLER_MODULES = ("whatsapp_webhook", "conversation", "wake", "live_api")
BASELINE_MODULE = "boto3"
IMPORT_PROBE = (
    "import importlib, sys, time; t = time.perf_counter(); "
    "importlib.import_module(sys.argv[1]); print(time.perf_counter() - t)"
)


# --- counting requests ------------------------------------------------------------------------------


class AwsRequests:
    """Every botocore API call, whoever makes it (Powertools' own clients too), by origin and operation.

    The origin is the function whose handler is running (its folder name), or `POLLER` for the
    calls the local run makes between invocations as Lambda's SQS poller would.
    """

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str, str]] = Counter()  # (origin, service, operation)
        self.transact_items = 0
        self._lock = threading.Lock()
        self._running = threading.local()

    @contextmanager
    def counting(self) -> Iterator[None]:
        original = botocore.client.BaseClient._make_api_call
        requests = self

        def counted(client: Any, operation: str, params: Mapping[str, Any]) -> Any:
            requests._record(client.meta.service_model.service_name, operation, params)
            return original(client, operation, params)

        botocore.client.BaseClient._make_api_call = counted  # type: ignore[method-assign]
        try:
            yield
        finally:
            botocore.client.BaseClient._make_api_call = original  # type: ignore[method-assign]

    @contextmanager
    def running(self, function: str) -> Iterator[None]:
        self._running.function = function
        try:
            yield
        finally:
            self._running.function = None

    def _record(self, service: str, operation: str, params: Mapping[str, Any]) -> None:
        origin = getattr(self._running, "function", None) or POLLER
        key = params.get("Key") or {}
        if (
            service == "dynamodb"
            and operation == "UpdateItem"
            and key.get("pk", {}).get("S", "").startswith("PACE#")
        ):
            operation = SEND_SLOT
        with self._lock:
            self.calls[(origin, service, operation)] += 1
            if service == "dynamodb" and operation == "TransactWriteItems":
                self.transact_items += len(params.get("TransactItems", []))

    def origins(self) -> list[str]:
        """The origins seen, in the pipeline's order: webhook, conversation, ..., then the poller."""
        found = {origin for origin, _, _ in self.calls}
        known = [o for o in HANDLER_MODULES if o in found]
        others = sorted(found - set(HANDLER_MODULES) - {POLLER})
        return known + others + ([POLLER] if POLLER in found else [])

    def by_operation(self, service: str) -> Counter[str]:
        totals: Counter[str] = Counter()
        for (_, calls_service, operation), n in self.calls.items():
            if calls_service == service:
                totals[operation] += n
        return totals

    def as_json(self) -> dict[str, dict[str, dict[str, int]]]:
        nested: dict[str, dict[str, dict[str, int]]] = {}
        for (origin, service, operation), n in sorted(self.calls.items()):
            nested.setdefault(service, {}).setdefault(operation, {})[origin] = n
        return nested


def attribute_invocations(run: LocalRun, requests: AwsRequests) -> None:
    """Make each handler invocation of `run` name its function as the origin of its requests."""
    folders = {logical_id: code_uri.name for logical_id, (code_uri, _) in function_handlers(TEMPLATE).items()}
    invoke = run.invoke

    def invoke_as(function: str, event: Mapping[str, Any]) -> Any:
        with requests.running(folders.get(function, function)):
            return invoke(function, event)

    run.invoke = invoke_as  # type: ignore[method-assign]


# --- the traffic --------------------------------------------------------------------------------------


@dataclass
class Traffic:
    messages: int
    users: int
    per_delivery: int
    deliveries: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    processed: int = 0
    wall_seconds: float = 0.0
    rounds: list[tuple[int, float]] = field(default_factory=list)  # (messages, seconds) per round

    def wa_id(self, user: int) -> str:
        return f"57300{user:07d}"

    def expected_answers(self) -> dict[str, int]:
        """How many messages each user sends (message n comes from user n mod users)."""
        return dict(Counter(self.wa_id(n % self.users) for n in range(self.messages)))


def send(run: LocalRun, traffic: Traffic) -> None:
    """Rounds of one message per user, a few users' messages per signed delivery, each round drained."""
    from handoff import clock

    started = time.perf_counter()
    sent = 0
    round_number = 0
    while sent < traffic.messages:
        round_started = time.perf_counter()
        in_round = min(traffic.users, traffic.messages - sent)
        for first in range(0, in_round, traffic.per_delivery):
            users = range(first, min(first + traffic.per_delivery, in_round))
            body = payloads.whatsapp_delivery(
                PHONE_NUMBER_ID,
                *(
                    payloads.whatsapp_text(
                        traffic.wa_id(u), TEXTS[(round_number + u) % len(TEXTS)], clock.now()
                    )
                    for u in users
                ),
                contacts=[payloads.whatsapp_contact(traffic.wa_id(u), f"User {u}") for u in users],
            )
            traffic.statuses[run.webhook("whatsapp", body).status] += 1
            traffic.deliveries += 1
        sent += in_round
        traffic.processed += run.drain()
        traffic.rounds.append((in_round, time.perf_counter() - round_started))
        run.advance(SECONDS_BETWEEN_ROUNDS)
        round_number += 1
    traffic.wall_seconds = time.perf_counter() - started


# --- checks ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def check_run(run: LocalRun, traffic: Traffic, requests: AwsRequests) -> list[Check]:
    """Cheap correctness: each message answered once with the fallback, nothing left over, no Scan."""
    from handoff.config.texts import texts_for
    from handoff.runtime.wiring import conversation_store
    from handoff_tools.config_file import load_config

    [tenant] = [t for t in load_config(CONFIG) if t.tenant_id == TENANT]
    fallback = texts_for(tenant, None, tenant.language).fallback
    graph = run.graph.requests
    answers = Counter(str(r.json.get("to", "")).lstrip("+") for r in graph if isinstance(r.json, dict))
    not_fallback = sum(
        1
        for r in graph
        if not (
            isinstance(r.json, dict) and r.json.get("type") == "text" and r.json["text"]["body"] == fallback
        )
    )
    accepted = traffic.statuses.get(200, 0)
    scans = requests.by_operation("dynamodb")["Scan"]
    dead_letters = run.dead_letters()
    pending = len(conversation_store().all_pending())
    return [
        Check("no DynamoDB Scan", scans == 0, f"{scans} Scan requests"),
        Check(
            "every delivery accepted",
            accepted == traffic.deliveries,
            f"{accepted}/{traffic.deliveries} answered 200 ({dict(traffic.statuses)})",
        ),
        Check(
            "every event processed once",
            traffic.processed == traffic.messages,
            f"{traffic.processed} queue events for {traffic.messages} messages",
        ),
        Check(
            "one bot answer per message",
            len(graph) == traffic.messages and answers == traffic.expected_answers(),
            f"{len(graph)} Graph requests, {len(answers)} users answered",
        ),
        Check("answers are the fallback text", not_fallback == 0, f"{not_fallback} other requests"),
        Check("dead-letter queue empty", dead_letters == 0, f"{dead_letters} messages"),
        Check("outbox empty", pending == 0, f"{pending} messages"),
    ]


# --- import time (cold-start proxy) -------------------------------------------------------------------


@dataclass(frozen=True)
class ImportTarget:
    name: str
    module: str
    folder: Path | None  # the function's code folder, put first on PYTHONPATH


def import_targets() -> list[ImportTarget]:
    folders = {
        code_uri.name: (code_uri, handler) for code_uri, handler in function_handlers(TEMPLATE).values()
    }
    targets = [ImportTarget(BASELINE_MODULE, BASELINE_MODULE, None)]
    for name in HANDLER_MODULES:
        code_uri, handler = folders[name]
        targets.append(ImportTarget(name, handler.rpartition(".")[0], code_uri))
    return targets


def function_environment() -> dict[str, str]:
    """The Globals variables of template.yaml: parameters at their defaults, resources as dummy names."""
    template = load_template(TEMPLATE)
    declared = template.get("Parameters", {})
    variables = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    environment: dict[str, str] = {}
    for name, node in variables.items():
        if isinstance(node, dict) and isinstance(node.get("Ref"), str):
            parameter = declared.get(node["Ref"], {})
            environment[name] = str(parameter.get("Default", f"bench-{node['Ref']}"))
        else:
            environment[name] = str(node)
    return environment


def probe_environment(target: ImportTarget, function_variables: Mapping[str, str]) -> dict[str, str]:
    # a region, fake credentials and no config files or instance metadata: nothing reaches AWS
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "PYTHON", "POWERTOOLS_"))
    }
    environment.update(LOCAL_AWS_ENVIRONMENT)
    environment.update(
        {
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            **function_variables,
        }
    )
    path = [str(ROOT / "layers" / "handoff")]
    if target.folder is not None:
        path.insert(0, str(target.folder))
    environment["PYTHONPATH"] = os.pathsep.join(path)
    return environment


def time_import(target: ImportTarget, environment: Mapping[str, str]) -> float:
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE, target.module],
        cwd=target.folder or ROOT,
        env=dict(environment),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"importing {target.name} failed:\n{result.stderr}")
    return float(result.stdout.strip().splitlines()[-1])


def measure_imports(repetitions: int, progress: Callable[[str], None]) -> dict[str, list[float]]:
    """Seconds per import, in fresh interpreters; rounds interleave the targets so drift hits all alike.

    A first round is thrown away: it writes the bytecode caches the later ones read.
    """
    targets = import_targets()
    variables = function_environment()
    environments = {t.name: probe_environment(t, variables) for t in targets}
    samples: dict[str, list[float]] = {t.name: [] for t in targets}
    for round_number in range(repetitions + 1):
        progress(f"import timing: round {round_number}/{repetitions}")
        for target in targets:
            seconds = time_import(target, environments[target.name])
            if round_number > 0:
                samples[target.name].append(seconds)
    return samples


# --- the figures ------------------------------------------------------------------------------------


def figures(
    traffic: Traffic,
    requests: AwsRequests,
    graph: Sequence[Any],
    imports: Mapping[str, list[float]],
    checks: list[Check],
) -> dict[str, Any]:
    n = traffic.messages
    dynamodb = requests.by_operation("dynamodb")
    baseline = statistics.median(imports[BASELINE_MODULE])
    return {
        "messages": n,
        "users": traffic.users,
        "deliveries": traffic.deliveries,
        "aws_requests": requests.as_json(),
        "dynamodb_per_message": {op: count / n for op, count in sorted(dynamodb.items())},
        "dynamodb_per_message_total": sum(dynamodb.values()) / n,
        "dynamodb_transact_items_per_message": requests.transact_items / n,
        "scans": dynamodb["Scan"],
        "sqs_per_message": {op: count / n for op, count in sorted(requests.by_operation("sqs").items())},
        "graph_requests": len(graph),
        "graph_requests_per_message": len(graph) / n,
        "graph_requests_by_route": dict(sorted(Counter(f"{r.method} {r.path}" for r in graph).items())),
        "import_time": {
            "repetitions": len(imports[BASELINE_MODULE]),
            "baseline": {
                "module": BASELINE_MODULE,
                "median_seconds": baseline,
                "samples": imports[BASELINE_MODULE],
            },
            "handlers": {
                name: {
                    "median_seconds": statistics.median(imports[name]),
                    "ratio_to_boto3": statistics.median(imports[name]) / baseline,
                    "samples": imports[name],
                }
                for name in HANDLER_MODULES
            },
        },
        "wall_seconds": traffic.wall_seconds,
        "messages_per_second": n / traffic.wall_seconds if traffic.wall_seconds else None,
        "messages_per_second_first_round": _rate(traffic.rounds[0]),
        "messages_per_second_last_round": _rate(traffic.rounds[-1]),
        "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in checks},
        "ok": all(c.ok for c in checks),
    }


def report(traffic: Traffic, requests: AwsRequests, result: Mapping[str, Any]) -> str:
    n = traffic.messages
    lines = [
        f"async-handoff throughput bench: {n} inbound WhatsApp texts from {traffic.users} users "
        f"(tenant {TENANT}, number {PHONE_NUMBER_ID}), {traffic.deliveries} signed webhook deliveries,",
        "through the real webhook, queue and conversation handlers on moto; the bot answers each one.",
        "",
        "AWS requests per message, by operation and by who made them",
    ]
    origins = requests.origins()
    header = f"  {'service':<9}{'operation':<20}" + "".join(f"{o:>18}" for o in origins) + f"{'total':>10}"
    lines += [header, "  " + "-" * (len(header) - 2)]
    services = sorted({service for _, service, _ in requests.calls})
    for service in services:
        for operation, total in sorted(requests.by_operation(service).items()):
            cells = "".join(f"{_per(requests.calls.get((o, service, operation), 0), n):>18}" for o in origins)
            lines.append(f"  {service:<9}{operation:<20}{cells}{total / n:>10.3f}")
    lines += [
        "",
        f"  DynamoDB requests per message:  {result['dynamodb_per_message_total']:.3f}   (TransactWriteItems "
        f"carry {result['dynamodb_transact_items_per_message']:.3f} items per message)",
        f"  DynamoDB Scan requests:         {result['scans']}",
        f"  ({POLLER}: Lambda's SQS event source mapping, played by the local run between invocations)",
        "",
        f"Graph API requests per message: {result['graph_requests_per_message']:.3f}"
        f"   ({result['graph_requests']} requests: "
        + ", ".join(f"{route} x{count}" for route, count in result["graph_requests_by_route"].items())
        + ")",
        "",
        "Checks",
    ]
    lines += [
        f"  [{'ok' if c['ok'] else 'FAIL':>4}] {name:<32}{c['detail']}"
        for name, c in result["checks"].items()
    ]
    imports = result["import_time"]
    baseline = imports["baseline"]
    lines += [
        "",
        f"Import time of each handler module in a fresh interpreter (cold-start proxy), "
        f"median of {imports['repetitions']} after a warm-up run",
        f"  {'module':<36}{'median s':>10}{'x import boto3':>16}",
        f"  {'import boto3 (baseline)':<36}{baseline['median_seconds']:>10.3f}{1:>16.2f}",
    ]
    lines += [
        f"  {'functions/' + name + '/app.py':<36}{h['median_seconds']:>10.3f}{h['ratio_to_boto3']:>16.2f}"
        for name, h in imports["handlers"].items()
    ]
    lines += [
        "  Warning: ratios measured on a shared, noisy machine: compare them with each other and across",
        "  runs, not as Lambda cold-start times (Lambda's CPU, the layer's location and INIT differ).",
        "",
        f"Wall time: {traffic.wall_seconds:.1f} s for the deliveries and drains, "
        f"{_number(result['messages_per_second'])} messages/s (first round "
        f"{_number(result['messages_per_second_first_round'])}, last round "
        f"{_number(result['messages_per_second_last_round'])}).",
        "  Informational only: everything runs in this process on moto (patched by the local run to",
        "  stay flat as the table fills up: docs/local-run.md), not on AWS.",
        "",
        "Result: " + ("ok" if result["ok"] else "FAILED (see the checks above)"),
    ]
    return "\n".join(lines)


def _rate(round_: tuple[int, float]) -> float | None:
    messages, seconds = round_
    return messages / seconds if seconds else None


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def _per(count: int, n: int) -> str:
    return f"{count / n:.3f}" if count else "-"


# --- main -------------------------------------------------------------------------------------------


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.throughput", description=__doc__)
    parser.add_argument("--messages", type=int, default=1000, help="inbound texts to send (default 1000)")
    parser.add_argument("--users", type=int, default=100, help="distinct WhatsApp users (default 100)")
    parser.add_argument(
        "--per-delivery", type=int, default=5, help="messages per webhook delivery (default 5)"
    )
    parser.add_argument(
        "--import-repetitions", type=int, default=7, help="fresh interpreters per module (default 7)"
    )
    parser.add_argument(
        "--bot-messages",
        type=int,
        default=200,
        help="texts for the own-bot part: built-in bot vs the example HTTP bot (default 200)",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON to PATH")
    args = parser.parse_args(argv)
    for name in ("messages", "users", "per_delivery", "import_repetitions", "bot_messages"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the bench; 0 when every check passed, 1 on a Scan or a failed check."""
    args = arguments(argv)
    traffic = Traffic(
        messages=args.messages, users=min(args.users, args.messages), per_delivery=args.per_delivery
    )
    requests = AwsRequests()

    def progress(text: str) -> None:
        print(f"... {text}", file=sys.stderr, flush=True)

    progress(f"sending {traffic.messages} messages")
    with LocalRun(CONFIG) as run:
        run.advance_to(22, ZONE, weekday=True)  # after hours, as the product is about
        attribute_invocations(run, requests)
        with requests.counting():
            send(run, traffic)
        checks = check_run(run, traffic, requests)
        graph = run.graph.requests
    progress(f"your own bot: {args.bot_messages} messages, built-in bot then the example HTTP bot")
    from bench import bot

    own_bot = bot.measure(args.bot_messages, users=min(args.users, args.bot_messages))
    imports = measure_imports(args.import_repetitions, progress)
    result = figures(traffic, requests, graph, imports, checks)
    result["own_bot"] = own_bot
    result["ok"] = result["ok"] and own_bot["ok"]
    print(report(traffic, requests, result))
    print()
    print(bot.report(own_bot))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
