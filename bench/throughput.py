"""`make bench`: AWS and Graph API requests per inbound message on moto (the handlers' import time:
`bench/imports.py`)."""

from __future__ import annotations

import argparse
import json
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

from bench import costs
from bench.capacity import TABLE, Capacity, table_schemas
from handoff_local import payloads
from handoff_local.aws import function_handlers, function_routes
from handoff_local.runtime import HttpResult, LocalRun
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


# --- counting requests ------------------------------------------------------------------------------


class AwsRequests:
    """Every botocore API call, whoever makes it (Powertools' own clients too), by origin and operation.

    The origin is the function whose handler is running (its folder name), or `POLLER` for the
    calls the local run makes between invocations as Lambda's SQS poller would. With a `capacity`,
    each DynamoDB request's capacity units are measured too (`bench.capacity`), by the same origin
    and operation.
    """

    def __init__(self, capacity: Capacity | None = None) -> None:
        self.calls: Counter[tuple[str, str, str]] = Counter()  # (origin, service, operation)
        self.billed: Counter[tuple[str, str]] = Counter()  # (service, operation): as billed
        self.aws_seconds: dict[str, float] = {}  # by origin: time in the requests (moto's, here)
        self.transact_items = 0
        self.capacity = capacity
        self._lock = threading.Lock()
        self._running = threading.local()

    @contextmanager
    def counting(self) -> Iterator[None]:
        original = getattr(botocore.client.BaseClient, "_make_api_call")  # noqa: B009
        requests = self

        def counted(client: Any, operation: str, params: Mapping[str, Any]) -> Any:
            service = client.meta.service_model.service_name
            origin, label = requests._record(service, operation, params)
            capacity = requests.capacity
            started = time.perf_counter()
            measuring = capacity.overhead_seconds if capacity is not None else 0.0
            try:
                if service != "dynamodb" or capacity is None:
                    return original(client, operation, params)

                def uncounted(name: str, arguments: dict[str, Any]) -> Any:
                    return original(client, name, arguments)

                return capacity.measure(origin, label, operation, params, uncounted)
            finally:
                spent = time.perf_counter() - started
                if capacity is not None:
                    spent -= capacity.overhead_seconds - measuring
                requests.aws_seconds[origin] = requests.aws_seconds.get(origin, 0.0) + spent

        setattr(botocore.client.BaseClient, "_make_api_call", counted)  # noqa: B010
        try:
            yield
        finally:
            setattr(botocore.client.BaseClient, "_make_api_call", original)  # noqa: B010

    @contextmanager
    def running(self, function: str) -> Iterator[None]:
        outer = getattr(self._running, "function", None)
        self._running.function = function
        try:
            yield
        finally:
            self._running.function = outer

    def _record(self, service: str, operation: str, params: Mapping[str, Any]) -> tuple[str, str]:
        """Count the call; returns its origin and the label it is counted under."""
        origin = getattr(self._running, "function", None) or POLLER
        key = params.get("Key") or {}
        label = operation
        if (
            service == "dynamodb"
            and operation == "UpdateItem"
            and key.get("pk", {}).get("S", "").startswith("PACE#")
        ):
            label = SEND_SLOT
        with self._lock:
            self.calls[(origin, service, label)] += 1
            self.billed[(service, operation)] += costs.billed_requests(service, operation, params)
            if service == "dynamodb" and operation == "TransactWriteItems":
                self.transact_items += len(params.get("TransactItems", []))
        return origin, label

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


def attribute_invocations(
    run: LocalRun, requests: AwsRequests, invocations: costs.Invocations | None = None
) -> None:
    """Make each handler invocation of `run` name its function as the origin of its requests; with
    `invocations`, also time each one and count each HTTP API request (`bench.costs`)."""
    folders = {logical_id: code_uri.name for logical_id, (code_uri, _) in function_handlers(TEMPLATE).items()}
    invoke = run.invoke

    def invoke_as(function: str, event: Mapping[str, Any]) -> Any:
        name = folders.get(function, function)
        with requests.running(name):
            if invocations is None:
                return invoke(function, event)
            with invocations.timing(name):
                return invoke(function, event)

    run.invoke = invoke_as  # type: ignore[method-assign]
    if invocations is None:
        return
    http = run.http
    routes = function_routes(TEMPLATE)

    def http_counted(method: str, path: str, **kwargs: Any) -> HttpResult:
        started = time.perf_counter()
        answer = http(method, path, **kwargs)
        route = next((f"{r.method} {r.path}" for r in routes if r.match(method, path) is not None), path)
        invocations.http(route, answer.status, len(answer.content), time.perf_counter() - started)
        return answer

    run.http = http_counted  # type: ignore[method-assign]


