"""`countersign dev`: an embedded Valkey (when REDIS_URL is unset), the worker and the bot, in one command.

With Slack settings it serves that Slack. With none at all it opens the local sandbox instead: a
page on 127.0.0.1 that plays Slack for the bot, both ways (`sandbox.page`), so Countersign can be
tried before any Slack app exists.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from approvals.models import format_duration
from approvals.settings import Settings, load_settings, masked_url
from countersign.ports import free_port

if TYPE_CHECKING:
    from sandbox.page import Sandbox

# Any of these set means "use my Slack": the sandbox never starts then.
SLACK_SETTINGS = ("slack_bot_token", "slack_signing_secret", "slack_app_token", "slack_api_url", "approvals_channel")

# The demo policy's soft rule takes the default timeout; in the sandbox that is short enough to watch.
SANDBOX_SOFT_TIMEOUT = "30s"


def sandbox_examples(soft_timeout: str | None) -> list[tuple[str, str]]:
    """(label, command) pairs the page offers; with the demo policy (`soft_timeout`), one for each of its rules."""
    refunds = [
        ("$250", "42", "one approver, not the asker"),
        ("$15", "7", f"soft, goes ahead in {soft_timeout}"),
        ("$2500", "9", "two approvers type CONFIRM"),
    ]
    examples = [
        (
            f"Refund {amount}: {rule}" if soft_timeout else f"Refund {amount}",
            f"/countersign run payments Refund order #{order} for {amount}",
        )
        for amount, order, rule in refunds
    ]
    admin = ("Admin: set a timeout", "/countersign timeout payments.refund 15m")
    return [*examples, admin, ("Help", "/countersign help")]


def _demo_policy_note(soft_timeout: str) -> str:
    return (
        f"Policy: the bundled demo (`sandbox/demo_policies.yml`): refunds under $20 are *soft* (they go ahead after "
        f"{soft_timeout} unless someone rejects them); from $1000, two approvers each type CONFIRM; any other refund "
        "needs one approver who is not the person who asked."
    )


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@dataclass
class _Plan:
    """The processes to start, their environment, and where their output goes (None: this terminal)."""

    commands: list[list[str]]
    env: dict[str, str]
    output: IO[bytes] | None = None


def _command(name: str) -> list[str]:
    return [sys.executable, "-m", "countersign.cli", name]


def slack_configured(settings: Settings) -> bool:
    """True when any Slack setting is given: `countersign dev` then talks to that Slack, never the sandbox."""
    return any(getattr(settings, name) for name in SLACK_SETTINGS if name in settings.model_fields_set)


def run_dev(*, socket_mode: bool = False) -> int:
    """Start everything on local defaults; stop it all on Ctrl-C. Returns the exit status. With ``socket_mode``,
    the sandbox's bot connects over Socket Mode (with your own Slack, SLACK_APP_TOKEN says so)."""
    settings = load_settings()
    sandboxed = not slack_configured(settings)
    env = dict(os.environ)
    # SIGTERM (e.g. from a process manager) stops everything as Ctrl-C does, leaving no orphans.
    signal.signal(signal.SIGTERM, _interrupt)
    with ExitStack() as cleanup:
        if settings.redis_url is None:
            from countersign.embedded_valkey import start_valkey

            valkey = start_valkey()
            cleanup.callback(valkey.stop)
            env["REDIS_URL"] = valkey.connection_url
            if not sandboxed:
                # The URL carries the Valkey's password: the terminal shows it masked, and another shell of
                # this user reads it from a file only they can read, removed when this stops.
                private = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="countersign-dev-")))
                url_file = private / "redis-url"
                url_file.write_text(valkey.connection_url)
                print(f"countersign dev: embedded Valkey at {masked_url(valkey.connection_url)}")
                print(f'  to start runs from another shell: export REDIS_URL="$(cat {url_file})"')
        plan = _sandbox_plan(settings, env, cleanup, socket_mode) if sandboxed else _slack_plan(settings, env)
        return _run(plan)


