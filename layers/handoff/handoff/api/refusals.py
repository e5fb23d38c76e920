"""What every API answers when it refuses a request: the problems by field, or a one-line reason.

Powertools' own 422 names the field but leaves out why; these answers carry the reason too (our
own validators' messages, or pydantic's, never the input itself), in the same shape.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from pydantic import BaseModel

from handoff.api.callers import NotAuthorized
from handoff.engine.errors import FlowError, TemplateRefused
from handoff.observability import logger, metrics
from handoff.services.errors import (
    FieldProblem,
    InvalidRequest,
    NotFound,
    StaleVersion,
    describe,
    field_problems,
)
from handoff.store.outcomes import StaleConversation

CONVERSATION_CONTENDED = "ConversationContended"
"""Counted when an agent's action found the conversation changed at every try (answered 409)."""


class Refusal(BaseModel, defer_build=True):
    message: str


class Invalid(BaseModel, defer_build=True):
    statusCode: Literal[422] = 422
    message: str
    detail: list[FieldProblem]


def answer_refusals(app: APIGatewayHttpResolver) -> None:
    """The one mapping from the domain's refusals to HTTP, for the Live and admin APIs alike."""

    @app.exception_handler(RequestValidationError)
    def _bad_request(error: RequestValidationError) -> Response[dict[str, Any]]:
        # Powertools' own 422 leaves out why; people need the reason (our messages, never the input)
        return invalid(field_problems(error.errors(), lambda loc: loc))

    @app.exception_handler(InvalidRequest)
    def _invalid(error: InvalidRequest) -> Response[dict[str, Any]]:
        return invalid(error.problems)

    @app.exception_handler(NotAuthorized)
    def _not_authorized(error: NotAuthorized) -> Response[dict[str, str]]:
        return refusal(403, str(error))

    @app.exception_handler(NotFound)
    def _not_found(error: NotFound) -> Response[dict[str, str]]:
        return refusal(404, str(error))

    @app.exception_handler(StaleVersion)
    def _stale(error: StaleVersion) -> Response[dict[str, str]]:
        return refusal(409, str(error))

    @app.exception_handler(FlowError)
    def _refused(error: FlowError) -> Response[dict[str, str]]:
        return refusal(409, str(error))

    @app.exception_handler(TemplateRefused)
    def _template_refused(error: TemplateRefused) -> Response[dict[str, Any]]:
        # the request names a template the tenant does not offer, or fills it in wrongly: the body
        # is at fault, not the conversation's state, so it is a 422 naming the field
        return invalid([FieldProblem(loc=["body", error.field], type="value_error", msg=str(error))])

    @app.exception_handler(StaleConversation)
    def _contended(error: StaleConversation) -> Response[dict[str, str]]:
        # changed by others at every try: the agent's action is not applied and may be tried again
        metrics.add_metric(name=CONVERSATION_CONTENDED, unit="Count", value=1)
        logger.warning("conversation changed at every try", extra={"conversation": str(error)})
        return refusal(409, "the conversation changed while this was applied; try again")


def invalid(problems: list[FieldProblem]) -> Response[dict[str, Any]]:
    body = Invalid(message=describe(problems), detail=problems)
    return Response(
        status_code=422, content_type=content_types.APPLICATION_JSON, body=body.model_dump(mode="json")
    )


def refusal(status: int, message: str) -> Response[dict[str, str]]:
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body={"message": message}
    )


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
