"""The one Logger and Metrics every function shares (Powertools; JSON logs, EMF metrics).

Tracing is Lambda's own (`Tracing: Active` in the template): each invocation's segment reaches
X-Ray without an SDK in the function. The X-Ray SDK is not used: it is in maintenance mode and
creating its recorder at import lengthens every cold start (docs/architecture.md).
"""

from __future__ import annotations

import hashlib
import hmac

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics()

_pseudonym_key: bytes | None = None


class NoPseudonymKey(RuntimeError):
    """A pseudonym was asked for before the stack's key was read: refusing beats an unkeyed hash."""


def use_pseudonym_key(key: str) -> None:
    """Key every pseudonym of this process (the stack's generated secret, read once at start)."""
    global _pseudonym_key
    if len(key) < 32:
        raise ValueError("the pseudonym key must have at least 32 characters")
    _pseudonym_key = key.encode()


def pseudonym(value: str) -> str:
    """A stable stand-in for a conversation key, phone number or user id: a keyed HMAC-SHA256, so
    that nobody without the stack's key can recompute it from a guessed phone number (an unkeyed
    hash of a phone number is reversed by trying them all). Logs and FIFO message groups use it."""
    if _pseudonym_key is None:
        raise NoPseudonymKey("use_pseudonym_key was not called")
    return hmac.new(_pseudonym_key, value.encode(), hashlib.sha256).hexdigest()[:24]
