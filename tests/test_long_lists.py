"""Lists that stay right and cheap however much waits: the App Home and `/countersign pending` page through
any number of pending requests, find an approver's requests wherever they sort, and read them in a fixed
number of SQL statements (counted, not timed)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from redis import Redis
from sqlalchemy import event

from approvals.job_queue import JobQueue
from approvals.models import (
    ApprovalRequest,
    Decision,
    DecisionType,
    EscalationStage,
    Gate,
    NewApprovalRequest,
    ProposedAction,
    Run,
)
from approvals.settings import Settings
from approvals.store import Store
from bot.app import create_app
from bot.home import HOME_REQUESTS
from bot.ids import ActionId
from bot.request_message import request_message
from bot.server import CountersignRequestHandler
from bot.slack_client import create_slack_client
from sandbox.emulator import Channel, SlackEmulator
from tests.conftest import SIGNING_SECRET
from tests.local import WsgiDriver
from tests.stack import SlackUser

ADMIN = "U0LISTADMIN"
LISTS_CHANNEL = "C0LISTS"


class Crowd(SlackUser):
    """The bot's Bolt app in this process on a database of its own, into which a test puts as many pending
    requests as it likes (straight through the store: no agent needs to run for a list to grow)."""

    def __init__(self, settings: Settings, store: Store, slack: SlackEmulator) -> None:
        self.store = store
        self.slack = slack
        self.queue = JobQueue(Redis.from_url(settings.redis_url or ""), f"lists-{uuid.uuid4().hex[:8]}")
        self.effects = Path()
        app = create_app(settings, store, self.queue, create_slack_client(settings))
        handler = CountersignRequestHandler(app, SIGNING_SECRET)
        self.driver = WsgiDriver(handler, SIGNING_SECRET, slack.response_url(), slack.add_member)
        # The crowd's requests are posted where everyone the tests act as may decide them.
        slack.add_channel(Channel(LISTS_CHANNEL, "lists", everyone=True))

    def add(self, count: int, *, asked_by: str = "U0LISTASKER", approvers: list[str] | None = None) -> list[ApprovalRequest]:
        """`count` posted, pending refund requests, one run each."""
        added = []
        for n in range(count):
            run = self.store.runs.create_run(
                Run(thread_id=uuid.uuid4().hex, agent="payments", input_text="r", requested_by=asked_by)
            )
            request = self.store.requests.create_request(
                NewApprovalRequest(
                    thread_id=run.thread_id,
                    interrupt_id=uuid.uuid4().hex,
                    kind="langchain_hitl",
                    actions=[ProposedAction(tool="refund", args={"order_id": str(n), "amount": 25.0})],
                    gate=Gate(approvers=approvers or []),
                )
            )
            self.store.requests.set_channel(request.id, LISTS_CHANNEL)
            self.store.requests.request_shown(request.id)
            added.append(request)
        return added

    def open_home(self, user: str, page_button: str | None = None, view: dict | None = None) -> dict:
        """Open the user's Home tab (or click its Previous / Next button) and return what the app published."""
        seen = len([c for c in self.slack.calls_to("views.publish") if c.params.get("user_id") == user])
        if page_button is None:
            self.driver.event({"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": "home"})
        else:
            assert view is not None
            self.driver.home_action(user, ActionId.HOME_PAGE, page_button, view=view)
        self.slack.wait_for("views.publish", lambda c: c.params.get("user_id") == user, count=seen + 1)
        return self.slack.home_view(user)


@pytest.fixture
def crowd(settings: Settings, empty_store: Store, slack: SlackEmulator) -> Crowd:
    own = settings.model_copy(
        update={"database_url": str(empty_store.db.engine.url), "countersign_admins": ADMIN, "usergroup_cache_seconds": 0.0}
    )
    return Crowd(own, empty_store, slack)


@contextmanager
def statements(store: Store) -> Iterator[Callable[[], int]]:
    """Count the SQL statements the store's engine runs inside the block."""
    seen: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(statement)

    event.listen(store.db.engine, "before_cursor_execute", count)
    try:
        yield lambda: len(seen)
    finally:
        event.remove(store.db.engine, "before_cursor_execute", count)


def _shown(home: dict, requests: list[ApprovalRequest]) -> list[ApprovalRequest]:
    text = str(home["blocks"])
    return [r for r in requests if r.id in text]


