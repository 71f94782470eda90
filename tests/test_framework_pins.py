"""Where Countersign replaces part of a framework instead of extending it, the replacement names the
framework version it follows; these fail when another version is installed, so it is read again first."""

from __future__ import annotations

import rq

from tests.stack import REPO_ROOT
from worker import rq_pool_loop


def test_rq_pool_loop_follows_the_pinned_rq() -> None:
    assert rq.__version__ == rq_pool_loop.RQ_VERSION, (
        f"worker/rq_pool_loop.py follows RQ {rq_pool_loop.RQ_VERSION}, but RQ {rq.__version__} is installed: "
        "compare its copies with this RQ's, then change RQ_VERSION"
    )
    pinned = [line for line in (REPO_ROOT / "constraints.txt").read_text().splitlines() if line.startswith("rq==")]
    assert pinned == [f"rq=={rq_pool_loop.RQ_VERSION}"]
