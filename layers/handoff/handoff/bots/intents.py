"""The built-in bot: keyword intents configured per tenant, answering in the conversation's language.

How a text is matched:

- Text and keywords are compared as words (`handoff.engine.words`): case, accents and
  punctuation don't matter, and a keyword matches only whole words, in order: "humano" matches
  "¡Quiero un HUMANO!" but not "humanos"; "talk to a human" matches only those four words in a row.
- An intent's score is the number of the text's words its keywords cover (a word covered by two
  of its keywords counts once), then the length of its longest matching keyword. The highest score
  wins; a tie goes to the intent listed first. So "hablar con un humano sobre mi pedido" goes to
  the intent with the phrase "hablar con un humano" (4 words) rather than to one with "pedido".
- Keywords of the conversation's language are tried first. Only when none of them matches are
  the other languages' keywords tried (a Spanish conversation where the user writes "agent"),
  and the answer is still given in the conversation's language when the intent has one.
- The built-in handoff intent (`BUILTIN_HANDOFF`, keywords in es, pt, en) is added, after the
  tenant's intents, only when none of the tenant's intents has `handoff: true`: a tenant that
  writes its own handoff intent chooses its own words, and one that writes none still lets users
  reach an agent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from handoff.config.models import LANGUAGES, BotConfig, Intent, Language
from handoff.engine.bot import BotQuestion, BotTurn
from handoff.engine.words import words

BUILTIN_HANDOFF = Intent(
    name="handoff",
    handoff=True,
    keywords={
        "es": [
            "agente", "agentes", "asesor", "asesora", "asesores", "humano", "humanos", "persona",
            "operador", "operadora", "ejecutivo", "ejecutiva", "representante",
            "persona real", "hablar con alguien", "hablar con un humano", "hablar con una persona",
            "hablar con un agente", "hablar con un asesor", "atencion al cliente",
        ],
        "pt": [
            "atendente", "atendentes", "agente", "humano", "humanos", "pessoa", "operador", "operadora",
            "consultor", "consultora", "pessoa real", "falar com alguem", "falar com um humano",
            "falar com uma pessoa", "falar com um atendente", "falar com atendente",
        ],
        "en": [
            "agent", "agents", "human", "humans", "person", "representative", "operator",
            "real person", "live agent", "customer service", "talk to someone", "speak to someone",
            "talk to a human", "speak to a human", "talk to a person", "talk to an agent",
        ],
    },
)  # fmt: skip
"""The handoff intent a tenant gets when it configures none of its own."""

Phrase = tuple[str, ...]


@dataclass(frozen=True)
class _Candidate:
    intent: Intent
    keywords: Mapping[Language, tuple[Phrase, ...]]


@dataclass(frozen=True)
class _Match:
    covered: int
    longest: int
    order: int
    candidate: _Candidate
    language: Language

    @property
    def rank(self) -> tuple[int, int, int]:
        return (self.covered, self.longest, -self.order)


class IntentBot:
    """The tenant's intents as a `Bot`: the best-matching intent answers, else the fallback text."""

    def __init__(self, config: BotConfig, fallback: Mapping[Language, str]) -> None:
        intents = list(config.intents)
        if not any(intent.handoff for intent in intents):
            intents.append(BUILTIN_HANDOFF)
        self._candidates = tuple(_compile(intent) for intent in intents)
        self._fallback = dict(fallback)

    def answer(self, question: BotQuestion) -> BotTurn:
        return self.respond(question.text, question.language)

    def respond(self, text: str, language: Language) -> BotTurn:
        said = words(text)
        others = [other for other in LANGUAGES if other != language]
        match = self._best(said, [language]) or self._best(said, others)
        if match is None:
            return BotTurn.saying(self._fallback_text(language))
        intent = match.candidate.intent
        answer = intent.answer.get(language) or intent.answer.get(match.language)
        if answer is None and not intent.handoff:
            answer = next((intent.answer[lang] for lang in LANGUAGES if lang in intent.answer), None)
        return BotTurn.saying(answer, handoff=intent.handoff, intent=intent.name)

    def _best(self, said: Phrase, languages: Sequence[Language]) -> _Match | None:
        best: _Match | None = None
        for order, candidate in enumerate(self._candidates):
            for language in languages:
                match = _score(said, candidate, language, order)
                if match is not None and (best is None or match.rank > best.rank):
                    best = match
        return best

    def _fallback_text(self, language: Language) -> str | None:
        if language in self._fallback:
            return self._fallback[language]
        return next(iter(self._fallback.values()), None)


def _compile(intent: Intent) -> _Candidate:
    keywords: dict[Language, tuple[Phrase, ...]] = {}
    for language, phrases in intent.keywords.items():
        compiled = dict.fromkeys(words(phrase) for phrase in phrases)
        keywords[language] = tuple(phrase for phrase in compiled if phrase)
    return _Candidate(intent=intent, keywords=keywords)


def _score(said: Phrase, candidate: _Candidate, language: Language, order: int) -> _Match | None:
    covered: set[int] = set()
    longest = 0
    for phrase in candidate.keywords.get(language, ()):
        size = len(phrase)
        for start in range(len(said) - size + 1):
            if said[start : start + size] == phrase:
                covered.update(range(start, start + size))
                longest = max(longest, size)
    if not covered:
        return None
    return _Match(covered=len(covered), longest=longest, order=order, candidate=candidate, language=language)
