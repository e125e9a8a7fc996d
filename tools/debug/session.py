"""A debugging session over one lab premises in virtual time: the commands of
`smetslab debug`, one line each, whatever drives them (a script, the prompt, a test).

Every command's output goes to `emit`, one line at a time; nothing depends on the wall
clock, so the same premises, seed and commands print the same lines byte for byte.
Breakpoints (`tools.debug.breakpoints`) are checked after every simulator event; a hit
prints a line starting with `break` and stops `run`, `continue` and `step`.

Going back in time. The lab is deterministic: the premises, the seed, the stores it
started from and the commands typed decide everything. So the session keeps its
history (every command that ran, in order) and the files of its --state folder as
they were at the start; `snapshot NAME` records the history so far, and `restore NAME`
builds the premises afresh and replays that history silently, which puts every device,
the HAN, the DCC, the simulator and the message trace exactly where they were (the
session checks the event count and the clock it arrives at). `back` replays up to the
event before the last one, stopping in the middle of a command when that is where the
event was. Breakpoints are the debugger's own settings, not the premises' state: they
stay as they are across `restore` and `back`.
"""

from __future__ import annotations

import base64
import json
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from boards.board import DEFAULT_PREMISES, BoardError, Premises, load_premises
from boards.peripherals import PeripheralError
from boards.simulator import RunResult, SimulatorError, TraceEntry
from firmware.esme.engine.errors import EngineError
from tools.debug import breakpoints, service, state, stimuli
from tools.debug.breakpoints import Breakpoint
from tools.debug.trace import Crossing, MessageTrace
from tools.lab.premises import Lab
from tools.lab.run import (STATE_FILE, LabError, parse_duration, resume_point,
                           save_state)

START = datetime(2026, 1, 1, tzinfo=UTC)   # a fresh session's virtual start
BRING_UP_LIMIT = timedelta(minutes=5)
PRESS_SETTLE = timedelta(seconds=1)     # a press acts at its own event: let it run
CONTINUE_LIMIT = timedelta(days=7)        # `continue` with no breakpoint hit stops here
TRACE_DEFAULT = 10                        # `trace` alone shows this many
SESSION_FORMAT = 1
_SIM_BREAKPOINT = "debug"
# Commands that only look at or steer the debugger itself: not part of the history.
_META = {"snapshot", "restore", "back", "save", "trace", "help"}
Emit = Callable[[str], None]


class DebugError(Exception):
    """A command the session cannot run, or one that failed: says which and why."""


class _Reached(Exception):
    """Replay got to the event it was asked to stop at."""


@dataclass(frozen=True)
class Entry:
    """One step of the history: a command line (cut short after `cut` simulator events
    when `back` stopped inside it), or a breakpoint table put in place."""

    line: str = ""
    cut: int | None = None
    table: tuple[dict, ...] | None = None

    def to_json(self) -> dict:
        out: dict = {"line": self.line} if self.table is None else {"table": list(self.table)}
        if self.cut is not None:
            out["cut"] = self.cut
        return out

    @classmethod
    def from_json(cls, obj: dict) -> Entry:
        table = obj.get("table")
        return cls(str(obj.get("line", "")), obj.get("cut"),
                   None if table is None else tuple(table))


@dataclass(frozen=True)
class SnapshotPoint:
    """Where a snapshot was taken: the history that leads there, its clock and events."""

    history: tuple[Entry, ...]
    events: int
    at: datetime

    def to_json(self) -> dict:
        return {"history": [e.to_json() for e in self.history], "events": self.events,
                "at": self.at.isoformat()}

    @classmethod
    def from_json(cls, obj: dict) -> SnapshotPoint:
        return cls(tuple(Entry.from_json(e) for e in obj["history"]), int(obj["events"]),
                   datetime.fromisoformat(obj["at"]))


