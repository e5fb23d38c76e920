"""The tenant's bot for one conversation, whatever its kind, behind the engine's bot port.

`intents` is the built-in bot (pure); `http`, `lex` and `bedrock` are the tenant's own, in
`adapters/bots/`, with their I/O. The shell asks the bot only when the engine asks for its answer
(`engine.facts`), in the conversation function, never in a webhook.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from handoff.adapters.bots.bedrock_bot import BedrockBot
from handoff.adapters.bots.http_bot import HttpBot
from handoff.adapters.bots.lex_bot import LexBot
from handoff.bots import intent_bot
from handoff.config.models import TenantConfig
from handoff.engine.bot import Bot
from handoff.engine.model import Conversation, TranscriptEntry
from handoff.observability import metrics

BOT_TOKENS = "BotTokens"
"""Tokens a Bedrock model read and wrote for one answer: what the model costs."""


class Bots:
    def __init__(
        self,
        parameter: Callable[[str, str], str],
        transcript: Callable[[Conversation], Sequence[TranscriptEntry]],
    ) -> None:
        """`parameter(tenant_id, name)`: the tenant's bot parameter `name` from SSM;
        `transcript(conversation)`: its stored transcript, oldest first."""
        self.parameter = parameter
        self.transcript = transcript

    def for_conversation(self, tenant: TenantConfig, conversation: Conversation) -> Bot:
        config = tenant.bot_for(conversation.ref.channel)
        match config.kind:
            case "http":
                assert config.http is not None
                return HttpBot(
                    config.http,
                    conversation_id=conversation.id,
                    parameter=lambda name: self.parameter(tenant.tenant_id, name),
                )
            case "lex":
                assert config.lex is not None
                return LexBot(config.lex)
            case "bedrock":
                assert config.bedrock is not None
                return BedrockBot(
                    config.bedrock,
                    history=lambda: self._session_lines(conversation),
                    record_usage=_record_tokens,
                )
            case "intents":
                return intent_bot(tenant, config)

    def _session_lines(self, conversation: Conversation) -> list[TranscriptEntry]:
        """The transcript of the conversation's open bot session: a model's context."""
        session = conversation.session
        lines = self.transcript(conversation)
        if session is None:
            return []
        return [line for line in lines if line.at >= session.started_at]


def _record_tokens(read: int, written: int) -> None:
    metrics.add_metric(name=BOT_TOKENS, unit="Count", value=read + written)
