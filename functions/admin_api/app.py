"""Admin API: a tenant's rules, hours, messages, templates, agent templates, canned
answers, seats, bot; the chat report."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.utilities.typing import LambdaContext

from handoff.api.callers import Agent, admin_from_claims
from handoff.api.refusals import ERRORS, answer_refusals, multipart_refusal, refused
from handoff.config.models import Channel, Language
from handoff.observability import logger, metrics
from handoff.reports.chat import ChatReport, to_csv
from handoff.runtime.wiring import administration, erasure
from handoff.services.admin import (
    AgentSeatsWrite,
    AgentTemplatesWrite,
    BotsWrite,
    CannedAnswersWrite,
    ConfigWrite,
    IntentsWrite,
    MessagesWrite,
    RuleWrite,
    VersionedAgentSeats,
    VersionedAgentTemplates,
    VersionedBots,
    VersionedCannedAnswers,
    VersionedConfig,
    VersionedIntents,
    VersionedMessages,
    VersionedRule,
)
from handoff.services.erasure import ErasureAnswer, ErasureRequest
from handoff.services.json_body import read_json

# bodies are read by the one JSON reader: nesting or digits past Python's limits are a 422, not a 500
app = APIGatewayHttpResolver(enable_validation=True, json_body_deserializer=read_json)
answer_refusals(app)

READ_ERRORS = {**ERRORS, 404: refused("not found")}
WRITE_ERRORS = {**READ_ERRORS, 409: refused("the config changed since the version sent")}


def _admin() -> Agent:
    return admin_from_claims(app.current_event.request_context.authorizer.jwt_claim)


@app.get("/admin/config", responses=READ_ERRORS)
def get_config() -> VersionedConfig:
    return administration().config(_admin().tenant_id)


@app.put("/admin/config", responses=WRITE_ERRORS)
def put_config(body: Annotated[ConfigWrite, Body()]) -> VersionedConfig:
    return administration().replace_config(_admin().tenant_id, body.version, body.config)


@app.get("/admin/rules/<channel>", responses=READ_ERRORS)
def get_rule(channel: Channel) -> VersionedRule:
    return administration().rule(_admin().tenant_id, channel)


@app.put("/admin/rules/<channel>", responses=WRITE_ERRORS)
def put_rule(channel: Channel, body: Annotated[RuleWrite, Body()]) -> VersionedRule:
    return administration().put_rule(_admin().tenant_id, channel, body.version, body.rule)


@app.delete("/admin/rules/<channel>", responses=WRITE_ERRORS)
def delete_rule(channel: Channel, version: Annotated[int, Query(ge=0)]) -> VersionedConfig:
    return administration().delete_rule(_admin().tenant_id, channel, version)


@app.get("/admin/messages/<language>", responses=READ_ERRORS)
def get_messages(language: Language) -> VersionedMessages:
    return administration().messages(_admin().tenant_id, language)


@app.put("/admin/messages/<language>", responses=WRITE_ERRORS)
def put_messages(language: Language, body: Annotated[MessagesWrite, Body()]) -> VersionedMessages:
    return administration().put_messages(_admin().tenant_id, language, body.version, body.messages)


@app.get("/admin/intents", responses=READ_ERRORS)
def get_intents() -> VersionedIntents:
    return administration().intents(_admin().tenant_id)


@app.put("/admin/intents", responses=WRITE_ERRORS)
def put_intents(body: Annotated[IntentsWrite, Body()]) -> VersionedIntents:
    return administration().put_intents(_admin().tenant_id, body.version, body.intents)


@app.get("/admin/bot", responses=READ_ERRORS)
def get_bots() -> VersionedBots:
    return administration().bots(_admin().tenant_id)


@app.put("/admin/bot", responses=WRITE_ERRORS)
def put_bots(body: Annotated[BotsWrite, Body()]) -> VersionedBots:
    return administration().put_bots(_admin().tenant_id, body.version, body.bot, body.channel_bots)


@app.get("/admin/agent-seats", responses=READ_ERRORS)
def get_agent_seats() -> VersionedAgentSeats:
    return administration().agent_seats(_admin().tenant_id)


@app.put("/admin/agent-seats", responses=WRITE_ERRORS)
def put_agent_seats(body: Annotated[AgentSeatsWrite, Body()]) -> VersionedAgentSeats:
    return administration().put_agent_seats(_admin().tenant_id, body.version, body.agent_seats)


@app.get("/admin/agent-templates", responses=READ_ERRORS)
def get_agent_templates() -> VersionedAgentTemplates:
    return administration().agent_templates(_admin().tenant_id)


@app.put("/admin/agent-templates", responses=WRITE_ERRORS)
def put_agent_templates(body: Annotated[AgentTemplatesWrite, Body()]) -> VersionedAgentTemplates:
    return administration().put_agent_templates(_admin().tenant_id, body.version, body.agent_templates)


@app.get("/admin/canned-answers", responses=READ_ERRORS)
def get_canned_answers() -> VersionedCannedAnswers:
    return administration().canned_answers(_admin().tenant_id)


@app.put("/admin/canned-answers", responses=WRITE_ERRORS)
def put_canned_answers(body: Annotated[CannedAnswersWrite, Body()]) -> VersionedCannedAnswers:
    return administration().put_canned_answers(_admin().tenant_id, body.version, body.canned_answers)


@app.get(
    "/admin/report",
    responses={
        **ERRORS,
        200: {
            "description": "one row per bot session, and the totals (JSON); the rows only (CSV)",
            "content": {
                "application/json": {"model": ChatReport},
                "text/csv": {"schema": {"type": "string"}},
            },
        },
    },
)
def get_report(
    from_date: Annotated[date, Query(alias="from", description="first day (UTC), included")],
    to_date: Annotated[date, Query(alias="to", description="last day (UTC), included")],
    channel: Annotated[Channel | None, Query()] = None,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Response[Any]:
    report = administration().report(_admin().tenant_id, from_date, to_date, channel)
    if format == "csv":
        name = f"chat-report-{report.tenant_id}-{from_date}-{to_date}.csv"
        return Response(
            status_code=200,
            content_type="text/csv; charset=utf-8",
            body=to_csv(report),
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return Response(
        status_code=200,
        content_type=content_types.APPLICATION_JSON,
        body=report.model_dump(mode="json", by_alias=True),
    )


@app.post("/admin/erasures", responses={**ERRORS})
def post_erasure(body: Annotated[ErasureRequest, Body()]) -> ErasureAnswer:
    """Erase everything held about one user (by channel and user id) or one conversation (by its
    id); answers with what was erased. Asking again erases nothing more (docs/security.md)."""
    return erasure().erase(_admin().tenant_id, body)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return multipart_refusal(event) or app.resolve(event, context)
