"""Past WhatsApp's 24-hour window an agent goes on with an approved template (issue 13), through the
real handlers, the FIFO queue and DynamoDB (moto), with acme's `agent_templates` from
examples/config.yaml; Messenger, which has no templates, refuses with when the agent may write."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import BOGOTA, Agent, MetaPlatformUser, WhatsAppUser
from handoff.engine.model import YES_PAYLOAD
from handoff_local.runtime import LocalRun
from meta_openapi import whatsapp_body_errors

ORDER_READY = "acme_pedido_listo"  # parameters: Nombre, Número de pedido, Tienda
SHOWN = "Hola Ana, tu pedido 4411 ya está listo para recoger en Chapinero."


def chat_past_the_window(run: LocalRun) -> tuple[WhatsAppUser, Agent, str]:
    """Ana waited overnight, Carla took her chat in the morning and answered; then 25 hours passed
    without a word from Ana."""
    run.advance_to(22, BOGOTA, weekday=True)
    ana = WhatsAppUser(run, "573001110301", name="Ana")
    ana.says("Quiero hablar con un agente")
    ana.taps(YES_PAYLOAD, "Sí, quiero esperar")
    run.advance_to(9, BOGOTA, weekday=True)
    carla = Agent(run, "carla")
    carla.online()
    [waiting] = carla.conversations()
    assert carla.take(waiting["id"]).status == 200
    assert carla.reply(waiting["id"], "Hola Ana, soy Carla. Reviso tu pedido.").status == 200
    assert carla.conversations()[0]["agent_may_send"] == "text"
    run.advance(25 * 3600)
    return ana, carla, waiting["id"]


def agent_lines(carla: Agent, conversation_id: str) -> list[dict[str, Any]]:
    transcript = carla.read(conversation_id).json()["transcript"]
    return [line for line in transcript if line["author"] == "agent"]


def test_past_24_hours_the_agent_sends_a_template_and_free_text_returns_when_the_user_answers(run):
    ana, carla, chat = chat_past_the_window(run)

    # Live says, before anyone types, that only a template reaches Ana now; free text is a 409
    [summary] = carla.conversations()
    assert summary["agent_may_send"] == "template"
    refused = carla.reply(chat, "¿Sigues ahí?")
    assert refused.status == 409 and "approved template" in refused.json()["message"]

    # Carla picks acme's template from Live's list and fills it in
    picked = next(t for t in carla.templates() if t["name"] == ORDER_READY)
    assert (picked["language"], picked["parameters"]) == ("es", ["Nombre", "Número de pedido", "Tienda"])
    before = len(ana.received())
    sent = carla.send_template(chat, ORDER_READY, "es", ["Ana", "4411", "Chapinero"])
    assert sent.status == 200, sent.body
    assert sent.json()["agent_may_send"] == "template"  # a template does not reopen the window

    # Ana's WhatsApp gets the template request with its body parameters in order
    [received] = ana.received()[before:]
    assert received["type"] == "template"
    assert received["template"] == {
        "name": ORDER_READY,
        "language": {"policy": "deterministic", "code": "es"},
        "components": [
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "text": "Ana"},
                    {"type": "text", "text": "4411"},
                    {"type": "text", "text": "Chapinero"},
                ],
            }
        ],
    }
    # the transcript shows what Ana received, as Carla's
    last = agent_lines(carla, chat)[-1]
    assert (last["kind"], last["text"]) == ("template", SHOWN)
    assert last["undelivered"] is None

    # still no free text until Ana answers; then the chat goes on as before
    assert carla.reply(chat, "¿Te queda bien hoy?").status == 409
    ana.says("¡Gracias! Paso hoy por la tarde")
    assert carla.conversations()[0]["agent_may_send"] == "text"
    assert carla.reply(chat, "Perfecto, te esperamos").status == 200
    assert ana.texts()[-1] == "Perfecto, te esperamos"
    assert run.dead_letters() == 0


def test_the_template_request_follows_metas_openapi_description(run, whatsapp_openapi_path: Path):
    ana, carla, chat = chat_past_the_window(run)
    before = len(ana.received())
    assert carla.send_template(chat, "acme_seguimiento", "es", ["Ana María"]).status == 200
    [received] = ana.received()[before:]
    assert whatsapp_body_errors(whatsapp_openapi_path, received) == []


def test_a_template_filled_in_wrongly_is_a_422_naming_the_field_and_nothing_is_sent(run):
    ana, carla, chat = chat_past_the_window(run)
    before, lines = len(ana.received()), agent_lines(carla, chat)
    cases = [
        (ORDER_READY, "es", ["Ana"], ["body", "parameters"], "takes 3 parameters"),
        (ORDER_READY, "pt_BR", ["Ana", "4411", "Chapinero"], ["body", "name"], "is not one of the templates"),
        ("acme_promo", "es", [], ["body", "name"], "is not one of the templates"),
        ("acme_seguimiento", "es", ["Ana\nMaría"], ["body", "parameters", 0], "no line break or tab"),
        ("acme_seguimiento", "es", [" "], ["body", "parameters", 0], "it is empty"),
        ("Acme Seguimiento", "es", ["Ana"], ["body", "name"], "should match pattern"),
    ]
    for name, language, parameters, loc, reason in cases:
        response = carla.send_template(chat, name, language, parameters)
        assert response.status == 422, (name, parameters, response.body)
        [problem] = response.json()["detail"]
        assert problem["loc"] == loc and reason in problem["msg"], problem
    assert len(ana.received()) == before
    assert agent_lines(carla, chat) == lines


def test_only_the_agent_holding_the_chat_may_send_one(run):
    _, _, chat = chat_past_the_window(run)
    diego = Agent(run, "diego")
    refused = diego.send_template(chat, "acme_seguimiento", "es", ["Ana"])
    assert refused.status == 409 and "another agent" in refused.json()["message"]
    assert Agent(run, "diego", tenant_id="globex").send_template(chat, "x", "es", []).status == 404


def test_messenger_has_no_templates_and_the_refusal_says_when_the_agent_may_write(run):
    run.advance_to(10, BOGOTA, weekday=True)
    carla = Agent(run, "carla")
    carla.online()
    luis = MetaPlatformUser(run, "messenger", "4000000000000301")
    luis.says("Quiero hablar con un asesor")
    [waiting] = carla.conversations()
    assert carla.take(waiting["id"]).status == 200

    run.advance(2 * 24 * 3600)  # past 24 hours: a person may still answer, tagged, for 7 days
    assert carla.conversations()[0]["agent_may_send"] == "text"
    before = len(luis.received())
    refused = carla.send_template(waiting["id"], "acme_seguimiento", "es", ["Luis"])
    assert refused.status == 409
    assert refused.json()["message"].startswith("Messenger has no templates: reply with text instead")
    assert carla.reply(waiting["id"], "Hola Luis, ¿seguimos?").status == 200

    run.advance(8 * 24 * 3600)  # past 7 days: nothing reaches Luis until he writes
    assert carla.conversations()[0]["agent_may_send"] == "nothing"
    refused = carla.send_template(waiting["id"], "acme_seguimiento", "es", ["Luis"])
    assert (
        refused.status == 409 and "nobody may write until the user writes again" in refused.json()["message"]
    )
    assert len(luis.received()) == before + 1


def test_live_lists_the_tenants_templates_and_an_administrator_edits_them(run):
    carla = Agent(run, "carla")
    assert [t["name"] for t in carla.templates()] == ["acme_seguimiento", ORDER_READY, "acme_follow_up"]
    assert Agent(run, "bruno", tenant_id="globex").templates() == []

    admin = run.as_admin("acme")
    stored = run.http("GET", "/admin/agent-templates", headers=admin).json()
    survey = {"name": "acme_encuesta", "language": "es", "title": "Encuesta", "parameters": ["Nombre"]}
    edited = [stored["agent_templates"][0], survey]
    written = run.http(
        "PUT", "/admin/agent-templates", headers=admin,
        body={"version": stored["version"], "agent_templates": edited},
    )  # fmt: skip
    assert written.status == 200, written.body
    assert written.json()["version"] == stored["version"] + 1
    assert [t["name"] for t in carla.templates()] == ["acme_seguimiento", "acme_encuesta"]

    twice = run.http(
        "PUT", "/admin/agent-templates", headers=admin,
        body={"version": stored["version"] + 1, "agent_templates": [survey, survey]},
    )  # fmt: skip
    assert twice.status == 422
    [problem] = twice.json()["detail"]
    assert problem["loc"] == ["body", "agent_templates"] and "listed twice" in problem["msg"]
    wrong_text = {**survey, "text": "Hola {{1}} y {{2}}"}
    refused = run.http(
        "PUT", "/admin/agent-templates", headers=admin,
        body={"version": stored["version"] + 1, "agent_templates": [wrong_text]},
    )  # fmt: skip
    assert refused.status == 422
    assert refused.json()["detail"][0]["loc"][:3] == ["body", "agent_templates", 0]
    stale = run.http(
        "PUT", "/admin/agent-templates", headers=admin,
        body={"version": stored["version"], "agent_templates": []},
    )  # fmt: skip
    assert stale.status == 409
