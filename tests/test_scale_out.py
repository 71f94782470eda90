"""Scale out: three workers and two bot instances (separate processes, as separate machines run them) on one
PostgreSQL and one Redis share the work, and under SIGKILLs of workers and of bots lose nothing, run no call
twice and post no run's outcome twice. Runs when TEST_DATABASE_URL names a PostgreSQL server (.ci/run sets it);
bench/scale.py measures it."""

from __future__ import annotations

import contextlib
import os
import random
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from approvals.models import IN_DOUBT_KIND, ApprovalRequest, DecisionType, RunStatus
from approvals.runs import RunRequest, start_run
from bot.ids import ActionId, BlockId
from bot.slack_places import SlackPlaces
from sandbox.driver import plain_text_value
from sandbox.emulator import Channel, SlackEmulator
from tests.cluster import Cluster
from tests.conftest import Valkey
from tests.databases import fresh_database
from tests.forkserver import ForkServer
from tests.stack import children_of, wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql"),
        reason="scale-out runs on PostgreSQL, the database separate machines share: set TEST_DATABASE_URL (as .ci/run does)",
    ),
]

RUNS = 200
FIRST_ORDER = 9000
APPROVER = "U0SCALE"
SECRET = "scale-signing-secret"
CHANNEL = "C0SCALE"


@dataclass
class Approvers:
    """People deciding each run's request as soon as it is posted, Approve or Reject at random (Reject through
    its modal), each click sent to one of the live bots at random; a click not acked is made again."""

    cluster: Cluster
    threads: list[str]
    rng: random.Random
    acked: dict[str, DecisionType] = field(default_factory=dict)
    approve: set[str] = field(default_factory=set)  # runs whose request is always approved
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self._stop.is_set():
            for thread_id in list(self.threads):
                with contextlib.suppress(Exception):  # a bot killed mid-click, the database busy: again next pass
                    for request in self.cluster.store.lists.requests_for_thread(thread_id):
                        if request.id not in self.acked and request.is_pending and self.cluster.posted(request):
                            self._decide(request)
            time.sleep(0.05)

    def _decide(self, request: ApprovalRequest) -> None:
        live = self.cluster.live_bots()
        if not live:
            return
        self.cluster.use_bot(self.rng.choice(live))
        chance = 1.0 if request.thread_id in self.approve else 0.7
        kind = DecisionType.APPROVE if self.rng.random() < chance else DecisionType.REJECT
        if kind is DecisionType.APPROVE:
            acked = self.cluster.click(APPROVER, ActionId.APPROVE, request).status == 200
        else:
            acked = self._reject(request)
        if acked:
            self.acked[request.id] = kind

    def _reject(self, request: ApprovalRequest) -> bool:
        response = self.cluster.click(APPROVER, ActionId.REJECT, request)
        if response.status != 200 or not response.payload:
            return False
        trigger_id = response.payload["trigger_id"]
        opened = self.cluster.slack.wait_for("views.open", lambda call: call.params.get("trigger_id") == trigger_id, timeout=5)
        # The modal's submission may reach the other bot.
        self.cluster.use_bot(self.rng.choice(self.cluster.live_bots() or [0]))
        values = {BlockId.REJECT_REASON: {ActionId.REJECT_REASON: plain_text_value("not this one")}}
        return self.cluster.driver.view_submission(APPROVER, opened.params["view"], values).status == 200

    def stop(self) -> None:
        self._stop.set()


