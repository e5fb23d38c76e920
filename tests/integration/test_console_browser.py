"""The agents' console in a real browser (console_steps.py): sign in, take, reply, templates past
the window, canned answers, the hosted sign-in with its token renewed through a shift."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

import jwt
import pytest
from console_steps import (
    DELIVERY_TIMEOUT_SECONDS,
    YES,
    Phone,
    carla_takes_after_a_night_of_waiting,
    eventually,
    screenshot,
)
from local_server_process import ACME, TEXTS, LocalServerProcess, next_night
from loopback import LoopbackServer, QuietHandler

from handoff.deploy import console_site

# --- the story -----------------------------------------------------------------------------------


def test_an_agent_takes_a_waiting_conversation_and_replies_from_the_console(server, graph, page):
    from playwright.sync_api import expect

    browser_errors: list[str] = []
    page.on("pageerror", lambda error: browser_errors.append(str(error)))

    # Given a night in Bogotá, Ana asks for an agent, is offered to wait and taps YES
    night = server.advance_to(next_night(server.now()))
    ana = Phone(server, graph, "573009990001", "Ana Consola")
    ana.says("Quiero hablar con un agente")
    assert TEXTS.offer in ana.texts()
    ana.taps(YES, "Sí, quiero esperar")
    assert ana.texts()[-1].startswith(TEXTS.attention)
    ana.says("Es sobre mi pedido 4411")

    # When Carla opens the console, it knows the local run and signs her in to acme
    page.goto(f"{server.url}/console/")
    expect(page.locator("#local-sign-in")).to_be_visible()
    # the page's own script and style only: no inline code, no eval (the fixture fails on a block)
    policy = page.locator('meta[http-equiv="Content-Security-Policy"]').get_attribute("content") or ""
    assert "script-src 'self';" in policy and "style-src 'self';" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    screenshot(page, "01-sign-in")
    page.get_by_label("Tenant").fill("acme")
    page.get_by_label("Agent").fill("carla")
    page.get_by_role("button", name="Sign in").click()

    # Then Ana's conversation is on the left, marked on hold, with her last message and her wait
    item = page.locator("#conversations li.conversation", has_text="Ana Consola")
    expect(item).to_be_visible()
    expect(item.locator(".badge.hold")).to_have_text("On hold")
    expect(item.locator(".channel")).to_have_text("WhatsApp")
    expect(item.locator(".last")).to_have_text("Es sobre mi pedido 4411")
    expect(item.locator(".waited")).to_contain_text("Waiting")
    expect(page).to_have_title("(1) Live: agents' console")  # seen from a background tab too
    screenshot(page, "02-waiting-on-hold")

    # In the morning she goes online: Ana is told an agent is available
    server.advance_to(night + timedelta(hours=12))
    before = len(ana.texts())
    page.get_by_role("switch").check()
    expect(page.locator("#presence-text")).to_have_text("Online")
    expect(page.locator("#capacity")).to_have_text(f"Chats 0 of {ACME.agent_seats}")
    assert ana.wait_to_read(TEXTS.agent_available)[before:] == [TEXTS.agent_available]
    screenshot(page, "03-online")

    # She opens the conversation and reads the whole transcript: the bot chat, the offer, the wait
    item.locator("button.open").click()
    transcript = page.locator("#transcript")
    expect(transcript.locator(".author-user", has_text="Quiero hablar con un agente")).to_be_visible()
    expect(transcript.locator(".author-user", has_text="Es sobre mi pedido 4411")).to_be_visible()
    expect(transcript.locator(".author-bot", has_text=TEXTS.offer)).to_be_visible()
    screenshot(page, "04-transcript")

    # She takes it, writes, sends: exactly her text reaches Ana's WhatsApp
    page.get_by_role("button", name="Take").click()
    expect(item.locator(".badge.mine")).to_have_text("Yours")
    expect(page).to_have_title("Live: agents' console")  # nobody waits now
    expect(page.locator("#capacity")).to_have_text(f"Chats 1 of {ACME.agent_seats}")
    reply = "¡Hola Ana! Soy Carla, reviso tu pedido 4411."
    page.get_by_label("Reply").fill(reply)
    screenshot(page, "05-taken-writing")
    page.get_by_role("button", name="Send").click()
    expect(transcript.locator(".author-agent", has_text=reply)).to_be_visible()
    assert ana.wait_to_read(reply)[-1] == reply
    assert page.locator("#error").is_hidden()
    expect(page.get_by_label("Reply")).to_have_value("")  # sent: the box is ready for the next
    follow_up = "¿Me confirmas tu dirección de entrega?"
    page.get_by_label("Reply").fill(follow_up)
    page.get_by_label("Reply").press("Control+Enter")  # sends without the mouse
    expect(transcript.locator(".author-agent", has_text=follow_up)).to_be_visible()
    assert ana.wait_to_read(follow_up)[-2:] == [reply, follow_up]
    expect(page.get_by_label("Reply")).to_have_value("")
    screenshot(page, "06-replied")

    # She closes it: it leaves the list
    page.get_by_role("button", name="Close conversation").click()
    expect(item).to_have_count(0)
    screenshot(page, "07-closed")
    assert browser_errors == []


def test_the_console_shows_the_api_refusal_as_is(server, graph, page):
    night = server.advance_to(next_night(server.now()))
    bruno = Phone(server, graph, "573009990002", "Bruno Consola")
    bruno.says("Necesito un agente")
    bruno.taps(YES, "Sí, quiero esperar")
    server.advance_to(night + timedelta(hours=12))
    token = server.post("/_local/token", {"tenant_id": "acme", "agent_id": "diego"})

    from playwright.sync_api import expect

    # the page's timers stand still and no push comes (?push=off), so nothing re-renders the pane
    # between the two takes
    page.clock.install()
    page.clock.pause_at(datetime.now() + timedelta(seconds=1))
    page.goto(f"{server.url}/console/?push=off")
    page.get_by_label("Tenant").fill("acme")
    page.get_by_label("Agent").fill("elena")
    page.get_by_role("button", name="Sign in").click()
    item = page.locator("#conversations li.conversation", has_text="Bruno Consola")
    item.locator("button.open").click()
    expect(page.get_by_role("button", name="Take")).to_be_visible()

    # another agent takes it first: Elena's take is refused with the API's own 409 message
    auth = {"Authorization": f"Bearer {token['token']}"}
    taken = server.request("POST", f"/live/conversations/{item.get_attribute('data-id')}/take", None, auth)
    assert taken.status == 200
    page.get_by_role("button", name="Take").click()
    error = page.get_by_role("alert")
    expect(error).to_be_visible()
    message = error.inner_text().strip()
    assert message and not message.startswith("The Live API answered"), message  # the API's own words
    page.clock.run_for(3000)  # the next poll shows who has it
    expect(item.locator(".badge.taken")).to_have_text("With diego")
    expect(page.get_by_role("button", name="Send")).to_be_hidden()  # not hers to answer
    expect(page.get_by_role("button", name="Take")).to_be_hidden()
    screenshot(page, "08-refused")

    # an hour and a half before the 24-hour window closes, the list warns
    server.advance_to(night + timedelta(hours=22, minutes=30))
    page.clock.run_for(3000)
    expect(item.locator(".warning")).to_have_text(re.compile(r"^Window closes in 1 h (29|30) min$"))
    screenshot(page, "09-window-warning")


def test_past_the_24_hour_window_the_console_offers_an_approved_template(server, graph, page):
    from playwright.sync_api import expect

    browser_errors: list[str] = []
    page.on("pageerror", lambda error: browser_errors.append(str(error)))

    # Given Ana waited overnight and Carla took her chat in the morning
    ana = carla_takes_after_a_night_of_waiting(server, graph, page, "573009990003", "Ana Plantilla")

    # Before she types, the console says until when free text reaches Ana
    notice = page.locator("#window-notice")
    reply_box = page.get_by_label("Reply")
    expect(notice).to_contain_text("You can reply until")
    expect(reply_box).to_be_enabled()
    expect(page.locator("#template-form")).to_be_hidden()

    # 25 hours later, still before typing: the window is closed, free text off, a template offered
    server.advance(25 * 3600)
    closed = (
        "The 24-hour window is closed: send an approved template. Free text works again once the user "
        "answers."
    )
    expect(notice).to_have_text(closed)
    expect(notice).to_have_attribute("role", "status")  # said to screen readers as it changes
    expect(reply_box).to_be_disabled()
    expect(page.get_by_role("button", name="Send", exact=True)).to_be_disabled()
    picker = page.get_by_role("form", name="Send an approved template")
    expect(picker).to_be_visible()
    screenshot(page, "13-window-closed")

    # The picker lists acme's templates; the first parameter is offered Ana's name
    choice = page.get_by_label("Template", exact=True)
    titles = [t.title for t in ACME.agent_templates]
    expect(choice.locator("option")).to_have_text(titles)
    choice.select_option(label="Pedido listo para recoger")
    expect(page.get_by_label("Nombre")).to_have_value("Ana Plantilla")
    preview = page.locator("#template-preview")
    expect(preview).to_have_text(
        "Hola Ana Plantilla, tu pedido [Número de pedido] ya está listo para recoger en [Tienda]."
    )
    page.get_by_label("Número de pedido").fill("4411")
    page.get_by_label("Tienda").fill("Chapinero")
    shown = "Hola Ana Plantilla, tu pedido 4411 ya está listo para recoger en Chapinero."
    expect(preview).to_have_text(shown)
    screenshot(page, "14-template-picker")

    # Enter sends it (no mouse): Ana's WhatsApp gets the template, the transcript shows what she read
    before = len(ana.received())
    page.get_by_label("Tienda").press("Enter")
    transcript = page.locator("#transcript")
    line = transcript.locator(".author-agent", has_text=shown)
    expect(line).to_be_visible()
    expect(line.locator(".kind")).to_have_text("template")
    deadline = time.monotonic() + DELIVERY_TIMEOUT_SECONDS
    while len(ana.received()) == before and time.monotonic() < deadline:
        time.sleep(0.1)
    [received] = ana.received()[before:]
    assert received["template"]["name"] == "acme_pedido_listo"
    assert [p["text"] for p in received["template"]["components"][0]["parameters"]] == [
        "Ana Plantilla",
        "4411",
        "Chapinero",
    ]
    assert page.locator("#error").is_hidden()
    expect(reply_box).to_be_disabled()  # a template does not reopen the window
    expect(page.get_by_label("Nombre")).to_have_value("Ana Plantilla")  # ready for another
    screenshot(page, "15-template-sent")

    # Ana answers: the composer is free text again, and Ctrl+Enter sends
    ana.says("¡Gracias! Paso hoy por la tarde")
    expect(notice).to_contain_text("You can reply until")
    expect(picker).to_be_hidden()
    expect(reply_box).to_be_enabled()
    reply_box.fill("¡Te esperamos, Ana!")
    reply_box.press("Control+Enter")
    expect(transcript.locator(".author-agent", has_text="¡Te esperamos, Ana!")).to_be_visible()
    assert ana.wait_to_read("¡Te esperamos, Ana!")[-1] == "¡Te esperamos, Ana!"
    screenshot(page, "16-free-text-again")
    assert browser_errors == []


def test_typing_a_slash_offers_canned_answers_that_stay_editable(server, graph, page):
    from playwright.sync_api import expect

    browser_errors: list[str] = []
    page.on("pageerror", lambda error: browser_errors.append(str(error)))
    [hours] = [a for a in ACME.canned_answers["es"] if a.shortcut == "horario"]

    # Given Carla took Ana's chat in the morning
    ana = carla_takes_after_a_night_of_waiting(server, graph, page, "573009990004", "Ana Respuestas")

    # When she types "/hor", the console offers acme's "horario" answer, highlighted
    reply_box = page.get_by_label("Reply")
    suggestions = page.get_by_role("listbox", name="Canned answers")
    expect(suggestions).to_be_hidden()
    reply_box.press_sequentially("Hola Ana. /hor")
    option = suggestions.get_by_role("option")
    expect(option).to_have_count(1)
    expect(option).to_contain_text("/horario")
    expect(option).to_contain_text(hours.text[:20])
    expect(option).to_have_attribute("aria-selected", "true")
    expect(reply_box).to_have_attribute("aria-activedescendant", option.get_attribute("id") or "?")
    screenshot(page, "17-canned-answers")

    # Escape closes the list and leaves what she typed; typing on offers it again
    reply_box.press("Escape")
    expect(suggestions).to_be_hidden()
    expect(reply_box).to_have_value("Hola Ana. /hor")
    reply_box.press_sequentially("a")
    expect(option).to_contain_text("/horario")

    # Enter puts the text in place of "/hora"; nothing is sent, and she edits it before sending
    reply_box.press("Enter")
    expect(suggestions).to_be_hidden()
    expect(reply_box).to_have_value(f"Hola Ana. {hours.text}")
    expect(page.locator("#transcript .author-agent")).to_have_count(0)
    reply_box.press_sequentially(" Hoy cerramos a las 17:00.")
    edited = f"Hola Ana. {hours.text} Hoy cerramos a las 17:00."
    expect(reply_box).to_have_value(edited)
    page.get_by_role("button", name="Send", exact=True).click()

    # Ana's WhatsApp gets exactly the edited text
    expect(page.locator("#transcript .author-agent", has_text=edited)).to_be_visible()
    assert ana.wait_to_read(edited)[-1] == edited
    expect(reply_box).to_have_value("")
    assert page.locator("#error").is_hidden()
    assert browser_errors == []


# --- the deployed sign-in: Cognito's hosted page, code + PKCE -------------------------------------


class FakeHostedSignIn(LoopbackServer):
    """Cognito's hosted sign-in on loopback: /oauth2/authorize signs the agent in at once and sends
    a code back; /oauth2/token gives an ID token and a refresh token only for the code's PKCE
    verifier, and a new ID token for a refresh token; /oauth2/revoke revokes one; /logout ends the
    session. Every request is kept for the test to read; ID tokens are the local run's, from
    `issue`."""

    def __init__(self, client_id: str, redirect_uri: str, issue: Callable[[], str]) -> None:
        self.client_id = client_id
        self.redirect_uri = redirect_uri
        self.issued: list[str] = []  # every ID token handed out, in order
        self.authorizations: list[dict[str, str]] = []
        self.exchanges: list[dict[str, str]] = []  # code grants
        self.refreshes: list[dict[str, str]] = []  # refresh-token grants
        self.revocations: list[dict[str, str]] = []
        self.logouts: list[dict[str, str]] = []
        self._challenges: dict[str, str] = {}  # code -> code_challenge
        self._refresh_tokens: set[str] = set()
        outer = self

        def tokens(refresh: str | None) -> dict[str, Any]:
            outer.issued.append(issue())
            answer = {"id_token": outer.issued[-1], "access_token": "access", "token_type": "Bearer"}
            return {**answer, "expires_in": 3600, **({"refresh_token": refresh} if refresh else {})}

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                path, _, query = self.path.partition("?")
                params = dict(parse_qsl(query))
                if path == "/oauth2/authorize":
                    outer.authorizations.append(params)
                    expected = (outer.client_id, outer.redirect_uri)
                    if (params.get("client_id"), params.get("redirect_uri")) != expected:
                        self._answer(400, {"error": "redirect_mismatch"})
                        return
                    code = secrets.token_urlsafe(16)
                    outer._challenges[code] = params.get("code_challenge", "")
                    answer = urlencode({"code": code, "state": params.get("state", "")})
                    self._redirect(f"{outer.redirect_uri}?{answer}")
                elif path == "/logout":
                    outer.logouts.append(params)
                    self._redirect(params.get("logout_uri", outer.redirect_uri))
                else:
                    self._answer(404, {"error": "not_found"})

            def do_POST(self) -> None:
                form = dict(parse_qsl(self.rfile.read(int(self.headers["Content-Length"])).decode()))
                if form.get("client_id") != outer.client_id:
                    self._answer(400, {"error": "invalid_client"})
                elif self.path == "/oauth2/revoke":
                    outer.revocations.append(form)
                    outer._refresh_tokens.discard(form.get("token", ""))
                    self._answer(200, {})
                elif self.path == "/oauth2/token" and form.get("grant_type") == "refresh_token":
                    outer.refreshes.append(form)
                    if form.get("refresh_token") not in outer._refresh_tokens:
                        self._answer(400, {"error": "invalid_grant"})
                        return
                    self._answer(200, tokens(None))  # Cognito keeps the refresh token it gave
                elif self.path == "/oauth2/token" and form.get("grant_type") == "authorization_code":
                    outer.exchanges.append(form)
                    challenge = outer._challenges.pop(form.get("code", ""), None)  # a code works once
                    verifier = form.get("code_verifier", "").encode()
                    derived = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
                    if form.get("redirect_uri") != outer.redirect_uri or derived.decode() != challenge:
                        self._answer(400, {"error": "invalid_grant"})
                        return
                    refresh = secrets.token_urlsafe(24)
                    outer._refresh_tokens.add(refresh)
                    self._answer(200, tokens(refresh))
                else:
                    self._answer(400, {"error": "unsupported_grant_type"})

            def _redirect(self, location: str) -> None:
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                # as Cognito's token endpoint does, so the console's fetch may read the answer
                self.send_header("Access-Control-Allow-Origin", self.headers.get("Origin") or "*")
                self.end_headers()
                self.wfile.write(raw)

        super().__init__(Handler)

    def revoke_all(self) -> None:
        """Every refresh token stops working, as when an administrator signs the agent out."""
        self._refresh_tokens.clear()


@pytest.fixture
def hosted(server: LocalServerProcess, page: Any) -> Iterator[FakeHostedSignIn]:
    """The console as deployed: config.json (what the custom resource publishes) names the sign-in."""

    def issue() -> str:
        return str(server.post("/_local/token", {"tenant_id": "acme", "agent_id": "fabiola"})["token"])

    fake = FakeHostedSignIn("console-client-id", f"{server.url}/console/", issue)
    config = console_site.site_config(
        {
            "ApiUrl": server.url,
            "CognitoDomain": fake.url,
            "ClientId": fake.client_id,
            "RedirectUri": fake.redirect_uri,
        }
    )
    page.route(
        "**/console/config.json",
        lambda route: route.fulfill(status=200, content_type="application/json", body=json.dumps(config)),
    )
    try:
        yield fake
    finally:
        fake.close()


def test_a_deployed_console_signs_in_with_code_and_pkce_and_signs_out_of_the_hosted_page(
    server, hosted, page
):
    from playwright.sync_api import expect

    browser_errors: list[str] = []
    page.on("pageerror", lambda error: browser_errors.append(str(error)))

    # config.json names a hosted sign-in: no local sign-in is offered, only the hosted one
    page.goto(f"{server.url}/console/")
    expect(page.locator("#hosted-sign-in")).to_be_visible()
    expect(page.locator("#local-sign-in")).to_be_hidden()
    screenshot(page, "10-hosted-sign-in")

    # Sign in: to the hosted page and back with a code, which only this tab's verifier redeems
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#who")).to_have_text("fabiola · acme")
    expect(page.locator("#empty")).to_be_visible()  # the Live API answered with the ID token
    (authorization,) = hosted.authorizations
    assert authorization["response_type"] == "code"
    assert authorization["client_id"] == hosted.client_id
    assert authorization["redirect_uri"] == hosted.redirect_uri
    assert "openid" in authorization["scope"].split()
    assert authorization["code_challenge_method"] == "S256"
    assert len(authorization["state"]) >= 32
    (exchange,) = hosted.exchanges
    assert exchange["code_verifier"] and exchange["code_verifier"] != authorization["code_challenge"]
    assert "code=" not in page.url  # a code is single use: it leaves the address bar
    screenshot(page, "11-hosted-signed-in")

    # Sign out ends the hosted session too, revokes the refresh token, and comes back to sign-in
    refresh = page.evaluate("sessionStorage.getItem('handoff.console.refresh')")
    assert refresh
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#hosted-sign-in")).to_be_visible()
    assert hosted.logouts == [{"client_id": hosted.client_id, "logout_uri": hosted.redirect_uri}]
    assert hosted.revocations == [{"token": refresh, "client_id": hosted.client_id}]
    assert page.evaluate("sessionStorage.length") == 0
    assert browser_errors == []


# the console's own state module: the same instance the page runs (modules are kept by URL)
CONSOLE_STATE = "import(new URL('state.js', location.href).href)"


def next_poll(page: Any, done: Callable[[], bool]) -> None:
    """Move the page's clock to its next poll (every minute with live updates, else 2.5 s). A
    refresh under way when the clock jumps sets its timer only once it ends: so a second jump, and
    a third, if the first found none due."""
    for _ in range(3):
        page.clock.fast_forward(61_000)
        page.wait_for_timeout(500)
        if done():
            return


def test_a_deployed_console_renews_its_token_so_a_shift_outlasts_an_hour(server, hosted, page):
    from playwright.sync_api import expect

    page.clock.install()
    page.goto(f"{server.url}/console/")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#who")).to_have_text("fabiola · acme")
    first = hosted.issued[-1]
    token_now = "sessionStorage.getItem('handoff.console.token')"

    # five minutes before the ID token expires, the console renews it with the refresh token
    expires = jwt.decode(first, options={"verify_signature": False})["exp"]
    page.clock.fast_forward(int((expires - time.time() - 5 * 60 + 5) * 1000))
    eventually(lambda: page.evaluate(token_now) != first, "the token renewed before it expires")
    assert page.evaluate(token_now) == hosted.issued[-1]
    assert [r["grant_type"] for r in hosted.refreshes] == ["refresh_token"]

    # a token the API refuses (401) is renewed once and the request made again: no sign-out
    page.evaluate(f"{CONSOLE_STATE}.then((m) => (m.state.token = 'not-a-token'))")
    next_poll(page, lambda: len(hosted.refreshes) == 2)
    eventually(lambda: len(hosted.refreshes) == 2, "a second renewal, after the 401")
    eventually(
        lambda: page.evaluate(f"{CONSOLE_STATE}.then((m) => m.state.token)") == hosted.issued[-1],
        "the renewed token in use",
    )
    assert page.evaluate(token_now) == hosted.issued[-1]
    expect(page.locator("#who")).to_be_visible()
    expect(page.locator("#error")).to_be_hidden()

    # once the refresh token no longer works (revoked, 30 days old), the agent signs in again
    hosted.revoke_all()
    page.evaluate(f"{CONSOLE_STATE}.then((m) => (m.state.token = 'not-a-token'))")
    next_poll(page, lambda: page.locator("#hosted-sign-in").is_visible())
    expect(page.locator("#hosted-sign-in")).to_be_visible()
    expect(page.get_by_role("alert")).to_have_text("Your session has ended; sign in again.")
    screenshot(page, "12-session-ended")


def test_a_sign_in_answer_this_tab_did_not_ask_for_is_refused(server, hosted, page):
    from playwright.sync_api import expect

    page.goto(f"{server.url}/console/?code=stolen-code&state=someone-elses")

    expect(page.get_by_role("alert")).to_contain_text("does not match the request made from this tab")
    expect(page.locator("#hosted-sign-in")).to_be_visible()
    assert hosted.exchanges == []  # the code was never redeemed
