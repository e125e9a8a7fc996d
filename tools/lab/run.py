"""`smetslab lab`: build the premises, run it for a virtual duration or against the wall
clock (with the DCC's HTTP API on localhost), and write what was asked for: the HAN
capture, the keys a sniffer needs, the WAN trace, the key store.

With --state DIR the devices' stores, the DCC's database and the lab's seed live in DIR,
so a second run resumes the same premises from where its meters last committed (the
HAN is formed afresh each run).
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
import threading
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from boards.board import DEFAULT_PREMISES, BoardError, DeviceType, Premises, load_premises
from boards.nvm import SqliteStore
from boards.simulator import SimulatorError, WallClockRunner
from firmware.esme.engine import MeterEngine
from firmware.esme.esme import EsmeError
from han.frames import PcapWriter
from tools.lab.pki import CBKE_SUITE, PkiError
from tools.lab.premises import Lab, store_name
from tools.lab.radio import DongleError, RadioSession
from tools.lab.status import Status, choose_mode

STATE_FILE = "lab.json"
WALL_SLICE = timedelta(milliseconds=100)   # wall time between HTTP turns
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class LabError(Exception):
    """An option or file the lab cannot use: says which and why."""


def parse_duration(text: str) -> timedelta:
    """'90s', '30m', '2h', '7d', '1w' -> a timedelta."""
    m = _DURATION.match(text.strip())
    if not m:
        raise LabError(f"--for {text!r}: expected a number and a unit s, m, h, d or w "
                       "(e.g. 2h, 7d)")
    return timedelta(**{_UNITS[m.group(2)]: float(m.group(1))})


@dataclass
class LabOptions:
    premises: Path = DEFAULT_PREMISES
    duration: timedelta | None = None
    speed: float = 1.0
    quiet: bool = False
    pcap: Path | None = None
    keys_out: Path | None = None
    keys_out_dir: Path | None = None
    trace: Path | None = None
    state: Path | None = None
    demo: bool = False
    seed: int | None = None
    keystore: Path | None = None
    radio: str | None = None          # RADIO:PATH of a coordinator stick (tools.lab.radio)


def _seed_and_start(options: LabOptions, premises: Premises) -> tuple[int, datetime]:
    """The seed and start time: from the state folder when resuming (the keys depend on
    the seed; the premises carries on where its meters last committed, as a meter does
    after a power cut), else the options and the wall clock."""
    now = datetime.now(UTC).replace(microsecond=0)
    if options.state is None:
        return options.seed or 0, now
    saved_file = options.state / STATE_FILE
    if not saved_file.exists():
        options.state.mkdir(parents=True, exist_ok=True)
        seed = options.seed or 0
        save_state(options.state, seed, now)
        return seed, now
    seed, start = resume_point(saved_file, premises)
    if options.seed is not None and options.seed != seed:
        raise LabError(f"--seed {options.seed}: the premises in {options.state} was made "
                       f"with seed {seed}")
    return seed, start


def resume_point(saved_file: Path, premises: Premises) -> tuple[int, datetime]:
    """The seed and the time a saved premises resumes at: where its meters last
    committed (as a meter carries on after a power cut), else where it stopped."""
    try:
        saved = json.loads(saved_file.read_text())
        seed = int(saved["seed"])
        stopped = datetime.fromisoformat(saved["virtual_time"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LabError(f"{saved_file}: not a lab state file ({exc})") from None
    committed = []
    for board in premises.of_type(DeviceType.ESME):
        path = saved_file.parent / store_name(board)
        if path.exists():
            with SqliteStore(path) as store:
                committed.append(MeterEngine.committed_time(store))
    committed = [t for t in committed if t is not None]
    return seed, min(committed) if committed else stopped


def save_state(folder: Path, seed: int, virtual_time: datetime) -> None:
    """Record a premises' seed and where it stopped, for `resume_point`."""
    (folder / STATE_FILE).write_text(json.dumps({"seed": seed,
                                                 "virtual_time": virtual_time.isoformat()}))


