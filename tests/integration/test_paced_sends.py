"""Waiting users told at the number's rate on the embedded run (issue 14): the real handlers, moto's SQS
and DynamoDB, and a fake Graph API that answers 130429 past its rate. Each user is told once, none is
dead-lettered, and what Meta throttles comes back later by its record's visibility."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from conftest import ACME_NUMBER, BOGOTA, CONFIG
from handoff.config.texts import texts_for
from handoff_local.fake_graph import shown_text
from handoff_local.runtime import LocalRun


def users_waiting(run: LocalRun, count: int) -> list[str]:
    """`count` users who asked for an agent at night and said yes, ten to a delivery."""
    from handoff.runtime import wiring

    acme = wiring.directory().tenant("acme")
    assert acme is not None
    wiring.directory().save_tenant(acme.model_copy(update={"wake_mode": "everyone"}))
    wa_ids = [f"5732{n:08d}" for n in range(count)]
    run.users_wait_at_night(wa_ids, ACME_NUMBER, BOGOTA)
    assert len(wiring.conversation_store().to_tell("acme", limit=None)[0]) == count
    return wa_ids


def told(run: LocalRun) -> Counter[str]:
    """How many times each user was sent "an agent is available" (accepted by the fake Graph API)."""
    from handoff.runtime import wiring

    acme = wiring.directory().tenant("acme")
    assert acme is not None
    available = texts_for(acme, acme.rule_for("whatsapp"), "es").agent_available
    return Counter(
        str(answer.request.json["to"]).lstrip("+")
        for answer in run.graph.answers
        if answer.accepted
        and isinstance(answer.request.json, dict)
        and shown_text(answer.request.json) == available
    )


def an_agent_comes_online(run: LocalRun) -> None:
    run.advance_to(9, BOGOTA, weekday=True)
    online = run.http("PUT", "/live/presence", headers=run.as_agent("acme", "carla"), body={"online": True})
    assert online.status == 200, online.body


@pytest.fixture
def paced_run() -> Iterator[LocalRun]:
    """The number's rate set to 20 messages a second (paced at 19)."""
    with LocalRun(CONFIG, parameters={"WhatsappSendsPerSecond": "20"}) as local:
        yield local


def test_many_waiting_users_are_told_once_each_at_the_numbers_rate(paced_run: LocalRun) -> None:
    import time

    run = paced_run
    wa_ids = users_waiting(run, 60)
    run.graph.clear()
    run.graph.limit_rate(20)  # Meta's: past 20 in any second, 130429

    started = time.perf_counter()
    an_agent_comes_online(run)
    run.drain(wait_for_returns=True)
    took = time.perf_counter() - started

    assert told(run) == Counter(dict.fromkeys(wa_ids, 1))  # everyone, once
    assert run.graph.rate_limited() == 0 and run.dead_letters() == 0 and run.pending_outbox() == 0
    assert took >= 59 / 19  # paced: 60 sends, 19 a second (the first at once)


def test_what_meta_throttles_comes_back_by_its_records_visibility_and_is_sent_once(
    paced_run: LocalRun,
) -> None:
    run = paced_run
    wa_ids = users_waiting(run, 40)
    run.graph.clear()
    run.graph.limit_rate(6)  # Meta lets through far less than the stack was told

    an_agent_comes_online(run)
    run.drain(wait_for_returns=True)
    for _ in range(6):  # records whose receives ran out leave the rest to the minute's sweep
        if run.pending_outbox() == 0:
            break
        run.advance(150)
        run.tick()

    assert run.graph.rate_limited() > 0 and run.records_put_back > 0  # throttled, and backed off
    assert told(run) == Counter(dict.fromkeys(wa_ids, 1))  # everyone, once
    assert run.dead_letters() == 0 and run.pending_outbox() == 0 and run.returned() == 0
