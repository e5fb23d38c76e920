"""What every Meta channel shares: the webhook signature, the GET handshake and Graph API error classes.

Graph API errors are classified on `error.code` (plus `error_subcode` for Messenger and Instagram),
as Meta advises, not on the HTTP status; the status decides only when the body carries no code.

- Retryable (the same request may succeed later: throttling, maintenance, a transient failure):
  codes 1, 2, 4, 17, 32, 613, 130429, 131000, 131016, 131056, 131057, 133004; HTTP 429 and 5xx
  without a code; no response at all.
- Permanent (it needs a fix, a template, or nothing): every other code, notably 10 (subcodes
  2018278 and 2534022: outside the messaging window), 100, 190, 551, 131026, 131047. An unknown
  code is permanent too: it lands in the dead-letter queue, with an alarm, instead of being
  retried for days.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

SIGNATURE_PREFIX = "sha256="

RETRYABLE_CODES: frozenset[int] = frozenset(
    {
        1,  # API unknown: "possibly a temporary server error"
        2,  # API service: temporary downtime or overload
        4,  # application request limit reached
        17,  # user request limit reached
        32,  # page-level throttling
        613,  # calls to this API have exceeded the rate limit
        130429,  # WhatsApp: Cloud API throughput reached
        131000,  # WhatsApp: something went wrong, "try again"
        131016,  # WhatsApp: service temporarily unavailable
        131056,  # WhatsApp: pair rate limit (business, user); Meta suggests retrying after 4^X seconds
        131057,  # WhatsApp: account in maintenance (throughput upgrade, about a minute)
        133004,  # WhatsApp: server temporarily unavailable
    }
)

# Refused because the user's messaging window is closed: free text needs a template (WhatsApp) or
# a tag (Messenger HUMAN_AGENT), and retrying the same request cannot help.
OUTSIDE_WINDOW_CODES: frozenset[int] = frozenset({131047})
OUTSIDE_WINDOW_SUBCODES: frozenset[tuple[int, int]] = frozenset({(10, 2018278), (10, 2534022)})


def verify_signature(raw_body: bytes, header: str | None, app_secret: str) -> bool:
    """Whether `X-Hub-Signature-256` is the HMAC-SHA256 of the raw body bytes under the app secret.

    Compute over the bytes exactly as received: Meta signs its escaped-unicode serialisation, so a
    parsed and re-serialised body does not match. A missing or malformed header is a mismatch.
    """
    if not header or not app_secret:
        return False
    header = header.strip()
    if not header.lower().startswith(SIGNATURE_PREFIX):
        return False
    received = header[len(SIGNATURE_PREFIX) :].strip().lower()
    if len(received) != 64 or any(c not in "0123456789abcdef" for c in received):
        return False
    expected = hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, received)


def verify_handshake(params: Mapping[str, str], verify_token: str) -> str | None:
    """The challenge to echo (verbatim, as plain text) when Meta's GET subscribe handshake is genuine.

    `None` means answer 403: wrong mode, wrong or missing token, or no challenge. The challenge is
    a string ("an int" in examples, "a random string" in WhatsApp's docs): it is never parsed.
    """
    if not verify_token or params.get("hub.mode") != "subscribe":
        return None
    token = params.get("hub.verify_token")
    challenge = params.get("hub.challenge")
    if token is None or challenge is None or challenge == "":
        return None
    if not hmac.compare_digest(token.encode(), verify_token.encode()):
        return None
    return challenge


def is_retryable(code: int | None, http_status: int | None = None) -> bool:
    """Whether the same Graph request may succeed later (see the table in this module's docstring).

    `code` None with `http_status` None is a connection failure: retryable.
    """
    if code is not None:
        return code in RETRYABLE_CODES
    if http_status is None:
        return True
    return http_status == 429 or http_status >= 500


def is_outside_window(code: int | None, subcode: int | None = None) -> bool:
    """Whether Meta refused the message because the user's messaging window is closed."""
    if code is None:
        return False
    return code in OUTSIDE_WINDOW_CODES or (code, subcode) in OUTSIDE_WINDOW_SUBCODES
