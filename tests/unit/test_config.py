"""The tenant config: SPEC "Configuration rules", the YAML loader, and its readable errors."""

from __future__ import annotations

import itertools
import re
import textwrap
from datetime import date, time
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from handoff.config.models import ChannelAccount, HandoffRule, Intent, TenantConfig
from handoff_tools.config_file import (
    ConfigError,
    Problem,
    _read_yaml,
    file_problems,
    load_config,
    parse_config,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "config.yaml"
INVALID_EXAMPLE = ROOT / "examples" / "config.invalid.yaml"

WEB_REFUSED = "web channel: the after-hours mode is not available on the web channel"


def not_live_refused(channel: str, kind: str) -> str:
    return (
        f"{channel} channel: the after-hours mode works only with the conventional handoff to Live "
        f"(type 'live'), not with type {kind!r}"
    )


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as refused:
        parse_config(textwrap.dedent(text), source="test.yaml")
    return [f"{problem.path}: {problem.message}" for problem in refused.value.problems]


def tenant_yaml(body: str = "", tenant_id: str = "acme", account: str = "200000000000001") -> str:
    return textwrap.dedent(f"""\
        - tenant_id: {tenant_id}
          accounts:
            - {{channel: whatsapp, account_id: "{account}"}}
        """) + textwrap.indent(textwrap.dedent(body), "  ")


# --- SPEC "Configuration rules" -----------------------------------------------------------------


def test_after_hours_on_the_web_channel_is_refused() -> None:
    with pytest.raises(ValidationError) as refused:
        HandoffRule(channel="web", after_hours=True)
    assert WEB_REFUSED in str(refused.value)


@pytest.mark.parametrize("kind", ["script", "preform"])
@pytest.mark.parametrize("channel", ["whatsapp", "messenger", "instagram"])
def test_after_hours_with_script_or_preform_is_refused(channel: str, kind: str) -> None:
    with pytest.raises(ValidationError) as refused:
        HandoffRule.model_validate({"channel": channel, "type": kind, "after_hours": True})
    assert not_live_refused(channel, kind) in str(refused.value)


@pytest.mark.parametrize(
    ("channel", "kind", "after_hours"),
    list(
        itertools.product(
            ["whatsapp", "messenger", "instagram", "web"], ["live", "script", "preform"], [True, False]
        )
    ),
)
def test_after_hours_is_accepted_exactly_on_live_rules_of_async_channels(
    channel: str, kind: str, after_hours: bool
) -> None:
    allowed = not after_hours or (channel != "web" and kind == "live")
    config = {"channel": channel, "type": kind, "after_hours": after_hours}
    if allowed:
        assert HandoffRule.model_validate(config).after_hours is after_hours
    else:
        with pytest.raises(ValidationError):
            HandoffRule.model_validate(config)


def test_each_channel_has_its_own_rule_and_only_one() -> None:
    accounts = [
        {"channel": "whatsapp", "account_id": "1"},
        {"channel": "messenger", "account_id": "2"},
        {"channel": "instagram", "account_id": "3"},
    ]
    rules = [
        {"channel": "whatsapp", "after_hours": True, "direct": True},
        {"channel": "messenger", "after_hours": False},
    ]
    acme = TenantConfig.model_validate({"tenant_id": "acme", "accounts": accounts, "rules": rules})
    whatsapp, messenger = acme.rule_for("whatsapp"), acme.rule_for("messenger")
    assert whatsapp is not None and whatsapp.after_hours and whatsapp.direct
    assert messenger is not None and not messenger.after_hours
    assert acme.rule_for("instagram") is None
    with pytest.raises(
        ValidationError, match=r"only one handoff rule per channel \(rules\[0\] and rules\[2\]\)"
    ):
        TenantConfig.model_validate({"tenant_id": "acme", "rules": [*rules, {"channel": "whatsapp"}]})


# --- other validation ---------------------------------------------------------------------------


@pytest.mark.parametrize("tenant_id", ["Acme", "acme corp", "-acme", "", "a" * 64, "acmé"])
def test_tenant_ids_are_lowercase_slugs(tenant_id: str) -> None:
    with pytest.raises(ValidationError, match="use lowercase letters, digits and '-'"):
        TenantConfig(tenant_id=tenant_id)


def test_account_ids_of_meta_channels_are_numeric() -> None:
    assert ChannelAccount.model_validate(
        {"channel": "whatsapp", "account_id": 200000000000001}
    ).account_id == ("200000000000001")
    with pytest.raises(ValidationError, match="must be the numeric id Meta gives"):
        ChannelAccount(channel="messenger", account_id="my-page")
    assert ChannelAccount(channel="web", account_id="acme-site").account_id == "acme-site"


@pytest.mark.parametrize(
    ("intent", "message"),
    [
        ({"name": "a", "keywords": {}}, "intent 'a': give it at least one keyword"),
        ({"name": "a", "keywords": {"es": []}, "handoff": True}, "intent 'a': give it at least one keyword"),
        (
            {"name": "a", "keywords": {"es": ["precio"]}},
            "intent 'a': give it an answer (or set handoff: true)",
        ),
        (
            {"name": "a", "keywords": {"es": ["precio"]}, "answer": {"es": " "}},
            "intent 'a': answer (es): the text is empty",
        ),
        (
            {"name": "a", "keywords": {"es": ["¿?"]}, "handoff": True},
            "intent 'a': keyword '¿?' (es) has no letters or digits, so it can never match",
        ),
    ],
)
def test_intents_that_could_never_work_are_refused(intent: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Intent.model_validate(intent)
    assert message in str(refused.value)


def test_templates_are_known_by_purpose() -> None:
    template = {"name": "agent_ready", "language": "es"}
    rule = HandoffRule.model_validate({"channel": "whatsapp", "templates": {"agent_available": template}})
    assert rule.templates["agent_available"].name == "agent_ready"
    with pytest.raises(ValidationError, match="unknown template purpose 'agent_availabe'"):
        HandoffRule.model_validate({"channel": "whatsapp", "templates": {"agent_availabe": template}})


# --- the example files --------------------------------------------------------------------------


def test_the_example_config_loads() -> None:
    acme, globex = load_config(EXAMPLE)

    assert (acme.tenant_id, acme.language) == ("acme", "es")
    assert ("whatsapp", "200000000000001") in {(a.channel, a.account_id) for a in acme.accounts}
    rule = acme.rule_for("whatsapp")
    assert rule is not None
    assert (rule.type, rule.after_hours, rule.direct) == ("live", True, False)
    hours = rule.business_hours
    assert hours is not None and hours.timezone == "America/Bogota"
    for day in ("mon", "tue", "wed", "thu", "fri"):
        assert [(r.start, r.end) for r in hours.weekly[day]] == [(time(9), time(18))]
    assert [(r.start, r.end) for r in hours.weekly["sat"]] == [(time(9), time(13))]
    assert "sun" not in hours.weekly
    assert date(2026, 12, 25) in hours.closed_dates
    assert hours.exceptions and hours.exceptions[0].date == date(2026, 12, 24)
    assert {i.name for i in acme.bot.intents} >= {"order_status", "opening_hours", "talk_to_agent"}
    assert any(i.handoff for i in acme.bot.intents)
    assert all(set(i.keywords) == {"es", "pt", "en"} for i in acme.bot.intents)

    assert (globex.tenant_id, globex.language) == ("globex", "pt")
    assert [(a.channel, a.account_id) for a in globex.accounts] == [("whatsapp", "200000000000002")]
    globex_rule = globex.rule_for("whatsapp")
    assert globex_rule is not None and globex_rule.after_hours and globex_rule.direct
    assert globex_rule.business_hours is not None
    assert globex_rule.business_hours.timezone == "America/Sao_Paulo"


INVALID_EXAMPLE_PROBLEMS = [
    f"tenants[0].rules[0]: {WEB_REFUSED}",
    f"tenants[0].rules[1]: {not_live_refused('messenger', 'script')}",
    f"tenants[0].rules[2]: {not_live_refused('instagram', 'preform')}",
    "tenants[0].rules[2]: instagram channel: the tenant has no instagram account, so this rule can never "
    "apply; add the account under accounts, or remove the rule",
    "tenants[0].rules[3].afterhours: unknown field: check its spelling and indentation",
    "tenants[0].rules[3].business_hours.timezone: unknown IANA time zone 'America/Bogata'",
    "tenants[0].rules[3].business_hours.weekly.mon[0]: time range 09:00-09:00 is empty",
    "tenants[0].messages.es.offer_yes: the button title 'Sí, quiero esperar a un agente' is 30 characters "
    "long; WhatsApp reply buttons and Messenger/Instagram quick replies allow at most 20",
    "tenants[0].messages.fr: not an allowed key: should be 'es', 'pt' or 'en'",
    "tenants[1].tenant_id: tenant id 'acme' is already used by tenants[0]",
    "tenants[1].accounts[0]: whatsapp account 200000000000001 is already claimed by tenant 'acme' "
    "(tenants[0].accounts[0]); an account routes its messages to one tenant only",
    "tenants[1].bot: intent 'hours' is defined twice",
    "tenants[2].tenant_id: tenant_id 'Bad Id': use lowercase letters, digits and '-', starting with a "
    "letter or digit, at most 63 characters",
    "tenants[2].accounts[0]: whatsapp account: account_id 'abc' must be the numeric id Meta gives "
    "(phone_number_id, page id or Instagram account id)",
    "tenants[2].bot.intents[0]: intent 'prices': give it an answer (or set handoff: true)",
    "tenants[2].bot.intents[1]: intent 'puzzled': keyword '¿?' (es) has no letters or digits, so it can "
    "never match",
    "tenants[3]: whatsapp channel: only one handoff rule per channel (rules[0] and rules[1])",
]


def test_the_invalid_example_fails_with_every_expected_problem() -> None:
    with pytest.raises(ConfigError) as refused:
        load_config(INVALID_EXAMPLE)
    error = refused.value
    assert [f"{p.path}: {p.message}" for p in error.problems] == INVALID_EXAMPLE_PROBLEMS
    # each problem points at its line, in file order, and the message lists them all
    lines = [p.line for p in error.problems]
    assert all(isinstance(line, int) for line in lines)
    assert lines == sorted(lines)  # type: ignore[type-var]
    text = str(error)
    assert text.startswith(
        f"{INVALID_EXAMPLE}: the configuration has {len(INVALID_EXAMPLE_PROBLEMS)} problems:"
    )
    assert f"  - tenants[0].rules[0]: {WEB_REFUSED} (line 10)" in text.splitlines()
    assert "Value error" not in text and "pydantic" not in text


# --- the loader ---------------------------------------------------------------------------------


def test_a_yaml_syntax_error_names_its_line() -> None:
    text = "tenants:\n  - tenant_id: acme\n    accounts: [\n  - tenant_id: globex\n"
    with pytest.raises(ConfigError) as refused:
        parse_config(text, source="broken.yaml")
    (problem,) = refused.value.problems
    assert problem.message.startswith("YAML syntax error: ")
    assert problem.line == 4
    assert str(refused.value).startswith("broken.yaml: the configuration has 1 problem:")
    assert "(line 4, column" in str(refused.value)


def test_a_key_written_twice_is_refused_with_both_lines() -> None:
    text = tenant_yaml("rules: []\nrules: [{channel: whatsapp}]\n")
    with pytest.raises(ConfigError) as refused:
        parse_config(f"tenants:\n{textwrap.indent(text, '  ')}")
    (problem,) = refused.value.problems
    assert (
        problem.message
        == "YAML syntax error: the key 'rules' appears twice in the same mapping (first at line 5)"
    )
    assert problem.line == 6


def test_the_same_account_in_two_tenants_is_refused() -> None:
    problems = problems_of(
        "tenants:\n" + textwrap.indent(tenant_yaml() + tenant_yaml(tenant_id="globex"), "  ")
    )
    assert problems == [
        "tenants[1].accounts[0]: whatsapp account 200000000000001 is already claimed by tenant 'acme' "
        "(tenants[0].accounts[0]); an account routes its messages to one tenant only"
    ]


def test_the_same_account_twice_in_one_tenant_is_refused() -> None:
    body = 'accounts:\n  - {channel: whatsapp, account_id: "1"}\n  - {channel: whatsapp, account_id: 1}\n'
    problems = problems_of(f"tenants:\n  - tenant_id: acme\n{textwrap.indent(body, '    ')}")
    assert problems == [
        "tenants[0].accounts[1]: whatsapp account 1 is already claimed by tenant 'acme' "
        "(tenants[0].accounts[0]); an account routes its messages to one tenant only"
    ]


def test_the_same_id_on_two_channels_is_two_accounts() -> None:
    raw = [
        {"tenant_id": "a", "accounts": [{"channel": "messenger", "account_id": "7"}]},
        {"tenant_id": "b", "accounts": [{"channel": "instagram", "account_id": "7"}]},
    ]
    assert file_problems(raw) == []


def test_duplicate_tenant_ids_are_refused() -> None:
    problems = problems_of(
        "tenants:\n" + textwrap.indent(tenant_yaml() + tenant_yaml(account="200000000000002"), "  ")
    )
    assert problems == ["tenants[1].tenant_id: tenant id 'acme' is already used by tenants[0]"]


def test_a_rule_for_a_channel_without_an_account_is_refused() -> None:
    problems = problems_of(
        "tenants:\n" + textwrap.indent(tenant_yaml("rules: [{channel: messenger}]\n"), "  ")
    )
    assert problems == [
        "tenants[0].rules[0]: messenger channel: the tenant has no messenger account, so this rule can "
        "never apply; add the account under accounts, or remove the rule"
    ]


def test_nothing_is_returned_when_one_tenant_is_invalid() -> None:
    good = tenant_yaml("rules: [{channel: whatsapp, after_hours: true}]\n")
    bad = tenant_yaml("rules: [{channel: whatsapp, type: script, after_hours: true}]\n", "globex", "2")
    result: list[TenantConfig] | None = None
    with pytest.raises(ConfigError) as refused:
        result = parse_config("tenants:\n" + textwrap.indent(good + bad, "  "))
    assert result is None
    assert [p.path for p in refused.value.problems] == ["tenants[1].rules[0]"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", [": the file is empty; the file must be a mapping with one key, tenants"]),
        ("- tenant_id: acme\n", [": the file must be a mapping with one key, tenants"]),
        ("tenant: []\n", ["tenant: unknown key at the top level", "tenants: missing: list the tenants"]),
        ("tenants: acme\n", ["tenants: must be a list of tenants"]),
        ("tenants: []\n", ["tenants: the list is empty; the file must hold at least one tenant"]),
        ("tenants:\n  - acme\n", ["tenants[0]: should be a valid dictionary or instance of TenantConfig"]),
    ],
)
def test_the_file_must_hold_a_list_of_tenants(text: str, expected: list[str]) -> None:
    problems = problems_of(text)
    assert len(problems) == len(expected)
    for problem, start in zip(problems, expected, strict=True):
        assert problem.startswith(start)


def test_only_plain_decimals_are_read_as_numbers() -> None:
    # YAML 1.2 reads 0123, 0x1F, 0o17 and 1_000 as integers: an unquoted id would lose its leading
    # zero and become another id, so they are kept as written
    document, _ = _read_yaml("ids: [0123, 0x1F, 0o17, 1_000, 200000000000001, -7, 0]\n", "<test>")
    assert list(document["ids"]) == ["0123", "0x1F", "0o17", "1_000", 200000000000001, -7, 0]


def test_yaml_is_read_with_yaml_1_2_scalars() -> None:
    body = """\
        rules:
          - channel: whatsapp
            after_hours: yes
            business_hours:
              timezone: UTC
              weekly: {mon: [{start: 09:30, end: 18:00}]}
        bot:
          intents:
            - {name: answers, keywords: {en: [no, yes, on, off]}, answer: {en: ok}}
        """
    (acme,) = parse_config("tenants:\n" + textwrap.indent(tenant_yaml(body), "  "))
    assert acme.bot.intents[0].keywords["en"] == ["no", "yes", "on", "off"]  # not booleans
    rule = acme.rule_for("whatsapp")
    assert rule is not None and rule.after_hours is True
    assert rule.business_hours is not None
    # 18:00 is a time, not 1080 (YAML 1.1 reads it as a base-60 number, pydantic as seconds)
    assert [(r.start, r.end) for r in rule.business_hours.weekly["mon"]] == [(time(9, 30), time(18))]
    # and a time without its leading zero is refused, not read as 570 seconds
    problems = problems_of("tenants:\n" + textwrap.indent(tenant_yaml(body.replace("09:30", "9:30")), "  "))
    assert problems == [
        "tenants[0].rules[0].business_hours.weekly.mon[0].start: should be in a valid time format, "
        "input is too short (got '9:30')"
    ]


def test_unquoted_account_ids_are_read_as_text() -> None:
    (acme,) = parse_config(
        "tenants:\n  - tenant_id: acme\n    accounts: [{channel: whatsapp, account_id: 200000000000001}]\n"
    )
    assert acme.accounts[0].account_id == "200000000000001"


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config(tmp_path / "nope.yaml")


def test_problems_print_path_message_and_line() -> None:
    assert str(Problem("tenants[0]", "wrong", line=3)) == "tenants[0]: wrong (line 3)"
    assert (
        str(Problem("", "YAML syntax error: x", line=3, column=5))
        == "YAML syntax error: x (line 3, column 5)"
    )
    assert str(Problem("tenants", "missing")) == "tenants: missing"


def test_templates_are_refused_outside_whatsapp():
    with pytest.raises(ValidationError, match="templates are a WhatsApp feature"):
        HandoffRule.model_validate(
            {"channel": "messenger", "templates": {"agent_available": {"name": "x", "language": "en"}}}
        )


# --- agents' templates ----------------------------------------------------------------------------


def agent_template(**changes: Any) -> dict[str, Any]:
    return {
        "name": "order_ready",
        "language": "es",
        "title": "Pedido listo",
        "parameters": ["Nombre", "Pedido"],
        "text": "Hola {{1}}, tu pedido {{2}} está listo.",
        **changes,
    }


def with_agent_templates(*templates: dict[str, Any], channel: str = "whatsapp") -> TenantConfig:
    account = "200000000000001" if channel == "whatsapp" else "300000000000001"
    return TenantConfig.model_validate(
        {
            "tenant_id": "acme",
            "accounts": [{"channel": channel, "account_id": account}],
            "agent_templates": list(templates),
        }
    )


def test_the_example_offers_agents_templates_with_the_users_name_first() -> None:
    acme, globex = load_config(EXAMPLE)
    assert {(t.name, t.language) for t in acme.agent_templates} >= {("acme_seguimiento", "es")}
    assert all(t.parameters and t.parameters[0].startswith(("Nombre", "Name")) for t in acme.agent_templates)
    assert globex.agent_templates == []
    template = acme.agent_template("acme_pedido_listo", "es")
    assert template is not None
    assert template.shown(["Ana", "4411", "Chapinero"]) == (
        "Hola Ana, tu pedido 4411 ya está listo para recoger en Chapinero."
    )


def test_an_agent_template_shows_its_body_filled_in_or_its_title_and_values() -> None:
    config = with_agent_templates(agent_template(), agent_template(name="plain", text=None))
    filled = config.agent_template("order_ready", "es")
    plain = config.agent_template("plain", "es")
    assert filled is not None and plain is not None
    assert filled.shown(["Ana", "4411"]) == "Hola Ana, tu pedido 4411 está listo."
    assert plain.shown(["Ana", "4411"]) == "Template Pedido listo: Ana, 4411"
    assert config.agent_template("order_ready", "en") is None  # approved per language


@pytest.mark.parametrize(
    ("template", "message"),
    [
        (agent_template(text="Hola {{1}}, ya está."), r"exactly the placeholders of its 2 parameters"),
        (agent_template(text="Hola {{1}}, {{2}} y {{3}}."), re.escape("({{1}}, {{2}})")),
        (agent_template(parameters=[f"p{n}" for n in range(11)], text=None), "at most 10 items"),
        (
            agent_template(parameters=["Nombre", " "]),
            re.escape("the label of {{2}} must be 1 to 80 characters"),
        ),
        (agent_template(title="  "), "agents pick the template by it"),
        (agent_template(name="Order Ready"), "should match pattern"),
        (agent_template(language="spanish"), "should match pattern"),
    ],
)
def test_agent_templates_that_agents_could_not_use_are_refused(
    template: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        with_agent_templates(template)


def test_an_agent_template_is_listed_once_per_language() -> None:
    with_agent_templates(agent_template(), agent_template(language="en"))  # one per language: fine
    with pytest.raises(ValidationError, match="template 'order_ready' in 'es' is listed twice"):
        with_agent_templates(agent_template(), agent_template(title="Otra vez"))


def test_agent_templates_need_a_whatsapp_account() -> None:
    with pytest.raises(ValidationError, match="agent_templates: templates are a WhatsApp feature"):
        with_agent_templates(agent_template(), channel="messenger")


# --- canned answers (issue 13) --------------------------------------------------------------------


def with_canned_answers(answers: dict[str, list[dict[str, Any]]]) -> TenantConfig:
    return TenantConfig.model_validate({"tenant_id": "acme", "canned_answers": answers})


def test_the_example_gives_acme_spanish_canned_answers() -> None:
    acme, globex = load_config(EXAMPLE)
    shortcuts = [answer.shortcut for answer in acme.canned_answers["es"]]
    assert "horario" in shortcuts and len(shortcuts) == len(set(shortcuts))
    assert acme.language == "es" and globex.canned_answers == {}


def test_canned_answers_are_per_language_and_a_shortcut_may_repeat_across_languages() -> None:
    config = with_canned_answers(
        {
            "es": [
                {"shortcut": "horario", "text": "De 9:00 a 18:00."},
                {"shortcut": "fin-2", "text": "Adiós"},
            ],
            "en": [{"shortcut": "horario", "text": "From 9:00 to 18:00."}],
        }
    )
    assert [a.text for a in config.canned_answers["en"]] == ["From 9:00 to 18:00."]
    assert TenantConfig(tenant_id="acme").canned_answers == {}


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({"shortcut": "Horario", "text": "Hola"}, "should match pattern"),
        ({"shortcut": "con espacio", "text": "Hola"}, "should match pattern"),
        ({"shortcut": "", "text": "Hola"}, "should match pattern"),
        ({"shortcut": "a" * 33, "text": "Hola"}, "should match pattern"),
        ({"shortcut": "vacio", "text": "   "}, "text: the text is empty"),
        ({"shortcut": "largo", "text": "ñ" * 501}, "1002 bytes long; Instagram accepts at most 1000"),
        ({"shortcut": "extra", "text": "Hola", "title": "x"}, "Extra inputs are not permitted"),
    ],
)
def test_canned_answers_agents_could_not_send_are_refused(answer: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        with_canned_answers({"es": [answer]})


def test_a_canned_answer_shortcut_is_unique_per_language() -> None:
    with pytest.raises(ValidationError, match=r"canned_answers \(es\): shortcut 'horario' is listed twice"):
        with_canned_answers(
            {"es": [{"shortcut": "horario", "text": "A"}, {"shortcut": "horario", "text": "B"}]}
        )


def test_at_most_200_canned_answers_per_language() -> None:
    answers = [{"shortcut": f"r{n}", "text": "Hola"} for n in range(201)]
    with_canned_answers({"es": answers[:200], "en": answers[:200]})
    with pytest.raises(ValidationError, match=r"canned_answers \(es\): 201 answers; at most 200"):
        with_canned_answers({"es": answers})


def test_canned_answers_are_only_in_the_tenant_languages() -> None:
    with pytest.raises(ValidationError, match=r"canned_answers\.fr"):
        with_canned_answers({"fr": [{"shortcut": "bonjour", "text": "Bonjour"}]})
