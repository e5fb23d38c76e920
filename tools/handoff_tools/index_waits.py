"""Put the users already waiting in Live's queue into the wake pass's indexes, after an upgrade.

    python -m handoff_tools.index_waits --stack async-handoff
    python -m handoff_tools.index_waits --table async-handoff-AppTable-XYZ --dry-run

A stack deployed before the `wake` and `wait_expiry` indexes holds its waiting conversations
without their attributes: the wake pass would neither tell those users that an agent is online nor
end their waits until something wrote them again. Run this once both indexes exist
(docs/deployment.md, "Upgrading a stack deployed before the wake and wait_expiry indexes"). Every
tenant's queue is read through the `live` index; a conversation is written only when it lacks the
attributes, on the condition that it has not changed since it was read. Running it again changes
nothing. Uses the AWS credentials and region of the environment, like the AWS CLI.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from handoff.store.conversation_store import ConversationStore, IndexedWaits
from handoff.store.directory import Directory
from handoff_tools.seed import table_of_stack


def index_waits(table: str, now: datetime, *, dry_run: bool = False) -> dict[str, IndexedWaits]:
    """Each tenant's queue put into the wake pass's indexes, by tenant id."""
    store = ConversationStore(table)
    return {
        tenant_id: store.index_waits(tenant_id, now, dry_run=dry_run)
        for tenant_id in Directory(table).tenant_ids()
    }


def describe(tenant_id: str, found: IndexedWaits, *, dry_run: bool) -> str:
    verb = "would index" if dry_run else "indexed"
    line = f"{tenant_id}: {verb} {found.indexed} waiting conversation(s), {found.already} indexed already"
    if found.written_since:
        line += f", {found.written_since} written meanwhile (indexed by that write)"
    return line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m handoff_tools.index_waits", description=__doc__.splitlines()[0]
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--stack", help="a deployed stack's name: its AppTableName output is used")
    target.add_argument("--table", help="the application table's name")
    parser.add_argument("--dry-run", action="store_true", help="count what would be written, write nothing")
    args = parser.parse_args(argv)
    table = args.table or table_of_stack(args.stack)
    found = index_waits(table, datetime.now(UTC), dry_run=args.dry_run)
    for tenant_id, counts in found.items():
        print(describe(tenant_id, counts, dry_run=args.dry_run))
    total = sum(counts.indexed for counts in found.values())
    done = "to index" if args.dry_run else "indexed"
    print(f"{len(found)} tenant(s), {total} conversation(s) {done} in {table}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
