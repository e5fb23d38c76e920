"""The one reader of JSON request bodies, for Meta's webhook deliveries and the Live and admin APIs.

`json.loads` refuses malformed text with `JSONDecodeError`, but a body can be well-formed and still
break it or what comes after: nesting deep enough to exhaust the interpreter's stack raises
RecursionError, an integer of more than 4300 digits raises a plain ValueError (Python's limit on
converting long digit strings), and `NaN` / `Infinity` are accepted although JSON has no such
values. Anything the reader does not return is one `JSONDecodeError`, so every caller refuses it
the way it refuses malformed JSON: the webhooks answer 400, and Powertools' request validation
(given this reader as the resolver's `json_body_deserializer`) answers its 422 `json_invalid`.
Never a 500, which would fire the 5XX alarms and, on a webhook, make Meta retry it for days.

Nesting is also bounded, well below where `json.loads` gives up (about 10 000 levels) and the
interpreter's recursion limit (1000): Meta's deliveries and the APIs' bodies nest about ten
levels, and a body that parses but nests thousands deep is nothing they send, only a risk for
whatever recursive code reads it next (a serializer, a deep copy, a logger).
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 64
"""Arrays and objects nested deeper than this are refused (Meta's deepest payloads nest about 10)."""


def read_json(text: str | bytes) -> Any:
    """The JSON value of a body; raises `json.JSONDecodeError` for anything that is not plain JSON.

    Bytes are decoded as `json.loads` does (UTF-8, or UTF-16/32 by their byte order marks); text
    that is not in one of those encodings is refused too.
    """
    try:
        value = json.loads(text, parse_constant=_not_json)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise _unreadable("nested too deeply") from None
    except ValueError as exc:  # digits over the int limit, undecodable bytes, NaN and Infinity
        raise _unreadable(str(exc).split(":")[0]) from None
    if _depth_exceeds(value, MAX_DEPTH):
        raise _unreadable(f"nested deeper than {MAX_DEPTH} levels")
    return value


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON value")


def _unreadable(reason: str) -> json.JSONDecodeError:
    # no position: the reason is about the whole body, and the body is never echoed back
    return json.JSONDecodeError(reason, "", 0)


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether arrays and objects nest more than `limit` levels (iteratively: no recursion to exhaust)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False
