"""Each sending account's next free send slot: one small item per account, moved by conditional writes.

The item (`PACE#{channel}#{account id}` / `SCHEDULE`) holds `next_slot`, microseconds since the
epoch. `services/pacing.SendSchedule` decides; this is only its ledger in DynamoDB. Every write is
conditional, so two senders never take the same slot, whichever instance they run in; a write that
loses says what the schedule holds (`ReturnValuesOnConditionCheckFailure`), so the next one is right.
"""

from __future__ import annotations

from typing import Any

from handoff.adapters.clients import client
from handoff.store import keys
from handoff.store.keys import item_key as _key


class ScheduleItems:
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    @property
    def _db(self) -> Any:
        return client("dynamodb")

    def push(self, account: str, *, interval: int, now: int, latest: int | None) -> tuple[bool, int | None]:
        if latest is None:
            return self._update(
                account,
                update="SET next_slot = next_slot + :interval",
                condition="next_slot >= :now",
                values={":interval": interval, ":now": now},
            )
        return self._update(
            account,
            update="SET next_slot = next_slot + :interval",
            condition="next_slot BETWEEN :now AND :latest",
            values={":interval": interval, ":now": now, ":latest": latest},
        )

    def restart(self, account: str, *, interval: int, now: int) -> tuple[bool, int | None]:
        return self._update(
            account,
            update="SET next_slot = :next",
            condition="attribute_not_exists(next_slot) OR next_slot < :now",
            values={":next": now + interval, ":now": now},
        )

    def _update(
        self, account: str, *, update: str, condition: str, values: dict[str, int]
    ) -> tuple[bool, int | None]:
        try:
            answer = self._db.update_item(
                TableName=self.table_name,
                Key=_key(keys.send_schedule_pk(account), keys.SEND_SCHEDULE),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeValues={name: {"N": str(value)} for name, value in values.items()},
                ReturnValues="UPDATED_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self._db.exceptions.ConditionalCheckFailedException as refused:
            item = refused.response.get("Item") or {}
            return False, int(item["next_slot"]["N"]) if "next_slot" in item else None
        return True, int(answer["Attributes"]["next_slot"]["N"])
