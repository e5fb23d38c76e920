"""The texts the flow sends: built-in defaults in es, pt and en, overridden by the tenant and the rule.

Which text wins, field by field: the rule's `messages`, then the tenant's `messages` for the
conversation's language, then `DEFAULT_MESSAGES`. A rule has one text per message (as in the
article, "the attention message configured in the transferred section of this referral"), and
it is read as written in the tenant's `language`: it is used for conversations in that language,
and a conversation in another language gets the tenant's or the built-in text of its own language.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from handoff.config.models import HandoffRule, Language, Messages, TenantConfig

DEFAULT_MESSAGES: dict[Language, Messages] = {
    "es": Messages(
        handoff_unavailable=(
            "Lo siento, por este canal no puedo comunicarte con una persona. "
            "Sigo aquí para ayudarte con lo que necesites."
        ),
        attention=(
            "Listo, te comunicamos con nuestro equipo. Un agente te responderá por aquí lo antes posible."
        ),
        no_agents=(
            "En este momento no hay agentes disponibles. "
            "Puedes intentarlo más tarde o seguir conversando conmigo."
        ),
        offer=(
            "En este momento no hay ningún agente en línea. ¿Quieres esperar a que uno esté disponible? "
            "Te responderá por este chat. Si prefieres, puedes seguir conversando conmigo."
        ),
        offer_yes="Sí, esperar",
        offer_no="No, gracias",
        declined="De acuerdo. Sigo aquí para ayudarte: cuéntame qué necesitas.",
        agent_available=(
            "¡Buenas noticias! Ya hay un agente disponible y te responderá en breve por este chat."
        ),
        text_only="Por ahora solo puedo leer mensajes de texto. ¿Podrías escribirme tu consulta?",
        fallback="Disculpa, no estoy seguro de haberte entendido. ¿Puedes decírmelo con otras palabras?",
        place_in_line="Tu lugar en la fila: {place}.",
    ),
    "pt": Messages(
        handoff_unavailable=(
            "Desculpe, por este canal não consigo transferir você para uma pessoa. "
            "Continuo aqui para ajudar no que você precisar."
        ),
        attention=(
            "Pronto, sua conversa foi encaminhada para a nossa equipe. "
            "Um atendente vai responder por aqui o quanto antes."
        ),
        no_agents=(
            "No momento não há atendentes disponíveis. "
            "Você pode tentar mais tarde ou continuar conversando comigo."
        ),
        offer=(
            "No momento nenhum atendente está online. Quer aguardar até que um fique disponível? "
            "Ele vai responder por este chat. Se preferir, pode continuar conversando comigo."
        ),
        offer_yes="Sim, aguardar",
        offer_no="Não, obrigado",
        declined="Tudo bem. Continuo aqui para ajudar: me conte o que você precisa.",
        agent_available=(
            "Boa notícia! Já tem um atendente disponível, e ele vai responder em breve por este chat."
        ),
        text_only="Por enquanto só consigo ler mensagens de texto. Pode escrever a sua dúvida?",
        fallback="Desculpe, não tenho certeza se entendi. Pode dizer de outra forma?",
        place_in_line="Sua posição na fila: {place}.",
    ),
    "en": Messages(
        handoff_unavailable=(
            "Sorry, I can't connect you with a person on this channel. "
            "I'm still here to help with anything you need."
        ),
        attention="Done, you're connected with our team. An agent will reply here as soon as possible.",
        no_agents="No agents are available right now. You can try again later or keep chatting with me.",
        offer=(
            "No agent is online right now. Would you like to wait for one to become available? "
            "They will reply in this chat. If you prefer, you can keep chatting with me."
        ),
        offer_yes="Yes, I'll wait",
        offer_no="No, thanks",
        declined="All right. I'm still here to help: tell me what you need.",
        agent_available="Good news! An agent is available now and will reply to you here shortly.",
        text_only="For now I can only read text messages. Could you type your question?",
        fallback="Sorry, I'm not sure I understood. Could you say it another way?",
        place_in_line="Your place in line: {place}.",
    ),
}
"""The built-in texts: every field filled in every language."""


class ResolvedTexts(BaseModel):
    """The texts one conversation gets, every one of them decided."""

    model_config = ConfigDict(extra="forbid", frozen=True)

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
