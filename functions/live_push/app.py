"""Live's push channel: the WebSocket API's authorizer and routes, and the conversation events of the
bus told to the tenant's open consoles (docs/console.md, "Live updates")."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from handoff.adapters.lambda_events import ConversationBusEvent, PushAuthorization, PushRoute
from handoff.observability import logger, metrics
from handoff.runtime.wiring import push
from handoff.store.push_connections import Admission

TICKET_PARAMETER = "ticket"


def authorize(event: PushAuthorization) -> dict[str, Any]:
    """`$connect`'s authorizer: a valid unused ticket lets its agent in, once; anything else is a 403."""
    ticket = (event.query or {}).get(TICKET_PARAMETER, "")
    admission = push().admit(ticket)
    effect = "Allow" if admission is not None else "Deny"
    answer: dict[str, Any] = {
        "principalId": admission.agent_id if admission is not None else "nobody",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": event.method_arn}],
        },
    }
    if admission is not None:
        # API Gateway hands this to every route of the connection as requestContext.authorizer
        answer["context"] = admission.model_dump()
    else:
        logger.info("a push socket was refused: its ticket is unknown, used or expired")
    return answer


def route(event: PushRoute) -> dict[str, Any]:
    context = event.context
    authorized = context.authorizer or {}
    tenant_id, agent_id = authorized.get("tenant_id"), authorized.get("agent_id")
    if not isinstance(tenant_id, str) or not isinstance(agent_id, str):
        return {"statusCode": 403}  # no route runs without the authorizer's answer; refused all the same
    match context.route_key:
        case "$connect":
            push().connected(context.connection_id, Admission(tenant_id=tenant_id, agent_id=agent_id))
        case "$disconnect":
            push().disconnected(tenant_id, context.connection_id)
        # `$default`: the console's ping, which keeps the socket from API Gateway's idle timeout
    return {"statusCode": 200}


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("type") == "REQUEST":
        return authorize(PushAuthorization.model_validate(event))
    if "requestContext" in event:
        return route(PushRoute.model_validate(event))
    bus = ConversationBusEvent.model_validate(event)
    return push().announce(bus.detail_type, bus.detail).model_dump()
