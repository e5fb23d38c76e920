"""Fuzzing the intake (issue 12, point 7): Meta's webhooks, the queue encoding and the conversation step,
and the Live and admin APIs' JSON bodies, through the real handlers on the embedded run.

Deliveries start valid-looking (WhatsApp's `changes[].value.messages[]`, the Meta Messaging
Platform's `entry[].messaging[]`) and are then mutated: keys dropped, values swapped for nulls,
wrong types, huge and odd strings (lone surrogates, control characters, 300 000 characters),
numbers past every limit, and nesting past the JSON reader's bound. Each is signed with the app
secret, so it reaches the parser. A webhook must answer below 500 with no exception escaping;
whatever it queued is read back from the queue, decoded as the conversation function decodes it,
and applied through `Conversations.apply`, which must not raise either. The Live and admin bodies
get the same treatment and must answer below 500.

Reproducible and bounded: `derandomize=True` with no example database, so CI draws the same
examples every run, and `max_examples` keeps the file to a few tens of seconds.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from conftest import ACME_INSTAGRAM, ACME_NUMBER, ACME_PAGE, BOGOTA, CONFIG
from handoff import clock
from handoff.engine.model import Event
from handoff.runtime.wiring import conversations
from handoff_local import payloads
from handoff_local.runtime import LocalRun

FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
EVENTS: TypeAdapter[Event] = TypeAdapter(Event)
_ids = itertools.count(1)


@pytest.fixture(scope="module")
def run() -> Iterator[LocalRun]:
    with LocalRun(CONFIG, log_level="CRITICAL") as local:  # the fuzz's warnings are expected: not shown
        local.advance_to(10, BOGOTA, weekday=True)  # business hours: handoffs reach Live's queue
        yield local


# --- hostile values --------------------------------------------------------------------------------

ODD_STRINGS = [
    "",
    " ",
    "\ud83d",  # a lone surrogate, as `\ud83d` in the JSON
    "\udc00 tail",
    "wamid.\ud83d",
    "\x00\x01\x1f",
    "\ufffe\uffff",
    "\u202e\u200b",
    "NaN",
    "1e400",
    "-1",
    "9" * 400,
    "US.",
    ".",
    "YES",
    "NO",
]
odd_strings = st.one_of(
    st.sampled_from(ODD_STRINGS),
    st.text(st.characters(exclude_categories=()), max_size=12),  # surrogates included
    st.builds(
        lambda piece, times: piece * times,
        st.sampled_from(["x", "😀", "\x01", "é ", "\ud83d"]),
        st.sampled_from([4095, 4096, 4097, 70_000, 300_000]),
    ),
)
odd_numbers = st.one_of(
    st.sampled_from(
        [10**309, -(10**309), 10**4000, 1e308, -1, 0, 2**63, 0.5, 253402300800, 4102444800, 10**11, 946684799]
    ),
    st.integers(),
    st.floats(),  # NaN and the infinities too: not JSON, so the reader refuses them
)


def nested(value: Any, depth: int, as_object: bool) -> Any:
    for _ in range(depth):
        value = {"a": value} if as_object else [value]
    return value


scalars = st.one_of(st.none(), st.booleans(), odd_numbers, odd_strings)
junk = st.one_of(
    scalars,
    st.lists(scalars, max_size=3),
    st.dictionaries(odd_strings, scalars, max_size=3),
    st.builds(nested, scalars, st.integers(1, 120), st.booleans()),
)


@st.composite
def mutated(draw: st.DrawFn, payload: st.SearchStrategy[Any]) -> Any:
    """A payload with up to five of its keys or items dropped or replaced by junk (the root too)."""
    value = copy.deepcopy(draw(payload))  # the mutations must not reach a shared value (`st.just`)
    for _ in range(draw(st.integers(0, 5))):
        spots = list(_spots(value))
        if not spots or draw(st.integers(0, 30)) == 0:
            return draw(junk)  # the whole body
        parent, key = draw(st.sampled_from(spots))
        if draw(st.booleans()):
            del parent[key]
        else:
            parent[key] = draw(junk)
    return value


def _spots(value: Any) -> Iterator[tuple[Any, Any]]:
    """Every (container, key or index) in a payload, depth first."""
    stack = [value]
    while stack:
        item = stack.pop()
        keys = list(item) if isinstance(item, dict) else range(len(item)) if isinstance(item, list) else []
        for key in keys:
            yield item, key
            stack.append(item[key])


def as_meta_sends(payload: Any) -> bytes:
    """Meta's escaped-unicode JSON: lone surrogates travel as `\\ud83d`, NaN as a bare `NaN`."""
    return json.dumps(payload).encode()


