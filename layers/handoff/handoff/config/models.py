"""The tenant's configuration: accounts, handoff rules, business hours, messages, bot, agents' templates.

These models are the one schema for the YAML config file, the table's config items and (later)
the admin API. Every rule in SPEC.md "Configuration rules" is enforced here, so an invalid config
is refused before anything is saved. Checks that need the whole file (a channel account claimed by
two tenants) are in handoff_tools.config_file; a rule whose channel has no account is found by
`rules_without_account`, for the file and for the admin API alike.
"""

import re
from collections.abc import Iterable, Sequence
from typing import Literal, Self, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from handoff.config.hours import BusinessHoursConfig

Channel = Literal["whatsapp", "messenger", "instagram", "web"]
CHANNELS: tuple[Channel, ...] = get_args(Channel)
ASYNC_CHANNELS: tuple[Channel, ...] = ("whatsapp", "messenger", "instagram")
Language = Literal["es", "pt", "en"]
LANGUAGES: tuple[Language, ...] = ("es", "pt", "en")

MAX_TEXT_BYTES = 1000
"""The longest text every channel accepts: Instagram takes at most 1000 bytes of UTF-8 per message
(Messenger under 2000 characters, WhatsApp 4096, and 1024 for the body of a message with buttons)."""

MAX_BUTTON_TITLE = 20
"""WhatsApp reply-button titles and Messenger/Instagram quick-reply titles: at most 20 characters."""

MAX_CLOSED_READABLE_DAYS = 30
"""Closed chats stay readable in Live at most this long: a conversation with the bot is kept 30 days
after its last activity, and each transcript line 30 days after it was written."""

_TENANT_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


def is_tenant_id(value: object) -> bool:
    """Whether `value` has a tenant id's shape (what a token's tenant claim must have, too)."""
    return isinstance(value, str) and _TENANT_ID.fullmatch(value) is not None


TEMPLATE_PURPOSES = ("agent_available",)
"""What a rule's approved WhatsApp templates stand in for, outside the 24-hour window."""


class Strict(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)


def _channel_text(field: str, value: str | None, *, has_default: bool = True) -> str | None:
    """A text the bot sends: not blank, and short enough for every channel."""
    if value is None:
        return None
    if not value.strip():
        hint = "; leave it out to use the default text" if has_default else ""
        raise ValueError(f"{field}: the text is empty{hint}")
    size = len(value.encode("utf-8"))
    if size > MAX_TEXT_BYTES:
        raise ValueError(
            f"{field}: the text is {size} bytes long; Instagram accepts at most {MAX_TEXT_BYTES} bytes "
            "(UTF-8) per message"
        )
    return value


TEMPLATE_NAME = r"^[a-z0-9_]{1,512}$"
"""A WhatsApp template's name as WhatsApp Manager gives it: lowercase letters, digits and '_'."""

TEMPLATE_LANGUAGE = r"^[a-z]{2,3}(_[A-Z0-9]{2,3})?$"
"""A template's language code as Meta writes it: `es`, `pt_BR`, `en_US`."""

MAX_TEMPLATE_PARAMETERS = 10
"""The most parameters an agent's template may take: enough for a message, few enough to fill in."""

MAX_PARAMETER_LENGTH = 1024
"""A parameter can be no longer than the body it goes in (WhatsApp: 1024 characters)."""

_PLACEHOLDER = re.compile(r"\{\{\s*(\d+)\s*\}\}")


def parameter_problem(value: str) -> str | None:
    """Why WhatsApp would refuse `value` as a template's text parameter, or None when it takes it.

    Meta refuses a parameter that is empty, holds a line break or a tab, or runs more than four
    spaces together (error 132018). Checked before anything is written, the agent is told at once
    and can fix it, rather than finding the message marked "not delivered" in the transcript.
    """
    if not value.strip():
        return "it is empty"
    if len(value) > MAX_PARAMETER_LENGTH:
        return f"it is {len(value)} characters long; at most {MAX_PARAMETER_LENGTH}"
    if any(ch in value for ch in "\n\r\t"):
        return "WhatsApp takes no line break or tab in a template's parameter"
    if " " * 5 in value:
        return "WhatsApp takes no more than four spaces in a row in a template's parameter"
    if any("\ud800" <= ch <= "\udfff" for ch in value):
        return "it is not valid text (a lone surrogate)"
    return None


