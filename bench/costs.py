"""What `make bench` measures, priced: AWS list prices and the cost model built on the measurements.

The prices are us-east-1, on-demand, as AWS's pricing pages list them (each constant names its page;
the figures were read in 2025 and are not fetched at run time: check them before relying on a
total). The quantities are measured by the benches: the requests (`AwsRequests`), DynamoDB's
capacity units (`bench.capacity`), and here each handler invocation (`Invocations`): its wall time
in this process, rounded up to the millisecond as Lambda bills it, as the proxy for Lambda's
duration (on moto, in-process: AWS's own latencies are not in it), the log bytes it wrote (what
Powertools prints, its metrics too, as Lambda would ship them to CloudWatch Logs), and each HTTP API
request with the access log line API Gateway writes for it.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

# --- list prices ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Price:
    dollars: float
    per: float
    unit: str
    source: str

    def of(self, quantity: float) -> float:
        return quantity * self.dollars / self.per


PRICES_READ = "2025"
"""When the prices below were read from AWS's pricing pages (us-east-1, on-demand, list prices)."""

DYNAMODB_WRITE_REQUEST_UNIT = Price(
    0.625, 1e6, "write request unit", "aws.amazon.com/dynamodb/pricing/on-demand (Standard table class)"
)
DYNAMODB_READ_REQUEST_UNIT = Price(
    0.125, 1e6, "read request unit", "aws.amazon.com/dynamodb/pricing/on-demand (Standard table class)"
)
LAMBDA_REQUEST = Price(0.20, 1e6, "invocation", "aws.amazon.com/lambda/pricing")
LAMBDA_ARM_GB_SECOND = Price(
    0.0000133334, 1, "GB-second", "aws.amazon.com/lambda/pricing (Arm, first 7.5 billion GB-s a month)"
)
LAMBDA_X86_GB_SECOND = Price(
    0.0000166667, 1, "GB-second", "aws.amazon.com/lambda/pricing (x86, first 6 billion GB-s a month)"
)
SQS_FIFO_REQUEST = Price(
    0.50, 1e6, "request (each 64 KB of payload)", "aws.amazon.com/sqs/pricing (FIFO queues)"
)
HTTP_API_REQUEST = Price(
    1.00, 1e6, "request (each 512 KB)", "aws.amazon.com/api-gateway/pricing (HTTP APIs, first 300 million)"
)
EVENTBRIDGE_EVENT = Price(
    1.00, 1e6, "event (each 64 KB)", "aws.amazon.com/eventbridge/pricing (custom events on a bus)"
)
CLOUDWATCH_LOGS_INGESTION = Price(
    0.50, 2**30, "byte ingested", "aws.amazon.com/cloudwatch/pricing (logs, Standard class, $0.50 per GB)"
)
SECRETS_MANAGER_CALL = Price(0.05, 10_000, "API call", "aws.amazon.com/secrets-manager/pricing")
SSM_STANDARD_CALL = Price(
    0.0,
    1,
    "API call",
    "aws.amazon.com/systems-manager/pricing (Parameter Store, standard parameters and throughput: free)",
)
KMS_REQUEST = Price(
    0.03,
    10_000,
    "request",
    "aws.amazon.com/kms/pricing (a SecureString read and a secret's value each decrypt once)",
)
XRAY_TRACE = Price(5.00, 1e6, "trace recorded", "aws.amazon.com/xray/pricing")
WEBSOCKET_MESSAGE = Price(
    1.00, 1e6, "message (each 32 KB)", "aws.amazon.com/api-gateway/pricing (WebSocket APIs, first billion)"
)
WEBSOCKET_CONNECTION_MINUTE = Price(
    0.25, 1e6, "connection minute", "aws.amazon.com/api-gateway/pricing (WebSocket APIs)"
)

SQS_CHUNK_BYTES = 64 * 1024
EVENTBRIDGE_CHUNK_BYTES = 64 * 1024

# --- the functions, from template.yaml -------------------------------------------------------------------


