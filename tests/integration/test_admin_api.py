"""The admin API on the embedded run: versioned edits, each validation error, admins only, the chat report."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest

from conftest import BOGOTA, Agent, WhatsAppUser
from handoff.engine.model import YES_PAYLOAD
from handoff_local.runtime import HttpResult, LocalRun


def admin(run: LocalRun, method: str, path: str, body: Any = None, **query: str) -> HttpResult:
    return run.http(method, path, body=body, headers=run.as_admin("acme"), query=query or None)


def current(run: LocalRun) -> dict[str, Any]:
    response = admin(run, "GET", "/admin/config")
    assert response.status == 200, response.body
    return response.json()


def whatsapp_rule(run: LocalRun) -> dict[str, Any]:
    return admin(run, "GET", "/admin/rules/whatsapp").json()["rule"]


# --- reading and versioned writes -------------------------------------------------------------------


def test_an_admin_reads_the_whole_config_and_each_part(run: LocalRun) -> None:
    stored = current(run)

    assert stored["config"]["tenant_id"] == "acme" and stored["version"] >= 1
    assert whatsapp_rule(run)["after_hours"] is True
    assert admin(run, "GET", "/admin/agent-seats").json()["agent_seats"] == stored["config"]["agent_seats"]
    assert admin(run, "GET", "/admin/intents").json()["intents"] == stored["config"]["bot"]["intents"]
    assert admin(run, "GET", "/admin/messages/en").status == 200
    assert admin(run, "GET", "/admin/rules/web").status == 404


def test_a_write_bumps_the_version_and_a_stale_write_is_a_409_that_changes_nothing(run: LocalRun) -> None:
    version = current(run)["version"]
    rule = whatsapp_rule(run)

    first = admin(run, "PUT", "/admin/rules/whatsapp", {"version": version, "rule": {**rule, "direct": True}})
    stale = admin(run, "PUT", "/admin/agent-seats", {"version": version, "agent_seats": 9})

    assert first.status == 200 and first.json()["version"] == version + 1
    assert stale.status == 409
    assert "changed since version" in stale.json()["message"]
    after = current(run)
    assert after["version"] == version + 1
    assert after["config"]["rules"][0]["direct"] is True and after["config"]["agent_seats"] != 9


def test_the_conversation_function_uses_the_edited_config(run: LocalRun) -> None:
    version = current(run)["version"]
    rule = whatsapp_rule(run)
    text = "Quedaste en la fila (texto editado)."
    edited = {**rule, "messages": {**rule["messages"], "attention": text}}
    assert admin(run, "PUT", "/admin/rules/whatsapp", {"version": version, "rule": edited}).status == 200
    run.advance(61)  # configs are cached a minute per process

    run.advance_to(22, BOGOTA, weekday=True)
    user = WhatsAppUser(run, "573001119999")
    user.says("Quiero hablar con un agente")
    user.taps(YES_PAYLOAD, "Sí, quiero esperar")

    assert user.texts()[-1].startswith(text)


def test_the_whole_config_round_trips_and_a_rule_can_be_removed(run: LocalRun) -> None:
    stored = current(run)

    put = admin(run, "PUT", "/admin/config", stored)
    removed = admin(run, "DELETE", "/admin/rules/messenger", version=str(put.json()["version"]))

    assert put.status == 200 and put.json()["config"] == stored["config"]
    assert removed.status == 200
    remaining = [r["channel"] for r in removed.json()["config"]["rules"]]
    assert "messenger" not in remaining and "whatsapp" in remaining


# --- every validation error names the field and the reason; nothing is written -----------------------

WEB = "web channel: the after-hours mode is not available on the web channel"


def invalid_rule_writes(rule: dict[str, Any]) -> list[tuple[str, str, dict[str, Any], list[Any], str]]:
    return [
        ("PUT", "/admin/rules/web", {"rule": {"channel": "web", "after_hours": True}}, ["body", "rule"], WEB),
        (
            "PUT",
            "/admin/rules/whatsapp",
            {"rule": {**rule, "type": "script"}},
            ["body", "rule"],
            "whatsapp channel: the after-hours mode works only with the conventional handoff to Live",
        ),
        (
            "PUT",
            "/admin/rules/messenger",
            {
                "rule": {
                    "channel": "messenger",
                    "templates": {"agent_available": {"name": "x", "language": "es"}},
                }
            },
            ["body", "rule"],
            "messenger channel: templates are a WhatsApp feature",
        ),
        (
            "PUT",
            "/admin/rules/whatsapp",
            {"rule": {**rule, "templates": {"wake_up": {"name": "x", "language": "es"}}}},
            ["body", "rule", "templates"],
            "unknown template purpose 'wake_up'",
        ),
        (
            "PUT",
            "/admin/rules/whatsapp",
            {"rule": {**rule, "business_hours": {"timezone": "Mars/Olympus", "weekly": {}}}},
            ["body", "rule", "business_hours", "timezone"],
            "Mars/Olympus",
        ),
        (
            "PUT",
            "/admin/rules/web",
            {"rule": {"channel": "web"}},
            ["body", "rule"],
            "web channel: the tenant has no web account",
        ),
        (
            "PUT",
            "/admin/rules/whatsapp",
            {"rule": {"channel": "messenger"}},
            ["body", "rule", "channel"],
            "the address names whatsapp",
        ),
        ("PUT", "/admin/rules/telegram", {"rule": rule}, ["path", "channel"], "Input should be"),
        (
            "PUT",
            "/admin/messages/es",
            {"messages": {"offer_yes": "Vale", "offer_no": "vale"}},
            ["body", "messages"],
            "the two buttons need different titles",
        ),
        (
            "PUT",
            "/admin/messages/es",
            {"messages": {"offer_yes": "Sí, quiero esperar a un agente"}},
            ["body", "messages", "offer_yes"],
            "at most 20",
        ),
        (
            "PUT",
            "/admin/messages/en",
            {"messages": {"attention": "x" * 1001}},
            ["body", "messages", "attention"],
            "Instagram accepts at most 1000 bytes",
        ),
        (
            "PUT",
            "/admin/intents",
            {"intents": [{"name": "a", "keywords": {"es": ["hola"]}, "answer": {"es": "Hola"}}] * 2},
            ["body", "intents"],
            "intent 'a' is defined twice",
        ),
        (
            "PUT",
            "/admin/intents",
            {"intents": [{"name": "a", "keywords": {"es": ["hola"]}}]},
            ["body", "intents", 0],
            "give it an answer",
        ),
        (
            "PUT",
            "/admin/agent-seats",
            {"agent_seats": 0},
            ["body", "agent_seats"],
            "greater than or equal to 1",
        ),
        (
            "PUT",
            "/admin/agent-seats",
            {"version": None, "agent_seats": 3},
            ["body", "version"],
            "Field required",
        ),
    ]


def test_every_invalid_write_is_a_422_naming_the_field_and_changes_nothing(run: LocalRun) -> None:
    before = current(run)
    rule = whatsapp_rule(run)

    for method, path, body, loc, reason in invalid_rule_writes(rule):
        payload = {k: v for k, v in {"version": before["version"], **body}.items() if v is not None}
        response = admin(run, method, path, payload)

        assert response.status == 422, (path, body, response.body)
        problems = response.json()["detail"]
        assert any(p["loc"][: len(loc)] == loc and reason in p["msg"] for p in problems), (reason, problems)
        assert reason in response.json()["message"]
    assert current(run) == before


def test_the_whole_config_is_checked_against_the_stored_tenant(run: LocalRun) -> None:
    stored = current(run)
    config = stored["config"]
    cases = [
        ({**config, "tenant_id": "globex"}, ["body", "config", "tenant_id"], "must be your own tenant"),
        ({**config, "accounts": config["accounts"][:1]}, ["body", "config", "accounts"], "make seed"),
        (
            {**config, "rules": [*config["rules"], {"channel": "whatsapp"}]},
            ["body", "config"],
            "only one handoff rule per channel",
        ),
        ({**config, "surprise": 1}, ["body", "config", "surprise"], "Extra inputs are not permitted"),
    ]
    for edited, loc, reason in cases:
        response = admin(run, "PUT", "/admin/config", {"version": stored["version"], "config": edited})

        assert response.status == 422, response.body
        assert any(p["loc"][: len(loc)] == loc and reason in p["msg"] for p in response.json()["detail"])
    assert current(run) == stored


# --- who may call it ---------------------------------------------------------------------------------


def test_agents_are_refused_and_tokens_are_required(run: LocalRun) -> None:
    as_agent = run.http("GET", "/admin/config", headers=run.as_agent("acme", "carla"))
    no_token = run.http("GET", "/admin/config")

    assert as_agent.status == 403 and "admins" in as_agent.json()["message"]
    assert no_token.status == 401


def test_an_admin_sees_only_their_own_tenant(run: LocalRun) -> None:
    globex = run.http("GET", "/admin/config", headers=run.as_admin("globex")).json()

    assert globex["config"]["tenant_id"] == "globex"


# --- the chat report ------------------------------------------------------------------------------------


def test_the_report_shows_the_articles_two_sessions_and_no_second_transfer(run: LocalRun) -> None:
    run.advance_to(22, BOGOTA, weekday=True)
    ana = WhatsAppUser(run, "573001110001", name="Ana")
    carla = Agent(run, "carla")
    ana.says("Quiero hablar con un agente")
    ana.taps(YES_PAYLOAD, "Sí, quiero esperar")
    ana.says("¿Cuál es el horario?")
    ana.says("Por favor, un agente")
    run.advance_to(9, BOGOTA, weekday=True)
    carla.online()
    [waiting] = carla.conversations()
    carla.take(waiting["id"])
    today = ana.now().date()
    start = (today - timedelta(days=2)).isoformat()

    response = admin(run, "GET", "/admin/report", **{"from": start, "to": today.isoformat()})

    assert response.status == 200, response.body
    report = response.json()
    rows = [(r["session"], r["resolution"], r["after_hours"], r["wait_outcome"]) for r in report["rows"]]
    assert rows == [(1, "transferred", True, "taken"), (2, "while_waiting", False, None)]
    first = report["rows"][0]
    assert first["woken"] is True and first["accepted"] and first["seconds_to_agent"] > 10 * 3600
    assert report["rows"][1]["handoff_repeated"] is True
    totals = report["totals"]
    assert (totals["transferred"], totals["offered"], totals["accepted"], totals["woken"]) == (1, 1, 1, 1)
    assert totals["median_seconds_to_agent"] == first["seconds_to_agent"]

    as_csv = admin(run, "GET", "/admin/report", **{"from": start, "to": today.isoformat(), "format": "csv"})
    assert as_csv.status == 200 and as_csv.headers["Content-Type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(as_csv.body)))
    assert [(line["session"], line["resolution"]) for line in lines] == [
        ("1", "transferred"),
        ("2", "while_waiting"),
    ]

    messenger = admin(
        run, "GET", "/admin/report", **{"from": start, "to": today.isoformat(), "channel": "messenger"}
    )
    assert messenger.json()["rows"] == []


@pytest.mark.parametrize(
    ("query", "loc"),
    [
        ({"from": "2026-03-10", "to": "2026-03-01"}, ["query", "to"]),
        ({"from": "2024-01-01", "to": "2026-01-01"}, ["query", "to"]),
        ({"from": "yesterday", "to": "2026-03-01"}, ["query", "from"]),
        ({"to": "2026-03-01"}, ["query", "from"]),
        ({"from": "2026-03-01", "to": "2026-03-01", "format": "xlsx"}, ["query", "format"]),
    ],
)
def test_a_bad_report_request_names_the_parameter(
    run: LocalRun, query: dict[str, str], loc: list[str]
) -> None:
    response = admin(run, "GET", "/admin/report", **query)

    assert response.status == 422
    assert response.json()["detail"][0]["loc"] == loc


def test_report_rows_keep_the_configured_retention(run: LocalRun) -> None:
    from handoff.runtime.settings import settings
    from handoff.runtime.wiring import conversation_store

    assert settings().report_retention_days == 400
    assert conversation_store().report_retention.days == 400


# --- the bot ------------------------------------------------------------------------------------

LEX = {"bot_id": "ABCDEFGHIJ", "bot_alias_id": "TSTALIASID", "locales": {"es": "es_419"}}


def test_an_admin_chooses_the_tenants_bot_and_a_channels_own(run: LocalRun) -> None:
    version = current(run)["version"]
    http = {
        "kind": "http",
        "http": {"url": "http://127.0.0.1:5005/webhooks/rest/webhook", "timeout_seconds": 3},
    }
    lex = {
        "kind": "lex",
        "lex": {"bot_id": "ABCDEFGHIJ", "bot_alias_id": "TSTALIASID", "locales": {"es": "es_419"}},
    }

    written = admin(
        run, "PUT", "/admin/bot", {"version": version, "bot": http, "channel_bots": {"messenger": lex}}
    )

    assert written.status == 200, written.body
    read = admin(run, "GET", "/admin/bot").json()
    assert read["bot"]["kind"] == "http" and read["bot"]["http"]["timeout_seconds"] == 3
    assert read["channel_bots"]["messenger"]["lex"]["locales"] == {"es": "es_419"}
    # editing the built-in bot's intents keeps the bot's kind and settings
    intents = admin(run, "GET", "/admin/intents").json()["intents"]
    assert admin(run, "PUT", "/admin/intents", {"version": read["version"], "intents": intents}).status == 200
    assert admin(run, "GET", "/admin/bot").json()["bot"]["kind"] == "http"


@pytest.mark.parametrize(
    ("bot", "problem"),
    [
        ({"kind": "http"}, "kind http needs its settings under http:"),
        ({"kind": "intents", "lex": LEX}, "settings for lex are given too"),
        ({"kind": "http", "http": {"url": "ftp://bot"}}, "should match pattern"),
        ({"kind": "http", "http": {"url": "http://bot", "headers": {"X-Api-Key": "the key itself!"}}},
         "is not an SSM parameter name"),
    ],
)  # fmt: skip
def test_a_bot_that_cannot_work_is_refused_with_the_reason(
    run: LocalRun, bot: dict[str, Any], problem: str
) -> None:
    response = admin(run, "PUT", "/admin/bot", {"version": current(run)["version"], "bot": bot})
    assert response.status == 422
    assert problem in response.json()["message"]
