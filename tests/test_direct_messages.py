"""A rule's `notify` says how its deciders are reached: `channel` (as always), `dm` (each person it names gets the
request, with its buttons, by DM; the channel a short line naming them) or `both`. Every message shows the same state
and is redrawn when anyone decides; reminders and escalations follow the rule into the DMs; a person who cannot be
reached by DM is listed on the channel post, which then carries the whole request.

Each test names its rule (below) and people of its own: the Slack emulator lives for the whole session.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from approvals.frontend import RequestHandedOver
from approvals.models import ApprovalRequest
from approvals.policies import Rule
from bot.direct_messages import Reach
from bot.dm_messages import brief_message, with_reach
from bot.ids import ActionId
from bot.metadata import ApprovalRef
from bot.request_message import request_message
from bot.slack_places import SlackPlaces
from sandbox.emulator import Channel
from tests.local import Local
from tests.stack import SlackUser, Stack, wait_until
from tests.test_block_kit import approval as block_kit_approval
from tests.test_block_kit import valid_message
from tests.test_handover import PASSED_ON
from tests.test_handover import _hand_over as hand_over

# The payments agent's refund call, as the request shows it.
ALL_BUTTONS = ["Approve", "Edit", "Reply", "Reject"]


def dm_rule(*approvers: str, notify: str = "dm", **fields: Any) -> Rule:
    """Refunds of $2701 decided by `approvers`, reached as `notify` says."""
    return Rule(
        name=f"{notify} refunds",
        agent="payments",
        tool="refund",
        when="amount == 2701",
        approvers=list(approvers),
        notify=notify,
        **fields,
    )


def dm_of(local: SlackUser, user: str, approval: ApprovalRequest) -> dict[str, Any] | None:
    """The request's message in `user`'s DM with the app, as Slack holds it now."""
    posted = SlackPlaces(local.store).dms(approval.id).get(user)
    return local.slack.message(posted.channel, posted.ts) if posted else None


def buttons(message: dict[str, Any]) -> list[str]:
    """The texts of a message's buttons (the ⋯ menu left out)."""
    return [
        e["text"]["text"]
        for b in message.get("blocks", [])
        if b["type"] == "actions"
        for e in b["elements"]
        if e["type"] == "button"
    ]


def shown(message: dict[str, Any]) -> str:
    """Everything a message says, as one string."""
    return str(message.get("blocks") or message.get("text"))


def _decided_dm(local: SlackUser, user: str, approval: ApprovalRequest, says: str) -> dict[str, Any] | None:
    message = dm_of(local, user, approval)
    return message if message is not None and says in shown(message) else None


def click_in_dm(local: SlackUser, user: str, action: ActionId, approval: ApprovalRequest) -> None:
    """`user` clicks one of the request's buttons in their DM."""
    # Noted just after Slack took it: a person never clicks that fast, a test may.
    posted = wait_until(lambda: SlackPlaces(local.store).dms(approval.id).get(user), 10, f"{user}'s DM noted")
    local.driver.block_action(
        user,
        action,
        ApprovalRef(approval_id=approval.id, rev=approval.revision).dump(),
        channel_id=posted.channel,
        container_message_ts=posted.ts,
        message=local.slack.message(posted.channel, posted.ts),
    )


def test_a_dm_rule_sends_each_approver_the_request_with_its_buttons(local: Local) -> None:
    local.policies(dm_rule("U0DMALEX1", "U0DMJORDAN1"))

    approval = local.start_run("Refund order #2701 for $2701")

    for person in ("U0DMALEX1", "U0DMJORDAN1"):
        message = dm_of(local, person, approval)
        assert message is not None, f"{person} has no DM of the request"
        assert buttons(message) == ALL_BUTTONS
        assert local.slack.dm_user(SlackPlaces(local.store).dms(approval.id)[person].channel) == person


def test_a_dm_rule_leaves_a_short_line_in_the_channel_naming_who_was_asked_without_buttons(local: Local) -> None:
    local.policies(dm_rule("U0DMALEX2", "U0DMJORDAN2"))

    approval = local.start_run("Refund order #2702 for $2701")

    line = local.message(approval)
    assert buttons(line) == []
    assert "Sent by DM to <@U0DMALEX2>, <@U0DMJORDAN2>, who decide it there" in shown(line)
    assert "`refund`" in shown(line)


