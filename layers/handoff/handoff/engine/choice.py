"""YES or NO to the after-hours offer, from the tapped button or from typed words in es, pt and en.

A tapped button decides (its payload is YES_PAYLOAD or NO_PAYLOAD, whatever the text). Typed,
the whole message must be an answer: only yes-words or only no-words, give or take courtesy
("gracias", "obrigado", "thanks"), punctuation, emoji and repeated letters ("siii", "nooo").
"No sé cómo pagar" is not a NO and "sí, pero ¿cuánto tarda?" is not a YES: any other word makes
the message something to say to the bot (None). "Por favor" / "please" alone is a YES; "gracias"
alone is neither. 👍 👌 ✅ count as yes, 👎 ❌ as no. Yes-words and no-words together are neither.
"""

from __future__ import annotations

import re
from typing import Literal

from handoff.engine.model import NO_PAYLOAD, YES_PAYLOAD
from handoff.engine.words import words

Answer = Literal["yes", "no"]
_Role = Literal["yes", "no", "please", "courtesy"]

_YES = (
    # es
    "si", "claro", "dale", "ok", "okay", "okey", "oki", "vale", "va", "bueno", "bien", "esta bien",
    "de acuerdo", "perfecto", "listo", "por supuesto", "claro que si", "obvio", "seguro", "afirmativo",
    "quiero", "quiero esperar", "espero", "esperar", "esperare", "voy a esperar", "puedo esperar",
    # pt
    "sim", "pode", "pode ser", "quero", "quero esperar", "quero aguardar", "aguardar", "aguardo",
    "vou aguardar", "vou esperar", "posso esperar", "posso aguardar", "certo", "beleza", "blz",
    "ta bom", "ta", "tudo bem", "com certeza", "isso", "aham", "uhum", "fechado", "perfeito",
    # en
    "yes", "y", "yeah", "yep", "yup", "yea", "sure", "alright", "all right", "fine", "of course",
    "absolutely", "definitely", "sure thing", "go ahead", "sounds good", "wait", "i ll wait", "ill wait",
    "i will wait", "i can wait", "i do", "affirmative",
)  # fmt: skip
_NO = (
    # es
    "no", "nop", "nel", "negativo", "no quiero", "ahora no", "mejor no", "todavia no", "aun no",
    "no espero", "no voy a esperar", "no quiero esperar", "no puedo esperar", "no hace falta",
    "no es necesario", "no necesito", "no por ahora", "para nada", "nunca", "cancelar",
    # pt
    "nao", "nao quero", "agora nao", "melhor nao", "ainda nao", "nao vou esperar", "nao vou aguardar",
    "nao quero esperar", "nao quero aguardar", "nao posso esperar", "nao posso aguardar", "nao precisa",
    "de jeito nenhum", "nem",
    # en
    "n", "nope", "nah", "not now", "no way", "never mind", "nevermind", "cancel", "not really",
    "no need", "i won t wait", "i don t want to wait", "don t want to wait", "negative",
)  # fmt: skip
_PLEASE = ("por favor", "porfa", "porfavor", "please", "pls", "plz")
_COURTESY = (
    "gracias", "muchas gracias", "mil gracias", "obrigado", "obrigada", "muito obrigado",
    "muito obrigada", "valeu", "vlw", "thanks", "thank you", "thanks a lot", "thx",
)  # fmt: skip

_EMOJI: dict[str, str] = {
    "👍": "yes", "👌": "yes", "✅": "yes", "✔": "yes", "☑": "yes", "🆗": "yes",
    "👎": "no", "❌": "no", "✖": "no", "🚫": "no",
}  # fmt: skip
_EMOJI_PATTERN = re.compile("|".join(map(re.escape, _EMOJI)))
_REPEATS = re.compile(r"(.)\1+")


def answer_words(text: str) -> tuple[str, ...]:
    """The words of `text` as answers are read: emoji as words, then plain words with repeats squeezed."""
    spelled = _EMOJI_PATTERN.sub(lambda found: f" {_EMOJI[found.group()]} ", text)
    return tuple(_REPEATS.sub(r"\1", word) for word in words(spelled))


def _phrases() -> dict[tuple[str, ...], _Role]:
    table: dict[tuple[str, ...], _Role] = {}
    roles: tuple[tuple[_Role, tuple[str, ...]], ...] = (
        ("yes", _YES), ("no", _NO), ("please", _PLEASE), ("courtesy", _COURTESY),
    )  # fmt: skip
    for role, phrases in roles:
        for phrase in phrases:
            key = answer_words(phrase)
            if table.setdefault(key, role) != role:
                raise ValueError(f"answer phrase {phrase!r} is both {table[key]} and {role}")
    return table


_PHRASES = _phrases()
_LONGEST = max(len(phrase) for phrase in _PHRASES)
KNOWN_WORDS: frozenset[str] = frozenset(word for phrase in _PHRASES for word in phrase)
"""Every word some answer phrase is made of; a message with any other word is not an answer."""


def understand_choice(text: str | None, payload: str | None) -> Answer | None:
    """The answer to the offer: "yes", "no", or None when the message is something else (for the bot)."""
    if payload == YES_PAYLOAD:
        return "yes"
    if payload == NO_PAYLOAD:
        return "no"
    if not text:
        return None
    roles = _read(answer_words(text))
    if roles is None:
        return None
    if "yes" in roles and "no" in roles:
        return None
    if "yes" in roles:
        return "yes"
    if "no" in roles:
        return "no"
    return "yes" if "please" in roles else None


def _read(said: tuple[str, ...]) -> set[_Role] | None:
    """The roles of the phrases `said` is made of, longest phrase first; None if any word is left over."""
    roles: set[_Role] = set()
    start = 0
    while start < len(said):
        for size in range(min(_LONGEST, len(said) - start), 0, -1):
            role = _PHRASES.get(said[start : start + size])
            if role is not None:
                roles.add(role)
                start += size
                break
        else:
            return None
    return roles
