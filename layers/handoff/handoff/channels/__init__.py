"""The channel adapters, one per asynchronous channel, looked up by the channel's name."""

from __future__ import annotations

from functools import cache

from handoff.channels.base import ChannelAdapter


@cache
def adapter_for(channel: str) -> ChannelAdapter:
    """WhatsApp's adapter, or the Meta Messaging Platform's configured for Messenger or Instagram."""
    if channel == "whatsapp":
        from handoff.channels.whatsapp import WhatsAppAdapter

        return WhatsAppAdapter()
    if channel == "messenger":
        from handoff.channels.meta_platform import MessengerAdapter

        return MessengerAdapter()
    if channel == "instagram":
        from handoff.channels.meta_platform import InstagramAdapter

        return InstagramAdapter()
    raise ValueError(f"no adapter for the {channel!r} channel")