def fill_template(text: str, parameters: Sequence[str]) -> str:
    """`text` with each {{n}} replaced by the n-th parameter (those without one are left as written)."""

    def parameter(found: re.Match[str]) -> str:
        n = int(found.group(1))
        return parameters[n - 1] if 1 <= n <= len(parameters) else found.group(0)

    return _PLACEHOLDER.sub(parameter, text)


class Template(Strict):
    """An approved WhatsApp template, sent instead of free text outside the 24-hour window."""

    name: str = Field(pattern=TEMPLATE_NAME)
    language: str = Field(pattern=TEMPLATE_LANGUAGE)


class AgentTemplate(Strict):
    """An approved WhatsApp template agents may send from Live, above all to write to a user whose
    24-hour window has closed (WhatsApp then takes nothing else from the business)."""

    name: str = Field(pattern=TEMPLATE_NAME, description="the template's name in WhatsApp Manager")
    language: str = Field(
        pattern=TEMPLATE_LANGUAGE, description="the language it was approved in, e.g. es, pt_BR, en_US"
    )
    title: str = Field(min_length=1, max_length=80, description="what agents see in the console's picker")
    parameters: list[str] = Field(
        default_factory=list,
        max_length=MAX_TEMPLATE_PARAMETERS,
        description="a label for each of the body's parameters, {{1}}, {{2}}... in order (at most 10), "
        "shown to the agent who fills them in; the console offers the user's name for the first",
    )
    text: str | None = Field(
        default=None,
        max_length=MAX_PARAMETER_LENGTH,
        description="the approved body with its {{1}}, {{2}}... placeholders: Live's transcript then shows "
        "what the user received (without it, the title and the parameters)",
    )

    @field_validator("title")
    @classmethod
    def _title_shown(cls, title: str) -> str:
        if not title.strip():
            raise ValueError("title: the title is empty; agents pick the template by it")
        return title

    @field_validator("parameters")
    @classmethod
    def _labels_shown(cls, labels: list[str]) -> list[str]:
        for n, label in enumerate(labels, start=1):
            if not label.strip() or len(label) > 80:
                raise ValueError(f"parameters: the label of {{{{{n}}}}} must be 1 to 80 characters")
        return labels

    @model_validator(mode="after")
    def _text_matches_parameters(self) -> Self:
        if self.text is None:
            return self
        if not self.text.strip():
            raise ValueError(f"template {self.name!r}: text is empty; leave it out instead")
        found = {int(n) for n in _PLACEHOLDER.findall(self.text)}
        expected = set(range(1, len(self.parameters) + 1))
        if found != expected:
            placeholders = ", ".join(f"{{{{{n}}}}}" for n in sorted(expected)) or "none"
            raise ValueError(
                f"template {self.name!r}: text must hold exactly the placeholders of its "
                f"{len(self.parameters)} parameters ({placeholders}), as approved"
            )
        return self

    def shown(self, parameters: Sequence[str]) -> str:
        """What Live's transcript says the user received: the body filled in, else title and values."""
        if self.text is not None:
            return fill_template(self.text, parameters)
        values = ", ".join(parameters)
        return f"Template {self.title}: {values}" if values else f"Template {self.title}"


CANNED_SHORTCUT = r"^[a-z0-9-]{1,32}$"
"""A canned answer's shortcut, typed after '/' in the console: lowercase letters, digits and '-'."""

MAX_CANNED_ANSWERS = 200
"""At most this many canned answers per language."""


