"""The events Lambda hands to the functions, as Powertools parser models (pydantic).

The inbound queue's records, whose bodies are engine events, are read by `inbound_queue.QueuedEvent`:
the functions that take no queued event do not load the engine's models to read their own.
"""

from __future__ import annotations

from typing import Any, Literal

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import BaseModel, Field


class WakeDetail(BaseModel, defer_build=True):
    """An AgentAvailable or WakePassContinues event names its tenant; the schedule's event (`{}`)
    stands for every tenant."""

    tenant_id: str | None = None


class WakeEvent(EventBridgeModel, defer_build=True):
    """What starts a wake pass: the minute's schedule, an AgentAvailable or a WakePassContinues event."""

    detail: WakeDetail


# --- the push channel's WebSocket API (API Gateway) -----------------------------------------------


class PushRequestContext(BaseModel, defer_build=True):
    """What the push function reads of a WebSocket event's `requestContext`."""

    connection_id: str = Field(alias="connectionId")
    route_key: str = Field(alias="routeKey")
    authorizer: dict[str, Any] | None = None
    """What the authorizer answered for this connection at `$connect` (tenant_id, agent_id)."""


class PushAuthorization(BaseModel, defer_build=True):
    """The `$connect` authorizer's event (a Lambda REQUEST authorizer): the ticket is in the query."""

    type: Literal["REQUEST"]
    method_arn: str = Field(alias="methodArn")
    query: dict[str, str] | None = Field(default=None, alias="queryStringParameters")
    context: PushRequestContext = Field(alias="requestContext")


class PushRoute(BaseModel, defer_build=True):
    """A route of the WebSocket API: `$connect` once authorized, `$disconnect`, `$default` (a ping)."""

    context: PushRequestContext = Field(alias="requestContext")


class ConversationBusEvent(EventBridgeModel, defer_build=True):
    """A conversation event of the bus (docs/events.md), as the push function's rule hands it over."""

    detail: dict[str, Any]