def _seconds_from_now(offset: timedelta) -> int:
    return int((clock.now() + offset).timestamp())


offsets = st.sampled_from([timedelta(0), timedelta(minutes=-5), timedelta(days=-2), timedelta(hours=3)])
FAR_SECONDS: list[Any] = [
    253402300799,  # 9999-12-31
    4102444805,  # 2100
    946684799,  # 1999-12-31
    10**309,  # past a float
    "1e400",
    -5,
    "NaN",
    "1760000000.5",
]


def timestamps(milliseconds: bool) -> st.SearchStrategy[Any]:
    """Meta's timestamps near the run's now (seconds as a string on WhatsApp, milliseconds on the Meta
    Messaging Platform), or far off and odd."""
    seconds = offsets.map(_seconds_from_now)
    near: st.SearchStrategy[Any] = seconds.map(lambda s: s * 1000) if milliseconds else seconds.map(str)
    return st.one_of(near, st.sampled_from(FAR_SECONDS))


users = st.sampled_from(["573001110001", "573001110002", "5215550001"])
bsuids = st.sampled_from(["US.13000000000000000001", "CO.99", None])
texts = st.one_of(
    st.sampled_from(["Hola", "Quiero hablar con un asesor", "sí", "no", "¿horario?", "mi pedido"]),
    odd_strings,
)

# --- WhatsApp -----------------------------------------------------------------------------------------


