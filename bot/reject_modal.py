"""The Reject and Reply modals: the approver types why (or what to tell the agent); the agent reads it.

Reject refuses the call; Reply answers the agent in the tool's place (LangChain's `respond`,
Agent Inbox's `response`, or the answer to an `ask_human` question). Both need the text.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import InputBlock, PlainTextInputElement

from approvals.models import ApprovalRequest, DecisionType
from bot.blocks import context_block, modal, request_metadata
from bot.formatting import escape, shorten
from bot.ids import ActionId, BlockId, CallbackId

# Request kinds whose Reject stops the run without resuming the agent (worker.protocols: no value it reads as no).
STOPS_ON_REJECT = ("interrupt:undeclared", "interrupt:approve_or_stop")


def reject_modal(
    approval: ApprovalRequest,
    position: int | None = None,
    decision: DecisionType = DecisionType.REJECT,
    *,
    from_home: bool = False,
) -> dict[str, Any]:
    """The modal asking for a (required) reason to reject, or a reply, for one action (or every undecided one)."""
    positions = [position] if position is not None else approval.undecided()
    actions = [approval.actions[p] for p in positions]
    names = ", ".join(f"`{escape(a.tool)}`" for a in actions)
    agent = f"`{escape(approval.run.agent)}`"
    if decision is DecisionType.RESPOND:
        question = actions[0].args.get("question") if actions[0].tool == "ask_human" else None
        title, submit, label, callback = "Reply", "Send reply", "Your answer", CallbackId.RESPOND_MODAL
        context = (
            f"{agent} asks: {escape(str(question))}" if question else (f"{names} will not run; {agent} reads your reply instead.")
        )
    elif approval.kind == "breakpoint_after":
        title, submit, label, callback = "Stop the run here", "Stop the run", "Reason", CallbackId.REJECT_MODAL
        context = f"{names} already ran; nothing after it runs, and {agent} is not resumed."
    elif all(a.result is not None for a in actions):
        title, submit, label, callback = "Flag the result", "Flag", "What is wrong", CallbackId.REJECT_MODAL
        context = f"{names} already ran. {agent} reads your note with its result."
    else:
        tool = actions[0].tool if len(actions) == 1 else f"{len(actions)} calls"
        title, submit, label, callback = f"Reject {tool}", "Reject", "Reason", CallbackId.REJECT_MODAL
        context = f"{agent} will not call {names}; it reads your reason and answers accordingly."
        if approval.kind in STOPS_ON_REJECT:
            context = (
                f"{agent} will not call {names}: the run stops without resuming it, "
                "so your reason is kept in the thread, not read by it."
            )
    return modal(
        callback_id=callback,
        title=shorten(title, 24),
        submit=submit,
        private_metadata=request_metadata(approval, position, from_home=from_home),
        blocks=[
            context_block(shorten(context, 3000)),
            InputBlock(
                block_id=BlockId.REJECT_REASON,
                label=label,
                element=PlainTextInputElement(action_id=ActionId.REJECT_REASON, multiline=True, min_length=1, max_length=2000),
            ),
        ],
    )


def reject_reason(values: dict[str, dict[str, dict[str, Any]]]) -> str:
    """The text typed in a submitted Reject or Reply modal, stripped ('' when blank)."""
    element = values.get(BlockId.REJECT_REASON, {}).get(ActionId.REJECT_REASON, {})
    return (element.get("value") or "").strip()
