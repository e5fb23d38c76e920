"""Tenants, the channel accounts that route webhooks to them, and agents' presence."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from handoff.adapters.clients import client
from handoff.config.models import TenantConfig
from handoff.engine.model import Frozen
from handoff.store import keys
from handoff.store.keys import item_key as _key

PRESENCE_TIMEOUT = timedelta(minutes=2)
"""An agent whose console has not reported presence for this long is taken as offline."""

CONFIG_CACHE_SECONDS = 60.0
SAVE_ATTEMPTS = 3


class StaleConfig(Exception):
    """The tenant's config changed since the version the writer read: nothing was written."""


class AccountTaken(Exception):
    """A channel account routes to another tenant: it must leave that tenant's config first."""

    def __init__(self, channel: str, account_id: str, owner: str | None) -> None:
        super().__init__(
            f"{channel} account {account_id} belongs to tenant {owner!r}: "
            "remove it from that tenant's config first"
        )
        self.channel = channel
        self.account_id = account_id
        self.owner = owner


class AgentPresence(Frozen):
    tenant_id: str
    agent_id: str
    online: bool
    seen_at: datetime
    seats: int | None = None
    """How many chats the agent takes at once, as of the last report (None: the tenant's agent_seats)."""
    name: str | None = None
    """The agent's display name as of the last report, for other agents to see (None: none known)."""

    def is_online(self, now: datetime) -> bool:
        return self.online and now - self.seen_at < PRESENCE_TIMEOUT


