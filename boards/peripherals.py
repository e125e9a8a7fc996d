"""The virtual board's peripherals: contactor, valve, display, buttons and battery.

Each implements its `firmware.core.hal` interface, keeps a time-stamped history a lab
engineer can inspect (when did the supply open, what did the display show), and is
`Snapshotable`, so the simulator saves and restores it with the rest of the machine.
Times come from the board's `Clock`, never the wall clock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from firmware.core.hal import Clock


class PeripheralError(Exception):
    """A peripheral used in a way the hardware cannot do: says which one and why."""


class VirtualContactor:
    """An ESME supply contactor (`SupplyContactor`); starts closed (supply on)."""

    def __init__(self, clock: Clock, closed: bool = True) -> None:
        self._clock = clock
        self._closed = closed
        self.history: list[tuple[datetime, bool]] = []

    @property
    def closed(self) -> bool:
        return self._closed

    def set_closed(self, closed: bool) -> None:
        if closed != self._closed:
            self._closed = closed
            self.history.append((self._clock.now(), closed))

    def snapshot(self) -> tuple[bool, tuple]:
        return self._closed, tuple(self.history)

    def restore(self, state: tuple[bool, tuple]) -> None:
        self._closed, history = state
        self.history = list(history)


class VirtualValve:
    """A GSME gas valve (`Valve`); starts open (gas on)."""

    def __init__(self, clock: Clock, open_: bool = True) -> None:
        self._clock = clock
        self._open = open_
        self.history: list[tuple[datetime, bool]] = []

    @property
    def open(self) -> bool:
        return self._open

    def set_open(self, open_: bool) -> None:
        if open_ != self._open:
            self._open = open_
            self.history.append((self._clock.now(), open_))

    def snapshot(self) -> tuple[bool, tuple]:
        return self._open, tuple(self.history)

    def restore(self, state: tuple[bool, tuple]) -> None:
        self._open, history = state
        self.history = list(history)


class VirtualDisplay:
    """A display (`Display`) of `rows` lines of at most `width` characters."""

    def __init__(self, clock: Clock, rows: int = 2, width: int = 16) -> None:
        self._clock = clock
        self.rows = rows
        self.width = width
        self.lines: tuple[str, ...] = ()
        self.history: list[tuple[datetime, tuple[str, ...]]] = []

    def show(self, lines: Sequence[str]) -> None:
        lines = tuple(lines)
        if len(lines) > self.rows:
            raise PeripheralError(f"display: {len(lines)} lines do not fit {self.rows} rows")
        for line in lines:
            if len(line) > self.width:
                raise PeripheralError(f"display: {line!r} is wider than {self.width} "
                                      "characters")
        self.lines = lines
        self.history.append((self._clock.now(), lines))

    def snapshot(self) -> tuple[tuple[str, ...], tuple]:
        return self.lines, tuple(self.history)

    def restore(self, state: tuple[tuple[str, ...], tuple]) -> None:
        self.lines, history = state
        self.history = list(history)


class VirtualButtons:
    """Buttons or a keypad (`Buttons`): `press` schedules the press on the board's clock,
    so a press is an event in the trace and replays deterministically."""

    def __init__(self, clock: Clock, names: Sequence[str]) -> None:
        self._clock = clock
        self.names = frozenset(names)
        self._handler: Callable[[str], None] | None = None
        self.presses: list[tuple[datetime, str]] = []

    def on_press(self, handler: Callable[[str], None]) -> None:
        self._handler = handler

    def press(self, button: str, after: timedelta = timedelta(0)) -> None:
        """Press `button` `after` from now (a real press with no handler does nothing)."""
        if button not in self.names:
            raise PeripheralError(f"buttons: no button {button!r} (have "
                                  f"{', '.join(sorted(self.names))})")
        self._clock.schedule(lambda: self._deliver(button), f"button.{button}", after=after)

    def _deliver(self, button: str) -> None:
        self.presses.append((self._clock.now(), button))
        if self._handler is not None:
            self._handler(button)

    def snapshot(self) -> tuple:
        return tuple(self.presses)

    def restore(self, state: tuple) -> None:
        self.presses = list(state)


class VirtualBattery:
    """A battery (`Battery`) that self-discharges linearly over `life` from installation
    and loses whatever `consume` takes (e.g. each radio wake-up of a GSME)."""

    def __init__(self, clock: Clock, life: timedelta = timedelta(days=15 * 365),
                 level: float = 1.0) -> None:
        if not 0.0 <= level <= 1.0:
            raise PeripheralError(f"battery: level {level} is not between 0 and 1")
        if life <= timedelta(0):
            raise PeripheralError(f"battery: life {life} is not positive")
        self._clock = clock
        self.life = life
        self._installed = clock.now()
        self._initial = level
        self._consumed = 0.0

    def level(self) -> float:
        aged = (self._clock.now() - self._installed) / self.life
        return max(0.0, self._initial - aged - self._consumed)

    def consume(self, fraction: float) -> None:
        if fraction < 0:
            raise PeripheralError(f"battery: cannot consume {fraction} (negative)")
        self._consumed += fraction

    def snapshot(self) -> float:
        return self._consumed

    def restore(self, state: float) -> None:
        self._consumed = state
