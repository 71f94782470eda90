"""The approval request message, rendered from the request's state (pending, approved, edited, rejected).

The same builder serves the first post and every later `chat.update`, so the message in Slack
always says what the store says.
"""

from __future__ import annotations

import re
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from approvals.models import (
    API_KIND,
    IN_DOUBT_KIND,
    REPEATED_IDS_DECIDER,
    ApprovalRequest,
    DecisionType,
    Level,
    Page,
    ProposedAction,
    Status,
)
from bot.answer_modal import question_of
from bot.decision_lines import action_decision_line, decision_line, status_emoji, voters
from bot.formatting import approver, as_code, escape, mention, quote, shorten, slack_date, visible
from bot.ids import ActionId, BlockId
from bot.metadata import ApprovalRef
from bot.more_menu import more_menu

# An argument shown inline is cut here; "View full arguments" shows it whole.
ARG_PREVIEW_CHARS = 300
_FIELDS_PER_SECTION = 10
# Slack refuses a message of more than 50 blocks; past that, calls are shown as rows.
MAX_MESSAGE_BLOCKS = 50
COMPACT_ROWS = 10
_QUOTE_CHARS = 1500


def request_message(approval: ApprovalRequest, earlier: list[ApprovalRequest] | Page | None = None) -> dict[str, Any]:
    """`text` and `blocks` for `chat.postMessage` / `chat.update` of this request in its current state;
    `earlier` are the run's previous requests (or the last of them, with how many), listed so approvers
    see the steps already decided."""
    blocks: list[Block] = [
        HeaderBlock(text=shorten(f"{status_emoji(approval.status)} {visible(_headline(approval))}", 150)),
        *_context_blocks(approval),
        *_earlier_steps(earlier if isinstance(earlier, Page) else Page(earlier or [], len(earlier or []))),
    ]
    blocks.extend(_protocol_note(approval))
    calls: list[Block] = []
    for position, action in enumerate(approval.actions):
        calls.append(DividerBlock())
        calls.extend(_action_blocks(approval, position, action))
    footer = [DividerBlock(), *_footer_blocks(approval, compact=False)]
    if len(blocks) + len(calls) + len(footer) > MAX_MESSAGE_BLOCKS:
        # Too many calls for one message: a row each, the first few shown, all of them in a modal.
        calls = [DividerBlock(), *compact_rows(approval)]
        footer = [DividerBlock(), *_footer_blocks(approval, compact=True)]
    return {"text": _fallback_text(approval), "blocks": [block.to_dict() for block in [*blocks, *calls, *footer]]}


def compact_request_message(approval: ApprovalRequest) -> dict[str, Any]:
    """The request in its smallest whole form (headline, a row per call, the buttons), for when Slack refuses the
    full one as too long (`msg_too_long`)."""
    blocks: list[Block] = [
        HeaderBlock(text=shorten(f"{status_emoji(approval.status)} {visible(_headline(approval))}", 150)),
        DividerBlock(),
        *compact_rows(approval),
        DividerBlock(),
        *_footer_blocks(approval, compact=True),
    ]
    return {"text": shorten(_fallback_text(approval), 3000), "blocks": [block.to_dict() for block in blocks]}


def call_row(position: int, action: ProposedAction) -> str:
    """One call on one line: its number, tool, arguments (shortened) and where it stands."""
    state = action_decision_line(action) if action.decision else ":hourglass_flowing_sand: waiting"
    return f"{position + 1}. `{escape(action.tool)}` {as_code(action.args, 100)[0]}: {state}"


def compact_rows(approval: ApprovalRequest) -> list[Block]:
    """The calls of a request too big for one message: a summary, and the first rows."""
    counts: dict[str, int] = {}
    for action in approval.actions:
        key = action.decision.type.value if action.decision else "waiting"
        counts[key] = counts.get(key, 0) + 1
    summary = ", ".join(f"{n} {key}" for key, n in counts.items())
    rows = [call_row(p, a) for p, a in enumerate(approval.actions[:COMPACT_ROWS])]
    more = len(approval.actions) - COMPACT_ROWS
    if more > 0:
        rows.append(f"…and {more} more: *View all calls* shows each, with its own buttons.")
    return [
        SectionBlock(text=MarkdownTextObject(text=shorten(f"*{len(approval.actions)} calls* ({summary})", 3000))),
        SectionBlock(text=MarkdownTextObject(text=shorten("\n".join(rows), 3000))),
    ]


