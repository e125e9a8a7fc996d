"""What the lab shows while it runs: a live `rich` screen on a terminal (devices, joined,
supply state, credit, the IHD screen and the latest events), one plain line per event
worth seeing when the output is not a terminal, or nothing but errors with --quiet."""

from __future__ import annotations

import sys
from collections import deque
from typing import TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from firmware.esme.engine import UNITS_PER_PENNY
from firmware.ihd import Screen
from tools.lab.premises import Lab

LIVE, LINES, QUIET = "live", "lines", "quiet"
RECENT = 8
PENCE_PER_POUND = 100


def choose_mode(quiet: bool, stream: TextIO) -> str:
    if quiet:
        return QUIET
    return LIVE if stream.isatty() else LINES


class Status:
    """Receives the lab's events (`event(kind, text)`) and shows them in `mode`."""

    def __init__(self, mode: str, stream: TextIO | None = None) -> None:
        self.mode = mode
        self.stream = stream or sys.stdout
        self.lab: Lab | None = None
        self.recent: deque[str] = deque(maxlen=RECENT)
        self.errors = 0
        self._live: Live | None = None

    def event(self, kind: str, text: str) -> None:
        when = self.lab.sim.now().strftime("%Y-%m-%d %H:%M:%S") if self.lab else ""
        line = f"{when} {kind:5} {text}"
        self.errors += kind == "error"
        if self.mode == LINES:
            print(line, file=self.stream, flush=True)
        elif self.mode == QUIET and kind == "error":
            print(line, file=sys.stderr, flush=True)
        else:
            self.recent.append(line)

    def say(self, text: str) -> None:
        """A line for the user whatever the mode but quiet (URLs, results)."""
        if self.mode != QUIET:
            print(text, file=self.stream, flush=True)

    # -- the live screen ---------------------------------------------------------------------

    def __enter__(self) -> Status:
        if self.mode == LIVE:
            self._live = Live(self.render(), console=Console(file=self.stream),
                              refresh_per_second=4)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)
            self._live = None

    def refresh(self) -> None:
        if self._live is not None:
            self._live.update(self.render())

    def rows(self) -> list[tuple[str, ...]]:
        """One row per device: name, type, EUI-64, HAN state, supply, credit, screen."""
        lab = self.lab
        out = []
        added = [d.board for d in lab.han.devices.values() if d.board not in
                 lab.premises.boards]            # installed while the lab runs
        for board in [*lab.premises.boards, *added]:
            device = lab.han.devices.get(board.eui)
            if board.eui == lab.han.chf_board.eui:
                state = "coordinator"
            else:
                state = device.state if device is not None else "in the hub"
            supply = credit = screen = ""
            unit = lab.esmes.get(board.eui)
            if unit is not None:
                supply = unit.engine.supply_state.name.lower()
                credit = money(unit.engine.meter_balance)
            gas = lab.gsmes.get(board.eui)
            if gas is not None:
                supply = "valve " + ("open" if gas.valve.open else "closed")
            if device is not None and device.ihd is not None:
                screen = ihd_text(device.ihd)
            out.append((board.name, board.type.value, board.eui.hex().upper(), state,
                        supply, credit, screen))
        return out

    def render(self) -> Group:
        if self.lab is None:
            return Group("starting...")
        table = Table(title=self._title())
        for column in ("device", "type", "EUI-64", "HAN", "supply", "credit"):
            table.add_column(column)
        parts: list = [table]
        for row in self.rows():
            table.add_row(*row[:6])
            if row[6]:
                parts.append(Panel(row[6], title=f"{row[0]} screen"))
        parts.append(Panel("\n".join(self.recent) or "-", title="events"))
        return Group(*parts)

    def summary(self) -> str:
        """The closing lines: devices, the IHD screen and what crossed the WAN."""
        lines = [self._title()]
        for name, kind, eui, state, supply, credit, screen in self.rows():
            line = f"  {name:6} {kind:5} {eui} {state}"
            if supply:
                line += f", supply {supply}"
            if credit:
                line += f", credit {credit}"
            if screen:
                line += f", screen: {screen.replace(chr(10), '; ')}"
            lines.append(line)
        lines.append(f"  WAN: {self.lab.trace.count} GBCS messages; HAN: "
                     f"{self.lab.han.medium.frames_sent} frames")
        return "\n".join(lines)

    def _title(self) -> str:
        return f"{self.lab.premises.name} premises at {self.lab.sim.now():%Y-%m-%d %H:%M:%S} UTC"


def money(units: int) -> str:
    """Currency units (1000 to the penny) as pounds."""
    return f"£{units / UNITS_PER_PENNY / PENCE_PER_POUND:,.2f}"


def ihd_text(screen: Screen) -> str:
    """An IHD's or CAD's screen: power now, today's use and cost, price, credit in
    prepayment, gas once its meter is found, the supplier's message."""
    return "\n".join(screen.lines())
