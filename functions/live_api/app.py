"""Live API: agents' presence, the conversation list, transcripts, take, reply, templates, canned
answers, close."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

from handoff.api.callers import Agent, live_agent_from_claims
from handoff.api.refusals import ERRORS, answer_refusals, multipart_refusal, refused
from handoff.config.models import Language
from handoff.observability import logger, metrics
from handoff.runtime.wiring import live
from handoff.services.json_body import read_json
from handoff.services.live import (
    AgentTemplates,
    CannedAnswers,
    ConversationDetail,
    ConversationSummary,
    TemplateSend,
)
from handoff.store.directory import AgentPresence

# bodies are read by the one JSON reader: nesting or digits past Python's limits are a 422, not a 500
app = APIGatewayHttpResolver(enable_validation=True, json_body_deserializer=read_json)
answer_refusals(app)

ACTION_ERRORS = {
    **ERRORS,
    404: refused("no such conversation in your tenant"),
    409: refused(
        "the conversation's state refuses it (taken by someone else, not yours, window closed), "
        "or the agent already has as many chats as seats"
    ),
}


class PresenceBody(BaseModel):
    online: bool


class ReplyBody(BaseModel):
    text: str = Field(min_length=1, max_length=4096)


def _agent() -> Agent:
    return live_agent_from_claims(app.current_event.request_context.authorizer.jwt_claim)


@app.put("/live/presence", responses=ERRORS)
def set_presence(body: Annotated[PresenceBody, Body()]) -> AgentPresence:
    agent = _agent()
    return live().set_presence(agent.tenant_id, agent.agent_id, online=body.online, seats=agent.seats)


@app.get("/live/conversations", responses=ERRORS)
def list_conversations() -> dict[str, list[ConversationSummary]]:
    return {"conversations": live().list(_agent().tenant_id)}


@app.get("/live/conversations/<conversation_id>", responses=ACTION_ERRORS)
def read_conversation(conversation_id: str) -> ConversationDetail:
    return live().read(_agent().tenant_id, conversation_id)


@app.post("/live/conversations/<conversation_id>/take", responses=ACTION_ERRORS)
def take(conversation_id: str) -> ConversationSummary:
    agent = _agent()
    return live().take(agent.tenant_id, agent.agent_id, conversation_id, seats=agent.seats)


@app.post("/live/conversations/<conversation_id>/reply", responses=ACTION_ERRORS)
def reply(conversation_id: str, body: Annotated[ReplyBody, Body()]) -> ConversationSummary:
    agent = _agent()
    return live().reply(agent.tenant_id, agent.agent_id, conversation_id, body.text)


@app.post("/live/conversations/<conversation_id>/template", responses=ACTION_ERRORS)
def send_template(conversation_id: str, body: Annotated[TemplateSend, Body()]) -> ConversationSummary:
    """Send one of the tenant's approved templates (WhatsApp; past the 24-hour window the only way
    to write to the user). A template the tenant does not offer, or the wrong number of parameters,
    is a 422 naming the field; Messenger and Instagram, which have no templates, a 409."""
    agent = _agent()
    return live().send_template(
        agent.tenant_id, agent.agent_id, conversation_id, body.name, body.language, body.parameters
    )


@app.get("/live/templates", responses=ERRORS)
def list_templates() -> AgentTemplates:
    """The approved templates the tenant lets agents send, for the console's picker."""
    return live().templates(_agent().tenant_id)


@app.get("/live/canned-answers", responses=ERRORS)
def list_canned_answers(
    language: Annotated[
        Language | None, Query(description="es, pt or en; without it, the tenant's language")
    ] = None,
) -> CannedAnswers:
    """The tenant's canned answers in one language, for the console's '/' suggestions."""
    return live().canned_answers(_agent().tenant_id, language)


@app.post("/live/conversations/<conversation_id>/close", responses=ACTION_ERRORS)
def close(conversation_id: str) -> ConversationSummary:
    agent = _agent()
    return live().close(agent.tenant_id, agent.agent_id, conversation_id)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return multipart_refusal(event) or app.resolve(event, context)
