"""Tenant administration: read and edit a tenant's config (whole, or one part), and the chat report.

Every edit is checked as the YAML file is (handoff.config.models, plus the checks that need the
stored tenant: the same tenant, the same channel accounts, a rule only where the tenant has an
account) and is all or nothing. Edits are versioned: a write names the version it was based on,
and a write based on an older one is refused (StaleVersion, a 409), never silently merged.

The channel accounts are not edited here: an account routes a Meta webhook to a tenant, so moving
one is the operator's act (`make seed`), not a tenant administrator's.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, Field, ValidationError

from handoff.config.models import (
    AgentTemplate,
    BotConfig,
    CannedAnswer,
    Channel,
    HandoffRule,
    Intent,
    Language,
    Messages,
    TenantConfig,
    no_account_reason,
    rules_without_account,
)
from handoff.reports.chat import MAX_REPORT_DAYS, ChatReport, build_report
from handoff.services.errors import (
    FieldProblem,
    InvalidRequest,
    Location,
    NotFound,
    StaleVersion,
    field_problems,
)
from handoff.store.directory import Directory, StaleConfig

if TYPE_CHECKING:
    from handoff.store.conversation_store import ConversationStore


class VersionedConfig(BaseModel, defer_build=True):
    version: int = Field(description="send it back with your edit; an edit of an older version is a 409")
    config: TenantConfig


class VersionedRule(BaseModel, defer_build=True):
    version: int
    rule: HandoffRule


class VersionedMessages(BaseModel, defer_build=True):
    version: int
    language: Language
    messages: Messages


class VersionedIntents(BaseModel, defer_build=True):
    version: int
    intents: list[Intent]


class VersionedAgentSeats(BaseModel, defer_build=True):
    version: int
    agent_seats: int


class VersionedAgentTemplates(BaseModel, defer_build=True):
    version: int
    agent_templates: list[AgentTemplate]


class VersionedCannedAnswers(BaseModel, defer_build=True):
    version: int
    canned_answers: dict[Language, list[CannedAnswer]]


# --- requests and answers -----------------------------------------------------------------------

Version = Annotated[int, Field(ge=0, description="the version you read; a write of an older one is a 409")]


class ConfigWrite(BaseModel, defer_build=True):
    version: Version
    config: TenantConfig


class RuleWrite(BaseModel, defer_build=True):
    version: Version
    rule: HandoffRule


class MessagesWrite(BaseModel, defer_build=True):
    version: Version
    messages: Messages


class IntentsWrite(BaseModel, defer_build=True):
    version: Version
    intents: list[Intent]


class VersionedBots(BaseModel, defer_build=True):
    version: int
    bot: BotConfig = Field(description="who answers the tenant's users")
    channel_bots: dict[Channel, BotConfig] = Field(description="a channel's own bot, in place of `bot`")


class BotsWrite(BaseModel, defer_build=True):
    version: Version
    bot: BotConfig
    channel_bots: dict[Channel, BotConfig] = Field(default_factory=dict)


class AgentSeatsWrite(BaseModel, defer_build=True):
    version: Version
    agent_seats: int = Field(ge=1, le=100, description="concurrent chats per agent")


class AgentTemplatesWrite(BaseModel, defer_build=True):
    version: Version
    agent_templates: list[AgentTemplate] = Field(
        description="the approved WhatsApp templates agents may send from Live (all of them: the list "
        "replaces the stored one)"
    )


class CannedAnswersWrite(BaseModel, defer_build=True):
    version: Version
    canned_answers: dict[Language, list[CannedAnswer]] = Field(
        description="the canned answers agents insert in Live's reply box, per language (all of them: "
        "the map replaces the stored one)"
    )


class Administration:
    def __init__(self, directory: Directory, store: ConversationStore) -> None:
        self.directory = directory
        self.store = store

    # --- the whole config ---------------------------------------------------------------------------

    def config(self, tenant_id: str) -> VersionedConfig:
        config, version = self._stored(tenant_id)
        return VersionedConfig(version=version, config=config)

    def replace_config(self, tenant_id: str, version: int, config: TenantConfig) -> VersionedConfig:
        def edit(raw: dict[str, Any]) -> None:
            raw.clear()
            raw.update(config.model_dump(mode="json"))

        return self._edit(tenant_id, version, edit, lambda loc: ("body", "config", *loc))

    # --- its parts ----------------------------------------------------------------------------------

    def rule(self, tenant_id: str, channel: Channel) -> VersionedRule:
        config, version = self._stored(tenant_id)
        rule = config.rule_for(channel)
        if rule is None:
            raise NotFound(f"no handoff rule for the {channel} channel")
        return VersionedRule(version=version, rule=rule)

    def put_rule(self, tenant_id: str, channel: Channel, version: int, rule: HandoffRule) -> VersionedRule:
        if rule.channel != channel:
            raise InvalidRequest(
                [
                    FieldProblem(
                        loc=["body", "rule", "channel"],
                        type="value_error",
                        msg=f"the rule is for the {rule.channel} channel, but the address names {channel}",
                    )
                ]
            )

        def edit(raw: dict[str, Any]) -> None:
            # in place, so the rules keep their order; a new channel's rule comes last
            rules = raw.setdefault("rules", [])
            new = rule.model_dump(mode="json")
            at = next((i for i, r in enumerate(rules) if r.get("channel") == channel), len(rules))
            rules[at : at + 1] = [new]

        stored = self._edit(tenant_id, version, edit, lambda loc: ("body", "rule"))
        return VersionedRule(version=stored.version, rule=rule)

    def delete_rule(self, tenant_id: str, channel: Channel, version: int) -> VersionedConfig:
        self.rule(tenant_id, channel)  # 404 when there is none

        def edit(raw: dict[str, Any]) -> None:
            raw["rules"] = [r for r in raw.get("rules", []) if r.get("channel") != channel]

        return self._edit(tenant_id, version, edit, lambda loc: ("path", "channel"))

    def messages(self, tenant_id: str, language: Language) -> VersionedMessages:
        config, version = self._stored(tenant_id)
        return VersionedMessages(
            version=version, language=language, messages=config.messages.get(language, Messages())
        )

    def put_messages(
        self, tenant_id: str, language: Language, version: int, messages: Messages
    ) -> VersionedMessages:
        def edit(raw: dict[str, Any]) -> None:
            raw.setdefault("messages", {})[language] = messages.model_dump(mode="json", exclude_none=True)

        stored = self._edit(tenant_id, version, edit, lambda loc: ("body", "messages"))
        return VersionedMessages(version=stored.version, language=language, messages=messages)

    def intents(self, tenant_id: str) -> VersionedIntents:
        config, version = self._stored(tenant_id)
        return VersionedIntents(version=version, intents=config.bot.intents)

    def put_intents(self, tenant_id: str, version: int, intents: list[Intent]) -> VersionedIntents:
        def edit(raw: dict[str, Any]) -> None:
            # the bot's other settings (its kind, an external bot's) stay as they are
            raw.setdefault("bot", {})["intents"] = [intent.model_dump(mode="json") for intent in intents]

        stored = self._edit(tenant_id, version, edit, lambda loc: ("body", "intents"))
        return VersionedIntents(version=stored.version, intents=stored.config.bot.intents)

    def bots(self, tenant_id: str) -> VersionedBots:
        config, version = self._stored(tenant_id)
        return VersionedBots(version=version, bot=config.bot, channel_bots=config.channel_bots)

    def put_bots(
        self, tenant_id: str, version: int, bot: BotConfig, channel_bots: dict[Channel, BotConfig]
    ) -> VersionedBots:
        def edit(raw: dict[str, Any]) -> None:
            raw["bot"] = bot.model_dump(mode="json", exclude_none=True)
            raw["channel_bots"] = {
                channel: config.model_dump(mode="json", exclude_none=True)
                for channel, config in channel_bots.items()
            }

        stored = self._edit(tenant_id, version, edit, lambda loc: ("body", *loc))
        return VersionedBots(
            version=stored.version, bot=stored.config.bot, channel_bots=stored.config.channel_bots
        )

    def agent_seats(self, tenant_id: str) -> VersionedAgentSeats:
        config, version = self._stored(tenant_id)
        return VersionedAgentSeats(version=version, agent_seats=config.agent_seats)

    def put_agent_seats(self, tenant_id: str, version: int, agent_seats: int) -> VersionedAgentSeats:
        def edit(raw: dict[str, Any]) -> None:
            raw["agent_seats"] = agent_seats

        stored = self._edit(tenant_id, version, edit, lambda loc: ("body", "agent_seats"))
        return VersionedAgentSeats(version=stored.version, agent_seats=stored.config.agent_seats)

    def agent_templates(self, tenant_id: str) -> VersionedAgentTemplates:
        config, version = self._stored(tenant_id)
        return VersionedAgentTemplates(version=version, agent_templates=config.agent_templates)

    def put_agent_templates(
        self, tenant_id: str, version: int, templates: list[AgentTemplate]
    ) -> VersionedAgentTemplates:
        def edit(raw: dict[str, Any]) -> None:
            raw["agent_templates"] = [t.model_dump(mode="json", exclude_none=True) for t in templates]

        def where(loc: Location) -> Location:
            # the tenant-wide checks (twice listed, no WhatsApp account) have no field of their own
            return ("body", *loc) if loc[:1] == ("agent_templates",) else ("body", "agent_templates")

        stored = self._edit(tenant_id, version, edit, where)
        return VersionedAgentTemplates(version=stored.version, agent_templates=stored.config.agent_templates)

    def canned_answers(self, tenant_id: str) -> VersionedCannedAnswers:
        config, version = self._stored(tenant_id)
        return VersionedCannedAnswers(version=version, canned_answers=config.canned_answers)

    def put_canned_answers(
        self, tenant_id: str, version: int, canned_answers: dict[Language, list[CannedAnswer]]
    ) -> VersionedCannedAnswers:
        def edit(raw: dict[str, Any]) -> None:
            raw["canned_answers"] = {
                language: [answer.model_dump(mode="json") for answer in answers]
                for language, answers in canned_answers.items()
            }

        def where(loc: Location) -> Location:
            # the per-language checks (twice listed, too many) have no field of their own
            return ("body", *loc) if loc[:1] == ("canned_answers",) else ("body", "canned_answers")

        stored = self._edit(tenant_id, version, edit, where)
        return VersionedCannedAnswers(version=stored.version, canned_answers=stored.config.canned_answers)

    # --- the chat report ----------------------------------------------------------------------------

    def report(
        self, tenant_id: str, from_date: date, to_date: date, channel: Channel | None = None
    ) -> ChatReport:
        if to_date < from_date:
            raise InvalidRequest(
                [FieldProblem(loc=["query", "to"], type="value_error", msg="must be on or after 'from'")]
            )
        if (to_date - from_date).days >= MAX_REPORT_DAYS:
            raise InvalidRequest(
                [
                    FieldProblem(
                        loc=["query", "to"],
                        type="value_error",
                        msg=f"a report covers at most {MAX_REPORT_DAYS} days; ask for a shorter range",
                    )
                ]
            )
        sessions = self.store.sessions(tenant_id, from_date, to_date)
        transfers = [s.ended_at for s in sessions if s.resolution == "transferred"]
        waits = self.store.waits(tenant_id, min(transfers), max(transfers)) if transfers else []
        takes = [w.ended_at for w in waits if w.outcome == "taken"]
        chats = self.store.chats(tenant_id, min(takes), max(takes)) if takes else []
        return build_report(tenant_id, from_date, to_date, sessions, waits, chats, channel=channel)

    # --- editing --------------------------------------------------------------------------------------

    def _stored(self, tenant_id: str) -> tuple[TenantConfig, int]:
        stored = self.directory.versioned_tenant(tenant_id)
        if stored is None:
            raise NotFound("this tenant has no configuration yet; the operator loads it with make seed")
        return stored

    def _edit(
        self,
        tenant_id: str,
        version: int,
        edit: Callable[[dict[str, Any]], None],
        where: Callable[[Location], Location],
    ) -> VersionedConfig:
        current, stored_version = self._stored(tenant_id)
        if version != stored_version:
            raise StaleVersion(_stale(version, stored_version))
        raw = current.model_dump(mode="json")
        edit(raw)
        edited = self._validated(raw, current, where)
        try:
            new_version = self.directory.replace_tenant(edited, stored_version)
        except StaleConfig as exc:
            raise StaleVersion(_stale(version, None)) from exc
        return VersionedConfig(version=new_version, config=edited)

    def _validated(
        self, raw: dict[str, Any], current: TenantConfig, where: Callable[[Location], Location]
    ) -> TenantConfig:
        try:
            edited = TenantConfig.model_validate(raw)
        except ValidationError as exc:
            raise InvalidRequest(field_problems(exc.errors(), where)) from exc
        problems: list[FieldProblem] = []
        if edited.tenant_id != current.tenant_id:
            problems.append(
                FieldProblem(
                    loc=list(where(("tenant_id",))),
                    type="value_error",
                    msg=f"must be your own tenant, {current.tenant_id!r}",
                )
            )
        if _account_keys(edited) != _account_keys(current):
            problems.append(
                FieldProblem(
                    loc=list(where(("accounts",))),
                    type="value_error",
                    msg="the channel accounts route Meta's webhooks to a tenant and are changed by the "
                    "operator (make seed), not through this API; send them as they are",
                )
            )
        channels = [rule.channel for rule in edited.rules]
        for index, channel in rules_without_account(channels, [a.channel for a in edited.accounts]):
            problems.append(
                FieldProblem(
                    loc=list(where(("rules", index))), type="value_error", msg=no_account_reason(channel)
                )
            )
        if problems:
            raise InvalidRequest(problems)
        return edited


def _account_keys(config: TenantConfig) -> set[tuple[str, str]]:
    return {(account.channel, account.account_id) for account in config.accounts}


def _stale(sent: int, stored: int | None) -> str:
    now = f" (it is at version {stored} now)" if stored is not None else ""
    return (
        f"the configuration changed since version {sent} was read{now}: read it again, redo the edit "
        "on it, and send it with that version"
    )
