"""Who calls Live: tenant, agent, groups and the agent's own seats, from the authorizer's claims."""

from __future__ import annotations

import pytest

from handoff.api.callers import NotAuthorized, agent_from_claims, live_agent_from_claims

CLAIMS = {"sub": "u-1", "custom:tenant_id": "acme", "cognito:groups": "[agents]"}


@pytest.mark.parametrize(
    ("raw", "seats"),
    [
        ("5", 5),  # Cognito sends number attributes as text
        (" 12 ", 12),
        (7, 7),
        ("1", 1),
        ("100", 100),
        ("0", None),  # out of range: the tenant's agent_seats apply
        ("101", None),
        ("-3", None),
        ("2.5", None),
        ("many", None),
        ("", None),
        (None, None),
    ],
)
def test_an_agents_own_seats_come_from_custom_seats(raw, seats) -> None:
    claims = {**CLAIMS, "custom:seats": raw} if raw is not None else CLAIMS

    assert live_agent_from_claims(claims).seats == seats


def test_a_token_without_tenant_or_subject_names_no_agent() -> None:
    for missing in ("sub", "custom:tenant_id"):
        with pytest.raises(NotAuthorized):
            agent_from_claims({k: v for k, v in CLAIMS.items() if k != missing})
