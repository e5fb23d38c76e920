"""Every WhatsApp request `render` produces validates against Meta's OpenAPI description (v23.0).

The description's request schemas pair `allOf: [BaseMessageProperties, {..., additionalProperties:
false}]`; read literally, the second half forbids the first half's properties, so no real body
would pass. As ARCHITECTURE.md says, each such pair is normalised to `unevaluatedProperties: false`
on the `allOf` (JSON Schema 2020-12), which keeps the intent: no property outside the union
(`tests/meta_openapi.py`, which the stories use too).

The v23.0 description predates the 2026 `recipient` field (BSUID recipients) and requires `to`.
BSUID-only bodies are checked against the description plus exactly that change (`recipient` a
string, `to` or `recipient` required), and a test proves it is the only difference.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from handoff.channels.whatsapp import WhatsAppAdapter
from handoff.engine.model import (
    Conversation,
    ConversationRef,
    Option,
    Outbound,
    SendChoice,
    SendOptions,
    SendTemplate,
    SendText,
    UserAddress,
)
from meta_openapi import load_spec, normalise, request_body_validator, schema_validator

ACCOUNT = "200000000000001"
PHONE = "15550002222"
BSUID = "US.13000000000000000001"

adapter = WhatsAppAdapter()


# --- the spec, normalised -----------------------------------------------------------------------


def with_bsuid_recipient(spec: dict[str, Any]) -> dict[str, Any]:
    """The 2026 change only: `recipient` (a BSUID) may stand in for `to`."""
    patched = copy.deepcopy(spec)
    base = patched["components"]["schemas"]["BaseMessageProperties"]
    base["properties"]["recipient"] = {"type": "string", "description": "BSUID or parent BSUID (2026)"}
    base["required"] = [name for name in base["required"] if name != "to"]
    base["anyOf"] = [{"required": ["to"]}, {"required": ["recipient"]}]
    return patched


@pytest.fixture(scope="module")
def raw_spec(whatsapp_openapi_path: Path) -> dict[str, Any]:
    return load_spec(whatsapp_openapi_path)


@pytest.fixture(scope="module")
def spec(raw_spec: dict[str, Any]) -> dict[str, Any]:
    return normalise(raw_spec)


@pytest.fixture(scope="module")
def validator(spec: dict[str, Any]) -> Draft202012Validator:
    return request_body_validator(spec)


@pytest.fixture(scope="module")
def bsuid_validator(spec: dict[str, Any]) -> Draft202012Validator:
    return request_body_validator(with_bsuid_recipient(spec))


def messages(errors: Any) -> list[str]:
    return sorted(error.message for error in errors)


# --- what render produces -----------------------------------------------------------------------


def conversation(phone: str | None, bsuid: str | None) -> Conversation:
    ref = ConversationRef(
        tenant_id="acme", channel="whatsapp", account_id=ACCOUNT, user_id=bsuid or phone or ""
    )
    return Conversation(ref=ref, address=UserAddress(phone=phone, bsuid=bsuid))


OUTBOUND: dict[str, Outbound] = {
    "text": SendText(text="Un agente te responderá pronto. 👍"),
    "long_text": SendText(text=" ".join(f"palabra{i}" for i in range(1500))),
    "choice": SendChoice(
        text="No hay agentes ahora. ¿Quieres esperar?", yes_title="Sí, espero", no_title="No"
    ),
    "choice_limits": SendChoice(text="¿" + "x" * 1022 + "?", yes_title="y" * 20, no_title="n" * 20),
    "template": SendTemplate(name="agent_available", language="es", parameters=("Ana", "3")),
    "template_no_parameters": SendTemplate(name="hello_world", language="en_US"),
    "bot_options": SendOptions(
        text="¿En qué te ayudo?",
        options=(Option(title="Horarios", payload="/hours"), Option(title="Pedidos", payload="/orders")),
    ),
    "bot_options_past_limits": SendOptions(
        text="x" * 1500,
        options=tuple(Option(title=f"Una opción muy larga número {n}", payload=f"/o{n}") for n in range(5)),
    ),
}


def bodies(phone: str | None, bsuid: str | None) -> list[tuple[str, dict[str, Any]]]:
    rendered = []
    for name, outbound in OUTBOUND.items():
        requests = adapter.render(outbound, conversation(phone, bsuid))
        assert all(r.path == f"{ACCOUNT}/messages" for r in requests)
        rendered += [(f"{name}[{i}]", r.body) for i, r in enumerate(requests)]
    return rendered


PHONE_BODIES = bodies(PHONE, None) + bodies(PHONE, BSUID)
BSUID_BODIES = bodies(None, BSUID)


def test_the_long_text_is_really_split() -> None:
    assert sum(name.startswith("long_text") for name, _ in BSUID_BODIES) > 1


@pytest.mark.parametrize(("name", "body"), PHONE_BODIES, ids=[name for name, _ in PHONE_BODIES])
def test_bodies_to_a_phone_number_validate(
    validator: Draft202012Validator, name: str, body: dict[str, Any]
) -> None:
    assert messages(validator.iter_errors(body)) == []


@pytest.mark.parametrize(("name", "body"), BSUID_BODIES, ids=[name for name, _ in BSUID_BODIES])
def test_bodies_to_a_bsuid_validate_with_the_2026_recipient_field(
    validator: Draft202012Validator, bsuid_validator: Draft202012Validator, name: str, body: dict[str, Any]
) -> None:
    assert messages(bsuid_validator.iter_errors(body)) == []
    # The only thing v23.0 objects to is the BSUID recipient itself: with a `to`, the body passes.
    as_phone = {("to" if key == "recipient" else key): value for key, value in body.items()}
    assert messages(validator.iter_errors(as_phone)) == []


# --- the validator catches wrong bodies ---------------------------------------------------------


def a_text_body() -> dict[str, Any]:
    return adapter.render(SendText(text="hi"), conversation(PHONE, None))[0].body


def a_choice_body() -> dict[str, Any]:
    choice = SendChoice(text="Wait?", yes_title="Yes", no_title="No")
    return adapter.render(choice, conversation(PHONE, None))[0].body


def test_an_unknown_property_is_caught(spec: dict[str, Any], validator: Draft202012Validator) -> None:
    body = a_text_body() | {"colour": "blue"}
    assert not validator.is_valid(body)
    assert messages(schema_validator(spec, "TextMessage").iter_errors(body)) == [
        "Unevaluated properties are not allowed ('colour' was unexpected)"
    ]


def test_a_missing_type_is_caught(spec: dict[str, Any], validator: Draft202012Validator) -> None:
    body = a_text_body()
    del body["type"]
    assert not validator.is_valid(body)
    assert "'type' is a required property" in messages(
        schema_validator(spec, "TextMessage").iter_errors(body)
    )


@pytest.mark.parametrize(
    ("mutate", "why"),
    [
        (lambda b: b.pop("to"), "no recipient at all"),
        (lambda b: b.update(messaging_product=None), "messaging_product not a string"),
        (lambda b: b.update(recipient_type="everyone"), "recipient_type outside its enum"),
        (lambda b: b["text"].update(preview="yes"), "unknown property inside text"),
        (lambda b: b.update(type="interactive"), "type does not match the content"),
    ],
)
def test_other_wrong_text_bodies_are_caught(validator: Draft202012Validator, mutate: Any, why: str) -> None:
    body = copy.deepcopy(a_text_body())
    mutate(body)
    assert not validator.is_valid(body), why


@pytest.mark.parametrize(
    ("mutate", "why"),
    [
        (lambda b: b["interactive"]["action"]["buttons"][0]["reply"].update(title="t" * 21), "title over 20"),
        (lambda b: b["interactive"]["body"].update(text="x" * 1025), "body over 1024"),
        (
            lambda b: b["interactive"]["action"]["buttons"].extend(
                [b["interactive"]["action"]["buttons"][0]] * 2
            ),
            "4 buttons",
        ),
        (lambda b: b["interactive"].pop("action"), "no action"),
    ],
)
def test_wrong_choice_bodies_are_caught(validator: Draft202012Validator, mutate: Any, why: str) -> None:
    body = copy.deepcopy(a_choice_body())
    mutate(body)
    assert not validator.is_valid(body), why


def test_the_bsuid_overlay_still_needs_a_recipient(bsuid_validator: Draft202012Validator) -> None:
    body = a_text_body()
    del body["to"]
    assert not bsuid_validator.is_valid(body)


def test_normalisation_is_what_lets_a_correct_body_pass(raw_spec: dict[str, Any]) -> None:
    literal = request_body_validator(raw_spec)
    assert not literal.is_valid(a_text_body()), "read literally, the allOf halves contradict each other"
    assert "unevaluatedProperties" not in raw_spec["components"]["schemas"]["TextMessage"]
