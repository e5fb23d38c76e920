"""Config as code: the JSON Schema is current, the dry run shows the difference, apply uses the API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from conftest import CONFIG
from handoff_local.runtime import LocalRun
from handoff_tools import config as config_command
from handoff_tools.config_file import _read_yaml, load_config


def as_admin(run: LocalRun) -> config_command.Transport:
    def call(method: str, path: str, body: dict[str, Any] | None, tenant_id: str) -> tuple[int, Any]:
        response = run.http(method, path, body=body, headers=run.as_admin(tenant_id))
        return response.status, response.json()

    return call


def edited_config(tmp_path: Path) -> Path:
    text = CONFIG.read_text(encoding="utf-8").replace("agent_seats: 3", "agent_seats: 7", 1)
    assert text != CONFIG.read_text(encoding="utf-8")
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_committed_json_schema_is_generated_from_the_models() -> None:
    assert config_command.SCHEMA_PATH.read_text(encoding="utf-8") == config_command.json_schema(), (
        "schema/config.schema.json is stale: run python -m handoff_tools.config schema"
    )
    assert config_command.main(["schema", "--check"]) == 0


def test_editors_accept_the_example_and_flag_a_wrong_type() -> None:
    validator = jsonschema.Draft202012Validator(json.loads(config_command.SCHEMA_PATH.read_text()))
    document, _ = _read_yaml(CONFIG.read_text(encoding="utf-8"), str(CONFIG))
    as_editors_see_it = json.loads(json.dumps(document, default=str))  # YAML dates are plain strings there

    assert list(validator.iter_errors(as_editors_see_it)) == []
    wrong = {"tenants": [{"tenant_id": "a", "rules": [{"channel": "web", "after_hours": "maybe"}]}]}
    assert [e.message for e in validator.iter_errors(wrong)] == ["'maybe' is not of type 'boolean'"]


def test_the_dry_run_prints_the_difference_and_changes_nothing(run: LocalRun, tmp_path: Path) -> None:
    tenants = load_config(edited_config(tmp_path))
    before = run.http("GET", "/admin/config", headers=run.as_admin("acme")).json()

    changes = config_command.plan(tenants, as_admin(run), apply=False)
    printed = config_command.report(changes, applied=False)

    acme = next(change for change in changes if change.tenant_id == "acme")
    assert '-  "agent_seats": 3,' in acme.diff and '+  "agent_seats": 7,' in acme.diff
    assert "acme: would change (dry run; nothing sent)" in printed
    assert "globex: no change" in printed
    assert run.http("GET", "/admin/config", headers=run.as_admin("acme")).json() == before


def test_apply_writes_the_changed_tenants_with_their_version(run: LocalRun, tmp_path: Path) -> None:
    tenants = load_config(edited_config(tmp_path))
    version = run.http("GET", "/admin/config", headers=run.as_admin("acme")).json()["version"]

    applied = config_command.plan(tenants, as_admin(run), apply=True)
    again = config_command.plan(tenants, as_admin(run), apply=False)

    assert next(c for c in applied if c.tenant_id == "acme").applied_version == version + 1
    stored = run.http("GET", "/admin/agent-seats", headers=run.as_admin("acme")).json()
    assert stored == {"version": version + 1, "agent_seats": 7}
    assert all(change.diff == [] for change in again)


def test_a_file_the_api_refuses_is_reported(run: LocalRun, tmp_path: Path) -> None:
    [acme, *_] = load_config(CONFIG)
    moved = acme.model_copy(update={"accounts": acme.accounts[:1]})

    with pytest.raises(config_command.ApplyFailed, match="make seed"):
        config_command.plan([moved], as_admin(run), apply=True)


def test_an_invalid_file_is_refused_before_anything_is_sent(tmp_path: Path, capsys) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("tenants:\n  - tenant_id: acme\n    rules: [{channel: web, after_hours: true}]\n")

    code = config_command.main(["diff", str(path), "--url", "http://127.0.0.1:9", "--local"])

    assert code == 1
    assert "the after-hours mode is not available on the web channel" in capsys.readouterr().err