def test_a_both_rule_posts_the_whole_request_in_the_channel_and_sends_it_by_dm(local: Local) -> None:
    local.policies(dm_rule("U0DMALEX3", notify="both"))

    approval = local.start_run("Refund order #2703 for $2701")

    assert buttons(local.message(approval)) == ALL_BUTTONS
    assert "Also sent by DM to <@U0DMALEX3>" in shown(local.message(approval))
    dm = dm_of(local, "U0DMALEX3", approval)
    assert dm is not None and buttons(dm) == ALL_BUTTONS


def test_an_approval_in_a_dm_redraws_the_channel_line_and_every_other_dm(local: Local) -> None:
    local.policies(dm_rule("U0DMALEX4", "U0DMJORDAN4"))
    approval = local.start_run("Refund order #2704 for $2701")

    click_in_dm(local, "U0DMALEX4", ActionId.APPROVE, approval)

    assert "Refunded $2701.00 for order #2704" in local.outcome(approval)
    wait_until(lambda: "Approved* by <@U0DMALEX4>" in shown(local.message(approval)), 10, "the channel line redrawn")
    for person in ("U0DMJORDAN4", "U0DMALEX4"):
        dm = wait_until(
            lambda p=person: _decided_dm(local, p, approval, "Approved* by <@U0DMALEX4>"), 10, f"{person}'s DM redrawn"
        )
        assert buttons(dm) == []


def test_a_rejection_on_the_channel_post_redraws_the_dms(local: Local) -> None:
    local.policies(dm_rule("U0DMALEX5", notify="both"))
    approval = local.start_run("Refund order #2705 for $2701")

    local.answer("U0DMALEX5", ActionId.REJECT, approval, "Not this one")

    dm = wait_until(lambda: _decided_dm(local, "U0DMALEX5", approval, "Rejected* by <@U0DMALEX5>"), 10, "the DM redrawn")
    assert buttons(dm) == []


def test_someone_whose_dm_cannot_be_opened_is_listed_on_the_channel_post_which_carries_the_whole_request(local: Local) -> None:
    local.slack.deactivate("U0DMGONE6")
    local.policies(dm_rule("U0DMALEX6", "U0DMGONE6"))

    approval = local.start_run("Refund order #2706 for $2701")

    post = local.message(approval)
    assert buttons(post) == ALL_BUTTONS
    assert "Could not reach <@U0DMGONE6> (`user_disabled`) by DM. They decide it here." in shown(post)
    assert "Also sent by DM to <@U0DMALEX6>" in shown(post)
    assert dm_of(local, "U0DMGONE6", approval) is None and dm_of(local, "U0DMALEX6", approval) is not None


def test_a_dm_rule_without_approvers_is_posted_in_the_channel_as_always(local: Local) -> None:
    local.policies(dm_rule())

    approval = local.start_run("Refund order #2707 for $2701")

    assert buttons(local.message(approval)) == ALL_BUTTONS
    assert SlackPlaces(local.store).dms(approval.id) == {}


def test_the_requester_is_not_sent_their_own_request_unless_they_may_approve_it(local: Local) -> None:
    local.policies(dm_rule("U0DMALEX8", "U0ASKER"))

    approval = local.start_run("Refund order #2708 for $2701")

    assert set(SlackPlaces(local.store).dms(approval.id)) == {"U0DMALEX8"}


def test_the_members_of_a_user_group_named_as_approvers_get_the_request_by_dm(local: Local) -> None:
    local.slack.add_usergroup("dm-approvers9", ["U0DMMEMBER9A", "U0DMMEMBER9B"])
    local.policies(dm_rule("@dm-approvers9"))

    approval = local.start_run("Refund order #2709 for $2701")

    assert set(SlackPlaces(local.store).dms(approval.id)) == {"U0DMMEMBER9A", "U0DMMEMBER9B"}


def test_a_user_group_slack_will_not_list_is_named_on_the_channel_post_which_carries_the_whole_request(local: Local) -> None:
    local.slack.add_usergroup("dm-approvers15", ["U0DMMEMBER15"])
    local.slack.fail("usergroups.users.list", "internal_error", times=1, token=local.bot_token)
    local.policies(dm_rule("@dm-approvers15"))

    approval = local.start_run("Refund order #2715 for $2701")

    post = local.message(approval)
    assert buttons(post) == ALL_BUTTONS
    assert "Could not reach @dm-approvers15 (`internal_error`) by DM. They decide it here." in shown(post)


