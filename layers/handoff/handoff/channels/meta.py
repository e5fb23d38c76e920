"""What every Meta channel shares: the webhook signature, the GET handshake, lenient reading of
Meta's JSON, the bounds on what a delivery may carry, and Graph API error classes.

Bounds. A signed delivery is still read as untrusted input, and one bad message is left out
(counted in `ParsedDelivery.ignored`), never allowed to fail the delivery it came in:

- Ids (message, user and account ids) must be valid Unicode: one holding a lone surrogate
  (`"\\ud83d"` in the JSON) cannot be encoded for the queue or DynamoDB, so its message is
  `malformed`. So is a user or account id over `ID_LIMIT` UTF-8 bytes (they become part of
  DynamoDB keys, which hold 1024 bytes) or a message id over `MESSAGE_ID_LIMIT` (it is only ever
  hashed into keys). Meta's ids are ASCII, a few dozen characters (Instagram's mids about 200).
- Texts, tap payloads and names are repaired instead: a lone surrogate becomes U+FFFD, and
  anything over `TEXT_LIMIT` characters (4096, WhatsApp's own limit on a text message) is cut
  there, ending in "…", and counted as `truncated`. So a queued event stays far below SQS's
  256 KiB whatever the delivery held (a WhatsApp delivery may be 3 MB).
- Timestamps must fall in `[EARLIEST_SENT_AT, received + LATEST_AHEAD]`, 2000-01-01 to a day
  after the delivery arrived (`sent_in_range`, applied by the webhook service, which has the
  clock). A message outside is `malformed` and left out rather than given the time it arrived:
  Meta stamps messages itself, so such a timestamp is not a late or early message but a wrong
  one, and a made-up time would misplace it in the transcript and in the 24-hour windows. An
  out-of-range time would otherwise fail the conversation step (year 9999) or stretch what the
  table keeps by decades (year 2100). Meta's redeliveries (up to 7 days late) and the App
  Dashboard's test events (2017, 2018) are well inside.

Graph API errors are classified on `error.code` (plus `error_subcode` for Messenger and Instagram),
as Meta advises, not on the HTTP status; the status decides only when the body carries no code.

- Retryable (the same request may succeed later: throttling, maintenance, a transient failure):
  codes 1, 2, 4, 17, 32, 613, 80002, 80006, 130429, 131000, 131016, 131056, 131057, 133004; HTTP
  429 and 5xx without a code; no response at all. The client never retries by itself: the record
  that owes the message comes back after a backoff (`services/pacing.py`), then the outbox sweep.
- Throttling, among the retryable (Meta asks us to send more slowly): codes 4, 17, 32, 613 (the
  Graph API's application, user and page limits), 80002 and 80006 (Instagram's and Messenger's
  business-use-case limits), 130429 (WhatsApp: the number's throughput reached) and 131056
  (WhatsApp: the pair rate to one user, for which Meta asks to wait 4^X seconds); HTTP 429
  without a code.
- Permanent (it needs a fix, a template, or nothing): every other code, notably 10 (subcodes
  2018278 and 2534022: outside the messaging window), 100, 190, 551, 131026, 131047. An unknown
  code is permanent too, rather than retried for days. A permanent refusal is not sent again: it
  is logged, counted in `DeliveryFailed` (alarmed), and the message's transcript line says "not
  delivered" and why, in Live; a refused access token (190, or a 401 without a code) is also
  counted in `TokenRejected`, with its own alarm, since every reply of that account fails.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from handoff.channels.base import ChannelMessage
from handoff.observability import logger as log

SIGNATURE_PREFIX = "sha256="

TEXT_LIMIT = 4096
"""The most characters kept of a user's text, tap payload or name (WhatsApp's limit on a text)."""
ID_LIMIT = 256
"""The most UTF-8 bytes of a user or account id: part of DynamoDB keys, which hold 1024 bytes."""
MESSAGE_ID_LIMIT = 1024
"""The most UTF-8 bytes of a message id (only ever hashed into keys)."""
EARLIEST_SENT_AT = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_AHEAD = timedelta(days=1)
"""How far after its delivery arrived a message's timestamp may be (clocks differ a little)."""
_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")