def _slack_plan(settings: Settings, env: dict[str, str]) -> _Plan:
    """Serve the Slack workspace the settings name (or run the worker alone, saying what is missing)."""
    print(f"countersign dev: database {masked_url(settings.database_url)}")
    socket_mode = settings.slack_app_token is not None
    missing = settings.missing_slack_settings(socket_mode=socket_mode)
    commands = [_command("worker")]
    if "host" not in settings.model_fields_set:
        # A development machine's bot and metrics stay on it; Slack reaches them through a tunnel or Socket Mode.
        env["COUNTERSIGN_HOST"] = "127.0.0.1"
    if missing:
        print(f"countersign dev: Slack is not configured; missing {', '.join(missing)}.")
        print("  See README, 'Create the Slack app'. Starting the worker only.")
    else:
        commands.append(_command("bot"))
        print("countersign dev: bot on " + ("Socket Mode" if socket_mode else f"http://localhost:{settings.port}/slack/events"))
    return _Plan(commands, env)


def _sandbox_plan(settings: Settings, env: dict[str, str], cleanup: ExitStack, socket_mode: bool = False) -> _Plan:
    """Serve the sandbox page on 127.0.0.1:PORT, point a bot and a worker at it, and print its URL."""
    from sandbox import workspace
    from sandbox.page import Sandbox, SandboxInfo

    # The sandbox's Slack lives in memory, so its database is fresh too: each session starts clean.
    given = settings.model_fields_set
    scratch = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="countersign-sandbox-")))
    if "database_url" not in given:
        env["DATABASE_URL"] = f"sqlite:///{scratch / 'countersign.db'}"
    policies = settings.countersign_policies
    soft_timeout = None
    if policies is None:
        given_timeout = "countersign_default_timeout" in given
        soft_timeout = format_duration(settings.countersign_default_timeout) if given_timeout else SANDBOX_SOFT_TIMEOUT
    log = scratch / "processes.log"
    notes = [
        "The bot and the worker are the real ones; this page plays Slack for them, "
        + ("over Socket Mode (the bot's websocket)." if socket_mode else "with signed requests."),
        _demo_policy_note(soft_timeout) if soft_timeout else f"Policy: `{policies}`.",
        f"Database: `{masked_url(env['DATABASE_URL'])}`" + ("." if "database_url" in given else " (fresh each session)."),
        f"Redis: `{masked_url(env['REDIS_URL'])}`.",
        f"What the bot and the worker print: `{log}`.",
    ]
    bot_port = free_port()
    secret = secrets.token_hex(16)
    status = {"bot": "starting", "worker": "starting"}
    info = SandboxInfo(examples=sandbox_examples(soft_timeout), notes=notes, status=status)
    sandbox = Sandbox(f"http://127.0.0.1:{bot_port}/slack/events", secret, port=settings.port, info=info, socket_mode=socket_mode)
    try:
        sandbox.start()
    except OSError as error:
        raise SystemExit(
            f"countersign dev: PORT: cannot serve the sandbox on 127.0.0.1:{settings.port} ({error.strerror}); "
            "set PORT to a free port"
        ) from None
    cleanup.callback(sandbox.stop)
    env.update(
        SLACK_BOT_TOKEN=f"xoxb-sandbox-{secrets.token_hex(8)}",
        SLACK_SIGNING_SECRET=secret,
        SLACK_API_URL=sandbox.api_url,
        APPROVALS_CHANNEL=workspace.APPROVALS_CHANNEL.id,
        PORT=str(bot_port),
        # The page is the sandbox's only door: its bot (and its /metrics) is not on the network.
        COUNTERSIGN_HOST="127.0.0.1",
        # One web process starts fastest, and one person's clicks need no more.
        WEB_CONCURRENCY=str(settings.web_concurrency if "web_concurrency" in given else 1),
        COUNTERSIGN_ADMINS=settings.countersign_admins or workspace.admin().id,
        COUNTERSIGN_POLICIES=policies or str(workspace.DEMO_POLICY),
        # The sandbox listens on 127.0.0.1 only: no worker metrics port unless one is asked for.
        COUNTERSIGN_METRICS_PORT=str(settings.metrics_port) if "metrics_port" in given else "0",
    )
    if soft_timeout:
        env["COUNTERSIGN_DEFAULT_TIMEOUT"] = soft_timeout
    if socket_mode:
        env["SLACK_APP_TOKEN"] = f"xapp-sandbox-{secrets.token_hex(8)}"
    print(f"countersign dev: sandbox at {sandbox.url} (a local stand-in for Slack; Ctrl-C stops it)", flush=True)
    output = cleanup.enter_context(log.open("ab"))
    threading.Thread(
        target=_watch_readiness,
        args=(sandbox, settings, env["REDIS_URL"], bot_port),
        name="sandbox-readiness",
        daemon=True,
    ).start()
    return _Plan([_command("worker"), _command("bot")], env, output)


