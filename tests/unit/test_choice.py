"""YES / NO to the after-hours offer: buttons first, then whole-message typed answers in es, pt, en."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from handoff.engine.choice import KNOWN_WORDS, answer_words, understand_choice
from handoff.engine.model import NO_PAYLOAD, YES_PAYLOAD

YES = [
    # es
    "sí", "Si", "SI!", "síííí", "sí, por favor", "Sí, esperar", "sí gracias", "claro", "¡Claro que sí!",
    "dale", "ok", "Okey", "vale", "bueno", "está bien", "de acuerdo", "por supuesto", "perfecto",
    "sí, quiero esperar", "espero", "por favor", "porfa 🙏", "ok gracias", "Sí, espero.",
    # pt
    "sim", "Sim!", "simmm", "sim, por favor", "Sim, aguardar", "claro", "pode ser", "quero", "quero aguardar",
    "vou aguardar", "tá bom", "beleza", "com certeza", "tudo bem, obrigado", "sim obrigada",
    # en
    "yes", "Yes!", "yesss", "y", "yeah", "yep", "sure", "okay", "of course", "Yes, I'll wait",
    "yes please", "please", "I will wait", "sounds good", "sure, thanks", "alright",
    # emoji
    "👍", "👍🏽", "ok 👍", "✅", "🆗",
]  # fmt: skip
NO = [
    # es
    "no", "No.", "NO!!!", "nooo", "no gracias", "No, gracias", "no, muchas gracias", "ahora no",
    "mejor no", "no quiero", "no quiero esperar", "no voy a esperar", "no, por favor", "nop",
    "no hace falta", "todavía no", "para nada",
    # pt
    "não", "Não!", "nao", "nãããão", "não, obrigado", "Não obrigada", "agora não", "melhor não",
    "não quero", "não quero aguardar", "não vou esperar", "ainda não", "não precisa",
    # en
    "nope", "nah", "no thanks", "No, thanks", "no thank you", "not now", "no way", "never mind",
    "cancel", "I don't want to wait", "no need",
    # emoji
    "👎", "❌", "no 👎",
]  # fmt: skip
NEITHER = [
    # a message that merely contains a yes or no word goes to the bot
    "no sé cómo pagar", "no entiendo", "si no pago, ¿qué pasa?", "sí, pero ¿cuánto tarda?",
    "no recibí mi pedido", "sim, mas quanto tempo?", "não sei", "não recebi meu pedido",
    "yes, but how long?", "no idea", "I have no order number", "ok so where is my order",
    # yes and no together
    "sí no", "no, sí", "yes no", "sim não", "👍 👎",
    # courtesy alone, greetings, nothing at all
    "gracias", "muchas gracias", "obrigado", "thanks", "thank you", "hola", "oi", "hello",
    "", "   ", "?!", "...", "😀", "🙏",
]  # fmt: skip


@pytest.mark.parametrize("text", YES)
def test_typed_yes(text: str) -> None:
    assert understand_choice(text, None) == "yes"


@pytest.mark.parametrize("text", NO)
def test_typed_no(text: str) -> None:
    assert understand_choice(text, None) == "no"


@pytest.mark.parametrize("text", NEITHER)
def test_anything_else_is_not_an_answer(text: str) -> None:
    assert understand_choice(text, None) is None


def test_no_text_and_no_payload_is_not_an_answer() -> None:
    assert understand_choice(None, None) is None


@pytest.mark.parametrize(
    ("text", "payload", "expected"),
    [
        ("Sí, esperar", YES_PAYLOAD, "yes"),
        ("No, gracias", NO_PAYLOAD, "no"),
        ("no", YES_PAYLOAD, "yes"),  # the tapped button decides, whatever its title
        ("sí", NO_PAYLOAD, "no"),
        (None, YES_PAYLOAD, "yes"),
        (None, NO_PAYLOAD, "no"),
        ("Esperar agente", YES_PAYLOAD, "yes"),  # a tenant's own title
        ("sí", "SOME_OTHER_BUTTON", "yes"),  # another button: its text is read
        ("Ver catálogo", "SOME_OTHER_BUTTON", None),
        (None, "SOME_OTHER_BUTTON", None),
    ],
)
def test_the_button_payload_decides_first(text: str | None, payload: str, expected: str | None) -> None:
    assert understand_choice(text, payload) == expected


@given(st.one_of(st.none(), st.text()), st.sampled_from([YES_PAYLOAD, NO_PAYLOAD]))
def test_the_payload_always_wins(text: str | None, payload: str) -> None:
    assert understand_choice(text, payload) == ("yes" if payload == YES_PAYLOAD else "no")


@given(st.text())
def test_text_with_any_unknown_word_is_not_an_answer(text: str) -> None:
    assume(any(word not in KNOWN_WORDS for word in answer_words(text)))
    assert understand_choice(text, None) is None


_KNOWN = [*YES, *NO]


@given(st.sampled_from(_KNOWN), st.text(alphabet=st.characters(categories=["L"]), min_size=1, max_size=12))
def test_an_answer_with_one_more_unknown_word_is_not_an_answer(answer: str, extra: str) -> None:
    assume(any(word not in KNOWN_WORDS for word in answer_words(extra)))
    assert understand_choice(f"{answer} {extra}", None) is None
    assert understand_choice(f"{extra} {answer}", None) is None


@given(
    st.lists(st.sampled_from(["sí", "sim", "yes", "claro", "ok", "dale", "quero"]), min_size=1, max_size=4),
    st.lists(
        st.sampled_from(["gracias", "obrigado", "thanks", "please", "por favor", "!", "👍"]), max_size=3
    ),
)
def test_yes_words_with_courtesy_are_yes(yes_words: list[str], courtesy: list[str]) -> None:
    assert understand_choice(", ".join(yes_words + courtesy), None) == "yes"


@given(
    st.lists(st.sampled_from(["no", "não", "nope", "nah", "ahora no", "not now"]), min_size=1, max_size=4),
    st.lists(st.sampled_from(["gracias", "obrigada", "thanks", "please", "por favor", "."]), max_size=3),
)
def test_no_words_with_courtesy_are_no(no_words: list[str], courtesy: list[str]) -> None:
    assert understand_choice(" ".join(no_words + courtesy), None) == "no"