@pytest.fixture
def cluster(fork_server: ForkServer, tmp_path: Path) -> Iterator[Cluster]:
    """3 workers and 2 bots on a PostgreSQL schema, a Valkey and a Slack of their own."""
    from redis import Redis

    from approvals.job_queue import JobQueue
    from approvals.settings import Settings
    from approvals.store import Store, create_db_engine
    from countersign.migrate import migrate

    valkey = Valkey()
    try:
        with (
            fresh_database(tmp_path, "scale") as url,
            SlackEmulator(channels=[Channel(CHANNEL, "approvals", everyone=True)]) as slack,
        ):
            settings = Settings(
                slack_bot_token="xoxb-scale",
                slack_signing_secret=SECRET,
                slack_api_url=slack.base_url,
                approvals_channel=CHANNEL,
                redis_url=valkey.url,
                database_url=url,
            )
            migrate(settings)
            store = Store(create_db_engine(settings.sqlalchemy_url))
            queue = JobQueue(Redis.from_url(valkey.url), settings.countersign_queue, settings.run_timeout)
            logs = tmp_path / "logs"
            logs.mkdir()
            with Cluster.start_cluster(
                settings, slack, store, queue, logs, SECRET, workers=3, bots=2, fork_server=fork_server
            ) as running:
                yield running
            store.db.engine.dispose()
    finally:
        valkey.stop()


def _start_runs(cluster: Cluster, threads: list[str], approvers: Approvers, seconds: float) -> None:
    pace = seconds / len(threads)
    for n, thread_id in enumerate(threads):
        request = RunRequest(
            agent="payments_effects",
            input_text=f"Refund order #{FIRST_ORDER + n} for $250",
            requested_by="U0ASKER",
            thread_id=thread_id,
        )
        start_run(request, cluster.store, cluster.queue)
        approvers.threads.append(thread_id)
        time.sleep(pace)


def _kill_while_working(cluster: Cluster, rng: random.Random, rounds: int) -> dict[str, int]:
    """SIGKILL a worker or a bot every second or so (each started again 0-1 s later); how many of each."""
    kills = {"worker": 0, "bot": 0}
    for step in range(rounds):
        time.sleep(rng.uniform(0.5, 1.5))
        if step % 3 == 2:
            n = rng.randrange(len(cluster.bots))
            cluster.kill_bot_n(n)
            time.sleep(rng.uniform(0.0, 1.0))
            cluster.start_bot_n(n)
            kills["bot"] += 1
        else:
            n = rng.randrange(len(cluster.workers))
            cluster.kill_worker_n(n)
            time.sleep(rng.uniform(0.0, 1.0))
            cluster.start_worker_n(n)
            kills["worker"] += 1
    return kills


def _cut_off_a_call(cluster: Cluster, thread_id: str, order: str) -> None:
    """Kill the worker whose job process is inside run `thread_id`'s refund (held there), then let the tool go."""
    cluster.hold(f"refund-{order}")
    cluster.wait_until_held(f"refund-{order}", timeout=30)
    ((owner,),) = _sql(cluster, "SELECT lease_owner FROM countersign_runs WHERE thread_id = :t", t=thread_id)
    job_process = int(owner.split(":")[1])
    n = next(n for n, worker in enumerate(cluster.workers) if worker is not None and job_process in children_of(worker.pid))
    cluster.kill_worker_n(n)
    cluster.release(f"refund-{order}")
    cluster.start_worker_n(n)


def _sql(cluster: Cluster, statement: str, **params: str) -> list[tuple[Any, ...]]:
    with cluster.store.db.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text(statement), params)]