# Request kinds (see worker.interrupts) whose message reads differently from a proposed call.
ANSWERED_WITH_TEXT = "interrupt:text"
AFTER_NODE = "breakpoint_after"


def _headline(approval: ApprovalRequest) -> str:
    tools = ", ".join(action.tool for action in approval.actions)
    if approval.kind == ANSWERED_WITH_TEXT:
        return f"{approval.run.agent} asks a question" + ("" if approval.is_pending else " (answered)")
    if approval.kind == IN_DOUBT_KIND:
        answered = {Status.APPROVED: " (run again)", Status.REJECTED: " (not run again)", Status.EXPIRED: " (not run again)"}
        return f"The worker stopped while `{tools}` ran; it may or may not have taken effect{answered.get(approval.status, '')}"
    if approval.kind == AFTER_NODE:
        after = {Status.APPROVED: "may carry on after", Status.REJECTED: "was stopped after"}
        return f"{approval.run.agent} {after.get(approval.status, 'ran')} {tools}"
    verb = {
        Status.PENDING: "wants to call",
        Status.APPROVED: "may call",
        Status.EDITED: "may call (edited)",
        Status.REJECTED: "may not call",
        Status.DECIDED: "has decisions on",
        Status.EXPIRED: "may not call (expired)",
        Status.WITHDRAWN: "may not call (run stopped)",
    }[approval.status]
    return f"{approval.run.agent} {verb} {tools}"


def _fallback_text(approval: ApprovalRequest) -> str:
    # Notifications and screen readers show this, not the blocks.
    return shorten(f"{escape(_headline(approval))} (requested by {mention(approval.run.requested_by)})", 3000)


def _context_blocks(approval: ApprovalRequest) -> list[Block]:
    run = approval.run
    via = " via the API" if approval.kind == API_KIND else ""
    blocks: list[Block] = [
        SectionBlock(
            text=MarkdownTextObject(
                text=f"*{mention(run.requested_by)} asked `{escape(run.agent)}`{via}:*\n{quote(run.input_text, _QUOTE_CHARS)}"
            )
        )
    ]
    if approval.agent_message.strip():
        blocks.append(
            SectionBlock(text=MarkdownTextObject(text=f"*Agent's reasoning:*\n{quote(approval.agent_message, _QUOTE_CHARS)}"))
        )
    if approval.link:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=f"*Context:* {_link(approval.link)}")]))
    return blocks


# A link Slack can show as one: http(s), and nothing in it that would end or split Slack's `<url|text>`.
_LINKABLE = re.compile(r"^https?://[^\s<>|]{1,1990}$")


def _link(url: str) -> str:
    """The caller's context link, as a Slack link when it is a plain http(s) URL, else as escaped text."""
    if not _LINKABLE.match(url):
        return escape(shorten(url, 300))
    return f"<{url.replace('&', '&amp;')}|{escape(shorten(url, 80))}>"


_UNDECLARED_NOTE = (
    ":warning: Countersign cannot tell how `{agent}` reads an answer to this pause, so it does not guess: "
    "*Reject stops the run without resuming the agent* (nothing after its pause runs, and it is not told why), "
    'and Approve resumes it with `{{"type": "approve"}}`. To answer it properly, declare how it reads '
    'answers in the agent registry, e.g. `agent(graph, resume="boolean")` (README: Resume protocols).'
)


_APPROVE_OR_STOP_NOTE = (
    ":warning: `{agent}` asks in the shape of LangGraph's tutorial review node, whose executors read a rejection "
    'differently (`tool_executor_with_edits` runs the call on `"reject"`), so Countersign does not guess: '
    '*Reject stops the run without resuming the agent*, Approve resumes it with `"approve"`, and Edit is not offered. '
    'To have it told and rerouted, declare `agent(graph, resume={{"tool_approval_request": "action"}})` in the agent '
    "registry (README: Resume protocols)."
)


