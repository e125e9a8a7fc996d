"""The comms hub on a coordinator stick (han/radio/dongle.py, tools/lab/radio.py), tested
against the emulated EZSP stick (`smetslab ncp serve`, another process, as a real stick
would be) with unmodified bellows in between."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from boards.board import DEFAULT_PREMISES, DeviceType, load_premises
from han.radio.dongle import (
    INSTALL_CODES,
    LINK_KEYS,
    SE_ENDPOINTS,
    DongleError,
    DongleUnsupported,
    check_supports,
    parse_radio,
)
from tools.cli import main
from tools.lab.pki import CBKE_SUITE
from tools.lab.premises import Lab
from tools.lab.radio import RadioSession, WallClockSimulator, wall_start

ROOT = Path(__file__).resolve().parents[1]
LISTENING = re.compile(rb"listening on socket://127\.0\.0\.1:(\d+)")
BRING_UP = timedelta(minutes=10)


@pytest.fixture
def stick() -> Iterator[int]:
    """An emulated EZSP stick on the loopback UDP medium, in its own process; its port."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tools.cli", "ncp", "serve", "--protocol", "ezsp",
         "--listen", "127.0.0.1:0", "--medium", "udp"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = LISTENING.search(line)
        assert match, f"the emulated stick did not start: {line!r}"
        yield int(match.group(1))
    finally:
        process.terminate()
        process.wait(10)


def _wait(lab: Lab, done, limit: timedelta) -> bool:
    end = lab.sim.now() + limit
    while not done() and lab.sim.now() < end:
        lab.sim.run_for(timedelta(seconds=1))
    return done()


# -- without a stick ------------------------------------------------------------------------


def test_radio_paths_are_parsed_and_bad_ones_named() -> None:
    assert parse_radio("ezsp:/dev/ttyUSB0").path == "/dev/ttyUSB0"
    spec = parse_radio("znp:socket://192.168.1.20:6638")
    assert (spec.radio, spec.path) == ("znp", "socket://192.168.1.20:6638")
    assert parse_radio("/dev/ttyACM0", default_radio="deconz").radio == "deconz"
    for bad in ("ttyUSB0", "zwave:/dev/ttyUSB0", "ezsp:", "ezsp:socket://host",
                "ezsp:socket://:99999"):
        with pytest.raises(DongleError, match="--radio"):
            parse_radio(bad)


def test_libraries_that_cannot_be_a_gb_hub_are_refused_with_the_reason() -> None:
    check_supports(parse_radio("ezsp:/dev/ttyUSB0"), {INSTALL_CODES, SE_ENDPOINTS, LINK_KEYS})
    with pytest.raises(DongleUnsupported, match="ZiGate does not support joins with link"):
        check_supports(parse_radio("zigate:/dev/ttyUSB0"), {INSTALL_CODES})
    with pytest.raises(DongleUnsupported, match="register_joining_device"):
        check_supports(parse_radio("xbee:/dev/ttyUSB0"), {INSTALL_CODES, LINK_KEYS})
    check_supports(parse_radio("xbee:/dev/ttyUSB0"), {INSTALL_CODES})


def test_lab_refuses_a_stick_it_cannot_use_before_touching_it(capsys) -> None:
    assert main(["lab", "--radio", "zigate:/dev/ttyUSB0", "--for", "1m", "--quiet"]) == 2
    assert "ZiGate" in capsys.readouterr().err
    assert main(["lab", "--radio", "ezsp:/dev/ttyUSB0", "--demo", "--quiet"]) == 2
    assert "emulated stick" in capsys.readouterr().err
    assert main(["lab", "--radio", "ezsp:socket://127.0.0.1:9", "--speed", "10",
                 "--quiet"]) == 2
    assert "--speed" in capsys.readouterr().err
    assert main(["dongle", "info", "socket://127.0.0.1:9"]) == 2
    assert "no stick answered" in capsys.readouterr().err


def test_wall_clock_simulator_waits_for_events_and_skips_idle_gaps() -> None:
    wall = [0.0]
    pumped: list[float] = []

    def pump(seconds: float) -> None:
        pumped.append(seconds)
        wall[0] += seconds

    start = datetime(2026, 1, 1, tzinfo=UTC)
    sim = WallClockSimulator(start, 0, pump, monotonic=lambda: wall[0])
    ran: list[datetime] = []
    sim.schedule(lambda: ran.append(sim.now()), "a", after=timedelta(seconds=1))
    sim.schedule(lambda: ran.append(sim.now()), "b", after=timedelta(seconds=3))
    sim.run_for(timedelta(seconds=5))
    assert ran == [start + timedelta(seconds=1), start + timedelta(seconds=3)]
    assert sim.now() == start + timedelta(seconds=5)
    assert wall[0] == pytest.approx(5.0) and max(pumped) <= 0.02 + 1e-9
    # nothing in flight: the gap to the next event is skipped, not waited
    idle = WallClockSimulator(start, 0, pump, lambda: True, monotonic=lambda: wall[0])
    idle.schedule(lambda: ran.append(idle.now()), "c", after=timedelta(minutes=30))
    before = wall[0]
    idle.run_for(timedelta(hours=1))
    assert ran[-1] == start + timedelta(minutes=30)
    assert wall[0] == before and idle.skipped == timedelta(hours=1)


