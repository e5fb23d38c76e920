"""The texts the flow sends: built-in defaults in es, pt and en, overridden by the tenant and the rule.

Which text wins, field by field: the rule's `messages`, then the tenant's `messages` for the
conversation's language, then `DEFAULT_MESSAGES`. A rule has one text per message (as in the
article, "the attention message configured in the transferred section of this referral"), and
it is read as written in the tenant's `language`: it is used for conversations in that language,
and a conversation in another language gets the tenant's or the built-in text of its own language.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from handoff.config.models import DEFAULT_MESSAGES, HandoffRule, Language, TenantConfig

"""The built-in texts: every field filled in every language."""


class ResolvedTexts(BaseModel):
    """The texts one conversation gets, every one of them decided."""

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    handoff_unavailable: str
    attention: str
    no_agents: str
    offer: str
    offer_yes: str
    offer_no: str
    declined: str
    agent_available: str
    text_only: str
    fallback: str
    place_in_line: str
    bot_unavailable: str
    already_in_line: str


def texts_for(tenant: TenantConfig, rule: HandoffRule | None, language: Language) -> ResolvedTexts:
    """The texts for a conversation in `language` on `rule`'s channel (None: the channel has no rule)."""
    texts = DEFAULT_MESSAGES[language].model_dump()
    own = tenant.messages.get(language)
    if own is not None:
        texts.update(own.model_dump(exclude_none=True))
    if rule is not None and language == tenant.language:
        texts.update(rule.messages.model_dump(exclude_none=True))
    return ResolvedTexts.model_validate(texts)


def with_place(attention: str, place_in_line: str, place: int | None) -> str:
    """The waiting acknowledgment: the attention message, and the user's place in line when known."""
    if place is None:
        return attention
    return f"{attention} {place_in_line.replace('{place}', str(place))}"