class CannedAnswer(Strict):
    """A ready-made reply agents insert in Live's reply box by typing '/' and its shortcut; the
    inserted text stays editable before it is sent."""

    shortcut: str = Field(
        pattern=CANNED_SHORTCUT,
        description="what the agent types after '/': lowercase letters, digits and '-', 1 to 32",
    )
    text: str = Field(description="the text inserted in the reply box (at most 1000 bytes of UTF-8)")

    @field_validator("text")
    @classmethod
    def _text_sendable(cls, text: str) -> str:
        checked = _channel_text("text", text, has_default=False)
        assert checked is not None
        return checked


class RuleMessages(Strict):
    """Per-rule texts, written in the tenant's language; any left out take the tenant's messages."""

    attention: str | None = None
    no_agents: str | None = None
    offer: str | None = None
    agent_available: str | None = None

    @field_validator("*")
    @classmethod
    def _sendable(cls, value: str | None, info: ValidationInfo) -> str | None:
        return _channel_text(str(info.field_name), value)


class HandoffRule(Strict):
    channel: Channel
    type: Literal["live", "script", "preform"] = "live"
    after_hours: bool = False
    direct: bool = False
    business_hours: BusinessHoursConfig | None = None
    messages: RuleMessages = Field(default_factory=RuleMessages)
    templates: dict[str, Template] = Field(default_factory=dict)

    @field_validator("templates")
    @classmethod
    def _known_templates(cls, templates: dict[str, Template]) -> dict[str, Template]:
        for purpose in templates:
            if purpose not in TEMPLATE_PURPOSES:
                known = ", ".join(TEMPLATE_PURPOSES)
                raise ValueError(f"templates: unknown template purpose {purpose!r} (known: {known})")
        return templates

    @model_validator(mode="after")
    def _after_hours_rules(self) -> Self:
        if self.after_hours and self.channel == "web":
            raise ValueError("web channel: the after-hours mode is not available on the web channel")
        if self.after_hours and self.type != "live":
            raise ValueError(
                f"{self.channel} channel: the after-hours mode works only with the conventional "
                f"handoff to Live (type 'live'), not with type {self.type!r}"
            )
        if self.templates and self.channel != "whatsapp":
            raise ValueError(
                f"{self.channel} channel: templates are a WhatsApp feature; outside the 24-hour window "
                "Messenger and Instagram accept only a person's reply"
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
    place_in_line: str | None = None  # added to the waiting acknowledgment; `{place}` is the number
    bot_unavailable: str | None = None  # the tenant's own bot did not answer, after every retry
    already_in_line: str | None = None  # the offer's YES tapped again while waiting; `{place}`

    @field_validator("*")
    @classmethod
    def _sendable(cls, value: str | None, info: ValidationInfo) -> str | None:
        field = str(info.field_name)
        if field in ("offer_yes", "offer_no") and value is not None and len(value) > MAX_BUTTON_TITLE:
            raise ValueError(
                f"{field}: the button title {value!r} is {len(value)} characters long; WhatsApp reply "
                f"buttons and Messenger/Instagram quick replies allow at most {MAX_BUTTON_TITLE}"
            )
        return _channel_text(field, value)


# constructed, not validated, as the module loads (a cold start builds no validator it does not use):
# tests/unit/test_texts.py validates every default
DEFAULT_MESSAGES: dict[Language, Messages] = {
    "es": Messages.model_construct(
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
        already_in_line="Ya estás en la fila de atención. Tu lugar: {place}.",
        bot_unavailable=(
            "Perdón, en este momento no puedo responder a tu mensaje. Por favor, inténtalo de nuevo en "
            "unos minutos."
        ),
    ),
    "pt": Messages.model_construct(
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
        already_in_line="Você já está na fila de atendimento. Sua posição: {place}.",
        bot_unavailable=(
            "Desculpe, no momento não consigo responder à sua mensagem. Por favor, tente de novo em "
            "alguns minutos."
        ),
    ),
    "en": Messages.model_construct(
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
        already_in_line="You're already in line. Your place: {place}.",
        bot_unavailable=("Sorry, I can't answer your message just now. Please try again in a few minutes."),
    ),
}
"""The built-in texts, which the tenant's and the rule's messages override field by field."""


class Intent(Strict):
    """Something users ask for, recognised by keywords (words or phrases) and answered per language.

    `handoff: true` makes the bot ask for a handoff to Live; its answer, if any, is said first.
    """

    name: str = Field(min_length=1, max_length=64)
    keywords: dict[Language, list[str]]
    answer: dict[Language, str] = Field(default_factory=dict)
    handoff: bool = False

    @model_validator(mode="after")
    def _usable(self) -> Self:
        if not any(self.keywords.values()):
            raise ValueError(f"intent {self.name!r}: give it at least one keyword")
        for language, phrases in self.keywords.items():
            for phrase in phrases:
                if not any(ch.isalnum() for ch in phrase):
                    raise ValueError(
                        f"intent {self.name!r}: keyword {phrase!r} ({language}) has no letters or digits, "
                        "so it can never match"
                    )
        if not self.handoff and not self.answer:
            raise ValueError(f"intent {self.name!r}: give it an answer (or set handoff: true)")
        for language, text in self.answer.items():
            _channel_text(f"intent {self.name!r}: answer ({language})", text, has_default=False)
        return self


BotKind = Literal["intents", "http", "lex", "bedrock"]

_PARAMETER_NAME = r"^[A-Za-z0-9_.-]{1,128}$"
_HEADER_NAME = re.compile(r"[A-Za-z0-9-]{1,64}")


class HttpBot(Strict):
    """Any bot over HTTP that speaks Rasa's REST channel format (docs/bots.md)."""

    url: str = Field(
        pattern=r"^https?://[^\s]+$", description="POST target, e.g. Rasa's /webhooks/rest/webhook"
    )
    timeout_seconds: float = Field(default=5.0, gt=0, le=25, description="per request; then it is retried")
    signed: bool = Field(
        default=False,
        description="sign each body with X-Handoff-Signature (HMAC-SHA256), keyed by the SSM parameter "
        "{prefix}/bots/{tenant}/secret",
    )
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="header name -> the name of an SSM parameter under {prefix}/bots/{tenant}/ holding its "
        "value (an API key), never the value itself",
    )

    @field_validator("headers")
    @classmethod
    def _header_names(cls, headers: dict[str, str]) -> dict[str, str]:
        for header, parameter in headers.items():
            if not _HEADER_NAME.fullmatch(header):
                raise ValueError(f"headers: {header!r} is not an HTTP header name")
            if not re.fullmatch(_PARAMETER_NAME, parameter):
                raise ValueError(f"headers: {header}: {parameter!r} is not an SSM parameter name")
        return headers


