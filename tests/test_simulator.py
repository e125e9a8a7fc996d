"""The deterministic simulator, the wall-clock runner and board / premises files."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from boards.board import (
    DEFAULT_PREMISES,
    BoardError,
    DeviceType,
    LoadProfile,
    Variant,
    load_board,
    load_premises,
)
from boards.nvm import SqliteStore
from boards.peripherals import (
    PeripheralError,
    VirtualBattery,
    VirtualButtons,
    VirtualContactor,
    VirtualDisplay,
    VirtualValve,
)
from boards.simulator import Simulator, SimulatorError, WallClockRunner
from firmware.core.hal import (
    Battery,
    Buttons,
    Clock,
    Display,
    Metrology,
    SupplyContactor,
    Valve,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
HALF_HOUR = timedelta(minutes=30)


class Meter:
    """A toy device driven only by the simulator: reads every half hour, jitters its
    alerts with the simulator's RNG, keeps its register in an SQLite store."""

    def __init__(self, sim: Simulator, store: SqliteStore | None = None) -> None:
        self.sim = sim
        self.store = store
        self.reads: list[datetime] = []
        self.total = 0
        sim.schedule(self.read, "esme.read", after=HALF_HOUR)

    def read(self) -> None:
        self.reads.append(self.sim.now())
        self.total += self.sim.random.randrange(1000)
        if self.store is not None:
            self.store.put("total", self.total)
        if self.sim.random.random() < 0.1:
            self.sim.schedule(lambda: None, "esme.alert",
                              after=timedelta(seconds=self.sim.random.randrange(60)))
        self.sim.schedule(self.read, "esme.read", after=HALF_HOUR)

    def snapshot(self):
        return (list(self.reads), self.total)

    def restore(self, state) -> None:
        self.reads, self.total = list(state[0]), state[1]


def run_machine(seed: int, days: int = 10) -> str:
    sim = Simulator(T0, seed)
    Meter(sim)
    sim.run_for(timedelta(days=days))
    return sim.trace_text()


def test_simulator_is_a_clock():
    assert isinstance(Simulator(T0), Clock)


def test_same_seed_same_trace_byte_for_byte():
    a, b = run_machine(7), run_machine(7)
    assert a.encode() == b.encode()
    assert "esme.alert" in a
    assert run_machine(8) != a


def test_equal_times_run_in_insertion_order():
    sim = Simulator(T0)
    order = []
    for name in "cab":
        sim.schedule(lambda n=name: order.append(n), name, at=T0 + HALF_HOUR)
    sim.schedule(lambda: order.append("early"), "early", after=timedelta(minutes=1))
    sim.run_until(T0 + HALF_HOUR)
    assert order == ["early", "c", "a", "b"]


def test_events_scheduled_now_by_a_callback_run_in_the_same_run():
    sim = Simulator(T0)
    order = []
    sim.schedule(lambda: sim.schedule(lambda: order.append("child"), "child",
                                      after=timedelta(0)), "parent", after=HALF_HOUR)
    sim.schedule(lambda: order.append("sibling"), "sibling", after=HALF_HOUR)
    sim.run_until(T0 + HALF_HOUR)
    assert order == ["sibling", "child"]


def test_run_until_runs_due_events_and_moves_the_clock():
    sim = Simulator(T0)
    for minutes in (10, 20, 30, 40):
        sim.schedule(lambda: None, f"e{minutes}", after=timedelta(minutes=minutes))
    result = sim.run_until(T0 + timedelta(minutes=30))  # inclusive of events at 30
    assert result.events == 3 and result.stopped_at is None
    assert sim.now() == T0 + timedelta(minutes=30)
    assert [t.name for t in sim.pending()] == ["e40"]
    assert sim.run_for(timedelta(minutes=5)).events == 0
    assert sim.now() == T0 + timedelta(minutes=35)
    with pytest.raises(SimulatorError, match="before now"):
        sim.run_until(T0)


def test_step_runs_exactly_n_events():
    sim = Simulator(T0)
    for minutes in (1, 2, 3):
        sim.schedule(lambda: None, f"e{minutes}", after=timedelta(minutes=minutes))
    assert [e.name for e in sim.step()] == ["e1"]
    assert sim.now() == T0 + timedelta(minutes=1)
    assert [e.name for e in sim.step(5)] == ["e2", "e3"]  # the queue ran dry
    assert sim.step() == [] and sim.next_time() is None


def test_cancel():
    sim = Simulator(T0)
    fired = []
    timer = sim.schedule(lambda: fired.append(1), "tariff.switch", after=HALF_HOUR)
    assert sim.cancel(timer) is True
    assert sim.cancel(timer) is False
    sim.run_for(timedelta(hours=1))
    assert fired == [] and sim.trace == []


