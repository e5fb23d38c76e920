"""`make chaos`: lost and doubled answers under Meta's delivery semantics, Graph API faults and crashes.

The real webhook, queue and conversation handlers run on moto (`LocalRun`). WhatsApp users write
unique texts ("m<n>") in signed webhook deliveries of 1 to 5 messages, shuffled within each round,
about 30% of the deliveries sent again (at once, or a few rounds later: past the FIFO queue's
5-minute deduplication). The tenant's bot is a tiny echo bot in Rasa's REST format on loopback
("echo: m<n>"), at night with no agent online, so every text owes its user exactly one answer
that names it. Meanwhile the fake Graph API answers a seeded share of the sends with Meta's
failures (500 code 2, 130429 with 429 and with 400, no answer after taking the message, and a
permanent 400 code 100), and the conversation function crashes once at each step between receiving
a message and deleting its outbox item. Then the faults stop, the minute schedule runs until the
outbox and the queue are empty, and every unique message is counted: delivered once, lost, refused
for good (expected: Live marks it 'not delivered'), doubled (avoidable or not), dead-lettered.

It also measures the embedded run itself as the traffic grows (issue 11: moto once made it grow to
14 GB and 1 s a webhook): the process's resident memory and its peak, the webhook POST's time, and
the time per text end to end (its POST and the queue work it causes), at 1,000, 2,000, 5,000 and
10,000 texts.

    python -m bench.chaos [--messages 10000] [--users 200] [--seed 1] [--fault-rate 0.2] [--json PATH]
                          [--max-memory-mib 1024] [--max-ms-per-webhook 100] [--moto-as-is]

Exit code 0 when nothing was lost, no avoidable double was sent and nothing was dead-lettered (and
the run reached quiescence), and the run kept to its budget: a peak under 1 GiB, and under 100 ms
a webhook (the POSTs' 95th percentile, and the mean per text end to end, over the last 1,000);
1 otherwise, 2 when the warm-up shows the harness's assumptions do not hold.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from handoff_local import payloads
from handoff_local.fake_graph import FAULT_KINDS, Faults, RecordedAnswer
from handoff_local.runtime import LocalRun
from handoff_tools.functions import ROOT

HTTP_CONFIG = ROOT / "examples" / "config.http-bot.yaml"
EXAMPLE_BOT_URL = "http://127.0.0.1:5005"  # the url examples/config.http-bot.yaml names
TENANT = "acme"
PHONE_NUMBER_ID = "200000000000001"  # acme's WhatsApp account in examples/config.http-bot.yaml
ZONE = "America/Bogota"
BOT_PATH = "/webhooks/rest/webhook"

DEFAULT_MESSAGES = 10000
REPEAT_SHARE = 0.3  # of the deliveries, sent again
LATE_REPEAT_ROUNDS = (2, 3)  # a late repeat comes this many rounds later
MINUTES_PER_ROUND = 3  # on the run's clock, one schedule tick a minute: a late repeat is 6+ minutes late
QUIESCENCE_MINUTES = 60  # at most, once the traffic is over

# The embedded run's budget (issue 11): 10,000 messages in under 1 GB, and under 100 ms a webhook.
MAX_PEAK_MIB = 1024
MAX_MS_PER_WEBHOOK = 100.0
WINDOW = 1000  # webhooks: "the last 1,000"
CHECKPOINTS = (1000, 2000, 5000, 10000)  # texts sent: the report's rows (and the last round's)

FAULT_MIX = {  # each kind's part of --fault-rate
    "server_error": 0.3,
    "throttled_429": 0.15,
    "throttled_400": 0.15,
    "timeout": 0.25,
    "refused": 0.15,
}
FAULT_LABELS = {
    "server_error": "HTTP 500, code 2 (retryable)",
    "throttled_429": "HTTP 429, code 130429 (retryable)",
    "throttled_400": "HTTP 400, code 130429 (retryable)",
    "timeout": "taken, then no answer (retryable, maybe sent)",
    "refused": "HTTP 400, code 100 (permanent)",
}

CRASH_POINTS = ("after receive", "after load", "after commit", "after send")
CRASH_LABELS = {
    "after receive": "after receive, before load",
    "after load": "after load, before commit",
    "after commit": "after commit, before send",
    "after send": "after send, before the outbox delete",
}

ECHO = re.compile(r"^echo: (?P<text>[mw]\d+)$")


# --- the bot ----------------------------------------------------------------------------------------


class EchoBot:
    """A bot in Rasa's REST format on loopback that answers each message with "echo: <message>"."""

    def __init__(self) -> None:
        self.asked: Counter[str] = Counter()  # message -> how many times the bot was asked
        self._lock = threading.Lock()
        bot = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True  # else each answer's body waits some 40 ms for an ACK

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                message = str(body.get("message", ""))
                with bot._lock:
                    bot.asked[message] += 1
                data = json.dumps([{"recipient_id": body.get("sender"), "text": f"echo: {message}"}]).encode()
                self.send_response(200 if self.path == BOT_PATH else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True, name="echo-bot")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> EchoBot:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def echo_bot_config() -> Iterator[tuple[Path, EchoBot]]:
    """examples/config.http-bot.yaml with its bot url pointed at a running echo bot."""
    with EchoBot() as bot, tempfile.TemporaryDirectory() as folder:
        text = HTTP_CONFIG.read_text(encoding="utf-8")
        if EXAMPLE_BOT_URL not in text:
            raise SystemExit(f"{HTTP_CONFIG} no longer names {EXAMPLE_BOT_URL}: update bench/chaos.py")
        path = Path(folder) / "config.yaml"
        path.write_text(text.replace(EXAMPLE_BOT_URL, bot.url), encoding="utf-8")
        yield path, bot


