"""The embedded default: the real handlers on moto, with resources made from template.yaml.

`LocalRun` starts moto, creates the template's tables, queues and bus, seeds a config file,
starts a fake Graph API (or points at `graph_api_url`) and then plays the parts AWS plays:
API Gateway (HTTP API events, the JWT authorizer), the SQS event source (FIFO batches, partial
failures, redelivery, records the function put back for later, on the run's clock), EventBridge
(the minute schedule and the agent-online rule), and DynamoDB's TTL deletions (each minute, after
the schedule). One lock runs one handler at a time, as one Lambda instance per function would.
While it runs, moto is patched (`handoff_local.moto_patches`) so that its memory and its time per
request do not grow with the traffic.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time as wall
import uuid
import warnings
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from handoff_local import moto_patches
from handoff_local.aws import (
    HANDOFF_BUS,
    LOCAL_AWS_ENVIRONMENT,
    LocalStack,
    Route,
    Trigger,
    function_handlers,
    function_routes,
    function_triggers,
    provision,
    socket_api,
)
from handoff_local.payloads import meta_signature
from handoff_local.sockets import LocalSockets
from handoff_tools import tokens
from handoff_tools.functions import TEMPLATE, load_function

log = logging.getLogger("handoff_local.runtime")
RETURNED_HIDDEN = 3600
"""Seconds a record put back for later stays hidden on moto's clock: the run brings it back itself,
on the run's clock, which tests move on in leaps."""


@contextmanager
def sends_wait_on_the_clock() -> Iterator[None]:
    """While it lasts, a sender's wait for its send slot moves the run's clock on instead of
    sleeping: for setting up many users at night, when the run's clock leaps anyway."""
    from handoff import clock
    from handoff.runtime import wiring

    shell = wiring.conversations()
    sleep = shell.sleep

    def wait(seconds: float) -> None:
        clock.advance(seconds)

    shell.sleep = wait
    try:
        yield
    finally:
        shell.sleep = sleep


@dataclass
class HttpResult:
    status: int
    body: str  # as text; a binary body (a user's file) is in `content`
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def content(self) -> bytes:
        """The body's bytes, as API Gateway sends them (a base64-encoded answer decoded)."""
        return self.raw if self.raw is not None else self.body.encode()


@dataclass
class _LambdaContext:
    function_name: str
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