def _repeated_ids_note(approval: ApprovalRequest) -> str | None:
    """Why nobody decides these calls, when Countersign refused them for sharing a tool-call id."""
    told = next(
        (a.decision.message for a in approval.actions if a.decision and a.decision.decided_by == REPEATED_IDS_DECIDER), None
    )
    if told is None:
        return None
    if approval.kind.startswith("breakpoint"):
        then = "The agent is told why and asked to propose them again, each with an id of its own"
    else:
        then = (
            "The agent's pause is answered with a rejection of every call, saying why and asking it to propose them "
            "again, each with an id of its own (an agent that cannot read a rejection is stopped instead)"
        )
    return (
        ":no_entry: *None of these calls runs, and nobody can decide them here.* The agent proposed calls that share "
        "a tool-call id, so Countersign cannot tell them apart: a decision on one could be carried out on another. "
        f"{then}; what it proposes next is posted as a new request (if it repeats an id again, the run stops "
        f"there). Countersign's answer to the agent:\n{quote(told, _QUOTE_CHARS)}"
    )


def _protocol_note(approval: ApprovalRequest) -> list[Block]:
    """What the approver should know about how this agent reads their answer."""
    refused = _repeated_ids_note(approval)
    if refused is not None:
        return [SectionBlock(text=MarkdownTextObject(text=shorten(refused, 3000)))]
    protocol = approval.kind.partition(":")[2] if approval.kind.startswith("interrupt") else ""
    if protocol == "undeclared":
        text = _UNDECLARED_NOTE.format(agent=escape(approval.run.agent))
    elif protocol == "approve_or_stop":
        text = _APPROVE_OR_STOP_NOTE.format(agent=escape(approval.run.agent))
    elif protocol == "text":
        text = "Answer the question; the agent reads your answer as plain text. There is nothing to approve or reject."
    elif approval.kind == IN_DOUBT_KIND:
        text = (
            "Check its effect first. *Run it again* calls the tool once more with the same idempotency key; "
            "*Don't* tells the agent it was not run again. Until someone answers, the run waits; its deadline says Don't."
        )
    elif approval.kind == AFTER_NODE:
        text = "This step already ran. *Approve* lets the run carry on; *Reject* stops it here, and nothing after it runs."
    elif protocol in ("boolean", "string") and len(approval.actions) > 1:
        text = "This agent reads one answer for all these calls: rejecting any of them rejects them all."
    elif protocol in ("boolean", "string"):
        text = "This agent reads a yes or a no: a reason you give is kept here, not passed to it."
    else:
        return []
    return [ContextBlock(elements=[MarkdownTextObject(text=text)])]


_EARLIER_SHOWN = 10


def _earlier_steps(earlier: Page) -> list[Block]:
    if not earlier.requests:
        return []
    lines = []
    # Numbered as steps of the whole run: the last ones shown are the run's steps total-9 .. total.
    shown = earlier.requests[-_EARLIER_SHOWN:]
    for step, request in enumerate(shown, start=max(1, earlier.total - len(shown) + 1)):
        for action in request.actions:
            call = f"`{escape(action.tool)}` {as_code(action.args, 120)[0]}"
            lines.append(f"{step}. {call}: {action_decision_line(action)}")
    text = "*Earlier steps of this run:*\n" + "\n".join(lines)
    return [ContextBlock(elements=[MarkdownTextObject(text=shorten(text, 3000))])]


