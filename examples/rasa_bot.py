"""An example bot that speaks Rasa's REST channel format: what a tenant's `bot.kind: http` talks to.

    python examples/rasa_bot.py --port 5005 [--secret S]    # or RASA_BOT_SECRET=S

It answers `POST /webhooks/rest/webhook`. The request is

    {"sender": "<bot session id>", "message": "<what the user wrote, or a button's payload>",
     "metadata": {"channel": ..., "language": "es|pt|en", "conversation_id": ..., "session": 1,
                  "message_id": ..., "kind": "text", "user_name": ...}}

and the answer a list of messages, said in order: `{"text": ...}`, a text with `"buttons":
[{"title": ..., "payload": ...}]` (a tapped button sends its payload back as the message), and
`{"custom": {"handoff": true}}` to hand the user to a person (the texts before it are said first).
With a secret it checks `X-Handoff-Signature: sha256=<hex HMAC-SHA256 of the body>` and answers 401
when it is wrong. Standard library only; `start()` runs it on loopback for the demo and the tests.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PATH = "/webhooks/rest/webhook"
PAYLOADS = ("/hours", "/orders", "/agent")
HANDOFF_WORDS = re.compile(r"\b(agente|atendente|agent)\b", re.IGNORECASE)
TEXTS: dict[str, dict[str, Any]] = {
    "es": {
        "menu": "¡Hola! Soy el asistente virtual. ¿En qué te ayudo?",
        "buttons": ("Horarios", "Pedidos", "Hablar con un agente"),
        "/hours": "Atendemos de lunes a viernes, de 9:00 a 18:00.",
        "/orders": "Escribe tu número de pedido y te cuento cómo va.",
        "handoff": "Te comunico con una persona.",
    },
    "pt": {
        "menu": "Olá! Sou o assistente virtual. Como posso ajudar?",
        "buttons": ("Horários", "Pedidos", "Falar com um atendente"),
        "/hours": "Atendemos de segunda a sexta, das 9h às 18h.",
        "/orders": "Escreva o número do seu pedido e eu te conto como está.",
        "handoff": "Vou te transferir para uma pessoa.",
    },
    "en": {
        "menu": "Hi! I'm the virtual assistant. How can I help?",
        "buttons": ("Opening hours", "Orders", "Talk to an agent"),
        "/hours": "We're open Monday to Friday, 9:00 to 18:00.",
        "/orders": "Write your order number and I'll tell you how it's going.",
        "handoff": "I'm putting you through to a person.",
    },
}


def answer(message: str, language: str = "es") -> list[dict[str, Any]]:
    """The bot's messages for one user message (without `recipient_id`, which the server adds)."""
    texts = TEXTS.get(language, TEXTS["es"])
    said = message.strip()
    if said == "/agent" or HANDOFF_WORDS.search(said):
        return [{"text": texts["handoff"]}, {"custom": {"handoff": True}}]
    if said in ("/hours", "/orders"):
        return [{"text": texts[said]}]
    buttons = [{"title": t, "payload": p} for t, p in zip(texts["buttons"], PAYLOADS, strict=True)]
    return [{"text": texts["menu"], "buttons": buttons}]  # a greeting, or anything it does not know


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return header is not None and hmac.compare_digest(expected, header)


class RasaBotServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], secret: str | None = None) -> None:
        super().__init__(address, Handler)
        self.secret = secret


class Handler(BaseHTTPRequestHandler):
    server: RasaBotServer

    def do_POST(self) -> None:
        status, value = self.respond(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        data = json.dumps(value, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def respond(self, body: bytes) -> tuple[int, Any]:
        if self.path != PATH:
            return 404, {"error": "not found"}
        secret = self.server.secret
        if secret and not signature_ok(secret, body, self.headers.get("X-Handoff-Signature")):
            return 401, {"error": "bad signature"}
        try:
            request = json.loads(body)
            sender, message = request["sender"], request["message"]
            language = (request.get("metadata") or {}).get("language", "es")
        except (ValueError, KeyError, TypeError, AttributeError):
            return 400, {"error": "expected {sender, message, metadata}"}
        return 200, [{"recipient_id": sender, **m} for m in answer(str(message), str(language))]

    def log_message(self, format: str, *args: Any) -> None:  # no access log: it would show users' ids
        pass


def start(port: int = 0, secret: str | None = None) -> tuple[RasaBotServer, int]:
    """Serve on 127.0.0.1:`port` (0: a free one) from a daemon thread; the server and its port.
    Stop it with `server.shutdown(); server.server_close()`."""
    server = RasaBotServer(("127.0.0.1", port), secret)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def main() -> None:
    parser = argparse.ArgumentParser(description="An example bot in Rasa's REST channel format.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5005)
    parser.add_argument("--secret", default=os.environ.get("RASA_BOT_SECRET"), help="check signatures")
    args = parser.parse_args()
    server = RasaBotServer((args.host, args.port), args.secret)
    print(f"rasa_bot: POST http://{args.host}:{server.server_address[1]}{PATH}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