class LexBot(Strict):
    """An Amazon Lex V2 bot, asked with RecognizeText."""

    bot_id: str = Field(pattern=r"^[0-9A-Z]{10}$")
    bot_alias_id: str = Field(pattern=r"^(\bTSTALIASID\b|[0-9A-Z]{10})$")
    locales: dict[Language, str] = Field(
        description="the Lex locale per conversation language, e.g. {es: es_419, pt: pt_BR, en: en_US}"
    )
    handoff_intent: str | None = Field(
        default=None,
        description="an intent of the bot that asks for a handoff (or the session attribute handoff=true)",
    )

    @field_validator("locales")
    @classmethod
    def _some_locale(cls, locales: dict[Language, str]) -> dict[Language, str]:
        if not locales:
            raise ValueError("locales: give the Lex locale of at least one language")
        for language, locale in locales.items():
            if not re.fullmatch(r"[a-z]{2}_[A-Z0-9]{2,3}", locale):
                raise ValueError(f"locales: {language}: {locale!r} is not a Lex locale id like es_419")
        return locales


class BedrockBot(Strict):
    """A model on Amazon Bedrock through the Converse API; it asks for a handoff with a tool call."""

    model_id: str = Field(min_length=1, max_length=256)
    system_prompt: dict[Language, str] = Field(description="what the model is told, per language")
    guardrail_id: str | None = None
    guardrail_version: str | None = None
    max_turns: int = Field(default=10, ge=1, le=50, description="recent turns of the bot session sent")
    max_characters: int = Field(default=4000, ge=200, le=50000, description="at most this much context")
    max_tokens: int = Field(default=512, ge=16, le=4096, description="the longest answer")

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if not self.system_prompt:
            raise ValueError("system_prompt: give the prompt of at least one language")
        if (self.guardrail_id is None) != (self.guardrail_version is None):
            raise ValueError("guardrail_id and guardrail_version go together")
        return self


