"""The deterministic discrete-event simulator that runs a premises in virtual time.

One virtual clock, one event queue and one seeded random generator: given the same seed
and the same schedule the machine runs the same events in the same order, byte for byte,
whatever the host. The queue is a heap ordered by (time, sequence number), so events due
at the same instant run in the order they were scheduled. Time jumps from event to event
with no sleeping, so a year of half-hourly reads takes well under a second; the
`WallClockRunner` runs the same machine against the wall clock (1x or faster) when real
hardware (a CAD, a dongle) shares the premises.

Breakpoints are predicates called after each event; one returning True stops `run_*`.
`snapshot()` captures the clock, the queue, the RNG and every registered `Snapshotable`
component (e.g. each device's SQLite store); `restore()` puts them all back, so the
future from a snapshot replays identically.
"""

from __future__ import annotations

import heapq
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from firmware.core.hal import Timer

Callback = Callable[[], None]


class SimulatorError(Exception):
    """A misuse of the simulator: a time in the past, a naive datetime, an unknown name."""


@runtime_checkable
class Snapshotable(Protocol):
    """A component whose state the simulator saves and restores with the machine."""

    def snapshot(self) -> Any:
        """A value that `restore` accepts; must not share mutable state with the component."""

    def restore(self, state: Any) -> None:
        """Return to the state `snapshot` captured."""


@dataclass(frozen=True)
class TraceEntry:
    """One event that ran: when, its sequence number and its name."""

    at: datetime
    seq: int
    name: str

    def __str__(self) -> str:
        return f"{self.at.isoformat()} #{self.seq} {self.name}"


@dataclass(frozen=True)
class RunResult:
    """What a run did: the events it ran, and the breakpoint that stopped it (if any)."""

    events: int
    stopped_at: TraceEntry | None = None


@dataclass(frozen=True)
class Snapshot:
    """The whole machine at one instant (opaque: pass it back to `restore`)."""

    now: datetime
    next_seq: int
    heap: tuple[tuple[datetime, int], ...]
    pending: tuple[tuple[int, Timer, Callback], ...]
    rng: tuple
    trace: tuple[TraceEntry, ...]
    events_run: int
    components: tuple[tuple[str, Any], ...]


def utc(at: datetime, what: str = "time") -> datetime:
    """`at` in UTC; a naive datetime is an error, since its zone would be a guess."""
    if not isinstance(at, datetime):
        raise SimulatorError(f"{what} {at!r} is not a datetime")
    if at.tzinfo is None or at.utcoffset() is None:
        raise SimulatorError(f"{what} {at.isoformat()} has no time zone (use UTC)")
    return at.astimezone(UTC)


