"""The tenants' bots on AWS: Lex V2 (RecognizeText) and Bedrock (Converse), against botocore's Stubber,
which checks each request against the service's real shapes; and what template.yaml grants them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ReadTimeoutError
from botocore.stub import Stubber

from handoff.adapters import clients
from handoff.adapters.bots import bedrock_bot as bedrock_module
from handoff.adapters.bots import lex_bot as lex_module
from handoff.adapters.bots.bedrock_bot import BedrockBot
from handoff.adapters.bots.lex_bot import LexBot
from handoff.config.models import BedrockBot as BedrockBotConfig
from handoff.config.models import Language
from handoff.config.models import LexBot as LexBotConfig
from handoff.engine.bot import BotMessage, BotQuestion, BotTurn, BotUnavailable
from handoff.engine.model import Option, TranscriptEntry
from handoff_local.aws import LOCAL_AWS_ENVIRONMENT, load_template
from handoff_tools.functions import TEMPLATE

SESSION_ID = "0123456789abcdef0123456789abcdef"
BOT_ID = "ABCDEFGHIJ"
ALIAS_ID = "TSTALIASID"
MODEL_ID = "anthropic.claude-3-haiku-20240307-v1:0"
T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Dummy credentials and region, and clients created afresh for the test (and forgotten after)."""
    for name, value in LOCAL_AWS_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    clients.reset()
    yield
    clients.reset()


@pytest.fixture
def lex(aws: None) -> Iterator[Stubber]:
    stubber = Stubber(clients.client("lexv2-runtime"))
    with stubber:
        yield stubber
    stubber.assert_no_pending_responses()


@pytest.fixture
def bedrock(aws: None) -> Iterator[Stubber]:
    stubber = Stubber(clients.client("bedrock-runtime"))
    with stubber:
        yield stubber
    stubber.assert_no_pending_responses()


def question(text: str = "hola", *, language: Language = "es", payload: str | None = None) -> BotQuestion:
    return BotQuestion(
        text=text,
        payload=payload,
        language=language,
        channel="whatsapp",
        event_id="wamid.1",
        kind="choice" if payload else "text",
        session=1,
        session_id=SESSION_ID,
    )


class FailingClient:
    """A client whose every call times out (what botocore raises when the service does not answer)."""

    def __getattr__(self, name: str) -> Any:
        def call(**_: Any) -> Any:
            raise ReadTimeoutError(endpoint_url="https://runtime.example")

        return call


# --- Lex V2 ----------------------------------------------------------------------------------------


def lex_config(**overrides: Any) -> LexBotConfig:
    settings: dict[str, Any] = {
        "bot_id": BOT_ID,
        "bot_alias_id": ALIAS_ID,
        "locales": {"es": "es_419", "pt": "pt_BR"},
        "handoff_intent": "TalkToAgent",
    }
    return LexBotConfig.model_validate({**settings, **overrides})


def lex_request(text: str = "hola", locale: str = "es_419") -> dict[str, Any]:
    return {
        "botId": BOT_ID,
        "botAliasId": ALIAS_ID,
        "localeId": locale,
        "sessionId": SESSION_ID,
        "text": text,
    }


def lex_response(
    *messages: dict[str, Any], intent: str | None = "Greeting", attributes: dict[str, str] | None = None
) -> dict[str, Any]:
    state: dict[str, Any] = {"sessionAttributes": attributes or {}}
    if intent is not None:
        state["intent"] = {"name": intent, "state": "InProgress"}
    return {"messages": list(messages), "sessionState": state, "sessionId": SESSION_ID}


def plain(text: str) -> dict[str, Any]:
    return {"contentType": "PlainText", "content": text}


def test_lex_plain_text_is_one_message_with_the_intent(lex: Stubber) -> None:
    lex.add_response("recognize_text", lex_response(plain("¡Hola! ¿En qué te ayudo?")), lex_request())

    turn = LexBot(lex_config()).answer(question())

    assert turn == BotTurn(messages=(BotMessage(text="¡Hola! ¿En qué te ayudo?"),), intent="Greeting")
    assert not turn.handoff


