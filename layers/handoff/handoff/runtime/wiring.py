"""Builds the application's parts from the settings, once per process (the composition root).

Each factory imports what it builds when it is first called, so a function loads the services its
handler asks for and no others (the wake function never loads the admin API's, the webhooks never
Live's), and pays for them with the first invocation that needs them, not at import.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from typing import TYPE_CHECKING

from handoff import clock

if TYPE_CHECKING:
    from handoff.runtime.settings import Settings
    from handoff.services.admin import Administration
    from handoff.services.conversations import Conversations
    from handoff.services.erasure import Erasure
    from handoff.services.live import Live
    from handoff.services.live_views import LiveViews
    from handoff.services.media import MediaFiles
    from handoff.services.pacing import SendSchedule
    from handoff.services.push import Push
    from handoff.services.queued_events import QueuedEvents
    from handoff.services.wake import WakePass
    from handoff.services.webhooks import Webhooks
    from handoff.store.conversation_store import BusEvent, ConversationStore
    from handoff.store.directory import Directory

AGENT_AVAILABLE_DETAIL_TYPE = "AgentAvailable"
WAKE_PASS_CONTINUES_DETAIL_TYPE = "WakePassContinues"


def settings() -> Settings:
    """The functions' settings, read from the environment once (`runtime.settings`)."""
    from handoff.runtime.settings import settings

    return settings()


def secret(name: str) -> str:
    """A SecureString parameter's value, cached a few minutes (`adapters.parameters`)."""
    from handoff.adapters.parameters import secret

    return secret(name)


@cache
def pseudonyms() -> None:
    """Key this process's pseudonyms with the stack's secret (before any part logs or queues)."""
    from handoff.adapters.parameters import generated_secret
    from handoff.observability import use_pseudonym_key

    use_pseudonym_key(generated_secret(settings().pseudonym_key_secret))


@cache
def conversation_store() -> ConversationStore:
    from handoff.store.conversation_store import ConversationStore

    pseudonyms()
    config = settings()
    return ConversationStore(config.table_name, report_retention=timedelta(days=config.report_retention_days))


@cache
def directory() -> Directory:
    from handoff.store.directory import Directory

    return Directory(settings().table_name)


@cache
def send_schedule() -> SendSchedule:
    """Each sending account's send slots, shared by every sender of the stack through the table."""
    from handoff.services.pacing import SendSchedule
    from handoff.store.send_schedule import ScheduleItems

    config = settings()
    return SendSchedule(
        ScheduleItems(config.table_name), config.send_rates, instances=config.conversation_instances
    )


@cache
def conversations() -> Conversations:
    from handoff.adapters.graph import GraphClient
    from handoff.services.bots import Bots
    from handoff.services.conversations import Conversations

    config = settings()
    return Conversations(
        conversation_store(),
        directory(),
        GraphClient(config.graph_api_url),
        access_token=lambda account_id: secret(config.access_token_parameter(account_id)),
        bots=Bots(
            parameter=lambda tenant_id, name: secret(config.bot_parameter(tenant_id, name)),
            transcript=lambda conversation: conversation_store().transcript(conversation.ref),
        ),
        schedule=send_schedule(),
        now=clock.now,
        publish=lambda event: publish_event(event),  # looked up at each call: the local run records them
    )


@cache
def queued_events() -> QueuedEvents:
    from handoff.services.queued_events import QueuedEvents

    config = settings()
    return QueuedEvents(
        conversations(),
        config.inbound_queue_url,
        bot_attempts=config.bot_attempts,
        max_receives=config.inbound_max_receives,
        now=clock.now,
    )


def publish_event(event: BusEvent) -> None:
    """A conversation's event for other systems (docs/events.md)."""
    from handoff.adapters import event_bus

    event_bus.publish(
        settings().event_bus_name, event_bus.CONVERSATIONS_SOURCE, event.detail_type, event.detail
    )


@cache
def webhooks() -> Webhooks:
    from handoff.services.webhooks import Webhooks

    pseudonyms()
    config = settings()
    return Webhooks(
        directory(),
        config.inbound_queue_url,
        app_secret=lambda: secret(config.app_secret_parameter),
        verify_token=lambda: secret(config.verify_token_parameter),
    )


@cache
def wake_pass() -> WakePass:
    from handoff.services.wake import WakePass

    return WakePass(
        conversation_store(),
        directory(),
        settings().inbound_queue_url,
        now=clock.now,
        go_on=lambda tenant_id: continue_wake_pass(tenant_id),  # looked up at each call (the local run)
    )


def continue_wake_pass(tenant_id: str) -> None:
    """A pass cut short by its time: the wake function's rule starts the next at once, from its place."""
    from handoff.adapters import event_bus

    event_bus.publish(
        settings().event_bus_name,
        event_bus.WAKE_SOURCE,
        WAKE_PASS_CONTINUES_DETAIL_TYPE,
        {"tenant_id": tenant_id},
    )


def announce_agent_available(tenant_id: str) -> None:
    """Publish the event the wake function's EventBridge rule listens for."""
    from handoff.adapters import event_bus

    event_bus.publish(
        settings().event_bus_name,
        event_bus.LIVE_SOURCE,
        AGENT_AVAILABLE_DETAIL_TYPE,
        {"tenant_id": tenant_id},
    )


@cache
def live() -> Live:
    from handoff.services.live import Live

    return Live(conversations(), conversation_store(), directory(), announce_agent_available, now=clock.now)


@cache
def live_views() -> LiveViews:
    from handoff.services.live_views import LiveViews

    return LiveViews(conversation_store(), directory(), now=clock.now)


@cache
def media_files() -> MediaFiles:
    """What the user sent, fetched from Meta with the channel account's token for Live."""
    from handoff.adapters.graph import GraphClient
    from handoff.services.media import READ_TIMEOUT as MEDIA_READ_TIMEOUT
    from handoff.services.media import MediaFiles

    config = settings()
    return MediaFiles(
        conversation_store(),
        GraphClient(config.graph_api_url, read_timeout=MEDIA_READ_TIMEOUT),
        access_token=lambda account_id: secret(config.access_token_parameter(account_id)),
    )


@cache
def administration() -> Administration:
    from handoff.services.admin import Administration

    return Administration(directory(), conversation_store())


@cache
def erasure() -> Erasure:
    from handoff.services.erasure import Erasure

    return Erasure(conversation_store(), directory())


@cache
def push() -> Push:
    from handoff.adapters import connections
    from handoff.services.push import Push
    from handoff.store.push_connections import PushConnections

    config = settings()
    return Push(PushConnections(config.table_name), config.push_url, connections.post, now=clock.now)


def reset() -> None:
    """Forget every part, client and cached secret (tests and the local run restart moto)."""
    from handoff.adapters import clients
    from handoff.adapters.parameters import forget
    from handoff.runtime.settings import settings as read_settings

    parts = (
        pseudonyms,
        conversation_store,
        directory,
        send_schedule,
        conversations,
        queued_events,
        webhooks,
        wake_pass,
        live,
        live_views,
        media_files,
        administration,
        erasure,
        push,
    )
    for part in parts:
        part.cache_clear()
    read_settings.cache_clear()
    clients.reset()
    forget()