@dataclass(frozen=True)
class Functions:
    """Each function's memory (MB) by its code folder's name, and the price of its GB-seconds."""

    memory_mb: Mapping[str, int]
    gb_second: Price
    log_level: str
    access_log_format: str | None
    metrics_namespace: str
    service: str

    @classmethod
    def from_template(cls, template_path: Path) -> Functions:
        """Memory per function (its own MemorySize, else Globals'), the architecture's duration
        price (Globals' or the functions' Architectures: all must agree), Powertools' default log
        level (the LogLevel parameter's default), metrics namespace and service, and the HTTP API's
        access log format."""
        from handoff_local.aws import load_template

        template = load_template(template_path)
        defaults = template.get("Globals", {}).get("Function", {})
        memory: dict[str, int] = {}
        architectures: set[str] = set()
        for resource in template["Resources"].values():
            if resource.get("Type") != "AWS::Serverless::Function":
                continue
            properties = resource.get("Properties", {})
            code_uri = properties.get("CodeUri", defaults.get("CodeUri"))
            if not isinstance(code_uri, str):
                continue
            memory[Path(code_uri).name] = int(properties.get("MemorySize", defaults.get("MemorySize", 128)))
            architectures.update(properties.get("Architectures", defaults.get("Architectures", ["x86_64"])))
        if len(architectures) != 1:
            raise ValueError(f"the functions run on several architectures: {sorted(architectures)}")
        (architecture,) = architectures
        level = template.get("Parameters", {}).get("LogLevel", {}).get("Default", "INFO")
        access_format = None
        for resource in template["Resources"].values():
            if resource.get("Type") == "AWS::Serverless::HttpApi":
                access_format = resource.get("Properties", {}).get("AccessLogSettings", {}).get("Format")
        variables = defaults.get("Environment", {}).get("Variables", {})
        return cls(
            memory_mb=memory,
            gb_second=LAMBDA_ARM_GB_SECOND if architecture == "arm64" else LAMBDA_X86_GB_SECOND,
            log_level=str(level),
            access_log_format=str(access_format) if access_format is not None else None,
            metrics_namespace=str(variables.get("POWERTOOLS_METRICS_NAMESPACE", "")),
            service=str(variables.get("POWERTOOLS_SERVICE_NAME", "")),
        )


# --- what each request is billed as -----------------------------------------------------------------


def billed_requests(service: str, operation: str, params: Mapping[str, Any]) -> int:
    """How many requests (or events) a request is billed as: SQS counts each 64 KB of a send's
    payload as one request, EventBridge each 64 KB of each event; the rest one per request."""
    if service == "sqs" and operation in ("SendMessage", "SendMessageBatch"):
        entries = params.get("Entries") if operation == "SendMessageBatch" else [params]
        payload = sum(_sqs_payload(entry) for entry in entries or [])
        return max(1, math.ceil(payload / SQS_CHUNK_BYTES))
    if service == "events" and operation == "PutEvents":
        return sum(
            max(1, math.ceil(len(json.dumps(entry, default=str).encode()) / EVENTBRIDGE_CHUNK_BYTES))
            for entry in params.get("Entries", [])
        )
    return 1


def _sqs_payload(entry: Mapping[str, Any]) -> int:
    body = len(str(entry.get("MessageBody", "")).encode())
    attributes = json.dumps(entry.get("MessageAttributes", {}), default=str)
    return body + len(attributes.encode())


# --- handler invocations: duration, logs, HTTP requests -------------------------------------------------


class _CountingStream:
    """Where Powertools' logger writes while measured: the bytes counted, the text dropped."""

    def __init__(self, count: Callable[[int], None]) -> None:
        self._count = count

    def write(self, text: str) -> int:
        self._count(len(text.encode()))
        return len(text)

    def flush(self) -> None:
        pass