RETRYABLE_CODES: frozenset[int] = frozenset(
    {
        1,  # API unknown: "possibly a temporary server error"
        2,  # API service: temporary downtime or overload
        4,  # application request limit reached
        17,  # user request limit reached
        32,  # page-level throttling
        613,  # calls to this API have exceeded the rate limit (Messenger/Instagram Send API too)
        80002,  # Instagram: business use case rate limit (page or system-user tokens)
        80006,  # Messenger: business use case rate limit (page or system-user tokens)
        130429,  # WhatsApp: Cloud API throughput reached
        131000,  # WhatsApp: something went wrong, "try again"
        131016,  # WhatsApp: service temporarily unavailable
        131056,  # WhatsApp: pair rate limit (business, user); Meta suggests retrying after 4^X seconds
        131057,  # WhatsApp: account in maintenance (throughput upgrade, about a minute)
        133004,  # WhatsApp: server temporarily unavailable
    }
)

THROTTLING_CODES: frozenset[int] = frozenset({4, 17, 32, 613, 80002, 80006, 130429, 131056})
"""Meta's answers that mean "too many, too fast": the send is paced back, never refused."""
PAIR_RATE_LIMIT = 131056
"""WhatsApp's limit on messages to one user (one every 6 seconds, bursts borrowed from later)."""

# Refused because the user's messaging window is closed: free text needs a template (WhatsApp) or
# a person's reply tagged HUMAN_AGENT (Messenger 10/2018278, Instagram 10/2534022), and retrying the
# same request cannot help.
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


def is_throttling(code: int | None, http_status: int | None = None) -> bool:
    """Whether Meta answered that the account (or the pair of account and user) sends too fast."""
    if code is not None:
        return code in THROTTLING_CODES
    return http_status == 429


def is_outside_window(code: int | None, subcode: int | None = None) -> bool:
    """Whether Meta refused the message because the user's messaging window is closed."""
    if code is None:
        return False
    return code in OUTSIDE_WINDOW_CODES or (code, subcode) in OUTSIDE_WINDOW_SUBCODES


TOKEN_CODES: frozenset[int] = frozenset({190})
"""The access token is invalid, expired or revoked (OAuthException): every send of the account fails."""


def is_token_error(code: int | None, http_status: int | None = None) -> bool:
    """Whether Meta refused the request because of the access token (code 190, or a bare 401)."""
    return code in TOKEN_CODES or (code is None and http_status == 401)


