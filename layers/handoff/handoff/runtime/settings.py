"""The functions' settings, read once from the environment the template gives them."""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    table_name: str = Field(alias="TABLE_NAME")
    idempotency_table_name: str = Field(alias="IDEMPOTENCY_TABLE_NAME")
    inbound_queue_url: str = Field(alias="INBOUND_QUEUE_URL")
    event_bus_name: str = Field(alias="EVENT_BUS_NAME")
    graph_api_url: str = Field(alias="GRAPH_API_URL", default="https://graph.facebook.com/v23.0")
    parameter_prefix: str = Field(alias="PARAMETER_PREFIX", default="/async-handoff")
    report_retention_days: int = Field(alias="REPORT_RETENTION_DAYS", default=400, ge=1)
    bot_attempts: int = Field(alias="BOT_ATTEMPTS", default=3, ge=1)
    """How many times a message is tried when the tenant's bot does not answer, before the user is
    told it is unavailable (below the inbound queue's maxReceiveCount, so it never dead-letters)."""

    @property
    def app_secret_parameter(self) -> str:
        return f"{self.parameter_prefix}/app-secret"

    @property
    def verify_token_parameter(self) -> str:
        return f"{self.parameter_prefix}/verify-token"

    def access_token_parameter(self, account_id: str) -> str:
        return f"{self.parameter_prefix}/access-tokens/{account_id}"

    def bot_parameter(self, tenant_id: str, name: str) -> str:
        """A tenant's bot setting kept in SSM: its signing secret, an API key."""
        return f"{self.parameter_prefix}/bots/{tenant_id}/{name}"


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings.model_validate(os.environ)
