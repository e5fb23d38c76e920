"""The wake pass, every minute and whenever an agent comes online; it also sweeps the outbox."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from handoff import clock
from handoff.adapters.lambda_events import WakeEvent
from handoff.observability import logger, metrics
from handoff.runtime.wiring import conversations, wake_pass
from handoff.services.pacing import send_deadline


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@event_parser(model=WakeEvent)
def handler(event: WakeEvent, context: LambdaContext) -> dict[str, Any]:
    # an AgentAvailable or WakePassContinues event names its tenant; the schedule's event passes every
    # tenant (and the outbox sweep runs after its pass)
    from handoff.services.wake import pass_until  # with the pass's first call, not at import

    tenant_id = event.detail.tenant_id
    remaining = timedelta(milliseconds=context.get_remaining_time_in_millis())
    until = pass_until(clock.now(), remaining, sweep_after=tenant_id is None)
    summary = wake_pass().run([tenant_id] if tenant_id else None, until=until)
    remaining = timedelta(milliseconds=context.get_remaining_time_in_millis())
    swept = (
        conversations().sweep_outbox(until=send_deadline(clock.now(), remaining)) if tenant_id is None else 0
    )
    return {**summary.model_dump(), "outbox_sent": swept}