@st.composite
def whatsapp_message(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(
        st.sampled_from(
            [
                "text",
                "interactive",
                "button",
                "image",
                "location",
                "contacts",
                "reaction",
                "order",
                "unsupported",
            ]
        )
    )
    message: dict[str, Any] = {
        "from": draw(users),
        "id": f"wamid.FUZZ{next(_ids)}",
        "timestamp": draw(timestamps(milliseconds=False)),
        "type": kind,
    }
    if bsuid := draw(bsuids):
        message["from_user_id"] = bsuid
    text = draw(texts)
    match kind:
        case "text":
            message["text"] = {"body": text}
        case "interactive":
            reply = draw(st.sampled_from(["button_reply", "list_reply"]))
            tapped = draw(st.sampled_from(["HANDOFF_YES", "HANDOFF_NO", "row_1"]) | odd_strings)
            message["interactive"] = {"type": reply, reply: {"id": tapped, "title": text}}
        case "button":
            message["button"] = {"text": text, "payload": draw(st.none() | odd_strings)}
        case "image":
            message["image"] = {"id": "900000000000001", "mime_type": "image/jpeg", "caption": text}
        case "location":
            message["location"] = {"latitude": 4.6, "longitude": -74.1, "name": text, "address": text}
        case "contacts":
            message["contacts"] = [{"name": {"formatted_name": text}, "phones": [{"phone": "+1"}]}]
        case "reaction":
            message["reaction"] = {"message_id": "wamid.X", "emoji": text}
        case "order":
            message["order"] = {"catalog_id": "1", "text": text, "product_items": []}
    return message


@st.composite
def whatsapp_delivery(draw: st.DrawFn) -> dict[str, Any]:
    messages = draw(st.lists(whatsapp_message(), min_size=1, max_size=4))
    contacts = [
        {
            "profile": {"name": draw(texts)},
            "wa_id": m["from"],
            **({"user_id": m["from_user_id"]} if "from_user_id" in m else {}),
        }
        for m in messages
    ]
    body = payloads.whatsapp_delivery(ACME_NUMBER, *messages, contacts=contacts)
    statuses = [{"id": "wamid.OURS", "status": "read", "timestamp": str(_seconds_from_now(timedelta(0)))}]
    if draw(st.booleans()):
        body["entry"][0]["changes"][0]["value"]["statuses"] = statuses
    return body


# --- Messenger and Instagram ------------------------------------------------------------------------------

PSIDS = st.sampled_from(["4000000000000001", "4000000000000002", "24000000000000001"])


@st.composite
def meta_platform_event(draw: st.DrawFn, account_id: str) -> dict[str, Any]:
    sender = draw(PSIDS)
    at = clock.now() + draw(offsets)
    text = draw(texts)
    kind = draw(
        st.sampled_from(["text", "quick_reply", "postback", "attachment", "story_reply", "echo", "read"])
    )
    match kind:
        case "text":
            event = payloads.meta_platform_text(sender, account_id, text, at)
        case "quick_reply":
            payload = draw(st.sampled_from(["HANDOFF_YES", "HANDOFF_NO"]) | odd_strings)
            event = payloads.meta_platform_quick_reply(sender, account_id, payload, text, at)
        case "postback":
            event = payloads.meta_platform_postback(sender, account_id, draw(odd_strings), text, at)
            if draw(st.booleans()):
                del event["postback"]["mid"]  # older postbacks: the id is made of sender and time
        case "attachment":
            kind_ = draw(
                st.sampled_from(["image", "video", "file", "story_mention", "share", "ig_reel", "odd"])
            )
            event = payloads.meta_platform_attachment(sender, account_id, kind_, at)
        case "story_reply":
            event = payloads.meta_platform_text(sender, account_id, text, at)
            event["message"]["reply_to"] = {"story": {"id": "1", "url": "https://cdn.example.test/s"}}
        case "echo":
            event = payloads.meta_platform_echo(sender, account_id, text, at)
        case _:
            event = {
                "sender": {"id": sender},
                "recipient": {"id": account_id},
                "timestamp": int(at.timestamp() * 1000),
                "read": {"watermark": int(at.timestamp() * 1000)},
            }
    if "timestamp" in event:
        event["timestamp"] = draw(timestamps(milliseconds=True))
    return event


def meta_platform_delivery(channel: str, account_id: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "object": st.just(payloads.WEBHOOK_OBJECTS[channel]),
            "entry": st.lists(
                st.fixed_dictionaries(
                    {
                        "id": st.just(account_id),
                        "time": timestamps(milliseconds=True),
                        "messaging": st.lists(meta_platform_event(account_id), min_size=1, max_size=4),
                    }
                ),
                min_size=1,
                max_size=2,
            ),
        }
    )


# --- the webhook, the queue and the conversation step ------------------------------------------------------


def deliver_and_apply(run: LocalRun, channel: str, payload: Any) -> None:
    """Send the signed delivery; below 500, no exception; then apply whatever reached the queue."""
    response = run.webhook(channel, as_meta_sends(payload))
    assert response.status < 500, response.body
    apply_queued(run)


def apply_queued(run: LocalRun) -> None:
    """Read every message off the inbound queue, decode it as the conversation function does and
    apply it through the conversation step: an exception there fails the example."""
    assert run.stack is not None
    sqs = boto3.client("sqs")
    while messages := sqs.receive_message(
        QueueUrl=run.stack.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=60
    ).get("Messages", []):
        for message in messages:
            event = EVENTS.validate_json(message["Body"])
            with run.lock:
                conversations().apply(event)
            sqs.delete_message(QueueUrl=run.stack.queue_url, ReceiptHandle=message["ReceiptHandle"])


@FUZZ
@given(payload=mutated(whatsapp_delivery()))
def test_whatsapp_deliveries(run: LocalRun, payload: Any) -> None:
    deliver_and_apply(run, "whatsapp", payload)


@FUZZ
@given(payload=mutated(meta_platform_delivery("messenger", ACME_PAGE)))
def test_messenger_deliveries(run: LocalRun, payload: Any) -> None:
    deliver_and_apply(run, "messenger", payload)


@FUZZ
@given(payload=mutated(meta_platform_delivery("instagram", ACME_INSTAGRAM)))
def test_instagram_deliveries(run: LocalRun, payload: Any) -> None:
    deliver_and_apply(run, "instagram", payload)