# --- crashes ------------------------------------------------------------------------------------------


class InjectedCrash(Exception):
    """The conversation function dying at a chosen point (as a timeout or an out-of-memory would)."""


class Crashes:
    """Makes the conversation function crash once at each armed point, by patching the wiring's objects.

    A crash fails the whole invocation, as a dead Lambda process does: the records after it in the
    batch are not processed (they fail at once), and the local drain returns the whole batch to the
    queue, as Lambda does (at once, where SQS would wait for the visibility timeout). The crashing
    step leaves what a real crash leaves: what it had committed, and no record of its own (the
    conversation function keeps none; a redelivered event is recognised by what it committed).
    """

    def __init__(self) -> None:
        self.armed: set[str] = set()
        self.fired: Counter[str] = Counter()
        self.sent_then_crashed: Counter[str] = Counter()  # text -> copies Meta took before a crash
        self._in_conversation_function = False
        self._crashed = False

    def install(self, run: LocalRun) -> None:
        from handoff.engine.model import UserMessage
        from handoff.runtime import wiring

        conversations = wiring.conversations()
        store = conversations.store
        graph = conversations.graph
        apply, load, commit, post = conversations.apply, store.load, store.commit, graph.post

        def apply_crashing(event: Any, **how: Any) -> Any:
            if isinstance(event, UserMessage):
                self._crash("after receive")
            return apply(event, **how)

        def load_crashing(ref: Any) -> Any:
            loaded = load(ref)
            self._crash("after load")
            return loaded

        def commit_crashing(*args: Any, **kwargs: Any) -> Any:
            stored, outbox = commit(*args, **kwargs)
            if kwargs.get("applies") is not None and outbox:
                self._crash("after commit")
            return stored, outbox

        def post_crashing(request: Any, access_token: str) -> Any:
            result = post(request, access_token)  # a GraphError goes up as it is: no crash then
            if self._fires("after send"):
                self.sent_then_crashed[_answer_text(request.body)] += 1
                raise InjectedCrash("after send")
            return result

        conversations.apply = apply_crashing  # type: ignore[method-assign]
        store.load = load_crashing  # type: ignore[method-assign]
        store.commit = commit_crashing  # type: ignore[method-assign]
        graph.post = post_crashing  # type: ignore[method-assign]

        function = run._functions["ConversationFunction"]
        record_handler = function.record_handler

        def record_handler_after_a_crash(record: Any, lambda_context: Any) -> Any:
            if self._crashed:  # the process is gone: the batch's later records never run
                raise InjectedCrash("the invocation crashed earlier")
            return record_handler(record, lambda_context)

        function.record_handler = record_handler_after_a_crash  # type: ignore[attr-defined]
        invoke = run.invoke

        def invoke_crashing(name: str, event: Mapping[str, Any]) -> Any:
            if name != "ConversationFunction":
                return invoke(name, event)
            self._in_conversation_function, self._crashed = True, False
            try:
                result = invoke(name, event)
            finally:
                self._in_conversation_function = False
            if self._crashed:  # Lambda hands the whole batch back after a crash; so does the drain
                raise InjectedCrash("the conversation function crashed")
            return result

        run.invoke = invoke_crashing  # type: ignore[method-assign, assignment]

    def _fires(self, point: str) -> bool:
        if not self._in_conversation_function or self._crashed or point not in self.armed:
            return False
        self.armed.discard(point)
        self.fired[point] += 1
        self._crashed = True
        return True

    def _crash(self, point: str) -> None:
        if self._fires(point):
            raise InjectedCrash(point)


def _answer_text(body: Any) -> str:
    if isinstance(body, dict) and body.get("type") == "text":
        match = ECHO.match(str(body.get("text", {}).get("body", "")))
        if match:
            return match["text"]
    return ""


