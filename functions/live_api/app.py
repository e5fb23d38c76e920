"""Live API: agents' presence, the conversation list, transcripts, take, reply, templates, canned
answers, close, the online agents, the handover and the push channel's tickets."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

from handoff.api.callers import Agent, live_agent_from_claims
from handoff.api.media import MEDIA_ERRORS, answer_media_refusals, media_response
from handoff.api.refusals import ERRORS, answer_refusals, multipart_refusal, refused
from handoff.config.models import Language
from handoff.observability import logger, metrics
from handoff.runtime.wiring import live, live_views, media_files, push
from handoff.services.json_body import read_json
from handoff.services.live import (
    AgentTemplates,
    CannedAnswers,
    ConversationDetail,
    ConversationSummary,
    TemplateSend,
)
from handoff.services.live_views import (
    DEFAULT_LISTED,
    MAX_LISTED,
    MAX_SEARCH_CHARS,
    ConversationList,
    LiveChannel,
    LiveView,
    unchanged,
)
from handoff.services.people import Handover, OnlineAgents
from handoff.services.push import PushTicket
from handoff.store.directory import AgentPresence

# bodies are read by the one JSON reader: nesting or digits past Python's limits are a 422, not a 500
app = APIGatewayHttpResolver(enable_validation=True, json_body_deserializer=read_json)
answer_refusals(app)
answer_media_refusals(app)

ACTION_ERRORS = {
    **ERRORS,
    404: refused("no such conversation in your tenant"),
    409: refused(
        "the conversation's state refuses it (taken by someone else, not yours, window closed), "
        "or the agent already has as many chats as seats"
    ),
}


class PresenceBody(BaseModel, defer_build=True):
    online: bool


class ReplyBody(BaseModel, defer_build=True):
    text: str = Field(min_length=1, max_length=4096)


def _agent() -> Agent:
    return live_agent_from_claims(app.current_event.request_context.authorizer.jwt_claim)


@app.put("/live/presence", responses=ERRORS)
def set_presence(body: Annotated[PresenceBody, Body()]) -> AgentPresence:
    agent = _agent()
    return live().set_presence(
        agent.tenant_id, agent.agent_id, online=body.online, seats=agent.seats, name=agent.name
    )


LIST_ANSWERS: dict[int, OpenAPIResponse] = {
    **ERRORS,
    200: {
        "description": "the list, with its ETag",
        "content": {"application/json": {"model": ConversationList}},
    },
    304: {"description": "not modified: the list is the one the request's If-None-Match names"},
}


@app.get("/live/conversations", responses=LIST_ANSWERS)
def list_conversations(
    view: Annotated[
        LiveView,
        Query(
            description="queue: waiting, the longest waiting first; mine: your chats; all: everything in "
            "Live, the queue first; closed: chats closed in the tenant's closed_readable_days, the "
            "latest first"
        ),
    ] = "all",
    channel: Annotated[LiveChannel | None, Query(description="only this channel's conversations")] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=MAX_SEARCH_CHARS,
            description="search: the user's name or a text of the transcript, whatever the case and "
            "accents (docs/live-api.md says how far it reads)",
        ),
    ] = None,
    limit: Annotated[
        int,
        Query(ge=1, le=MAX_LISTED, description="the most conversations answered (the view's first)"),
    ] = DEFAULT_LISTED,
) -> Response[Any]:
    """The view's first conversations, how many it has and Live's counts, with an `ETag`: the same
    request with `If-None-Match` naming it is answered 304, with no body, while nothing in the list
    changed within the minute."""
    agent = _agent()
    listing = live_views().page(agent.tenant_id, agent.agent_id, view, channel, q, limit)
    etag = live_views().tag(listing)
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if unchanged(app.current_event.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(status_code=200, content_type="application/json", body=listing, headers=headers)


@app.get("/live/conversations/<conversation_id>", responses=ACTION_ERRORS)
def read_conversation(conversation_id: str) -> ConversationDetail:
    return live().read(_agent().tenant_id, conversation_id)


# no return annotation: Powertools would validate the file's bytes as a JSON string (its 200 is
# described in MEDIA_ERRORS instead)
@app.get("/live/conversations/<conversation_id>/media/<line>", responses=MEDIA_ERRORS)
def read_media(conversation_id: str, line: str):
    """What the user sent on a transcript line (its `media.path`): the file, fetched from Meta with
    the channel account's token, at most 4 MiB, of an allowed type (docs/live-api.md)."""
    return media_response(media_files().fetch(_agent().tenant_id, conversation_id, line))


@app.post("/live/conversations/<conversation_id>/take", responses=ACTION_ERRORS)
def take(conversation_id: str) -> ConversationSummary:
    agent = _agent()
    return live().take(agent.tenant_id, agent.agent_id, conversation_id, seats=agent.seats, name=agent.name)


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


@app.get("/live/agents", responses=ERRORS)
def list_online_agents() -> OnlineAgents:
    """The tenant's agents online now, by name, with their chats and seats: whom a conversation
    can be handed to."""
    return live().online_agents(_agent().tenant_id)


@app.post("/live/conversations/<conversation_id>/handover", responses=ACTION_ERRORS)
def hand_over(conversation_id: str, body: Annotated[Handover, Body()]) -> ConversationSummary:
    """Hand the conversation you have to another online agent with a free seat (`to`: their id),
    or back to the queue in the place it had (`to`: null). The user is not told. 409 when the
    conversation is not yours, or the receiver is you, offline or at capacity."""
    agent = _agent()
    return live().hand_over(agent.tenant_id, agent.agent_id, conversation_id, body.to, name=agent.name)


@app.post("/live/push-ticket", responses=ERRORS)
def push_ticket() -> PushTicket:
    """A single-use ticket that opens the push channel's WebSocket (`url?ticket=...`) within a
    minute, for you and your tenant: what changes in Live is then told to the console at once."""
    agent = _agent()
    return push().ticket(agent.tenant_id, agent.agent_id)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return multipart_refusal(event) or app.resolve(event, context)
