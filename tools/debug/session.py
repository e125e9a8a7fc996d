"""A debugging session over one lab premises in virtual time: the commands of
`smetslab debug`, one line each, whatever drives them (a script, the prompt, a test).

Every command's output goes to `emit`, one line at a time; nothing depends on the wall
clock, so the same premises, seed and commands print the same lines byte for byte.
Breakpoints are checked after every simulator event: `watch` when an expression's
value changes, `alert` when the DCC delivers an alert with that code to a User,
`message` when a GBCS message of that use case crosses the WAN. A hit prints a line
starting with `break`.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from boards.board import DEFAULT_PREMISES, BoardError, LoadProfile, Premises, load_premises
from boards.peripherals import PeripheralError
from boards.simulator import RunResult, SimulatorError
from firmware.esme.engine import LoadModel
from gbcs.errors import GbcsError
from gbcs.message import decode
from tools.debug import service, state
from tools.lab.esme import EsmeBoard
from tools.lab.premises import Lab
from tools.lab.run import (STATE_FILE, LabError, parse_duration, resume_point,
                           save_state)

START = datetime(2026, 1, 1, tzinfo=UTC)   # a fresh session's virtual start
BRING_UP_LIMIT = timedelta(minutes=5)
PRESS_SETTLE = timedelta(seconds=1)     # a press acts at its own event: let it run
CONTINUE_LIMIT = timedelta(days=7)        # `continue` with no breakpoint hit stops here
BREAKPOINT = "debug"
Emit = Callable[[str], None]


class DebugError(Exception):
    """A command the session cannot run, or one that failed: says which and why."""


@dataclass
class Breakpoint:
    """One breakpoint: `kind` watch, alert or message, and what it watches."""

    number: int
    kind: str
    arg: str
    last: str = ""          # watch: the value when last checked
    hit: bool = False       # alert, message: seen since the last check

    def __str__(self) -> str:
        return f"{self.number}: {self.kind} {self.arg}"


@dataclass
class _WanTap:
    """The lab's WAN trace stream: each JSON line is a GBCS message whose use case the
    message breakpoints compare."""

    on_message: Callable[[bytes], None]
    pending: str = ""

    def write(self, text: str) -> int:
        self.pending += text
        while "\n" in self.pending:
            line, self.pending = self.pending.split("\n", 1)
            self.on_message(bytes.fromhex(json.loads(line)["hex"]))
        return len(text)


class Session:
    """The premises of `premises_file` (the embedded default when None), commissioned
    and ready; `state` keeps its stores between sessions as `smetslab lab --state`."""

    def __init__(self, premises_file: Path | None = None, *, state_dir: Path | None = None,
                 emit: Emit = print, seed: int = 0) -> None:
        self.emit = emit
        self.state_dir = state_dir
        try:
            premises = load_premises(premises_file or DEFAULT_PREMISES)
        except BoardError as exc:
            raise DebugError(f"--premises: {exc}") from None
        self.seed, start = self._resume(premises, seed)
        self.breakpoints: dict[int, Breakpoint] = {}
        self._next_number = 1
        self.lab = Lab(premises, start=start, seed=self.seed, state=state_dir,
                       report=self._report, trace=_WanTap(self._on_wan))
        self.lab.start()
        end = self.lab.sim.now() + BRING_UP_LIMIT
        while not self.lab.ready and self.lab.sim.now() < end:
            self.lab.sim.run_for(timedelta(seconds=1))
        if not self.lab.ready:
            raise DebugError("the premises did not commission its HAN within "
                             f"{BRING_UP_LIMIT.seconds // 60} minutes")
        self.lab.sim.add_breakpoint(BREAKPOINT, lambda entry: self._check())
        names = ", ".join(b.name for b in premises.boards)
        self.emit(f"premises {premises.name} ({names}) ready at {self._now()}")

    def _resume(self, premises: Premises, seed: int) -> tuple[int, datetime]:
        """The seed and start: a fresh state starts at START; a saved one where its
        meters last committed (as `smetslab lab --state` resumes)."""
        if self.state_dir is None:
            return seed, START
        saved = self.state_dir / STATE_FILE
        if not saved.exists():
            self.state_dir.mkdir(parents=True, exist_ok=True)
            return seed, START
        try:
            return resume_point(saved, premises)
        except LabError as exc:
            raise DebugError(str(exc)) from None

    def close(self) -> None:
        """Save where the premises stopped (with --state) and close its stores."""
        if self.state_dir is not None:
            save_state(self.state_dir, self.seed, self.lab.sim.now())
        self.lab.close()

    def _now(self) -> str:
        return self.lab.sim.now().isoformat()

    # -- what the lab reports -------------------------------------------------------------

    def _report(self, kind: str, text: str) -> None:
        if kind == "alert":
            code = text.split()[1] if text.startswith("alert 0x") else ""
            for bp in self._of_kind("alert"):
                bp.hit = bp.hit or code.upper() == f"0X{int(bp.arg, 16):04X}"
        if kind in ("alert", "error"):
            self.emit(f"[{self._now()}] {kind}: {text}")

    def _on_wan(self, message: bytes) -> None:
        watching = self._of_kind("message")
        if not watching:
            return
        try:
            use_case = decode(message, None, verify=False).use_case.use_case
        except (GbcsError, AttributeError):
            return
        for bp in watching:
            bp.hit = bp.hit or bp.arg == use_case

    def _of_kind(self, kind: str) -> list[Breakpoint]:
        return [bp for bp in self.breakpoints.values() if bp.kind == kind]

    def _check(self) -> bool:
        """After each event: print every breakpoint that hit; True when one did."""
        hits = []
        for bp in self.breakpoints.values():
            if bp.kind == "watch":
                value = state.watch_text(self.lab, bp.arg)
                if value != bp.last:
                    hits.append(f"break {bp.number} (watch {bp.arg}): {bp.last} -> {value} "
                                f"at {self._now()}")
                    bp.last = value
            elif bp.hit:
                bp.hit = False
                hits.append(f"break {bp.number} ({bp.kind} {bp.arg}) at {self._now()}")
        for line in hits:
            self.emit(line)
        return bool(hits)

    # -- commands -------------------------------------------------------------------------

    def execute(self, line: str) -> None:
        """Run one command line (blank lines and `#` comments do nothing)."""
        try:
            words = shlex.split(line, comments=True)
        except ValueError as exc:
            raise DebugError(f"{line.strip()!r}: {exc}") from None
        if not words:
            return
        command = _COMMANDS.get(words[0])
        if command is None:
            raise DebugError(f"unknown command {words[0]!r} (commands: "
                             f"{', '.join(sorted(_COMMANDS))})")
        try:
            command(self, words[1:])
        except (state.ExpressionError, service.ServiceError, SimulatorError, LabError,
                PeripheralError) as exc:
            raise DebugError(str(exc)) from None

    def _ran(self, result: RunResult) -> None:
        if result.stopped_at is None:
            self.emit(f"now {self._now()}")
        else:
            self.emit(f"stopped at {self._now()} after {result.stopped_at.name}")

    def step(self, args: list[str]) -> None:
        n = _count(args, "step [N]")
        for entry in self.lab.sim.step(n):
            self.emit(str(entry))
            self._check()

    def run(self, args: list[str]) -> None:
        sim = self.lab.sim
        if len(args) == 2 and args[0] == "until":
            try:
                until = datetime.fromisoformat(args[1])
            except ValueError:
                raise DebugError(f"run until {args[1]!r}: expected an ISO date-time "
                                 "(e.g. 2026-01-02T06:00Z)") from None
            if until.tzinfo is None:
                until = until.replace(tzinfo=UTC)
            self._ran(sim.run_until(until))
        elif len(args) == 1:
            self._ran(sim.run_for(parse_duration(args[0])))
        else:
            raise DebugError("usage: run DURATION (e.g. 7d) or run until TIME")

    def continue_(self, args: list[str]) -> None:
        if args:
            raise DebugError("usage: continue")
        if not self.breakpoints:
            raise DebugError("continue: no breakpoints (set one, or use run DURATION)")
        self._ran(self.lab.sim.run_for(CONTINUE_LIMIT))

    def break_(self, args: list[str]) -> None:
        if args == ["list"]:
            for bp in self.breakpoints.values():
                self.emit(str(bp))
            if not self.breakpoints:
                self.emit("no breakpoints")
            return
        if len(args) == 2 and args[0] == "delete":
            number = _count(args[1:], "break delete N")
            if self.breakpoints.pop(number, None) is None:
                raise DebugError(f"break delete {number}: no such breakpoint")
            self.emit(f"deleted breakpoint {number}")
            return
        if len(args) != 2 or args[0] not in ("watch", "alert", "message"):
            raise DebugError("usage: break watch EXPR | break alert CODE | "
                             "break message USECASE | break list | break delete N")
        kind, arg = args
        bp = Breakpoint(self._next_number, kind, arg)
        if kind == "watch":
            bp.last = state.watch_text(self.lab, arg)
        elif kind == "alert":
            try:
                int(arg, 16)
            except ValueError:
                raise DebugError(f"break alert {arg!r}: expected a hex alert code "
                                 "(e.g. 8F1C)") from None
        self.breakpoints[bp.number] = bp
        self._next_number += 1
        self.emit(f"breakpoint {bp}")

    def print_(self, args: list[str]) -> None:
        if len(args) != 1:
            raise DebugError(f"usage: print EXPR ({', '.join(state.FIELDS)}, or "
                             "esme.<engine attribute>)")
        for line in state.render(args[0], state.evaluate(self.lab, args[0])):
            self.emit(line)

    def send(self, args: list[str]) -> None:
        if not args:
            raise DebugError(f"usage: send SRV [field=value ...] (SRVs: "
                             f"{', '.join(service.FRIENDLY)})")

        def run(duration: timedelta) -> None:
            self.lab.sim.run_for(duration)

        self.emit(service.send(self.lab, args[0], service.parse_fields(args[1:]), run))

    def load(self, args: list[str]) -> None:
        if len(args) != 2:
            raise DebugError("usage: load DEVICE KW")
        unit = state.esme(self.lab, args[0])
        try:
            kw = float(args[1])
        except ValueError:
            kw = -1.0
        if not 0 <= kw <= 100:
            raise DebugError(f"load {args[0]} {args[1]!r}: expected kW from 0 to 100")
        set_load(unit, kw)
        self.emit(f"{unit.board.name} load {kw:g} kW from {self._now()}")

    def press(self, args: list[str]) -> None:
        if len(args) != 2:
            raise DebugError("usage: press DEVICE BUTTON")
        unit = state.esme(self.lab, args[0])
        unit.buttons.press(args[1])
        self.emit(f"{unit.board.name} button {args[1]} pressed at {self._now()}")
        self.lab.sim.run_for(PRESS_SETTLE)

    def snapshot(self, args: list[str]) -> None:
        raise DebugError("snapshot/restore: not available yet: the lab's HAN nodes and DCC "
                         "keep state the simulator does not save")

    restore = snapshot


def set_load(unit: EsmeBoard, kw: float) -> None:
    """From now on the ESME measures a constant `kw`: what it measured so far is
    committed first, so the change takes effect at this instant."""
    profile = LoadProfile((kw,))
    unit.load = profile
    unit.engine.set_load(LoadModel(profile, daily_periodic=True, peak_kw=kw))


def _count(args: list[str], usage: str) -> int:
    if not args:
        return 1
    if len(args) != 1 or not args[0].isdigit():
        raise DebugError(f"usage: {usage}")
    return int(args[0])


_COMMANDS: dict[str, Callable[[Session, list[str]], None]] = {
    "step": Session.step, "run": Session.run, "continue": Session.continue_,
    "break": Session.break_, "print": Session.print_, "send": Session.send,
    "load": Session.load, "press": Session.press, "snapshot": Session.snapshot,
    "restore": Session.restore,
}
COMMANDS = sorted(_COMMANDS)
