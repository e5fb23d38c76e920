"""`make seed`: a config file validated whole, then loaded tenant by tenant into the table."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml
from moto import mock_aws

from handoff.store.directory import AccountTaken, Directory
from handoff_local.aws import LOCAL_AWS_ENVIRONMENT, provision
from handoff_tools.functions import ROOT, TEMPLATE
from handoff_tools.seed import main

EXAMPLE = ROOT / "examples" / "config.yaml"
INVALID = ROOT / "examples" / "config.invalid.yaml"


@pytest.fixture
def table(monkeypatch) -> Iterator[str]:
    for name, value in LOCAL_AWS_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    from handoff.adapters import clients

    clients.reset()
    with mock_aws():
        yield provision(TEMPLATE).table_name
    clients.reset()


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


def _write_config(path, tenants) -> str:
    path.write_text(yaml.safe_dump({"tenants": tenants}, allow_unicode=True, sort_keys=False))
    return str(path)


def _example_tenants() -> list[dict]:
    return yaml.safe_load(EXAMPLE.read_text())["tenants"]


def test_an_account_dropped_from_a_tenant_stops_routing_to_it(table, tmp_path, capsys):
    assert main([str(EXAMPLE), "--table", table]) == 0
    tenants = _example_tenants()
    acme = next(t for t in tenants if t["tenant_id"] == "acme")
    acme["accounts"] = [a for a in acme["accounts"] if a["channel"] != "messenger"]
    acme["rules"] = [r for r in acme["rules"] if r["channel"] != "messenger"]

    assert main([_write_config(tmp_path / "fewer.yaml", tenants), "--table", table]) == 0

    directory = Directory(table)
    assert directory.tenant_for_account("messenger", "300000000000001") is None
    assert directory.tenant_for_account("whatsapp", "200000000000001") == "acme"
    assert directory.tenant_for_account("instagram", "17841400000000001") == "acme"
    assert "removing messenger 300000000000001 from acme" in capsys.readouterr().out


def test_an_account_of_another_tenant_is_refused_and_nothing_is_written(table, tmp_path, capsys):
    assert main([str(EXAMPLE), "--table", table]) == 0
    capsys.readouterr()
    initech = {
        "tenant_id": "initech",
        "name": "Initech",
        "language": "en",
        "accounts": [
            {"channel": "whatsapp", "account_id": "200000000000009"},
            {"channel": "whatsapp", "account_id": "200000000000002"},  # globex's number
        ],
    }

    assert main([_write_config(tmp_path / "initech.yaml", [initech]), "--table", table]) == 1

    directory = Directory(table)
    assert "initech" not in directory.tenant_ids()
    assert directory.tenant_for_account("whatsapp", "200000000000002") == "globex"
    assert directory.tenant_for_account("whatsapp", "200000000000009") is None
    error = capsys.readouterr().err
    assert "whatsapp account 200000000000002 belongs to tenant 'globex'" in error


def test_seeding_the_same_file_twice_changes_nothing_but_the_version(table):
    assert main([str(EXAMPLE), "--table", table]) == 0
    directory = Directory(table)
    first = directory.versioned_tenant("acme")
    assert main([str(EXAMPLE), "--table", table]) == 0
    second = directory.versioned_tenant("acme")

    assert first is not None and second is not None
    assert second[0] == first[0]
    assert second[1] == first[1] + 1
    assert directory.tenant_for_account("whatsapp", "200000000000001") == "acme"


def test_an_account_moves_between_two_tenants_of_the_file(table, tmp_path, capsys):
    assert main([str(EXAMPLE), "--table", table]) == 0
    tenants = _example_tenants()
    acme = next(t for t in tenants if t["tenant_id"] == "acme")
    globex = next(t for t in tenants if t["tenant_id"] == "globex")
    page = next(a for a in acme["accounts"] if a["channel"] == "messenger")
    acme["accounts"].remove(page)
    acme["rules"] = [r for r in acme["rules"] if r["channel"] != "messenger"]
    globex["accounts"].append(page)
    tenants.reverse()  # globex first: it must wait for acme to release the page

    assert main([_write_config(tmp_path / "moved.yaml", tenants), "--table", table]) == 0

    assert Directory(table).tenant_for_account("messenger", "300000000000001") == "globex"
    out = capsys.readouterr().out
    assert out.index("wrote acme") < out.index("wrote globex")


def test_dry_run_shows_the_accounts_that_would_stop_routing(table, tmp_path, capsys):
    assert main([str(EXAMPLE), "--table", table]) == 0
    tenants = _example_tenants()
    acme = next(t for t in tenants if t["tenant_id"] == "acme")
    acme["accounts"] = [a for a in acme["accounts"] if a["channel"] == "whatsapp"]
    acme["rules"] = [r for r in acme["rules"] if r["channel"] == "whatsapp"]
    capsys.readouterr()

    assert main([_write_config(tmp_path / "fewer.yaml", tenants), "--table", table, "--dry-run"]) == 0

    out = capsys.readouterr().out
    assert "would remove messenger 300000000000001 from acme" in out
    assert "would remove instagram 17841400000000001 from acme" in out
    assert Directory(table).tenant_for_account("messenger", "300000000000001") == "acme"


def test_the_transaction_itself_refuses_another_tenants_account(table):
    """What guards a race the seed's own check cannot see: the account's conditional put."""
    assert main([str(EXAMPLE), "--table", table]) == 0
    directory = Directory(table)
    globex = directory.tenant("globex")
    acme = directory.tenant("acme")
    assert globex is not None and acme is not None
    grab = globex.model_copy(update={"accounts": [*globex.accounts, acme.accounts[0]]})
    before = directory.versioned_tenant("globex")

    with pytest.raises(AccountTaken) as refused:
        directory.save_tenant(grab)

    assert (refused.value.channel, refused.value.account_id, refused.value.owner) == (
        acme.accounts[0].channel,
        acme.accounts[0].account_id,
        "acme",
    )
    assert directory.versioned_tenant("globex") == before  # nothing written
    assert directory.account_owner(acme.accounts[0].channel, acme.accounts[0].account_id) == "acme"