def _button(home: dict, label: str) -> str:
    for block in home["blocks"]:
        for element in block.get("elements", []):
            if element.get("action_id") == ActionId.HOME_PAGE and element["text"]["text"].startswith(label):
                return str(element["value"])
    raise AssertionError(f"no {label} button on the Home tab")


def test_approver_whose_request_sorts_after_the_first_hundred_still_sees_it_on_home(crowd: Crowd) -> None:
    crowd.add(110, approvers=["U0LISTFINANCE"])
    mine = crowd.add(1, approvers=["U0LISTLATE"])

    home = crowd.open_home("U0LISTLATE")

    assert _shown(home, mine) == mine
    assert "…and" not in str(home["blocks"])


def test_member_of_an_approving_group_sees_its_requests_on_home_past_the_first_hundred(crowd: Crowd) -> None:
    crowd.slack.add_usergroup("list-approvers", ["U0LISTGROUPIE"])
    crowd.add(110, approvers=["U0LISTFINANCE"])
    theirs = crowd.add(1, approvers=["@list-approvers"])

    home = crowd.open_home("U0LISTGROUPIE")

    assert _shown(home, theirs) == theirs


def test_requester_does_not_see_their_own_requests_on_home_however_many_others_wait(crowd: Crowd) -> None:
    crowd.add(HOME_REQUESTS + 5, asked_by="U0LISTSELF")
    others = crowd.add(2)

    home = crowd.open_home("U0LISTSELF")

    assert _shown(home, others) == others
    assert "…and" not in str(home["blocks"])


def test_home_pages_through_more_requests_than_one_tab_holds(crowd: Crowd) -> None:
    waiting = crowd.add(HOME_REQUESTS * 2 + 3)

    first = crowd.open_home("U0LISTPAGER")
    second = crowd.open_home("U0LISTPAGER", _button(first, "Next"), first)
    third = crowd.open_home("U0LISTPAGER", _button(second, "Next"), second)
    back = crowd.open_home("U0LISTPAGER", _button(third, "Previous"), third)

    assert _shown(first, waiting) == waiting[:HOME_REQUESTS]
    assert f"…and {HOME_REQUESTS + 3} more" in str(first["blocks"])
    assert _shown(second, waiting) == waiting[HOME_REQUESTS : HOME_REQUESTS * 2]
    assert _shown(third, waiting) == waiting[HOME_REQUESTS * 2 :]
    assert "…and" not in str(third["blocks"])
    assert _shown(back, waiting) == waiting[HOME_REQUESTS : HOME_REQUESTS * 2]


def test_pending_pages_through_more_requests_than_one_reply_holds(crowd: Crowd) -> None:
    crowd.add(45)

    first = crowd.slash(ADMIN, "pending")
    third = crowd.slash(ADMIN, "pending 3")

    assert first.count("\n• ") == 20
    assert first.endswith("…and 25 more: `/countersign pending 2` lists the next 20.")
    assert third.startswith("*Waiting for a decision (page 3):*")
    assert third.count("\n• ") == 5 and "more:" not in third


def test_pending_refuses_a_page_that_is_not_a_number(crowd: Crowd) -> None:
    assert crowd.slash(ADMIN, "pending two").startswith("`pending` takes at most a page number")


def test_home_reads_the_same_number_of_statements_with_ten_or_two_hundred_pending(crowd: Crowd) -> None:
    crowd.add(10)
    with statements(crowd.store) as few:
        crowd.open_home("U0LISTCOUNT")
    crowd.add(190)
    with statements(crowd.store) as many:
        crowd.open_home("U0LISTCOUNT")

    assert many() == few()


def test_pending_reads_the_same_number_of_statements_with_ten_or_two_hundred_pending(crowd: Crowd) -> None:
    crowd.add(10)
    with statements(crowd.store) as few:
        crowd.slash(ADMIN, "pending")
    crowd.add(190)
    with statements(crowd.store) as many:
        crowd.slash(ADMIN, "pending")

    assert many() == few()


