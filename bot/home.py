"""The App Home tab: the requests waiting on this user, with the same buttons; for admins, the
settings set in Slack with a way to change them, and the approval figures of the last days."""

from __future__ import annotations

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
from slack_sdk.models.views import View

from approvals.admin_settings import ScopedOverride
from approvals.models import ApprovalRequest, Page
from approvals.stats import StatsReport
from bot.admin_commands import describe
from bot.formatting import approver, as_code, escape, mention, shorten, slack_date
from bot.ids import ActionId, BlockId
from bot.metadata import ApprovalRef, HomePageRef
from bot.request_message import decision_buttons
from bot.stats_view import stats_home_blocks

# The "Add a setting" button's value; an existing setting's button carries its scope.
NEW_SETTING = "+new"
HOME_REQUESTS = 15  # a Home tab holds 100 blocks; each request takes up to 5
HOME_MAX_BLOCKS = 100
HOME_ARGS_CHARS = 300  # a call's arguments on the tab are cut here; "View full arguments" shows them whole
SECTION_CHARS = 3000


def home_view(
    waiting: list[ApprovalRequest] | Page,
    settings: list[ScopedOverride] | None,
    stats: StatsReport | None = None,
    *,
    page: int = 0,
    standing_in: dict[str, str | None] | None = None,
) -> dict[str, Any]:
    """The Home tab: page `page` of the requests waiting on the user (`waiting`: that page and how many in
    all, or the whole list), each saying whom the user decides it for when they stand in for someone away
    (`standing_in`, by request id); with `settings` and `stats` (admins only), the settings section and the
    approval figures (in the blocks left)."""
    page_of = waiting if isinstance(waiting, Page) else Page(waiting, len(waiting))
    shown, total = page_of.requests, page_of.total
    shown = shown[:HOME_REQUESTS]
    blocks: list[Block] = [HeaderBlock(text="Waiting on you")]
    if not shown:
        blocks.append(SectionBlock(text=MarkdownTextObject(text="_Nothing is waiting for your decision._")))
    for approval in shown:
        blocks.extend(_request_blocks(approval, (standing_in or {}).get(approval.id)))
    after = total - page * HOME_REQUESTS - len(shown)
    if after > 0:
        more = f"…and {after}{'+' if page_of.capped else ''} more; `/countersign pending` lists them all."
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=more)]))
    if page > 0 or after > 0:
        blocks.append(_page_buttons(page, after))
    if settings is not None:
        blocks.extend(_settings_blocks(settings))
    if stats is not None:
        blocks.extend(stats_home_blocks(stats, HOME_MAX_BLOCKS - len(blocks)))
    return View(type="home", blocks=blocks).to_dict()


def _page_buttons(page: int, after: int) -> ActionsBlock:
    """Previous / Next between pages of the waiting requests (a Home tab cannot hold them all)."""
    buttons = (
        [ButtonElement(text=f"Previous {HOME_REQUESTS}", action_id=ActionId.HOME_PAGE, value=HomePageRef(page=page - 1).dump())]
        if page > 0
        else []
    )
    if after > 0:
        buttons.append(
            ButtonElement(
                text=f"Next {min(after, HOME_REQUESTS)}", action_id=ActionId.HOME_PAGE, value=HomePageRef(page=page + 1).dump()
            )
        )
    return ActionsBlock(block_id=BlockId.HOME_PAGES, elements=buttons)


def _request_blocks(approval: ApprovalRequest, for_user: str | None = None) -> list[Block]:
    run = approval.run
    due = f" · due {slack_date(approval.deadline_at)}" if approval.deadline_at else ""
    standing = f" · you decide it for {mention(for_user)}, who is away" if for_user else ""
    calls = [as_code(a.args, HOME_ARGS_CHARS) for a in approval.actions]
    text = f"*{escape(run.agent)}*, asked by {mention(run.requested_by)}{due}{standing}\n" + "\n".join(
        f"`{escape(a.tool)}` {code}" for a, (code, _) in zip(approval.actions, calls, strict=True)
    )
    blocks: list[Block] = [DividerBlock(), SectionBlock(text=MarkdownTextObject(text=shorten(text, SECTION_CHARS)))]
    # Nobody should approve what they could not read: whatever the tab cut, the modal shows whole.
    shortened = len(text) > SECTION_CHARS or any(cut for _, cut in calls)
    for n, position in enumerate(approval.undecided()[:3]):
        target = None if len(approval.actions) == 1 else position
        block_id = f"{BlockId.DECISION_BUTTONS}:{approval.id}:{position}"
        buttons = decision_buttons(approval, approval.actions[position], target, block_id)
        if n == 0 and shortened:
            buttons.elements.append(_view_args_button(approval))
        blocks.append(buttons)
    return blocks


def _view_args_button(approval: ApprovalRequest) -> ButtonElement:
    """Opens the arguments of every call of the request, whole."""
    return ButtonElement(
        text="View full arguments", action_id=ActionId.VIEW_ARGS, value=ApprovalRef(approval_id=approval.id).dump()
    )


def _settings_blocks(settings: list[ScopedOverride]) -> list[Block]:
    blocks: list[Block] = [
        DividerBlock(),
        HeaderBlock(text="Settings set in Slack"),
        ContextBlock(
            elements=[MarkdownTextObject(text="They override the policy file for new requests, per agent or agent.tool.")]
        ),
    ]
    for scoped in settings[:20]:
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text=shorten(
                        f"`{escape(scoped.scope)}`: {describe(scoped.override)}\n"
                        f"_by {approver(scoped.updated_by)} {slack_date(scoped.updated_at)}_",
                        3000,
                    )
                ),
                accessory=ButtonElement(text="Edit", action_id=ActionId.EDIT_SETTING, value=scoped.scope),
            )
        )
    blocks.append(
        ActionsBlock(
            block_id="countersign.settings_actions",
            elements=[ButtonElement(text="Add a setting", action_id=ActionId.EDIT_SETTING, value=NEW_SETTING, style="primary")],
        )
    )
    return blocks
