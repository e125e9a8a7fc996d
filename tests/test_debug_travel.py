"""smetslab debug: snapshots, restore and back are exact; the trace is deterministic;
breakpoints of every kind with conditions; physical stimuli; whole sessions saved and
loaded; an interrupted run replays exactly. On small premises (the default's hub and meters, without PPMID and IHD), so the
HAN carries what these tests look at and little else."""

from __future__ import annotations

from pathlib import Path

import pytest

from boards.board import DEFAULT_PREMISES
from tools.debug.session import DebugError, Session

pytestmark = pytest.mark.usefixtures("duis_matrix")   # every test runs a lab


def premises(tmp_path: Path, *, gas: bool = False) -> Path:
    """The default premises cut before the GSME (or, with `gas`, before the PPMID)."""
    text = DEFAULT_PREMISES.read_text()
    path = tmp_path / ("gas.toml" if gas else "esme.toml")
    path.write_text(text.split("[boards.ppmid]" if gas else "[boards.gsme]")[0])
    return path


class Recorder:
    """A session's output, and what it printed since the last `take`."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.mark = 0

    def __call__(self, line: str) -> None:
        self.lines.append(line)

    def take(self) -> list[str]:
        new, self.mark = self.lines[self.mark:], len(self.lines)
        return new


def _after(session: Session, rec: Recorder, commands: list[str]) -> tuple:
    rec.take()
    for command in commands:
        session.execute(command)
    sim = session.lab.sim
    return rec.take(), session.trace.digest(), sim.events_run, sim.now()


LATER = ["send 1.6 mode=prepayment", "send 2.2 amount=2.00", "run 90m",
         "print esme.credit", "print esme.registers", "trace 4"]


def test_restore_puts_the_premises_back_exactly(tmp_path) -> None:
    rec = Recorder()
    with Session(premises(tmp_path), emit=rec) as s:
        s.execute("load esme 2")
        s.execute("run 20m")
        s.execute("snapshot before")
        first = _after(s, rec, LATER)
        assert any("ECS03" in line for line in first[0])     # the trace shows 1.6
        s.execute("restore before")
        assert rec.take() == [f"restored before: {s.lab.sim.now().isoformat()} "
                              f"(event {s.lab.sim.events_run})"]
        again = _after(s, rec, LATER)
        # the same output (the critical 1.6 is signed afresh: ECDSA differs, nothing else)
        assert again == first
        s.execute("snapshot after")
        s.execute("restore before")
        s.execute("restore after")
        assert _after(s, rec, ["print esme.credit"])[0] == \
            [line for line in first[0] if line.startswith(("esme.credit", "  "))][:9]


def test_back_returns_to_the_previous_event_even_inside_a_command(tmp_path) -> None:
    rec = Recorder()
    with Session(premises(tmp_path), emit=rec) as s:
        s.execute("load esme 3")
        s.execute("step 5")
        stepped = rec.take()[-5:]
        events = s.lab.sim.events_run
        s.execute("back")
        assert s.lab.sim.events_run == events - 1
        assert rec.take()[0].startswith(f"back at {stepped[3].split()[0]} ")
        s.execute("step 1")
        assert rec.take() == [stepped[4]]            # the same event runs again
        s.execute("run 45m")
        ran, end = s.lab.sim.events_run, s.lab.sim.now()
        s.execute("print esme.registers")
        late = rec.take()
        s.execute("back")                             # into the middle of `run 45m`
        s.execute("back")
        assert s.lab.sim.events_run == ran - 2
        s.execute("step 2")
        s.execute(f"run until {end.isoformat()}")
        s.execute("print esme.registers")
        assert rec.take()[-len(late) + 1:] == late[1:]


def test_same_commands_same_trace_byte_for_byte(tmp_path) -> None:
    def trace() -> bytes:
        with Session(premises(tmp_path), emit=lambda line: None) as s:
            for command in ["load esme 3", "send 1.6 mode=prepayment",
                            "send 2.2 amount=5.00", "run 70m"]:
                s.execute(command)
            return "\n".join(line for c in s.trace.crossings
                             for line in s.trace.lines(c)).encode()

    first = trace()
    assert first.count(b" WAN dcc->chf ") >= 3 and b" HAN chf->esme " in first
    assert b"ECS03" in first and b"CS01a" in first and b"ECS17b" in first
    assert trace() == first


def test_breakpoints_of_every_kind_with_conditions(tmp_path) -> None:
    rec = Recorder()
    with Session(premises(tmp_path), emit=rec) as s:
        s.execute("load esme 3")
        s.execute("break message ECS03")
        s.execute("break alert 810D")
        s.execute("break event esme.tick if esme.active_import_wh > 2000")
        s.execute("break watch esme.supply_state if esme.supply_state == armed")
        s.execute("break list")
        assert rec.take()[-4:] == [
            "1: message ECS03", "2: alert 810D",
            "3: event esme.tick if esme.active_import_wh > 2000",
            "4: watch esme.supply_state if esme.supply_state == armed"]
        s.execute("send 1.6 mode=prepayment")        # a send completes, hits or not
        out = rec.take()
        assert any(line.startswith("break 1 (message ECS03): ECS03 WAN dcc->chf")
                   for line in out)
        assert any(line.startswith("break 2 (alert 810D): 0x810D at ") for line in out)
        assert out[-1].startswith("send 1.6: I0")
        s.execute("delete 1")
        s.execute("delete 2")
        s.execute("send 2.2 amount=20.00")
        s.execute("continue")       # 1.5 kWh at 00:30 is not enough; 3 kWh at 01:00 is
        out = rec.take()
        assert out[-2] == ("break 3 (event esme.tick if esme.active_import_wh > 2000): "
                           "esme.tick at 2026-01-01T01:00:00+00:00")
        assert out[-1] == "stopped at 2026-01-01T01:00:00+00:00 after esme.tick"
        s.execute("delete 3")
        s.execute("send 7.2")                        # disable: watch 4's condition fails
        assert not any(line.startswith("break") for line in rec.take())
        s.execute("send 7.3")                        # arm: it holds
        assert any(line.startswith("break 4 (watch esme.supply_state if esme.supply_state"
                                   " == armed): disabled -> armed at ")
                   for line in rec.take())


def test_stimuli_power_tamper_battery_and_buttons(tmp_path) -> None:
    rec = Recorder()
    with Session(premises(tmp_path, gas=True), emit=rec) as s:
        s.execute("load esme 2")
        s.execute("power esme off")
        s.execute("run 5m")
        assert s.value("esme.active_import_wh") == 0        # no mains: nothing measured
        s.execute("power esme on")
        s.execute("tamper esme")
        s.execute("run 20s")
        out = rec.take()
        assert any("alert 0x8F36" in line for line in out)  # restored after >= 3 minutes
        assert any("alert 0x8F3F" in line for line in out)  # tamper detect
        with pytest.raises(DebugError, match="not interrupted"):
            s.execute("power esme on")
        s.execute("battery gsme 5")
        s.execute("print gsme.battery")
        assert "  level                   5.0 %" in rec.take()
        with pytest.raises(DebugError, match="only discharges"):
            s.execute("battery gsme 50")
        s.execute("tamper gsme")
        s.execute("press gsme A")
        assert rec.take()[-1].endswith("not armed, nothing done")
        s.execute("run 31m")                                  # the GSME's next wake
        out = rec.take()
        assert any("alert 0x8F1F" in line for line in out)  # low battery
        s.execute("power chf off")
        s.execute("run 4m")
        s.execute("power chf on")
        out = rec.take()
        assert out[0].endswith("(the DCC hears of it if it lasts 3 minutes)")
        assert any("CHF: power outage" in line for line in out)      # the last gasp
        assert out[-1].endswith("(restoration notice sent)")
        s.execute("print chf.power")
        assert rec.take()[1] == "  powered    yes"


def test_save_and_load_a_whole_session(tmp_path) -> None:
    saved = tmp_path / "session.json"
    rec = Recorder()
    with Session(premises(tmp_path), emit=rec) as s:
        s.execute("load esme 1")
        s.execute("run 10m")
        s.execute("snapshot early")
        s.execute("break watch esme.current_rate")
        s.execute("step 3")
        s.execute(f"save {saved}")
        where = (s.lab.sim.events_run, s.lab.sim.now())
        s.execute("run 40m")
        s.execute("print esme.registers")
        expected = rec.take()[-9:]
    other = Recorder()
    with Session(premises(tmp_path), emit=other) as s:
        s.execute(f"load {saved}")
        assert (s.lab.sim.events_run, s.lab.sim.now()) == where
        s.execute("break list")
        s.execute("snapshot")
        early = s.snapshots["early"]
        assert other.take()[-2:] == ["1: watch esme.current_rate",
                                     f"early: {early.at.isoformat()} (event {early.events})"]
        s.execute("run 40m")
        s.execute("print esme.registers")
        assert other.take()[-9:] == expected
        s.execute("restore early")
        assert s.lab.sim.now().isoformat().startswith("2026-01-01T00:10:0")


def test_restore_with_a_state_folder_starts_from_the_stores_as_found(tmp_path) -> None:
    folder = tmp_path / "state"
    with Session(premises(tmp_path), state_dir=folder, emit=lambda line: None) as s:
        s.execute("load esme 2")
        s.execute("run 25h")                           # the meter commits at midnight
    with Session(premises(tmp_path), state_dir=folder, emit=lambda line: None) as s:
        start = s.value("esme.active_import_wh")      # resumed: the first day's 48 kWh
        assert 47_000 < start <= 48_000
        s.execute("snapshot resumed")
        s.execute("load esme 4")
        s.execute("run 2h")
        assert s.value("esme.active_import_wh") > start
        s.execute("restore resumed")
        assert s.value("esme.active_import_wh") == start
        s.execute(f"save {tmp_path / 'with-state.json'}")
    with Session(premises(tmp_path), emit=lambda line: None) as s:
        with pytest.raises(DebugError, match="--state"):
            s.execute(f"load {tmp_path / 'with-state.json'}")


def test_an_interrupted_run_stops_between_events_and_replays_exactly(tmp_path) -> None:
    from datetime import timedelta

    rec = Recorder()
    with Session(premises(tmp_path), emit=rec) as s:
        s.execute("load esme 2")
        at = s.lab.sim.now() + timedelta(minutes=10)

        def ctrl_c(entry) -> bool:                 # as Ctrl-C at the prompt, mid-run
            if entry.at >= at:
                s.interrupt()
            return False

        s.lab.sim.add_breakpoint("ctrl-c", ctrl_c)
        s.execute("run 1d")
        s.lab.sim.remove_breakpoint("ctrl-c")
        stopped = (s.lab.sim.events_run, s.lab.sim.now())
        assert at <= stopped[1] < at + timedelta(minutes=1)
        assert rec.take()[-1] == f"interrupted at {stopped[1].isoformat()} (event {stopped[0]})"
        assert s.history[-1].cut == stopped[0]
        s.execute("snapshot here")
        first = _after(s, rec, ["run 1h", "print esme.registers"])
        s.execute("restore here")                  # replays `run 1d` cut where it was
        assert (s.lab.sim.events_run, s.lab.sim.now()) == stopped
        assert _after(s, rec, ["run 1h", "print esme.registers"]) == first
