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


MEDIA_PATH = "/{Version}/{Media-ID}"
DOWNLOAD_PATH = "/{Version}/{Media-URL}"


def get_request_errors(
    path: Path, template: str, raw_path: str, headers: dict[str, str], *, check_path: bool = True
) -> list[str]:
    """What the description finds wrong with a GET request of the operation at `template` (its path
    segments, query and header parameters; header names in any case), sorted (none: []).

    `check_path` False checks only the headers: a download goes to the URL Meta gave, which the
    description writes as one `{Media-URL}` segment."""
    spec = load_spec(path)
    item = spec["paths"][template]
    declared = [*item.get("parameters", []), *item["get"].get("parameters", [])]
    parameters = [_resolved(spec, p) for p in declared]
    errors: list[str] = []
    request_path, _, query_string = raw_path.partition("?")
    if check_path:
        names = [segment.strip("{}") for segment in template.strip("/").split("/")]
        segments = request_path.strip("/").split("/")
        if len(segments) != len(names):
            errors.append(f"{request_path} does not have the segments of {template}")
        for name, value in zip(names, segments, strict=False):
            errors += _value_errors(spec, _named(parameters, name, "path"), value, f"path {name}")
        query = dict(pair.partition("=")[::2] for pair in query_string.split("&") if pair)
        for name, value in query.items():
            parameter = _named(parameters, name, "query")
            if parameter is None:
                errors.append(f"query {name} is not a parameter of GET {template}")
            errors += _value_errors(spec, parameter, value, f"query {name}")
    sent = {name.lower(): value for name, value in headers.items()}
    for parameter in (p for p in parameters if p["in"] == "header"):
        value = sent.get(parameter["name"].lower())
        if value is None:
            if parameter.get("required"):
                errors.append(f"header {parameter['name']} is required")
            continue
        errors += _value_errors(spec, parameter, value, f"header {parameter['name']}")
    return sorted(errors)


def _resolved(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def _named(parameters: list[dict[str, Any]], name: str, where: str) -> dict[str, Any] | None:
    return next((p for p in parameters if p["in"] == where and p["name"] == name), None)


def _value_errors(spec: dict[str, Any], parameter: dict[str, Any] | None, value: str, what: str) -> list[str]:
    if parameter is None:
        return [] if what.startswith("query") else [f"{what} is not declared"]
    schema = parameter.get("schema", {})
    return [f"{what}: {error.message}" for error in Draft202012Validator(schema).iter_errors(value)]
