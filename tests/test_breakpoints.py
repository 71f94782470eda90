"""Static breakpoints. Before a node (`interrupt_before`): mixed decisions tell the model why a call did not run,
and a breakpoint before a plain node shows what it will act on and can be rejected cleanly. After a node
(`interrupt_after`): what it produced is reviewed, and nothing after it runs before a decision."""

from __future__ import annotations

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver

from approvals.models import ApprovalRequest
from bot.ids import ActionId, BlockId
from sandbox.driver import plain_text_value
from tests.agents import AGENTS as AGENTS_UNDER_TEST
from tests.local import Local
from tests.stack import SlackUser, Stack
from worker.graph_session import graph_session
from worker.run_state import pauses


def _decide(local: Local, user: str, action: ActionId, approval: ApprovalRequest, position: int) -> str:
    """Click one call's button; returns the click's trigger id (a modal it opens carries it)."""
    response = local.click(user, action, approval, position)
    assert response.status == 200 and response.payload
    return str(response.payload["trigger_id"])


def test_breakpoint_with_one_call_approved_and_one_rejected_runs_one_and_tells_the_model_why_not(local: Local) -> None:
    approval = local.start_run("Refund #401 and #402, $30 each", agent="breakpoint_batch")
    assert [a.args["order_id"] for a in approval.actions] == ["401", "402"]

    _decide(local, "U0APPROVER", ActionId.APPROVE, approval, 0)
    trigger = _decide(local, "U0APPROVER", ActionId.REJECT, approval, 1)
    view = local.slack.wait_for("views.open", lambda call: call.params.get("trigger_id") == trigger).response["view"]
    local.driver.view_submission(
        "U0APPROVER", view, {BlockId.REJECT_REASON: {ActionId.REJECT_REASON: plain_text_value("Duplicate of #401")}}
    )

    outcome = local.outcome(approval)
    assert "Refunded $30.00 for order #401" in outcome
    assert "Not run: Duplicate of #401" in outcome  # what the model read for the rejected call
    assert local.refunds_of("401") == 1 and local.refunds_of("402") == 0


def test_breakpoint_before_a_plain_node_shows_the_state_it_will_act_on(local: Local) -> None:
    approval = local.start_run("our service is back", agent="announcements")

    assert approval.kind == "breakpoint" and approval.action.tool == "send"
    assert approval.action.args == {"to": "all@customers.example", "draft": "Dear customers, our service is back."}
    text = str(local.message(approval)["blocks"])
    assert "Dear customers, our service is back." in text and "No arguments" not in text


def test_rejecting_a_plain_node_skips_it_tells_the_thread_and_ends_the_run(local: Local) -> None:
    approval = local.start_run("we are down again", agent="announcements")
    sent_before = len(local.effects_of("emails"))

    local.answer("U0APPROVER", ActionId.REJECT, approval, "Legal has not signed off")

    notice = local.slack.wait_for(
        "chat.postMessage",
        lambda call: call.params.get("thread_ts") == local.ts_of(approval) and call.params["text"].startswith(":no_entry:"),
        timeout=20,
    )
    assert notice.params["text"] == ":no_entry: `send` did not run: <@U0APPROVER> rejected it: Legal has not signed off"
    local.outcome(approval)
    assert local.store.runs.get_run(approval.thread_id).status == "done"
    assert len(local.effects_of("emails")) == sent_before


def test_approving_a_plain_node_runs_it(local: Local) -> None:
    approval = local.start_run("maintenance on Sunday", agent="announcements")

    local.click("U0APPROVER", ActionId.APPROVE, approval)

    assert "Sent to all@customers.example." in local.outcome(approval)


# Static breakpoints after a node (`interrupt_after`): what the node produced is reviewed before anything after it runs.


def _sent(local: SlackUser) -> list[str]:
    """The e-mails the draft -> send graph's `send` node sent, one line each."""
    record = local.effects / "emails"
    return record.read_text().splitlines() if record.exists() else []


def _stopped(user: SlackUser, approval: ApprovalRequest) -> str:
    call = user.slack.wait_for(
        "chat.postMessage",
        lambda call: call.params.get("thread_ts") == user.ts_of(approval) and call.params["text"].startswith(":no_entry:"),
        timeout=30,
    )
    return str(call.params["text"])


