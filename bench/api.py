"""The approval API through the real bot and worker: how long from `POST /v1/approvals` to the request's
Slack message, and from a person's click to a waiting `GET ?wait=` answering with the decision.

    python bench/api.py --cycles 40

Aims (issue 26): each under 50 ms p50 on the development machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.calibration import machine_line  # noqa: E402
from bench.loop import APPROVER, percentile, running_system  # noqa: E402
from bench.stopping import unwind_on_stop  # noqa: E402
from bot.ids import ActionId  # noqa: E402
from countersign.client import Approval, Countersign  # noqa: E402
from tests.databases import fresh_database  # noqa: E402
from tests.stack import Stack, wait_until  # noqa: E402

AIM_MS = 50.0
WARMUP = 3


def one_cycle(stack: Stack, client: Countersign, number: int) -> tuple[float, float]:
    """Ask, wait for the Slack post, then click Approve while a long poll waits: (create → post, click → answer)."""
    asked = time.monotonic()
    approval = client.ask("refund", {"order_id": f"api-{number}", "amount": 100 + number})
    request = wait_until(
        lambda: stack.posted(stack.store.requests.get(approval.id)) and stack.store.requests.get(approval.id), 20, "the post"
    )
    ts = stack.ts_of(request)
    post = next(c for c in stack.slack.calls_to("chat.postMessage") if c.response and c.response.get("ts") == ts)
    answered: list[tuple[float, Approval]] = []

    def long_poll() -> None:
        decided = client.get(approval.id, wait=20)
        answered.append((time.monotonic(), decided))

    waiting = threading.Thread(target=long_poll)
    waiting.start()
    time.sleep(0.05)  # the GET is held before the click
    clicked = time.monotonic()
    response = stack.click(APPROVER, ActionId.APPROVE, request)
    assert response.status == 200, response.body
    waiting.join(30)
    [(at, decided)] = answered
    assert decided.status == "approved", decided
    return post.time - asked, at - clicked


def main() -> int:
    unwind_on_stop()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--cycles", type=int, default=40, help="counted cycles (+3 warm-up)")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        fresh_database(Path(tmp), "api-bench") as url,
        running_system(Path(tmp), url, profile=False) as (stack, _redis),
    ):
        _, key = stack.store.api_keys.create("payments")
        client = Countersign(f"http://127.0.0.1:{stack.port}", key, timeout=30)
        for number in range(WARMUP):
            one_cycle(stack, client, number)
        cycles = [one_cycle(stack, client, WARMUP + number) for number in range(args.cycles)]
    create = [c[0] * 1000 for c in cycles]
    answer = [c[1] * 1000 for c in cycles]
    print(f"Countersign approval API: {len(cycles)} cycles (+{WARMUP} warm-up), real bot + worker processes")
    print(f"  ({machine_line()})")
    print(f"  {'':<34}{'p50 ms':>9}{'p99 ms':>10}{'mean ms':>10}")
    for label, values in (("POST /v1/approvals -> Slack post", create), ("click -> GET ?wait= answers", answer)):
        print(f"  {label:<34}{percentile(values, 50):>9.1f}{percentile(values, 99):>10.1f}{statistics.fmean(values):>10.1f}")
    met = all(percentile(values, 50) < AIM_MS for values in (create, answer))
    print(f'Aim "each under {AIM_MS:.0f} ms p50": {"MET" if met else "NOT MET"}')
    return 0


if __name__ == "__main__":
    sys.exit(main())
