"""What the application services refuse, in the domain's words; `api/refusals.py` maps them to HTTP.

The engine's own refusals (`engine.errors.FlowError`: taken by another agent, not yours, window
closed, at capacity) travel the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel

Location = tuple[str | int, ...]


class FieldProblem(BaseModel, defer_build=True):
    """One thing wrong with a request: where (`["body", "rule", "after_hours"]`), what kind, and why."""

    loc: list[str | int]
    type: str
    msg: str


class InvalidRequest(Exception):
    """The request is refused as a whole; nothing was written. `problems` says what and where."""

    def __init__(self, problems: Sequence[FieldProblem]) -> None:
        self.problems = list(problems)
        super().__init__(describe(self.problems))


class NotFound(Exception):
    """No such thing for this tenant (another tenant's is not found either)."""


class StaleVersion(Exception):
    """The config changed since the version the caller read."""


class UnknownTenant(Exception):
    """An event names a tenant with no configuration."""


class VerificationRefused(Exception):
    """Meta's subscription check named another verify token."""


class SignatureInvalid(Exception):
    """The delivery's X-Hub-Signature-256 is missing or is not the app secret's signature of the body."""


class UnreadableDelivery(Exception):
    """The delivery is signed but is not a JSON object."""


def describe(problems: Iterable[FieldProblem]) -> str:
    return "; ".join(f"{path(p.loc)}: {p.msg}" if p.loc else p.msg for p in problems)


def path(loc: Sequence[str | int]) -> str:
    """A location as people write it: `tenants[0].rules[1].after_hours`."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def error_message(error: Mapping[str, Any]) -> str:
    """pydantic's message for one error, or our own validator's reason without pydantic's prefix."""
    context = error.get("ctx") or {}
    if error.get("type", "value_error") in ("value_error", "assertion_error") and "error" in context:
        return str(context["error"])
    return str(error.get("msg", "invalid"))


def field_problems(
    errors: Iterable[Mapping[str, Any]], where: Callable[[Location], Location]
) -> list[FieldProblem]:
    """pydantic's errors as problems a person can act on: the field, and our own reason when we gave one."""
    return [
        FieldProblem(
            loc=list(where(tuple(error.get("loc", ())))),
            type=str(error.get("type", "value_error")),
            msg=error_message(error),
        )
        for error in errors
    ]