def test_breakpoint_after_a_node_posts_what_it_produced_before_anything_after_it_runs(local: Local) -> None:
    approval = local.start_run("outage-501 is over", agent="draft_send")

    assert approval.kind == "breakpoint_after" and approval.action.tool == "draft"
    assert approval.action.args == {
        "to": "all@customers.example",
        "email": "Dear customers, outage-501 is over.",
        "messages added": ["Drafted an e-mail about outage-501 is over."],
    }
    blocks = local.message(approval)["blocks"]
    assert "draft_send ran draft" in str(blocks[0])
    assert "Dear customers, outage-501 is over." in str(blocks)
    assert [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"] if e["type"] == "button"] == [
        ActionId.APPROVE,
        ActionId.REJECT,
    ]
    assert not [line for line in _sent(local) if "outage-501" in line]


def test_approving_after_a_node_carries_on_and_sends_once(local: Local) -> None:
    approval = local.start_run("outage-502 is over", agent="draft_send")

    local.click("U0APPROVER", ActionId.APPROVE, approval)

    assert "Sent to all@customers.example: Dear customers, outage-502 is over." in local.outcome(approval)
    assert [line for line in _sent(local) if "outage-502" in line] == [
        "all@customers.example:Dear customers, outage-502 is over."
    ]


def test_rejecting_after_a_node_stops_the_run_there_and_tells_the_thread_and_the_agent(local: Local) -> None:
    approval = local.start_run("outage-503 is over", agent="draft_send")

    local.answer("U0APPROVER", ActionId.REJECT, approval, "Wrong tone")

    assert _stopped(local, approval).startswith(
        ":no_entry: The `draft_send` run was stopped: <@U0APPROVER> said no: Wrong tone. The agent was not resumed"
    )
    assert local.store.runs.get_run(approval.thread_id).status == "done"
    assert not [line for line in _sent(local) if "outage-503" in line]
    agent = local.runtime.registry.get("draft_send")
    with graph_session(agent, local.settings) as graph:
        messages = graph.get_state({"configurable": {"thread_id": approval.thread_id}}).values["messages"]
    assert messages[-1].content == "A human reviewer stopped the run after `draft`, so nothing after it ran: Wrong tone"


def test_breakpoint_after_a_tool_node_shows_what_the_tools_returned(local: Local) -> None:
    approval = local.start_run("Refund order #504 for $20", agent="lookups_reviewed_after")

    assert approval.action.tool == "tools"
    assert approval.action.args == {"tool results": ["lookup_order returned: Order #504: delivered, paid $500.00."]}
    assert local.refunds_of("504") == 0


def test_interrupt_after_every_node_pauses_after_draft_and_ends_after_send(local: Local) -> None:
    approval = local.start_run("outage-505 is over", agent="draft_send_every_step")
    assert approval.action.tool == "draft"

    local.click("U0APPROVER", ActionId.APPROVE, approval)

    assert "Sent to all@customers.example: Dear customers, outage-505 is over." in local.outcome(approval)
    assert len(local.store.lists.requests_for_thread(approval.thread_id)) == 1  # nothing is left to hold back after `send`


def test_breakpoint_after_a_node_through_the_processes_sends_only_once_approved(stack: Stack) -> None:
    approval = stack.start_run("outage-506 is over", agent="draft_send")
    assert approval.kind == "breakpoint_after"
    assert not [line for line in _sent(stack) if "outage-506" in line]

    stack.click("U0APPROVER", ActionId.APPROVE, approval)

    assert "Sent to all@customers.example: Dear customers, outage-506 is over." in stack.outcome(approval)
    assert [line for line in _sent(stack) if "outage-506" in line] == [
        "all@customers.example:Dear customers, outage-506 is over."
    ]


def test_a_run_that_stopped_before_its_first_node_is_no_stop_after_its_input() -> None:
    # As a worker killed in the first node leaves it: the input written, nothing run yet.
    graph = AGENTS_UNDER_TEST["draft_send_every_step"]().copy(update={"checkpointer": InMemorySaver()})
    config: RunnableConfig = {"configurable": {"thread_id": "killed-in-draft"}}
    graph.invoke({"messages": [{"role": "user", "content": "outage-507 is over"}]}, config, interrupt_before=["draft"])
    state = graph.get_state(config)
    assert state.next == ("draft",)

    assert pauses(graph, state) == []
