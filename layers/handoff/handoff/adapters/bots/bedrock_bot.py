"""A model on Amazon Bedrock as the tenant's bot, through the Converse API; one attempt per question
(the inbound queue's redelivery retries, as for every bot).

The request is `Converse(modelId, system, messages, toolConfig, inferenceConfig[, guardrailConfig])`:

- `system`: the tenant's prompt for the conversation's language, else the first one configured;
- `messages`: the bot session's recent lines, from the transcript (`history`): the user's as `user`,
  the bot's as `assistant`, texts only (agents' and system lines are left out). The question is the
  last user message; it is appended unless the transcript already ends with it (the shell may or
  may not have stored it yet, so the texts are compared). Counting back from the newest line, at
  most `max_turns` lines and `max_characters` characters are sent (the question always, cut to
  `max_characters`); Converse wants turns that alternate and begin with the user, so a leading
  assistant line is dropped and consecutive lines of one role become one message (a blank line
  between them);
- `toolConfig`: the one tool `hand_off_to_agent(reason)`, which the model calls to hand the user
  to a person;
- `inferenceConfig`: `maxTokens`; `guardrailConfig` only when the tenant configured a guardrail.

The answer (`output.message.content`): its text blocks, stripped and joined by a blank line, are
the turn's one message; a `hand_off_to_agent` tool call asks for a handoff (the text before it is
said first, anything after it is ignored; its `reason` is logged, never sent). A guardrail that
intervened is an ordinary answer: its text (the guardrail's own message) is sent. An answer with
neither text nor a handoff (an empty turn, a malformed tool call, another tool) is a silent
`BotTurn()`, not a failure. The tokens the call used are handed to `record_usage(input, output)`.

Every error of the call (a `ClientError`: throttled, access denied, model not found or not ready,
a validation error, Bedrock's 5XX; or a `BotoCoreError`: timeout, no connection, a request botocore
refuses) raises `BotUnavailable` with `bedrock: <error code>`, which holds nothing the user wrote.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from handoff.adapters.clients import client
from handoff.config.models import BedrockBot as BedrockBotConfig
from handoff.engine.bot import BotMessage, BotQuestion, BotTurn, BotUnavailable
from handoff.engine.model import TranscriptEntry
from handoff.observability import logger as log

SERVICE = "bedrock-runtime"
HANDOFF_TOOL = "hand_off_to_agent"
TOOL_CONFIG: dict[str, Any] = {
    "tools": [
        {
            "toolSpec": {
                "name": HANDOFF_TOOL,
                "description": (
                    "Hand the conversation over to a human agent. Call it when the user asks to talk "
                    "to a person, or when you cannot help them; say a short goodbye before calling it."
                ),
                "inputSchema": {
                    "json": {
                        "type": "object",
                        "properties": {
                            "reason": {
                                "type": "string",
                                "description": "why the user needs a person, in a few words (for the logs)",
                            }
                        },
                        "required": ["reason"],
                    }
                },
            }
        }
    ]
}
MAX_REASON_LOGGED = 200
Role = Literal["user", "assistant"]
ROLES: Mapping[str, Role] = {"user": "user", "bot": "assistant"}


class BedrockBot:
    """The engine's bot port over a Bedrock model (see the module's docstring)."""

    def __init__(
        self,
        config: BedrockBotConfig,
        *,
        history: Callable[[], Sequence[TranscriptEntry]],
        record_usage: Callable[[int, int], None],
    ) -> None:
        self.config = config
        self.history = history
        self.record_usage = record_usage

    def answer(self, question: BotQuestion) -> BotTurn:
        if not question.text.strip():
            log.info("nothing to ask the model: the message has no text")
            return BotTurn()
        request = self.request(question)
        try:
            response = client(SERVICE).converse(**request)
        except ClientError as error:
            raise BotUnavailable(f"bedrock: {_error_code(error)}") from error
        except BotoCoreError as error:
            raise BotUnavailable(f"bedrock: {type(error).__name__}") from error
        usage = response.get("usage") or {}
        self.record_usage(int(usage.get("inputTokens") or 0), int(usage.get("outputTokens") or 0))
        return self.turn(response)

    def request(self, question: BotQuestion) -> dict[str, Any]:
        """Converse's keyword arguments for the question."""
        config = self.config
        prompt = config.system_prompt.get(question.language) or next(iter(config.system_prompt.values()))
        request: dict[str, Any] = {
            "modelId": config.model_id,
            "messages": self.context(question),
            "toolConfig": TOOL_CONFIG,
            "inferenceConfig": {"maxTokens": config.max_tokens},
        }
        if prompt.strip():
            request["system"] = [{"text": prompt}]
        if config.guardrail_id is not None and config.guardrail_version is not None:
            request["guardrailConfig"] = {
                "guardrailIdentifier": config.guardrail_id,
                "guardrailVersion": config.guardrail_version,
            }
        return request

    def context(self, question: BotQuestion) -> list[dict[str, Any]]:
        """The messages: the session's recent lines and the question last, bounded, alternating."""
        lines: list[tuple[Role, str]] = [
            (ROLES[entry.author], entry.text.strip())
            for entry in self.history()
            if entry.author in ROLES and entry.text and entry.text.strip()
        ]
        asked = question.text.strip()
        if not lines or lines[-1] != ("user", asked):
            lines.append(("user", asked))
        kept: list[tuple[Role, str]] = []
        characters = 0
        for role, text in reversed(lines):
            if len(kept) == self.config.max_turns:
                break
            if not kept:
                text = text[: self.config.max_characters]  # the question itself, always sent
            elif characters + len(text) > self.config.max_characters:
                break
            kept.append((role, text))
            characters += len(text)
        kept.reverse()
        while kept and kept[0][0] == "assistant":
            kept.pop(0)
        messages: list[dict[str, Any]] = []
        for role, text in kept:
            if messages and messages[-1]["role"] == role:
                messages[-1]["content"][0]["text"] += "\n\n" + text
            else:
                messages.append({"role": role, "content": [{"text": text}]})
        return messages

    def turn(self, response: Mapping[str, Any]) -> BotTurn:
        """The turn a Converse response says."""
        stop_reason = response.get("stopReason")
        if stop_reason not in ("end_turn", "tool_use"):
            log.info("the model stopped early", extra={"stop_reason": stop_reason})
        message = (response.get("output") or {}).get("message") or {}
        texts: list[str] = []
        handoff = False
        for block in message.get("content") or ():
            if "text" in block:
                if text := (block["text"] or "").strip():
                    texts.append(text)
            elif "toolUse" in block:
                tool = block["toolUse"]
                if tool.get("name") != HANDOFF_TOOL:
                    log.warning("the model called a tool it was not given", extra={"tool": tool.get("name")})
                    continue
                reason = (tool.get("input") or {}).get("reason")
                # the model's own words may repeat what the user said: DEBUG only
                log.debug(
                    "the model asks for a handoff",
                    extra={"reason": str(reason)[:MAX_REASON_LOGGED] if reason is not None else None},
                )
                handoff = True
                break  # the request ends the bot's turn: what follows it is not said
        text = "\n\n".join(texts)
        return BotTurn(
            messages=(BotMessage(text=text),) if text else (),
            handoff=handoff,
            intent=HANDOFF_TOOL if handoff else None,
        )


def _error_code(error: ClientError) -> str:
    """The service's error code (ThrottlingException, AccessDeniedException, ValidationException, ...)."""
    return str(error.response.get("Error", {}).get("Code") or "ClientError")
