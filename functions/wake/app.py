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


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@event_parser(model=WakeEvent)
def handler(event: WakeEvent, context: LambdaContext) -> dict[str, Any]:
    from handoff.services.wake import wake_and_sweep  # with the pass's first call, not at import

    return wake_and_sweep(
        wake_pass(),
        lambda until: conversations().sweep_outbox(until=until),  # built only when the schedule sweeps
        event.detail.tenant_id,
        clock.now,
        lambda: timedelta(milliseconds=context.get_remaining_time_in_millis()),
    )