class BotConfig(Strict):
    """Who answers the tenant's users: the built-in intent bot (the default), or the tenant's own."""

    kind: BotKind = "intents"
    intents: list[Intent] = Field(default_factory=list)
    http: HttpBot | None = None
    lex: LexBot | None = None
    bedrock: BedrockBot | None = None

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        seen: set[str] = set()
        for intent in self.intents:
            if intent.name in seen:
                raise ValueError(f"intent {intent.name!r} is defined twice")
            seen.add(intent.name)
        return self

    @model_validator(mode="after")
    def _settings_of_its_kind(self) -> Self:
        given = [kind for kind in ("http", "lex", "bedrock") if getattr(self, kind) is not None]
        if self.kind != "intents" and self.kind not in given:
            raise ValueError(f"bot: kind {self.kind} needs its settings under {self.kind}:")
        others = [kind for kind in given if kind != self.kind]
        if others:
            raise ValueError(f"bot: kind is {self.kind}, but settings for {', '.join(others)} are given too")
        return self


class ChannelAccount(Strict):
    """A WhatsApp phone_number_id, Facebook page id or Instagram account id that routes to the tenant."""

    channel: Channel
    # YAML reads an unquoted id as a number: take it as the digits it is.
    account_id: str = Field(coerce_numbers_to_str=True)
    name: str = ""

    @model_validator(mode="after")
    def _id_shape(self) -> Self:
        if self.channel in ASYNC_CHANNELS and not (self.account_id.isascii() and self.account_id.isdigit()):
            raise ValueError(
                f"{self.channel} account: account_id {self.account_id!r} must be the numeric id Meta gives "
                "(phone_number_id, page id or Instagram account id)"
            )
        if not self.account_id or any(ch.isspace() for ch in self.account_id):
            raise ValueError(f"{self.channel} account: account_id {self.account_id!r} must be one word")
        return self


