"""`make seed`: validate a YAML config and load its tenants into a deployed stack's table.

    python -m handoff_local.seed examples/config.yaml --stack async-handoff
    python -m handoff_local.seed examples/config.yaml --table async-handoff-AppTable-XYZ --dry-run

The file is checked whole first; if anything is wrong, every problem is printed and nothing is
written. Each tenant (its config, directory entry and channel accounts) is written in one
transaction. Uses the AWS credentials and region of the environment, like the AWS CLI.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from handoff.config.loader import ConfigError, load_config
from handoff.config.models import TenantConfig
from handoff.store.directory import Directory

TABLE_OUTPUT = "AppTableName"


def table_of_stack(stack_name: str) -> str:
    import boto3

    stacks = boto3.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    if TABLE_OUTPUT not in outputs:
        raise SystemExit(f"stack {stack_name!r} has no {TABLE_OUTPUT} output: is it an async-handoff stack?")
    return outputs[TABLE_OUTPUT]


def describe(tenant: TenantConfig) -> str:
    accounts = ", ".join(f"{a.channel} {a.account_id}" for a in tenant.accounts) or "no accounts"
    rules = ", ".join(
        f"{r.channel} ({'after hours' if r.after_hours else 'conventional'}{', direct' if r.direct else ''})"
        for r in tenant.rules
    )
    return f"{tenant.tenant_id}: {accounts}; rules: {rules or 'none'}; {len(tenant.bot.intents)} bot intents"


def seed(config: Path, table: str, *, dry_run: bool = False) -> list[TenantConfig]:
    tenants = load_config(config)
    directory = Directory(table)
    for tenant in tenants:
        print(("would write " if dry_run else "writing ") + describe(tenant))
        if not dry_run:
            directory.save_tenant(tenant)
    return tenants


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m handoff_local.seed", description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path, help="the YAML config file")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--stack", help="a deployed stack's name: its AppTableName output is used")
    target.add_argument("--table", help="the application table's name")
    parser.add_argument("--dry-run", action="store_true", help="validate and show, write nothing")
    args = parser.parse_args(argv)
    try:
        tenants = load_config(args.config)  # fail on a bad file before asking AWS anything
        table = args.table or table_of_stack(args.stack)
        seed(args.config, table, dry_run=args.dry_run)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"{len(tenants)} tenant(s) {'checked' if args.dry_run else 'loaded into ' + table}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