class Directory:
    """Reads are cached per process for a minute: config changes reach every function within it."""

    def __init__(self, table_name: str) -> None:
        self.table_name = table_name
        self._cache: dict[tuple[str, ...], tuple[float, Any]] = {}

    @property
    def _db(self) -> Any:
        return client("dynamodb")

    def save_tenant(self, tenant: TenantConfig) -> list[tuple[str, str]]:
        """Store a tenant's config, its directory entry and its channel accounts in one transaction.

        The config's version goes up by one, so an admin's edit based on the previous one is refused.
        Accounts the stored config had and this one lacks stop routing to the tenant (they are
        returned, as (channel, account id)); an account that routes to another tenant is refused
        with AccountTaken and nothing is written. A config changed meanwhile is read again.
        """
        for _ in range(SAVE_ATTEMPTS):
            stored = self.versioned_tenant(tenant.tenant_id)
            dropped = _dropped(tenant, stored)
            try:
                self._db.transact_write_items(TransactItems=self._tenant_writes(tenant, stored, dropped))
            except self._db.exceptions.TransactionCanceledException as exc:
                codes = [reason.get("Code") for reason in exc.response.get("CancellationReasons", [])]
                if codes and codes[0] == "ConditionalCheckFailed":
                    continue  # the config changed since it was read: read it again
                for (channel, account_id), code in zip(
                    [(a.channel, a.account_id) for a in tenant.accounts], codes[2:], strict=False
                ):
                    if code == "ConditionalCheckFailed":
                        raise AccountTaken(
                            channel, account_id, self.account_owner(channel, account_id)
                        ) from exc
                raise
            self._cache.clear()
            return dropped
        raise StaleConfig(tenant.tenant_id)

    def _tenant_writes(
        self, tenant: TenantConfig, stored: tuple[TenantConfig, int] | None, dropped: list[tuple[str, str]]
    ) -> list[dict[str, Any]]:
        """The config (only if still as read), the directory entry, and each account's routing
        (only if no other tenant has it): the items of save_tenant's transaction, in that order."""
        read: dict[str, Any] = {}
        if stored is None:
            condition = "attribute_not_exists(pk)"
        elif stored[1] == 0:
            condition = "attribute_not_exists(#version)"
        else:
            condition, read = "#version = :read", {":read": {"N": str(stored[1])}}
        ours = {
            "ConditionExpression": "attribute_not_exists(pk) OR tenant_id = :tenant",
            "ExpressionAttributeValues": {":tenant": {"S": tenant.tenant_id}},
        }
        config = {
            "TableName": self.table_name,
            "Key": _key(keys.tenant_pk(tenant.tenant_id), "CONFIG"),
            "UpdateExpression": "SET #data = :data ADD #version :one",
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {"#data": "data", "#version": "version"},
            "ExpressionAttributeValues": {
                ":data": {"S": tenant.model_dump_json()},
                ":one": {"N": "1"},
                **read,
            },
        }
        writes: list[dict[str, Any]] = [
            {"Update": config},
            _put(self.table_name, "TENANTS", tenant.tenant_id),
        ]
        for account in tenant.accounts:
            item = {**_key(keys.account_pk(account.channel, account.account_id), "ACCOUNT")}
            item["tenant_id"] = {"S": tenant.tenant_id}
            writes.append({"Put": {"TableName": self.table_name, "Item": item, **ours}})
        for channel, account_id in dropped:
            key = _key(keys.account_pk(channel, account_id), "ACCOUNT")
            writes.append({"Delete": {"TableName": self.table_name, "Key": key, **ours}})
        return writes

    def accounts_dropped(self, tenant: TenantConfig) -> list[tuple[str, str]]:
        """The stored config's accounts that `tenant` lacks: what save_tenant would stop routing."""
        return _dropped(tenant, self.versioned_tenant(tenant.tenant_id))

    def account_owner(self, channel: str, account_id: str) -> str | None:
        """The tenant an account routes to, read now (no cache)."""
        item = self._db.get_item(
            TableName=self.table_name,
            Key=_key(keys.account_pk(channel, account_id), "ACCOUNT"),
            ConsistentRead=True,
        ).get("Item")
        return item["tenant_id"]["S"] if item else None

    def foreign_accounts(self, tenant: TenantConfig) -> list[AccountTaken]:
        """The tenant's accounts that route to another tenant now (save_tenant would refuse them)."""
        taken = []
        for account in tenant.accounts:
            owner = self.account_owner(account.channel, account.account_id)
            if owner is not None and owner != tenant.tenant_id:
                taken.append(AccountTaken(account.channel, account.account_id, owner))
        return taken

    def tenant(self, tenant_id: str) -> TenantConfig | None:
        def read() -> TenantConfig | None:
            item = self._db.get_item(
                TableName=self.table_name, Key=_key(keys.tenant_pk(tenant_id), "CONFIG")
            ).get("Item")
            return TenantConfig.model_validate_json(item["data"]["S"]) if item else None

        return self._cached(("tenant", tenant_id), read)

    def versioned_tenant(self, tenant_id: str) -> tuple[TenantConfig, int] | None:
        """The tenant's config as stored now (no cache) and its version, for an edit."""
        item = self._db.get_item(
            TableName=self.table_name, Key=_key(keys.tenant_pk(tenant_id), "CONFIG"), ConsistentRead=True
        ).get("Item")
        if item is None:
            return None
        version = int(item["version"]["N"]) if "version" in item else 0
        return TenantConfig.model_validate_json(item["data"]["S"]), version

    def replace_tenant(self, tenant: TenantConfig, read_version: int) -> int:
        """Store an edited config if it is still at `read_version`; its new version, or StaleConfig.

        Only the config item is written: the channel accounts that route to the tenant do not change.
        """
        condition = (
            "attribute_exists(pk) AND attribute_not_exists(#version)"
            if read_version == 0
            else "#version = :read"
        )
        values: dict[str, Any] = {} if read_version == 0 else {":read": {"N": str(read_version)}}
        try:
            self._db.put_item(
                TableName=self.table_name,
                Item={
                    **_key(keys.tenant_pk(tenant.tenant_id), "CONFIG"),
                    "data": {"S": tenant.model_dump_json()},
                    "version": {"N": str(read_version + 1)},
                },
                ConditionExpression=condition,
                ExpressionAttributeNames={"#version": "version"},
                **({"ExpressionAttributeValues": values} if values else {}),
            )
        except self._db.exceptions.ConditionalCheckFailedException as exc:
            raise StaleConfig(tenant.tenant_id) from exc
        self._cache.clear()
        return read_version + 1

    def tenant_for_account(self, channel: str, account_id: str) -> str | None:
        def read() -> str | None:
            item = self._db.get_item(
                TableName=self.table_name, Key=_key(keys.account_pk(channel, account_id), "ACCOUNT")
            ).get("Item")
            return item["tenant_id"]["S"] if item else None

        return self._cached(("account", channel, account_id), read)

    def tenant_ids(self) -> list[str]:
        page = self._db.query(
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": "TENANTS"}},
        )
        return [item["sk"]["S"] for item in page.get("Items", [])]

    # --- presence -----------------------------------------------------------------------------------

    def set_presence(
        self,
        tenant_id: str,
        agent_id: str,
        *,
        online: bool,
        at: datetime,
        seats: int | None = None,
        name: str | None = None,
    ) -> tuple[AgentPresence, bool]:
        """Record the agent's presence; with it, whether they just came online: offline, or lapsed
        (no report for `PRESENCE_TIMEOUT`), before this report. The put hands back the record it
        replaced at no extra cost (`ReturnValues=ALL_OLD`), so telling a heartbeat from a coming
        online reads nothing more."""
        presence = AgentPresence(
            tenant_id=tenant_id, agent_id=agent_id, online=online, seen_at=at, seats=seats, name=name
        )
        answer = self._db.put_item(
            TableName=self.table_name,
            Item={
                **_key(keys.tenant_pk(tenant_id), f"AGENT#{agent_id}"),
                "data": {"S": presence.model_dump_json()},
            },
            ReturnValues="ALL_OLD",
        )
        replaced = answer.get("Attributes")
        before = AgentPresence.model_validate_json(replaced["data"]["S"]) if replaced else None
        came_online = online and (before is None or not before.is_online(at))
        return presence, came_online

    def agents(self, tenant_id: str) -> list[AgentPresence]:
        page = self._db.query(
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :a)",
            ExpressionAttributeValues={":pk": {"S": keys.tenant_pk(tenant_id)}, ":a": {"S": "AGENT#"}},
        )
        return [AgentPresence.model_validate_json(item["data"]["S"]) for item in page.get("Items", [])]

    def any_agent_online(self, tenant_id: str, now: datetime) -> bool:
        return any(agent.is_online(now) for agent in self.agents(tenant_id))

    def _cached(self, key: tuple[str, ...], read: Any) -> Any:
        hit = self._cache.get(key)
        if hit is not None and time.monotonic() - hit[0] < CONFIG_CACHE_SECONDS:
            return hit[1]
        value = read()
        self._cache[key] = (time.monotonic(), value)
        return value


def _dropped(tenant: TenantConfig, stored: tuple[TenantConfig, int] | None) -> list[tuple[str, str]]:
    kept = {(a.channel, a.account_id) for a in tenant.accounts}
    before = stored[0].accounts if stored else []
    return [(a.channel, a.account_id) for a in before if (a.channel, a.account_id) not in kept]


def _put(table: str, pk: str, sk: str, **attributes: Any) -> dict[str, Any]:
    return {"Put": {"TableName": table, "Item": {**_key(pk, sk), **attributes}}}
