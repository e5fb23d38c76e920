"""After an upgrade, the users already waiting join the wake pass's indexes (`handoff_tools.index_waits`):
a conversation written before `wake` and `wait_expiry` existed lacks their attributes, so the pass
neither tells its user nor ends its wait until the tool has put them in."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from test_wake_pass import morning_with_an_agent, users_waiting

from conftest import ACME_NUMBER, CONFIG
from handoff_local import payloads
from handoff_local.runtime import LocalRun
from handoff_tools import index_waits

WAIT_ATTRIBUTES = ("wake_tenant", "wake_sort", "expiry_tenant", "wait_expires")


@pytest.fixture
def night_run() -> Iterator[LocalRun]:
    with LocalRun(CONFIG) as local:
        yield local


def now() -> datetime:
    from handoff import clock

    return clock.now()


def table_name() -> str:
    from handoff.runtime import wiring

    return wiring.conversation_store().table_name


def written_before_the_indexes(count: int) -> None:
    """Remove the wake pass's index attributes from every waiting conversation's state, as the
    version before those indexes wrote it (its own index's attributes aside)."""
    from handoff.adapters.clients import client

    db = client("dynamodb")
    removed = 0
    for page in db.get_paginator("scan").paginate(TableName=table_name()):
        for item in page["Items"]:
            if "wake_tenant" in item:
                db.update_item(
                    TableName=table_name(),
                    Key={"pk": item["pk"], "sk": item["sk"]},
                    UpdateExpression="REMOVE " + ", ".join(WAIT_ATTRIBUTES),
                )
                removed += 1
    assert removed == count


def test_users_waiting_from_before_the_upgrade_are_told_once_indexed(
    night_run: LocalRun, capsys: pytest.CaptureFixture[str]
) -> None:
    from handoff.runtime import wiring

    # Given five users on hold overnight, stored as the version before the wake indexes stored them
    run = night_run
    users_waiting(run, 5, wake_mode="everyone")
    written_before_the_indexes(5)

    # When an agent comes online, the pass finds none of them
    morning_with_an_agent(run)
    assert wiring.wake_pass().run(["acme"]).to_wake == 0

    # and a dry run counts them, writing nothing
    assert index_waits.main(["--table", table_name(), "--dry-run"]) == 0
    assert "acme: would index 5 waiting conversation(s), 0 indexed already" in capsys.readouterr().out
    assert wiring.wake_pass().run(["acme"]).to_wake == 0

    # Then once the tool has run, the pass tells all five
    assert index_waits.main(["--table", table_name()]) == 0
    out = capsys.readouterr().out
    assert "acme: indexed 5 waiting conversation(s), 0 indexed already" in out
    assert "globex: indexed 0 waiting conversation(s), 0 indexed already" in out
    assert "2 tenant(s), 5 conversation(s) indexed in" in out
    assert wiring.wake_pass().run(["acme"]).to_wake == 5

    # and running it again changes nothing
    again = index_waits.index_waits(table_name(), now())
    assert again["acme"].model_dump() == {"indexed": 0, "already": 5, "written_since": 0}


def test_their_waits_end_once_indexed(night_run: LocalRun) -> None:
    from handoff.runtime import wiring

    # Given three users on hold, stored before the indexes, and a day and more without a word
    run = night_run
    users_waiting(run, 3, wake_mode="capacity")
    written_before_the_indexes(3)
    run.advance(timedelta(hours=25).total_seconds())
    store = wiring.conversation_store()
    assert store.expired_waits("acme", now()) == []

    # When the tool has run, the expiry reads all three
    index_waits.index_waits(table_name(), now())

    # Then the pass finds their waits over
    assert len(store.expired_waits("acme", now())) == 3


def test_a_conversation_written_meanwhile_is_left_to_that_write(
    night_run: LocalRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    from handoff.runtime import wiring
    from handoff.store.conversation_store import ConversationStore

    # Given two users stored before the indexes, read by the tool
    run = night_run
    [first, _] = users_waiting(run, 2, wake_mode="everyone")
    written_before_the_indexes(2)
    store = wiring.conversation_store()
    read = list(
        store._query(
            IndexName="live",
            KeyConditionExpression="live_tenant = :t AND begins_with(live_sort, :q)",
            ExpressionAttributeValues={":t": {"S": "acme"}, ":q": {"S": "0#"}},
        )
    )

    # When one of them writes again before the tool writes (the commit sets the attributes itself)
    run.advance(5)
    text = payloads.whatsapp_text(first, "¿Sigo en la fila?", now())
    assert run.webhook("whatsapp", payloads.whatsapp_delivery(ACME_NUMBER, text)).status == 200
    run.drain()
    monkeypatch.setattr(ConversationStore, "_query", lambda self, **_: iter(read))
    found = store.index_waits("acme", now())

    # Then that one is left as its write left it, and the other is indexed
    assert found.model_dump() == {"indexed": 1, "already": 0, "written_since": 1}