# --- a reproducible run ------------------------------------------------------------------------------


@contextmanager
def stepped_clock() -> Iterator[None]:
    """The run's clock moves only when the harness moves it (`run.advance`, a minute per tick), not
    with the wall clock too: otherwise how long an invocation takes decides borderline cases (is a
    one-minute lease, stored in whole seconds, over at the next tick?), and the same seed could
    count differently on a slower machine."""
    from handoff import clock

    now = clock.now
    start = datetime.now(UTC)
    clock.now = lambda: start + clock._offset  # the offset that `clock.advance` moves
    try:
        yield
    finally:
        clock.now = now


def waits_move_the_clock() -> None:
    """A sender waiting for its account's next send slot moves the run's clock on by the wait instead
    of sleeping: on a clock that stands still, the schedule would only fill up, each wait longer."""
    from handoff import clock
    from handoff.runtime import wiring

    def wait(seconds: float) -> None:
        clock.advance(seconds)

    wiring.conversations().sleep = wait


# --- the traffic ------------------------------------------------------------------------------------


@dataclass
class Traffic:
    messages: int
    users: int
    seed: int
    sender: dict[str, str] = field(default_factory=dict)  # text -> wa_id
    deliveries: int = 0
    posts: int = 0  # webhook POSTs, repeats included
    repeats: Counter[str] = field(default_factory=Counter)  # "immediately", "late"
    statuses: Counter[int] = field(default_factory=Counter)
    rounds: int = 0
    events_processed: int = 0
    quiescence_minutes: int | None = None

    @staticmethod
    def wa_id(user: int) -> str:
        return f"57302{user:07d}"


# --- what the embedded run costs ---------------------------------------------------------------------


def memory_mib() -> tuple[float, float]:
    """This process's resident memory now and at its peak, in MiB (Linux's VmRSS and VmHWM; elsewhere
    the peak for both, from getrusage)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            fields = dict(line.split(":", 1) for line in status if ":" in line)
        return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024
    except (OSError, KeyError, ValueError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
        peak_mib = peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
        return peak_mib, peak_mib


@dataclass
class Checkpoint:
    """The run's cost once `texts` texts were sent (at the end of a round)."""

    texts: int
    rss_mib: float
    peak_mib: float
    ms_per_text: float  # end to end, the last WINDOW texts
    post_p95_ms: float  # the last WINDOW webhook POSTs


@dataclass
class Costs:
    """The embedded run's time and memory while the traffic runs.

    Two times per webhook. Its POST: what Meta waits for (the webhook function queues the
    delivery). And end to end, per text: the POSTs of a round and the queue work drained after
    them (the conversation function, the bot, the Graph API sends, the faults' retries), over the
    texts the round brought: what a webhook of one text costs the run in all (deliveries carry one
    to five). The minute's schedule is timed apart: it runs once a minute whatever the traffic.
    "The last" is the latest WINDOW POSTs, or the latest whole rounds holding WINDOW texts.
    """

    post_ms: list[float] = field(default_factory=list)  # each webhook POST
    rounds: list[tuple[int, float]] = field(default_factory=list)  # (new texts, ms of its POSTs and drain)
    tick_ms: list[float] = field(default_factory=list)  # each minute's schedule while the traffic ran
    checkpoints: list[Checkpoint] = field(default_factory=list)

    def ms_per_text(self, *, last: bool = True) -> float:
        """End to end, over the last (or the first) rounds that hold WINDOW texts."""
        texts = total = 0.0
        for n, ms in reversed(self.rounds) if last else self.rounds:
            texts, total = texts + n, total + ms
            if texts >= WINDOW:
                break
        return total / texts if texts else 0.0

    def post_ms_stats(self) -> dict[str, float]:
        """The last WINDOW webhook POSTs: mean, 95th percentile, max."""
        latest = self.post_ms[-WINDOW:]
        if not latest:
            return {"mean": 0.0, "p95": 0.0, "max": 0.0}
        return {
            "mean": statistics.fmean(latest),
            "p95": _percentile(latest, 0.95),
            "max": max(latest),
        }

    def checkpoint(self, texts: int) -> None:
        rss, peak = memory_mib()
        self.checkpoints.append(Checkpoint(texts, rss, peak, self.ms_per_text(), self.post_ms_stats()["p95"]))


def _percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)]


def post(run: LocalRun, traffic: Traffic, raw: bytes, costs: Costs) -> None:
    started = time.perf_counter()
    traffic.statuses[run.webhook("whatsapp", raw).status] += 1
    costs.post_ms.append((time.perf_counter() - started) * 1000)
    traffic.posts += 1


