"""Business hours: weekly local ranges in an IANA zone, overnight ranges, holidays, dated exceptions."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TimeRange(_Strict):
    """A local-time range; `end` <= `start` means the range crosses midnight into the next day."""

    start: time
    end: time

    @model_validator(mode="after")
    def _not_empty(self) -> TimeRange:
        if self.start == self.end:
            raise ValueError(f"time range {self.start:%H:%M}-{self.end:%H:%M} is empty")
        return self


class DatedException(_Strict):
    """A date with its own ranges instead of the weekly ones (an empty list closes the day)."""

    date: date
    ranges: list[TimeRange] = Field(default_factory=list)


class BusinessHoursConfig(_Strict):
    timezone: str
    weekly: dict[Weekday, list[TimeRange]] = Field(default_factory=dict)
    closed_dates: list[date] = Field(default_factory=list)
    exceptions: list[DatedException] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value



class BusinessHours:
    def __init__(self, config: BusinessHoursConfig) -> None:
        self.config = config

    def is_open(self, at: datetime) -> bool:
        """Whether `at` (timezone-aware) falls inside the hours."""
        raise NotImplementedError
