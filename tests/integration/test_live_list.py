"""The Live list is bounded and conditional (issue 14): its first page (the queue first) with the
view's total and Live's counts, and an ETag, so an unchanged list costs a 304 with no body."""

from __future__ import annotations

from conftest import BOGOTA, Agent, WhatsAppUser
from handoff_local.runtime import HttpResult, LocalRun


def listing(carla: Agent, etag: str | None = None, **query: str) -> HttpResult:
    headers = carla.run.as_agent(carla.tenant_id, carla.agent_id)
    if etag is not None:
        headers["if-none-match"] = etag
    return carla.run.http("GET", "/live/conversations", headers=headers, query=query)


def users_waiting(run: LocalRun, count: int) -> list[WhatsAppUser]:
    users = []
    for n in range(count):
        user = WhatsAppUser(run, f"5730055{n:05d}", name=f"Usuario {n}")
        user.says("Quiero hablar con un asesor")
        run.advance(2)
        users.append(user)
    return users


def test_an_unchanged_list_is_a_304_until_it_changes_or_a_minute_passes(run: LocalRun) -> None:
    run.advance_to(10, BOGOTA, weekday=True)
    carla = Agent(run, "carla")
    carla.online()
    [ana] = users_waiting(run, 1)

    first = listing(carla)
    etag = first.headers["ETag"]
    assert first.status == 200 and etag.startswith('"') and first.json()["conversations"]
    assert first.headers["Cache-Control"] == "private, no-cache"

    run.advance(5)  # her wait grew by 5 s: not a change of the list
    again = listing(carla, etag=etag)
    assert (again.status, again.body, again.headers["ETag"]) == (304, "", etag)
    assert listing(carla, etag=f'W/{etag}, "other"').status == 304  # a list of tags, weak ones too
    assert listing(carla, etag='"other"').status == 200

    ana.says("¿Siguen ahí?")  # a change: the list answers whole, with another tag
    changed = listing(carla, etag=etag)
    assert changed.status == 200 and changed.headers["ETag"] != etag

    run.advance(61)  # a minute later the list comes whole again: its waits and windows move on
    later = listing(carla, etag=changed.headers["ETag"])
    assert later.status == 200 and later.json()["conversations"][0]["waited_seconds"] > 60


def second_in_queue(carla: Agent) -> str:
    """The second user in the queue's order, read from the whole list."""
    return str([c["id"] for c in carla.conversations() if c["state"] == "queued"][1])


def test_the_list_answers_its_first_page_with_the_views_total_and_lives_counts(run: LocalRun) -> None:
    run.advance_to(10, BOGOTA, weekday=True)
    carla = Agent(run, "carla", seats=2)
    carla.online()
    users = users_waiting(run, 5)
    [first, second, *_] = [c["id"] for c in carla.conversations()]
    assert carla.take(first).status == 200

    page = listing(carla, limit="3").json()
    assert [c["user_name"] for c in page["conversations"]] == ["Usuario 1", "Usuario 2", "Usuario 3"]
    assert page["total"] == 5
    assert page["counts"] == {"queue": 4, "mine": 1, "all": 5}
    queue = listing(carla, view="queue", limit="2").json()
    assert ([c["id"] for c in queue["conversations"]], queue["total"]) == (
        [second, second_in_queue(carla)],
        4,
    )
    assert len(listing(carla).json()["conversations"]) == len(users)  # 100 unless asked otherwise

    for bad in ("0", "501", "many"):
        refused = listing(carla, limit=bad)
        assert refused.status == 422 and "limit" in refused.body, bad
