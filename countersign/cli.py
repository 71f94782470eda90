"""The `countersign` command: worker, bot, dev (both, on embedded defaults), migrate, run, stats, audit, api-key and
mcp-gate."""

from __future__ import annotations

import argparse
import logging
import sys

from approvals.errors import ConfigurationError
from approvals.prometheus import use_multiprocess_directory
from approvals.settings import load_settings
from countersign import api_keys, audit, stats


def _worker(args: argparse.Namespace) -> None:
    settings = load_settings()
    # Before anything imports a metric: the worker and its job processes count in files a scrape adds up.
    use_multiprocess_directory("worker", settings.prometheus_multiproc_dir)
    from worker.main import run_worker

    run_worker(settings, burst=args.burst, processes=args.processes)


def _mcp_gate(args: argparse.Namespace) -> None:
    # Loaded only here: the MCP SDK is an extra, and every other command starts without it.
    from countersign.mcp_gate import run

    run(args)


def _bot(args: argparse.Namespace) -> None:
    settings = load_settings()
    # Before anything imports a metric: gunicorn's processes count in files a scrape adds up.
    use_multiprocess_directory("bot", settings.prometheus_multiproc_dir)
    from bot.server import run_bot
    from countersign.web import with_api

    run_bot(settings, with_api)


def _dev(args: argparse.Namespace) -> None:
    from countersign.dev import run_dev

    sys.exit(run_dev(socket_mode=args.socket_mode))


def _migrate(args: argparse.Namespace) -> None:
    from countersign.migrate import migrate

    print(migrate(load_settings()))


def _run(args: argparse.Namespace) -> None:
    from redis.exceptions import RedisError

    from approvals.runs import RunRequest, start_run
    from approvals.wiring import open_queue, open_store

    settings = load_settings()
    queue = open_queue(settings, "use the one `countersign dev` printed, or your Redis")
    request = RunRequest(agent=args.agent, input_text=args.request, requested_by=args.user, reply_channel=args.channel)
    try:
        known = queue.known_agents()
    except RedisError:
        known = set()  # a worker checks the name when it takes the run
    if known and request.agent not in known:
        sys.exit(f"countersign: no agent {request.agent!r}; agents: {', '.join(sorted(known))}")
    started = start_run(request, open_store(settings), queue)
    later = "" if started.handed_over else " (the job queue is unreachable; it starts as soon as it is back)"
    print(f"queued run {request.thread_id} of {request.agent}{later}")


def _at_least_one(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of processes (1 or more)")
    return number


def parser() -> argparse.ArgumentParser:
    """The command line: one subcommand per process or action."""
    root = argparse.ArgumentParser(prog="countersign", description="Human approval for AI agents' risky tool calls, in Slack.")
    commands = root.add_subparsers(dest="command", required=True)
    worker = commands.add_parser(
        "worker",
        help="run the agents: a pool of RQ job processes, and the dispatcher",
        description="Run the agents: a pool of RQ job processes forked from one preloaded process (no RQ "
        "scheduler: what is due is in SQL), and the dispatcher, which enqueues the work SQL says is owed.",
    )
    worker.add_argument("--burst", action="store_true", help="quit when the queue is empty")
    worker.add_argument(
        "--processes",
        type=_at_least_one,
        metavar="N",
        help="job processes to keep (default: COUNTERSIGN_WORKER_PROCESSES, else the number of cores)",
    )
    worker.set_defaults(func=_worker)
    commands.add_parser("bot", help="serve Slack (HTTP on PORT, or Socket Mode with SLACK_APP_TOKEN)").set_defaults(func=_bot)
    dev = commands.add_parser("dev", help="run Valkey (if REDIS_URL is unset), the worker and the bot together")
    dev.add_argument(
        "--socket-mode", action="store_true", help="in the sandbox, the bot connects over Socket Mode instead of HTTP"
    )
    dev.set_defaults(func=_dev)
    commands.add_parser(
        "migrate", help="bring the database to this release's schema (idempotent; safe from several processes)"
    ).set_defaults(func=_migrate)
    run = commands.add_parser("run", help="start an agent run")
    run.add_argument("agent", help="agent name from the registry, e.g. payments")
    run.add_argument("request", help='what to ask, e.g. "Refund order #42 for $250"')
    run.add_argument("--user", help="Slack user id of whoever asked (shown to approvers)")
    run.add_argument("--channel", help="Slack channel id to answer in when no approval was needed")
    run.set_defaults(func=_run)
    stats.add_command(commands)
    audit.add_commands(commands)
    api_keys.add_commands(commands)
    gate = commands.add_parser(
        "mcp-gate",
        help="serve an MCP server's tools with each call approved in Slack first",
        description="Serve an MCP server's tools (started by the command after --) with each call approved in Slack "
        "first, through the approval API. Needs the mcp extra (pip install -e '.[mcp]').",
    )
    gate.add_argument("--agent", required=True, help="the agent the calls are asked for (its API key's agent)")
    gate.add_argument("--url", help="Countersign's URL (default: COUNTERSIGN_URL)")
    gate.add_argument("--key", help="the agent's API key (default: COUNTERSIGN_KEY)")
    gate.add_argument("--upstream", help="the URL of an MCP server over streamable HTTP (instead of a command)")
    gate.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command that starts the MCP server (stdio)")
    gate.set_defaults(func=_mcp_gate)
    return root


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `countersign` console script."""
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Alembic announces its plugins at INFO whenever it is imported; only its upgrade steps are news.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    try:
        args.func(args)
    except ConfigurationError as error:
        sys.exit(stop_line(error))


def stop_line(error: ConfigurationError) -> str:
    """The one line a process that cannot start with its settings stops with (exit code 1)."""
    return f"countersign: {error}"


if __name__ == "__main__":
    main()