class Session:
    """The premises of `premises_file` (the embedded default when None), commissioned
    and ready; `state_dir` keeps its stores between sessions as `smetslab lab --state`.
    Use it as a context manager, or `close()` it."""

    def __init__(self, premises_file: Path | None = None, *, state_dir: Path | None = None,
                 emit: Emit = print, seed: int = 0) -> None:
        self.emit = emit
        self._quiet = False
        self.state_dir = state_dir
        self.premises_file = premises_file
        try:
            self.premises: Premises = load_premises(premises_file or DEFAULT_PREMISES)
        except BoardError as exc:
            raise DebugError(f"--premises: {exc}") from None
        self.seed, self.start = self._resume(seed)
        self._initial_files = self._capture_state_dir()
        self.breakpoints: dict[int, Breakpoint] = {}
        self._next_number = 1
        self.history: list[Entry] = []
        self.snapshots: dict[str, SnapshotPoint] = {}
        self.live_trace = False
        self._target: int | None = None
        self._interrupt = False
        self._interrupted = False
        self.last_event: TraceEntry | None = None
        self._build()
        self._say(f"premises {self.premises.name} "
                  f"({', '.join(b.name for b in self.premises.boards)}) ready at "
                  f"{self._now()}")

    # -- the premises ---------------------------------------------------------------------

    def _resume(self, seed: int) -> tuple[int, datetime]:
        """The seed and start: a fresh state starts at START; a saved one where its
        meters last committed (as `smetslab lab --state` resumes)."""
        if self.state_dir is None:
            return seed, START
        saved = self.state_dir / STATE_FILE
        if not saved.exists():
            self.state_dir.mkdir(parents=True, exist_ok=True)
            return seed, START
        try:
            return resume_point(saved, self.premises)
        except LabError as exc:
            raise DebugError(str(exc)) from None

    def _capture_state_dir(self) -> dict[str, bytes]:
        """The --state folder's files as the session found them: what a rebuild starts
        from."""
        if self.state_dir is None:
            return {}
        return {p.name: p.read_bytes() for p in sorted(self.state_dir.iterdir())
                if p.is_file()}

    def _reset_state_dir(self) -> None:
        assert self.state_dir is not None
        for path in self.state_dir.iterdir():
            if path.is_file() and (path.name == STATE_FILE or ".sqlite" in path.name):
                path.unlink()
        for name, data in self._initial_files.items():
            (self.state_dir / name).write_bytes(data)

    def _build(self) -> None:
        """A fresh lab at the session's start, commissioned, with the trace attached."""
        self.trace = MessageTrace()
        self.trace.listeners.append(self._on_crossing)
        try:
            self.lab = Lab(self.premises, start=self.start, seed=self.seed,
                           state=self.state_dir, report=self._report,
                           trace=self.trace.wan_stream)
        except (OSError, BoardError) as exc:
            raise DebugError(f"the premises cannot be built: {exc}") from None
        self.trace.attach(self.lab)
        self.lab.start()
        sim = self.lab.sim
        end = sim.now() + BRING_UP_LIMIT
        while not self.lab.ready and sim.now() < end:
            sim.run_for(timedelta(seconds=1))
        if not self.lab.ready:
            raise DebugError("the premises did not commission its HAN within "
                             f"{BRING_UP_LIMIT.seconds // 60} minutes")
        self.base_events = sim.events_run
        self.last_event = None
        sim.add_breakpoint(_SIM_BREAKPOINT, self._after_event)

    def _rebuild(self) -> None:
        self.lab.close()
        if self.state_dir is not None:
            self._reset_state_dir()
        self._build()

    def close(self) -> None:
        """Save where the premises stopped (with --state) and close its stores."""
        if self.state_dir is not None:
            save_state(self.state_dir, self.seed, self.lab.sim.now())
        self.lab.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _now(self) -> str:
        return self.lab.sim.now().isoformat()

    def _say(self, line: str) -> None:
        if not self._quiet:
            self.emit(line)

    # -- what the lab reports -------------------------------------------------------------

    def _report(self, kind: str, text: str) -> None:
        if kind == "alert" and text.startswith("alert 0x"):
            code = int(text.split()[1], 16)
            for bp in self._of_kind("alert"):
                if breakpoints.alert_matches(bp, code):
                    bp.seen.append(f"0x{code:04X}")
        if kind in ("alert", "error"):
            self._say(f"[{self._now()}] {kind}: {text}")

    def _on_crossing(self, crossing: Crossing) -> None:
        watching = self._of_kind("message")
        if watching:
            use_case, code = crossing.use_case, crossing.message_code
            for bp in watching:
                if breakpoints.message_matches(bp, use_case, code):
                    bp.seen.append(f"{use_case} {crossing.link} {crossing.direction}")
        if self.live_trace and not self._quiet:
            for line in self.trace.lines(crossing):
                self.emit(line)

    def _of_kind(self, kind: str) -> list[Breakpoint]:
        return [bp for bp in self.breakpoints.values() if bp.kind == kind]

    def _after_event(self, entry: TraceEntry) -> bool:
        """After each event: stop a replay that got where it was going; print every
        breakpoint that hit; True (stop) when one did."""
        self.last_event = entry
        if self._target is not None and self.lab.sim.events_run >= self._target:
            raise _Reached
        if self._interrupt and not self._quiet:    # a replay runs to its end
            self._interrupt, self._interrupted = False, True
            return True
        hits = []
        for bp in self.breakpoints.values():
            try:
                what = breakpoints.hit(bp, self.lab, entry)
            except state.ExpressionError as exc:
                what = f"condition failed: {exc}"
            if what is not None:
                hits.append(f"break {bp.number} ({bp.spec}): {what} at {self._now()}")
        for line in hits:
            self._say(line)
        return bool(hits)

    # -- commands -------------------------------------------------------------------------

    def execute(self, line: str) -> None:
        """Run one command line (blank lines and `#` comments do nothing); a command
        that cannot run raises DebugError and changes nothing but what it logged."""
        words = _words(line)
        if not words:
            return
        command = _COMMANDS.get(words[0])
        if command is None:
            raise DebugError(f"unknown command {words[0]!r} (commands: "
                             f"{', '.join(COMMANDS)})")
        meta = words[0] in _META or (words[0] == "load" and len(words) == 2)
        self._interrupt = self._interrupted = False
        try:
            self._dispatch(command, words)
        finally:
            cut = self.lab.sim.events_run if self._interrupted else None
            if not meta:
                self.history.append(Entry(line.strip(), cut))
            self._interrupt = False
        if cut is not None:
            self._say(f"interrupted at {self._now()} (event {cut})")

    def interrupt(self) -> None:
        """Stop the command running (Ctrl-C at the prompt) after the event in progress,
        as a breakpoint would; the history keeps it cut there, so it replays exactly.
        Safe to call from a signal handler."""
        self._interrupt = True

    def _dispatch(self, command: Callable[[Session, list[str]], None],
                  words: list[str]) -> None:
        try:
            command(self, words[1:])
        except (state.ExpressionError, service.ServiceError, stimuli.StimulusError,
                SimulatorError, LabError, PeripheralError, EngineError) as exc:
            raise DebugError(str(exc)) from None

    def value(self, expr: str) -> list[tuple[str, str]] | int | float | str:
        """The value of `expr` (as `print` shows it): for tests and scripts in Python.
        Reading is a command like any other, so it joins the history."""
        self.history.append(Entry(f"print {expr}"))
        try:
            return state.evaluate(self.lab, expr)
        except state.ExpressionError as exc:
            raise DebugError(str(exc)) from None

    def _ran(self, result: RunResult) -> None:
        if result.stopped_at is None:
            self._say(f"now {self._now()}")
        else:
            self._say(f"stopped at {self._now()} after {result.stopped_at.name}")

    def step(self, args: list[str]) -> None:
        """`step [N]`: run the next N events (1), printing each; a breakpoint stops."""
        n = _count(args, "step [N]")
        for _ in range(n):
            ran = self.lab.sim.step(1)
            if not ran:
                self._say("no events left")
                return
            self._say(str(ran[0]))
            if self._after_event(ran[0]):
                return

    def run(self, args: list[str]) -> None:
        """`run DURATION` (e.g. 7d) or `run until TIME`: a breakpoint stops early."""
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
        """`continue`: run until a breakpoint hits (at most 7 days)."""
        if args:
            raise DebugError("usage: continue")
        if not self.breakpoints:
            raise DebugError("continue: no breakpoints (set one, or use run DURATION)")
        self._ran(self.lab.sim.run_for(CONTINUE_LIMIT))

    def break_(self, args: list[str]) -> None:
        """`break KIND ARG [if CONDITION]`, `break list` (and `break delete N`)."""
        if args == ["list"]:
            for bp in self.breakpoints.values():
                self._say(str(bp))
            if not self.breakpoints:
                self._say("no breakpoints")
            return
        if args[:1] == ["delete"]:
            self.delete(args[1:])
            return
        bp = breakpoints.parse(self._next_number, args, self.lab)
        self.breakpoints[bp.number] = bp
        self._next_number += 1
        self._say(f"breakpoint {bp}")

    def delete(self, args: list[str]) -> None:
        """`delete N`: remove breakpoint N."""
        if len(args) != 1 or not args[0].isdigit():
            raise DebugError("usage: delete N (see break list)")
        number = int(args[0])
        if self.breakpoints.pop(number, None) is None:
            raise DebugError(f"delete {number}: no such breakpoint")
        self._say(f"deleted breakpoint {number}")

    def print_(self, args: list[str]) -> None:
        """`print EXPR`: a device field, as a value or a table."""
        if len(args) != 1:
            raise DebugError(f"usage: print EXPR ({', '.join(state.FIELDS)}, or "
                             "esme.<engine attribute>)")
        for line in state.render(args[0], state.evaluate(self.lab, args[0])):
            self._say(line)

    def send(self, args: list[str]) -> None:
        """`send SRV [k=v ...]`: a service request as the Supplier, run until answered
        (breakpoints that hit meanwhile are printed; the request still completes)."""
        if not args:
            raise DebugError(f"usage: send SRV [field=value ...] (SRVs: "
                             f"{', '.join(service.FRIENDLY)})")
        sim = self.lab.sim

        def run(duration: timedelta) -> None:
            end = sim.now() + duration
            while sim.run_until(end).stopped_at is not None:
                pass

        self._say(service.send(self.lab, args[0], service.parse_fields(args[1:]), run))

    def load(self, args: list[str]) -> None:
        """`load DEVICE KW` (a stimulus), or `load FILE` (a saved session)."""
        if len(args) == 1:
            self.load_session(Path(args[0]))
            return
        if len(args) != 2:
            raise DebugError("usage: load DEVICE KW | load FILE")
        self._say(stimuli.load(self.lab, *args))

    def press(self, args: list[str]) -> None:
        """`press DEVICE BUTTON`: the button acts at its own event, so a second runs."""
        if len(args) != 2:
            raise DebugError("usage: press DEVICE BUTTON")
        self._say(stimuli.press(self.lab, *args))
        self.lab.sim.run_for(PRESS_SETTLE)

    def power(self, args: list[str]) -> None:
        """`power DEVICE off|on`: mains lost or back (ESME, CHF)."""
        if len(args) != 2:
            raise DebugError("usage: power DEVICE off|on")
        self._say(stimuli.power(self.lab, *args))

    def tamper(self, args: list[str]) -> None:
        """`tamper DEVICE`: the tamper switch opens (ESME, GSME)."""
        if len(args) != 1:
            raise DebugError("usage: tamper DEVICE")
        self._say(stimuli.tamper(self.lab, args[0]))

    def battery(self, args: list[str]) -> None:
        """`battery DEVICE PERCENT`: the GSME's cell drops to PERCENT."""
        if len(args) != 2:
            raise DebugError("usage: battery DEVICE PERCENT")
        self._say(stimuli.battery(self.lab, *args))

    def trace_(self, args: list[str]) -> None:
        """`trace on|off` prints messages as they cross; `trace [N]` the last N (10)."""
        if args in (["on"], ["off"]):
            self.live_trace = args[0] == "on"
            self._say(f"trace {args[0]}")
            return
        n = _count(args, "trace [on|off|N]", TRACE_DEFAULT)
        shown = self.trace.last(n)
        if not shown:
            self._say("no messages yet")
        for crossing in shown:
            for line in self.trace.lines(crossing):
                self._say(line)

    # -- snapshots and history ------------------------------------------------------------

    def snapshot(self, args: list[str]) -> None:
        """`snapshot NAME` records this point; `snapshot` alone lists them."""
        if not args:
            for name, point in self.snapshots.items():
                self._say(f"{name}: {point.at.isoformat()} (event {point.events})")
            if not self.snapshots:
                self._say("no snapshots")
            return
        if len(args) != 1:
            raise DebugError("usage: snapshot NAME")
        sim = self.lab.sim
        self.snapshots[args[0]] = SnapshotPoint(tuple(self.history), sim.events_run,
                                                sim.now())
        self._say(f"snapshot {args[0]} at {self._now()} (event {sim.events_run})")

    def restore(self, args: list[str]) -> None:
        """`restore NAME`: the premises exactly as it was at the snapshot."""
        if len(args) != 1:
            raise DebugError("usage: restore NAME")
        point = self.snapshots.get(args[0])
        if point is None:
            raise DebugError(f"restore {args[0]}: no such snapshot "
                             f"({', '.join(self.snapshots) or 'none taken'})")
        self._travel(point.history, None)
        self._arrived(point.events, point.at, f"snapshot {args[0]}")
        self._say(f"restored {args[0]}: {self._now()} (event {point.events})")

    def back(self, args: list[str]) -> None:
        """`back`: to just after the previous event."""
        if args:
            raise DebugError("usage: back")
        target = self.lab.sim.events_run - 1
        if target < self.base_events:
            raise DebugError("back: no event since the premises came up")
        self._travel(tuple(self.history), target)
        if self.lab.sim.events_run != target:
            raise DebugError(f"back: replay reached event {self.lab.sim.events_run}, "
                             f"not {target}")
        last = self.last_event
        after = f" after #{last.seq} {last.name}" if last is not None else ""
        self._say(f"back at {self._now()} (event {target}){after}")

    def _travel(self, history: tuple[Entry, ...], target: int | None) -> None:
        """Rebuild the premises and replay `history` silently (to `target` events when
        given); the breakpoints in force now stay in force."""
        keep = [bp.to_json() for bp in self.breakpoints.values()]
        keep_next = self._next_number
        self._rebuild()
        self.history = self._replay(history, target)
        self._set_table(tuple(keep), keep_next)
        self.history.append(Entry(table=tuple(keep)))

    def _replay(self, history: tuple[Entry, ...] | list[Entry],
                target: int | None) -> list[Entry]:
        """Run `history` again without printing; stop after `target` events (the
        command in which that happens is kept, cut there). What was replayed."""
        done: list[Entry] = []
        self._quiet = True
        try:
            for entry in history:
                if target is not None and self.lab.sim.events_run >= target:
                    break
                if entry.table is not None:
                    self._set_table(entry.table)
                    done.append(entry)
                    continue
                stop = entry.cut if target is None or entry.cut is not None and \
                    entry.cut < target else target
                self._target = stop
                try:
                    words = _words(entry.line)
                    self._dispatch(_COMMANDS[words[0]], words)
                except _Reached:
                    done.append(Entry(entry.line, self.lab.sim.events_run))
                    if target is not None and self.lab.sim.events_run >= target:
                        break
                    continue
                except DebugError:
                    pass           # it failed the same way the first time
                finally:
                    self._target = None
                if entry.cut is not None:
                    raise DebugError(f"replay diverged: {entry.line!r} ended before "
                                     f"event {entry.cut}")
                done.append(entry)
        finally:
            self._quiet = False
            self._target = None
        return done

    def _arrived(self, events: int, at: datetime, what: str) -> None:
        sim = self.lab.sim
        if (sim.events_run, sim.now()) != (events, at):
            raise DebugError(f"replay of {what} diverged: event {sim.events_run} at "
                             f"{self._now()}, expected event {events} at {at.isoformat()}")

    def _set_table(self, table: tuple[dict, ...], next_number: int | None = None) -> None:
        """Put a breakpoint table in place (watches start from the values now)."""
        self.breakpoints = {}
        for obj in table:
            bp = Breakpoint(int(obj["number"]), obj["kind"], obj["arg"],
                            obj.get("condition", ""))
            if bp.kind == "watch":
                bp.last = state.watch_text(self.lab, bp.arg)
            self.breakpoints[bp.number] = bp
        self._next_number = max([next_number or 1, *(n + 1 for n in self.breakpoints)])

    # -- whole sessions in a file ---------------------------------------------------------

    def to_json(self) -> dict:
        """The session as `save` writes it: enough to rebuild it exactly."""
        return {"smetslab_debug_session": SESSION_FORMAT,
                "premises": str(self.premises_file) if self.premises_file else None,
                "seed": self.seed, "start": self.start.isoformat(),
                "state_files": {name: base64.b64encode(data).decode()
                                for name, data in self._initial_files.items()},
                "history": [e.to_json() for e in self.history],
                "snapshots": {n: p.to_json() for n, p in self.snapshots.items()},
                "breakpoints": [bp.to_json() for bp in self.breakpoints.values()],
                "next_breakpoint": self._next_number,
                "events": self.lab.sim.events_run, "time": self._now()}

    def save(self, args: list[str]) -> None:
        """`save FILE`: premises, seed, history, snapshots and breakpoints."""
        if len(args) != 1:
            raise DebugError("usage: save FILE")
        path = Path(args[0])
        try:
            path.write_text(json.dumps(self.to_json(), indent=1) + "\n", encoding="utf-8")
        except OSError as exc:
            raise DebugError(f"save {path}: {exc}") from None
        self._say(f"saved the session to {path} ({len(self.history)} commands, "
                  f"{len(self.snapshots)} snapshots)")

    def load_session(self, path: Path) -> None:
        """`load FILE`: the saved session in place of this one, where it was saved."""
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            if saved.get("smetslab_debug_session") != SESSION_FORMAT:
                raise ValueError("not a smetslab debug session file")
            premises_file = Path(saved["premises"]) if saved["premises"] else None
            premises = load_premises(premises_file or DEFAULT_PREMISES)
            seed, start = int(saved["seed"]), datetime.fromisoformat(saved["start"])
            files = {n: base64.b64decode(d) for n, d in saved["state_files"].items()}
            history = [Entry.from_json(e) for e in saved["history"]]
            snapshots = {n: SnapshotPoint.from_json(p)
                         for n, p in saved["snapshots"].items()}
            table = tuple(saved["breakpoints"])
            next_number = int(saved["next_breakpoint"])
            events, at = int(saved["events"]), datetime.fromisoformat(saved["time"])
        except (OSError, ValueError, KeyError, TypeError, BoardError) as exc:
            raise DebugError(f"load {path}: {exc}") from None
        if files and self.state_dir is None:
            raise DebugError(f"load {path}: the session ran with --state; give this "
                             "session a --state folder to rebuild it in")
        self.premises_file, self.premises, self.seed, self.start = \
            premises_file, premises, seed, start
        self._initial_files = files
        self._rebuild()
        self.history = self._replay(history, None)
        self._arrived(events, at, str(path))
        self._set_table(table, next_number)
        self.history.append(Entry(table=table))
        self.snapshots = snapshots
        self._say(f"loaded {path}: {self._now()} (event {events}), "
                  f"{len(self.breakpoints)} breakpoints, {len(snapshots)} snapshots")

    def help_(self, args: list[str]) -> None:
        """`help`: the commands."""
        for name in COMMANDS:
            doc = (_COMMANDS[name].__doc__ or "").strip().splitlines()[0]
            self._say(doc.replace("`", ""))


def _words(line: str) -> list[str]:
    try:
        return shlex.split(line, comments=True)
    except ValueError as exc:
        raise DebugError(f"{line.strip()!r}: {exc}") from None


def _count(args: list[str], usage: str, default: int = 1) -> int:
    if not args:
        return default
    if len(args) != 1 or not args[0].isdigit():
        raise DebugError(f"usage: {usage}")
    return int(args[0])


_COMMANDS: dict[str, Callable[[Session, list[str]], None]] = {
    "step": Session.step, "run": Session.run, "continue": Session.continue_,
    "break": Session.break_, "delete": Session.delete, "print": Session.print_,
    "send": Session.send, "load": Session.load, "press": Session.press,
    "power": Session.power, "tamper": Session.tamper, "battery": Session.battery,
    "trace": Session.trace_, "snapshot": Session.snapshot, "restore": Session.restore,
    "back": Session.back, "save": Session.save, "help": Session.help_,
}
COMMANDS = sorted(_COMMANDS)