def test_lex_messages_keep_their_order_and_every_text_content_type(lex: Stubber) -> None:
    lex.add_response(
        "recognize_text",
        lex_response(
            plain("Primero."),
            {"contentType": "SSML", "content": "<speak>Segundo.</speak>"},
            plain("   "),  # empty: skipped
            {"contentType": "CustomPayload", "content": '{"tercero": true}'},
            plain("Cuarto."),
        ),
        lex_request(),
    )

    turn = LexBot(lex_config()).answer(question())

    assert [message.text for message in turn.messages] == [
        "Primero.",
        "<speak>Segundo.</speak>",
        '{"tercero": true}',
        "Cuarto.",
    ]
    assert all(message.options == () for message in turn.messages)


def test_lex_image_response_card_is_a_message_with_options(lex: Stubber) -> None:
    card = {
        "contentType": "ImageResponseCard",
        "imageResponseCard": {
            "title": "¿Qué necesitas?",
            "subtitle": "Elige una opción",
            "imageUrl": "https://example.com/card.png",
            "buttons": [
                {"text": "Mi pedido", "value": "order_status"},
                {"text": "Hablar con alguien", "value": "agent"},
            ],
        },
    }
    untitled_sub = {
        "contentType": "ImageResponseCard",
        "imageResponseCard": {"title": "Solo título", "buttons": [{"text": "Sí", "value": "yes"}]},
    }
    lex.add_response("recognize_text", lex_response(plain("Claro."), card, untitled_sub), lex_request())

    turn = LexBot(lex_config()).answer(question())

    assert turn.messages == (
        BotMessage(text="Claro."),
        BotMessage(
            text="¿Qué necesitas?\nElige una opción",
            options=(
                Option(title="Mi pedido", payload="order_status"),
                Option(title="Hablar con alguien", payload="agent"),
            ),
        ),
        BotMessage(text="Solo título", options=(Option(title="Sí", payload="yes"),)),
    )


def test_lex_handoff_intent_asks_for_a_handoff_after_its_messages(lex: Stubber) -> None:
    lex.add_response(
        "recognize_text",
        lex_response(plain("Te comunico con un agente."), intent="TalkToAgent"),
        lex_request(),
    )

    turn = LexBot(lex_config()).answer(question())

    assert turn.handoff
    assert turn.intent == "TalkToAgent"
    assert turn.text == "Te comunico con un agente."


def test_lex_without_a_handoff_intent_configured_no_intent_hands_off(lex: Stubber) -> None:
    lex.add_response("recognize_text", lex_response(plain("Ok."), intent="TalkToAgent"), lex_request())

    turn = LexBot(lex_config(handoff_intent=None)).answer(question())

    assert not turn.handoff
    assert turn.intent == "TalkToAgent"


@pytest.mark.parametrize(
    ("value", "handoff"), [("true", True), ("TRUE", True), (" True ", True), ("false", False)]
)
def test_lex_session_attribute_handoff_asks_for_a_handoff(lex: Stubber, value: str, handoff: bool) -> None:
    lex.add_response(
        "recognize_text",
        lex_response(plain("Un momento."), intent="FallbackIntent", attributes={"handoff": value}),
        lex_request(),
    )

    turn = LexBot(lex_config()).answer(question())

    assert turn.handoff is handoff
    assert turn.intent == "FallbackIntent"


def test_lex_answer_without_messages_or_intent_is_silence(lex: Stubber) -> None:
    lex.add_response("recognize_text", {"sessionId": SESSION_ID}, lex_request())

    assert LexBot(lex_config()).answer(question()) == BotTurn()


@pytest.mark.parametrize(
    ("language", "locale"),
    [("es", "es_419"), ("pt", "pt_BR"), ("en", "es_419")],  # en has none: the first configured
)
def test_lex_locale_follows_the_conversation_language(lex: Stubber, language: Language, locale: str) -> None:
    lex.add_response("recognize_text", lex_response(plain("ok")), lex_request("hello", locale))

    LexBot(lex_config()).answer(question("hello", language=language))


def test_lex_gets_the_tapped_buttons_payload_instead_of_its_title(lex: Stubber) -> None:
    lex.add_response(
        "recognize_text", lex_response(plain("Tu pedido llega mañana.")), lex_request("order_status")
    )

    turn = LexBot(lex_config()).answer(question("Mi pedido", payload="order_status"))

    assert turn.text == "Tu pedido llega mañana."


def test_lex_reads_at_most_1024_characters(lex: Stubber) -> None:
    long = "a" * 1500
    lex.add_response("recognize_text", lex_response(plain("ok")), lex_request("a" * 1024))

    LexBot(lex_config()).answer(question(long))


