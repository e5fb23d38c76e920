"""`make seed`: a config file validated whole, then loaded tenant by tenant into the table."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws

from handoff.store.directory import Directory
from handoff_local.aws import LOCAL_AWS_ENVIRONMENT, provision
from handoff_local.runtime import ROOT, TEMPLATE
from handoff_local.seed import main

EXAMPLE = ROOT / "examples" / "config.yaml"
INVALID = ROOT / "examples" / "config.invalid.yaml"


@pytest.fixture
def table(monkeypatch) -> Iterator[str]:
    for name, value in LOCAL_AWS_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    from handoff import aws

    aws.reset()
    with mock_aws():
        yield provision(TEMPLATE).table_name
    aws.reset()


def test_the_example_is_loaded_and_routes_its_accounts(table, capsys):
    assert main([str(EXAMPLE), "--table", table]) == 0
    directory = Directory(table)
    assert sorted(directory.tenant_ids()) == ["acme", "globex"]
    assert directory.tenant_for_account("whatsapp", "200000000000001") == "acme"
    assert directory.tenant_for_account("whatsapp", "200000000000002") == "globex"
    acme = directory.tenant("acme")
    assert acme is not None and acme.rule_for("whatsapp").after_hours
    assert "2 tenant(s) loaded" in capsys.readouterr().out


def test_dry_run_writes_nothing(table, capsys):
    assert main([str(EXAMPLE), "--table", table, "--dry-run"]) == 0
    assert Directory(table).tenant_ids() == []
    assert "would write acme" in capsys.readouterr().out


def test_an_invalid_file_writes_nothing_and_says_why(table, capsys):
    assert main([str(INVALID), "--table", table]) == 1
    assert Directory(table).tenant_ids() == []
    assert "the after-hours mode is not available on the web channel" in capsys.readouterr().err


def test_no_target_is_a_usage_error():
    with pytest.raises(SystemExit) as exit_:
        main([str(EXAMPLE)])
    assert exit_.value.code == 2