def _action_blocks(approval: ApprovalRequest, position: int, action: ProposedAction) -> list[Block]:
    decision = action.decision
    edited = decision.edited_args if decision and decision.type is DecisionType.EDIT else action.proposed_args
    args = action.args
    if approval.kind == ANSWERED_WITH_TEXT:
        # The question itself, not a tool; what else its value holds (its options) follows as fields.
        asked = question_of(action)
        blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=f"*Question:*\n{quote(asked, _QUOTE_CHARS)}"))]
        args = {name: value for name, value in args.items() if value != asked}
    else:
        label = "Step" if approval.kind == AFTER_NODE else "Tool"
        blocks = [SectionBlock(text=MarkdownTextObject(text=f"*{label}:* `{escape(action.tool)}`"))]
    fields = _arg_fields(args, edited)
    if not fields and approval.kind != ANSWERED_WITH_TEXT:
        blocks.append(SectionBlock(text=MarkdownTextObject(text="_No arguments._")))
    for start in range(0, len(fields), _FIELDS_PER_SECTION):
        blocks.append(SectionBlock(fields=fields[start : start + _FIELDS_PER_SECTION]))
    description = action.description.strip()
    if description and not description.startswith("Tool execution requires approval"):
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=shorten(escape(description), 2000))]))
    if action.result is not None:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=f"*What it did:*\n{quote(action.result, _QUOTE_CHARS)}")))
    if decision is None and action.proposed_by:
        proposed = (
            f":pencil2: {mention(action.proposed_by)} edited these arguments; they fall under another rule, so they wait for it."
        )
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=proposed)]))
    if decision is None and (action.proposed_by or len({approval.gate_of(p).rule for p in range(len(approval.actions))}) > 1):
        # The calls of this request follow different rules: each says its own.
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=_who_decides(approval, position))]))
    if decision is not None or approval.status is Status.WITHDRAWN:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=decision_line(approval, position))))
    elif approval.is_pending:
        if action.votes:
            approved = ", ".join(voters(action))
            progress = f"{len(action.votes)} of {approval.gate_of(position).quorum} approvals so far: {approved}."
            blocks.append(ContextBlock(elements=[MarkdownTextObject(text=progress)]))
        # One action: the buttons decide the request; several: each action has its own.
        target = None if len(approval.actions) == 1 else position
        block_id = BlockId.DECISION_BUTTONS if target is None else f"{BlockId.DECISION_BUTTONS}:{target}"
        blocks.append(decision_buttons(approval, action, target, block_id))
    return blocks


def decision_buttons(approval: ApprovalRequest, action: ProposedAction, position: int | None, block_id: str) -> ActionsBlock:
    """The buttons that decide one action (`position`), or the whole request (None)."""
    ref = ApprovalRef(approval_id=approval.id, action=position, rev=approval.revision).dump()
    allowed = set(action.allowed_decisions)
    buttons: list[ButtonElement] = []
    # A review after the call ran: approving acknowledges the result, rejecting flags it for the agent.
    ran = action.result is not None
    if DecisionType.APPROVE in allowed:
        label = "Run it again" if approval.kind == IN_DOUBT_KIND else "Acknowledge" if ran else "Approve"
        buttons.append(ButtonElement(text=label, action_id=ActionId.APPROVE, value=ref, style="primary"))
    if DecisionType.EDIT in allowed and approval.gate_of(position or 0).quorum == 1:
        # With a quorum, every approver must approve the same call, so edits are off.
        buttons.append(ButtonElement(text="Edit", action_id=ActionId.EDIT, value=ref))
    if DecisionType.RESPOND in allowed and approval.kind == ANSWERED_WITH_TEXT:
        # A question: the answer is what the agent reads, with nothing to approve or reject.
        buttons.append(ButtonElement(text="Answer", action_id=ActionId.ANSWER, value=ref, style="primary"))
    elif DecisionType.RESPOND in allowed:
        buttons.append(ButtonElement(text="Reply", action_id=ActionId.RESPOND, value=ref))
    if DecisionType.REJECT in allowed:
        label = "Don't" if approval.kind == IN_DOUBT_KIND else "Flag" if ran else "Reject"
        buttons.append(ButtonElement(text=label, action_id=ActionId.REJECT, value=ref, style="danger"))
    menu = more_menu(approval, action, position, ref)
    return ActionsBlock(block_id=block_id, elements=[*buttons, *([menu] if menu else [])])


def _arg_fields(args: dict[str, Any], edited: dict[str, Any] | None) -> list[MarkdownTextObject]:
    fields = []
    for name in dict.fromkeys([*args, *(edited or {})]):
        proposed = as_code(args[name], ARG_PREVIEW_CHARS)[0] if name in args else "_(none)_"
        text = f"*{escape(name)}*\n{proposed}"
        # An edit replaces the arguments whole: a proposed argument missing from it was cleared.
        if edited is not None and (name not in edited or edited[name] != args.get(name)):
            approved = as_code(edited[name], ARG_PREVIEW_CHARS)[0] if name in edited else "_(removed)_"
            text = f"*{escape(name)}* (edited)\nproposed {proposed}\napproved {approved}"
        fields.append(MarkdownTextObject(text=shorten(text, 2000)))
    return fields


