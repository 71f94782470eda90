"""Runs start from Slack (`/countersign run <agent> <request>`), the command line, and Python."""

from __future__ import annotations

import re

from approvals.runs import RunRequest, start_run
from tests.stack import Stack


def _thread_id(text: str) -> str:
    match = re.search(r"run `([0-9a-f]{32})`", text)
    assert match, text
    return match.group(1)


def test_slash_command_starts_a_run_whose_request_names_the_requester(stack: Stack) -> None:
    response = stack.driver.slash_command("U0SLASH", "/countersign", "run payments Refund order #90 for $30")

    assert response.status == 200
    assert response.json()["response_type"] == "ephemeral"
    approval = stack.wait_for_request(_thread_id(response.json()["text"]))
    assert approval.run.requested_by == "U0SLASH"
    assert approval.action.args == {"order_id": "90", "amount": 30.0, "reason": "Refund order #90 for $30"}
    assert "<@U0SLASH> asked `payments`" in str(stack.message(approval)["blocks"])


def test_slash_command_whose_text_says_payload_still_starts_a_run(stack: Stack) -> None:
    response = stack.driver.slash_command(
        "U0SLASH", "/countersign", "run payments Refund order #91 for $5, the payload was broken"
    )

    assert response.status == 200
    stack.wait_for_request(_thread_id(response.json()["text"]))


def test_slash_command_with_an_unknown_agent_says_which_agents_exist(stack: Stack) -> None:
    response = stack.driver.slash_command("U0SLASH", "/countersign", "run payroll Pay everyone twice")

    text = response.json()["text"]
    assert text.startswith("There is no agent `payroll`. Agents: ") and ", payments, " in text


def test_slash_command_without_a_request_answers_with_usage(stack: Stack) -> None:
    response = stack.driver.slash_command("U0SLASH", "/countersign", "run payments")

    assert "Usage: `/countersign run <agent> <request>`" in response.json()["text"]


def test_cli_run_queues_a_run_that_reaches_slack(stack: Stack) -> None:
    done = stack.countersign("run", "payments", "Refund order #92 for $12", "--user", "U0CLI")

    assert done.returncode == 0, done.stderr
    thread_id = re.search(r"queued run ([0-9a-f]{32}) of payments", done.stdout)
    assert thread_id, done.stdout
    assert stack.wait_for_request(thread_id.group(1)).run.requested_by == "U0CLI"


def test_cli_run_with_an_unknown_agent_fails_with_one_line(stack: Stack) -> None:
    done = stack.countersign("run", "payroll", "Pay everyone")

    assert done.returncode == 1
    line = done.stderr.strip()
    assert line.startswith("countersign: no agent 'payroll'; agents: ") and ", payments, " in line and "\n" not in line


def test_run_of_an_unknown_agent_enqueued_from_python_tells_the_requesters_channel(stack: Stack) -> None:
    request = RunRequest(agent="payroll", input_text="Pay everyone", requested_by="U0PY", reply_channel="C0PYTHON")

    start_run(request, stack.store, stack.queue)

    call = stack.slack.wait_for("chat.postMessage", lambda call: call.params.get("channel") == "C0PYTHON")
    assert call.params["text"].startswith(":warning: The `payroll` run failed: No agent 'payroll'; this worker runs: ")
    assert stack.store.runs.get_run(request.thread_id).status == "failed"
