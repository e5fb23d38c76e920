"""The channel adapters, one per asynchronous channel, looked up by the channel's name."""

from __future__ import annotations

from functools import cache

from handoff.channels.base import ChannelAdapter


@cache
def adapter_for(channel: str) -> ChannelAdapter:
    if channel == "whatsapp":
        from handoff.channels.whatsapp import WhatsAppAdapter

        return WhatsAppAdapter()
    raise ValueError(f"no adapter for the {channel!r} channel")
