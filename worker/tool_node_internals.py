"""The one place Countersign reaches into LangGraph's `ToolNode`: its two private methods that every tool call
goes through, sync or async, with or without wrappers (`_execute_tool_sync`, `_execute_tool_async`).

Read against langgraph-prebuilt 1.1.3. The public `wrap_tool_call` hook is a constructor argument, so it cannot
be added to the ToolNode of a graph an agent's author compiled; these two methods can. On another
langgraph-prebuilt, `tests/test_framework_pins.py` fails until they are read again in that release and
`LANGGRAPH_PREBUILT_VERSION` follows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langgraph.prebuilt import ToolNode

LANGGRAPH_PREBUILT_VERSION = "1.1.3"

Execute = Callable[..., Any]


def wrap_tool_execution(tool_node: ToolNode, sync: Callable[[Execute], Execute], async_: Callable[[Execute], Execute]) -> bool:
    """Wrap how `tool_node` executes each call with `sync` and `async_` (each given the method it wraps); False
    when it was wrapped already."""
    if getattr(tool_node, "_countersign_wrapped", False):
        return False
    tool_node._execute_tool_sync = sync(tool_node._execute_tool_sync)  # type: ignore[method-assign]
    tool_node._execute_tool_async = async_(tool_node._execute_tool_async)  # type: ignore[method-assign]
    tool_node._countersign_wrapped = True  # type: ignore[attr-defined]
    return True
