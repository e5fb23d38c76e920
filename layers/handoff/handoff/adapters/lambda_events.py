"""The events Lambda hands to the functions, as Powertools parser models (pydantic)."""

from __future__ import annotations

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel, SqsRecordModel
from pydantic import BaseModel, Json

from handoff.engine.model import Event


class QueuedEvent(SqsRecordModel):
    """A record of the inbound queue: its body is one engine event, as `inbound_queue.encode` wrote it."""

    body: Json[Event]

    @property
    def receive_count(self) -> int:
        """How many times SQS has handed this message out, this time included."""
        return int(self.attributes.ApproximateReceiveCount)


class WakeDetail(BaseModel):
    """An AgentAvailable event names its tenant; the schedule's event (`{}`) stands for every tenant."""

    tenant_id: str | None = None


class WakeEvent(EventBridgeModel):
    """What starts a wake pass: the minute's schedule or an AgentAvailable event."""

    detail: WakeDetail