class TenantConfig(Strict):
    tenant_id: str
    name: str = ""
    language: Language = "es"
    accounts: list[ChannelAccount] = Field(default_factory=list)
    rules: list[HandoffRule] = Field(default_factory=list)
    messages: dict[Language, Messages] = Field(default_factory=dict)
    bot: BotConfig = Field(default_factory=BotConfig)
    channel_bots: dict[Channel, BotConfig] = Field(
        default_factory=dict, description="a channel's own bot, in place of `bot` on that channel"
    )
    agent_seats: int = Field(default=3, ge=1, le=100)
    close_idle_chats_after_days: int = Field(
        default=7,
        ge=1,
        le=90,
        description=(
            "a chat an agent took is closed after this many days without a message from the user or "
            "the agent, and never while the channel still lets the agent answer"
        ),
    )
    closed_readable_days: int = Field(
        default=7,
        ge=1,
        le=MAX_CLOSED_READABLE_DAYS,
        description=(
            "for how many days after a chat an agent took is closed, Live's closed view lists it "
            "(read-only, with who closed it); at most 30: conversations and their transcripts are "
            "kept 30 days after their last message"
        ),
    )
    # capacity: tell waiting users in line order, as many as agents have free seats;
    # everyone: tell every waiting user at once (the article's plain behaviour)
    wake_mode: Literal["capacity", "everyone"] = "capacity"
    agent_templates: list[AgentTemplate] = Field(
        default_factory=list,
        max_length=100,
        description=(
            "approved WhatsApp templates agents may send from Live (at most 100, unique by name and "
            "language): past the 24-hour window they are the only way to write to a WhatsApp user"
        ),
    )

    canned_answers: dict[Language, list[CannedAnswer]] = Field(
        default_factory=dict,
        description=(
            "ready-made replies agents insert in Live's reply box by typing '/' and a shortcut, per "
            f"language (at most {MAX_CANNED_ANSWERS} per language, unique by shortcut)"
        ),
    )

    @field_validator("tenant_id")
    @classmethod
    def _tenant_id_shape(cls, value: str) -> str:
        if not _TENANT_ID.fullmatch(value):
            raise ValueError(
                f"tenant_id {value!r}: use lowercase letters, digits and '-', starting with a letter or "
                "digit, at most 63 characters"
            )
        return value

    @model_validator(mode="after")
    def _one_rule_per_channel(self) -> Self:
        seen: dict[str, int] = {}
        for index, rule in enumerate(self.rules):
            if rule.channel in seen:
                raise ValueError(
                    f"{rule.channel} channel: only one handoff rule per channel "
                    f"(rules[{seen[rule.channel]}] and rules[{index}])"
                )
            seen[rule.channel] = index
        return self

    @model_validator(mode="after")
    def _distinct_offer_titles(self) -> Self:
        for language, messages in self.messages.items():
            default = DEFAULT_MESSAGES[language]
            yes = messages.offer_yes or default.offer_yes
            no = messages.offer_no or default.offer_no
            if yes is not None and no is not None and yes.strip().casefold() == no.strip().casefold():
                raise ValueError(
                    f"messages ({language}): offer_yes and offer_no are both {yes!r}; the two buttons "
                    "need different titles"
                )
        return self

    @model_validator(mode="after")
    def _agent_templates_usable(self) -> Self:
        seen: set[tuple[str, str]] = set()
        for template in self.agent_templates:
            key = (template.name, template.language)
            if key in seen:
                raise ValueError(
                    f"agent_templates: template {template.name!r} in {template.language!r} is listed twice"
                )
            seen.add(key)
        if self.agent_templates and not any(a.channel == "whatsapp" for a in self.accounts):
            raise ValueError(
                "agent_templates: templates are a WhatsApp feature, and the tenant has no WhatsApp "
                "account; Messenger and Instagram take only a person's reply, up to 7 days after the "
                "user's last message"
            )
        return self

    @model_validator(mode="after")
    def _canned_answers_usable(self) -> Self:
        for language, answers in self.canned_answers.items():
            if len(answers) > MAX_CANNED_ANSWERS:
                raise ValueError(
                    f"canned_answers ({language}): {len(answers)} answers; at most {MAX_CANNED_ANSWERS} "
                    "per language"
                )
            seen: set[str] = set()
            for answer in answers:
                if answer.shortcut in seen:
                    raise ValueError(
                        f"canned_answers ({language}): shortcut {answer.shortcut!r} is listed twice"
                    )
                seen.add(answer.shortcut)
        return self

    def agent_template(self, name: str, language: str) -> AgentTemplate | None:
        """The agents' template of this name and language, if the tenant lets agents send it."""
        return next((t for t in self.agent_templates if (t.name, t.language) == (name, language)), None)

    def bot_for(self, channel: Channel) -> BotConfig:
        """The bot that answers on `channel`: the channel's own, else the tenant's."""
        return self.channel_bots.get(channel, self.bot)

    def rule_for(self, channel: Channel) -> HandoffRule | None:
        return next((r for r in self.rules if r.channel == channel), None)


def rules_without_account(
    rule_channels: Sequence[object], account_channels: Iterable[object]
) -> list[tuple[int, str]]:
    """The rules (position, channel) whose channel has no account in their tenant: no message could
    ever reach them. Read from raw values too, so a file can be checked before it validates."""
    with_account = set(account_channels)
    return [
        (position, channel)
        for position, channel in enumerate(rule_channels)
        if isinstance(channel, str) and channel in CHANNELS and channel not in with_account
    ]


def no_account_reason(channel: str) -> str:
    return f"{channel} channel: the tenant has no {channel} account, so this rule can never apply"
