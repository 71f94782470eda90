"""Start `countersign` processes without paying for their imports each time.

The end-to-end tier kills and restarts the worker and the bot again and again (a crash, a warm
shutdown, Redis losing its data), and each `python -m countersign.cli worker` spends two seconds of
CPU importing LangGraph, LangChain, SQLAlchemy and the rest before it does anything. A fork server
(as multiprocessing's, and gunicorn's preload) imports those third-party libraries once; each
process is then a fork of it that runs `countersign.cli`'s `main` from the start, with the
environment, arguments and log file it is given: a new process, with nothing of Countersign's own
imported or set up before it starts. Nothing that counts metrics is preloaded, because a process
chooses how prometheus_client stores its values before its first metric exists.

Protocol (one JSON line each way): the client sends {"argv", "env", "cwd", "log"}; the server answers
{"pid"}, and {"exited", "code"} when a child exits (a negative code for a signal, as Popen says).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import io
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any

# What `countersign worker` and `countersign bot` import, minus Countersign's own modules.
PRELOAD = [
    "alembic.command",
    "gunicorn.app.base",
    "httpx",
    "jsonschema",
    "langchain.agents",
    "langchain.agents.middleware",
    "langgraph.checkpoint.postgres",
    "langgraph.checkpoint.sqlite",
    "langgraph.graph",
    "langgraph.types",
    "psycopg",
    "pydantic_settings",
    "redis",
    "rq",
    "slack_bolt",
    "slack_sdk",
    "sqlalchemy",
]


def _exit_code(status: BaseException | None) -> int:
    """The status a plain `python -m` would exit with after `status` ended its main."""
    if status is None:
        return 0
    if isinstance(status, SystemExit):
        if status.code is None:
            return 0
        if isinstance(status.code, int):
            return status.code
        print(status.code, file=sys.stderr)
        return 1
    traceback.print_exception(status)
    return 1


def _standard_streams(unbuffered: bool) -> None:
    """sys.stdin, stdout and stderr as an interpreter starting now would make them. Unbuffered (as
    PYTHONUNBUFFERED asks) means no buffer and so no buffer lock: a buffered stream's lock, held by one
    thread as another forks, would hang the child's first write (as RQ's pool forks its job processes)."""

    def writer(fd: int, errors: str) -> io.TextIOWrapper:
        raw = io.FileIO(fd, "w", closefd=False)
        binary: io.RawIOBase | io.BufferedWriter = raw if unbuffered else io.BufferedWriter(raw)
        return io.TextIOWrapper(binary, encoding="utf-8", errors=errors, write_through=unbuffered)  # type: ignore[arg-type]

    sys.stdin = sys.__stdin__ = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)), encoding="utf-8")
    sys.stdout = sys.__stdout__ = writer(1, "surrogateescape")
    sys.stderr = sys.__stderr__ = writer(2, "backslashreplace")


def _child(request: dict[str, Any]) -> None:
    """Become the requested `countersign` process; never returns."""
    os.setsid()  # a process group of its own, as Popen(start_new_session=True) gives
    for fd, path in ((1, request["log"]), (2, request.get("errors", request["log"]))):
        log = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        os.dup2(log, fd)
        os.close(log)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    time.tzset()  # an interpreter reads TZ as it starts; this one started with the server's
    _standard_streams(unbuffered=bool(os.environ.get("PYTHONUNBUFFERED")))
    sys.argv = request["argv"]
    status: BaseException | None = None
    try:
        from countersign.cli import main

        main(request["argv"][1:])
    except BaseException as error:  # noqa: BLE001 - the interpreter's own last resort, as at exit
        status = error
    code = _exit_code(status)
    # What the interpreter does at exit: wait for non-daemon threads, run atexit hooks, flush.
    with contextlib.suppress(BaseException):
        threading._shutdown()  # type: ignore[attr-defined]
    with contextlib.suppress(BaseException):
        atexit._run_exitfuncs()
    with contextlib.suppress(BaseException):
        sys.stdout.flush()
        sys.stderr.flush()
    if isinstance(status, KeyboardInterrupt):
        # As CPython does: a process an unhandled Ctrl-C ended says so in its exit status.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    os._exit(code)


def serve() -> None:
    """The server's loop: fork on each request, report each child's exit."""
    for module in PRELOAD:
        importlib.import_module(module)
    assert "prometheus_client" not in sys.modules, "a preloaded library imported prometheus_client"
    requests = sys.stdin.buffer
    answers = sys.stdout

    def answer(message: dict[str, Any]) -> None:
        answers.write(json.dumps(message) + "\n")
        answers.flush()

    answer({"ready": True})
    children: set[int] = set()
    pending = b""
    while True:
        readable, _, _ = select.select([requests], [], [], 0.05)
        if readable:
            chunk = os.read(requests.fileno(), 65536)
            if not chunk:  # the test process went away: so do we (stopping the children is the tests' job)
                return
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                pid = os.fork()
                if pid == 0:
                    _child(json.loads(line))
                children.add(pid)
                answer({"pid": pid})
        for pid in list(children):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                children.discard(pid)
                answer({"exited": pid, "code": os.waitstatus_to_exitcode(status)})


class ForkedProcess:
    """A process the fork server started: the part of Popen's interface the tests use."""

    def __init__(self, server: ForkServer, pid: int, args: list[str]) -> None:
        self.server = server
        self.pid = pid
        self.args = args
        self.returncode: int | None = None

    def poll(self) -> int | None:
        self.returncode = self.server.exit_code(self.pid)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        code = self.server.wait_for_exit(self.pid, timeout)
        if code is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        self.returncode = code
        return code

    def send_signal(self, number: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, number)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class ForkServer:
    """The client: starts the server and asks it for processes."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.server = subprocess.Popen(
            [sys.executable, "-m", "tests.forkserver"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=cwd,
            start_new_session=True,
        )
        assert self.server.stdin is not None and self.server.stdout is not None
        self._requests = self.server.stdin
        self._answers = self.server.stdout
        self._exits: dict[int, int] = {}
        self._pids: list[int] = []
        self._changed = threading.Condition()
        self._spawning = threading.Lock()
        if json.loads(self._answers.readline() or b"{}") != {"ready": True}:
            raise RuntimeError(f"the fork server did not start (exit {self.server.wait()})")
        threading.Thread(target=self._read_answers, name="forkserver-answers", daemon=True).start()

    def _read_answers(self) -> None:
        for line in self._answers:
            message = json.loads(line)
            with self._changed:
                if "pid" in message:
                    self._pids.append(message["pid"])
                else:
                    self._exits[message["exited"]] = message["code"]
                self._changed.notify_all()

    def start(
        self, args: list[str], env: dict[str, str], log: Path, errors: Path | None = None, cwd: Path | None = None
    ) -> ForkedProcess:
        """Start `countersign <args>` with exactly this environment, its output appended to `log` (its
        stderr to `errors`, if given)."""
        argv = ["countersign", *args]
        request = {"argv": argv, "env": env, "cwd": str(cwd or self.cwd), "log": str(log), "errors": str(errors or log)}
        with self._spawning:
            with self._changed:
                self._pids.clear()
            self._requests.write(json.dumps(request).encode() + b"\n")
            self._requests.flush()
            with self._changed:
                if not self._changed.wait_for(lambda: self._pids, timeout=30):
                    raise RuntimeError("the fork server did not answer")
                pid = self._pids.pop()
        return ForkedProcess(self, pid, argv)

    def run(
        self, args: list[str], env: dict[str, str], cwd: Path | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run `countersign <args>` to its end, as `subprocess.run(..., capture_output=True, text=True)` would."""
        with tempfile.TemporaryDirectory(prefix="countersign-run-") as directory:
            out, err = Path(directory) / "stdout", Path(directory) / "stderr"
            process = self.start(args, env, out, err, cwd)
            try:
                code = process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                raise
            return subprocess.CompletedProcess(
                process.args, code, out.read_text(errors="replace"), err.read_text(errors="replace")
            )

    def exit_code(self, pid: int) -> int | None:
        with self._changed:
            return self._exits.get(pid)

    def wait_for_exit(self, pid: int, timeout: float | None) -> int | None:
        with self._changed:
            self._changed.wait_for(lambda: pid in self._exits, timeout=timeout)
            return self._exits.get(pid)

    def close(self) -> None:
        """Stop the server (its children are the tests' to stop)."""
        with contextlib.suppress(OSError):
            self._requests.close()
        try:
            self.server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.server.kill()
            self.server.wait()


if __name__ == "__main__":
    serve()
