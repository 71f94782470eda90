"""The parts of RQ that Countersign's job pool (`worker.pool`) replaces instead of extending: the pool's
main loop, the job process's entry point and a worker's unsubscribe. They follow RQ 3.0.0, the version
constraints.txt pins (`RQ_VERSION`; tests/test_framework_pins.py fails under any other, so a new RQ is
read against these before it is let in). What each changes from RQ's, and why:

- `PoolLoop.start` is `WorkerPool.start` of `rq/worker_pool.py`, but a stop ends its wait at once (RQ's
  sleeps out a second before it looks, and another after its processes stopped, so every stop takes up
  to 2 s longer); its stop handlers are installed before the processes are forked; and a process forked as
  the stop came (RQ's pool told only the processes it had then) is told too, once.
- `run_inside` wraps the target of the process `WorkerPool.get_worker_process` builds (RQ's own
  `run_worker`, in the private `_target` of multiprocessing's `BaseProcess`): RQ offers no hook to run
  code first in a job process.
- `unsubscribe` is `BaseWorker.unsubscribe` of `rq/worker/base.py` with its listening thread told to end
  before the unsubscribe whose reply wakes it (see there).

`worker.pool` leans on RQ 3.0.0 in two more places, without copying it: `JobProcess` takes RQ's loop to
have begun once `check_for_suspension` is called, and `JobPool._fail_current_job` does for a dead pool
process what RQ's forking worker does for a dead work horse.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import signal
import threading
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from typing import Any

from redis.client import PubSubWorkerThread
from redis.exceptions import ConnectionError as RedisConnectionError
from rq.defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT
from rq.logutils import setup_loghandlers
from rq.worker.base import BaseWorker
from rq.worker_pool import WorkerData, WorkerPool

RQ_VERSION = "3.0.0"


class PoolLoop(WorkerPool):
    """RQ's `WorkerPool` with its main loop replaced: it stops as soon as its processes have stopped."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stopping = threading.Event()
        self._told: set[str] = set()  # the processes sent the stop

    def stop_worker(self, worker_data: WorkerData, sig: int = signal.SIGINT) -> None:
        """RQ's, noting that this process was told."""
        self._told.add(worker_data.name)
        super().stop_worker(worker_data, sig)

    def request_stop(self, signum: int | None = None, frame: Any = None) -> None:
        """RQ's stop (the processes are told to finish their jobs), which also wakes the loop."""
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]  # RQ's method is untyped
        self._stopping.set()

    def start(self, burst: bool = False, logging_level: str = "INFO") -> None:
        """RQ 3.0.0's pool loop, ended at once by a stop (see the module docstring)."""
        self._burst = burst
        setup_loghandlers(logging_level, DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT, name="rq.worker_pool")
        self.log.info("Starting worker pool %s with pid %d...", self.name, os.getpid())
        self.status = self.Status.STARTED
        self._install_signal_handlers()  # type: ignore[no-untyped-call]
        self.start_workers(burst=burst, logging_level=logging_level)
        while self.status != self.Status.STOPPED:
            self.check_workers(respawn=not burst)
            if burst and self.number_of_active_workers == 0:
                self.log.info("All workers stopped, exiting...")
                return
            self._stopping.wait(1)
        deadline = time.monotonic() + 1
        while True:
            for data in list(self.worker_dict.values()):
                if data.name not in self._told:
                    # Forked as the stop came; told once only, as a second stop is RQ's cold shutdown,
                    # which abandons the job.
                    self.stop_worker(data)
                data.process.join(max(0.0, deadline - time.monotonic()))
            if self.all_workers_have_stopped():
                break
            self.log.info("Waiting for workers to shutdown...")
            deadline = time.monotonic() + 1
        self.log.info("All workers stopped, exiting...")


def run_inside(process: BaseProcess, wrapper: Callable[..., None]) -> BaseProcess:
    """`process`, built by RQ's `get_worker_process`, now calling `wrapper(rq_target, *args, **kwargs)`."""
    process._target = functools.partial(wrapper, process._target)  # type: ignore[attr-defined]
    return process


def unsubscribe(worker: BaseWorker) -> None:
    """RQ's `unsubscribe`, with the worker's listening thread told to end before the unsubscribe whose
    reply wakes it."""
    # In RQ's order the reply can wake the thread before it is told, and it goes back to a 60 s read: the
    # process then waits for it on about every other stop (a second under redis-py 8.1; under 8.2, whose
    # `stop()` joins the thread with no limit, the whole read).
    thread = worker.pubsub_thread
    if thread is None:
        return
    worker.log.info("Worker %s: unsubscribing from channel %s", worker.name, worker.pubsub_channel_name)
    tell_to_stop(thread)
    # A thread that wakes on its own once told ends by closing the pub/sub connection (redis-py's
    # `PubSubWorkerThread.run`): the subscription is gone with it, and the UNSUBSCRIBE has nothing to do.
    with contextlib.suppress(RedisConnectionError, OSError):
        worker.pubsub.unsubscribe()
    thread.join(timeout=1)
    worker.pubsub.close()


def tell_to_stop(thread: PubSubWorkerThread) -> None:
    """Clear a pub/sub thread's running flag without waiting for it to end.

    redis-py 8.2's `stop()` also joins the thread, with no limit unless given a timeout; before 8.2 it
    takes no argument and only clears the flag. Joining before the unsubscribe whose reply wakes the
    thread would wait out its whole read.
    """
    if "timeout" in inspect.signature(thread.stop).parameters:
        thread.stop(timeout=0)
    else:
        thread.stop()
