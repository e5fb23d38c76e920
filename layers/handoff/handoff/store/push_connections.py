"""The push channel's items (`keys`): single-use tickets that open a socket, and the sockets open
per tenant.

A ticket is stored hashed: the table never holds what opens a socket, only what recognises it.
Both expire by DynamoDB's TTL (`expires_at`), which only tidies up: a ticket's expiry is checked
when it is taken, and a connection that is gone is deleted when a post finds it so.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from handoff.adapters.clients import client
from handoff.store import keys
from handoff.store.keys import item_key as _key


class Admission(BaseModel):
    """Whom a ticket was issued to: the socket it opens is theirs. (Frozen as the engine's models
    are, without loading them: the push function needs none of the engine.)"""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    tenant_id: str
    agent_id: str


class PushConnections:
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    @property
    def _db(self) -> Any:
        return client("dynamodb")

    def put_ticket(self, ticket: str, admission: Admission, *, expires_at: datetime) -> None:
        self._db.put_item(
            TableName=self.table_name,
            Item={
                **_key(keys.push_ticket_pk(ticket), keys.PUSH_TICKET_SK),
                "tenant_id": {"S": admission.tenant_id},
                "agent_id": {"S": admission.agent_id},
                "expires_at": _epoch(expires_at),
            },
        )

    def take_ticket(self, ticket: str, *, now: datetime) -> Admission | None:
        """The ticket's admission, deleting it in the same request, so that it opens one socket only;
        None when it is unknown, used already or expired (an expired one stays for the TTL)."""
        try:
            old = self._db.delete_item(
                TableName=self.table_name,
                Key=_key(keys.push_ticket_pk(ticket), keys.PUSH_TICKET_SK),
                ConditionExpression="attribute_exists(pk) AND expires_at > :now",
                ExpressionAttributeValues={":now": _epoch(now)},
                ReturnValues="ALL_OLD",
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            return None
        item = old["Attributes"]
        return Admission(tenant_id=item["tenant_id"]["S"], agent_id=item["agent_id"]["S"])

    def add(self, connection_id: str, admission: Admission, *, expires_at: datetime) -> None:
        self._db.put_item(
            TableName=self.table_name,
            Item={
                **_key(keys.push_pk(admission.tenant_id), keys.push_connection_sk(connection_id)),
                "agent_id": {"S": admission.agent_id},
                "expires_at": _epoch(expires_at),
            },
        )

    def connection_ids(self, tenant_id: str, *, now: datetime) -> list[str]:
        """The tenant's open sockets (those past their TTL left out: API Gateway closed them)."""
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :conn)",
            "FilterExpression": "expires_at > :now",
            "ExpressionAttributeValues": {
                ":pk": {"S": keys.push_pk(tenant_id)},
                ":conn": {"S": keys.PUSH_CONNECTION_PREFIX},
                ":now": _epoch(now),
            },
            "ProjectionExpression": "sk",
        }
        found: list[str] = []
        while True:
            page = self._db.query(**request)
            found += [
                item["sk"]["S"].removeprefix(keys.PUSH_CONNECTION_PREFIX) for item in page.get("Items", [])
            ]
            if "LastEvaluatedKey" not in page:
                return found
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def remove(self, tenant_id: str, connection_id: str) -> None:
        self._db.delete_item(
            TableName=self.table_name,
            Key=_key(keys.push_pk(tenant_id), keys.push_connection_sk(connection_id)),
        )


def _epoch(at: datetime) -> dict[str, str]:
    return {"N": str(int(at.timestamp()))}
