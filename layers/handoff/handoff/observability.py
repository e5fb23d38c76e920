"""The one Logger and Metrics every function shares (Powertools; JSON logs, EMF metrics).

Tracing is Lambda's own (`Tracing: Active` in the template): each invocation's segment reaches
X-Ray without an SDK in the function. The X-Ray SDK is not used: it is in maintenance mode and
creating its recorder at import lengthens every cold start (docs/architecture.md).
"""

from __future__ import annotations

import hashlib

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics()


def pseudonym(value: str) -> str:
    """A stable short stand-in for a phone number or user id: personal data never reaches the logs."""
    return hashlib.sha256(value.encode()).hexdigest()[:12]
