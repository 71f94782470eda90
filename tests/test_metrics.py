"""Prometheus scrapes the bot and the worker while decisions flow through the real processes; every process
of each is counted, and docs/operations.md and the sample dashboard name only metrics that exist."""

from __future__ import annotations

import json
import os
import re
import signal
import tempfile
import threading
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from rq.registry import FailedJobRegistry

from approvals.job_queue import run_job_id
from approvals.runs import RunRequest, start_run
from bot.ids import ActionId
from sandbox.driver import SlackDriver
from tests.stack import REPO_ROOT, Stack, children_of, is_running, wait_until

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _samples(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def _scrapes(stack: Stack) -> tuple[Samples, Samples]:
    return _samples(stack.scrape("bot")), _samples(stack.scrape("worker"))


def test_a_decision_shows_in_both_processes_metrics_scraped_while_it_flows(stack: Stack) -> None:
    bot_before, worker_before = _scrapes(stack)
    failures: list[str] = []
    scraped = 0
    done = threading.Event()

    def scrape_all_along() -> None:
        nonlocal scraped
        while not done.is_set():
            for process in ("bot", "worker"):
                try:
                    _samples(stack.scrape(process))
                    scraped += 1
                except Exception as error:  # noqa: BLE001 - every failure is the finding
                    failures.append(f"{process}: {error!r}")
            done.wait(0.05)

    scraper = threading.Thread(target=scrape_all_along)
    scraper.start()
    try:
        # Scraping from before the run starts until after its outcome (the flow can be quicker than a
        # round of scrapes).
        wait_until(lambda: scraped >= 2 or failures, 10, "a first scrape")
        approval = stack.start_run("Refund order #400 for $250", user="U0METRICSASKER")
        stack.click("U0METRICSAPPROVER", ActionId.APPROVE, approval)
        assert "Refunded $250.00 for order #400" in stack.outcome(approval)
        after = scraped
        wait_until(lambda: scraped >= after + 2 or failures, 10, "a scrape after the outcome")
    finally:
        done.set()
        scraper.join()
    assert not failures, failures

    def counted() -> tuple[Samples, Samples] | None:
        bot, worker = _scrapes(stack)
        resumed = _value(worker, "countersign_worker_resumes_total", outcome="done") > _value(
            worker_before, "countersign_worker_resumes_total", outcome="done"
        )
        return (bot, worker) if resumed else None

    bot, worker = wait_until(counted, 10, "the resume to be counted")
    assert (
        _value(bot, "countersign_bot_requests_total", kind="block_actions")
        >= _value(bot_before, "countersign_bot_requests_total", kind="block_actions") + 1
    )
    assert _value(bot, "countersign_bot_ack_seconds_count", kind="block_actions") > _value(
        bot_before, "countersign_bot_ack_seconds_count", kind="block_actions"
    )
    assert _value(bot, "countersign_bot_decisions_total", outcome="approve") > _value(
        bot_before, "countersign_bot_decisions_total", outcome="approve"
    )
    assert _value(worker, "countersign_worker_runs_total", outcome="waiting") > _value(
        worker_before, "countersign_worker_runs_total", outcome="waiting"
    )
    assert _value(worker, "countersign_worker_click_to_tool_start_seconds_count") > _value(
        worker_before, "countersign_worker_click_to_tool_start_seconds_count"
    )
    assert ("countersign_pending_requests", frozenset()) in worker


def test_every_bot_process_is_counted(stack: Stack) -> None:
    before = _value(_samples(stack.scrape("bot")), "countersign_bot_requests_total", kind="event_callback")

    for _ in range(20):
        stack.driver.event({"type": "app_home_opened", "user": "U0METRICSHOME", "channel": "D0HOME", "tab": "messages"})

    # Two gunicorn processes answered these; a scrape served by either adds both up.
    after = _value(_samples(stack.scrape("bot")), "countersign_bot_requests_total", kind="event_callback")
    assert after - before == 20


def test_a_forged_signature_is_counted(stack: Stack) -> None:
    before = _value(_samples(stack.scrape("bot")), "countersign_bot_signature_failures_total")
    forger = SlackDriver(stack.url, "not-the-signing-secret")

    assert forger.slash_command("U0FORGER", "/countersign", "help").status == 401

    assert _value(_samples(stack.scrape("bot")), "countersign_bot_signature_failures_total") == before + 1


def test_a_refused_click_is_counted_by_reason(stack: Stack) -> None:
    approval = stack.start_run("Refund order #401 for $250", user="U0METRICSSELF")
    before = _value(_samples(stack.scrape("bot")), "countersign_bot_refusals_total", reason="not_an_approver")

    stack.click("U0METRICSSELF", ActionId.APPROVE, approval)
    stack.ephemeral_to("U0METRICSSELF")

    after = _value(_samples(stack.scrape("bot")), "countersign_bot_refusals_total", reason="not_an_approver")
    assert after == before + 1


def test_deadlines_and_what_waits_are_counted(stack: Stack) -> None:
    before = _value(_samples(stack.scrape("worker")), "countersign_worker_deadlines_fired_total", outcome="reject")
    approval = stack.start_run("Refund order #402 for $11")  # rule "quick expiry": rejected after 2 s

    waiting = _samples(stack.scrape("worker"))
    assert _value(waiting, "countersign_pending_requests") >= 1
    assert _value(waiting, "countersign_oldest_pending_request_age_seconds") > 0

    wait_until(lambda: stack.store.requests.get(approval.id).status == "expired", 15, "the deadline")
    wait_until(
        lambda: _value(_samples(stack.scrape("worker")), "countersign_worker_deadlines_fired_total", outcome="reject") > before,
        10,
        "the deadline to be counted",
    )


def test_the_workers_metrics_files_do_not_grow_with_its_jobs(stack: Stack) -> None:
    assert stack.worker is not None
    directory = Path(tempfile.gettempdir()) / f"countersign-metrics-worker-{stack.worker.pid}"
    for order in range(403, 406):
        approval = stack.start_run(f"Refund order #{order} for $250", user="U0METRICSASKER")
        stack.click("U0METRICSAPPROVER", ActionId.APPROVE, approval)
        stack.outcome(approval)

    # One set for the worker and one for each of its job processes (one here): not one per job.
    owners = {re.fullmatch(r"\w+_(\d+)\.db", p.name)[1] for p in directory.glob("*.db")}  # type: ignore[index]
    assert owners and owners <= {str(stack.worker.pid), *map(str, children_of(stack.worker.pid))}, owners


def test_a_worker_restarted_while_its_old_job_process_still_works_is_scraped(stack: Stack) -> None:
    assert stack.worker is not None
    stack.hold("lookup-409")
    request = RunRequest(agent="payments_effects", input_text="Refund order #409 for $250", requested_by="U0ASKER")
    start_run(request, stack.store, stack.queue)
    stack.wait_until_held("lookup-409")
    old_job_processes = children_of(stack.worker.pid)

    os.kill(stack.worker.pid, signal.SIGKILL)  # the parent only: its job process finishes its job first
    stack.worker.wait()
    stack.worker = None
    try:
        stack.start_worker()
        assert "countersign_pending_requests" in stack.scrape("worker")
    finally:
        stack.release("lookup-409")
        wait_until(lambda: not [pid for pid in old_job_processes if is_running(pid)], 15, "the old job process to finish")
    # The old job process finished its job (its metrics directory was left to it), and its job did not fail.
    stack.wait_for_request(request.thread_id)
    assert run_job_id(request.thread_id) not in FailedJobRegistry(queue=stack.queue.queue).get_job_ids()


def _defined_metrics() -> set[str]:
    from bot import metrics as bot_metrics
    from worker import metrics as worker_metrics

    names = {"countersign_pending_requests", "countersign_oldest_pending_request_age_seconds"}
    for module in (bot_metrics, worker_metrics):
        for value in vars(module).values():
            name = getattr(value, "_name", None)
            if isinstance(name, str) and name.startswith("countersign_"):
                names.add(name + ("_total" if type(value).__name__ == "Counter" else ""))
    return names


def test_the_operations_page_documents_every_metric() -> None:
    page = (REPO_ROOT / "docs" / "operations.md").read_text()
    section = page.split("## Metrics", 1)[1].split("\n## ", 1)[0]

    documented = set(re.findall(r"^\| `(countersign_\w+)`", section, re.MULTILINE))

    assert documented == _defined_metrics()


def test_the_sample_dashboard_queries_only_metrics_that_exist() -> None:
    dashboard = json.loads((REPO_ROOT / "deploy" / "grafana-dashboard.json").read_text())
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]

    used = {re.sub(r"_(bucket|count|sum)$", "", name) for query in queries for name in re.findall(r"countersign_\w+", query)}

    assert queries and used <= _defined_metrics(), used - _defined_metrics()
