"""Every Block Kit `action_id`, `callback_id` and `block_id` the app uses, in one place."""

from __future__ import annotations

from enum import StrEnum


class ActionId(StrEnum):
    """Buttons and inputs; the bot's listeners are registered on these."""

    APPROVE = "countersign.approve"
    APPROVE_ALL = "countersign.approve_all"
    EDIT = "countersign.edit"
    REJECT = "countersign.reject"
    RESPOND = "countersign.respond"
    ANSWER = "countersign.answer"
    VIEW_ARGS = "countersign.view_args"
    VIEW_CALLS = "countersign.view_calls"
    CALLS_PAGE = "countersign.calls_page"
    ARG_VALUE = "countersign.arg_value"
    REJECT_REASON = "countersign.reject_reason"
    ANSWER_TEXT = "countersign.answer_text"
    ANSWER_OPTION = "countersign.answer_option"
    CONFIRM = "countersign.confirm"
    EDIT_SETTING = "countersign.edit_setting"
    SETTING_VALUE = "countersign.setting_value"
    PROPOSE_CHANGE = "countersign.propose_change"
    HOME_PAGE = "countersign.home_page"
    # The "⋯" menu beside a call's buttons (bot.more_menu)
    MORE = "countersign.more"
    # "Ask someone else…": the person picked (bot.handover_modal)
    HANDOVER_PERSON = "countersign.handover_person"


class CallbackId(StrEnum):
    """Modals; their submissions come back with these."""

    EDIT_MODAL = "countersign.edit_modal"
    REJECT_MODAL = "countersign.reject_modal"
    RESPOND_MODAL = "countersign.respond_modal"
    ANSWER_MODAL = "countersign.answer_modal"
    CONFIRM_MODAL = "countersign.confirm_modal"
    ARGS_MODAL = "countersign.args_modal"
    CALLS_MODAL = "countersign.calls_modal"
    SETTINGS_MODAL = "countersign.settings_modal"
    PROPOSAL_MODAL = "countersign.proposal_modal"
    HANDOVER_MODAL = "countersign.handover_modal"


class BlockId(StrEnum):
    """Blocks the app reads back or updates."""

    DECISION_BUTTONS = "countersign.decision_buttons"
    REQUEST_BUTTONS = "countersign.request_buttons"
    REJECT_REASON = "countersign.reject_reason"
    ANSWER_TEXT = "countersign.answer_text"
    ANSWER_OPTION = "countersign.answer_option"
    CONFIRM = "countersign.confirm"
    ARG_PREFIX = "countersign.arg:"
    CALLS_PAGES = "countersign.calls_pages"
    HOME_PAGES = "countersign.home_pages"
    SETTING_SCOPE = "countersign.setting_scope"
    SETTING_CHANNEL = "countersign.setting_channel"
    SETTING_TIMEOUT = "countersign.setting_timeout"
    SETTING_ON_TIMEOUT = "countersign.setting_on_timeout"
    SETTING_LEVEL = "countersign.setting_level"
    HANDOVER_PERSON = "countersign.handover_person"

    @classmethod
    def for_arg(cls, name: str) -> str:
        """The block id of the edit-modal input for one argument."""
        return f"{cls.ARG_PREFIX}{name}"

    @classmethod
    def arg_name(cls, block_id: str) -> str | None:
        """The argument an edit-modal block id is for, or None for other blocks."""
        return block_id.removeprefix(cls.ARG_PREFIX) if block_id.startswith(cls.ARG_PREFIX) else None