def test_breakpoint_stops_run_and_resumes():
    sim = Simulator(T0, seed=3)
    Meter(sim)
    sim.add_breakpoint("alert", lambda entry: entry.name == "esme.alert")
    result = sim.run_for(timedelta(days=30))
    assert result.stopped_at is not None and result.stopped_at.name == "esme.alert"
    assert sim.now() == result.stopped_at.at < T0 + timedelta(days=30)
    sim.remove_breakpoint("alert")
    assert sim.run_until(T0 + timedelta(days=30)).stopped_at is None
    assert sim.now() == T0 + timedelta(days=30)
    with pytest.raises(SimulatorError, match="no breakpoint"):
        sim.remove_breakpoint("alert")


def test_snapshot_restore_replays_the_same_future():
    sim = Simulator(T0, seed=11)
    store = SqliteStore()
    meter = Meter(sim, store)
    sim.register("esme", meter)
    sim.register("esme.nvm", store)
    sim.run_for(timedelta(days=2))
    snap = sim.snapshot()
    total_then = store.get("total")
    sim.run_for(timedelta(days=3))
    first = (sim.trace_text(), meter.total, store.get("total"), sim.now())
    assert store.get("total") != total_then
    sim.restore(snap)
    assert store.get("total") == total_then and sim.now() == T0 + timedelta(days=2)
    sim.run_for(timedelta(days=3))
    assert (sim.trace_text(), meter.total, store.get("total"), sim.now()) == first
    with pytest.raises(SimulatorError, match="already registered"):
        sim.register("esme", meter)
    with pytest.raises(SimulatorError, match="no snapshot"):
        sim.register("x", object())


def test_timers_survive_a_restore():
    sim = Simulator(T0)
    fired = []
    timer = sim.schedule(lambda: fired.append(1), "t", after=HALF_HOUR)
    snap = sim.snapshot()
    sim.run_for(timedelta(hours=1))
    sim.restore(snap)
    assert sim.cancel(timer) is True
    sim.run_for(timedelta(hours=1))
    assert fired == [1]


@pytest.mark.parametrize("call, message", [
    (lambda s: s.schedule(print, "x"), "exactly one"),
    (lambda s: s.schedule(print, "x", at=T0, after=HALF_HOUR), "exactly one"),
    (lambda s: s.schedule(print, "x", at=datetime(2026, 1, 1)), "no time zone"),
    (lambda s: s.schedule(print, "x", at=T0 - HALF_HOUR), "before now"),
    (lambda s: s.schedule(print, "x", after=-HALF_HOUR), "non-negative"),
    (lambda s: s.schedule("print", "x", after=HALF_HOUR), "not callable"),
    (lambda s: s.step(-1), "negative"),
    (lambda s: s.run_for(5), "timedelta"),
])
def test_misuse_is_a_typed_error(call, message):
    with pytest.raises(SimulatorError, match=message):
        call(Simulator(T0))


def test_a_year_of_half_hourly_events():
    sim = Simulator(T0)
    count = 0

    def read() -> None:
        nonlocal count
        count += 1
        sim.schedule(read, "esme.read", after=HALF_HOUR)

    sim.schedule(read, "esme.read", after=HALF_HOUR)
    sim.run_until(T0 + timedelta(days=365))
    assert count == 17_520 == sim.events_run


def test_wall_clock_runner_keeps_pace():
    sim = Simulator(T0)
    seen = []

    def tick() -> None:
        seen.append((time.monotonic(), sim.now()))
        sim.schedule(tick, "tick", after=timedelta(seconds=5))

    sim.schedule(tick, "tick", after=timedelta(seconds=5))
    runner = WallClockRunner(sim, speed=100)
    start = time.monotonic()
    result = runner.run_for(timedelta(seconds=30))  # 0.3 s of wall time
    elapsed = time.monotonic() - start
    assert result.events == 6 and sim.now() == T0 + timedelta(seconds=30)
    assert elapsed >= 0.29  # paced by the wall clock, never ahead of it
    for wall, virtual in seen:  # no event ran before its scaled due time
        assert wall - start >= (virtual - T0).total_seconds() / 100 - 0.001
    with pytest.raises(SimulatorError, match="at least 1"):
        WallClockRunner(sim, speed=0.5)