class LocalRun:
    """`with LocalRun(config) as run:` the whole application, in this process, on moto.

    `history`: how many of the latest bus events (`published`) and fake Graph API requests to keep
    for the caller to read (None: all of them, as tests want; `make local` keeps a few). `lean_moto`
    False leaves moto as it is (`make chaos --moto-as-is`, to compare). `push_port`: where the push
    channel's WebSocket API listens on loopback (`sockets`; 0: a free port). `parameters` overrides
    the template's parameter defaults (`WhatsappSendsPerSecond`...), as `--parameter-overrides` would.
    """

    def __init__(
        self,
        config_path: Path,
        *,
        graph_api_url: str | None = None,
        graph_printer: Callable[[Any], None] | None = None,
        log_level: str = "WARNING",
        history: int | None = None,
        lean_moto: bool = True,
        push_port: int = 0,
        parameters: Mapping[str, str] | None = None,
    ) -> None:
        self.config_path = Path(config_path)
        self.parameters = dict(parameters or {})
        # put back for later by the conversation function: message id -> (receipt, due on the run's clock)
        self._returned: dict[str, tuple[str, datetime]] = {}
        self.records_put_back = 0  # how many times, since the run started
        self.external_graph_api_url = graph_api_url
        self.graph_printer = graph_printer
        self.log_level = log_level
        self.history = history
        self.lean_moto = lean_moto
        self.lock = threading.RLock()
        self.graph: Any = None
        self.stack: LocalStack | None = None
        self._mock: Any = None
        self._moto_patched = False
        self._saved_environment: dict[str, str | None] = {}
        self._functions: dict[str, ModuleType] = {}
        self.published: deque[Any] = deque(maxlen=history)  # conversation events put on the bus (BusEvent)
        self._publish_to_bus: Callable[..., None] | None = None  # wiring.publish_event, while running
        self._routes: list[Route] = []
        self._bus_rules: list[Trigger] = []  # the EventBridge rules on the product's bus
        self.push_port = push_port
        self.sockets: LocalSockets | None = None  # the push channel's WebSocket API, while running

    # --- lifecycle ----------------------------------------------------------------------------------

    def __enter__(self) -> LocalRun:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> LocalRun:
        from moto import mock_aws

        from handoff import clock
        from handoff.adapters import event_bus
        from handoff.observability import logger
        from handoff.runtime import wiring
        from handoff_tools.config_file import load_config

        tenants = load_config(self.config_path)  # a bad config fails before anything starts
        # metrics are off locally; Powertools still warns that each invocation published none
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        self._set_environment(
            {
                **LOCAL_AWS_ENVIRONMENT,
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_METRICS_DISABLED": "true",
                "POWERTOOLS_LOG_LEVEL": self.log_level,
                "POWERTOOLS_DEV": "false",
            }
        )
        if self.lean_moto:
            moto_patches.install()  # before anything is created: a moto it does not know fails here
            self._moto_patched = True
        self._mock = mock_aws()
        self._mock.start()
        clock.reset()
        self.stack = provision(TEMPLATE, parameters=self.parameters)
        self._returned.clear()
        api = socket_api(TEMPLATE)
        if api is not None:
            self.sockets = LocalSockets(api, self.invoke, clock.now, port=self.push_port).start()
        if self.external_graph_api_url is None:
            from handoff_local.fake_graph import FakeGraphApi

            self.graph = FakeGraphApi(printer=self.graph_printer, history=self.history).start()
            graph_api_url = self.graph.url
        else:
            graph_api_url = self.external_graph_api_url
        push_url = self.sockets.url if self.sockets is not None else None
        self._set_environment(
            {
                **self.stack.environment(graph_api_url, push_url),
                "POWERTOOLS_LOG_LEVEL": self.log_level,
                # the run plays one instance of the conversation function: its share is all of theirs
                "CONVERSATION_INSTANCES": "1",
            }
        )
        logger.setLevel(self.log_level)  # the shared Logger may predate this run's environment
        wiring.reset()
        wiring.announce_agent_available = self._agent_available  # EventBridge's rule, played here
        wiring.continue_wake_pass = self._wake_pass_continues
        self.published.clear()
        self._publish_to_bus = publish_to_bus = wiring.publish_event

        def publish(event: Any) -> None:  # onto moto's bus for real, kept for tests, and to its rules
            publish_to_bus(event)
            self.published.append(event)
            self._to_bus_rules(event_bus.CONVERSATIONS_SOURCE, event.detail_type, event.detail)

        wiring.publish_event = publish
        directory = wiring.directory()
        for tenant in tenants:
            directory.save_tenant(tenant)
            for account in tenant.accounts:
                self.stack.put_access_token(account.account_id)
        self._routes = function_routes(TEMPLATE)
        self._bus_rules = [
            trigger
            for trigger in function_triggers(TEMPLATE)
            if trigger.kind == "eventbridge" and trigger.source == HANDOFF_BUS
        ]
        self._functions = {
            logical_id: load_function(logical_id, code_uri, handler)
            for logical_id, (code_uri, handler) in function_handlers(TEMPLATE).items()
        }
        return self

    def stop(self) -> None:
        from handoff import clock
        from handoff.runtime import wiring

        if self._publish_to_bus is not None:
            wiring.publish_event = self._publish_to_bus
            self._publish_to_bus = None
        if self.sockets is not None:
            self.sockets.stop()
            self.sockets = None

        if self.graph is not None:
            self.graph.stop()
            self.graph = None
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        if self._moto_patched:
            moto_patches.uninstall()
            self._moto_patched = False
        wiring.reset()
        clock.reset()
        for name, value in self._saved_environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_environment.clear()

    def _set_environment(self, values: Mapping[str, str]) -> None:
        for name, value in values.items():
            self._saved_environment.setdefault(name, os.environ.get(name))
            os.environ[name] = value

    # --- API Gateway --------------------------------------------------------------------------------

    def http(
        self,
        method: str,
        path: str,
        *,
        body: str | bytes | Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
    ) -> HttpResult:
        """One request to the HTTP API, routed like the template's routes, JWT checked like the authorizer."""
        for route in self._routes:
            parameters = route.match(method, path)
            if parameters is None:
                continue
            headers = {k.lower(): v for k, v in (headers or {}).items()}
            claims = None
            if route.authorized:
                claims = tokens.verify(headers.get("authorization", ""))
                if claims is None:
                    return HttpResult(401, json.dumps({"message": "Unauthorized"}))
            event = _http_event(route, method, path, parameters, body, headers, query or {}, claims)
            response = self.invoke(route.function, event)
            content = _response_body(response)
            return HttpResult(
                int(response.get("statusCode", 200)),
                content.decode(errors="replace"),
                dict(response.get("headers") or {}),
                content,
            )
        return HttpResult(404, json.dumps({"message": "Not Found"}))

    def webhook(
        self, channel: str, body: bytes | str | Mapping[str, Any], *, signed: bool = True
    ) -> HttpResult:
        """A delivery as Meta sends it: the raw bytes, signed with the app secret."""
        assert self.stack is not None
        raw = (
            body
            if isinstance(body, bytes)
            else (body if isinstance(body, str) else json.dumps(body)).encode()
        )
        headers = {"content-type": "application/json"}
        if signed:
            headers["x-hub-signature-256"] = meta_signature(raw, self.stack.app_secret)
        return self.http("POST", f"/webhooks/{channel}", body=raw, headers=headers)

    def agent_token(
        self, tenant_id: str, agent_id: str, *, seats: int | None = None, name: str | None = None
    ) -> str:
        return tokens.issue(tenant_id, agent_id, seats=seats, name=name)

    def as_agent(
        self, tenant_id: str, agent_id: str, *, seats: int | None = None, name: str | None = None
    ) -> dict[str, str]:
        """Headers of an agent (`name`: their display name, by default their id)."""
        token = self.agent_token(tenant_id, agent_id, seats=seats, name=name)
        return {"Authorization": f"Bearer {token}"}

    def as_admin(self, tenant_id: str, admin_id: str = "admin-1") -> dict[str, str]:
        """Headers of a tenant administrator (a token in the admins group)."""
        return {"Authorization": f"Bearer {tokens.issue(tenant_id, admin_id, groups=tokens.ADMIN_GROUPS)}"}

    # --- SQS and EventBridge ------------------------------------------------------------------------

    def invoke(self, function: str, event: Mapping[str, Any]) -> Any:
        from handoff.observability import metrics

        with self.lock:
            try:
                return self._functions[function].handler(dict(event), _LambdaContext(function))
            finally:
                # Lambda publishes an invocation's metrics at its end; disabled here, Powertools keeps
                # them instead, and the hundredth value of one metric in the process makes it publish
                # them in the middle of an invocation, which fails without the namespace it read
                # before this run set its environment
                metrics.clear_metrics()

    def drain(self, *, wait_for_returns: bool = False) -> int:
        """Deliver queued events to the conversation function until the queue is empty; returns how many.

        A record the function failed is back on the queue at once (Lambda would wait for the
        visibility timeout). A record it put back for later (its sends had to wait) comes back when
        its delay has passed on the run's clock: at a later drain once the clock has been moved on,
        or in this one with `wait_for_returns`, which waits for it (the run's clock runs with the
        wall clock)."""
        import boto3

        from handoff import clock

        assert self.stack is not None
        with self.lock:  # boto3's default session is not thread-safe: clients are made one at a time
            sqs = boto3.client("sqs")
        processed = 0
        while True:
            with self.lock:
                self._bring_back_due(sqs)
                received = sqs.receive_message(
                    QueueUrl=self.stack.queue_url,
                    MaxNumberOfMessages=10,
                    AttributeNames=["All"],
                    MessageSystemAttributeNames=["All"],
                    VisibilityTimeout=30,
                ).get("Messages", [])
                if received:
                    processed += self._invoke_consumer(sqs, received)
                    continue
                if not (wait_for_returns and self._returned):
                    return processed
                due = min(at for _, at in self._returned.values())
                pause = (due - clock.now()).total_seconds()
            wall.sleep(min(max(pause, 0.0), 1.0) + 0.001)

    def _invoke_consumer(self, sqs: Any, received: Sequence[Mapping[str, Any]]) -> int:
        """One batch through the conversation function, as Lambda's event source would: delete what
        succeeded, return what failed. Returns how many succeeded (put back for later ones are not)."""
        from handoff import clock

        assert self.stack is not None
        queue_url = self.stack.queue_url
        visible = {m["MessageId"]: moto_patches.visible_at(queue_url, m["ReceiptHandle"]) for m in received}
        try:
            result = self.invoke("ConversationFunction", _sqs_event(queue_url, received))
            failed = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
        except Exception:  # an invocation error returns the whole batch, as Lambda does
            failed = {m["MessageId"] for m in received}
        done = 0
        for message in received:
            receipt = message["ReceiptHandle"]
            if message["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=receipt)
                done += 1
                continue
            later = moto_patches.visible_at(queue_url, receipt)
            if later is not None and later != visible[message["MessageId"]]:
                # put back for later by the function: due on the run's clock, hidden until then
                self.records_put_back += 1
                self._returned[message["MessageId"]] = (
                    receipt,
                    clock.now() + timedelta(seconds=later - wall.time()),
                )
                sqs.change_message_visibility(
                    QueueUrl=queue_url, ReceiptHandle=receipt, VisibilityTimeout=RETURNED_HIDDEN
                )
            else:  # back on the queue at once (Lambda would wait for the visibility timeout)
                sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=receipt, VisibilityTimeout=0)
        return done

    def _bring_back_due(self, sqs: Any) -> None:
        """Make visible the records put back for later whose time has come on the run's clock."""
        from handoff import clock

        assert self.stack is not None
        now = clock.now()
        for message_id, (receipt, due) in list(self._returned.items()):
            if due <= now:
                del self._returned[message_id]
                sqs.change_message_visibility(
                    QueueUrl=self.stack.queue_url, ReceiptHandle=receipt, VisibilityTimeout=0
                )

    def returned(self) -> int:
        """How many records the conversation function put back for later are not due yet."""
        return len(self._returned)

    def dead_letters(self) -> int:
        import boto3

        assert self.stack is not None
        with self.lock:
            attributes = boto3.client("sqs").get_queue_attributes(
                QueueUrl=self.stack.dead_letter_queue_url, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])

    def pending_outbox(self) -> int:
        """How many Graph API requests wait in the outbox (Meta refused them, or they are not sent yet)."""
        from handoff.runtime.wiring import conversation_store

        with self.lock:
            return len(conversation_store().all_pending())

    def tick(self) -> dict[str, Any]:
        """The minute schedule, now: the wake pass and the outbox sweep, then the queue drained,
        then DynamoDB's TTL deletions (`expire_items`)."""
        result = self.invoke("WakeFunction", _eventbridge_event("aws.events", "Scheduled Event", {}))
        self.drain()
        self.expire_items()
        return dict(result)

    def expire_items(self) -> int:
        """Delete the items whose TTL is past on the run's clock, as DynamoDB does (moto never does);
        returns how many. After the schedule, so that a jump of the clock still lets the wake pass
        end what it would have ended before their TTL came."""
        from handoff import clock

        with self.lock:
            return moto_patches.expire_items(clock.now())

    def _to_bus_rules(self, source: str, detail_type: str, detail: dict[str, Any]) -> None:
        """EventBridge's part: the event to every function whose rule on the bus matches it. As on
        AWS, a target that fails does not fail whoever published (there, the invocation is
        asynchronous); here it runs before `publish` returns, so tests need not wait for it."""
        envelope = _eventbridge_event(source, detail_type, detail)
        for rule in self._bus_rules:
            if rule.matches(envelope):
                try:
                    self.invoke(rule.function, envelope)
                except Exception:
                    log.exception("%s failed on a %s event", rule.function, detail_type)

    def _agent_available(self, tenant_id: str) -> None:
        detail = {"tenant_id": tenant_id}
        self.invoke("WakeFunction", _eventbridge_event("async-handoff.live", "AgentAvailable", detail))

    def _wake_pass_continues(self, tenant_id: str) -> None:
        detail = {"tenant_id": tenant_id}
        self.invoke("WakeFunction", _eventbridge_event("async-handoff.wake", "WakePassContinues", detail))

    def advance(self, seconds: float) -> None:
        from handoff import clock

        with self.lock:  # never in the middle of an invocation
            clock.advance(seconds)
            self._close_expired_sockets()

    def users_wait_at_night(self, wa_ids: Sequence[str], phone_number_id: str, zone: str) -> None:
        """Each of `wa_ids` asks for an agent at 22:00 on a weekday in `zone` and says yes to wait,
        ten to a delivery (as Meta batches them), on the WhatsApp number `phone_number_id`; a
        sender's wait for its send slot moves the clock meanwhile (`sends_wait_on_the_clock`)."""
        from handoff import clock
        from handoff.engine.model import YES_PAYLOAD
        from handoff_local import payloads

        self.advance_to(22, zone, weekday=True)
        with sends_wait_on_the_clock():
            for first in range(0, len(wa_ids), 10):
                group = wa_ids[first : first + 10]
                asks = [payloads.whatsapp_text(u, "Quiero hablar con un agente", clock.now()) for u in group]
                self.webhook("whatsapp", payloads.whatsapp_delivery(phone_number_id, *asks))
                self.drain()
                self.advance(5)
                taps = [payloads.whatsapp_button_reply(u, YES_PAYLOAD, "Sí", clock.now()) for u in group]
                self.webhook("whatsapp", payloads.whatsapp_delivery(phone_number_id, *taps))
                self.drain()
                self.advance(5)

    def advance_to(self, hour: int, zone: str, *, weekday: bool = False) -> datetime:
        """Move the clock to the next `hour`:00 in `zone` (a Monday-to-Friday one if `weekday`)."""
        from handoff import clock

        now = clock.now().astimezone(ZoneInfo(zone))
        target = datetime.combine(now.date(), time(hour), tzinfo=ZoneInfo(zone))
        while target <= now or (weekday and target.weekday() >= 5):
            target = datetime.combine(target.date() + timedelta(days=1), time(hour), tzinfo=ZoneInfo(zone))
        with self.lock:
            moved = clock.advance((target - now).total_seconds())
            self._close_expired_sockets()
        return moved

    def _close_expired_sockets(self) -> None:
        if self.sockets is not None:
            self.sockets.close_expired()