def test_whoever_stands_in_for_an_away_approver_gets_the_request_by_dm(local: Local) -> None:
    local.store.people.set_away("U0DMAWAY10", "U0DMDELEGATE10", None)
    local.policies(dm_rule("U0DMAWAY10"))

    approval = local.start_run("Refund order #2710 for $2701")

    assert set(SlackPlaces(local.store).dms(approval.id)) == {"U0DMAWAY10", "U0DMDELEGATE10"}


def test_a_reminder_reaches_the_approvers_in_their_dms(local: Local) -> None:
    local.policies(dm_rule("U0DMALEX11", timeout="1h", reminders=["30m"]))
    approval = local.start_run("Refund order #2711 for $2701")
    assert approval.deadline_at is not None

    local.fire_due(approval.deadline_at - timedelta(minutes=20))
    local.clock.reset()

    posted = SlackPlaces(local.store).dms(approval.id)["U0DMALEX11"]
    [reminder] = local.slack.thread_replies(posted.channel, posted.ts)
    assert reminder["text"].startswith(":alarm_clock: This request needs a decision by")
    thread = local.thread_of(approval)
    assert thread is not None  # the channel's short line: its people were reminded in their DMs
    assert not [m for m in local.slack.thread_replies(thread.channel, thread.ts) if ":alarm_clock:" in m["text"]]


def test_an_escalation_is_told_in_the_approvers_dms(local: Local) -> None:
    local.slack.add_channel(Channel("C0DMLEADS", "dm-leads", everyone=True))
    rule = dm_rule("U0DMALEX12", timeout="1h", on_timeout="escalate", escalation=[{"channel": "C0DMLEADS", "timeout": "2h"}])
    local.policies(rule)
    approval = local.start_run("Refund order #2712 for $2701")
    assert approval.deadline_at is not None

    local.fire_due(approval.deadline_at + timedelta(seconds=1))
    local.clock.reset()

    posted = SlackPlaces(local.store).dms(approval.id)["U0DMALEX12"]
    [told] = local.slack.thread_replies(posted.channel, posted.ts)
    assert told["text"] == (
        ":arrow_heading_up: Nobody decided this within 1h: it went to <#C0DMLEADS>, and you may still decide it here."
    )
    line = wait_until(lambda: "escalated to <#C0DMLEADS>" in shown(local.message(approval)), 10, "the channel line redrawn")
    assert line


def test_a_request_handed_to_someone_reaches_them_by_dm_saying_who_asked_and_the_thread_is_told(local: Local) -> None:
    local.policies(dm_rule("U0DMALEX13", notify="channel"))
    approval = local.start_run("Refund order #2713 for $2701")

    local.runtime.front_end.tell(
        RequestHandedOver(
            approval=approval, to="U0DMTAYLOR13", by="U0DMALEX13", earlier=local.store.lists.decided_before(approval)
        )
    )

    messages = local.slack.dm_messages("U0DMTAYLOR13")
    assert messages[0]["text"] == ":raising_hand: <@U0DMALEX13> asked you to decide this request:"
    assert buttons(messages[1]) == ALL_BUTTONS
    assert SlackPlaces(local.store).dms(approval.id)["U0DMTAYLOR13"].ts == messages[1]["ts"]
    thread = local.thread_of(approval)
    assert thread is not None
    lines = [m["text"] for m in local.slack.thread_replies(thread.channel, thread.ts)]
    assert ":raising_hand: <@U0DMALEX13> handed this request to <@U0DMTAYLOR13>, who has it by DM." in lines


def test_a_hand_over_to_someone_who_cannot_be_reached_by_dm_says_so_in_the_thread(local: Local) -> None:
    local.slack.deactivate("U0DMGONE14")
    local.policies(dm_rule("U0DMALEX14", notify="channel"))
    approval = local.start_run("Refund order #2714 for $2701")

    local.runtime.front_end.tell(
        RequestHandedOver(approval=approval, to="U0DMGONE14", by="U0DMALEX14", earlier=local.store.lists.decided_before(approval))
    )

    thread = local.thread_of(approval)
    assert thread is not None
    lines = [m["text"] for m in local.slack.thread_replies(thread.channel, thread.ts)]
    assert (
        ":raising_hand: <@U0DMALEX14> handed this request to <@U0DMGONE14>, who could not be reached by DM (`user_disabled`)."
        in lines
    )