def test_wall_clock_runner_with_a_fake_clock_and_a_breakpoint():
    now = [0.0]
    sleeps = []

    def sleep(seconds: float) -> None:
        sleeps.append(round(seconds, 6))
        now[0] += seconds

    sim = Simulator(T0)
    sim.schedule(lambda: None, "a", after=timedelta(seconds=10))
    sim.schedule(lambda: None, "b", after=timedelta(seconds=20))
    sim.add_breakpoint("b", lambda e: e.name == "b")
    result = WallClockRunner(sim, speed=2, monotonic=lambda: now[0], sleep=sleep) \
        .run_for(timedelta(seconds=60))
    assert sleeps == [5.0, 5.0] and result.stopped_at.name == "b"
    assert sim.now() == T0 + timedelta(seconds=20)


# board and premises files

def test_default_premises():
    premises = load_premises(DEFAULT_PREMISES)
    types = sorted(b.type.value for b in premises.boards)
    assert types == ["CHF", "ESME", "GPF", "GSME", "IHD", "PPMID"]
    esme = premises.board("esme")
    assert esme.variant is Variant.SINGLE_ELEMENT and esme.mpxn == "1200000000010"
    assert esme.eui_hex == "02534c0000000003"
    assert premises.board("ihd").keys is None
    assert premises.board("chf").keys.generate
    assert isinstance(esme.load, Metrology)
    assert len({b.eui for b in premises.boards}) == 6


def test_load_profile_energy():
    flat = LoadProfile((2.0,))
    assert flat.energy_kwh(T0, T0 + timedelta(days=365)) == pytest.approx(2.0 * 24 * 365)
    shape = LoadProfile(tuple(float(h) for h in range(24)))
    assert shape.active_power_kw(T0 + timedelta(hours=5, minutes=59)) == 5.0
    assert shape.energy_kwh(T0 + timedelta(hours=1, minutes=30),
                            T0 + timedelta(hours=3)) == pytest.approx(0.5 + 2.0)
    assert shape.energy_kwh(T0, T0 + timedelta(days=2, hours=1)) == pytest.approx(
        2 * sum(range(24)))
    with pytest.raises(ValueError, match="no time zone"):
        shape.energy_kwh(datetime(2026, 1, 1), datetime(2026, 1, 2))


def test_board_with_key_folder(tmp_path):
    keys = tmp_path / "keys"
    keys.mkdir()
    for usage in ("ds", "ka"):
        (keys / f"02534c0000000009-{usage}.key").write_text("")
    board_file = tmp_path / "meter.toml"
    board_file.write_text('type = "ESME"\neui = "02534C0000000009"\nvariant = "polyphase"\n'
                          '[keys]\ndir = "keys"\n[load]\nconstant_kw = 3\n')
    board = load_board(board_file)
    assert board.name == "meter" and board.type is DeviceType.ESME
    assert board.variant is Variant.POLYPHASE and board.keys.dir == keys
    (keys / "02534c0000000009-ka.key").unlink()
    with pytest.raises(BoardError, match=r"meter.toml: keys.dir: .*-ka.key"):
        load_board(board_file)


@pytest.mark.parametrize("text, key, problem", [
    ('eui = "02534c0000000001"', "type", "missing"),
    ('type = "WSME"\neui = "02534c0000000001"', "type", "not one of"),
    ('type = "ESME"\neui = "02534c00000001"', "eui", "not an EUI-64"),
    ('type = "ESME"\neui = 5', "eui", "expected a string"),
    ('type = "GSME"\neui = "02534c0000000001"\nvariant = "polyphase"', "variant", "only an ESME"),
    ('type = "ESME"\neui = "02534c0000000001"\nvariant = "triple"', "variant", "not one of"),
    ('type = "ESME"\neui = "02534c0000000001"\nmpxn = "1200000000011"', "mpxn", "check digit"),
    ('type = "GSME"\neui = "02534c0000000001"\nmpxn = "12a"', "mpxn", "MPRN"),
    ('type = "CHF"\neui = "02534c0000000001"\nmpxn = "123456"', "mpxn", "only an ESME"),
    ('type = "IHD"\neui = "02534c0000000001"\n[keys]\ngenerate = true', "keys", "Type 2"),
    ('type = "ESME"\neui = "02534c0000000001"\n[keys]\ndir = "nowhere"', "keys.dir", "no key folder"),
    ('type = "ESME"\neui = "02534c0000000001"\n[keys]\n', "keys", "either dir"),
    ('type = "ESME"\neui = "02534c0000000001"\n[load]\ndaily_kw = [1, 2]', "load.daily_kw", "24, 48 or 96"),
    ('type = "ESME"\neui = "02534c0000000001"\n[load]\nconstant_kw = -1', "load.constant_kw", "non-negative"),
    ('type = "PPMID"\neui = "02534c0000000001"\n[load]\nconstant_kw = 1', "load", "only an ESME or GSME"),
    ('type = "ESME"\neui = "02534c0000000001"\ncolour = "grey"', "colour", "unknown key"),
    ('type = "ESME"\neui = ', "", "not valid TOML"),
])
def test_board_file_errors_name_file_key_and_problem(tmp_path, text, key, problem):
    path = tmp_path / "bad.toml"
    path.write_text(text + "\n")
    with pytest.raises(BoardError) as info:
        load_board(path)
    error = info.value
    assert error.file == str(path) and error.key == key and problem in error.problem
    assert str(error).startswith(f"{path}: ")


