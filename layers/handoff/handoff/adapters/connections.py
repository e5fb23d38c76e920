"""API Gateway's @connections API: a message to one socket of the push channel's WebSocket API.

botocore's errors are imported with the first message, as boto3 is with the first client
(`adapters.clients`): the Live API and the push function load this module at import.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from handoff.adapters.clients import endpoint_client

CALLBACK_SCHEMES = {"wss": "https", "ws": "http"}


class ConnectionsUnavailable(Exception):
    """API Gateway did not take the message (throttled, failing): the socket is still there."""


def callback_url(push_url: str) -> str:
    """The @connections endpoint of the WebSocket API stage that `push_url` (what clients open) names:
    the same host and stage over HTTPS (`wss://id.execute-api.region.amazonaws.com/live` answers
    at `https://id.execute-api.region.amazonaws.com/live`)."""
    split = urlsplit(push_url)
    if split.scheme not in CALLBACK_SCHEMES or not split.netloc:
        raise ValueError(f"not a WebSocket URL: {push_url!r}")
    return urlunsplit((CALLBACK_SCHEMES[split.scheme], split.netloc, split.path.rstrip("/"), "", ""))


def post(push_url: str, connection_id: str, data: bytes) -> bool:
    """Send `data` to one socket; False when it is gone (closed, or never opened)."""
    from botocore.exceptions import BotoCoreError, ClientError

    api = endpoint_client("apigatewaymanagementapi", callback_url(push_url))
    try:
        api.post_to_connection(ConnectionId=connection_id, Data=data)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "GoneException":
            return False
        raise ConnectionsUnavailable(str(error.response.get("Error", {}).get("Code"))) from error
    except BotoCoreError as error:
        raise ConnectionsUnavailable(type(error).__name__) from error
    return True