@dataclass
class Invocations:
    """Each handler invocation's billed milliseconds and log bytes, by function (folder name), and
    the HTTP API's requests with their access log lines."""

    functions: Functions
    milliseconds: dict[str, list[int]] = field(default_factory=dict)
    wall_seconds: dict[str, list[float]] = field(default_factory=dict)
    log_bytes: Counter[str] = field(default_factory=Counter)
    """What the function printed: Powertools' JSON log lines and its EMF metrics."""
    platform_log_bytes: Counter[str] = field(default_factory=Counter)
    """Lambda's own START, END and REPORT lines."""
    http_requests: Counter[str] = field(default_factory=Counter)
    access_log_bytes: int = 0
    overhead: Callable[[], float] | None = None
    """Seconds spent so far in the measuring's own work (its reads around writes): taken out of each
    invocation's time, which is the product's own."""
    _local: threading.local = field(default_factory=threading.local)

    @contextmanager
    def timing(self, function: str) -> Iterator[None]:
        outer = getattr(self._local, "function", None)
        self._local.function = function
        started = time.perf_counter()
        measuring = self.overhead() if self.overhead is not None else 0.0
        try:
            yield
        finally:
            seconds = time.perf_counter() - started
            if self.overhead is not None:
                seconds -= self.overhead() - measuring
            self._local.function = outer
            billed = max(1, math.ceil(seconds * 1000))
            self.wall_seconds.setdefault(function, []).append(seconds)
            self.milliseconds.setdefault(function, []).append(billed)
            memory = self.functions.memory_mb.get(function, 0)
            self.platform_log_bytes[function] += len(_platform_lines(seconds * 1000, billed, memory))

    def http(self, route_key: str, status: int, response_bytes: int, seconds: float) -> None:
        self.http_requests[route_key] += 1
        if self.functions.access_log_format is not None:
            line = _access_log_line(
                self.functions.access_log_format, route_key, status, response_bytes, seconds
            )
            self.access_log_bytes += len(line.encode()) + 1

    def _printed(self, size: int) -> None:
        self.log_bytes[getattr(self._local, "function", None) or "outside a handler"] += size

    @contextmanager
    def capturing_logs(self) -> Iterator[None]:
        """While held, Powertools' log lines are counted (not shown), at the template's default log
        level, and so are the metrics each invocation would print (EMF, as Lambda ships them)."""
        from aws_lambda_powertools import Metrics

        from handoff.observability import logger, metrics

        handler = logger.registered_handler
        if not isinstance(handler, logging.StreamHandler):
            raise TypeError(
                "Powertools' logger no longer writes to a stream: the log bytes cannot be measured"
            )
        previous_stream = handler.setStream(_CountingStream(self._printed))
        previous_level = logger.log_level
        logger.setLevel(self.functions.log_level)
        # disabled locally, Powertools keeps an invocation's metrics until the run clears them: they
        # are what it would print, serialized as it would (its namespace and service from the template)
        clear = metrics.clear_metrics
        printing = Metrics(namespace=self.functions.metrics_namespace, service=self.functions.service)

        def counted_clear() -> None:
            if metrics.metric_set:
                self._printed(len(json.dumps(printing.serialize_metric_set(), separators=(",", ":"))) + 1)
            clear()

        metrics.clear_metrics = counted_clear  # type: ignore[method-assign]
        try:
            yield
        finally:
            metrics.clear_metrics = clear  # type: ignore[method-assign]
            handler.setStream(previous_stream)
            logger.setLevel(previous_level)

    # --- totals ---

    def count(self, function: str | None = None) -> int:
        return sum(len(ms) for f, ms in self.milliseconds.items() if function in (None, f))

    def gb_seconds(self) -> float:
        return sum(
            sum(ms) / 1000 * self.functions.memory_mb.get(function, 0) / 1024
            for function, ms in self.milliseconds.items()
        )

    def all_log_bytes(self) -> int:
        return self.log_bytes.total() + self.platform_log_bytes.total() + self.access_log_bytes

    def as_json(self) -> dict[str, Any]:
        return {
            "invocations": {f: len(ms) for f, ms in sorted(self.milliseconds.items())},
            "billed_ms": {f: sum(ms) for f, ms in sorted(self.milliseconds.items())},
            "memory_mb": dict(self.functions.memory_mb),
            "gb_seconds": self.gb_seconds(),
            "log_bytes": dict(self.log_bytes),
            "platform_log_bytes": dict(self.platform_log_bytes),
            "http_requests": dict(self.http_requests),
            "access_log_bytes": self.access_log_bytes,
        }


def _platform_lines(duration_ms: float, billed_ms: int, memory_mb: int) -> str:
    """Lambda's START, END and REPORT lines of one invocation, in their documented text format
    (with active tracing, the REPORT line names the trace); the memory used is not known here: a
    three-digit figure stands for it."""
    request = str(uuid.uuid4())
    return (
        f"START RequestId: {request} Version: $LATEST\n"
        f"END RequestId: {request}\n"
        f"REPORT RequestId: {request}\tDuration: {duration_ms:.2f} ms\tBilled Duration: {billed_ms} ms\t"
        f"Memory Size: {memory_mb} MB\tMax Memory Used: 100 MB\t\n"
        f"XRAY TraceId: 1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]}\t"
        f"SegmentId: {uuid.uuid4().hex[:16]}\tSampled: true\t\n"
    )


_CONTEXT_VARIABLE = re.compile(r"\$context\.([A-Za-z.]+)")


def _access_log_line(form: str, route_key: str, status: int, response_bytes: int, seconds: float) -> str:
    """The HTTP API's access log line for one request, its format from the template: the route,
    status, latency and length measured, the request id and time in API Gateway's forms, and "-"
    for what this request did not have (an integration or authorizer error)."""
    latency = str(max(1, round(seconds * 1000)))
    values = {
        "requestId": "AbCdEfGhIjKlMnO=",
        "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
        "routeKey": route_key,
        "status": str(status),
        "responseLatency": latency,
        "integrationLatency": latency,
        "protocol": "HTTP/1.1",
        "responseLength": str(response_bytes),
    }
    return _CONTEXT_VARIABLE.sub(lambda m: values.get(m.group(1), "-"), form).replace("\n", "")


