"""The wake function hears of an agent coming online, not of every heartbeat (issue 14): the
presence put hands back the record it replaced, and only offline or lapsed before is news."""

from __future__ import annotations

from datetime import timedelta

from handoff import clock
from handoff.runtime import wiring
from handoff.services.live import Live
from handoff.store.directory import PRESENCE_TIMEOUT
from handoff_local.runtime import LocalRun


def test_only_coming_online_is_announced_and_each_report_reads_nothing_more(run: LocalRun) -> None:
    announced: list[str] = []
    live = Live(
        wiring.conversations(),
        wiring.conversation_store(),
        wiring.directory(),
        announced.append,
        now=clock.now,
    )

    live.set_presence("acme", "carla", online=True)  # never seen before: news
    assert announced == ["acme"]
    for _ in range(3):  # the console's heartbeat, every 30 s
        run.advance(30)
        live.set_presence("acme", "carla", online=True)
    assert announced == ["acme"]

    live.set_presence("acme", "carla", online=False)
    live.set_presence("acme", "carla", online=True)  # back from offline: news again
    assert announced == ["acme", "acme"]

    # a console closed without going offline lapses; its next report brings the agent back
    run.advance((PRESENCE_TIMEOUT + timedelta(seconds=1)).total_seconds())
    live.set_presence("acme", "carla", online=True)
    assert announced == ["acme", "acme", "acme"]

    live.set_presence("globex", "carla", online=True)  # another tenant's agent of the same name
    live.set_presence("acme", "diego", online=True)  # another agent of the same tenant
    assert announced == ["acme", "acme", "acme", "globex", "acme"]
    live.set_presence("acme", "diego", online=False)  # going offline is never news
    assert announced == ["acme", "acme", "acme", "globex", "acme"]


def test_a_heartbeat_no_longer_wakes_the_wake_function(run: LocalRun) -> None:
    """Through the Live API as the console calls it: the wake function runs on the first report
    of an agent, not on the heartbeats after it."""
    wakes: list[str] = []
    wake = run.invoke

    def counting(function: str, event: dict[str, object]) -> object:
        if function == "WakeFunction" and event.get("detail-type") == "AgentAvailable":
            wakes.append(str(event.get("detail")))
        return wake(function, event)

    run.invoke = counting  # type: ignore[method-assign]
    try:
        headers = run.as_agent("acme", "carla")
        for _ in range(4):
            assert run.http("PUT", "/live/presence", body={"online": True}, headers=headers).status == 200
            run.advance(30)
    finally:
        run.invoke = wake  # type: ignore[method-assign]
    assert len(wakes) == 1, wakes
