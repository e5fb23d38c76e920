"""The one Logger, Tracer and Metrics every function shares (Powertools; JSON logs, X-Ray, EMF)."""

from __future__ import annotations

import hashlib

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()


def pseudonym(value: str) -> str:
    """A stable short stand-in for a phone number or user id: personal data never reaches the logs."""
    return hashlib.sha256(value.encode()).hexdigest()[:12]
