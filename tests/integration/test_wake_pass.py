"""The wake pass reads what it needs (issue 14): as many users to tell as there are free seats, from a
keys-only index; told all at once, a pass cut short by its time keeps its place and the next goes on
from there, so every user is told once however many wait."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from conftest import ACME_NUMBER, BOGOTA, CONFIG
from handoff_local.runtime import LocalRun


@pytest.fixture
def night_run() -> Iterator[LocalRun]:
    with LocalRun(CONFIG) as local:
        yield local


def users_waiting(run: LocalRun, count: int, *, wake_mode: str) -> list[str]:
    from handoff.runtime import wiring

    acme = wiring.directory().tenant("acme")
    assert acme is not None
    wiring.directory().save_tenant(acme.model_copy(update={"wake_mode": wake_mode}))
    wa_ids = [f"5733{n:08d}" for n in range(count)]
    run.users_wait_at_night(wa_ids, ACME_NUMBER, BOGOTA)
    return wa_ids


def morning_with_an_agent(run: LocalRun) -> None:
    """9:00 on a weekday, an agent online (recorded directly: no pass of its own is announced)."""
    from handoff import clock
    from handoff.runtime import wiring

    run.advance_to(9, BOGOTA, weekday=True)
    wiring.directory().set_presence("acme", "carla", online=True, at=clock.now())


def test_a_capacity_pass_reads_only_the_users_it_can_tell(night_run: LocalRun) -> None:
    from handoff.runtime import wiring

    run = night_run
    users_waiting(run, 30, wake_mode="capacity")
    morning_with_an_agent(run)  # acme's agent_seats: 3

    from handoff.adapters.clients import client

    with_reads: list[int] = []  # the items each DynamoDB Query answered with (Select COUNT: none)

    def count(parsed: dict[str, Any], **_: Any) -> None:
        with_reads.append(len(parsed.get("Items", [])))

    client("dynamodb").meta.events.register("after-call.dynamodb.Query", count)
    summary = wiring.wake_pass().run(["acme"])
    client("dynamodb").meta.events.unregister("after-call.dynamodb.Query", count)

    # three seats: three users told, three read of the thirty waiting, and no Query answered more;
    # beside them, only the agents' presence (one item, read twice) and no chat or told user yet
    assert summary.to_wake == 3 and summary.read == 3
    assert max(with_reads) == 3 and sum(with_reads) == 3 + 2
    run.drain()
    # told, they hold the seats: the next pass tells nobody and reads no user to tell
    again = wiring.wake_pass().run(["acme"])
    assert again.to_wake == 0 and again.read == 0


def test_a_pass_cut_short_keeps_its_place_and_the_next_goes_on(
    night_run: LocalRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    from handoff import clock
    from handoff.runtime import wiring
    from handoff.services import wake

    run = night_run
    wa_ids = users_waiting(run, 120, wake_mode="everyone")
    morning_with_an_agent(run)
    monkeypatch.setattr(wake, "PAGE", 50)
    sent: list[Any] = []
    monkeypatch.setattr(wake, "enqueue", lambda url, events: sent.extend(events) or 0)
    announced: list[str] = []  # each pass cut short announces that it goes on (kept here, not run)
    monkeypatch.setattr(wiring, "continue_wake_pass", announced.append)

    # each pass has no time left after its first page (its invocation's end is past)
    passes = [wiring.wake_pass().run(["acme"], until=clock.now() - timedelta(seconds=1)) for _ in range(3)]

    assert [(p.to_wake, p.cut_short) for p in passes] == [(50, 1), (50, 1), (20, 0)]
    assert announced == ["acme", "acme"]
    told = Counter(event.ref.user_id for event in sent)
    assert told == Counter(dict.fromkeys(wa_ids, 1))  # everyone once, in the order they began to wait
    assert [event.ref.user_id for event in sent] == wa_ids
    # gone to the end: the next pass starts from the first user still to tell
    assert wiring.conversation_store().wake_cursor("acme", clock.now()) is None


def test_a_pass_cut_short_goes_on_at_once_in_the_next_invocation(
    night_run: LocalRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    from handoff.services import wake

    run = night_run
    wa_ids = users_waiting(run, 120, wake_mode="everyone")
    monkeypatch.setattr(wake, "PAGE", 50)
    # each invocation's time is out after its first page: three invocations, one after the other
    invocations: list[Any] = []
    invoke = run.invoke

    def counted(function: str, event: Any) -> Any:
        if function == "WakeFunction":
            invocations.append(event["detail-type"])
        return invoke(function, event)

    monkeypatch.setattr(run, "invoke", counted)
    passes = []
    original_run = wake.WakePass.run

    def recorded(self: Any, tenant_ids: Any = None, *, until: Any = None) -> Any:
        summary = original_run(self, tenant_ids, until=self.now())  # no time left after a page
        passes.append(summary)
        return summary

    monkeypatch.setattr(wake.WakePass, "run", recorded)
    run.advance_to(9, BOGOTA, weekday=True)
    run.graph.clear()  # the night's answers: what follows is each user told an agent is available
    online = run.http("PUT", "/live/presence", headers=run.as_agent("acme", "carla"), body={"online": True})
    assert online.status == 200, online.body
    run.drain()

    assert invocations == ["AgentAvailable", "WakePassContinues", "WakePassContinues"]
    assert sorted(p.to_wake for p in passes) == [20, 50, 50]
    told = Counter(request.json["to"].lstrip("+") for request in run.graph.requests if request.json)
    assert {wa_id: told[wa_id] for wa_id in wa_ids} == dict.fromkeys(wa_ids, 1)


def test_a_place_left_long_ago_is_not_gone_on_from(night_run: LocalRun) -> None:
    from handoff import clock
    from handoff.runtime import wiring
    from handoff.store.conversation_store import WAKE_CURSOR_KEPT

    run = night_run
    users_waiting(run, 3, wake_mode="everyone")
    store = wiring.conversation_store()
    first = store.to_tell("acme", limit=1)[0][0]
    store.keep_wake_cursor("acme", first.place, clock.now())

    assert store.wake_cursor("acme", clock.now()) == first.place
    run.advance(WAKE_CURSOR_KEPT.total_seconds() + 1)
    assert store.wake_cursor("acme", clock.now()) is None
