"""What an agent's action can run into: the conversation is not in a state that allows it."""

from __future__ import annotations


class FlowError(Exception):
    """An action the flow refuses; the message is meant for the person who tried it."""


class Conflict(FlowError):
    """The conversation moved on (taken by another agent, closed, no longer queued)."""


class NotYours(FlowError):
    """The conversation is with another agent."""


class WindowClosed(FlowError):
    """The channel's messaging window is closed: free text can't reach the user now."""


class AtCapacity(FlowError):
    """The agent already has as many chats as their seats: one must close before another is taken."""


class TemplateRefused(FlowError):
    """The template an agent asked for is not one the tenant lets agents send, or its parameters do
    not fit it. `field` names the part of the request at fault (`name`, `language`, `parameters`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