class Simulator:
    """Virtual clock, event queue and RNG (implements `firmware.core.hal.Clock`)."""

    def __init__(self, start: datetime, seed: int = 0, *, keep_trace: bool = True) -> None:
        self._now = utc(start, "start")
        self.random = random.Random(seed)
        self._heap: list[tuple[datetime, int]] = []
        self._pending: dict[int, tuple[Timer, Callback]] = {}
        self._next_seq = 0
        self._breakpoints: dict[str, Callable[[TraceEntry], bool]] = {}
        self._components: dict[str, Snapshotable] = {}
        self.keep_trace = keep_trace
        self.trace: list[TraceEntry] = []
        self.events_run = 0

    # the Clock interface

    def now(self) -> datetime:
        return self._now

    def schedule(self, callback: Callback, name: str = "", *,
                 at: datetime | None = None, after: timedelta | None = None) -> Timer:
        if (at is None) == (after is None):
            raise SimulatorError(f"schedule {name!r}: give exactly one of at= or after=")
        if after is not None:
            if not isinstance(after, timedelta) or after < timedelta(0):
                raise SimulatorError(f"schedule {name!r}: after={after!r} is not a "
                                     "non-negative timedelta")
            when = self._now + after
        else:
            when = utc(at, f"schedule {name!r}: at")
            if when < self._now:
                raise SimulatorError(f"schedule {name!r}: {when.isoformat()} is before "
                                     f"now ({self._now.isoformat()})")
        if not callable(callback):
            raise SimulatorError(f"schedule {name!r}: callback {callback!r} is not callable")
        timer = Timer(self._next_seq, when, name or getattr(callback, "__name__", "event"))
        self._next_seq += 1
        self._pending[timer.seq] = (timer, callback)
        heapq.heappush(self._heap, (when, timer.seq))
        return timer

    def cancel(self, timer: Timer) -> bool:
        return self._pending.pop(timer.seq, None) is not None

    # inspection

    def pending(self) -> list[Timer]:
        """The scheduled events, in the order they will run."""
        return [self._pending[seq][0] for _, seq in sorted(self._heap) if seq in self._pending]

    def next_time(self) -> datetime | None:
        """When the next event is due, or None when the queue is empty."""
        self._drop_cancelled()
        return self._heap[0][0] if self._heap else None

    def trace_text(self) -> str:
        """The trace, one event a line: the form determinism is checked on."""
        return "".join(f"{entry}\n" for entry in self.trace)

    # breakpoints

    def add_breakpoint(self, name: str, predicate: Callable[[TraceEntry], bool]) -> None:
        """Stop `run_*` after any event for which `predicate(entry)` is true."""
        self._breakpoints[name] = predicate

    def remove_breakpoint(self, name: str) -> None:
        if self._breakpoints.pop(name, None) is None:
            raise SimulatorError(f"no breakpoint named {name!r}")

    # running

    def step(self, n: int = 1) -> list[TraceEntry]:
        """Run the next `n` events (fewer if the queue empties), ignoring breakpoints."""
        if n < 0:
            raise SimulatorError(f"step: n={n} is negative")
        ran = []
        for _ in range(n):
            entry = self._run_next(None)
            if entry is None:
                break
            ran.append(entry)
        return ran

    def run_until(self, until: datetime) -> RunResult:
        """Run every event due at or before `until`, then move the clock to `until`;
        a breakpoint stops early, leaving the clock at the event that hit it."""
        until = utc(until, "run_until")
        if until < self._now:
            raise SimulatorError(f"run_until {until.isoformat()} is before now "
                                 f"({self._now.isoformat()})")
        count = 0
        while True:
            entry = self._run_next(until)
            if entry is None:
                break
            count += 1
            if self._hits_breakpoint(entry):
                return RunResult(count, entry)
        self._now = until
        return RunResult(count)

    def run_for(self, duration: timedelta) -> RunResult:
        if not isinstance(duration, timedelta) or duration < timedelta(0):
            raise SimulatorError(f"run_for {duration!r} is not a non-negative timedelta")
        return self.run_until(self._now + duration)

    def _run_next(self, until: datetime | None) -> TraceEntry | None:
        self._drop_cancelled()
        if not self._heap or (until is not None and self._heap[0][0] > until):
            return None
        when, seq = heapq.heappop(self._heap)
        timer, callback = self._pending.pop(seq)
        self._now = when
        entry = TraceEntry(when, seq, timer.name)
        if self.keep_trace:
            self.trace.append(entry)
        self.events_run += 1
        callback()
        return entry

    def _drop_cancelled(self) -> None:
        while self._heap and self._heap[0][1] not in self._pending:
            heapq.heappop(self._heap)

    def _hits_breakpoint(self, entry: TraceEntry) -> bool:
        return any(predicate(entry) for predicate in self._breakpoints.values())

    # snapshots

    def register(self, name: str, component: Snapshotable) -> None:
        """Save and restore `component` with the machine."""
        if not isinstance(component, Snapshotable):
            raise SimulatorError(f"component {name!r} has no snapshot()/restore()")
        if name in self._components:
            raise SimulatorError(f"a component named {name!r} is already registered")
        self._components[name] = component

    def snapshot(self) -> Snapshot:
        self._drop_cancelled()
        return Snapshot(
            now=self._now, next_seq=self._next_seq, heap=tuple(self._heap),
            pending=tuple((seq, timer, cb) for seq, (timer, cb) in self._pending.items()),
            rng=self.random.getstate(), trace=tuple(self.trace), events_run=self.events_run,
            components=tuple((name, c.snapshot()) for name, c in self._components.items()))

    def restore(self, snap: Snapshot) -> None:
        """Return the clock, queue, RNG, trace and components to `snap`. Timers handed out
        before the snapshot stay valid, as they are named by sequence number."""
        names = {name for name, _ in snap.components}
        if names != set(self._components):
            raise SimulatorError(f"snapshot components {sorted(names)} differ from the "
                                 f"registered {sorted(self._components)}")
        self._now = snap.now
        self._next_seq = snap.next_seq
        self._heap = list(snap.heap)
        self._pending = {seq: (timer, cb) for seq, timer, cb in snap.pending}
        self.random.setstate(snap.rng)
        self.trace = list(snap.trace)
        self.events_run = snap.events_run
        for name, state in snap.components:
            self._components[name].restore(state)


class WallClockRunner:
    """Runs a `Simulator` against the wall clock, `speed` times faster than real time:
    each event waits until its virtual time, scaled, has passed on `time.monotonic`."""

    def __init__(self, sim: Simulator, speed: float = 1.0, *,
                 monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if isinstance(speed, bool) or not isinstance(speed, (int, float)) or not speed >= 1:
            raise SimulatorError(f"speed {speed!r} is not a number of at least 1 (real time)")
        self.sim = sim
        self.speed = float(speed)
        self._monotonic = monotonic
        self._sleep = sleep

    def run_for(self, duration: timedelta) -> RunResult:
        """Run `duration` of virtual time, taking `duration / speed` of wall time."""
        if not isinstance(duration, timedelta) or duration < timedelta(0):
            raise SimulatorError(f"run_for {duration!r} is not a non-negative timedelta")
        start_virtual = self.sim.now()
        end_virtual = start_virtual + duration
        start_wall = self._monotonic()

        def wait_for(virtual: datetime) -> None:
            due = start_wall + (virtual - start_virtual).total_seconds() / self.speed
            delay = due - self._monotonic()
            if delay > 0:
                self._sleep(delay)

        count = 0
        while (due := self.sim.next_time()) is not None and due <= end_virtual:
            wait_for(due)
            result = self.sim.run_until(due)
            count += result.events
            if result.stopped_at is not None:
                return RunResult(count, result.stopped_at)
        wait_for(end_virtual)
        self.sim.run_until(end_virtual)
        return RunResult(count)
