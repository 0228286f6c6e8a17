"""A fixed set of daemon worker threads that run submitted calls in order.

Unlike ``concurrent.futures.ThreadPoolExecutor``, whose threads the interpreter joins at
exit, these are daemon threads: Ctrl+C stops ``faithcam serve`` at once even while a method
such as Score-CAM is in the middle of a minutes-long call.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any


class Workers:
    """``count`` daemon threads named ``name-N`` taking calls from one queue."""

    def __init__(self, count: int, name: str) -> None:
        if count < 1:
            raise ValueError(f"count: expected at least 1 worker, got {count}")
        self._calls: queue.SimpleQueue = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True)
            for i in range(count)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, function: Callable[..., Any], *args: Any) -> Future:
        """Queue ``function(*args)``; its result or exception arrives in the Future."""
        future: Future = Future()
        self._calls.put((future, function, args))
        return future

    def _work(self) -> None:
        while True:
            call = self._calls.get()
            if call is None:
                return
            future, function, args = call
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(function(*args))
            except BaseException as error:  # handed to whoever waits on the Future
                future.set_exception(error)

    def shutdown(self) -> None:
        """Let every thread end after its current call (queued calls behind them still run
        first: cancel them through their Futures if they must not)."""
        for _ in self._threads:
            self._calls.put(None)
