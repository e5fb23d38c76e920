"""One invocation of the wake function (`services.wake.wake_and_sweep`): which tenants its pass covers,
when the pass must stop, and whether the outbox sweep follows it with the time left."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from handoff.services.pacing import SEND_MARGIN
from handoff.services.wake import SWEEP_SHARE, WakeSummary, wake_and_sweep

NOW = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


class RecordedPass:
    def __init__(self) -> None:
        self.calls: list[tuple[list[str] | None, datetime | None]] = []

    def run(self, tenant_ids: list[str] | None = None, *, until: datetime | None = None) -> WakeSummary:
        self.calls.append((tenant_ids, until))
        return WakeSummary(tenants=1 if tenant_ids else 3, to_wake=2)


def invoke(
    tenant_id: str | None, left: list[timedelta]
) -> tuple[RecordedPass, list[datetime], dict[str, Any]]:
    """`left`: the invocation's time left at each reading, in order."""
    wake, swept = RecordedPass(), []

    def sweep(until: datetime) -> int:
        swept.append(until)
        return 4

    readings = iter(left)
    answer = wake_and_sweep(wake, sweep, tenant_id, lambda: NOW, lambda: next(readings))  # type: ignore[arg-type]
    return wake, swept, answer


def test_an_event_naming_a_tenant_passes_over_it_alone_to_the_end_of_the_invocation() -> None:
    wake, swept, answer = invoke("acme", [timedelta(seconds=30)])

    assert wake.calls == [(["acme"], NOW + timedelta(seconds=30) - SEND_MARGIN)]
    assert swept == [] and answer["outbox_sent"] == 0 and answer["to_wake"] == 2


def test_the_schedule_passes_over_every_tenant_and_leaves_the_sweep_its_share_of_the_time() -> None:
    # 30 s left before the pass, 12 s after it
    wake, swept, answer = invoke(None, [timedelta(seconds=30), timedelta(seconds=12)])

    usable = timedelta(seconds=30) - SEND_MARGIN
    assert wake.calls == [(None, NOW + usable * (1 - SWEEP_SHARE))]
    # the sweep reads the time left after the pass, not the time there was before it
    assert swept == [NOW + timedelta(seconds=12) - SEND_MARGIN]
    assert answer["outbox_sent"] == 4 and answer["tenants"] == 3
