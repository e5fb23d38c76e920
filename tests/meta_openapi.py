"""Meta's WhatsApp OpenAPI description (v23.0), read as a JSON Schema 2020-12 validator of request
bodies: for the unit tests of `render` and for stories that check what the fake Graph API received.

The description's request schemas pair `allOf: [BaseMessageProperties, {..., additionalProperties:
false}]`; read literally, the second half forbids the first half's properties, so no real body
would pass. Each such pair is normalised to `unevaluatedProperties: false` on the `allOf`, which
keeps the intent: no property outside the union.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_URI = "urn:meta:whatsapp-business-messaging-api:v23.0"
MESSAGES_PATH = "/{Version}/{Phone-Number-ID}/messages"


@cache
def load_spec(path: Path) -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open(encoding="utf-8") as stream:
        spec: dict[str, Any] = yaml.load(stream, Loader=loader)
    return spec


def normalise(node: Any) -> Any:
    """A copy where every `allOf` with an `additionalProperties: false` member closes the whole
    `allOf` with `unevaluatedProperties: false` instead."""
    if isinstance(node, list):
        return [normalise(item) for item in node]
    if not isinstance(node, dict):
        return node
    result = {key: normalise(value) for key, value in node.items()}
    members = result.get("allOf")
    if isinstance(members, list) and any(
        isinstance(m, dict) and m.get("additionalProperties") is False for m in members
    ):
        result["allOf"] = [
            {k: v for k, v in m.items() if k != "additionalProperties"} if isinstance(m, dict) else m
            for m in members
        ]
        result["unevaluatedProperties"] = False
    return result


def request_body_validator(spec: dict[str, Any]) -> Draft202012Validator:
    """A validator for the request body schema of `POST /{Version}/{Phone-Number-ID}/messages`."""
    schema = spec["paths"][MESSAGES_PATH]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/Message"}, "the operation's body schema moved"
    registry: Registry[Any] = Registry().with_resource(
        SPEC_URI, Resource.from_contents(spec, default_specification=DRAFT202012)
    )
    return Draft202012Validator({"$ref": SPEC_URI + schema["$ref"]}, registry=registry)


def schema_validator(spec: dict[str, Any], name: str) -> Draft202012Validator:
    """A validator for one named schema: its errors say more than the `oneOf` of all messages."""
    registry: Registry[Any] = Registry().with_resource(
        SPEC_URI, Resource.from_contents(spec, default_specification=DRAFT202012)
    )
    return Draft202012Validator({"$ref": f"{SPEC_URI}#/components/schemas/{name}"}, registry=registry)


def whatsapp_body_errors(path: Path, body: dict[str, Any]) -> list[str]:
    """What the normalised description finds wrong with a WhatsApp message body, sorted (none: [])."""
    validator = request_body_validator(normalise(load_spec(path)))
    return sorted(error.message for error in validator.iter_errors(body))