@contextmanager
def measuring(run: LocalRun, requests: AwsRequests, invocations: costs.Invocations) -> Iterator[None]:
    """While held: the requests counted and their capacity measured, each invocation timed, each HTTP
    API request and log byte counted, all by the function whose handler runs (`attribute_invocations`)."""
    invoke, http = run.invoke, run.http
    attribute_invocations(run, requests, invocations)
    capacity = requests.capacity
    if capacity is not None:
        invocations.overhead = lambda: capacity.overhead_seconds
    try:
        with requests.counting(), invocations.capturing_logs():
            yield
    finally:
        run.invoke, run.http = invoke, http  # type: ignore[method-assign]


def measure_capacity(run: LocalRun) -> Capacity:
    """A `Capacity` for the run's tables: their schemas from template.yaml, by their names on moto."""
    assert run.stack is not None
    return Capacity(
        {run.stack.physical_id(logical_id): schema for logical_id, schema in table_schemas(TEMPLATE).items()}
    )


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


def send(run: LocalRun, traffic: Traffic, after_round: Callable[[int], None] | None = None) -> None:
    """Rounds of one message per user, a few users' messages per signed delivery, each delivery
    drained and the round's time spread over its deliveries: steady traffic, as the users of a round
    write over its half minute (`after_round`: called with each round's number once it is done)."""
    from handoff import clock

    started = time.perf_counter()
    sent = 0
    round_number = 0
    while sent < traffic.messages:
        round_started = time.perf_counter()
        in_round = min(traffic.users, traffic.messages - sent)
        deliveries = range(0, in_round, traffic.per_delivery)
        for first in deliveries:
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
            traffic.processed += run.drain()
            run.advance(SECONDS_BETWEEN_ROUNDS / len(deliveries))
        sent += in_round
        traffic.rounds.append((in_round, time.perf_counter() - round_started))
        if after_round is not None:
            after_round(round_number)
        round_number += 1
    traffic.wall_seconds = time.perf_counter() - started


# --- capacity units and cost -----------------------------------------------------------------------------

WRITE_UNITS_GOAL = 7.0
"""Issue 14: at most 7 DynamoDB write units per steady-state text message with one bot reply."""
WRITE_UNITS_BEFORE = (11.0, 15.0)
"""Issue 14 measured 11 to 15 write units per such message before."""
REQUESTS_GOAL = 3.0
"""Issue 14: 3 DynamoDB requests per steady-state text message."""
REQUESTS_BEFORE = 5.0
COST_BEFORE = 0.025
"""Issue 14: about $0.025 per 1,000 inbound messages, status webhooks included, before."""
STATUS_DELIVERY = ROOT / "events" / "whatsapp_webhook" / "post_status_only.json"
STATUSES = ("sent", "delivered", "read")
"""Meta posts each of these for each message sent, each in a webhook delivery of its own."""


@dataclass
class SteadyState:
    """What the run measured after its first round (each user's first message opens a conversation)."""

    messages: int = 0
    calls: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    capacity: Capacity | None = None


def mark_first_round(requests: AwsRequests, steady: SteadyState, traffic: Traffic) -> Callable[[int], None]:
    """An `after_round` for `send` that keeps what the first round measured, for `SteadyState`."""

    def after_round(round_number: int) -> None:
        if round_number == 0 and requests.capacity is not None:
            steady.calls = Counter(requests.calls)
            steady.capacity = requests.capacity.snapshot()
            steady.messages = traffic.messages - traffic.rounds[0][0]

    return after_round