def _http_event(
    route: Route,
    method: str,
    path: str,
    parameters: Mapping[str, str],
    body: str | bytes | Mapping[str, Any] | None,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    claims: Mapping[str, Any] | None,
) -> dict[str, Any]:
    if isinstance(body, Mapping):
        body = json.dumps(body)
        headers = {"content-type": "application/json", **headers}
    raw_body = body.decode() if isinstance(body, bytes) else body
    route_key = f"{route.method} {route.path}"
    context: dict[str, Any] = {
        "accountId": "123456789012",
        "apiId": "local",
        "domainName": "127.0.0.1",
        "http": {
            "method": method.upper(),
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1",
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": str(uuid.uuid4()),
        "routeKey": route_key,
        "stage": "$default",
        "time": "",
        "timeEpoch": 0,
    }
    if claims is not None:
        context["authorizer"] = {"jwt": {"claims": dict(claims), "scopes": None}}
    return {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": urlencode(query),
        "headers": dict(headers),
        "queryStringParameters": dict(query) or None,
        "pathParameters": dict(parameters) or None,
        "requestContext": context,
        "body": raw_body,
        "isBase64Encoded": False,
    }


def _response_body(response: Mapping[str, Any]) -> bytes:
    body = response.get("body") or ""
    if response.get("isBase64Encoded"):
        return base64.b64decode(body)
    return str(body).encode()


def _sqs_event(queue_url: str, messages: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    queue_name = queue_url.rsplit("/", 1)[-1]
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{queue_name}",
                "awsRegion": "us-east-1",
            }
            for m in messages
        ]
    }


def _eventbridge_event(source: str, detail_type: str, detail: dict[str, Any]) -> dict[str, Any]:
    """An event as EventBridge hands it to a Lambda target: the whole envelope."""
    from handoff import clock

    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": "123456789012",  # moto's account
        "time": clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }
