"""`make token`: local tokens of Cognito's shape, verified as the local authorizer does."""

from __future__ import annotations

import pytest

from handoff_tools import tokens


def test_a_token_names_tenant_agent_groups_and_seats(capsys) -> None:
    assert tokens.main(["acme", "ana", "--seats", "2"]) == 0

    claims = tokens.verify(f"Bearer {capsys.readouterr().out.strip()}")
    assert claims is not None
    named = (claims["custom:tenant_id"], claims["sub"], claims["cognito:groups"])
    assert named == ("acme", "ana", ["agents"])
    assert claims["custom:seats"] == "2"  # text, as Cognito sends number attributes


def test_a_token_carries_the_agents_name_by_default_their_id(capsys) -> None:
    assert tokens.main(["acme", "diego", "--name", "Diego Ruiz"]) == 0
    named = tokens.verify(f"Bearer {capsys.readouterr().out.strip()}")
    assert tokens.main(["acme", "diego"]) == 0
    unnamed = tokens.verify(f"Bearer {capsys.readouterr().out.strip()}")

    assert named is not None and unnamed is not None
    assert (named["name"], named["sub"], unnamed["name"]) == ("Diego Ruiz", "diego", "diego")


def test_an_admin_token_has_no_seats_unless_asked(capsys) -> None:
    assert tokens.main(["acme", "boss", "--admin"]) == 0

    claims = tokens.verify(f"Bearer {capsys.readouterr().out.strip()}")
    assert claims is not None
    assert set(claims["cognito:groups"]) == {"admins", "agents"}
    assert "custom:seats" not in claims


@pytest.mark.parametrize("seats", ["0", "101", "two"])
def test_seats_out_of_range_are_a_usage_error(capsys, seats) -> None:
    with pytest.raises(SystemExit) as exit_:
        tokens.main(["acme", "ana", "--seats", seats])

    assert exit_.value.code == 2
    assert "is not a whole number from 1 to 100" in capsys.readouterr().err
