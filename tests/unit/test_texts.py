"""The texts the flow sends: complete defaults, rule over tenant over default, button-title limits."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from handoff.config.models import (
    LANGUAGES,
    MAX_BUTTON_TITLE,
    MAX_TEXT_BYTES,
    HandoffRule,
    Language,
    Messages,
    RuleMessages,
    TenantConfig,
)
from handoff.config.texts import DEFAULT_MESSAGES, ResolvedTexts, texts_for
from handoff.engine.choice import understand_choice

FIELDS = list(Messages.model_fields)


def tenant(**config: Any) -> TenantConfig:
    return TenantConfig.model_validate({"tenant_id": "acme", **config})


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_default_text_passes_the_checks_a_tenants_text_passes(language: str) -> None:
    # the defaults are constructed without validation as config.models loads
    defaults = DEFAULT_MESSAGES[language]  # type: ignore[index]
    assert Messages.model_validate(defaults.model_dump()) == defaults


def test_every_default_text_is_filled_in_every_language() -> None:
    assert set(DEFAULT_MESSAGES) == set(LANGUAGES)
    assert set(FIELDS) == set(ResolvedTexts.model_fields)
    for language, messages in DEFAULT_MESSAGES.items():
        for name in FIELDS:
            text = getattr(messages, name)
            assert isinstance(text, str) and text.strip(), f"{language}.{name}"
            assert len(text.encode()) <= MAX_TEXT_BYTES


@pytest.mark.parametrize("language", LANGUAGES)
def test_default_button_titles_fit_and_are_understood_when_typed(language: Language) -> None:
    texts = texts_for(tenant(), None, language)
    assert len(texts.offer_yes) <= MAX_BUTTON_TITLE
    assert len(texts.offer_no) <= MAX_BUTTON_TITLE
    assert texts.offer_yes != texts.offer_no
    # a user may type the title instead of tapping it
    assert understand_choice(texts.offer_yes, None) == "yes"
    assert understand_choice(texts.offer_no, None) == "no"


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_offer_asks_a_question(language: Language) -> None:
    assert "?" in texts_for(tenant(), None, language).offer


def test_the_defaults_differ_by_language() -> None:
    assert len({DEFAULT_MESSAGES[language].offer for language in LANGUAGES}) == 3


def test_without_overrides_the_texts_are_the_defaults() -> None:
    for language in LANGUAGES:
        resolved = texts_for(tenant(), None, language)
        assert resolved.model_dump() == DEFAULT_MESSAGES[language].model_dump()


def test_rule_over_tenant_over_default() -> None:
    acme = tenant(
        language="es",
        messages={"es": {"attention": "tenant attention", "declined": "tenant declined"}},
    )
    rule = HandoffRule(channel="whatsapp", messages=RuleMessages(attention="rule attention"))
    texts = texts_for(acme, rule, "es")
    assert texts.attention == "rule attention"
    assert texts.declined == "tenant declined"
    assert texts.offer == DEFAULT_MESSAGES["es"].offer
    assert texts_for(acme, None, "es").attention == "tenant attention"


def test_tenant_messages_apply_to_their_own_language_only() -> None:
    acme = tenant(language="es", messages={"pt": {"fallback": "pt fallback"}})
    assert texts_for(acme, None, "pt").fallback == "pt fallback"
    assert texts_for(acme, None, "es").fallback == DEFAULT_MESSAGES["es"].fallback
    assert texts_for(acme, None, "en").fallback == DEFAULT_MESSAGES["en"].fallback


def test_rule_messages_are_in_the_tenants_language() -> None:
    acme = tenant(language="es", messages={"en": {"attention": "tenant attention in English"}})
    rule = HandoffRule(channel="whatsapp", messages=RuleMessages(attention="Te atenderemos pronto."))
    assert texts_for(acme, rule, "es").attention == "Te atenderemos pronto."
    # a conversation in another language gets its own language's text, not the Spanish rule text
    assert texts_for(acme, rule, "en").attention == "tenant attention in English"
    assert texts_for(acme, rule, "pt").attention == DEFAULT_MESSAGES["pt"].attention


def test_resolved_texts_are_frozen() -> None:
    texts = texts_for(tenant(), None, "es")
    with pytest.raises(ValidationError):
        texts.offer = "changed"  # type: ignore[misc]


@pytest.mark.parametrize("field", ["offer_yes", "offer_no"])
def test_button_titles_longer_than_20_characters_are_refused(field: str) -> None:
    title = "x" * (MAX_BUTTON_TITLE + 1)
    with pytest.raises(ValidationError) as refused:
        Messages.model_validate({field: title})
    message = str(refused.value)
    assert f"{field}: the button title {title!r} is 21 characters long" in message
    assert "at most 20" in message


@pytest.mark.parametrize("field", ["offer_yes", "offer_no"])
def test_a_button_title_of_20_characters_is_accepted(field: str) -> None:
    title = "ñ" * MAX_BUTTON_TITLE  # characters, not bytes
    assert getattr(Messages.model_validate({field: title}), field) == title


def test_a_tenant_with_a_too_long_title_is_refused() -> None:
    with pytest.raises(ValidationError, match="offer_yes: the button title"):
        tenant(messages={"es": {"offer_yes": "Sí, quiero esperar a un agente"}})


def test_the_two_button_titles_must_differ() -> None:
    with pytest.raises(ValidationError, match=r"offer_yes and offer_no are both 'OK'"):
        tenant(messages={"en": {"offer_yes": "OK", "offer_no": "ok"}})
    # also against the default title the tenant keeps
    with pytest.raises(ValidationError, match="need different titles"):
        tenant(messages={"es": {"offer_yes": "No, gracias"}})


@pytest.mark.parametrize("model", [Messages, RuleMessages])
def test_empty_texts_are_refused(model: type[Messages] | type[RuleMessages]) -> None:
    with pytest.raises(ValidationError, match="attention: the text is empty"):
        model.model_validate({"attention": "  "})


@pytest.mark.parametrize("model", [Messages, RuleMessages])
def test_texts_too_long_for_instagram_are_refused(model: type[Messages] | type[RuleMessages]) -> None:
    assert model.model_validate({"offer": "a" * MAX_TEXT_BYTES}).offer
    with pytest.raises(
        ValidationError, match=r"offer: the text is 1002 bytes long; Instagram accepts at most 1000"
    ):
        model.model_validate({"offer": "á" * 501})