def test_lex_is_not_asked_a_message_without_text(lex: Stubber) -> None:
    assert LexBot(lex_config()).answer(question("")) == BotTurn()  # no response queued: no call


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ThrottlingException", 429),
        ("AccessDeniedException", 403),
        ("ResourceNotFoundException", 404),
        ("ValidationException", 400),
        ("ConflictException", 409),
        ("DependencyFailedException", 424),
        ("InternalServerException", 500),
        ("BadGatewayException", 502),
    ],
)
def test_lex_errors_are_bot_unavailable_naming_only_the_code(lex: Stubber, code: str, status: int) -> None:
    lex.add_client_error(
        "recognize_text",
        service_error_code=code,
        service_message="details the user must not see",
        http_status_code=status,
        expected_params=lex_request("mi número es 5551234"),
    )

    with pytest.raises(BotUnavailable) as raised:
        LexBot(lex_config()).answer(question("mi número es 5551234"))

    assert str(raised.value) == f"lex: {code}"


def test_lex_timeout_is_bot_unavailable(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lex_module, "client", lambda service: FailingClient())

    with pytest.raises(BotUnavailable) as raised:
        LexBot(lex_config()).answer(question())

    assert str(raised.value) == "lex: ReadTimeoutError"


# --- Bedrock (Converse) ------------------------------------------------------------------------------

REASON_DESCRIPTION = "why the user needs a person, in a few words (for the logs)"
PROMPTS = {"es": "Eres el asistente de Acme. Responde en español.", "pt": "Você é o assistente da Acme."}


def bedrock_config(**overrides: Any) -> BedrockBotConfig:
    settings: dict[str, Any] = {"model_id": MODEL_ID, "system_prompt": PROMPTS, "max_tokens": 300}
    return BedrockBotConfig.model_validate({**settings, **overrides})


class Usage:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def __call__(self, read: int, written: int) -> None:
        self.calls.append((read, written))


def make_bedrock(
    config: BedrockBotConfig | None = None,
    lines: list[TranscriptEntry] | None = None,
    usage: Usage | None = None,
) -> BedrockBot:
    return BedrockBot(
        config or bedrock_config(), history=lambda: list(lines or ()), record_usage=usage or Usage()
    )


def line(author: str, text: str | None, minute: int = 0, kind: str = "text") -> TranscriptEntry:
    return TranscriptEntry.model_validate(
        {"at": T0 + timedelta(minutes=minute), "author": author, "kind": kind, "text": text}
    )


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": [{"text": text}]}


def assistant(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": [{"text": text}]}


def converse_request(
    messages: list[dict[str, Any]], *, prompt: str = PROMPTS["es"], max_tokens: int = 300, **extra: Any
) -> dict[str, Any]:
    return {
        "modelId": MODEL_ID,
        "system": [{"text": prompt}],
        "messages": messages,
        "toolConfig": tool_config(),
        "inferenceConfig": {"maxTokens": max_tokens},
        **extra,
    }


def tool_config() -> dict[str, Any]:
    return {
        "tools": [
            {
                "toolSpec": {
                    "name": "hand_off_to_agent",
                    "description": bedrock_module.TOOL_CONFIG["tools"][0]["toolSpec"]["description"],
                    "inputSchema": {
                        "json": {
                            "type": "object",
                            "properties": {
                                "reason": {
                                    "type": "string",
                                    "description": REASON_DESCRIPTION,
                                }
                            },
                            "required": ["reason"],
                        }
                    },
                }
            }
        ]
    }


def converse_response(
    *content: dict[str, Any], stop_reason: str = "end_turn", read: int = 120, written: int = 30
) -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": list(content)}},
        "stopReason": stop_reason,
        "usage": {"inputTokens": read, "outputTokens": written, "totalTokens": read + written},
        "metrics": {"latencyMs": 420},
    }


def tool_use(reason: str = "the user asks for a person", name: str = "hand_off_to_agent") -> dict[str, Any]:
    return {"toolUse": {"toolUseId": "tooluse_1", "name": name, "input": {"reason": reason}}}


def test_bedrock_request_is_exactly_the_prompt_the_context_the_tool_and_max_tokens(bedrock: Stubber) -> None:
    bedrock.add_response("converse", converse_response({"text": "¡Hola!"}), converse_request([user("hola")]))

    make_bedrock().answer(question("hola"))

    # the tool the model is given: one function, hand_off_to_agent(reason: string), reason required
    spec = bedrock_module.TOOL_CONFIG["tools"][0]["toolSpec"]
    assert spec["name"] == "hand_off_to_agent"
    assert spec["inputSchema"]["json"]["required"] == ["reason"]
    assert spec["description"]


