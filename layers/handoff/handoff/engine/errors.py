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
