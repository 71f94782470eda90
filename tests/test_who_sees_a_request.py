"""Who can see a request is who can decide it: a rule without an approver list is decided by the members of
the channel its request is posted in, and only they find it on their Home tab and in `/countersign pending`.

The requests here follow the "ops refunds" rule (tests/policies.py): no approvers, posted in #ops, a private
channel that U0OPSMEMBER is in and U0OUTSIDER is not (nor, unless a test adds them, the admin U0ADMIN).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import partial

import pytest
from slack_sdk import WebClient
from slack_sdk.models.views import View

from approvals.models import ApprovalRequest
from bot.channel_members import ChannelDirectory
from bot.ids import ActionId, BlockId
from bot.metadata import ApprovalRef, BadReference
from sandbox.emulator import BOT_USER_ID, Call, Channel, SlackEmulator
from tests.local import Local
from tests.policies import ESCALATING_OPS_REFUNDS, OPS_REFUNDS
from tests.stack import Stack, wait_until

OPS = "C0OPS"
MEMBER = "U0OPSMEMBER"
OUTSIDER = "U0OUTSIDER"
ADMIN = "U0ADMIN"  # in COUNTERSIGN_ADMINS
LONG_REASON = "Refund order #2310 for $19. " + "The customer explains at length why. " * 20


@pytest.fixture
def ops(local: Local) -> Local:
    """The in-process tier with the ops rule and a private #ops that the member is in."""
    local.slack.add_channel(Channel(OPS, "ops", members=(MEMBER,), private=True))
    local.policies(OPS_REFUNDS)
    return local


def _published(countersign: Local | Stack, user: str, act: Callable[[], object]) -> dict:
    """Do `act`, which makes the app publish the user's Home tab, and return what it published."""

    def for_user(call: Call) -> bool:
        return call.params.get("user_id") == user

    before = len([c for c in countersign.slack.calls_to("views.publish") if for_user(c)])
    act()
    countersign.slack.wait_for("views.publish", for_user, count=before + 1)
    return countersign.slack.home_view(user)


def _next_page(home: dict) -> str | None:
    """The value of the Home tab's Next button, if it has one."""
    for block in home["blocks"]:
        if block.get("block_id") == BlockId.HOME_PAGES:
            for element in block["elements"]:
                if element["text"]["text"].startswith("Next"):
                    return str(element["value"])
    return None