def test_three_workers_and_two_bots_killed_while_working_finish_every_run_once_and_run_no_call_twice(
    cluster: Cluster,
) -> None:
    rng = random.Random(29)
    threads = [uuid.uuid4().hex for _ in range(RUNS)]
    approvers = Approvers(cluster, [], random.Random(2929), approve={threads[0]})
    deciding = threading.Thread(target=approvers.run, daemon=True)
    deciding.start()
    starting = threading.Thread(target=_start_runs, args=(cluster, threads, approvers, 20.0), daemon=True)
    starting.start()
    try:
        _cut_off_a_call(cluster, threads[0], str(FIRST_ORDER))
        kills = _kill_while_working(cluster, rng, rounds=15)
        starting.join()

        def finished() -> bool:
            statuses = _sql(cluster, "SELECT status, count(*) FROM countersign_runs GROUP BY status")
            return dict(statuses).get(RunStatus.DONE.value) == RUNS

        wait_until(finished, 90, f"all {RUNS} runs to finish", interval=0.5)
    finally:
        approvers.stop()
        deciding.join(timeout=10)
    assert kills == {"worker": 10, "bot": 5}
    # A call cut off mid-way by a kill went back to a person as a request of its own (Run it again / Don't).
    cut_off = {
        str(FIRST_ORDER + threads.index(thread_id))
        for (thread_id,) in _sql(cluster, "SELECT DISTINCT thread_id FROM countersign_approvals WHERE kind = :k", k=IN_DOUBT_KIND)
    }
    assert str(FIRST_ORDER) in cut_off

    # Every run asked once and ended once, in SQL and in its Slack thread.
    per_run = dict(_sql(cluster, "SELECT thread_id, count(*) FROM countersign_approvals GROUP BY thread_id"))
    assert sorted(per_run) == sorted(threads)
    # (A run with a call cut off mid-way may be asked again about that call.)
    assert all(count == 1 for n, count in enumerate(per_run[t] for t in threads) if str(FIRST_ORDER + n) not in cut_off)
    places = SlackPlaces(cluster.store)
    thread_ts = {getattr(places.thread(t), "ts", None): t for t in threads}
    outcomes = [
        call.params["thread_ts"]
        for call in cluster.slack.calls_to("chat.postMessage")
        if str(call.params.get("text", "")).startswith(":robot_face:") and call.params.get("thread_ts") in thread_ts
    ]
    assert len(set(outcomes)) == RUNS
    # A post to Slack cannot commit with SQL: a worker killed between posting an outcome and noting it posted leaves
    # it owed, and the next worker finds it in the run's thread (by its message metadata) instead of posting it again.
    reposted = len(outcomes) - RUNS
    assert reposted == 0

    # Every acked click counted once: one decision audit row per request, the one that was clicked.
    decided = _sql(
        cluster,
        "SELECT approval_id, count(*), min(detail->>'type') FROM countersign_audit_log WHERE event = 'decided' GROUP BY 1",
    )
    assert {approval_id for approval_id, _, _ in decided} >= set(approvers.acked)
    assert all(count == 1 for _, count, _ in decided)
    for approval_id, _, detail in decided:
        if approval_id in approvers.acked:
            assert detail == approvers.acked[approval_id].value

    # No call ran twice: an approved refund ran once, a rejected one never; a call cut off mid-way by a kill ran
    # again only as often as a person said Run it again, and is counted apart.
    approvals_of = {
        str(FIRST_ORDER + threads.index(thread_id)): count
        for thread_id, count in _sql(
            cluster,
            "SELECT r.thread_id, count(*) FROM countersign_approvals r JOIN countersign_audit_log a ON a.approval_id = r.id "
            "WHERE a.event = 'decided' AND a.detail->>'type' = 'approve' GROUP BY 1",
        )
    }
    approved = set(approvals_of)
    refunds = cluster.effects_of("refunds")
    for n in range(RUNS):
        order = str(FIRST_ORDER + n)
        if order in cut_off:
            # Run again only if a person approved it again.
            assert refunds.count(order) <= approvals_of.get(order, 0), f"order {order}'s refund, cut off mid-way, ran again"
        else:
            assert refunds.count(order) == (order in approved), f"order {order}: {refunds.count(order)} refunds"
    assert 0.5 < len(approved) / RUNS < 0.9  # both kinds of decision were taken
    print(
        f"{kills['worker']} worker and {kills['bot']} bot kills; {len(approvers.acked)} acked decisions, {len(approved)} "
        f"approved; {len(cut_off)} calls cut off mid-way; {reposted} outcomes posted again"
    )

    # The work was shared: every worker took runs further.
    for n in range(3):
        jobs = re.findall(r"worker\.jobs: (?:run|resume of approval) [0-9a-f]+: ", cluster.log(f"worker-{n}"))
        assert len(jobs) >= 10, f"worker {n} took {len(jobs)} jobs"
