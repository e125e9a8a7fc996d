"""Delta debugging on bytes: the smallest input that still fails the same way.

Zeller's ddmin removes ever smaller chunks while the failure persists (1-minimal when it
finishes); a last pass then lowers each remaining byte towards 00, which makes a
reproducer easier to read without changing its length.
"""

from __future__ import annotations

import time
from typing import Callable


def ddmin(data: bytes, fails: Callable[[bytes], bool], *, max_tests: int = 4000,
          seconds: float = 15.0) -> bytes:
    """A smaller `data` for which `fails` still holds (`fails(data)` is assumed).

    Stops early, with the best input so far, after `max_tests` calls or `seconds`.
    """
    deadline = time.monotonic() + seconds
    tests = 0
    seen: dict[bytes, bool] = {}

    def still_fails(candidate: bytes) -> bool:
        nonlocal tests
        if candidate not in seen:
            tests += 1
            seen[candidate] = fails(candidate)
        return seen[candidate]

    def exhausted() -> bool:
        return tests >= max_tests or time.monotonic() > deadline

    n = 2
    while len(data) >= 2 and not exhausted():
        chunk = max(1, len(data) // n)
        starts = range(0, len(data), chunk)
        reduced = False
        for start in starts:  # try each complement (remove one chunk)
            candidate = data[:start] + data[start + chunk:]
            if candidate and still_fails(candidate):
                data, n, reduced = candidate, max(n - 1, 2), True
                break
            if exhausted():
                return data
        if not reduced:
            if chunk == 1:
                break
            n = min(len(data), n * 2)
    if not exhausted():
        data = _lower_bytes(data, still_fails, exhausted)
    return data


def _lower_bytes(data: bytes, still_fails: Callable[[bytes], bool],
                 exhausted: Callable[[], bool]) -> bytes:
    out = bytearray(data)
    for i, byte in enumerate(data):
        if exhausted():
            break
        for simpler in (0x00, byte >> 1):
            if simpler >= byte:
                continue
            candidate = bytes(out[:i]) + bytes((simpler,)) + bytes(out[i + 1:])
            if still_fails(candidate):
                out[i] = simpler
                break
    return bytes(out)
