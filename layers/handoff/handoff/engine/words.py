"""The words of a text as the bot compares them: lower case, no accents, no punctuation."""

from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"[^\W_]+")


def plain(text: str) -> str:
    """`text` case-folded and without accents or other combining marks ("Não" -> "nao", "ñ" -> "n")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def words(text: str) -> tuple[str, ...]:
    """The letters-and-digits runs of `text`, plain: "¿Cuál es el HORARIO?" -> cual, es, el, horario."""
    return tuple(_WORD.findall(plain(text)))
