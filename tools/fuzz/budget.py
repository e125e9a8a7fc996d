"""The per-input time budget: an input that runs longer is a hang, and a hang is a crash.

On the main thread a real-time interval timer interrupts the input where it loops; off
it (or where there is no SIGALRM) the overrun is only seen when the input returns.
"""

from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager
from typing import Iterator


class Hang(BaseException):
    """Raised into an input that overran its budget (a BaseException, so that no
    `except Exception` in the code under test can swallow it)."""


class TimeBudget:
    """`with TimeBudget(s) as budget:` arms the timer; `with budget.limit():` runs one
    input under it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._armed = False
        self._previous = None

    def __enter__(self) -> TimeBudget:
        if hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGALRM, self._expired)
            self._armed = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._previous)
            self._armed = False

    @staticmethod
    def _expired(signum: int, frame: object) -> None:
        raise Hang()

    @contextmanager
    def limit(self) -> Iterator[None]:
        start = time.perf_counter()
        if self._armed:
            signal.setitimer(signal.ITIMER_REAL, self.seconds)
        try:
            yield
        finally:
            if self._armed:
                signal.setitimer(signal.ITIMER_REAL, 0)
        if time.perf_counter() - start > self.seconds:
            raise Hang()