def read_id(value: Any) -> str | None:
    """An id as a string: Meta sends strings, but numeric-looking ones are accepted as numbers too
    (Messenger's echo `app_id`, handover app ids)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def read_number(value: Any) -> float | None:
    """A finite number at least 0, given as a number or a numeric string (Meta's timestamps); else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer of 309 digits or more
        return None
    return number if 0 <= number < float("inf") else None  # NaN fails both comparisons


def read_text(value: Any) -> str | None:
    """A non-blank string, else None."""
    return value if isinstance(value, str) and value.strip() else None


def sent_in_range(sent_at: datetime, received_at: datetime) -> bool:
    """Whether a message's timestamp is one Meta could have given it: from 2000-01-01 to a day after
    its delivery arrived (see the module's notes)."""
    return EARLIEST_SENT_AT <= sent_at <= received_at + LATEST_AHEAD


def bounded(message: ChannelMessage, tally: DeliveryTally) -> ChannelMessage:
    """`message` as it may be queued and stored: its ids checked, its texts repaired and cut.

    Raises Ignored (`malformed`) for an id that is not valid Unicode or is too long; a text, tap
    payload or name cut at `TEXT_LIMIT` is counted as `truncated` (see the module's notes).
    """
    address = message.address
    ids = [
        (message.event_id, MESSAGE_ID_LIMIT),
        (message.account_id, ID_LIMIT),
        (message.user_id, ID_LIMIT),
        *((value, ID_LIMIT) for value in (address.phone, address.bsuid, address.scoped_id) if value),
    ]
    check_ids(ids)
    texts = {
        name: _repaired(value, tally)
        for name in ("text", "payload", "user_name")
        if (value := getattr(message, name)) is not None
    }
    return message.model_copy(update=texts) if texts else message


def check_ids(ids: list[tuple[str, int]]) -> None:
    """Raise Ignored (`malformed`) for an id that is not valid Unicode or is longer than its limit."""
    for value, limit in ids:
        if _LONE_SURROGATE.search(value):
            raise Ignored("malformed", "an id is not valid Unicode (a lone surrogate)")
        if len(value) > limit or len(value.encode()) > limit:
            raise Ignored("malformed", f"an id is longer than {limit} bytes")


def _repaired(text: str, tally: DeliveryTally) -> str:
    """`text` with each lone surrogate replaced by U+FFFD, cut to `TEXT_LIMIT` characters (counted)."""
    text = _LONE_SURROGATE.sub("\ufffd", text)
    if len(text) > TEXT_LIMIT:
        tally.add("truncated")
        return text[: TEXT_LIMIT - 1] + "…"
    return text


class Ignored(Exception):
    """Raised while parsing one message of a delivery that is not a user message to act on.

    `reason` is what the delivery's tally counts it as; a `malformed` one is also logged with
    `detail`, the reason it could not be read.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason
        self.detail = detail


LOGGED_MALFORMED = 10
"""How many malformed parts of one delivery are logged one by one; the rest are only counted."""


class DeliveryTally:
    """What one webhook delivery held besides user messages, counted by reason.

    A malformed part is counted as `malformed` and logged with where it was and why, never with
    its ids (a wamid encodes a phone number; PSIDs and IGSIDs are personal data too). Only the
    first `LOGGED_MALFORMED` are logged: a 3 MB delivery can hold a million malformed parts, and
    logging each took longer than the webhook's timeout.
    """

    def __init__(self, channel_name: str) -> None:
        self.channel_name = channel_name
        self.counts: Counter[str] = Counter()
        self._logged = 0

    def add(self, reason: str, count: int = 1) -> None:
        if count:
            self.counts[reason] += count

    def malformed(self, where: str, reason: str, count: int = 1) -> None:
        """Count `count` malformed parts found at `where` (one log line for them all)."""
        self.counts["malformed"] += count
        if self._logged < LOGGED_MALFORMED:
            parts = "part" if count == 1 else f"{count} parts"
            log.warning(
                "skipped %s of a %s delivery at %s: %s",
                parts,
                self.channel_name,
                where,
                reason,
                extra={"reason": reason},
            )
        elif self._logged == LOGGED_MALFORMED:
            log.warning("more malformed parts of this %s delivery are counted, not logged", self.channel_name)
        self._logged += 1

    def skip(self, where: str, ignored: Ignored) -> None:
        """Count a message the parser left out (and log it, if it was malformed)."""
        if ignored.reason == "malformed":
            self.malformed(where, ignored.detail)
        else:
            self.add(ignored.reason)

    def objects(self, value: Any, where: str) -> list[dict[str, Any]]:
        """The objects of a JSON array; anything else in it (or instead of it) is counted as malformed."""
        if value is None:
            return []
        if not isinstance(value, list):
            self.malformed(where, "not an array")
            return []
        objects = [item for item in value if isinstance(item, dict)]
        if others := len(value) - len(objects):
            self.malformed(where, "item is not an object", others)
        return objects

    def as_dict(self) -> dict[str, int]:
        return dict(self.counts)