@pytest.mark.parametrize(
    ("language", "prompt"), [("es", PROMPTS["es"]), ("pt", PROMPTS["pt"]), ("en", PROMPTS["es"])]
)
def test_bedrock_system_prompt_is_the_languages_else_the_first(
    bedrock: Stubber, language: Language, prompt: str
) -> None:
    bedrock.add_response(
        "converse", converse_response({"text": "ok"}), converse_request([user("hi")], prompt=prompt)
    )

    make_bedrock().answer(question("hi", language=language))


def test_bedrock_guardrail_is_sent_only_when_configured(bedrock: Stubber) -> None:
    config = bedrock_config(guardrail_id="abc123guard", guardrail_version="2", max_tokens=64)
    guardrail = {"guardrailIdentifier": "abc123guard", "guardrailVersion": "2"}
    bedrock.add_response(
        "converse",
        converse_response({"text": "ok"}),
        converse_request([user("hola")], max_tokens=64, guardrailConfig=guardrail),
    )

    make_bedrock(config).answer(question("hola"))

    assert "guardrailConfig" not in make_bedrock(bedrock_config()).request(question("hola"))


def test_bedrock_context_alternates_skips_agents_and_appends_the_question(bedrock: Stubber) -> None:
    lines = [
        line("bot", "Bienvenido a Acme.", 0),  # a leading assistant line: dropped
        line("user", "hola", 1),
        line("user", "quiero saber de mi pedido", 2),  # merged with the line before
        line("user", None, 3, kind="image"),  # no text: skipped
        line("bot", "¿Cuál es tu número de pedido?", 4),
        line("bot", "Lo encuentras en tu correo.", 5),  # merged
        line("system", "El usuario esperó.", 6),  # not the user's nor the bot's: skipped
        line("agent", "Hola, soy Ana.", 7),
        line("user", "es el 1234", 8),
    ]
    expected = [
        user("hola\n\nquiero saber de mi pedido"),
        assistant("¿Cuál es tu número de pedido?\n\nLo encuentras en tu correo."),
        user("es el 1234\n\ngracias"),
    ]
    bedrock.add_response("converse", converse_response({"text": "ok"}), converse_request(expected))

    make_bedrock(lines=lines).answer(question("gracias"))


def test_bedrock_question_already_in_the_transcript_is_sent_once(bedrock: Stubber) -> None:
    lines = [line("user", "hola", 0), line("bot", "¡Hola!", 1), line("user", "mi pedido", 2)]
    expected = [user("hola"), assistant("¡Hola!"), user("mi pedido")]
    bedrock.add_response("converse", converse_response({"text": "ok"}), converse_request(expected))

    make_bedrock(lines=lines).answer(question("mi pedido"))


def test_bedrock_context_is_at_most_max_turns_lines(bedrock: Stubber) -> None:
    lines = [line("user" if n % 2 == 0 else "bot", f"línea {n}", n) for n in range(8)]  # ends with a bot line
    # 3 lines back from the newest: the question, "línea 7" (bot), "línea 6" (user)
    expected = [user("línea 6"), assistant("línea 7"), user("pregunta")]
    bedrock.add_response("converse", converse_response({"text": "ok"}), converse_request(expected))

    make_bedrock(bedrock_config(max_turns=3), lines).answer(question("pregunta"))


def test_bedrock_context_is_at_most_max_characters_and_never_starts_with_the_bot(bedrock: Stubber) -> None:
    lines = [
        line("user", "u" * 100, 0),
        line("bot", "b" * 50, 1),  # would fit, but a leading assistant line is dropped
        line("user", "x" * 60, 2),
        line("bot", "y" * 40, 3),
    ]
    # 200 characters back from the newest: 100 (question) + 40 + 60 = 200; the 50 more do not fit
    question_text = "q" * 100
    expected = [user("x" * 60), assistant("y" * 40), user(question_text)]
    bedrock.add_response("converse", converse_response({"text": "ok"}), converse_request(expected))

    make_bedrock(bedrock_config(max_characters=200), lines).answer(question(question_text))


def test_bedrock_question_longer_than_max_characters_is_cut_and_sent_alone(bedrock: Stubber) -> None:
    lines = [line("user", "antes", 0), line("bot", "ok", 1)]
    bedrock.add_response("converse", converse_response({"text": "ok"}), converse_request([user("z" * 200)]))

    make_bedrock(bedrock_config(max_characters=200), lines).answer(question("z" * 250))