# -- over the emulated stick ----------------------------------------------------------------


def test_dongle_info_reports_the_stick_and_what_it_supports(stick: int, capsys) -> None:
    assert main(["dongle", "info", f"socket://127.0.0.1:{stick}", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["radio"] == "ezsp" and info["ezsp_version"] >= 8
    assert info["manufacturer"] == "smetslab" and info["firmware"]
    assert info["supports"]["install-code joining"] is True
    assert info["supports"]["APS link keys per partner (CBKE)"] is True
    assert info["se_certificates"] == []          # CBKE runs in software on this one


@pytest.mark.usefixtures("duis_matrix")
def test_hub_on_the_stick_admits_install_code_joins_serves_metering_and_recovers(
        stick: int) -> None:
    events: list[tuple[str, str]] = []
    radio = RadioSession(f"ezsp:socket://127.0.0.1:{stick}",
                         lambda kind, text: events.append((kind, text)), skip_idle=True)
    premises = load_premises(DEFAULT_PREMISES)
    lab = Lab(premises, start=wall_start(), seed=3, radio=radio,
              report=lambda kind, text: events.append((kind, text)))
    try:
        radio.start()
        radio.enrol_stick(lab.pki.zse_ca, [lab.han.chf_ke] + [
            d.ke for d in lab.han.devices.values() if d.local and d.ke], CBKE_SUITE)
        dongle = radio.dongle
        assert dongle is not None and dongle.connected
        lab.start()
        assert _wait(lab, lambda: lab.ready, BRING_UP), events
        # every emulated device joined through the stick with its install-code key ...
        joined = set(dongle.addresses.values())
        for board in premises.boards:
            if board.type in (DeviceType.GSME, DeviceType.PPMID, DeviceType.IHD):
                assert int.from_bytes(board.eui, "big") in joined
        # ... the Type 1 ones did CBKE with the hub through the stick's APS ...
        gsme = next(d for d in lab.han.devices.values() if d.board.type is DeviceType.GSME)
        assert gsme.cbke_key is not None and gsme.tunnel.tunnel_id is not None
        assert dongle.link_keys[gsme.eui] == gsme.cbke_key
        assert dongle.stats["link_key_installed"] >= 2
        # ... and the IHD reads the ESME's Metering from the stick's ESME endpoint
        ihd = next(d for d in lab.han.devices.values() if d.board.type is DeviceType.IHD)
        assert _wait(lab, lambda: ihd.ihd.reads > 0, timedelta(minutes=1))
        esme = next(iter(lab.esmes.values()))
        assert ihd.ihd.total_kwh is not None and ihd.ihd.total_kwh >= 0
        assert esme is not None
        # a device not in the device log is refused by the stick's trust centre
        from han.radio import Node
        stranger = Node(0x02534C00000000EE, lab.han.medium, lab.sim, name="STRANGER",
                        position=(2.0, 1.0, 0.0))
        outcome: list = []
        stranger.join(bytes(16), outcome.append)
        lab.sim.run_for(timedelta(seconds=5))
        assert outcome and outcome[0].name != "SUCCESS"
        # the serial link drops: the hub reconnects and the HAN carries on
        reads = ihd.ihd.reads
        gateway = dongle.app._ezsp._gw._obj           # bellows' UART gateway
        gateway._transport._transport.close()          # the TCP link under ASH, pulled
        assert _wait(lab, lambda: dongle.stats["reconnected"] >= 1, timedelta(minutes=2)), \
            (dict(dongle.stats), events[-5:])
        assert dongle.stats["connection_lost"] >= 1
        assert _wait(lab, lambda: ihd.ihd.reads > reads + 1, timedelta(minutes=1))
    finally:
        lab.close()
        radio.close()


@pytest.mark.slow
@pytest.mark.usefixtures("duis_matrix")
def test_demo_tour_runs_over_the_emulated_stick(stick: int) -> None:
    """The issue's acceptance: the --demo tour over `ncp serve --medium udp` exits 0."""
    result = subprocess.run(
        [sys.executable, "-m", "tools.cli", "lab", "--radio",
         f"ezsp:socket://127.0.0.1:{stick}", "--demo", "--quiet"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    steps = [line for line in result.stdout.splitlines() if re.match(r"\d+\. ", line)]
    assert len(steps) >= 12 and all(": OK (" in line for line in steps), steps