# Through the real processes


def test_through_the_real_processes_a_decision_in_a_dm_redraws_the_channel_post_and_one_on_the_post_redraws_the_dm(
    stack: Stack,
) -> None:
    # Rule "dm refunds" (tests/policies.yml): posted, and sent by DM to U0DMSTACKA and U0DMSTACKB.
    in_dm = stack.start_run("Refund order #2731 for $2701")
    wait_until(lambda: dm_of(stack, "U0DMSTACKA", in_dm), 20, "the request in U0DMSTACKA's DM")

    click_in_dm(stack, "U0DMSTACKA", ActionId.APPROVE, in_dm)

    wait_until(lambda: "Approved* by <@U0DMSTACKA>" in shown(stack.message(in_dm)), 20, "the channel post redrawn")
    assert buttons(stack.message(in_dm)) == []
    assert "Refunded $2701.00 for order #2731" in stack.outcome(in_dm)

    on_post = stack.start_run("Refund order #2732 for $2701")
    wait_until(lambda: dm_of(stack, "U0DMSTACKB", on_post), 20, "the request in U0DMSTACKB's DM")

    stack.click("U0DMSTACKA", ActionId.APPROVE, on_post)

    dm = wait_until(lambda: _decided_dm(stack, "U0DMSTACKB", on_post, "Approved* by <@U0DMSTACKA>"), 20, "the DM redrawn")
    assert buttons(dm) == []


def test_the_first_decision_wins_and_a_later_click_in_another_dm_is_told_who_decided(local: Local) -> None:
    local.policies(dm_rule("U0DMALEX16", "U0DMJORDAN16"))
    approval = local.start_run("Refund order #2716 for $2701")
    click_in_dm(local, "U0DMALEX16", ActionId.APPROVE, approval)

    click_in_dm(local, "U0DMJORDAN16", ActionId.REJECT, approval)

    [told] = local.ephemeral_to("U0DMJORDAN16")
    assert told.startswith("Nothing changed: :white_check_mark: *Approved* by <@U0DMALEX16>")
    assert local.store.requests.get(approval.id).actions[0].decision.decided_by == "U0DMALEX16"  # type: ignore[union-attr]


# The surfaces, as slack_sdk parses them


def test_the_short_line_and_the_note_of_dms_are_valid_block_kit() -> None:
    request = block_kit_approval()
    reach = Reach(notify="dm", asked=["U0A", "U0B"], unreached={"U0C": "user_disabled"})

    valid_message(brief_message(request, reach.model_copy(update={"unreached": {}})))
    noted = valid_message(with_reach(request_message(request), reach))

    assert noted[-1]["elements"][0]["text"] == (
        ":envelope_with_arrow: Also sent by DM to <@U0A>, <@U0B>. "
        ":warning: Could not reach <@U0C> (`user_disabled`) by DM. They decide it here."
    )


def test_a_request_handed_over_from_its_menu_reaches_the_person_by_dm_and_their_click_there_decides_it(local: Local) -> None:
    local.policies(PASSED_ON)  # tests/test_handover.py: approvers U0HANDA and U0HANDB, who may hand a request on
    approval = local.start_run("Refund order #9017 for $901")

    hand_over(local, "U0HANDA", approval, "U0DMHANDED17")

    # The line, then the request: both posted before the test reads them.
    [line, request] = wait_until(lambda: _first_two(local.slack.dm_messages("U0DMHANDED17")), 10, "the hand-over's DM")
    assert line["text"] == ":raising_hand: <@U0HANDA> asked you to decide this request:" and buttons(request) == ALL_BUTTONS
    click_in_dm(local, "U0DMHANDED17", ActionId.APPROVE, local.store.requests.get(approval.id))
    assert "Refunded $901.00 for order #9017" in local.outcome(approval)


def _first_two(messages: list[dict]) -> list[dict] | None:
    return messages[:2] if len(messages) >= 2 else None