def test_bedrock_text_answer_is_one_message_and_usage_is_recorded(bedrock: Stubber) -> None:
    usage = Usage()
    bedrock.add_response(
        "converse",
        converse_response(
            {"text": "  Tu pedido llega mañana. "}, {"text": ""}, {"text": "¿Algo más?"}, read=512, written=48
        ),
        converse_request([user("mi pedido")]),
    )

    turn = make_bedrock(usage=usage).answer(question("mi pedido"))

    assert turn == BotTurn(messages=(BotMessage(text="Tu pedido llega mañana.\n\n¿Algo más?"),))
    assert usage.calls == [(512, 48)]


def test_bedrock_tool_call_asks_for_a_handoff_after_the_text_before_it(bedrock: Stubber) -> None:
    usage = Usage()
    bedrock.add_response(
        "converse",
        converse_response(
            {"text": "Te comunico con una persona."},
            tool_use("quiere hablar con una persona"),
            {"text": "said after the request: not sent"},
            stop_reason="tool_use",
        ),
        converse_request([user("quiero hablar con alguien")]),
    )

    turn = make_bedrock(usage=usage).answer(question("quiero hablar con alguien"))

    assert turn.handoff
    assert turn.messages == (BotMessage(text="Te comunico con una persona."),)
    assert turn.intent == "hand_off_to_agent"
    assert usage.calls == [(120, 30)]


def test_bedrock_bare_tool_call_is_a_silent_handoff(bedrock: Stubber) -> None:
    bedrock.add_response(
        "converse", converse_response(tool_use(), stop_reason="tool_use"), converse_request([user("agente")])
    )

    turn = make_bedrock().answer(question("agente"))

    assert (turn.handoff, turn.messages) == (True, ())


def test_bedrock_guardrail_intervention_is_an_answer(bedrock: Stubber) -> None:
    bedrock.add_response(
        "converse",
        converse_response({"text": "No puedo hablar de eso."}, stop_reason="guardrail_intervened"),
        converse_request([user("algo prohibido")]),
    )

    turn = make_bedrock().answer(question("algo prohibido"))

    assert turn == BotTurn(messages=(BotMessage(text="No puedo hablar de eso."),))


@pytest.mark.parametrize(
    "content",
    [[], [{"text": "   "}], [tool_use(name="some_other_tool")]],
    ids=["empty", "blank", "unknown tool"],
)
def test_bedrock_answer_with_neither_text_nor_handoff_is_silence(
    bedrock: Stubber, content: list[dict[str, Any]]
) -> None:
    usage = Usage()
    bedrock.add_response("converse", converse_response(*content), converse_request([user("hola")]))

    assert make_bedrock(usage=usage).answer(question("hola")) == BotTurn()
    assert usage.calls == [(120, 30)]


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ThrottlingException", 429),
        ("AccessDeniedException", 403),
        ("ValidationException", 400),
        ("ResourceNotFoundException", 404),
        ("ModelTimeoutException", 408),
        ("ModelNotReadyException", 429),
        ("ModelErrorException", 424),
        ("ServiceUnavailableException", 503),
        ("InternalServerException", 500),
    ],
)
def test_bedrock_errors_are_bot_unavailable_naming_only_the_code(
    bedrock: Stubber, code: str, status: int
) -> None:
    usage = Usage()
    bedrock.add_client_error(
        "converse",
        service_error_code=code,
        service_message="details the user must not see",
        http_status_code=status,
        expected_params=converse_request([user("mi tarjeta es 4111")]),
    )

    with pytest.raises(BotUnavailable) as raised:
        make_bedrock(usage=usage).answer(question("mi tarjeta es 4111"))

    assert str(raised.value) == f"bedrock: {code}"
    assert usage.calls == []


def test_bedrock_timeout_is_bot_unavailable(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bedrock_module, "client", lambda service: FailingClient())

    with pytest.raises(BotUnavailable) as raised:
        BedrockBot(bedrock_config(), history=list, record_usage=Usage()).answer(question())

    assert str(raised.value) == "bedrock: ReadTimeoutError"


def test_bedrock_is_not_asked_a_message_without_text(bedrock: Stubber) -> None:
    assert BedrockBot(bedrock_config(), history=list, record_usage=Usage()).answer(question(" ")) == BotTurn()


# --- template.yaml: what the conversation function may do with them --------------------------------

