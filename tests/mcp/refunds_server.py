"""An MCP server with one tool, `refund`, that records each call it runs in the file named on its command line:
the upstream the MCP gate is tested in front of. Over stdio, or over streamable HTTP with `--http PORT`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import Server
from mcp.server.stdio import stdio_server

RECORD = Path(sys.argv[1])
REFUND = types.Tool(
    name="refund",
    description="Refund a customer's order.",
    input_schema={
        "type": "object",
        "properties": {"order_id": {"type": "string"}, "amount": {"type": "number"}},
        "required": ["order_id", "amount"],
    },
)


async def list_tools(ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
    return types.ListToolsResult(tools=[REFUND])


async def call_tool(ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams) -> types.CallToolResult:
    arguments = dict(params.arguments or {})
    with RECORD.open("a") as record:
        record.write(json.dumps(arguments) + "\n")
    text = f"Refunded ${float(arguments['amount']):.2f} for order #{arguments['order_id']}"
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)])


SERVER: Server[Any] = Server("refunds", on_list_tools=list_tools, on_call_tool=call_tool)


async def main() -> None:
    async with stdio_server() as (read, write):
        await SERVER.run(read, write, SERVER.create_initialization_options())


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[2] == "--http":
        import uvicorn

        uvicorn.run(SERVER.streamable_http_app(), host="127.0.0.1", port=int(sys.argv[3]), log_level="warning")
    else:
        anyio.run(main)