def _was_shortened(approval: ApprovalRequest) -> bool:
    values = [v for action in approval.actions for v in action.args.values()]
    for action in approval.actions:
        if action.decision and action.decision.edited_args:
            values.extend(action.decision.edited_args.values())
    return any(as_code(value, ARG_PREVIEW_CHARS)[1] for value in values)


def _footer_blocks(approval: ApprovalRequest, *, compact: bool) -> list[Block]:
    buttons: list[ButtonElement] = []
    undecided = approval.undecided()
    whole = ApprovalRef(approval_id=approval.id, rev=approval.revision).dump()
    if (
        approval.is_pending
        and len(undecided) > 1
        and all(DecisionType.APPROVE in approval.actions[p].allowed_decisions for p in undecided)
    ):
        buttons.append(
            ButtonElement(
                text=f"Approve all {len(undecided)}",
                action_id=ActionId.APPROVE_ALL,
                value=whole,
                style="primary",
            )
        )
    if compact:
        if (
            approval.is_pending
            and undecided
            and all(DecisionType.REJECT in approval.actions[p].allowed_decisions for p in undecided)
        ):
            buttons.append(
                ButtonElement(text=f"Reject all {len(undecided)}", action_id=ActionId.REJECT, value=whole, style="danger")
            )
        buttons.append(ButtonElement(text="View all calls", action_id=ActionId.VIEW_CALLS, value=whole))
    elif _was_shortened(approval):
        buttons.append(ButtonElement(text="View full arguments", action_id=ActionId.VIEW_ARGS, value=whole))
    blocks: list[Block] = [ActionsBlock(block_id=BlockId.REQUEST_BUTTONS, elements=buttons)] if buttons else []
    timing = _escalation_lines(approval)
    if approval.is_pending and approval.deadline_at is not None:
        timing.append(_deadline_line(approval))
    if timing:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=shorten("\n".join(timing), 3000))]))
    blocks.append(
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=shorten(
                        f"{_who_decides(approval)} · requested {slack_date(approval.created_at)} · "
                        f"run `{approval.thread_id}` · request `{approval.id}`",
                        3000,
                    )
                )
            ]
        )
    )
    return blocks


def _deadline_line(approval: ApprovalRequest) -> str:
    assert approval.deadline_at is not None
    gate = approval.gate
    # A question is never answered for anyone (worker.protocols.TextAnswer); a step that ran stops the run.
    no = {ANSWERED_WITH_TEXT: "the run stops, unanswered", AFTER_NODE: "the run stops here"}.get(approval.kind, "it is rejected")
    yes = "the run stops, unanswered" if approval.kind == ANSWERED_WITH_TEXT else "it goes ahead"
    then = {
        "reject": no,
        "approve": yes,
        "escalate": f"it goes to <#{gate.escalation[approval.stage].channel}>" if approval.stage < len(gate.escalation) else no,
    }[gate.action_at_deadline(approval.stage)]
    return f":alarm_clock: Decide by {slack_date(approval.deadline_at)}; then {then}."


def _escalation_lines(approval: ApprovalRequest) -> list[str]:
    escalated = [f":arrow_heading_up: Escalated to <#{e.channel}> {slack_date(e.at)}." for e in approval.escalations]
    handed = [f":raising_hand: Handed to {mention(to)} by {mention(by)}." for to, by in approval.handed_by.items()]
    return [*escalated, *handed]


def _who_decides(approval: ApprovalRequest, position: int | None = None) -> str:
    gate = approval.gate if position is None else approval.gate_of(position)
    who = ", ".join(approver(a) for a in gate.approvers) if gate.approvers else "anyone here"
    proposers = {approval.run.requested_by} if position is None else approval.proposers_of(position)
    if not gate.allow_self_approval and any(proposers):
        who += " but " + ", ".join(mention(p) for p in sorted(p for p in proposers if p))
    friction = {
        Level.MANUAL: f" (typing CONFIRM{f', {gate.quorum} approvers' if gate.quorum > 1 else ''})",
        Level.SOFT: " (soft)",
    }.get(gate.level, "")
    return f"Rule _{escape(gate.rule)}_: {who} may decide{friction}"