def status_delivery(wa_id: str, status: str, at: Any) -> dict[str, Any]:
    """A status-only WhatsApp delivery as Meta posts it (events/whatsapp_webhook/post_status_only.json),
    for a message sent to `wa_id`."""
    body = json.loads(json.loads(STATUS_DELIVERY.read_text(encoding="utf-8"))["body"])
    value = body["entry"][0]["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = PHONE_NUMBER_ID
    [entry] = value["statuses"]
    entry.update(
        {"id": f"wamid.bench{wa_id}{status}", "status": status, "recipient_id": wa_id,
         "timestamp": str(int(at.timestamp()))}
    )  # fmt: skip
    if status == "read":
        entry.pop("pricing", None)  # Meta prices a message once: with sent and delivered
    return dict(body)


@dataclass
class Stretch:
    """What a measured stretch of traffic used."""

    requests: AwsRequests
    invocations: costs.Invocations

    @property
    def capacity(self) -> Capacity:
        assert self.requests.capacity is not None
        return self.requests.capacity

    def usage(self) -> costs.Usage:
        return costs.usage(self.requests.billed, self.capacity, self.invocations)


def measure_statuses(run: LocalRun, traffic: Traffic, functions: costs.Functions, per_status: int) -> Stretch:
    """`per_status` status-only deliveries of each of Meta's statuses, posted through the webhook and
    measured like the messages (the queue drained after them, in case they queued anything)."""
    from handoff import clock

    stretch = Stretch(AwsRequests(measure_capacity(run)), costs.Invocations(functions))
    with measuring(run, stretch.requests, stretch.invocations):
        for n in range(per_status):
            for status in STATUSES:
                answer = run.webhook(
                    "whatsapp", status_delivery(traffic.wa_id(n % traffic.users), status, clock.now())
                )
                if answer.status != 200:
                    raise RuntimeError(f"a status delivery answered {answer.status}: {answer.body}")
        run.drain()
    return stretch


def unit_figures(traffic: Traffic, requests: AwsRequests, steady: SteadyState) -> dict[str, Any]:
    """DynamoDB capacity units per message: all messages, and the steady state's against the goal."""
    capacity = requests.capacity
    assert capacity is not None
    n = traffic.messages

    def per_operation(measured: Capacity, kind: str, count: int) -> dict[str, dict[str, float]]:
        return {
            operation: {target: units / count for target, units in targets.items()}
            for operation, targets in measured.by_operation(kind).items()
        }

    figures: dict[str, Any] = {
        "write_units_per_message": capacity.total("write") / n,
        "write_units_per_message_table": capacity.total("write", target=TABLE) / n,
        "write_units_per_message_indexes": capacity.index_total("write") / n,
        "write_units_by_operation": per_operation(capacity, "write", n),
        "read_units_per_message": capacity.total("read") / n,
        "read_units_by_operation": per_operation(capacity, "read", n),
        "failed_write_units_per_message": capacity.failed.total() / n,
        "capacity": capacity.as_json(),
        "unmeasured_requests": sum(capacity.unmeasured.values()),
    }
    if steady.capacity is not None and steady.messages:
        later = capacity.since(steady.capacity)
        calls = requests.calls - steady.calls
        m = steady.messages
        write = later.total("write") / m
        figures["steady_state"] = {
            "messages": m,
            "write_units_per_message": write,
            "write_units_per_message_table": later.total("write", target=TABLE) / m,
            "write_units_per_message_indexes": later.index_total("write") / m,
            "write_units_by_operation": per_operation(later, "write", m),
            "read_units_per_message": later.total("read") / m,
            "dynamodb_requests_per_message": sum(v for (_, s, _), v in calls.items() if s == "dynamodb") / m,
            "write_units_goal": WRITE_UNITS_GOAL,
            "write_units_before": list(WRITE_UNITS_BEFORE),
            "requests_goal": REQUESTS_GOAL,
            "requests_before": REQUESTS_BEFORE,
        }
    return figures


def cost_figures(
    traffic: Traffic,
    messages: Stretch,
    statuses: Stretch,
    replies_per_message: float,
    functions: costs.Functions,
) -> dict[str, Any]:
    """Cost per 1,000 inbound messages: the messages' own usage, and Meta's status webhooks for each
    reply (`STATUSES`, each its own delivery), from what one status delivery was measured to use."""
    per_message = messages.usage().scaled(1000 / traffic.messages)
    deliveries = statuses.invocations.http_requests.total()
    per_status = statuses.usage().scaled(1 / deliveries) if deliveries else costs.Usage()
    status_deliveries = len(STATUSES) * replies_per_message * 1000
    with_statuses = per_message + per_status.scaled(status_deliveries)
    lines = costs.priced(with_statuses, functions)
    invocations = with_statuses.lambda_invocations

    def in_aws(stretch: Stretch) -> float:  # GB-seconds spent waiting on AWS requests (moto's here)
        memory = functions.memory_mb
        return sum(s * memory.get(o, 0) / 1024 for o, s in stretch.requests.aws_seconds.items())

    status_share = status_deliveries / deliveries if deliveries else 0.0
    return {
        "lambda_gb_seconds_in_aws_requests": in_aws(messages) * 1000 / traffic.messages
        + in_aws(statuses) * status_share,
        "per_1000_messages_usage": with_statuses.as_json(),
        "per_1000_messages_by_service": costs.price_rows(lines),
        "per_1000_messages": costs.total(lines),
        "messages_only": costs.total(costs.priced(per_message, functions)),
        "status_deliveries_per_1000": status_deliveries,
        "status_webhooks": costs.total(costs.priced(per_status.scaled(status_deliveries), functions)),
        "per_status_delivery_usage": per_status.as_json(),
        "status_deliveries_measured": deliveries,
        "before": COST_BEFORE,
        "ratio_to_before": costs.total(lines) / COST_BEFORE,
        "xray_upper_bound": costs.XRAY_TRACE.of(invocations),
        "invocations": messages.invocations.as_json(),
        "status_invocations": statuses.invocations.as_json(),
        "prices_read": costs.PRICES_READ,
    }


def units_report(result: Mapping[str, Any]) -> list[str]:
    units = result["dynamodb_units"]
    writes, reads = units["write_units_by_operation"], units["read_units_by_operation"]
    targets = sorted({t for row in writes.values() for t in row} - {TABLE})
    header = (
        f"  {'operation':<26}{'write: table':>13}" + "".join(f"{t:>10}" for t in targets) + f"{'read':>8}"
    )
    lines = [
        "",
        "DynamoDB capacity units per message, by operation and where they are written (bench/capacity.py:",
        "from each request and the items it read or wrote, by AWS's rules; the indexes from template.yaml)",
        header,
        "  " + "-" * (len(header) - 2),
    ]
    for operation in sorted(set(writes) | set(reads)):
        row = writes.get(operation, {})
        cells = "".join(f"{_units(row.get(t, 0)):>10}" for t in targets)
        read = _units(sum(reads.get(operation, {}).values()))
        lines.append(f"  {operation:<26}{_units(row.get(TABLE, 0)):>13}{cells}{read:>8}")
    index_totals = "".join(f"{sum(r.get(t, 0) for r in writes.values()):>10.3f}" for t in targets)
    lines += [
        f"  {'total':<26}{units['write_units_per_message_table']:>13.3f}{index_totals}"
        f"{units['read_units_per_message']:>8.3f}",
        "",
        f"  all {result['messages']} messages: {units['write_units_per_message']:.2f} write units "
        "per message "
        f"(table {units['write_units_per_message_table']:.2f}, indexes "
        f"{units['write_units_per_message_indexes']:.2f});",
        f"  of them, writes whose condition failed: {units['failed_write_units_per_message']:.3f}",
    ]
    steady = units.get("steady_state")
    if steady is None:
        return [*lines, "  steady state: not measured (the run has a single round)"]
    write, requests = steady["write_units_per_message"], steady["dynamodb_requests_per_message"]
    low, high = WRITE_UNITS_BEFORE
    lines += [
        f"  steady state, the {steady['messages']} messages after each user's first "
        "(a text in, one bot reply):",
        f"  DynamoDB write units per message: {write:.2f} "
        f"(table {steady['write_units_per_message_table']:.2f}, "
        f"indexes {steady['write_units_per_message_indexes']:.2f})",
        f"      goal <= {WRITE_UNITS_GOAL:g}, before {low:g}-{high:g}: ratio to goal "
        f"{write / WRITE_UNITS_GOAL:.2f}, to before {write / high:.2f}-{write / low:.2f}   "
        f"{_met(write <= WRITE_UNITS_GOAL)}",
        f"  DynamoDB requests per message: {requests:.2f}",
        f"      goal {REQUESTS_GOAL:g}, before {REQUESTS_BEFORE:g}: "
        f"ratio to goal {requests / REQUESTS_GOAL:.2f}, "
        f"to before {requests / REQUESTS_BEFORE:.2f}   {_met(requests <= REQUESTS_GOAL)}",
        f"  DynamoDB read units per message: {steady['read_units_per_message']:.2f}   (no goal, no before "
        "figure in the issue)",
    ]
    if units["unmeasured_requests"]:
        lines.append(f"  not measured: the units of {units['unmeasured_requests']} requests (see the JSON)")
    return lines


def cost_report(result: Mapping[str, Any]) -> list[str]:
    figures = result["costs"]
    total = figures["per_1000_messages"]
    replies = result["graph_requests_per_message"]
    return [
        "",
        "Cost per 1,000 inbound messages, status webhooks included (bench/costs.py: us-east-1 list",
        f"prices read in {figures['prices_read']}, each with its page): the {result['messages']} texts "
        "above, "
        "every request",
        f"of every origin, and Meta's {len(STATUSES)} status webhooks per bot reply ({replies:.3f} "
        "replies per "
        "message),",
        f"each priced as the {figures['status_deliveries_measured']} status-only deliveries posted here were",
        *costs.price_table(figures["per_1000_messages_by_service"]),
        f"  per 1,000 inbound messages: ${total:.4f}   before ${COST_BEFORE}: ratio {total / COST_BEFORE:.2f}"
        f"   (messages ${figures['messages_only']:.4f},",
        f"  their status webhooks ${figures['status_webhooks']:.4f})",
        "  Lambda duration: each invocation's wall time in this process, rounded up to the ms as Lambda",
        "  bills it: a proxy, where moto's time stands for AWS's (of the GB-seconds, "
        f"{figures['lambda_gb_seconds_in_aws_requests']:.1f} went to AWS",
        "  requests). Logs: what Powertools printed at the template's log level (its metrics too),",
        "  Lambda's START/END/REPORT lines and the HTTP API's access log lines (their formats, filled",
        "  with the measured figures).",
        "  Not included: X-Ray traces (Tracing: Active, sampled: not measured; at most "
        f"${figures['xray_upper_bound']:.4f} if every",
        "  invocation were traced); what does not grow with messages (the minute's schedule, the event",
        "  source's polling of an idle queue, storage, custom metrics); data transfer out to Meta.",
    ]


def _units(value: float) -> str:
    return f"{value:.3f}" if value else "-"


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


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


# --- the figures ------------------------------------------------------------------------------------


def figures(
    traffic: Traffic,
    requests: AwsRequests,
    graph: Sequence[Any],
    checks: list[Check],
) -> dict[str, Any]:
    n = traffic.messages
    dynamodb = requests.by_operation("dynamodb")
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
        *units_report(result),
        *cost_report(result),
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
    lines += [
        "",
        f"Wall time: {traffic.wall_seconds:.1f} s for the deliveries and drains, "
        f"{_number(result['messages_per_second'])} messages/s (first round "
        f"{_number(result['messages_per_second_first_round'])}, last round "
        f"{_number(result['messages_per_second_last_round'])}).",
        "  Informational only: everything runs in this process on moto (patched by the local run to",
        "  stay flat as the table fills up: docs/local-run.md), not on AWS, and with the bench's own",
        "  measuring (its reads around each DynamoDB write, Powertools' logs at the template's level).",
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
        "--bot-messages",
        type=int,
        default=200,
        help="texts for the own-bot part: built-in bot vs the example HTTP bot (default 200)",
    )
    parser.add_argument(
        "--status-deliveries",
        type=int,
        default=50,
        help="status-only webhook deliveries measured per status (sent, delivered, read; default 50)",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON to PATH")
    args = parser.parse_args(argv)
    for name in (
        "messages",
        "users",
        "per_delivery",
        "bot_messages",
        "status_deliveries",
    ):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the bench; 0 when every check passed, 1 on a Scan or a failed check."""
    args = arguments(argv)
    traffic = Traffic(
        messages=args.messages, users=min(args.users, args.messages), per_delivery=args.per_delivery
    )
    functions = costs.Functions.from_template(TEMPLATE)

    def progress(text: str) -> None:
        print(f"... {text}", file=sys.stderr, flush=True)

    progress(f"sending {traffic.messages} messages")
    with LocalRun(CONFIG) as run:
        run.advance_to(22, ZONE, weekday=True)  # after hours, as the product is about
        requests = AwsRequests(measure_capacity(run))
        messages = Stretch(requests, costs.Invocations(functions))
        steady = SteadyState()
        with measuring(run, requests, messages.invocations):
            send(run, traffic, after_round=mark_first_round(requests, steady, traffic))
        checks = check_run(run, traffic, requests)
        graph = run.graph.requests
        progress(f"status webhooks: {args.status_deliveries} of each of {', '.join(STATUSES)}")
        statuses = measure_statuses(run, traffic, functions, args.status_deliveries)
    progress(f"your own bot: {args.bot_messages} messages, built-in bot then the example HTTP bot")
    from bench import bot

    own_bot = bot.measure(args.bot_messages, users=min(args.users, args.bot_messages))
    result = figures(traffic, requests, graph, checks)
    result["dynamodb_units"] = unit_figures(traffic, requests, steady)
    result["costs"] = cost_figures(
        traffic, messages, statuses, result["graph_requests_per_message"], functions
    )
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