def minute(run: LocalRun, costs: Costs | None = None) -> None:
    """A minute passes on the run's clock, and the schedule runs (wake pass, outbox sweep, drain,
    DynamoDB's TTL deletions)."""
    run.advance(60)
    started = time.perf_counter()
    run.tick()
    if costs is not None:
        costs.tick_ms.append((time.perf_counter() - started) * 1000)


def send_traffic(
    run: LocalRun, traffic: Traffic, crashes: Crashes, costs: Costs, progress: Callable[[str], None]
) -> None:
    """Rounds of about one text per user (users drawn at random: some write twice, some not at
    all), in shuffled deliveries of 1 to 5, some of them repeated; each round drained, then a
    few minutes of the schedule. The run's costs are taken at each round's end."""
    from handoff import clock

    rng = random.Random(traffic.seed)
    rounds = math.ceil(traffic.messages / traffic.users)
    arm_at = {point: (n + 1) * rounds // (len(CRASH_POINTS) + 1) for n, point in enumerate(CRASH_POINTS)}
    late: dict[int, list[bytes]] = defaultdict(list)
    round_number = 0
    while round_number < rounds or late:
        crashes.armed |= {point for point, at in arm_at.items() if at == round_number}
        first = round_number * traffic.users
        numbers = list(range(first, min(first + traffic.users, traffic.messages)))
        now = clock.now()
        span = timedelta(minutes=MINUTES_PER_ROUND)
        texts = []
        for k, n in enumerate(numbers):  # written during the round before, in order
            wa_id = traffic.wa_id(rng.randrange(traffic.users))
            traffic.sender[f"m{n}"] = wa_id
            at = now - span + span * (k + 1) / (len(numbers) + 1)
            texts.append(payloads.whatsapp_text(wa_id, f"m{n}", at, message_id=f"wamid.CHAOS{n:010d}"))
        rng.shuffle(texts)
        bodies: list[bytes] = []
        while texts:
            size = rng.randint(1, 5)
            chunk, texts = texts[:size], texts[size:]
            contacts = [payloads.whatsapp_contact(m["from"], f"User {m['from'][-4:]}") for m in chunk]
            raw = json.dumps(payloads.whatsapp_delivery(PHONE_NUMBER_ID, *chunk, contacts=contacts)).encode()
            traffic.deliveries += 1
            bodies.append(raw)
            if rng.random() < REPEAT_SHARE:
                if rng.random() < 0.5:
                    traffic.repeats["immediately"] += 1
                    bodies.append(raw)  # the same bytes again (the shuffle may put it first)
                else:
                    traffic.repeats["late"] += 1
                    late[round_number + rng.choice(LATE_REPEAT_ROUNDS)].append(raw)
        bodies += late.pop(round_number, [])
        rng.shuffle(bodies)
        started = time.perf_counter()
        for raw in bodies:
            post(run, traffic, raw, costs)
        traffic.events_processed += run.drain()
        costs.rounds.append((len(numbers), (time.perf_counter() - started) * 1000))
        for _ in range(MINUTES_PER_ROUND):
            minute(run, costs)
        round_number += 1
        traffic.rounds = round_number
        sent = min(len(traffic.sender), traffic.messages)
        costs.checkpoint(sent)
        latest = costs.checkpoints[-1]
        progress(
            f"round {round_number}: {sent} texts sent; {latest.ms_per_text:.0f} ms per text, "
            f"{latest.rss_mib:.0f} MiB"
        )


def quiesce(run: LocalRun, traffic: Traffic, crashes: Crashes) -> None:
    """Faults and crashes off; the schedule runs, a minute at a time, until nothing is left to do."""
    run.graph.inject_faults(None)
    crashes.armed.clear()
    for minutes in range(QUIESCENCE_MINUTES + 1):
        traffic.events_processed += run.drain()
        if run.pending_outbox() == 0 and queue_depth(run) == 0:
            traffic.quiescence_minutes = minutes
            return
        minute(run)


def queue_depth(run: LocalRun) -> int:
    import boto3

    assert run.stack is not None
    with run.lock:
        attributes = boto3.client("sqs").get_queue_attributes(
            QueueUrl=run.stack.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
    return sum(int(value) for value in attributes.values())


# --- the warm-up --------------------------------------------------------------------------------------


def warm_up(run: LocalRun) -> None:
    """Check the harness's assumption before counting on it: each text gets exactly one answer,
    "echo: <text>", to its own user (no greeting, no offer, nothing else). Raises SystemExit(2)."""
    from handoff import clock

    users = [f"57399{u:07d}" for u in range(2)]
    sent = {}
    for k in range(4):
        wa_id = users[k % 2]
        text = f"w{k}"
        sent[text] = wa_id
        run.webhook(
            "whatsapp",
            payloads.whatsapp_delivery(PHONE_NUMBER_ID, payloads.whatsapp_text(wa_id, text, clock.now())),
        )
        run.drain()
        run.advance(5)
    answers = [
        a
        for a in run.graph.answers
        if isinstance(a.request.json, dict) and str(a.request.json.get("to", "")).lstrip("+") in users
    ]
    got = Counter((a.request.json["to"].lstrip("+"), _shown(a)) for a in answers)
    wanted = Counter((wa_id, f"echo: {text}") for text, wa_id in sent.items())
    if got != wanted or not all(a.accepted for a in answers):
        raise SystemExit(
            "chaos warm-up failed: each text should get exactly one answer 'echo: <text>' to its user,\n"
            f"  wanted {sorted(wanted.elements())}\n  got    {sorted(got.elements())}\n"
            "  (the engine or the config now says more than the bot: the harness cannot attribute answers)"
        )
    if run.pending_outbox() or run.dead_letters():
        raise SystemExit("chaos warm-up failed: the outbox or the dead-letter queue is not empty")


def _shown(answer: RecordedAnswer) -> str:
    body = answer.request.json
    if isinstance(body, dict) and body.get("type") == "text":
        return str(body["text"]["body"])
    return f"({body.get('type') if isinstance(body, dict) else body!r})"


# --- counting -------------------------------------------------------------------------------------


@dataclass
class Tally:
    delivered_once: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    refused_for_good: list[str] = field(default_factory=list)
    refused_unmarked: list[str] = field(default_factory=list)  # counted in lost too
    doubled_avoidable: list[str] = field(default_factory=list)
    doubled_unavoidable: list[str] = field(default_factory=list)
    unavoidable_copies: Counter[str] = field(default_factory=Counter)  # cause -> extra copies
    misdirected: list[str] = field(default_factory=list)
    delivered_marked_undelivered: list[str] = field(default_factory=list)  # a resend refused for good
    bot_asked_more_than_once: int = 0
    transcript_wrong: list[str] = field(default_factory=list)


def tally(run: LocalRun, traffic: Traffic, crashes: Crashes, bot: EchoBot) -> Tally:
    from handoff.engine.model import ConversationRef
    from handoff.runtime.wiring import conversation_store

    accepted: dict[str, list[RecordedAnswer]] = defaultdict(list)
    refused: Counter[str] = Counter()
    result = Tally()
    for answer in run.graph.answers:
        text = _answer_text(answer.request.json)
        if not text.startswith("m"):
            continue
        if answer.request.json.get("to") != f"+{traffic.sender.get(text)}":
            result.misdirected.append(text)
        if answer.accepted:
            accepted[text].append(answer)
        elif answer.fault == "refused":
            refused[text] += 1
    store = conversation_store()
    transcripts = {
        wa_id: store.transcript(
            ConversationRef(tenant_id=TENANT, channel="whatsapp", account_id=PHONE_NUMBER_ID, user_id=wa_id)
        )
        for wa_id in set(traffic.sender.values())
    }
    for n in range(traffic.messages):
        text = f"m{n}"
        lines = transcripts[traffic.sender[text]]
        said = [line for line in lines if line.author == "user" and line.text == text]
        answered = [line for line in lines if line.author == "bot" and line.text == f"echo: {text}"]
        if len(said) != 1 or len(answered) != 1:
            result.transcript_wrong.append(text)
        if bot.asked[text] > 1:
            result.bot_asked_more_than_once += 1
        copies = accepted[text]
        if not copies:
            if refused[text] and any(line.undelivered for line in answered):
                result.refused_for_good.append(text)
            else:
                result.lost.append(text)
                if refused[text]:
                    result.refused_unmarked.append(text)
            continue
        if any(line.undelivered for line in answered):
            result.delivered_marked_undelivered.append(text)
        if len(copies) == 1:
            result.delivered_once.append(text)
            continue
        # copies whose acceptance the product could not learn: Meta took them, no answer came back
        taken_unanswered = sum(1 for a in copies if a.fault == "timeout")
        crashed_after = crashes.sent_then_crashed[text]
        extra = len(copies) - 1
        if extra <= taken_unanswered + crashed_after:
            result.doubled_unavoidable.append(text)
            from_timeouts = min(extra, taken_unanswered)
            result.unavoidable_copies["timeout"] += from_timeouts
            result.unavoidable_copies["after send"] += extra - from_timeouts
        else:
            result.doubled_avoidable.append(text)
    return result


# --- the figures ------------------------------------------------------------------------------------


def figures(
    run: LocalRun,
    traffic: Traffic,
    crashes: Crashes,
    counted: Tally,
    costs: Costs,
    wall_seconds: float,
    budget: tuple[float, float] = (MAX_PEAK_MIB, MAX_MS_PER_WEBHOOK),
) -> dict[str, Any]:
    faults = run.graph.faults_injected()
    dead_letters = run.dead_letters()
    pending = run.pending_outbox()
    depth = queue_depth(run)
    checks = {
        "every delivery answered 200": traffic.statuses.get(200, 0) == traffic.posts,
        "quiescence reached (outbox and queue empty)": pending == 0 and depth == 0,
        "every answer went to its own user": not counted.misdirected,
        "each text and its answer once in the transcript": not counted.transcript_wrong,
        "every fault kind injected": all(faults[kind] for kind in FAULT_KINDS),
        "every crash point injected": all(crashes.fired[point] for point in CRASH_POINTS),
    }
    max_peak_mib, max_ms = budget
    _, peak_mib = memory_mib()
    ms_per_text = costs.ms_per_text()
    posts = costs.post_ms_stats()
    budget_checks = {
        f"the embedded run's peak memory under {max_peak_mib:.0f} MiB": peak_mib < max_peak_mib,
        f"webhook POSTs under {max_ms:.0f} ms (95th percentile, the last {WINDOW})": posts["p95"] < max_ms,
        f"under {max_ms:.0f} ms per text, end to end (mean, the last {WINDOW})": ms_per_text < max_ms,
    }
    ok = not counted.lost and not counted.doubled_avoidable and dead_letters == 0
    # the harness's own guarantees: counts made on a run that did not settle, or that sent answers
    # elsewhere, are not counts; and the embedded run's budget
    ok = ok and all(checks[name] for name in list(checks)[:4]) and all(budget_checks.values())
    checks |= budget_checks
    return {
        "messages": traffic.messages,
        "users": traffic.users,
        "seed": traffic.seed,
        "deliveries": traffic.deliveries,
        "webhook_posts": traffic.posts,
        "duplicate_deliveries": sum(traffic.repeats.values()),
        "duplicates": dict(traffic.repeats),
        "rounds": traffic.rounds,
        "queue_events_processed": traffic.events_processed,
        "graph_requests": len(run.graph.answers),
        "faults": {kind: faults[kind] for kind in FAULT_KINDS},
        "crashes": {point: crashes.fired[point] for point in CRASH_POINTS},
        "delivered_once": len(counted.delivered_once),
        "lost": len(counted.lost),
        "refused_for_good": len(counted.refused_for_good),
        "refused_unmarked": len(counted.refused_unmarked),
        "doubled_avoidable": len(counted.doubled_avoidable),
        "doubled_unavoidable": len(counted.doubled_unavoidable),
        "unavoidable_extra_copies": {
            "timeout": counted.unavoidable_copies["timeout"],
            "after send": counted.unavoidable_copies["after send"],
        },
        "dead_lettered": dead_letters,
        "outbox_pending": pending,
        "queue_depth": depth,
        "misdirected": len(counted.misdirected),
        "transcript_wrong": len(counted.transcript_wrong),
        "bot_asked_more_than_once": counted.bot_asked_more_than_once,
        "delivered_marked_undelivered": len(counted.delivered_marked_undelivered),
        "quiescence_minutes": traffic.quiescence_minutes,
        "examples": {
            "lost": counted.lost[:20],
            "doubled_avoidable": counted.doubled_avoidable[:20],
            "transcript_wrong": counted.transcript_wrong[:20],
        },
        "checks": checks,
        "wall_seconds": round(wall_seconds, 1),
        "peak_memory_mib": round(peak_mib, 1),
        "embedded_run": {
            "moto_patched": run.lean_moto,
            "peak_memory_mib": round(peak_mib, 1),
            "webhook_post_ms": {name: round(value, 1) for name, value in posts.items()},  # the last WINDOW
            "ms_per_text": round(ms_per_text, 1),  # end to end, the last WINDOW texts
            "ms_per_text_first": round(costs.ms_per_text(last=False), 1),  # the first WINDOW
            "schedule_tick_ms": {
                "mean": round(statistics.fmean(costs.tick_ms), 1) if costs.tick_ms else 0.0,
                "max": round(max(costs.tick_ms, default=0.0), 1),
            },
            "budget": {"peak_memory_mib": max_peak_mib, "ms": max_ms, "window": WINDOW},
            "checkpoints": [
                {
                    "texts": c.texts,
                    "rss_mib": round(c.rss_mib, 1),
                    "peak_mib": round(c.peak_mib, 1),
                    "ms_per_text": round(c.ms_per_text, 1),
                    "post_p95_ms": round(c.post_p95_ms, 1),
                }
                for c in shown_checkpoints(costs.checkpoints)
            ],
        },
        "ok": ok,
    }


def shown_checkpoints(checkpoints: Sequence[Checkpoint]) -> list[Checkpoint]:
    """The first round's end at or past each of CHECKPOINTS, and the last round's (in place of the
    one with as many texts: the rounds after the last text carry late repeats only)."""
    shown: list[Checkpoint] = []
    for mark in CHECKPOINTS:
        reached = next((c for c in checkpoints if c.texts >= mark), None)
        if reached is not None and reached not in shown:
            shown.append(reached)
    if checkpoints:
        last = checkpoints[-1]
        shown = [c for c in shown if c.texts != last.texts] + [last]
    return shown


def report(result: Mapping[str, Any], fault_rate: float) -> str:
    f = result
    e = f["embedded_run"]
    lines = [
        f"async-handoff chaos harness: {f['messages']} WhatsApp texts from {f['users']} users, "
        f"seed {f['seed']};",
        "the real webhook, queue and conversation handlers on moto, tenant acme's own bot (an echo bot in",
        "Rasa's REST format on loopback), at night with no agent online: each text owes one answer.",
        "",
        "Traffic",
        f"  {'messages sent':<44}{f['messages']:>7}",
        f"  {'webhook deliveries (1-5 messages each)':<44}{f['deliveries']:>7}",
        f"  {'duplicate deliveries':<44}{f['duplicate_deliveries']:>7}   "
        f"({f['duplicates'].get('immediately', 0)} at once, {f['duplicates'].get('late', 0)} "
        f"{LATE_REPEAT_ROUNDS[0] * MINUTES_PER_ROUND}+ minutes later)",
        f"  {'rounds (' + str(MINUTES_PER_ROUND) + ' minutes apart, drained)':<44}{f['rounds']:>7}",
        f"  {'queue events processed':<44}{f['queue_events_processed']:>7}",
        "",
        f"Graph API faults injected ({fault_rate:.0%} of the sends while the traffic ran; "
        f"{f['graph_requests']} requests in all)",
        *(f"  {kind:<16}{FAULT_LABELS[kind]:<48}{n:>7}" for kind, n in f["faults"].items()),
        "",
        "Crashes injected (the conversation function died once at each point; the batch came back)",
        *(f"  {CRASH_LABELS[point]:<44}{n:>7}" for point, n in f["crashes"].items()),
        "",
        "Per unique message",
        f"  {'delivered once':<44}{f['delivered_once']:>7}",
        f"  {'lost':<44}{f['lost']:>7}"
        + (
            f"   ({f['refused_unmarked']} refused but not marked 'not delivered')"
            if f["refused_unmarked"]
            else ""
        ),
        f"  {'refused for good (expected)':<44}{f['refused_for_good']:>7}   "
        "Meta refused the answer (400, code 100); Live marks it 'not delivered'",
        f"  {'doubled (avoidable)':<44}{f['doubled_avoidable']:>7}",
        f"  {'doubled, unavoidable':<44}{f['doubled_unavoidable']:>7}",
        f"    {'extra copies: timeout after Meta took it':<42}"
        f"{f['unavoidable_extra_copies']['timeout']:>7}   "
        "Meta took the send, its answer never came: the outbox sends it again",
        f"    {'extra copies: crash after send':<42}{f['unavoidable_extra_copies']['after send']:>7}   "
        "died between Meta's answer and the outbox delete: sent again",
        f"  {'dead-lettered':<44}{f['dead_lettered']:>7}",
        "",
        "  Both kinds of unavoidable double are at-least-once delivery to Meta: the send API takes no",
        "  idempotency key, so a send whose acceptance was not recorded is sent again rather than lost.",
        "",
        "The embedded run (LocalRun on moto, "
        + ("patched by handoff_local.moto_patches" if e["moto_patched"] else "moto as it is: --moto-as-is")
        + "): its cost as the traffic grows",
        f"  {'texts sent':>10}  {'RSS MiB':>8}  {'peak MiB':>8}  {'ms per text':>11}  {'POST p95 ms':>11}",
        *(
            f"  {c['texts']:>10}  {c['rss_mib']:>8.0f}  {c['peak_mib']:>8.0f}  {c['ms_per_text']:>11.1f}  "
            f"{c['post_p95_ms']:>11.1f}"
            for c in e["checkpoints"]
        ),
        "  ms per text: end to end, a round's webhook POSTs and the queue work drained after them, "
        "over its texts;",
        f"  the last {WINDOW} texts (the first {WINDOW}: {e['ms_per_text_first']:.1f}). POST p95: the "
        f"last {WINDOW} webhook POSTs",
        f"  (mean {e['webhook_post_ms']['mean']:.1f}, max {e['webhook_post_ms']['max']:.1f} ms). The "
        f"minute's schedule: mean {e['schedule_tick_ms']['mean']:.0f}, max "
        f"{e['schedule_tick_ms']['max']:.0f} ms.",
        "",
        "Checks",
        *(f"  [{'ok' if ok else 'FAIL':>4}] {name}" for name, ok in f["checks"].items()),
        f"  answers delivered but marked 'not delivered' (a resend after a lost answer refused for good): "
        f"{f['delivered_marked_undelivered']}",
        f"  texts the bot was asked more than once (a crash or a retry before the commit): "
        f"{f['bot_asked_more_than_once']}",
        f"  quiescence: {f['quiescence_minutes']} minutes of the schedule after the traffic, "
        f"outbox {f['outbox_pending']}, queue {f['queue_depth']}",
    ]
    for name, examples in f["examples"].items():
        if examples:
            lines.append(f"  {name}: {', '.join(examples)}{' ...' if len(examples) == 20 else ''}")
    lines += [
        "",
        f"Wall time: {f['wall_seconds']:.1f} s; peak memory: {f['peak_memory_mib']:.0f} MiB",
        "",
        "Result: "
        + (
            "ok (nothing lost, no avoidable double, nothing dead-lettered, within the memory and time budget)"
            if f["ok"]
            else "FAILED (lost, avoidable doubles, dead letters, or a failed check above); "
            f"reproduce with: python -m bench.chaos --messages {f['messages']} --users {f['users']} "
            f"--seed {f['seed']} --fault-rate {fault_rate}" + ("" if e["moto_patched"] else " --moto-as-is")
        ),
    ]
    return "\n".join(lines)


# --- main -------------------------------------------------------------------------------------------


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--messages",
        type=int,
        default=DEFAULT_MESSAGES,
        help=f"unique inbound texts (default {DEFAULT_MESSAGES})",
    )
    parser.add_argument("--users", type=int, default=200, help="distinct WhatsApp users (default 200)")
    parser.add_argument("--seed", type=int, default=1, help="seeds the traffic and the faults (default 1)")
    parser.add_argument(
        "--fault-rate",
        type=float,
        default=0.2,
        help="share of the sends answered with a fault while the traffic runs (default 0.2)",
    )
    parser.add_argument(
        "--moto-as-is",
        action="store_true",
        help="run on moto as it is, without handoff_local.moto_patches (memory and time grow with "
        "the table: to compare the figures, on a few hundred texts)",
    )
    parser.add_argument(
        "--max-memory-mib",
        type=float,
        default=MAX_PEAK_MIB,
        help=f"fail when the process's peak memory reaches this (default {MAX_PEAK_MIB})",
    )
    parser.add_argument(
        "--max-ms-per-webhook",
        type=float,
        default=MAX_MS_PER_WEBHOOK,
        help=f"fail when the webhook POSTs' 95th percentile, or the mean time per text end to end, "
        f"over the last {WINDOW}, reaches this (default {MAX_MS_PER_WEBHOOK:.0f})",
    )
    parser.add_argument("--log-level", default="CRITICAL", help="the handlers' log level (default CRITICAL)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON to PATH")
    args = parser.parse_args(argv)
    if args.messages < 1 or args.users < 1:
        parser.error("--messages and --users must be at least 1")
    if not 0 <= args.fault_rate <= 1:
        parser.error("--fault-rate must be between 0 and 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(argv)
    started = time.perf_counter()
    traffic = Traffic(messages=args.messages, users=min(args.users, args.messages), seed=args.seed)
    crashes = Crashes()

    def progress(text: str) -> None:
        print(f"... {text} ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)

    costs = Costs()
    with (
        stepped_clock(),
        echo_bot_config() as (config, bot),
        LocalRun(config, log_level=args.log_level, lean_moto=not args.moto_as_is) as run,
    ):
        run.advance_to(22, ZONE, weekday=True)  # at night: no agent online, the bot answers
        waits_move_the_clock()
        warm_up(run)
        progress("warm-up ok: one 'echo: <text>' per text")
        crashes.install(run)
        shares = {kind: args.fault_rate * part for kind, part in FAULT_MIX.items()}
        run.graph.inject_faults(Faults(**shares, seed=args.seed))
        send_traffic(run, traffic, crashes, costs, progress)
        progress("traffic over: faults off, the schedule runs until nothing is left")
        quiesce(run, traffic, crashes)
        counted = tally(run, traffic, crashes, bot)
        budget = (args.max_memory_mib, args.max_ms_per_webhook)
        result = figures(run, traffic, crashes, counted, costs, time.perf_counter() - started, budget)
    print(report(result, args.fault_rate))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
