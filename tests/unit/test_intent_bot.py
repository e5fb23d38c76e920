"""The built-in intent bot: whole-word keyword matching, the best intent, handoff and fallback."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handoff.bots.intents import BUILTIN_HANDOFF, IntentBot
from handoff.config.models import LANGUAGES, BotConfig, Intent, Language
from handoff.config.texts import texts_for
from handoff.engine.bot import Bot, BotQuestion, BotTurn
from handoff.engine.words import plain, words
from handoff_tools.config_file import load_config

ROOT = Path(__file__).resolve().parents[2]
FALLBACK: dict[Language, str] = {"es": "¿Perdón?", "pt": "Como?", "en": "Sorry?"}


def intent(name: str, keywords: dict[str, list[str]], answer: str | None = None, **extra: object) -> Intent:
    answers = {language: answer for language in keywords} if answer else {}
    return Intent.model_validate({"name": name, "keywords": keywords, "answer": answers, **extra})


def bot(*intents: Intent) -> IntentBot:
    return IntentBot(BotConfig(intents=list(intents)), FALLBACK)


SHOP = bot(
    intent("order", {"es": ["pedido", "estado de mi pedido"], "en": ["order", "where is my order"]}, "order"),
    intent("hours", {"es": ["horario", "a qué hora abren"], "en": ["opening hours", "hours"]}, "hours"),
    intent("agent", {"es": ["hablar con un humano", "asesor"], "en": ["talk to a human"]}, handoff=True),
)


def test_it_is_a_bot_behind_the_engines_port() -> None:
    port: Bot = SHOP
    question = BotQuestion(
        text="quiero hablar con un humano", language="es", channel="whatsapp", event_id="wamid.1",
        kind="text", session=1, session_id="s1",
    )  # fmt: skip
    assert port.answer(question) == BotTurn(handoff=True, intent="agent")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("¿Cuál es el HORARIO?", ("cual", "es", "el", "horario")),
        ("Não, obrigado!!", ("nao", "obrigado")),
        ("  mañana...a las 9:30 ", ("manana", "a", "las", "9", "30")),
        ("ÀÉÎÕÜ çñ", ("aeiou", "cn")),
        ("I'll wait 👍", ("i", "ll", "wait")),
        ("", ()),
    ],
)
def test_words_ignore_case_accents_and_punctuation(text: str, expected: tuple[str, ...]) -> None:
    assert words(text) == expected


@pytest.mark.parametrize(
    ("text", "intent_name"),
    [
        ("horario", "hours"),
        ("HORARIO", "hours"),
        ("¿Horário?", "hours"),
        ("¿A QUE hora abren???", "hours"),
        ("hola, ¿a qué hora abren mañana?", "hours"),
        ("mi pedido", "order"),
        ("¿Dónde está mi PEDIDO?", "order"),
        ("Where is my order?", "order"),
        ("quiero hablar con un humano", "agent"),
        ("Asesor!", "agent"),
    ],
)
def test_keywords_match_whatever_the_case_accents_and_punctuation(text: str, intent_name: str) -> None:
    language: Language = "en" if text.startswith("Where") else "es"
    assert SHOP.respond(text, language).intent == intent_name


@pytest.mark.parametrize(
    "text",
    [
        "pedidos",  # another word that starts like the keyword
        "horarios",
        "asesoria",
        "hablar con humano",  # the phrase needs all its words, in order
        "humano con un hablar",
        "a que abren hora",
    ],
)
def test_keywords_match_whole_words_and_whole_phrases_only(text: str) -> None:
    turn = SHOP.respond(text, "es")
    assert turn == BotTurn.saying("¿Perdón?")


def test_the_intent_covering_more_words_wins() -> None:
    # "hablar con un humano" covers four words, "pedido" one
    turn = SHOP.respond("quiero hablar con un humano sobre mi pedido", "es")
    assert turn.intent == "agent"
    assert turn.handoff


def test_overlapping_keywords_cover_a_word_once() -> None:
    # order covers "estado de mi pedido" (4 words; "pedido" again adds nothing): ties with hours' 4
    # words, and order is listed first
    turn = SHOP.respond("estado de mi pedido a qué hora abren", "es")
    assert turn.intent == "order"


def test_on_equal_coverage_the_longer_keyword_wins() -> None:
    two = bot(
        intent("words", {"en": ["refund", "money"]}, "words"),
        intent("phrase", {"en": ["money back"]}, "phrase"),
    )
    # both cover two words; "money back" is one two-word keyword
    assert two.respond("refund money back", "en").intent == "phrase"


def test_ties_go_to_the_intent_listed_first() -> None:
    first = intent("first", {"en": ["price"]}, "first")
    second = intent("second", {"en": ["price"]}, "second")
    assert bot(first, second).respond("price", "en").intent == "first"
    assert bot(second, first).respond("price", "en").intent == "second"


def test_a_match_answers_in_the_conversation_language() -> None:
    greet = Intent(
        name="greet", keywords={"es": ["hola"], "en": ["hello"]}, answer={"es": "¡Hola!", "en": "Hi!"}
    )
    assert bot(greet).respond("hola", "es") == BotTurn.saying("¡Hola!", intent="greet")
    assert bot(greet).respond("hello", "en") == BotTurn.saying("Hi!", intent="greet")


def test_other_languages_are_tried_when_the_conversation_language_has_no_match() -> None:
    greet = Intent(
        name="greet", keywords={"es": ["hola"], "en": ["hello"]}, answer={"es": "¡Hola!", "en": "Hi!"}
    )
    # a Spanish conversation where the user writes English: answered in Spanish
    assert bot(greet).respond("hello", "es") == BotTurn.saying("¡Hola!", intent="greet")
    only_en = Intent(name="greet", keywords={"en": ["hello"]}, answer={"en": "Hi!"})
    assert bot(only_en).respond("hello", "pt") == BotTurn.saying("Hi!", intent="greet")


def test_the_conversation_language_comes_first() -> None:
    # "agente" is a Spanish keyword of one intent and a Portuguese keyword of another
    es = Intent(name="es", keywords={"es": ["agente"]}, answer={"es": "es"})
    pt = Intent(name="pt", keywords={"pt": ["agente"]}, answer={"pt": "pt"})
    assert bot(es, pt).respond("agente", "pt").intent == "pt"
    assert bot(pt, es).respond("agente", "es").intent == "es"


def test_a_handoff_intent_asks_for_a_handoff_with_its_answer_or_none() -> None:
    silent = intent("agent", {"es": ["asesor"]}, handoff=True)
    talking = intent("agent", {"es": ["asesor"]}, "Ya te comunico.", handoff=True)
    assert bot(silent).respond("asesor", "es") == BotTurn.saying(None, handoff=True, intent="agent")
    assert bot(talking).respond("asesor", "es") == BotTurn.saying(
        "Ya te comunico.", handoff=True, intent="agent"
    )


@pytest.mark.parametrize("text", ["", "   ", "?!", "qwerty", "😀"])
def test_no_match_gives_the_fallback_of_the_language(text: str) -> None:
    assert SHOP.respond(text, "es") == BotTurn.saying("¿Perdón?")
    assert SHOP.respond(text, "pt") == BotTurn.saying("Como?")


def test_a_fallback_missing_for_the_language_takes_another() -> None:
    only_es = IntentBot(BotConfig(), {"es": "¿Perdón?"})
    assert only_es.respond("qwerty", "en").text == "¿Perdón?"
    assert IntentBot(BotConfig(), {}).respond("qwerty", "en") == BotTurn()


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Quiero hablar con un agente", "es"),
        ("necesito un ASESOR", "es"),
        ("¿Hay algún humano?", "es"),
        ("Quero falar com um atendente", "pt"),
        ("tem alguma pessoa aí?", "pt"),
        ("I want to talk to a human", "en"),
        ("representative please", "en"),
        ("agent", "es"),  # another language's keyword
    ],
)
def test_a_tenant_without_a_handoff_intent_gets_the_builtin_one(text: str, language: Language) -> None:
    hours_only = bot(intent("hours", {"es": ["horario"]}, "hours"))
    assert hours_only.respond(text, language) == BotTurn.saying(
        None, handoff=True, intent=BUILTIN_HANDOFF.name
    )


def test_the_builtin_comes_after_the_tenants_intents() -> None:
    mine = intent("agents_club", {"es": ["agente"]}, "Club de agentes")
    assert bot(mine).respond("agente", "es").intent == "agents_club"
    assert bot(mine).respond("humano", "es").intent == BUILTIN_HANDOFF.name


def test_a_tenant_with_its_own_handoff_intent_uses_only_its_own_words() -> None:
    own = bot(intent("operator", {"es": ["operadora"]}, handoff=True))
    assert own.respond("operadora", "es").handoff
    assert own.respond("quiero un agente", "es") == BotTurn.saying("¿Perdón?")


def test_the_builtin_handoff_intent_has_keywords_in_every_language() -> None:
    assert BUILTIN_HANDOFF.handoff
    assert set(BUILTIN_HANDOFF.keywords) == {"es", "pt", "en"}
    for expected in ("agente", "asesor", "humano", "persona"):
        assert expected in BUILTIN_HANDOFF.keywords["es"]
    for expected in ("atendente", "humano", "pessoa"):
        assert expected in BUILTIN_HANDOFF.keywords["pt"]
    for expected in ("agent", "human", "person", "representative"):
        assert expected in BUILTIN_HANDOFF.keywords["en"]


def test_the_example_config_bot_answers() -> None:
    acme, globex = load_config(ROOT / "examples" / "config.yaml")
    fallback = {language: texts_for(acme, None, language).fallback for language in LANGUAGES}
    acme_bot = IntentBot(acme.bot, fallback)
    assert acme_bot.respond("¿Dónde está mi pedido?", "es").intent == "order_status"
    assert acme_bot.respond("¿a qué hora abren el sábado?", "es").intent == "opening_hours"
    assert acme_bot.respond("Quiero hablar con un asesor", "es").handoff
    assert acme_bot.respond("blabla", "es").text == fallback["es"]
    globex_bot = IntentBot(globex.bot, {"pt": "?"})
    assert globex_bot.respond("preciso da segunda via do boleto", "pt").intent == "invoice"
    assert globex_bot.respond("quero falar com um atendente", "pt").intent == BUILTIN_HANDOFF.name


_LATIN = st.text(alphabet="abcdefghijklmnopqrstuvwxyzáéíóúãõâêçñü ¿?¡!.,'-", max_size=40)


@given(_LATIN)
def test_case_and_accents_never_change_the_answer(text: str) -> None:
    assert SHOP.respond(text, "es") == SHOP.respond(text.upper(), "es")
    assert SHOP.respond(text, "es") == SHOP.respond(plain(text), "es")


@given(st.text(max_size=80), st.sampled_from(["es", "pt", "en"]))
def test_any_text_gets_an_answer_or_a_handoff(text: str, language: Language) -> None:
    turn = SHOP.respond(text, language)
    assert turn.handoff or turn.text is not None
    assert turn == SHOP.respond(text, language)
