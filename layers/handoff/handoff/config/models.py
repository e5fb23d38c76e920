"""The tenant's configuration: channel accounts, handoff rules, business hours, messages, bot intents.

These models are the one schema for the YAML config file, the table's config items and (later)
the admin API. Every rule in SPEC.md "Configuration rules" is enforced here, so an invalid config
is refused before anything is saved.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from handoff.hours import BusinessHoursConfig

Channel = Literal["whatsapp", "messenger", "instagram", "web"]
ASYNC_CHANNELS: tuple[Channel, ...] = ("whatsapp", "messenger", "instagram")
Language = Literal["es", "pt", "en"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Template(Strict):
    """An approved WhatsApp template, sent instead of free text outside the 24-hour window."""

    name: str
    language: str


class RuleMessages(Strict):
    """Per-rule texts; any left out fall back to the tenant's messages for its language."""

    attention: str | None = None
    no_agents: str | None = None
    offer: str | None = None
    agent_available: str | None = None


class HandoffRule(Strict):
    channel: Channel
    type: Literal["live", "script", "preform"] = "live"
    after_hours: bool = False
    direct: bool = False
    business_hours: BusinessHoursConfig | None = None
    messages: RuleMessages = Field(default_factory=RuleMessages)
    templates: dict[str, Template] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _after_hours_rules(self) -> HandoffRule:
        if self.after_hours and self.channel == "web":
            raise ValueError("web channel: the after-hours mode is not available on the web channel")
        if self.after_hours and self.type != "live":
            raise ValueError(
                f"{self.channel} channel: the after-hours mode works only with the conventional "
                f"handoff to Live (type 'live'), not with type {self.type!r}"
            )
        return self


class Messages(Strict):
    """The standard texts of one language; any left out take the built-in default (es, pt, en)."""

    handoff_unavailable: str | None = None
    attention: str | None = None
    no_agents: str | None = None
    offer: str | None = None
    offer_yes: str | None = None
    offer_no: str | None = None
    declined: str | None = None
    agent_available: str | None = None
    text_only: str | None = None
    fallback: str | None = None


class Intent(Strict):
    name: str
    keywords: dict[Language, list[str]]
    answer: dict[Language, str] = Field(default_factory=dict)
    handoff: bool = False


class BotConfig(Strict):
    intents: list[Intent] = Field(default_factory=list)


class ChannelAccount(Strict):
    channel: Channel
    account_id: str
    name: str = ""


class TenantConfig(Strict):
    tenant_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    name: str = ""
    language: Language = "es"
    accounts: list[ChannelAccount] = Field(default_factory=list)
    rules: list[HandoffRule] = Field(default_factory=list)
    messages: dict[Language, Messages] = Field(default_factory=dict)
    bot: BotConfig = Field(default_factory=BotConfig)
    agent_seats: int = Field(default=3, ge=1, le=100)

    @model_validator(mode="after")
    def _one_rule_per_channel(self) -> TenantConfig:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.channel in seen:
                raise ValueError(f"{rule.channel} channel: only one handoff rule per channel")
            seen.add(rule.channel)
        return self

    def rule_for(self, channel: Channel) -> HandoffRule | None:
        return next((r for r in self.rules if r.channel == channel), None)
