"""The engine's vocabulary: conversations, the events that change them and the effects they owe.

Everything here is plain data (pydantic, frozen): the engine reads these and returns new ones,
and the shell around it turns effects into DynamoDB writes and Graph API requests.
"""

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field

from handoff.config.models import Channel, Language

MessageKind = Literal[
    "text", "choice", "image", "video", "audio", "document", "sticker", "location",
    "contacts", "order", "story_reply", "story_mention", "share", "unsupported", "other",
]  # fmt: skip
"""What a user message is. `story_reply` is text the user wrote in answer to one of the business's
Instagram stories (the bot reads it like any text); `story_mention` is the user mentioning the
business in their own story; `share` is a shared post, reel or link (Messenger, Instagram)."""


class Frozen(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")


class ConversationRef(Frozen):
    """One user on one channel account: the conversation's identity and FIFO message group."""

    tenant_id: str
    channel: Channel
    account_id: str
    user_id: str

    @property
    def key(self) -> str:
        return f"{self.tenant_id}#{self.channel}#{self.account_id}#{self.user_id}"

    @classmethod
    def from_key(cls, key: str) -> Self:
        """The reverse of `key`; ValueError for anything that is not one."""
        parts = key.split("#", 3)
        if len(parts) != 4:
            raise ValueError("not a conversation key")
        tenant_id, channel, account_id, user_id = parts
        return cls.model_validate(
            {"tenant_id": tenant_id, "channel": channel, "account_id": account_id, "user_id": user_id}
        )


class UserAddress(Frozen):
    """How to reach the user on the channel (WhatsApp: phone and/or BSUID; Meta platform: PSID/IGSID)."""

    phone: str | None = None
    bsuid: str | None = None
    scoped_id: str | None = None


class Media(Frozen):
    """What a user sent besides text: a file Meta keeps for the business, or a place.

    A file is reached through Meta only: WhatsApp's `media_id` with the channel account's token
    (`GET /{media-id}`, then the short-lived URL it gives), or Messenger's and Instagram's `url` on
    Meta's CDN. That URL is a public link, so it stays on the server: Live shows a path of its own
    API instead (`services/media.py`), never the link nor the id.
    """

    media_id: str | None = None
    url: str | None = None
    mime_type: str | None = None  # as the webhook declared it; the file's own is checked when fetched
    file_name: str | None = None  # WhatsApp documents
    caption: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    name: str | None = None  # a location's place name
    address: str | None = None  # a location's address

    @property
    def has_file(self) -> bool:
        return self.media_id is not None or self.url is not None


# --- events -------------------------------------------------------------------------------------


class UserMessage(Frozen):
    """A message the user wrote (or a button they tapped), parsed from a channel webhook."""

    type: Literal["user_message"] = "user_message"
    ref: ConversationRef
    event_id: str  # the channel's message id (wamid, mid): the dedupe key
    sent_at: datetime  # the channel's own timestamp
    kind: MessageKind
    text: str | None = None
    payload: str | None = None  # button / quick-reply payload or id, when the user tapped one
    user_name: str | None = None
    address: UserAddress = Field(default_factory=UserAddress)
    media: Media | None = None  # the file or place of a media or location message


class UserChangedId(Frozen):
    """The user's id on the channel changed (WhatsApp: a new phone number, a new BSUID): the
    conversation moves to the new id, keeping its state, place in line and transcript.

    `ref` is the conversation under the old id; `address` is how to reach the user now."""

    type: Literal["user_changed_id"] = "user_changed_id"
    ref: ConversationRef
    event_id: str
    sent_at: datetime
    new_user_id: str
    address: UserAddress = Field(default_factory=UserAddress)


class AgentsAvailable(Frozen):
    """The wake pass found an agent available for this conversation's channel."""

    type: Literal["agents_available"] = "agents_available"
    ref: ConversationRef
    event_id: str


class ExpiryCheck(Frozen):
    """The wake pass asks whether a waiting conversation has been inactive for 24 hours."""

    type: Literal["expiry_check"] = "expiry_check"
    ref: ConversationRef
    event_id: str


class SessionCheck(Frozen):
    """The minute schedule asks whether a bot session has been silent for 24 hours (its report row)."""

    type: Literal["session_check"] = "session_check"
    ref: ConversationRef
    event_id: str


class AgentTakes(Frozen):
    type: Literal["agent_takes"] = "agent_takes"
    ref: ConversationRef
    event_id: str
    agent_id: str
    agent_name: str | None = None  # what other agents and the transcript call the agent


class AgentReplies(Frozen):
    type: Literal["agent_replies"] = "agent_replies"
    ref: ConversationRef
    event_id: str
    agent_id: str
    text: str


class AgentSendsTemplate(Frozen):
    """An agent sends one of the tenant's approved templates (`TenantConfig.agent_templates`): on
    WhatsApp, past the 24-hour window, the only message that still reaches the user."""

    type: Literal["agent_sends_template"] = "agent_sends_template"
    ref: ConversationRef
    event_id: str
    agent_id: str
    name: str
    language: str
    parameters: tuple[str, ...] = ()


class AgentCloses(Frozen):
    type: Literal["agent_closes"] = "agent_closes"
    ref: ConversationRef
    event_id: str
    agent_id: str


class AgentHandsOver(Frozen):
    """The agent who has the conversation hands it to another agent of the tenant (`to_agent_id`),
    or puts it back in Live's queue (`to_agent_id` None), where it keeps its place in line. Live
    checks first that the receiver is online with a free seat; the user is not told."""

    type: Literal["agent_hands_over"] = "agent_hands_over"
    ref: ConversationRef
    event_id: str
    agent_id: str
    agent_name: str | None = None
    to_agent_id: str | None = None
    to_agent_name: str | None = None


Event = Annotated[
    UserMessage
    | UserChangedId
    | AgentsAvailable
    | ExpiryCheck
    | SessionCheck
    | AgentTakes
    | AgentReplies
    | AgentSendsTemplate
    | AgentCloses
    | AgentHandsOver,
    Field(discriminator="type"),
]


# --- state --------------------------------------------------------------------------------------

State = Literal["bot", "offered", "queued", "with_agent"]
Resolution = Literal["transferred", "while_waiting", "bot"]


class BotSession(Frozen):
    """A stretch of the conversation handled by the bot: one row of the chat report."""

    number: int
    id: str = ""  # opaque and stable through the session: what an external bot knows it by
    started_at: datetime
    last_activity_at: datetime | None = None
    after_hours: bool = False
    direct: bool = False
    offered: bool = False
    accepted: bool = False  # the user said YES to the after-hours offer
    declined: bool = False
    handoff_repeated: bool = False
    while_waiting: bool = False


class Conversation(Frozen):
    ref: ConversationRef
    id: str = ""
    """Opaque and random, given by the shell when the conversation is first stored: what Live's
    URLs, report rows and bus events name it by (the ref holds the user's channel id)."""
    version: int = 0  # optimistic concurrency: the stored version this state was read at
    state: State = "bot"
    language: Language = "es"
    user_name: str | None = None
    address: UserAddress = Field(default_factory=UserAddress)
    session: BotSession | None = None
    sessions_started: int = 0
    on_hold: bool = False  # queued after hours: the user accepted to wait
    direct: bool = False  # the rule's `direct` at transfer time
    queued_at: datetime | None = None  # when it entered Live's queue (the place in line)
    notified_available: bool = False
    agent_id: str | None = None
    agent_name: str | None = None  # the display name of the agent who has it, as of the take or handover
    taken_at: datetime | None = None
    returned_at: datetime | None = None
    """When an agent last put it back in the queue (None: not since it entered): the current stretch
    in the queue began then, while `queued_at` keeps its place in line."""
    last_activity_at: datetime | None = None  # user or agent message, or a handover
    last_user_message_at: datetime | None = None  # opens the channel's messaging window
    notice: str | None = None  # why something the user is owed could not be sent, shown in Live
    outbox_waiting: bool = False
    """The shell's, never read by the engine: Meta asked an older message to wait, so the
    conversation's newer messages wait behind it in the outbox, in order."""
    recent_event_ids: tuple[str, ...] = ()
    """Marks of the last events applied (`engine.flow.event_mark`): a repeat changes nothing."""
    id_kept_until: datetime | None = None
    """The shell's, never read by the engine: until when the lookup from `id` to the conversation
    is kept (refreshed, rarely, as the conversation's own expiry moves past it)."""


# --- effects ------------------------------------------------------------------------------------


class SendText(Frozen):
    effect: Literal["send_text"] = "send_text"
    text: str
    author: Literal["bot", "agent", "system"] = "bot"
    human_agent_tag: bool = False  # a person's reply 24 h-7 d after the user's last message (Meta platform)


class SendChoice(Frozen):
    """A question with a YES and a NO the user can tap (WhatsApp reply buttons, quick replies)."""

    effect: Literal["send_choice"] = "send_choice"
    text: str
    yes_title: str
    no_title: str
    author: Literal["bot", "agent", "system"] = "bot"


class SendTemplate(Frozen):
    effect: Literal["send_template"] = "send_template"
    name: str
    language: str
    parameters: tuple[str, ...] = ()
    author: Literal["bot", "agent", "system"] = "system"


class Option(Frozen):
    """A button a bot offers: the title the user sees, and the payload sent back when it is tapped."""

    title: str
    payload: str


class SendOptions(Frozen):
    """A bot's message with buttons (WhatsApp reply buttons, Messenger/Instagram quick replies)."""

    effect: Literal["send_options"] = "send_options"
    text: str
    options: tuple[Option, ...]
    author: Literal["bot", "agent", "system"] = "bot"


Outbound = SendText | SendChoice | SendTemplate | SendOptions

YES_PAYLOAD = "HANDOFF_WAIT_YES"
NO_PAYLOAD = "HANDOFF_WAIT_NO"


LineKind = MessageKind | Literal["template"]
"""What a transcript line is: a user message's kind, or `template` for an approved template sent."""


class TranscriptEntry(Frozen):
    """A line of the transcript agents read: who said what, when, and of which kind."""

    effect: Literal["transcript"] = "transcript"
    at: datetime
    author: Literal["user", "bot", "agent", "system"]
    kind: LineKind
    text: str | None = None
    event_id: str | None = None
    undelivered: str | None = None
    """Why the channel refused this message for good (set after the fact, when Meta refused it)."""
    media: Media | None = None
    """A user's file or place (kept server side: Live shows `services.media.MediaView` instead)."""
    agent_name: str | None = None
    """An agent's line: the display name of the agent who wrote it."""


class SessionRecord(Frozen):
    """A bot session that ended: one row of the chat report.

    The engine closes it, the store keeps it as it is (adding the id Live shows for its
    conversation, which the engine does not know) and the report reads it back.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")  # rows stored earlier also hold tenant_id

    channel: Channel
    conversation_id: str = ""
    session: int
    started_at: datetime
    ended_at: datetime
    resolution: Resolution
    after_hours: bool = False
    direct: bool = False
    offered: bool = False
    accepted: bool = False
    declined: bool = False
    handoff_repeated: bool = False
    while_waiting: bool = False

    @classmethod
    def closing(
        cls, session: BotSession, channel: Channel, ended_at: datetime, resolution: Resolution
    ) -> Self:
        flags = session.model_dump(exclude={"number", "started_at", "last_activity_at"})
        return cls(
            channel=channel,
            session=session.number,
            started_at=session.started_at,
            ended_at=ended_at,
            resolution=resolution,
            **flags,
        )


class SessionClosed(Frozen):
    """A bot session ended: its chat-report row."""

    effect: Literal["session_closed"] = "session_closed"
    record: SessionRecord


WaitOutcome = Literal["taken", "closed", "expired"]
ConversationEventName = Literal[
    "ConversationTaken", "ConversationClosed", "WaitExpired", "ConversationHandedOver",
    "ConversationQueued", "UserMessageReceived", "AgentMessageSent",
]  # fmt: skip
"""What the bus hears of a conversation (docs/events.md). The last three are what keeps Live's
consoles current (pushed to them): a conversation entered the queue, its user wrote while it is in
Live (never while the bot has it), an agent replied or sent a template."""


class WaitEnded(Frozen):
    """A stretch in Live's queue ended: taken or closed by an agent, or expired after 24 h of inactivity."""

    effect: Literal["wait_ended"] = "wait_ended"
    queued_at: datetime
    """When this stretch began: when the conversation entered the queue, or, for a stretch after an
    agent put it back (`returned`), that instant (the conversation's own `queued_at`, its place in
    line, stays the first)."""
    ended_at: datetime
    outcome: WaitOutcome
    on_hold: bool
    woken: bool = False  # the user, waiting after hours, was told an agent is available
    returned: bool = False  # the stretch began when an agent put the conversation back in the queue


ChatOutcome = Literal["closed", "closed_idle", "handed_over", "returned"]
"""How a chat an agent had ended: closed by the agent, closed after days without activity, handed
to another agent (whose own chat begins then), or put back in the queue by the agent."""


class ChatEnded(Frozen):
    """A chat an agent had ended: closed by the agent or after days without activity, handed to
    another agent, or put back in the queue. `agent_id` and `agent_name` say whose chat it was."""

    effect: Literal["chat_ended"] = "chat_ended"
    taken_at: datetime
    ended_at: datetime
    outcome: ChatOutcome
    agent_id: str | None = None
    agent_name: str | None = None


class ConversationEvent(Frozen):
    """Something other systems may want to hear of, published on the event bus (docs/events.md)."""

    effect: Literal["conversation_event"] = "conversation_event"
    name: ConversationEventName
    at: datetime
    agent_id: str | None = None
    queued_at: datetime | None = None
    on_hold: bool = False
    idle: bool = False  # ConversationClosed: closed for want of activity, not by the agent
    to_agent_id: str | None = None  # ConversationHandedOver: the receiver; None: back to the queue


BusinessMetric = Literal[
    "HandoffOffered", "HandoffAccepted", "HandoffDeclined", "HandoffTransferred",
    "UserWoken", "WaitExpired", "TimeToAgent", "ChatClosedIdle",
]  # fmt: skip


MetricUnit = Literal["Count", "Seconds"]


class Metric(Frozen):
    effect: Literal["metric"] = "metric"
    name: BusinessMetric
    value: float = 1.0
    unit: MetricUnit = "Count"


Effect = Outbound | TranscriptEntry | SessionClosed | WaitEnded | ChatEnded | ConversationEvent | Metric