def _bot_serves(sandbox: Sandbox, bot_port: int) -> bool:
    """Whether the bot answers: over Socket Mode, once it has connected; over HTTP, once /healthz answers."""
    if sandbox.socket_mode:
        return sandbox.emulator.socket_mode.connections_opened > 0
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{bot_port}/healthz", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def _watch_readiness(sandbox: Sandbox, settings: Settings, redis_url: str, bot_port: int) -> None:
    """Tell the page when the bot serves and when the worker has published its agents."""
    from redis.exceptions import RedisError

    from approvals.job_queue import JobQueue, connect

    queue = JobQueue(connect(redis_url), settings.countersign_queue)
    bot = worker = False
    while not (bot and worker):
        if not bot:
            bot = _bot_serves(sandbox, bot_port)
            if bot:
                sandbox.set_status("bot", "ready")
        if not worker:
            with contextlib.suppress(RedisError):
                worker = bool(queue.known_agents())
            if worker:
                sandbox.set_status("worker", "ready")
        time.sleep(0.1)


def _run(plan: _Plan) -> int:
    """Start the plan's processes and wait until one exits or we are stopped.

    This is the one place `countersign dev` starts processes: whatever must run before them
    goes right before the `Popen`s.
    """
    output = plan.output
    children: list[subprocess.Popen[bytes]] = []
    status = 0
    try:
        # Inside the `try`: a stop during the migration ends quietly, and one between two starts still stops the
        # processes already started (an orphaned worker would keep running, and keep this command's output open).
        _migrate(plan)
        for command in plan.commands:
            children.append(subprocess.Popen(command, env=plan.env, stdout=output, stderr=subprocess.STDOUT if output else None))
        while all(child.poll() is None for child in children):
            time.sleep(0.2)
        status = next(child.returncode for child in children if child.returncode is not None)
        if output is not None:
            # Its words went to the log file; show the end of it where the person is looking.
            print(f"countersign dev: a process stopped (exit {status}); it said:\n{_tail(output)}", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
    return status


def _migrate(plan: _Plan) -> None:
    """`countersign migrate` on the database the processes will use, before any of them starts."""
    from countersign.migrate import migrate

    settings = Settings(database_url=plan.env["DATABASE_URL"]) if "DATABASE_URL" in plan.env else Settings()
    if plan.output is None:
        print(migrate(settings))
        return
    # The sandbox promises one line on the terminal: the migration's words go to the processes' log.
    alembic = logging.getLogger("alembic")
    level = alembic.level
    alembic.setLevel(logging.WARNING)
    try:
        plan.output.write((migrate(settings) + "\n").encode())
        plan.output.flush()
    finally:
        alembic.setLevel(level)


def _tail(output: IO[bytes] | None, lines: int = 20) -> str:
    """The last lines the processes wrote to ``output``."""
    if output is None:
        return ""
    output.flush()
    return "\n".join(Path(output.name).read_text(errors="replace").splitlines()[-lines:])