@settings(FUZZ, max_examples=40)
@given(
    channel=st.sampled_from(["whatsapp", "messenger", "instagram"]),
    body=st.one_of(
        st.text(max_size=50).map(str.encode),
        st.builds(nested, st.just(0), st.integers(60, 3000), st.booleans()).map(as_meta_sends),
        st.builds(lambda n: b'{"object": ' + b"7" * n + b"}", st.integers(4000, 5000)),
    ),
)
def test_webhook_bodies_that_are_barely_json(run: LocalRun, channel: str, body: bytes) -> None:
    response = run.webhook(channel, body)
    assert response.status < 500, response.body


# --- Live and admin bodies ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live_routes(
    run: LocalRun,
) -> list[tuple[str, str, dict[str, str], Callable[..., st.SearchStrategy[Any]]]]:
    """The routes that read a body, with a valid-looking body for each (a conversation carla holds)."""
    agent = run.as_agent("acme", "carla")
    admin = run.as_admin("globex")  # the webhooks fuzz acme: admin writes may change globex only
    assert run.http("PUT", "/live/presence", body={"online": True}, headers=agent).status == 200
    message = payloads.whatsapp_text("573009990001", "Quiero hablar con un asesor", clock.now())
    run.webhook("whatsapp", payloads.whatsapp_delivery(ACME_NUMBER, message))
    run.drain()
    conversations_ = run.http("GET", "/live/conversations", headers=agent).json()["conversations"]
    held = next(c["id"] for c in conversations_ if c["state"] == "queued")
    assert run.http("POST", f"/live/conversations/{held}/take", headers=agent).status == 200
    config = run.http("GET", "/admin/config", headers=admin).json()
    version = st.sampled_from([config["version"], 0, 99]) | junk
    return [
        ("PUT", "/live/presence", agent, lambda: st.fixed_dictionaries({"online": st.booleans()})),
        ("POST", f"/live/conversations/{held}/reply", agent, lambda: st.fixed_dictionaries({"text": texts})),
        (
            "POST",
            f"/live/conversations/{held}/template",
            agent,
            lambda: st.fixed_dictionaries(
                {
                    "name": st.sampled_from(["acme_seguimiento", "acme_pedido_listo"]) | texts,
                    "language": st.just("es") | texts,
                    "parameters": st.lists(texts, max_size=4),
                }
            ),
        ),
        (
            "PUT",
            "/admin/agent-seats",
            admin,
            lambda: st.fixed_dictionaries({"version": version, "agent_seats": st.integers(-1, 101)}),
        ),
        (
            "PUT",
            "/admin/config",
            admin,
            lambda: st.fixed_dictionaries({"version": version, "config": st.just(config["config"])}),
        ),
        (
            "PUT",
            "/admin/messages/es",
            admin,
            lambda: st.fixed_dictionaries(
                {"version": version, "messages": st.fixed_dictionaries({"offer": texts})}
            ),
        ),
        (
            "PUT",
            "/admin/intents",
            admin,
            lambda: st.fixed_dictionaries(
                {
                    "version": version,
                    "intents": st.lists(
                        st.fixed_dictionaries(
                            {
                                "name": texts,
                                "keywords": st.fixed_dictionaries({"es": st.lists(texts, max_size=2)}),
                                "answer": st.fixed_dictionaries({"es": texts}),
                            }
                        ),
                        max_size=2,
                    ),
                }
            ),
        ),
    ]


@settings(FUZZ, max_examples=200)
@given(data=st.data())
def test_live_and_admin_bodies(run: LocalRun, live_routes: list[Any], data: st.DataObject) -> None:
    method, path, headers, body = data.draw(st.sampled_from(live_routes))
    payload = data.draw(mutated(body()))
    raw = data.draw(st.sampled_from([as_meta_sends(payload), as_meta_sends(payload)[:-1], b"", b"null"]))
    response = run.http(method, path, body=raw, headers={**headers, "content-type": "application/json"})
    assert response.status < 500, (path, response.body)
    apply_queued(run)
