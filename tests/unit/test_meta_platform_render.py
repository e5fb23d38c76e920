"""Outbound effects rendered as Messenger / Instagram Send API requests: text, quick replies, tags, limits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handoff.channels.base import GraphRequest
from handoff.channels.meta_platform import (
    INSTAGRAM_TEXT_LIMIT,
    MESSENGER_TEXT_LIMIT,
    InstagramAdapter,
    MessengerAdapter,
)
from handoff.channels.text import split_text, utf8_length, utf16_length
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

PAGE_ID, PSID = "300000000000001", "4000000000000001"
IG_ACCOUNT_ID, IGSID = "17841400000000001", "6000000000000001"

messenger = MessengerAdapter()
instagram = InstagramAdapter()


def conversation(channel: str = "messenger", *, scoped_id: str | None = None) -> Conversation:
    account, user = (PAGE_ID, PSID) if channel == "messenger" else (IG_ACCOUNT_ID, IGSID)
    ref = ConversationRef(tenant_id="acme", channel=channel, account_id=account, user_id=user)
    return Conversation(ref=ref, address=UserAddress(scoped_id=scoped_id or user))


def only(requests: list[GraphRequest]) -> GraphRequest:
    assert len(requests) == 1
    return requests[0]


CHOICE = SendChoice(text="¿Quieres esperar a un agente?", yes_title="Sí, esperar", no_title="No, gracias")


def test_a_reply_inside_the_window_is_a_response() -> None:
    request = only(messenger.render(SendText(text="Hola, ¿en qué te ayudo?"), conversation()))
    assert request.path == "me/messages"
    assert request.body == {
        "recipient": {"id": PSID},
        "messaging_type": "RESPONSE",
        "message": {"text": "Hola, ¿en qué te ayudo?"},
    }


def test_instagram_uses_the_same_send_api_with_the_igsid() -> None:
    request = only(instagram.render(SendText(text="Hola"), conversation("instagram")))
    assert request.path == "me/messages"
    assert request.body == {
        "recipient": {"id": IGSID},
        "messaging_type": "RESPONSE",
        "message": {"text": "Hola"},
    }


@pytest.mark.parametrize("adapter", [messenger, instagram], ids=lambda a: a.channel)
def test_an_agents_late_reply_carries_the_human_agent_tag(adapter: MessengerAdapter) -> None:
    late = SendText(text="Hola, soy Carla", author="agent", human_agent_tag=True)
    request = only(adapter.render(late, conversation(adapter.channel)))
    assert request.body["messaging_type"] == "MESSAGE_TAG"
    assert request.body["tag"] == "HUMAN_AGENT"
    assert request.body["message"] == {"text": "Hola, soy Carla"}


@pytest.mark.parametrize("author", ["bot", "system"])
def test_only_a_person_may_use_the_human_agent_tag(author: str) -> None:
    automatic = SendText(text="Ya hay un agente disponible", author=author, human_agent_tag=True)
    with pytest.raises(ValueError, match="HUMAN_AGENT tag is for a person's reply only"):
        messenger.render(automatic, conversation())


@pytest.mark.parametrize("author", ["bot", "system", "agent"])
def test_untagged_messages_are_responses_whoever_wrote_them(author: str) -> None:
    request = only(instagram.render(SendText(text="hola", author=author), conversation("instagram")))
    assert request.body["messaging_type"] == "RESPONSE" and "tag" not in request.body


@pytest.mark.parametrize("adapter", [messenger, instagram], ids=lambda a: a.channel)
def test_the_wait_question_is_two_quick_replies(adapter: MessengerAdapter) -> None:
    request = only(adapter.render(CHOICE, conversation(adapter.channel)))
    assert request.body["messaging_type"] == "RESPONSE"
    assert request.body["message"] == {
        "text": "¿Quieres esperar a un agente?",
        "quick_replies": [
            {"content_type": "text", "title": "Sí, esperar", "payload": YES_PAYLOAD},
            {"content_type": "text", "title": "No, gracias", "payload": NO_PAYLOAD},
        ],
    }


def test_a_quick_reply_title_over_20_characters_is_refused_not_cut() -> None:
    long_title = CHOICE.model_copy(update={"yes_title": "Sí, quiero esperar ya"})
    assert len(long_title.yes_title) == 21
    with pytest.raises(ValueError, match="21 characters; Messenger allows 20"):
        messenger.render(long_title, conversation())
    exact = CHOICE.model_copy(update={"yes_title": "Sí, quiero esperar!!"})
    assert len(exact.yes_title) == 20
    assert only(messenger.render(exact, conversation())).body["message"]["quick_replies"][0]["title"] == (
        exact.yes_title
    )


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"text": "  "}, "the text is empty"),
        ({"no_title": ""}, "no quick reply's title is empty"),
        ({"no_title": "Sí, esperar"}, "same title"),
    ],
)
def test_a_question_the_channel_would_refuse_is_refused(change: dict[str, str], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        instagram.render(CHOICE.model_copy(update=change), conversation("instagram"))


def test_instagram_counts_bytes_messenger_characters() -> None:
    question = "ñ" * 600  # 600 characters, 1200 bytes
    choice = CHOICE.model_copy(update={"text": question})
    assert only(messenger.render(choice, conversation())).body["message"]["text"] == question
    with pytest.raises(ValueError, match=r"1200 bytes \(UTF-8\); Instagram allows 1000"):
        instagram.render(choice, conversation("instagram"))


def test_a_text_of_exactly_1000_bytes_is_one_instagram_message() -> None:
    text = "é" * 499 + "ab"
    assert utf8_length(text) == INSTAGRAM_TEXT_LIMIT
    assert len(instagram.render(SendText(text=text), conversation("instagram"))) == 1
    assert len(instagram.render(SendText(text=text + "c"), conversation("instagram"))) == 2


def test_a_long_instagram_text_is_split_by_bytes_at_word_breaks() -> None:
    words = [f"palabra{i}ñ" for i in range(400)]
    requests = instagram.render(SendText(text=" ".join(words), author="agent"), conversation("instagram"))
    bodies = [r.body["message"]["text"] for r in requests]
    assert utf8_length(" ".join(words)) == 5089
    assert len(bodies) == 6
    assert all(utf8_length(b) <= INSTAGRAM_TEXT_LIMIT for b in bodies)
    assert " ".join(bodies).split() == words, "no word cut, none lost, order kept"
    assert all(r.body["recipient"] == {"id": IGSID} for r in requests)


def test_a_long_messenger_text_is_split_under_2000_characters() -> None:
    text = ("Paragraph. " * 150).strip() + "\n\n" + ("Second part. " * 100).strip()
    requests = messenger.render(SendText(text=text), conversation())
    bodies = [r.body["message"]["text"] for r in requests]
    assert len(bodies) == 2 and bodies[1].startswith("Second part.")
    assert all(utf16_length(b) <= MESSENGER_TEXT_LIMIT < 2000 for b in bodies)


def test_every_part_of_a_tagged_reply_is_tagged() -> None:
    late = SendText(text="palabra " * 300, author="agent", human_agent_tag=True)
    requests = instagram.render(late, conversation("instagram"))
    assert len(requests) > 1
    assert all(r.body["tag"] == "HUMAN_AGENT" for r in requests)


def test_templates_are_a_whatsapp_feature() -> None:
    with pytest.raises(ValueError, match="WhatsApp feature"):
        messenger.render(SendTemplate(name="agent_available", language="es"), conversation())


def test_an_empty_text_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        messenger.render(SendText(text=" \n "), conversation())


def test_other_channels_are_refused() -> None:
    with pytest.raises(ValueError, match="instagram channel with the Messenger adapter"):
        messenger.render(SendText(text="hi"), conversation("instagram"))


def test_without_an_address_the_user_id_is_the_recipient() -> None:
    bare = Conversation(
        ref=ConversationRef(tenant_id="acme", channel="messenger", account_id=PAGE_ID, user_id=PSID)
    )
    assert only(messenger.render(SendText(text="hi"), bare)).body["recipient"] == {"id": PSID}


@given(
    text=st.text(alphabet=st.sampled_from(["a", "ñ", "€", "😀", " ", "\n"]), min_size=1, max_size=3000),
    limit=st.integers(min_value=4, max_value=1200),
)
def test_split_by_bytes_keeps_every_non_space_character_within_the_limit(text: str, limit: int) -> None:
    if not text.strip():
        return
    parts = split_text(text, limit, utf8_length)
    assert all(0 < utf8_length(part) <= limit for part in parts)
    assert "".join(parts).replace(" ", "").replace("\n", "") == text.replace(" ", "").replace("\n", "")


@pytest.mark.parametrize("adapter", [messenger, instagram], ids=["messenger", "instagram"])
def test_a_bots_buttons_are_quick_replies_up_to_thirteen(adapter):
    channel = "messenger" if adapter is messenger else "instagram"
    options = tuple(Option(title=f"Opción {n}", payload=f"/o{n}") for n in range(15))
    message = only(adapter.render(SendOptions(text="Elige", options=options), conversation(channel))).body
    replies = message["message"]["quick_replies"]
    assert [r["payload"] for r in replies] == [f"/o{n}" for n in range(13)]
    assert all(r["content_type"] == "text" for r in replies)
    assert message["message"]["text"] == "Elige\n\nOpción 13 · Opción 14"
    assert message["messaging_type"] == "RESPONSE"