def run(options: LabOptions, stop: threading.Event | None = None) -> int:
    """Run the lab as `options` say; the exit status. A wall-clock run ends on Ctrl-C,
    SIGTERM or, for a program embedding the lab, when `stop` is set."""
    try:
        if options.duration is None and not options.demo and not options.speed >= 1:
            raise LabError(f"--speed {options.speed:g}: against the wall clock the lab runs "
                           "at real time (1) or faster")
        if options.radio is not None and options.demo and \
                not RadioSession.is_emulated(options.radio):
            raise LabError(f"--demo --radio {options.radio}: the tour needs the lab's "
                           "emulated devices, which reach only the emulated stick "
                           "(socket://127.0.0.1:PORT)")
        if options.radio is not None and options.speed != 1:
            raise LabError(f"--speed {options.speed:g}: with --radio the lab runs at the "
                           "stick's pace, real time (1)")
        premises = load_premises(options.premises)
        seed, start = _seed_and_start(options, premises)
        radio = RadioSession(options.radio, skip_idle=options.demo) \
            if options.radio is not None else None
    except (BoardError, LabError, DongleError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    status = Status(choose_mode(options.quiet, sys.stdout))
    with ExitStack() as stack:
        try:
            trace = stack.enter_context(options.trace.open("w")) if options.trace else None
            pcap = PcapWriter(stack.enter_context(options.pcap.open("wb"))) \
                if options.pcap else None
            if radio is not None:
                radio.report = status.event
                stack.callback(radio.close)
            lab = Lab(premises, start=start, seed=seed, state=options.state,
                      zaz1=options.keystore, report=status.event, trace=trace, radio=radio)
            stack.callback(lab.close)
            if radio is not None:
                radio.start()
                radio.enrol_stick(lab.pki.zse_ca, [lab.han.chf_ke] + [
                    d.ke for d in lab.han.devices.values() if d.local and d.ke], CBKE_SUITE)
        except (OSError, BoardError, PkiError, EsmeError, DongleError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        status.lab = lab
        if options.keys_out_dir is not None:   # at once: `smetslab send` signs with it
            _write_key_store(lab, options.keys_out_dir)
        if pcap is not None:
            lab.han.medium.add_tap(lambda stamp, channel, frame: pcap.write(stamp, frame))
        lab.start()
        try:
            if options.demo:
                from tools.lab.demo import run_demo
                code = run_demo(lab)
            elif options.duration is not None:
                lab.sim.run_for(options.duration)
                code = 0
            elif radio is not None:
                code = _wall_clock_radio(lab, radio, status, stop or threading.Event())
            else:
                code = _wall_clock(lab, status, options.speed, stop or threading.Event())
        except SimulatorError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if options.keys_out is not None:
            _write_han_keys(lab, options.keys_out)
        if options.state is not None:
            save_state(options.state, seed, lab.sim.now())
        status.say(status.summary())
        return code


def _write_han_keys(lab: Lab, path: Path) -> None:
    """The network key and every link key the run established (CBKE ones included)."""
    path.write_text(json.dumps({
        "network_key": lab.han.network_key.hex().upper(),
        "link_keys": [k.hex().upper() for k in lab.han.link_keys()]}, indent=2) + "\n")


def _write_key_store(lab: Lab, folder: Path) -> None:
    """Every device and remote-party key in the DCC Boxed layout, with roles.json."""
    lab.pki.keystore().write_dir(folder)
    (folder / "roles.json").write_text(json.dumps(lab.pki.roles(), indent=2) + "\n")


def _wall_clock(lab: Lab, status: Status, speed: float, stop: threading.Event) -> int:
    """Run against the wall clock until Ctrl-C (or SIGTERM), serving the DCC's HTTP API
    meanwhile."""
    runner = WallClockRunner(lab.sim, speed)

    async def main() -> None:
        try:
            from tools.headend.http import create_app, serve
        except ImportError:
            create_app = serve = None
        site = None
        if create_app is None:
            status.say("The DCC HTTP API is not available (tools.headend.http).")
        else:
            site, url = await serve(create_app(lab.wan.dcc))
            status.say(f"DCC API: {url}/api/v1/serviceS (serviceT, serviceD; poll "
                       f"{url}/api/v1/responses/<user EUI>)")
        try:
            with status:
                while not stop.is_set():
                    runner.run_for(WALL_SLICE * speed)
                    status.refresh()
                    await asyncio.sleep(0)
        finally:
            if site is not None:
                await site.cleanup()

    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if in_main_thread else None
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
    return 0


def _wall_clock_radio(lab: Lab, radio: RadioSession, status: Status,
                      stop: threading.Event) -> int:
    """As `_wall_clock`, on the stick's loop: the lab's clock pumps it while it waits."""
    from tools.headend.http import create_app, serve
    site, url = radio.loop.run_until_complete(serve(create_app(lab.wan.dcc)))
    status.say(f"DCC API: {url}/api/v1/serviceS (serviceT, serviceD; poll "
               f"{url}/api/v1/responses/<user EUI>)")
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if in_main_thread else None
    try:
        with status:
            while not stop.is_set():
                lab.sim.run_for(WALL_SLICE)
                status.refresh()
    except KeyboardInterrupt:
        pass
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
        radio.loop.run_until_complete(site.cleanup())
    return 0


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM stops the lab as Ctrl-C does: keys, capture and state are written."""
    raise KeyboardInterrupt
