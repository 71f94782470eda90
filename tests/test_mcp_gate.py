"""The MCP gate, used as an MCP client uses it: the SDK's own client session talks to `countersign mcp-gate`
over stdio, the gate talks to a real upstream MCP server, and people decide in Slack through the real bot."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from bot.ids import ActionId
from countersign.ports import free_port
from tests.stack import REPO_ROOT, Stack, wait_until

UPSTREAM = REPO_ROOT / "tests" / "mcp" / "refunds_server.py"


def _gate(stack: Stack, record: Path) -> StdioServerParameters:
    _, key = stack.store.api_keys.create("payments")
    command = shutil.which("countersign") or "countersign"
    gate = ["mcp-gate", "--agent", "payments", "--url", f"http://127.0.0.1:{stack.port}", "--key", key, "--"]
    return StdioServerParameters(command=command, args=[*gate, sys.executable, str(UPSTREAM), str(record)])


def _call_through_the_gate(
    params: StdioServerParameters, arguments: dict[str, Any], landed: list[Any], progress: list[str] | None = None
) -> None:
    async def told(done: float, total: float | None, message: str | None) -> None:
        if progress is not None:
            progress.append(message or "")

    async def call() -> None:
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            landed.append([tool.name for tool in (await session.list_tools()).tools])
            landed.append(await session.call_tool("refund", arguments, progress_callback=told))

    anyio.run(call)


def test_an_approved_call_reaches_the_upstream_once_with_its_arguments(stack: Stack, tmp_path: Path) -> None:
    record = tmp_path / "calls"
    landed: list[Any] = []
    thread = threading.Thread(
        target=_call_through_the_gate, args=(_gate(stack, record), {"order_id": "901", "amount": 250}, landed)
    )
    thread.start()

    request = stack.asked_over_the_api("901")
    assert record.exists() is False  # nothing reached the upstream while people decide
    stack.click("U0APPROVER", ActionId.APPROVE, request)
    thread.join(60)

    tools, result = landed
    assert tools == ["refund"]
    assert isinstance(result, types.CallToolResult) and not result.is_error
    assert [json.loads(line) for line in record.read_text().splitlines()] == [{"order_id": "901", "amount": 250}]
    assert "Refunded $250.00 for order #901" in result.content[0].text  # type: ignore[union-attr]


def test_a_rejected_call_never_reaches_the_upstream_and_the_client_reads_the_reason(stack: Stack, tmp_path: Path) -> None:
    record = tmp_path / "calls"
    landed: list[Any] = []
    thread = threading.Thread(
        target=_call_through_the_gate, args=(_gate(stack, record), {"order_id": "902", "amount": 250}, landed)
    )
    thread.start()

    stack.answer("U0APPROVER", ActionId.REJECT, stack.asked_over_the_api("902"), "Use the refunds queue for this one.")
    thread.join(60)

    _, result = landed
    assert isinstance(result, types.CallToolResult) and result.is_error
    assert "Use the refunds queue for this one." in result.content[0].text  # type: ignore[union-attr]
    assert not record.exists()


def test_the_client_is_told_the_call_waits_for_approval_while_people_decide(stack: Stack, tmp_path: Path) -> None:
    record = tmp_path / "calls"
    landed: list[Any] = []
    progress: list[str] = []
    arguments = {"order_id": "903", "amount": 250}
    thread = threading.Thread(target=_call_through_the_gate, args=(_gate(stack, record), arguments, landed, progress))
    thread.start()

    request = stack.asked_over_the_api("903")
    wait_until(lambda: progress, 20, "a progress notification")
    stack.click("U0APPROVER", ActionId.APPROVE, request)
    thread.join(60)

    assert progress[0] == "refund waits for approval in Slack"
    assert not landed[1].is_error


def test_a_gate_in_front_of_a_server_over_streamable_http_forwards_the_approved_call(stack: Stack, tmp_path: Path) -> None:
    record, port = tmp_path / "calls", free_port()
    upstream = subprocess.Popen([sys.executable, str(UPSTREAM), str(record), "--http", str(port)])
    try:
        wait_until(lambda: _listening(port), 20, "the upstream MCP server over HTTP")
        params = _gate(stack, record)
        params = params.model_copy(
            update={"args": [*params.args[: params.args.index("--")], "--upstream", f"http://127.0.0.1:{port}/mcp"]}
        )
        landed: list[Any] = []
        thread = threading.Thread(target=_call_through_the_gate, args=(params, {"order_id": "904", "amount": 250}, landed))
        thread.start()

        stack.click("U0APPROVER", ActionId.APPROVE, stack.asked_over_the_api("904"))
        thread.join(60)
    finally:
        upstream.terminate()
        upstream.wait(10)

    assert not landed[1].is_error
    assert [json.loads(line) for line in record.read_text().splitlines()] == [{"order_id": "904", "amount": 250}]


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0
