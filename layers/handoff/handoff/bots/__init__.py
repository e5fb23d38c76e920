"""The bots that can answer a tenant's users, behind the engine's bot port (`engine.bot.Bot`)."""

from __future__ import annotations

from handoff.bots.intents import IntentBot
from handoff.config.models import LANGUAGES, BotConfig, TenantConfig
from handoff.config.texts import texts_for
from handoff.engine.bot import Bot


def intent_bot(tenant: TenantConfig, config: BotConfig | None = None) -> Bot:
    """The built-in intent bot with `config`'s intents (default: the tenant's), answering with the
    tenant's fallback texts."""
    fallback = {language: texts_for(tenant, None, language).fallback for language in LANGUAGES}
    return IntentBot(config or tenant.bot, fallback)
