"""Business hours: weekly local ranges in an IANA zone, overnight ranges, holidays, dated exceptions."""

from __future__ import annotations

from datetime import datetime

from handoff.config.models import BusinessHoursConfig


class BusinessHours:
    def __init__(self, config: BusinessHoursConfig) -> None:
        self.config = config

    def is_open(self, at: datetime) -> bool:
        """Whether `at` (timezone-aware) falls inside the hours."""
        raise NotImplementedError