def _home_pages(countersign: Local | Stack, user: str) -> list[dict]:
    """Every page of the user's Home tab: opened as Slack does (an app_home_opened event), then Next to the
    last (everyone the tests act as is in #approvals, so it holds the other tests' requests too)."""
    opened = {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": "home"}
    pages = [_published(countersign, user, partial(countersign.driver.event, opened))]
    while (after := _next_page(pages[-1])) is not None:
        turn = partial(countersign.driver.home_action, user, ActionId.HOME_PAGE, after, view=pages[-1])
        pages.append(_published(countersign, user, turn))
    return pages


def _names(element: dict, approval: ApprovalRequest) -> bool:
    try:
        return ApprovalRef.load(element.get("value")).approval_id == approval.id
    except BadReference:  # not a request's button (a page's)
        return False


def _on_home(countersign: Local | Stack, user: str, approval: ApprovalRequest) -> dict | None:
    """The page of the user's Home tab that lists the request, if one does."""
    for page in _home_pages(countersign, user):
        if any(_names(element, approval) for block in page["blocks"] for element in block.get("elements", [])):
            return page
    return None


def _button(home: dict | None, action: str, approval: ApprovalRequest) -> dict:
    """A request's button on a Home tab page, as the bot signed it."""
    assert home is not None, f"{approval.id} is not on the Home tab"
    for block in home["blocks"]:
        for element in block.get("elements", []):
            if element.get("action_id") == action and _names(element, approval):
                return element
    raise AssertionError(f"no {action} button for {approval.id} on the Home tab")


def _pending(countersign: Local | Stack, user: str) -> str:
    """Every page of `/countersign pending`, as `user` is answered."""
    pages = [countersign.slash(user, "pending")]
    while f"`/countersign pending {len(pages) + 1}`" in pages[-1]:
        pages.append(countersign.slash(user, f"pending {len(pages) + 1}"))
    return "\n".join(pages)


def _refused(countersign: Local | Stack, approval: ApprovalRequest) -> list:
    return [event for event in countersign.store.audit_log.audit_events(approval.id) if event.event == "click_refused"]


def test_a_member_of_the_requests_channel_finds_it_on_their_home_tab_with_its_buttons(ops: Local) -> None:
    approval = ops.start_run("Refund order #2301 for $19")

    home = _on_home(ops, MEMBER, approval)

    assert approval.channel == OPS
    assert _button(home, ActionId.APPROVE, approval)


def test_someone_outside_the_requests_channel_does_not_find_it_on_their_home_tab(ops: Local) -> None:
    approval = ops.start_run("Refund order #2302 for $19")

    assert _on_home(ops, OUTSIDER, approval) is None


def test_an_admin_in_the_requests_channel_finds_it_in_countersign_pending(ops: Local) -> None:
    approval = ops.start_run("Refund order #2303 for $19")
    ops.slack.join(OPS, ADMIN)

    assert (link := ops.permalink_of(approval)) and link in _pending(ops, ADMIN)


def test_an_admin_outside_the_requests_channel_does_not_find_it_in_countersign_pending(ops: Local) -> None:
    approval = ops.start_run("Refund order #2304 for $19")

    assert (link := ops.permalink_of(approval)) and link not in _pending(ops, ADMIN)


def test_a_forged_home_click_by_someone_outside_the_channel_decides_nothing(ops: Local) -> None:
    approval = ops.start_run("Refund order #2305 for $19")
    value = _button(_on_home(ops, MEMBER, approval), ActionId.APPROVE, approval)["value"]
    outsiders_home = _home_pages(ops, OUTSIDER)[0]

    # The member's signed Approve button, clicked from the outsider's own Home tab.
    ops.driver.home_action(OUTSIDER, ActionId.APPROVE, value, view=outsiders_home)

    [refused] = wait_until(lambda: _refused(ops, approval), 10, "the refused click's audit row")
    assert refused.actor == OUTSIDER
    assert ops.store.requests.get(approval.id).is_pending


@pytest.mark.parametrize("action", [ActionId.APPROVE, ActionId.EDIT, ActionId.REJECT])
def test_a_click_on_the_message_by_someone_outside_the_channel_is_told_only_its_members_may_decide(
    ops: Local, action: ActionId
) -> None:
    approval = ops.start_run("Refund order #2306 for $19")
    outsider = f"{OUTSIDER}{action.name}"

    click = ops.click(outsider, action, approval)

    [told] = ops.ephemeral_to(outsider)
    assert told == "Nothing changed: only the members of <#C0OPS> may decide this request (rule _ops refunds_)."
    assert ops.store.requests.get(approval.id).is_pending
    assert [event.actor for event in _refused(ops, approval)] == [outsider]
    assert not [c for c in ops.slack.calls_to("views.open") if c.params.get("trigger_id") == click.payload["trigger_id"]]


def test_a_member_of_the_requests_channel_approves_it_from_home(ops: Local) -> None:
    approval = ops.start_run("Refund order #2307 for $19")
    home = _on_home(ops, MEMBER, approval)

    ops.driver.home_action(MEMBER, ActionId.APPROVE, _button(home, ActionId.APPROVE, approval)["value"], view=home)

    assert "Refunded $19.00 for order #2307" in ops.outcome(approval)


def test_when_slack_will_not_list_the_channels_members_nobody_decides_and_the_clicker_is_told_why(ops: Local) -> None:
    approval = ops.start_run("Refund order #2308 for $19")
    # More than one: an earlier test's Home tab, still being redrawn after its decision, may read #ops first.
    ops.slack.fail("conversations.members", "internal_error", times=3, token=ops.bot_token)
    try:
        ops.click(MEMBER, ActionId.APPROVE, approval)
        [told] = ops.ephemeral_to(MEMBER)
    finally:
        ops.slack.stop_failing("conversations.members")
    assert told.startswith("Nothing changed: only the members of <#C0OPS> may decide this request (rule _ops refunds_)")
    assert "could not read who they are (Slack said `internal_error`)" in told
    assert ops.store.requests.get(approval.id).is_pending


def test_a_channel_the_app_was_taken_out_of_shows_its_requests_to_nobody(ops: Local) -> None:
    approval = ops.start_run("Refund order #2309 for $19")
    ops.slack.leave(OPS, BOT_USER_ID)

    assert _on_home(ops, MEMBER, approval) is None


def test_home_offers_the_whole_arguments_beside_approve_when_it_cuts_them(ops: Local) -> None:
    approval = ops.start_run(LONG_REASON)
    home = _on_home(ops, MEMBER, approval)
    assert home is not None
    View(**home).validate_json()  # what Slack would accept

    click = ops.driver.home_action(MEMBER, ActionId.VIEW_ARGS, _button(home, ActionId.VIEW_ARGS, approval)["value"], view=home)

    opened = ops.slack.wait_for("views.open", lambda c: c.params.get("trigger_id") == click.payload["trigger_id"])
    shown = "".join(block["text"]["text"] for block in opened.params["view"]["blocks"] if block["type"] == "section")
    assert LONG_REASON.strip() in shown.replace("```", "")
    buttons = next(b for b in home["blocks"] if b["type"] == "actions" and approval.id in str(b))
    assert [e["action_id"] for e in buttons["elements"]][:1] == [ActionId.APPROVE]


def test_a_member_of_the_channel_a_request_was_escalated_to_may_decide_it(ops: Local) -> None:
    ops.slack.add_channel(Channel("C0OPSLEADS", "ops-leads", members=("U0OPSLEAD",), private=True))
    ops.policies(ESCALATING_OPS_REFUNDS)
    approval = ops.start_run("Refund order #2312 for $19")
    assert approval.deadline_at is not None
    ops.fire_due(approval.deadline_at + timedelta(seconds=1))
    ops.clock.reset()
    escalated = ops.store.requests.get(approval.id)

    ops.driver.block_action(
        "U0OPSLEAD",
        ActionId.APPROVE,
        ApprovalRef(approval_id=approval.id).dump(),
        channel_id="C0OPSLEADS",
        container_message_ts=ops.posted(escalated, 1).ts,
    )

    assert "Refunded $19.00 for order #2312" in ops.outcome(approval)


# The directory the bot reads channels' members through


def test_a_channels_members_are_read_past_the_first_page(slack: SlackEmulator) -> None:
    crowd = tuple(f"U0CROWD{n:04d}" for n in range(450))
    slack.add_channel(Channel("C0CROWD", "crowd", members=crowd))
    directory = ChannelDirectory(WebClient(token="xoxb-test", base_url=slack.base_url), ttl=0)

    members = directory.members(["C0CROWD"])

    assert members.members == {BOT_USER_ID, *crowd} and not members.unreadable


def test_a_channels_members_are_asked_of_slack_once_within_the_cache_time(slack: SlackEmulator) -> None:
    slack.add_channel(Channel("C0CACHED", "cached", members=("U0CACHED",)))
    directory = ChannelDirectory(WebClient(token="xoxb-test", base_url=slack.base_url), ttl=60)
    before = len([c for c in slack.calls_to("conversations.members") if c.params.get("channel") == "C0CACHED"])

    assert "U0CACHED" in directory.members(["C0CACHED"]).members
    assert "U0CACHED" in directory.members(["C0CACHED"]).members

    assert len([c for c in slack.calls_to("conversations.members") if c.params.get("channel") == "C0CACHED"]) == before + 1


# Through the real processes


@pytest.fixture
def stack_ops(stack: Stack) -> Stack:
    stack.slack.add_channel(Channel(OPS, "ops", members=(MEMBER,), private=True))
    return stack


def test_a_home_click_by_someone_outside_the_requests_channel_is_refused_by_the_real_bot(stack_ops: Stack) -> None:
    approval = stack_ops.start_run("Refund order #2311 for $19")
    value = _button(_on_home(stack_ops, MEMBER, approval), ActionId.APPROVE, approval)["value"]
    assert _on_home(stack_ops, OUTSIDER, approval) is None

    stack_ops.driver.home_action(OUTSIDER, ActionId.APPROVE, value, view=_home_pages(stack_ops, OUTSIDER)[0])

    [refused] = wait_until(lambda: _refused(stack_ops, approval), 20, "the refused click's audit row")
    assert refused.actor == OUTSIDER and approval.channel == OPS
    assert stack_ops.store.requests.get(approval.id).is_pending
