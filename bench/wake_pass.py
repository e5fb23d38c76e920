"""`make bench`, Live at scale: the wake pass and the agents' console with 10,000 users waiting.

On the embedded stack (`LocalRun`, moto, the real handlers), acme's WhatsApp users wait on hold at
night: one through the webhooks as users do (asks for an agent, chooses to wait), the others
committed as copies of its conversation (`ConversationStore.commit`: the items the product writes,
each with its own user, id and place in line). In the morning an agent comes online with a few
seats, which sets off the wake pass; then the minute's schedule runs one. Each pass is measured:
its requests, DynamoDB read units (`bench.capacity`) and wall time.

Then Live's list at that size, as the agent's console reads it: one `GET /live/conversations`
(answered whole, 200, with its ETag) and the same request with `If-None-Match` (answered 304), a
conversation's transcript and a presence heartbeat, each measured and priced (`bench.costs`). The
console's requests per agent-hour come from bench/console_push.py (`--console-json`, the file its
`--json` writes); without it, from its figures in docs/console.md, and the report says which. The
cost per agent-hour is then those requests priced at what they were measured to cost here.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench import costs
from bench.throughput import AwsRequests, Stretch, measure_capacity, measuring
from handoff_local.runtime import HttpResult, LocalRun
from handoff_tools.functions import ROOT, TEMPLATE

CONFIG = ROOT / "examples" / "config.yaml"
TENANT = "acme"
PHONE_NUMBER_ID = "200000000000001"  # acme's WhatsApp number in examples/config.yaml
ZONE = "America/Bogota"  # acme answers 9:00-18:00 on weekdays
AGENT = "carla"
SEATS = 3
SCHEDULE_EVENT = ROOT / "events" / "wake" / "schedule.json"

AGENT_HOUR_BEFORE = 0.94
"""Issue 14: about $0.94 per agent-hour of the console at 10,000 conversations in Live, when each
console downloaded the whole list every 2.5 s."""
CONSOLE_PUSH_REPORTED = {"quiet": 300.0, "writing": 2462.0}
"""Requests per agent-hour with live updates as bench/console_push.py measured them, in
docs/console.md's table (one agent, one chat open; quiet, and while its user writes every 1.5-4 s):
used when its JSON is not given."""
LIST_FILE = ROOT / "console" / "list.js"
PUSH_FILE = ROOT / "console" / "push.js"


def wa_id(n: int) -> str:
    return f"5731{n:08d}"


# --- the waiting users -------------------------------------------------------------------------------


def seed_waiting(run: LocalRun, count: int, progress: Callable[[str], None]) -> float:
    """`count` users of acme's WhatsApp number waiting on hold since 22:00; returns the seconds it took.

    The first asks for an agent and chooses to wait through the webhooks; each other is a copy of its
    conversation under a user of its own (number, name, conversation id, a place in line a
    millisecond later), committed as the product commits a new conversation."""
    from handoff import clock
    from handoff.engine.model import ConversationRef
    from handoff.runtime.wiring import conversation_store
    from handoff.store import keys

    started = time.perf_counter()
    first = wa_id(0)
    run.users_wait_at_night([first], PHONE_NUMBER_ID, ZONE)
    store = conversation_store()
    ref = ConversationRef(tenant_id=TENANT, channel="whatsapp", account_id=PHONE_NUMBER_ID, user_id=first)
    model = store.load(ref)
    if model is None or model.state != "queued" or not model.on_hold or model.queued_at is None:
        raise SystemExit("wake_pass: the first user does not wait on hold: the flow changed")
    now = clock.now()
    for n in range(1, count):
        user = wa_id(n)
        phone = model.address.phone
        clone = model.model_copy(
            update={
                "ref": model.ref.model_copy(update={"user_id": user}),
                "id": keys.new_conversation_id(),
                "version": 0,
                "user_name": f"Usuario {n}",
                "address": model.address.model_copy(
                    update={"phone": phone.replace(first, user) if phone else phone}
                ),
                "queued_at": model.queued_at + timedelta(milliseconds=n),
                "id_kept_until": None,
            }
        )
        store.commit(clone, [], now=now)
        if n % 2000 == 0:
            progress(f"{n:,} waiting ({time.perf_counter() - started:.0f} s)")
    waiting = len(store.to_tell(TENANT, limit=None)[0])
    if waiting != count:
        raise SystemExit(f"wake_pass: {waiting} users wait instead of {count}")
    return time.perf_counter() - started


# --- one measured request, or pass -------------------------------------------------------------------


@dataclass
class Measured:
    """One request or pass: what it used, and the HTTP answer when it was one."""

    name: str
    stretch: Stretch
    answer: HttpResult | None = None
    result: Any = None

    def of(self, origin: str) -> dict[str, Any]:
        """Figures of the requests made by `origin` (a function's folder name)."""
        calls = {
            f"{service} {operation}": n
            for (o, service, operation), n in sorted(self.stretch.requests.calls.items())
            if o == origin
        }
        capacity = self.stretch.capacity
        seconds = self.stretch.invocations.wall_seconds.get(origin, [])
        return {
            "requests": calls,
            "dynamodb_requests": sum(n for name, n in calls.items() if name.startswith("dynamodb ")),
            "read_units": capacity.total("read", origin=origin),
            "read_units_by_index": {
                target: capacity.total("read", target=target, origin=origin)
                for target in capacity.targets("read")
            },
            "write_units": capacity.total("write", origin=origin),
            "wall_seconds": sum(seconds),
            "aws_seconds": self.stretch.requests.aws_seconds.get(origin, 0.0),
            "invocations": len(seconds),
        }

    def dollars(self, functions: costs.Functions, *, aws_time: bool = True) -> float:
        """What the request cost; `aws_time` False: Lambda's duration without the time its AWS
        requests took (moto's here, slower than AWS: a lower bound of that part)."""
        use = self.stretch.usage()
        if not aws_time:
            spent = sum(
                seconds * functions.memory_mb.get(origin, 0) / 1024
                for origin, seconds in self.stretch.requests.aws_seconds.items()
            )
            use = replace(use, lambda_gb_seconds=max(0.0, use.lambda_gb_seconds - spent))
        return costs.total(costs.priced(use, functions))


def measure(run: LocalRun, functions: costs.Functions, name: str, action: Callable[[], Any]) -> Measured:
    stretch = Stretch(AwsRequests(measure_capacity(run)), costs.Invocations(functions))
    with measuring(run, stretch.requests, stretch.invocations):
        result = action()
    return Measured(name, stretch, result if isinstance(result, HttpResult) else None, result)


def sample_event(path: Path) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return event


# --- the console's requests per agent-hour ------------------------------------------------------------


@dataclass(frozen=True)
class ConsoleRates:
    """The console's requests per agent-hour with live updates, and where the figures come from."""

    quiet: float
    writing: float
    writing_by_route: dict[str, int] | None
    frames_per_hour: float | None
    source: str


def console_rates(path: Path | None) -> ConsoleRates:
    if path is not None and path.is_file():
        push = json.loads(path.read_text(encoding="utf-8"))["push"]
        seconds = float(push["busy_seconds"])  # its frames and routes are the writing stretch's
        return ConsoleRates(
            quiet=float(push["requests_per_agent_hour_quiet"]),
            writing=float(push["requests_per_agent_hour_with_messages"]),
            writing_by_route=dict(push.get("requests_by_route") or {}) or None,
            frames_per_hour=float(push["socket_frames"]) / seconds * 3600 if seconds else None,
            source=f"measured by bench/console_push.py ({path})",
        )
    return ConsoleRates(
        quiet=CONSOLE_PUSH_REPORTED["quiet"],
        writing=CONSOLE_PUSH_REPORTED["writing"],
        writing_by_route=None,
        frames_per_hour=None,
        source="from docs/console.md's table (bench/console_push.py's; its JSON was not given)",
    )


def console_milliseconds(path: Path, name: str) -> int:
    """A timer of the console's code (`const NAME = 60000;`)."""
    found = re.search(rf"\b{name}\s*=\s*(\d+)", path.read_text(encoding="utf-8"))
    if found is None:
        raise SystemExit(f"wake_pass: {name} is no longer in {path}: check the console's timers")
    return int(found.group(1))


# --- the run ---------------------------------------------------------------------------------------------


def run_bench(conversations: int, console: ConsoleRates, progress: Callable[[str], None]) -> dict[str, Any]:
    functions = costs.Functions.from_template(TEMPLATE)
    with LocalRun(CONFIG) as run:
        run.advance_to(22, ZONE, weekday=True)
        progress(f"{conversations:,} users waiting at night")
        seeding = seed_waiting(run, conversations, progress)

        run.advance_to(9, ZONE, weekday=True)
        agent = run.as_agent(TENANT, AGENT, seats=SEATS)
        progress(f"9:00: {AGENT} comes online with {SEATS} seats (the wake pass)")
        online = measure(
            run,
            functions,
            "agent online",
            lambda: run.http("PUT", "/live/presence", headers=agent, body={"online": True}),
        )
        run.drain()  # the users told
        # a minute's pass away from the hour (on the hour it also looks for idle chats), the agent
        # still online (a heartbeat every 30 s: the presence lapses after 2 minutes without one)
        run.advance(5 * 60)
        run.http("PUT", "/live/presence", headers=agent, body={"online": True})
        progress("the minute's schedule (its wake pass)")
        schedule = sample_event(SCHEDULE_EVENT)
        scheduled = measure(run, functions, "schedule", lambda: run.invoke("WakeFunction", schedule))
        run.drain()
        run.http("PUT", "/live/presence", headers=agent, body={"online": True})

        progress("the list, whole then conditional")
        whole = measure(run, functions, "list", lambda: run.http("GET", "/live/conversations", headers=agent))
        assert whole.answer is not None and whole.answer.status == 200, whole.answer
        etag = whole.answer.headers["ETag"]
        conditional = measure(
            run,
            functions,
            "list, unchanged",
            lambda: run.http("GET", "/live/conversations", headers={**agent, "if-none-match": etag}),
        )
        first = whole.answer.json()["conversations"][0]["id"]
        detail = measure(
            run,
            functions,
            "conversation",
            lambda: run.http("GET", f"/live/conversations/{first}", headers=agent),
        )
        run.http("PUT", "/live/presence", headers=agent, body={"online": True})  # still online
        heartbeat = measure(
            run,
            functions,
            "heartbeat",
            lambda: run.http("PUT", "/live/presence", headers=agent, body={"online": True}),
        )
        in_live = len(whole.answer.json()["conversations"]), whole.answer.json()["total"]
    return figures(
        conversations,
        seeding,
        online,
        scheduled,
        {"list": whole, "list_304": conditional, "conversation": detail, "heartbeat": heartbeat},
        in_live,
        console,
        functions,
    )


def figures(
    conversations: int,
    seeding: float,
    online: Measured,
    scheduled: Measured,
    requests: dict[str, Measured],
    in_live: tuple[int, int],
    console: ConsoleRates,
    functions: costs.Functions,
) -> dict[str, Any]:
    live_api = {}
    for key, measured in requests.items():
        assert measured.answer is not None
        live_api[key] = {
            **measured.of("live_api"),
            "status": measured.answer.status,
            "response_bytes": len(measured.answer.content),
            "dollars": measured.dollars(functions),
            "dollars_without_aws_time": measured.dollars(functions, aws_time=False),
        }
    ok = live_api["list"]["status"] == 200 and live_api["list_304"]["status"] == 304
    return {
        "conversations": conversations,
        "seeding_seconds": seeding,
        "wake_pass": {
            "agent_online": online.of("wake"),
            "schedule": {**scheduled.of("wake"), "summary": scheduled.result},
            "goal": None,
            "before": None,
        },
        "listed": {"answered": in_live[0], "total": in_live[1]},
        "live_api": live_api,
        "agent_hour": agent_hour(live_api, console, "dollars")
        | {"without_aws_time": agent_hour(live_api, console, "dollars_without_aws_time")},
        "prices_read": costs.PRICES_READ,
        "ok": ok,
    }


def agent_hour(live_api: dict[str, Any], console: ConsoleRates, priced: str) -> dict[str, Any]:
    """The console's cost per agent-hour: its requests per hour, each priced as measured here.

    Which requests are list reads: from console_push's routes when its JSON gives them (while the
    user writes); otherwise as the console's code and docs/console.md say: with live updates the
    list is read once a minute (SAFETY_REFRESH_MS) and on each change, and a user's message costs
    two reads, the open conversation and the list (so half the requests while the user writes). The
    other requests are priced as the dearer of a conversation read and a heartbeat; the upper bound
    prices every request as a list answered whole."""
    price = {key: value[priced] for key, value in live_api.items()}
    other = max(price["conversation"], price["heartbeat"])
    lists_quiet = 3_600_000 / console_milliseconds(PUSH_FILE, "SAFETY_REFRESH_MS")
    quiet = min(lists_quiet, console.quiet) * price["list"] + max(console.quiet - lists_quiet, 0) * other
    if console.writing_by_route:
        total_routes = sum(console.writing_by_route.values())
        writing = sum(
            console.writing * n / total_routes * _route_price(route, price, other)
            for route, n in console.writing_by_route.items()
        )
        writing_basis = "console_push's routes, each priced as measured here"
    else:
        writing = console.writing / 2 * price["list"] + console.writing / 2 * other
        writing_basis = (
            "half of them list reads (docs/console.md: a message costs a conversation read and a list)"
        )
    socket = costs.WEBSOCKET_CONNECTION_MINUTE.of(60)
    frames = costs.WEBSOCKET_MESSAGE.of(console.frames_per_hour) if console.frames_per_hour else None
    polling = 3_600_000 / console_milliseconds(LIST_FILE, "POLL_MS")
    return {
        "requests_source": console.source,
        "requests_per_hour": {"quiet": console.quiet, "writing": console.writing},
        "quiet": quiet + socket,
        "quiet_basis": f"{lists_quiet:.0f} list reads an hour (once a minute), the rest as other requests",
        "quiet_upper_bound": console.quiet * price["list"] + socket,
        "writing": writing + socket + (frames or 0.0),
        "writing_basis": writing_basis,
        "writing_upper_bound": console.writing * price["list"] + socket + (frames or 0.0),
        "socket_connection": socket,
        "socket_frames": frames,
        "polling_lists_per_hour": polling,
        "polling": polling * price["list"],
        "polling_unchanged": polling * price["list_304"],
        "before": AGENT_HOUR_BEFORE,
    }


def _route_price(route: str, price: dict[str, float], other: float) -> float:
    if route == "GET /live/conversations":
        return price["list"]
    if route == "GET /live/conversations/{id}":
        return price["conversation"]
    if route == "PUT /live/presence":
        return price["heartbeat"]
    return other  # a route not measured here (tickets, templates...): as the dearer other request


# --- the report -------------------------------------------------------------------------------------------


def report(result: dict[str, Any]) -> str:
    n = result["conversations"]
    wake = result["wake_pass"]
    hour = result["agent_hour"]
    lines = [
        f"Live at scale: {n:,} WhatsApp users of acme waiting on hold since 22:00 (bench/wake_pass.py, moto)",
        f"  seeded in {result['seeding_seconds']:.1f} s: one user through the webhooks, the others copies of",
        "  its conversation committed as the product commits one (ConversationStore.commit)",
        "",
        f"The wake pass at {n:,} waiting: the wake function's requests, DynamoDB read units and wall time",
        f"  {'pass':<46}{'DynamoDB req':>13}{'other':>6}{'read units':>12}{'wall s':>8}{'in AWS s':>9}",
    ]
    for label, key in (
        (f"an agent comes online at 9:00 ({SEATS} seats), acme", "agent_online"),
        ("the minute's schedule (every tenant, outbox sweep)", "schedule"),
    ):
        row = wake[key]
        others = sum(row["requests"].values()) - row["dynamodb_requests"]
        lines.append(
            f"  {label:<46}{row['dynamodb_requests']:>13}{others:>6}{row['read_units']:>12,.1f}"
            f"{row['wall_seconds']:>8.2f}{row['aws_seconds']:>9.2f}"
        )
    for key in ("agent_online", "schedule"):
        reads = ", ".join(f"{t} {u:,.1f}" for t, u in wake[key]["read_units_by_index"].items() if u)
        calls = ", ".join(f"{name} x{count}" for name, count in wake[key]["requests"].items())
        lines.append(f"  {key}: {calls}; read units: {reads}")
    lines += [
        "  goal: none in the issue for a pass's reads; before: no figure given (here to compare runs)",
        "  in AWS s: the part of the wall time spent in AWS requests, on moto here (slower than DynamoDB)",
        "",
        f"Live's list at {n:,} in Live (it answered {result['listed']['answered']} of "
        f"{result['listed']['total']:,}), as an agent's console asks for it",
        f"  {'request':<32}{'status':>7}{'bytes':>9}{'DynamoDB req':>13}{'read units':>11}{'wall s':>8}"
        f"{'in AWS s':>9}{'cost $':>10}",
    ]
    for label, key in (
        ("GET /live/conversations", "list"),
        ("  the same, If-None-Match", "list_304"),
        ("GET /live/conversations/{id}", "conversation"),
        ("PUT /live/presence (heartbeat)", "heartbeat"),
    ):
        row = result["live_api"][key]
        lines.append(
            f"  {label:<32}{row['status']:>7}{row['response_bytes']:>9,}{row['dynamodb_requests']:>13}"
            f"{row['read_units']:>11,.1f}{row['wall_seconds']:>8.2f}{row['aws_seconds']:>9.2f}"
            f"{row['dollars']:>10.6f}"
        )
    before = hour["before"]
    rates = hour["requests_per_hour"]
    low = hour["without_aws_time"]
    lines += [
        f"  cost: every service each request used (bench/costs.py, us-east-1 list prices read in "
        f"{result['prices_read']}); Lambda's",
        "  duration is the handler's wall time here, moto's included, rounded up to the ms (a proxy);",
        "  without the time of its AWS requests (moto's) the list costs "
        f"${result['live_api']['list']['dollars_without_aws_time']:.6f}",
        "",
        f"The console per agent-hour at {n:,} in Live, with live updates (before: ${before}, when each",
        "console read the whole list every 2.5 s)",
        f"  requests per agent-hour {hour['requests_source']}",
        f"  {'':<28}{'req/h':>7}{'cost/h':>10}{'ratio':>7}{'AWS time out':>14}{'all lists':>11}",
    ]
    for label, key in (("quiet, a chat open", "quiet"), ("its user writing", "writing")):
        lines.append(
            f"  {label:<28}{rates[key]:>7,.0f}{'$' + format(hour[key], '.4f'):>10}"
            f"{costs.ratio(hour[key], before):>7}{'$' + format(low[key], '.4f'):>14}"
            f"{'$' + format(hour[key + '_upper_bound'], '.4f'):>11}"
        )
    lines += [
        f"  quiet: {hour['quiet_basis']};",
        f"  writing: {hour['writing_basis']}",
        "  AWS time out: Lambda's duration without moto's time; all lists: each request priced as a list",
        "  answered whole (an upper bound). The socket's connection minutes are in "
        f"(${hour['socket_connection']:.6f});",
        "  its frames (one per change) "
        + (
            f"${hour['socket_frames']:.6f}"
            if hour["socket_frames"]
            else "not measured (no console_push JSON)"
        ),
        f"  polling instead (live updates off or down: {hour['polling_lists_per_hour']:,.0f} lists an hour), "
        f"today's list: ${hour['polling']:.4f}",
        f"  (each answered whole), ${hour['polling_unchanged']:.4f} (each a 304: it reads the same items)",
        "",
        "Result: " + ("ok" if result["ok"] else "FAILED (the list did not answer 200, then 304)"),
    ]
    return "\n".join(lines)


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.wake_pass", description=__doc__)
    parser.add_argument(
        "--conversations", type=int, default=10_000, help="users waiting, all in Live (default 10000)"
    )
    parser.add_argument(
        "--console-json",
        type=Path,
        metavar="PATH",
        help="bench/console_push.py's figures (its --json), for the console's requests per agent-hour",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON to PATH")
    args = parser.parse_args(argv)
    if args.conversations < 1:
        parser.error("--conversations must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(argv)

    def progress(text: str) -> None:
        print(f"... {text}", file=sys.stderr, flush=True)

    result = run_bench(args.conversations, console_rates(args.console_json), progress)
    print(report(result))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
