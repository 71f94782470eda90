"""Where Countersign replaces or reaches into part of a framework instead of extending it, the module that
does so names the framework version it follows; these fail when another version is installed, so it is
read again first."""

from __future__ import annotations

from importlib.metadata import version

import rq
from slack_bolt.version import __version__ as installed_slack_bolt

from bot.bolt_internals import SLACK_BOLT_VERSION
from tests.stack import REPO_ROOT
from worker import rq_pool_loop, tool_node_internals


def test_rq_pool_loop_follows_the_pinned_rq() -> None:
    assert rq.__version__ == rq_pool_loop.RQ_VERSION, (
        f"worker/rq_pool_loop.py follows RQ {rq_pool_loop.RQ_VERSION}, but RQ {rq.__version__} is installed: "
        "compare its copies with this RQ's, then change RQ_VERSION"
    )
    pinned = [line for line in (REPO_ROOT / "constraints.txt").read_text().splitlines() if line.startswith("rq==")]
    assert pinned == [f"rq=={rq_pool_loop.RQ_VERSION}"]


def test_bolt_internals_follow_the_pinned_slack_bolt() -> None:
    # On another slack-bolt, read bot/bolt_internals.py's uses again in that release, then move its version.
    assert installed_slack_bolt == SLACK_BOLT_VERSION, (
        f"slack-bolt {installed_slack_bolt} is installed; bot/bolt_internals.py follows {SLACK_BOLT_VERSION}"
    )


def test_tool_node_internals_follow_the_pinned_langgraph_prebuilt() -> None:
    # On another langgraph-prebuilt, read ToolNode's two methods in that release, then move the version.
    installed = version("langgraph-prebuilt")
    assert installed == tool_node_internals.LANGGRAPH_PREBUILT_VERSION, (
        f"langgraph-prebuilt {installed} is installed; worker/tool_node_internals.py follows "
        f"{tool_node_internals.LANGGRAPH_PREBUILT_VERSION}"
    )