def test_requests_of_a_run_load_in_the_same_number_of_statements_however_many(empty_store: Store) -> None:
    crowd_run = Run(thread_id=uuid.uuid4().hex, agent="payments", input_text="r", requested_by="U0LISTASKER")
    empty_store.runs.create_run(crowd_run)
    for _ in range(30):
        empty_store.requests.create_request(
            NewApprovalRequest(
                thread_id=crowd_run.thread_id,
                interrupt_id=uuid.uuid4().hex,
                kind="langchain_hitl",
                actions=[ProposedAction(tool="refund", args={"amount": 1.0}), ProposedAction(tool="notify", args={})],
            )
        )
    with statements(empty_store) as counted:
        requests = empty_store.lists.requests_for_thread(crowd_run.thread_id)

    assert len(requests) == 30 and all(len(r.actions) == 2 for r in requests)
    assert counted() == 4  # the ids, then requests, actions and runs (none votes or was escalated)


def test_a_long_run_shows_its_last_ten_earlier_steps_numbered_as_steps_of_the_run(empty_store: Store) -> None:
    requests = _run_of_steps(empty_store, 13)

    earlier = empty_store.lists.decided_before(requests[-1])
    blocks = request_message(requests[-1], earlier)["blocks"]

    assert earlier.total == 12 and [r.id for r in earlier.requests] == [r.id for r in requests[2:12]]
    steps = next(b["elements"][0]["text"] for b in blocks if "Earlier steps" in str(b)).splitlines()[1:]
    assert [line.split(".")[0] for line in steps] == [str(n) for n in range(3, 13)]
    assert steps[0].startswith('3. `refund` `{"order_id": "#2"}`')


def test_a_runs_first_request_finds_no_earlier_steps_in_one_statement(empty_store: Store) -> None:
    [first] = _run_of_steps(empty_store, 1)

    with statements(empty_store) as counted:
        earlier = empty_store.lists.decided_before(first)

    assert earlier.requests == [] and earlier.total == 0
    assert counted() == 1


def test_a_short_run_counts_its_earlier_steps_without_a_count_query(empty_store: Store) -> None:
    requests = _run_of_steps(empty_store, 4)

    with statements(empty_store) as counted:
        earlier = empty_store.lists.decided_before(requests[-1])

    assert earlier.total == 3 and [r.id for r in earlier.requests] == [r.id for r in requests[:3]]
    assert counted() == 4  # the ids, then requests, actions and runs (none votes or was escalated)


def test_a_request_needing_two_approvers_loads_with_its_votes(empty_store: Store) -> None:
    [request] = _run_of_steps(empty_store, 1, Gate(quorum=2))
    empty_store.decisions.decide(request.id, Decision(type=DecisionType.APPROVE, decided_by="U0B"), quorum=2)

    with statements(empty_store) as counted:
        loaded = empty_store.requests.get(request.id)

    assert loaded.actions[0].votes == ["U0B"]
    assert counted() == 4  # requests, actions, votes and runs


def test_an_escalated_request_loads_with_its_escalations(empty_store: Store) -> None:
    gate = Gate(
        timeout=timedelta(minutes=30),
        on_timeout="escalate",
        escalation=[EscalationStage(channel="C0ONCALL", timeout=timedelta(hours=1))],
    )
    [request] = _run_of_steps(empty_store, 1, gate)
    empty_store.due.escalate_due(request.created_at + timedelta(minutes=31))

    with statements(empty_store) as counted:
        loaded = empty_store.requests.get(request.id)

    assert [(e.stage, e.channel) for e in loaded.escalations] == [(1, "C0ONCALL")]
    assert counted() == 4  # requests, actions, escalations and runs


def _run_of_steps(store: Store, steps: int, gate: Gate | None = None) -> list[ApprovalRequest]:
    """A run that asked for `steps` refunds (orders #0, #1, ...) one after another, each but the last approved."""
    run = store.runs.create_run(Run(thread_id=uuid.uuid4().hex, agent="payments", input_text="r", requested_by="U0A"))
    requests = []
    for n in range(steps):
        request = store.requests.create_request(
            NewApprovalRequest(
                thread_id=run.thread_id,
                interrupt_id=uuid.uuid4().hex,
                kind="langchain_hitl",
                actions=[ProposedAction(tool="refund", args={"order_id": f"#{n}"})],
                gate=gate or Gate(),
            )
        )
        if n < steps - 1:
            store.decisions.decide(request.id, Decision(type=DecisionType.APPROVE, decided_by="U0B"))
        requests.append(request)
    return requests
