"""The hardware a device firmware needs, declared as small interfaces.

Firmware never reads the wall clock, sleeps, or opens files or sockets: it is handed
objects that satisfy these protocols, and `boards/` implements them (the deterministic
simulator, the SQLite store, the virtual radio, real dongles), as a board support package
does. That keeps a device steppable, fast-forwardable and snapshotable.

All times are timezone-aware UTC datetimes, as GBCS date-times are UTC.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class Timer:
    """A handle on a scheduled callback: `seq` identifies it, `at` is when it is due."""

    seq: int
    at: datetime
    name: str


@runtime_checkable
class Clock(Protocol):
    """The device's real-time clock and timer hardware."""

    def now(self) -> datetime:
        """The current UTC date-time."""

    def schedule(self, callback: Callable[[], None], name: str = "", *,
                 at: datetime | None = None, after: timedelta | None = None) -> Timer:
        """Call `callback` at `at` or `after` from now (exactly one of them)."""

    def cancel(self, timer: Timer) -> bool:
        """Stop `timer` from firing; False when it already fired or was cancelled."""


@dataclass(frozen=True)
class LogEntry:
    """One entry of an append-only log: `seq` grows by one per append and is never reused,
    so a reader can tell entries lost to the log wrapping around."""

    seq: int
    value: Any


@runtime_checkable
class NonVolatileStore(Protocol):
    """What a meter keeps across power loss: registers, credit, keys, logs, counters.

    Values are JSON-like (None, bool, int, float, str, bytes, lists, str-keyed dicts).
    Every mutation is atomic; `transaction()` groups several into one, so a command's
    effects and its anti-replay counter are committed together or not at all. It also
    satisfies `firmware.core.security.CounterStore` (`highest`, `accept`).
    """

    def transaction(self) -> AbstractContextManager[None]:
        """Group the writes inside the `with` block; an exception rolls them all back."""

    def get(self, key: str, default: Any = None) -> Any:
        """The value stored under `key`, or `default`."""

    def put(self, key: str, value: Any) -> None:
        """Store `value` under `key`."""

    def delete(self, key: str) -> bool:
        """Remove `key`; False when it was absent."""

    def keys(self, prefix: str = "") -> list[str]:
        """The stored keys starting with `prefix`, sorted."""

    def declare_log(self, log: str, capacity: int) -> None:
        """Create (or resize) a circular log holding at most `capacity` entries."""

    def append(self, log: str, value: Any) -> int:
        """Append to a declared log, dropping the oldest entry when full; the entry's seq."""

    def entries(self, log: str) -> list[LogEntry]:
        """A log's entries, oldest first."""

    def highest(self, party: bytes) -> int:
        """The highest originator counter accepted from `party` (0 if none yet)."""

    def accept(self, party: bytes, counter: int) -> None:
        """Record `counter` as the highest accepted from `party` (must be greater)."""

    def accept_counter(self, party: bytes, counter: int) -> bool:
        """Record `counter` if strictly greater than the highest from `party`; say so."""


@runtime_checkable
class SupplyContactor(Protocol):
    """An ESME's load switch (supply contactor): connects or disconnects the supply."""

    @property
    def closed(self) -> bool:
        """True while the supply is connected."""

    def set_closed(self, closed: bool) -> None:
        """Close (connect) or open (disconnect) the contactor."""


@runtime_checkable
class Valve(Protocol):
    """A GSME's gas valve."""

    @property
    def open(self) -> bool:
        """True while gas can flow."""

    def set_open(self, open_: bool) -> None:
        """Open or close the valve."""


@runtime_checkable
class Display(Protocol):
    """A meter's or IHD's display: the lines currently shown."""

    def show(self, lines: Sequence[str]) -> None:
        """Replace what is displayed."""


@runtime_checkable
class Buttons(Protocol):
    """A keypad or buttons: presses are delivered to one handler, as an interrupt would."""

    def on_press(self, handler: Callable[[str], None]) -> None:
        """Call `handler(button)` for each press (e.g. "A", "B", "0"-"9", "enter")."""


@runtime_checkable
class Metrology(Protocol):
    """The metrology front end: the load the meter measures."""

    def active_power_kw(self, at: datetime) -> float:
        """Instantaneous active import power at `at`."""

    def energy_kwh(self, start: datetime, end: datetime) -> float:
        """Energy imported between `start` and `end`."""


@runtime_checkable
class Battery(Protocol):
    """A battery-powered device's cell (GSME, PPMID)."""

    def level(self) -> float:
        """Remaining charge, 0.0 (flat) to 1.0 (full)."""


@runtime_checkable
class RadioPort(Protocol):
    """A HAN radio: frames out, and one receiver for frames in."""

    def send(self, frame: bytes) -> None:
        """Transmit a frame."""

    def on_receive(self, handler: Callable[[bytes], None]) -> None:
        """Call `handler(frame)` for each frame received."""

