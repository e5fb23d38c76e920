"""Outbound effects rendered as WhatsApp requests: text (split when long), reply buttons, templates."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handoff.channels.base import GraphRequest
from handoff.channels.whatsapp import TEXT_LIMIT, WhatsAppAdapter, is_bsuid, split_text, text_length
from handoff.engine.model import (
    NO_PAYLOAD,
    YES_PAYLOAD,
    Conversation,
    ConversationRef,
    Option,
    SendChoice,
    SendOptions,
    SendTemplate,
    SendText,
    UserAddress,
)

ACCOUNT = "200000000000001"
PHONE = "15550002222"
BSUID = "US.13000000000000000001"

adapter = WhatsAppAdapter()


def conversation(
    phone: str | None = PHONE, bsuid: str | None = None, user_id: str | None = None, channel: str = "whatsapp"
) -> Conversation:
    ref = ConversationRef(
        tenant_id="acme", channel=channel, account_id=ACCOUNT, user_id=user_id or bsuid or phone or "x"
    )
    return Conversation(ref=ref, address=UserAddress(phone=phone, bsuid=bsuid))


def only(requests: list[GraphRequest]) -> GraphRequest:
    assert len(requests) == 1
    return requests[0]


def test_text_to_a_phone_number() -> None:
    request = only(adapter.render(SendText(text="Hola, ¿en qué te ayudo?"), conversation()))
    assert request.path == f"{ACCOUNT}/messages"
    assert request.body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "+15550002222",
        "type": "text",
        "text": {"body": "Hola, ¿en qué te ayudo?"},
    }


def test_a_stored_plus_is_not_doubled() -> None:
    request = only(adapter.render(SendText(text="hi"), conversation(phone="+15550002222")))
    assert request.body["to"] == "+15550002222"


def test_bsuid_only_user_gets_the_recipient_field() -> None:
    request = only(adapter.render(SendText(text="hi"), conversation(phone=None, bsuid=BSUID)))
    assert request.body["recipient"] == BSUID
    assert "to" not in request.body


def test_phone_wins_when_both_are_known() -> None:
    request = only(adapter.render(SendText(text="hi"), conversation(phone=PHONE, bsuid=BSUID)))
    assert request.body["to"] == "+15550002222"
    assert "recipient" not in request.body


@pytest.mark.parametrize(
    ("user_id", "field", "value"), [(PHONE, "to", "+15550002222"), (BSUID, "recipient", BSUID)]
)
def test_without_an_address_the_user_id_is_used(user_id: str, field: str, value: str) -> None:
    convo = Conversation(
        ref=ConversationRef(tenant_id="acme", channel="whatsapp", account_id=ACCOUNT, user_id=user_id)
    )
    assert only(adapter.render(SendText(text="hi"), convo)).body[field] == value


def test_is_bsuid() -> None:
    assert is_bsuid(BSUID) and is_bsuid("US.ENT.11815799212886844830")
    assert not is_bsuid(PHONE)


def test_other_channels_are_refused() -> None:
    with pytest.raises(ValueError, match="messenger"):
        adapter.render(SendText(text="hi"), conversation(channel="messenger"))


# --- long texts ---------------------------------------------------------------------------------


def test_a_text_of_exactly_the_limit_is_one_message() -> None:
    text = ("abcd " * 1000)[: TEXT_LIMIT - 1] + "z"
    assert len(text) == TEXT_LIMIT
    assert len(adapter.render(SendText(text=text), conversation())) == 1


def test_a_long_text_is_split_at_whitespace_into_ordered_requests() -> None:
    words = [f"word{i}" for i in range(2000)]
    text = " ".join(words)
    assert len(text) == 16_889
    requests = adapter.render(SendText(text=text), conversation())
    assert len(requests) == 5
    bodies = [r.body["text"]["body"] for r in requests]
    assert all(len(b) <= TEXT_LIMIT for b in bodies)
    assert " ".join(bodies).split() == words, "no word is cut, none lost, order kept"
    assert all(r.path == f"{ACCOUNT}/messages" and r.body["to"] == "+15550002222" for r in requests)


def test_paragraph_breaks_are_preferred() -> None:
    first = "a" * 3000
    second = "b " * 1000
    parts = split_text(f"{first}\n\n{second}")
    assert parts[0] == first
    assert parts[1] == second.strip()


def test_a_word_longer_than_the_limit_is_cut() -> None:
    url = "https://example.com/" + "x" * 5000
    parts = split_text(f"See {url}")
    assert parts[0] == "See"
    assert "".join(parts[1:]) == url
    assert all(len(p) <= TEXT_LIMIT for p in parts)


def test_characters_outside_the_bmp_count_twice() -> None:
    text = "👍" * TEXT_LIMIT
    parts = split_text(text)
    assert [len(p) for p in parts] == [TEXT_LIMIT // 2] * 2
    assert all(text_length(p) <= TEXT_LIMIT for p in parts)


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_an_empty_text_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="empty"):
        adapter.render(SendText(text=text), conversation())


@given(
    text=st.text(alphabet=st.sampled_from("ab ñ👍\n\t"), min_size=1, max_size=300),
    limit=st.integers(min_value=2, max_value=40),
)
def test_split_text_keeps_every_non_space_character_within_the_limit(text: str, limit: int) -> None:
    if not text.strip():
        return
    parts = split_text(text, limit)
    assert all(part and part == part.strip() for part in parts)
    assert all(text_length(part) <= limit for part in parts)
    assert re.sub(r"\s", "", "".join(parts)) == re.sub(r"\s", "", text)


# --- the YES / NO choice ------------------------------------------------------------------------


def test_choice_is_two_reply_buttons_with_the_engine_payloads() -> None:
    choice = SendChoice(text="No hay agentes ahora. ¿Quieres esperar?", yes_title="Sí, espero", no_title="No")
    request = only(adapter.render(choice, conversation()))
    assert request.body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "+15550002222",
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": "No hay agentes ahora. ¿Quieres esperar?"},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": YES_PAYLOAD, "title": "Sí, espero"}},
                    {"type": "reply", "reply": {"id": NO_PAYLOAD, "title": "No"}},
                ]
            },
        },
    }


def test_a_title_of_20_characters_is_fine_and_21_is_refused() -> None:
    ok = SendChoice(text="Wait?", yes_title="y" * 20, no_title="No")
    assert only(adapter.render(ok, conversation())).body["interactive"]["action"]["buttons"][0]["reply"][
        "title"
    ]
    with pytest.raises(ValueError, match="20"):
        adapter.render(SendChoice(text="Wait?", yes_title="Yes", no_title="n" * 21), conversation())


@pytest.mark.parametrize(
    ("choice", "match"),
    [
        (SendChoice(text="Wait?", yes_title="Ok", no_title="Ok"), "same title"),
        (SendChoice(text="Wait?", yes_title=" ", no_title="No"), "empty"),
        (SendChoice(text=" ", yes_title="Yes", no_title="No"), "empty"),
        (SendChoice(text="x" * 1025, yes_title="Yes", no_title="No"), "1024"),
    ],
)
def test_choices_whatsapp_would_refuse_are_refused_here(choice: SendChoice, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        adapter.render(choice, conversation())


def test_a_choice_body_of_1024_characters_is_fine() -> None:
    assert adapter.render(SendChoice(text="x" * 1024, yes_title="Yes", no_title="No"), conversation())


# --- templates ----------------------------------------------------------------------------------


def test_template_with_body_parameters() -> None:
    template = SendTemplate(name="agent_available", language="es", parameters=("Ana", "3"))
    request = only(adapter.render(template, conversation(phone=None, bsuid=BSUID)))
    assert request.body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "recipient": BSUID,
        "type": "template",
        "template": {
            "name": "agent_available",
            "language": {"policy": "deterministic", "code": "es"},
            "components": [
                {
                    "type": "body",
                    "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "3"}],
                }
            ],
        },
    }


def test_template_without_parameters_has_no_components() -> None:
    request = only(adapter.render(SendTemplate(name="hello_world", language="en_US"), conversation()))
    assert "components" not in request.body["template"]


@pytest.mark.parametrize(
    "template",
    [
        SendTemplate(name="agent_available", language="es", parameters=("Ana", " ")),
        SendTemplate(name="", language="es"),
        SendTemplate(name="agent_available", language=""),
    ],
)
def test_templates_whatsapp_would_refuse_are_refused_here(template: SendTemplate) -> None:
    with pytest.raises(ValueError):
        adapter.render(template, conversation())


# --- a bot's own buttons ------------------------------------------------------------------------


def bot_options(text: str, *titles: str) -> SendOptions:
    return SendOptions(
        text=text, options=tuple(Option(title=t, payload=f"/{n}") for n, t in enumerate(titles))
    )


def test_a_bots_buttons_are_reply_buttons_whose_id_is_the_payload():
    body = only(adapter.render(bot_options("¿En qué te ayudo?", "Horarios", "Pedidos"), conversation())).body
    assert body["type"] == "interactive" and body["interactive"]["body"] == {"text": "¿En qué te ayudo?"}
    assert [b["reply"] for b in body["interactive"]["action"]["buttons"]] == [
        {"id": "/0", "title": "Horarios"},
        {"id": "/1", "title": "Pedidos"},
    ]


def test_a_bots_buttons_past_whatsapps_limits_are_fitted_never_refused():
    titles = ("Una opción demasiado larga", "B", "B", "C", "D")
    requests = adapter.render(bot_options("x " * 600, *titles), conversation())
    *before, last = [r.body for r in requests]
    assert before and all(b["type"] == "text" for b in before)  # the long text goes first, split
    buttons = [b["reply"] for b in last["interactive"]["action"]["buttons"]]
    assert [b["title"] for b in buttons] == ["Una opción demasiad…", "B", "C"]  # cut, once each, three
    assert len(buttons[0]["title"]) == 20
    assert last["interactive"]["body"]["text"].endswith("D")  # the fourth is listed to be typed
