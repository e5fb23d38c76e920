"""The engine and the kinds only Messenger and Instagram send: story replies are read, the rest is media."""

from __future__ import annotations

import pytest
from flow_support import Driver, after_hours_rule, tenant

from handoff.config.texts import texts_for
from handoff.engine.model import SendText, TranscriptEntry


def sent(effects: list) -> list[str]:
    return [e.text for e in effects if isinstance(e, SendText)]


def test_a_story_reply_is_text_the_bot_reads() -> None:
    driver = Driver(tenant())
    effects = driver.user("Love this colour!", kind="story_reply")
    assert sent(effects) == ["bot: Love this colour!"]
    [line] = [e for e in effects if isinstance(e, TranscriptEntry) and e.author == "user"]
    assert (line.kind, line.text) == ("story_reply", "Love this colour!")


@pytest.mark.parametrize("kind", ["story_mention", "share", "sticker"])
def test_mentions_and_shares_are_kept_by_kind_and_answered_text_only(kind: str) -> None:
    driver = Driver(tenant())
    effects = driver.user(None, kind=kind)
    assert sent(effects) == [texts_for(driver.tenant, None, "en").text_only]
    assert [e.kind for e in effects if isinstance(e, TranscriptEntry) and e.author == "user"] == [kind]


def test_a_story_reply_can_answer_the_offer() -> None:
    driver = Driver(tenant(rule=after_hours_rule()))
    driver.user("I want an agent")
    driver.user("yes", kind="story_reply")
    assert driver.conversation.state == "queued" and driver.conversation.on_hold
