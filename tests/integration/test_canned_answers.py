"""Canned answers (issue 13): an administrator edits them per language with the admin API, Live
lists one language's to the console, through the real handlers and DynamoDB (moto), with acme's
`canned_answers` from examples/config.yaml."""

from __future__ import annotations

from typing import Any

from handoff_local.runtime import LocalRun


def canned(run: LocalRun, tenant: str = "acme", **query: str) -> Any:
    agent = run.as_agent(tenant, "carla")
    answer = run.http("GET", "/live/canned-answers", headers=agent, query=query or None)
    assert answer.status == 200, answer.body
    return answer.json()


def test_live_lists_the_tenants_canned_answers_in_its_language_or_the_one_asked(run):
    spanish = canned(run)
    assert spanish["language"] == "es"
    assert "horario" in [a["shortcut"] for a in spanish["canned_answers"]]
    assert canned(run, language="en") == {"language": "en", "canned_answers": []}
    assert canned(run, "globex")["canned_answers"] == []
    agent = run.as_agent("acme", "carla")
    unknown = run.http("GET", "/live/canned-answers", headers=agent, query={"language": "fr"})
    assert unknown.status == 422 and unknown.json()["detail"][0]["loc"] == ["query", "language"]


def test_an_administrator_edits_the_canned_answers_and_live_lists_the_new_ones(run):
    admin = run.as_admin("acme")
    stored = run.http("GET", "/admin/canned-answers", headers=admin).json()
    assert [a["shortcut"] for a in stored["canned_answers"]["es"]][:2] == ["saludo", "horario"]

    hours = {"shortcut": "horario", "text": "Abrimos de 8:00 a 17:00."}
    edited = {"es": [hours], "en": [{"shortcut": "hours", "text": "We open 8:00 to 17:00."}]}
    written = run.http(
        "PUT", "/admin/canned-answers", headers=admin,
        body={"version": stored["version"], "canned_answers": edited},
    )  # fmt: skip
    assert written.status == 200, written.body
    assert written.json() == {"version": stored["version"] + 1, "canned_answers": edited}
    assert canned(run) == {"language": "es", "canned_answers": [hours]}
    assert canned(run, language="en")["canned_answers"] == edited["en"]

    spaced = {"es": [{**hours, "shortcut": "Hor Ario"}]}
    bad = run.http(
        "PUT", "/admin/canned-answers", headers=admin,
        body={"version": stored["version"] + 1, "canned_answers": spaced},
    )  # fmt: skip
    assert bad.status == 422
    assert [p["loc"] for p in bad.json()["detail"]] == [["body", "canned_answers", "es", 0, "shortcut"]]

    twice = run.http(
        "PUT", "/admin/canned-answers", headers=admin,
        body={"version": stored["version"] + 1, "canned_answers": {"es": [hours, hours]}},
    )  # fmt: skip
    assert twice.status == 422
    [problem] = twice.json()["detail"]
    assert problem["loc"] == ["body", "canned_answers"] and "'horario' is listed twice" in problem["msg"]

    stale = run.http(
        "PUT", "/admin/canned-answers", headers=admin,
        body={"version": stored["version"], "canned_answers": {}},
    )  # fmt: skip
    assert stale.status == 409
    assert canned(run)["canned_answers"] == [hours]  # nothing refused was stored
