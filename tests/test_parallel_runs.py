"""How the suite runs in parallel: the tests of one set of real processes share a test process.

Under pytest-xdist's `loadgroup`, conftest.py puts every test of the `stack` in one group; xdist marks
a grouped test's id with its group. When that stops working (pytest 9.2 with pytest-xdist 3.8,
pytest-dev/pytest-xdist#1386), nothing else fails: every test process starts a stack of its own.
"""

from __future__ import annotations

import os

import pytest

from tests.stack import Stack


def test_the_stacks_tests_run_in_one_test_process(stack: Stack, request: pytest.FixtureRequest) -> None:
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        pytest.skip("the suite runs in one process (-n 0)")

    assert request.node.nodeid.endswith("@stack"), request.node.nodeid
