"""The bots that can answer a tenant's users, behind the engine's bot port (`engine.bot.Bot`)."""

from __future__ import annotations

from handoff.bots.intents import IntentBot
from handoff.config.models import LANGUAGES, TenantConfig
from handoff.config.texts import texts_for
from handoff.engine.bot import Bot


def bot_for(tenant: TenantConfig) -> Bot:
    """The tenant's bot: the built-in intent bot, answering with the tenant's fallback texts."""
    fallback = {language: texts_for(tenant, None, language).fallback for language in LANGUAGES}
    return IntentBot(tenant.bot, fallback)