def test_missing_board_file(tmp_path):
    with pytest.raises(BoardError, match="cannot read"):
        load_board(tmp_path / "absent.toml")


@pytest.mark.parametrize("text, key, problem", [
    ('[boards.a]\ntype = "GPF"\neui = "02534c0000000001"', "boards", "needs a CHF"),
    ('[boards.a]\ntype = "IHD"\neui = "02534c0000000001"\n[boards.b]\ntype = "CAD"\n'
     + 'eui = "02534c0000000001"', "boards.b.eui", "also board 'a'"),
    ('[boards.a]\ntype = "ESME"\neui = "02534c0000000001"\nvariant = 3', "boards.a.variant",
     "expected a string"),
    ('[boards.a]\nfile = "missing.toml"', "boards.a.file", "no board file"),
    ('name = "x"', "boards", "at least one"),
    ('nam = "x"\n[boards.a]\ntype = "IHD"\neui = "02534c0000000001"', "nam", "unknown key"),
])
def test_premises_errors(tmp_path, text, key, problem):
    path = tmp_path / "premises.toml"
    path.write_text(text + "\n")
    with pytest.raises(BoardError) as info:
        load_premises(path)
    assert info.value.key == key and problem in info.value.problem


def test_premises_with_board_files(tmp_path):
    (tmp_path / "ihd.toml").write_text('type = "IHD"\neui = "02-53-4C-00-00-00-00-0A"\n')
    (tmp_path / "premises.toml").write_text('[boards.kitchen]\nfile = "ihd.toml"\n')
    premises = load_premises(tmp_path / "premises.toml")
    assert premises.name == "premises"
    assert premises.board("kitchen").type is DeviceType.IHD
    assert premises.of_type(DeviceType.IHD) == [premises.board("kitchen")]


# the virtual board's peripherals

def test_peripherals_implement_the_hal_and_snapshot_with_the_machine():
    sim = Simulator(T0)
    contactor, valve = VirtualContactor(sim), VirtualValve(sim)
    display, buttons = VirtualDisplay(sim), VirtualButtons(sim, ["A", "B"])
    battery = VirtualBattery(sim, life=timedelta(days=3650))
    assert isinstance(contactor, SupplyContactor) and isinstance(valve, Valve)
    assert isinstance(display, Display) and isinstance(buttons, Buttons)
    assert isinstance(battery, Battery)
    for name, part in [("contactor", contactor), ("valve", valve), ("display", display),
                       ("buttons", buttons), ("battery", battery)]:
        sim.register(name, part)
    pressed = []
    buttons.on_press(pressed.append)
    snap = sim.snapshot()

    buttons.press("A", after=timedelta(minutes=5))
    sim.schedule(lambda: (contactor.set_closed(False), valve.set_open(False),
                          display.show(["Supply off", "Credit 0.00"]), battery.consume(0.1)),
                 "disconnect", after=timedelta(minutes=10))
    sim.run_for(timedelta(days=365))
    assert pressed == ["A"] and "button.A" in sim.trace_text()
    assert contactor.history == [(T0 + timedelta(minutes=10), False)]
    assert not contactor.closed and not valve.open
    assert display.lines == ("Supply off", "Credit 0.00")
    assert battery.level() == pytest.approx(1.0 - 365 / 3650 - 0.1)

    sim.restore(snap)
    assert contactor.closed and valve.open and contactor.history == []
    assert display.lines == () and buttons.presses == []
    assert battery.level() == 1.0 and sim.trace == []


def test_peripheral_misuse_is_a_typed_error():
    sim = Simulator(T0)
    with pytest.raises(PeripheralError, match="do not fit 2 rows"):
        VirtualDisplay(sim).show(["a", "b", "c"])
    with pytest.raises(PeripheralError, match="wider than 16"):
        VirtualDisplay(sim).show(["x" * 17])
    with pytest.raises(PeripheralError, match="no button 'C'"):
        VirtualButtons(sim, ["A", "B"]).press("C")
    with pytest.raises(PeripheralError, match="between 0 and 1"):
        VirtualBattery(sim, level=1.5)
    with pytest.raises(PeripheralError, match="negative"):
        VirtualBattery(sim).consume(-0.1)