BOT_GRANTS = {
    # condition, parameter, action
    "HasLexBotAliases": ("LexBotAliasArns", "lex:RecognizeText"),
    "HasBedrockModels": ("BedrockModelArns", "bedrock:InvokeModel"),
    "HasBedrockGuardrails": ("BedrockGuardrailArns", "bedrock:ApplyGuardrail"),
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


def properties(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    found: dict[str, Any] = template["Resources"][logical_id].get("Properties", {})
    return found


def test_bot_parameters_are_optional_arn_lists_with_their_conditions(template: dict[str, Any]) -> None:
    for condition, (parameter, _) in BOT_GRANTS.items():
        declared = template["Parameters"][parameter]
        assert declared["Type"] == "CommaDelimitedList"
        assert declared["Default"] == ""
        assert declared["Description"]
        assert template["Conditions"][condition] == {
            "Fn::Not": [{"Fn::Equals": [{"Fn::Join": ["", {"Ref": parameter}]}, ""]}]
        }


def test_bot_grants_exist_only_under_their_conditions_and_only_on_their_arns(
    template: dict[str, Any],
) -> None:
    conditional = [
        policy["Fn::If"]
        for policy in properties(template, "ConversationFunction")["Policies"]
        if isinstance(policy, dict) and "Fn::If" in policy
    ]

    granted = {}
    for condition, then, otherwise in conditional:
        assert otherwise == {"Ref": "AWS::NoValue"}
        (statement,) = then["Statement"]
        granted[condition] = (statement["Effect"], statement["Action"], statement["Resource"])
    assert granted == {
        condition: ("Allow", action, {"Ref": parameter})
        for condition, (parameter, action) in BOT_GRANTS.items()
    }
    # no function is granted anything of Lex or Bedrock otherwise
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        policies = properties(template, logical_id).get("Policies", [])
        unconditional = [p for p in policies if not (isinstance(p, dict) and "Fn::If" in p)]
        assert not re.search(r'"(lex|bedrock):', json.dumps(unconditional)), logical_id
        if logical_id != "ConversationFunction":
            assert not re.search(r'"(lex|bedrock):', json.dumps(policies)), logical_id


def test_the_conversation_function_reads_the_tenants_bot_secrets(template: dict[str, Any]) -> None:
    statements = [
        statement
        for policy in properties(template, "ConversationFunction")["Policies"]
        if isinstance(policy, dict) and "Statement" in policy
        for statement in policy["Statement"]
    ]
    bots = [s for s in statements if s.get("Sid") == "ReadTenantsBotSecrets"]

    assert len(bots) == 1
    assert bots[0]["Action"] == "ssm:GetParameter"
    assert bots[0]["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}"
        ":parameter${ParameterPrefix}/bots/*"
    }


def test_bot_attempts_end_before_the_message_would_be_dead_lettered(template: dict[str, Any]) -> None:
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    receives = properties(template, "InboundQueue")["RedrivePolicy"]["maxReceiveCount"]

    assert 1 <= int(variables["BOT_ATTEMPTS"]) < receives


def test_bot_failed_alarm_watches_the_metric_as_powertools_emits_it(template: dict[str, Any]) -> None:
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    alarm = properties(template, "BotFailedAlarm")

    assert template["Resources"]["BotFailedAlarm"]["Type"] == "AWS::CloudWatch::Alarm"
    assert (alarm["Namespace"], alarm["MetricName"]) == (
        variables["POWERTOOLS_METRICS_NAMESPACE"],
        "BotFailed",
    )
    assert alarm["Dimensions"] == [{"Name": "service", "Value": variables["POWERTOOLS_SERVICE_NAME"]}]
    assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
        "Sum",
        0,
        "GreaterThanThreshold",
    )
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_dashboard_shows_failed_bots_and_bedrock_tokens(template: dict[str, Any]) -> None:
    body = properties(template, "Dashboard")["DashboardBody"]["Fn::Sub"]
    widgets = json.loads(re.sub(r"\$\{([^}]+)\}", r"\1", body))["widgets"]
    rows = [row for widget in widgets for row in widget["properties"]["metrics"]]

    assert ["AsyncHandoff", "BotFailed", "service", "async-handoff"] in [row[:4] for row in rows]
    assert ["AsyncHandoff", "BotTokens", "service", "async-handoff"] in [row[:4] for row in rows]
    places = [(w["x"], w["y"]) for w in widgets]
    assert len(places) == len(set(places))  # no widget hides another
