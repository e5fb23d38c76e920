"""Meta's webhook signature (X-Hub-Signature-256), the GET handshake, and Graph error classes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from handoff.channels.meta import is_outside_window, is_retryable, verify_handshake, verify_signature
from handoff_local.payloads import meta_signature

SECRET = "test_app_secret"
EMPTY_DELIVERY = b'{"object":"whatsapp_business_account","entry":[]}'
EMPTY_DELIVERY_SIGNATURE = "sha256=dec6a680679a968e7e0319355b23599cbfc54502c0784668e9618baa0c633756"
EVENTS = Path(__file__).resolve().parents[2] / "events"
WEBHOOK_EVENTS = ("whatsapp_webhook", "messenger_webhook", "instagram_webhook")


def test_reference_test_vector_verifies() -> None:
    assert verify_signature(EMPTY_DELIVERY, EMPTY_DELIVERY_SIGNATURE, SECRET)


def test_the_tests_signature_is_the_reference_one() -> None:
    """Every test signs its deliveries with `meta_signature`: it must agree with Meta's vector."""
    assert meta_signature(EMPTY_DELIVERY, SECRET) == EMPTY_DELIVERY_SIGNATURE


def test_signature_is_over_the_raw_bytes_not_a_reserialisation() -> None:
    # Given Meta's escaped-unicode body, signed as sent
    raw = b'{"object":"page","entry":[{"message":"\\u00e4\\u00f6\\u00e5"}]}'
    header = meta_signature(raw, SECRET)
    # When the same JSON is parsed and serialised again, it is other bytes
    reserialised = json.dumps(json.loads(raw), ensure_ascii=False, separators=(",", ":")).encode()
    assert reserialised != raw
    # Then only the raw bytes verify
    assert verify_signature(raw, header, SECRET)
    assert not verify_signature(reserialised, header, SECRET)


@pytest.mark.parametrize(
    ("header", "why"),
    [
        (None, "missing"),
        ("", "empty"),
        ("dec6a680679a968e7e0319355b23599cbfc54502c0784668e9618baa0c633756", "no sha256= prefix"),
        ("sha1=dec6a680679a968e7e0319355b23599cbfc54502c0784668e9618baa0c633756", "other algorithm"),
        ("sha256=", "no digest"),
        ("sha256=dec6a680", "digest too short"),
        ("sha256=zec6a680679a968e7e0319355b23599cbfc54502c0784668e9618baa0c633756", "not hex"),
        ("sha256=0ec6a680679a968e7e0319355b23599cbfc54502c0784668e9618baa0c633756", "wrong digest"),
        ("sha256=dec6a680679a968e7e0319355b23599cbfc54502c0784668e9618baa0c633756ff", "digest too long"),
    ],
)
def test_missing_or_malformed_headers_do_not_verify(header: str | None, why: str) -> None:
    assert not verify_signature(EMPTY_DELIVERY, header, SECRET), why


def test_other_secret_or_other_body_does_not_verify() -> None:
    assert not verify_signature(EMPTY_DELIVERY, EMPTY_DELIVERY_SIGNATURE, "another_secret")
    assert not verify_signature(EMPTY_DELIVERY + b" ", EMPTY_DELIVERY_SIGNATURE, SECRET)
    assert not verify_signature(EMPTY_DELIVERY, EMPTY_DELIVERY_SIGNATURE, "")


def test_uppercase_hex_and_surrounding_space_are_tolerated() -> None:
    assert verify_signature(
        EMPTY_DELIVERY, " " + EMPTY_DELIVERY_SIGNATURE.upper().replace("SHA256", "sha256"), SECRET
    )


# --- the committed sample events -----------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    sorted(path for folder in WEBHOOK_EVENTS for path in (EVENTS / folder).glob("post_*.json")),
    ids=lambda p: f"{p.parent.name}/{p.stem}",
)
def test_sample_events_are_signed_with_the_local_app_secret(path: Path) -> None:
    event = json.loads(path.read_text(encoding="utf-8"))
    raw = event["body"].encode()
    signed = verify_signature(raw, event["headers"]["x-hub-signature-256"], "local-app-secret")
    assert signed is (path.stem != "post_bad_signature")
    assert raw.isascii(), "Meta sends unicode escaped"


# --- GET handshake ------------------------------------------------------------------------------

TOKEN = "local-verify-token"


def test_handshake_echoes_the_challenge_verbatim() -> None:
    params = {"hub.mode": "subscribe", "hub.verify_token": TOKEN, "hub.challenge": "1158201444"}
    assert verify_handshake(params, TOKEN) == "1158201444"


def test_handshake_challenge_is_a_string_not_a_number() -> None:
    params = {"hub.mode": "subscribe", "hub.verify_token": TOKEN, "hub.challenge": "00a-Random_string"}
    assert verify_handshake(params, TOKEN) == "00a-Random_string"


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1158201444"},
        {"hub.mode": "subscribe", "hub.challenge": "1158201444"},
        {"hub.verify_token": TOKEN, "hub.challenge": "1158201444"},
        {"hub.mode": "unsubscribe", "hub.verify_token": TOKEN, "hub.challenge": "1158201444"},
        {"hub.mode": "subscribe", "hub.verify_token": TOKEN},
        {"hub.mode": "subscribe", "hub.verify_token": TOKEN, "hub.challenge": ""},
        {"hub_mode": "subscribe", "hub_verify_token": TOKEN, "hub_challenge": "1158201444"},
        {},
    ],
)
def test_handshake_refused(params: dict[str, str]) -> None:
    assert verify_handshake(params, TOKEN) is None


def test_handshake_refused_when_no_token_is_configured() -> None:
    assert (
        verify_handshake({"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"}, "") is None
    )


# --- Graph error classes ------------------------------------------------------------------------


@pytest.mark.parametrize("code", [130429, 131056, 131057, 2, 4, 613, 131000, 131016, 133004])
def test_transient_codes_are_retryable(code: int) -> None:
    assert is_retryable(code, 400)


@pytest.mark.parametrize("code", [131047, 100, 190, 131026, 10, 551, 132001, 131062])
def test_permanent_codes_are_not_retryable(code: int) -> None:
    assert not is_retryable(code, 400)
    assert not is_retryable(code, 500), "the code decides, not the HTTP status"


@pytest.mark.parametrize(
    ("status", "retryable"), [(None, True), (500, True), (503, True), (429, True), (400, False)]
)
def test_without_a_code_the_http_status_decides(status: int | None, retryable: bool) -> None:
    assert is_retryable(None, status) is retryable


def test_outside_window_errors() -> None:
    assert is_outside_window(131047)
    assert is_outside_window(10, 2018278)
    assert is_outside_window(10, 2534022)
    assert not is_outside_window(10, 2018065)
    assert not is_outside_window(130429)
    assert not is_outside_window(None)
