"""`countersign mcp-gate`: an MCP server in front of another one, so people approve its tool calls in Slack.

Any MCP client (Claude Desktop, Cursor, an IDE agent) starts the gate where it would start the server:

    countersign mcp-gate --agent ops -- npx @example/database-server
    countersign mcp-gate --agent ops --upstream https://mcp.example.com/mcp

The gate starts the upstream server (stdio) or connects to it (streamable HTTP), and serves its tools
unchanged. Each call becomes an approval request through the approval API; the tool's input schema types
the Edit modal. The policy decides as for any call: an `auto` one goes ahead at once. While people
decide, the client gets progress notifications. An approved call is forwarded with the approved
arguments, possibly edited. A rejected or expired one returns a tool error with the reason, and the
upstream never sees it.
"""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import AbstractAsyncContextManager
from typing import Any

import anyio
import mcp_types as types
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import Server
from mcp.server.stdio import stdio_server

from countersign.client import Approval, Countersign

# How long one wait for a decision holds before the client is told, again, that the call still waits.
PROGRESS_EVERY = 10.0


class Gate:
    """Serves an upstream MCP server's tools, each call decided through Countersign first."""

    def __init__(self, upstream: ClientSession, countersign: Countersign, agent: str) -> None:
        self.upstream = upstream
        self.countersign = countersign
        self.agent = agent
        self.schemas: dict[str, dict[str, Any]] = {}

    async def list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        """The upstream's tools, as they are."""
        tools = await self.upstream.list_tools(params=params)
        self.schemas.update({tool.name: dict(tool.input_schema) for tool in tools.tools if tool.input_schema})
        return tools

    async def call_tool(self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams) -> types.CallToolResult:
        """Ask for the call, wait for people (telling the client it waits), then forward it or refuse it."""
        arguments = dict(params.arguments or {})
        approval = await anyio.to_thread.run_sync(self._ask, params.name, arguments)
        waited = 0.0
        while not approval.decided:
            await ctx.session.report_progress(waited, None, f"{params.name} waits for approval in Slack")
            approval = await anyio.to_thread.run_sync(self.countersign.get, approval.id, PROGRESS_EVERY)
            waited += PROGRESS_EVERY
        decision = approval.decision
        if not approval.goes_ahead or decision is None or decision.arguments is None:
            reason = (decision.message if decision else None) or approval.status
            return types.CallToolResult(content=[types.TextContent(type="text", text=f"Not run: {reason}")], is_error=True)
        result = await self.upstream.call_tool(params.name, decision.arguments)
        await anyio.to_thread.run_sync(self._report, approval, result)
        return result

    def _ask(self, tool: str, arguments: dict[str, Any]) -> Approval:
        context = {"summary": f"MCP tool `{tool}`"}
        return self.countersign.ask(tool, arguments, agent=self.agent, context=context, arguments_schema=self.schemas.get(tool))

    def _report(self, approval: Approval, result: types.CallToolResult) -> None:
        text = " ".join(block.text for block in result.content if isinstance(block, types.TextContent))
        self.countersign.report(
            approval.id, ok=not result.is_error, output=text[:4000], error=text[:500] if result.is_error else None
        )


def _upstream(command: list[str], url: str | None) -> AbstractAsyncContextManager[Any]:
    """The upstream's transport: the server `command` starts (stdio), or the one at `url` (streamable HTTP)."""
    if url:
        return streamable_http_client(url)
    # The upstream gets the gate's environment but not its key: the server it gates must not ask for itself.
    env = {name: value for name, value in os.environ.items() if name != "COUNTERSIGN_KEY"}
    return stdio_client(StdioServerParameters(command=command[0], args=command[1:], env=env))


async def serve(command: list[str], countersign: Countersign, agent: str, url: str | None = None) -> None:
    """Reach the upstream server and serve its tools, gated, on this process's stdin and stdout."""
    async with _upstream(command, url) as streams, ClientSession(streams[0], streams[1]) as upstream:
        await upstream.initialize()
        gate = Gate(upstream, countersign, agent)
        server: Server[Any] = Server("countersign-gate", on_list_tools=gate.list_tools, on_call_tool=gate.call_tool)
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())


def run(args: argparse.Namespace) -> None:
    """`countersign mcp-gate`: serve the command's MCP server's tools, each call approved in Slack first."""
    url = args.url or os.environ.get("COUNTERSIGN_URL")
    key = args.key or os.environ.get("COUNTERSIGN_KEY")
    command = [part for part in args.command if part != "--"]
    if not (url and key and (command or args.upstream)):
        sys.exit(
            "countersign mcp-gate: needs --url (or COUNTERSIGN_URL), --key (or COUNTERSIGN_KEY), and a command after -- "
            "or --upstream URL"
        )
    anyio.run(serve, command, Countersign(url, key), args.agent, args.upstream)
