"""What every API answers when it refuses a request: the problems by field, or a one-line reason.

Powertools' own 422 names the field but leaves out why; these answers carry the reason too (our
own validators' messages, or pydantic's, never the input itself), in the same shape.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

from aws_lambda_powertools.event_handler import Response, content_types
from pydantic import BaseModel

Location = tuple[str | int, ...]


class FieldProblem(BaseModel):
    """One thing wrong with a request: where (`["body", "rule", "after_hours"]`), what kind, and why."""

    loc: list[str | int]
    type: str
    msg: str


class Refusal(BaseModel):
    message: str


class Invalid(BaseModel):
    statusCode: Literal[422] = 422
    message: str
    detail: list[FieldProblem]


def describe(problems: Iterable[FieldProblem]) -> str:
    return "; ".join(f"{_path(p.loc)}: {p.msg}" if p.loc else p.msg for p in problems)


def field_problems(
    errors: Iterable[Mapping[str, Any]], where: Callable[[Location], Location]
) -> list[FieldProblem]:
    """pydantic's errors as problems a person can act on: the field, and our own reason when we gave one."""
    problems = []
    for error in errors:
        loc = where(tuple(error.get("loc", ())))
        kind = str(error.get("type", "value_error"))
        context = error.get("ctx") or {}
        if kind == "value_error" and "error" in context:
            message = str(context["error"])
        else:
            message = str(error.get("msg", "invalid"))
        problems.append(FieldProblem(loc=list(loc), type=kind, msg=message))
    return problems


def invalid(problems: list[FieldProblem]) -> Response[dict[str, Any]]:
    body = Invalid(message=describe(problems), detail=problems)
    return Response(
        status_code=422, content_type=content_types.APPLICATION_JSON, body=body.model_dump(mode="json")
    )


def refusal(status: int, message: str) -> Response[dict[str, str]]:
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body={"message": message}
    )


def _path(loc: Sequence[str | int]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def refused(description: str) -> dict[str, Any]:
    """An OpenAPI response entry for a refusal with a one-line reason."""
    return {"description": description, "content": {"application/json": {"model": Refusal}}}


ERRORS: dict[int, Any] = {
    200: {"description": "done"},  # no content given: Powertools describes the route's return type
    400: refused("the body is not UTF-8 text (the local run; the deployed API answers 422)"),
    415: refused("the body is not JSON (multipart form data)"),
    401: refused("no valid token (the HTTP API's JWT authorizer answers this)"),
    403: refused("the token's caller may not do this"),
    422: {
        "description": "invalid: every problem, by field",
        "content": {"application/json": {"model": Invalid}},
    },
}


def multipart_refusal(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """A 415 for a multipart body, answered before Powertools parses it.

    These APIs take JSON; Powertools 3.37 raises a bare ValueError (a 500) on a multipart body
    without a boundary instead of refusing it.
    """
    headers = {str(name).lower(): str(value) for name, value in (event.get("headers") or {}).items()}
    if not headers.get("content-type", "").strip().lower().startswith("multipart/"):
        return None
    return {
        "statusCode": 415,
        "headers": {"Content-Type": content_types.APPLICATION_JSON},
        "body": json.dumps({"message": "send the body as JSON (Content-Type: application/json)"}),
        "isBase64Encoded": False,
    }
