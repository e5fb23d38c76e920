"""`make seed`: validate a YAML config and load its tenants into a deployed stack's table.

    python -m handoff_tools.seed examples/config.yaml --stack async-handoff
    python -m handoff_tools.seed examples/config.yaml --table async-handoff-AppTable-XYZ --dry-run

The file is checked whole first; if anything is wrong, every problem is printed and nothing is
written. Each tenant (its config, directory entry and channel accounts) is written in one
transaction. Uses the AWS credentials and region of the environment, like the AWS CLI.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from handoff.config.models import TenantConfig
from handoff.store.directory import AccountTaken, Directory
from handoff_tools.config_file import ConfigError, load_config

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
    """Load the file's tenants; AccountTaken (nothing written) if one names another tenant's account.

    An account moving between two tenants of the file is released by the one before the other
    takes it; an account of a tenant not in the file is refused.
    """
    tenants = load_config(config)
    directory = Directory(table)
    in_file = {tenant.tenant_id for tenant in tenants}
    refused = [t for tenant in tenants for t in directory.foreign_accounts(tenant) if t.owner not in in_file]
    if refused:
        raise SeedRefused(refused)
    pending = list(tenants)
    while pending:
        waiting: list[TenantConfig] = []
        for tenant in pending:
            if dry_run:
                print("would write " + describe(tenant))
                for channel, account_id in directory.accounts_dropped(tenant):
                    print(f"  would remove {channel} {account_id} from {tenant.tenant_id}")
                continue
            try:
                dropped = directory.save_tenant(tenant)
            except AccountTaken:
                waiting.append(tenant)  # another tenant of the file releases the account first
                continue
            print("wrote " + describe(tenant))
            for channel, account_id in dropped:
                print(f"  removing {channel} {account_id} from {tenant.tenant_id}: it no longer routes there")
        if waiting and len(waiting) == len(pending):
            raise SeedRefused([t for tenant in waiting for t in directory.foreign_accounts(tenant)])
        pending = waiting
    return tenants


class SeedRefused(Exception):
    """Accounts of other tenants in the file: nothing (or, for a swap, not everything) was written."""

    def __init__(self, taken: list[AccountTaken]) -> None:
        super().__init__("\n".join(str(t) for t in taken))
        self.taken = taken


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m handoff_tools.seed", description=__doc__.splitlines()[0])
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
    except SeedRefused as error:
        print(f"refused, the accounts below route to other tenants:\n{error}", file=sys.stderr)
        return 1
    print(f"{len(tenants)} tenant(s) {'checked' if args.dry_run else 'loaded into ' + table}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
