"""Texts measured as each channel counts them, and long texts split into parts the channel accepts.

WhatsApp and Messenger count characters (counted here in UTF-16 code units, never fewer than the
characters, so a limit kept here holds however Meta counts); Instagram counts UTF-8 bytes. A
text over the limit is split at a paragraph, line or word break, never cut silently.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from handoff.engine.model import Option

Measure = Callable[[str], int]


def utf16_length(text: str) -> int:
    """Length in UTF-16 code units (an emoji outside the BMP counts 2)."""
    return len(text.encode("utf-16-le")) // 2


def utf8_length(text: str) -> int:
    """Length in UTF-8 bytes (Instagram's measure: an accented letter counts 2, an emoji 4)."""
    return len(text.encode("utf-8"))


def split_text(text: str, limit: int, measure: Measure = utf16_length) -> list[str]:
    """`text` in parts of at most `limit` (by `measure`), cut at a paragraph, line or word break.

    A break in the second half of the part is preferred to one in the first; a single word
    longer than the limit (a URL) is cut where the limit falls. Raises ValueError on empty text.
    """
    rest = text.strip()
    if not rest:
        raise ValueError("cannot send an empty text")
    parts: list[str] = []
    while measure(rest) > limit:
        cut = _longest_prefix(rest, limit, measure)
        if cut == 0:
            raise ValueError(f"a single character of the text is over the limit of {limit}")
        at = _break_at(rest[:cut]) if not rest[cut].isspace() else cut
        if at <= 0:
            at = cut
        parts.append(rest[:at].rstrip())
        rest = rest[at:].lstrip()
    if rest:
        parts.append(rest)
    return parts


def _longest_prefix(text: str, limit: int, measure: Measure) -> int:
    """The largest n with measure(text[:n]) <= limit (a prefix never measures more than the text)."""
    low, high = 0, min(len(text), limit)
    while low < high:
        middle = (low + high + 1) // 2
        if measure(text[:middle]) <= limit:
            low = middle
        else:
            high = middle - 1
    return low


def _break_at(head: str) -> int:
    """Where to cut `head`: the last paragraph break, else line break, in its second half; else the
    last whitespace; 0 when there is none."""
    half = len(head) // 2
    for separator in ("\n\n", "\n"):
        at = head.rfind(separator)
        if at >= half:
            return at
    for at in range(len(head) - 1, 0, -1):
        if head[at].isspace():
            return at
    return 0


def choice_titles(yes: str, no: str, *, name: str, limit: int, channel: str) -> tuple[str, str]:
    """The YES and NO answers' titles, stripped: each present and at most `limit` UTF-16 units, and
    different (the channel tells them apart by title too). `name` is what the channel calls them
    ("button", "quick reply"); ValueError says which one the channel would refuse, and why.
    """
    titles = (yes.strip(), no.strip())
    for which, title in zip(("yes", "no"), titles, strict=True):
        if not title:
            raise ValueError(f"the {which} {name}'s title is empty")
        if utf16_length(title) > limit:
            raise ValueError(
                f"the {which} {name}'s title {title!r} is {utf16_length(title)} characters; "
                f"{channel} allows {limit}"
            )
    if titles[0] == titles[1]:
        raise ValueError(
            f"the yes {name} and the no {name} have the same title {titles[0]!r}; {channel} needs them unique"
        )
    return titles


def fit_options(
    text: str,
    options: Sequence[Option],
    *,
    text_limit: int,
    most: int,
    title_limit: int,
    measure: Measure = utf16_length,
) -> tuple[list[str], str, list[Option]]:
    """A bot's message with buttons, fitted to what the channel takes, never refused: a bot's answer
    is not ours to fix, and refusing it would lose the user's reply.

    Returns the texts to send before it, the text that carries the buttons, and the buttons. Titles
    over `title_limit` are shortened with an ellipsis; a title met twice is kept once; buttons
    past `most` are not offered as buttons, their titles are listed at the end of the text
    instead, so the user can still type one; a text over `text_limit` is split and the buttons go
    with its last part.
    """
    kept: list[Option] = []
    seen: set[str] = set()
    extra: list[str] = []
    for option in options:
        title = shorten(option.title.strip() or option.payload, title_limit)
        if title in seen:
            continue
        seen.add(title)
        if len(kept) < most:
            kept.append(option.model_copy(update={"title": title}))
        else:
            extra.append(option.title.strip())
    body = text.strip() or "…"
    if extra:
        body += "\n\n" + " · ".join(extra)
    parts = split_text(body, text_limit, measure)
    return parts[:-1], parts[-1], kept


def shorten(text: str, limit: int) -> str:
    """`text` cut to at most `limit` UTF-16 units, with an ellipsis when cut."""
    if utf16_length(text) <= limit:
        return text
    return text[: _longest_prefix(text, limit - 1, utf16_length)].rstrip() + "…"