# --- usage, and its price -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    """What a stretch of traffic used, by what each service bills."""

    dynamodb_write_units: float = 0.0
    dynamodb_read_units: float = 0.0
    lambda_invocations: float = 0.0
    lambda_gb_seconds: float = 0.0
    sqs_requests: float = 0.0
    http_api_requests: float = 0.0
    eventbridge_events: float = 0.0
    log_bytes: float = 0.0
    secrets_manager_calls: float = 0.0
    ssm_calls: float = 0.0
    kms_requests: float = 0.0

    def __add__(self, other: Usage) -> Usage:
        return Usage(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(Usage)})

    def scaled(self, factor: float) -> Usage:
        return Usage(**{f.name: getattr(self, f.name) * factor for f in fields(Usage)})

    def as_json(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(Usage)}


def usage(billed: Mapping[tuple[str, str], int], capacity: Any, invocations: Invocations) -> Usage:
    """The usage of a measured stretch: `billed` (service, operation) -> requests as billed
    (`billed_requests`), `capacity` a `bench.capacity.Capacity`, and the invocations."""

    def of(service: str, *operations: str) -> float:
        return sum(
            n for (s, op), n in billed.items() if s == service and (not operations or op in operations)
        )

    secrets = of("secretsmanager", "GetSecretValue")
    parameters = of("ssm", "GetParameter", "GetParameters", "GetParametersByPath")
    return Usage(
        dynamodb_write_units=capacity.total("write"),
        dynamodb_read_units=capacity.total("read"),
        lambda_invocations=invocations.count(),
        lambda_gb_seconds=invocations.gb_seconds(),
        sqs_requests=of("sqs"),
        http_api_requests=invocations.http_requests.total(),
        eventbridge_events=of("events", "PutEvents"),
        log_bytes=invocations.all_log_bytes(),
        secrets_manager_calls=secrets,
        ssm_calls=parameters,
        kms_requests=secrets + parameters,
    )


@dataclass(frozen=True)
class Line:
    service: str
    quantity: float
    price: Price

    @property
    def dollars(self) -> float:
        return self.price.of(self.quantity)


def priced(use: Usage, functions: Functions) -> list[Line]:
    """The usage by service, with its list price."""
    return [
        Line("DynamoDB writes", use.dynamodb_write_units, DYNAMODB_WRITE_REQUEST_UNIT),
        Line("DynamoDB reads", use.dynamodb_read_units, DYNAMODB_READ_REQUEST_UNIT),
        Line("Lambda invocations", use.lambda_invocations, LAMBDA_REQUEST),
        Line("Lambda duration", use.lambda_gb_seconds, functions.gb_second),
        Line("SQS FIFO requests", use.sqs_requests, SQS_FIFO_REQUEST),
        Line("HTTP API requests", use.http_api_requests, HTTP_API_REQUEST),
        Line("EventBridge events", use.eventbridge_events, EVENTBRIDGE_EVENT),
        Line("CloudWatch Logs ingestion", use.log_bytes, CLOUDWATCH_LOGS_INGESTION),
        Line("Secrets Manager calls", use.secrets_manager_calls, SECRETS_MANAGER_CALL),
        Line("SSM Parameter Store calls", use.ssm_calls, SSM_STANDARD_CALL),
        Line("KMS requests (decrypting those)", use.kms_requests, KMS_REQUEST),
    ]


def total(lines: list[Line]) -> float:
    return sum(line.dollars for line in lines)


def price_rows(lines: list[Line]) -> list[dict[str, Any]]:
    """The breakdown as data: service, quantity, unit, dollars (what `price_table` prints)."""
    return [
        {"service": line.service, "quantity": line.quantity, "unit": line.price.unit, "dollars": line.dollars}
        for line in lines
    ]


def price_table(rows: list[dict[str, Any]], *, indent: str = "  ") -> list[str]:
    """The breakdown (`price_rows`) as report lines, with its total."""
    width = max(len(row["service"]) for row in rows)
    lines = [f"{indent}{'service':<{width}}  {'quantity':>14} {'unit':<32} {'dollars':>11}"]
    for row in rows:
        quantity = row["quantity"]
        shown = f"{quantity:,.1f}" if quantity < 1e6 else f"{quantity:,.0f}"
        lines.append(
            f"{indent}{row['service']:<{width}}  {shown:>14} {row['unit']:<32} ${row['dollars']:>10.6f}"
        )
    dollars = sum(row["dollars"] for row in rows)
    lines.append(f"{indent}{'total':<{width}}  {'':>14} {'':<32} ${dollars:>10.6f}")
    return lines


def ratio(value: float, reference: float) -> str:
    return f"{value / reference:.2f}" if reference else "n/a"
