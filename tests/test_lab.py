"""`smetslab lab`: the embedded premises over the virtual HAN with the DCC. Two hours of
virtual time write a capture tshark decodes (joins, CBKE, tunnels carrying GBCS, metering
reads, zero malformed) and a WAN trace every message of which verifies with the keys
the lab writes; the demo's steps change the meter as they say; a gas read waits for the
GSME's wake and the GPF answers from the sync the GSME sends over the HAN; bad options
are errors naming the option, never tracebacks."""

from __future__ import annotations

import io
import json
import queue
import random
import re
import shutil
import subprocess
import threading
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import REFERENCE, need
from rich.console import Console

from boards.board import DEFAULT_PREMISES, load_premises
from boards.nvm import SqliteStore
from firmware.core.credentials import Role
from firmware.core.firmware_image import running_version
from firmware.core.gas import CURRENT_SUMMATION
from firmware.gsme.gsme import WAKE as GSME_WAKE
from gbcs import keystore as keystores
from gbcs.message import decode
from han.cbke.mmo import install_code_link_key
from tools.cli import main
from tools.headend.duis import DuisError, Element
from tools.lab import demo, gas
from tools.lab.premises import Lab
from tools.lab.run import LabError, LabOptions, parse_duration, run
from tools.lab.status import LINES, Status
from tools.lab.wan import DOWN, UP

START = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def two_hours(tmp_path_factory) -> Path:
    """The acceptance run, plus the WAN trace and the key store."""
    need(REFERENCE / "duis-request-matrix.json")
    folder = tmp_path_factory.mktemp("lab")
    code = main(["lab", "--for", "2h", "--pcap", str(folder / "han.pcap"),
                 "--keys-out", str(folder / "keys.json"), "--quiet",
                 "--trace", str(folder / "trace.jsonl"), "--keys-out-dir",
                 str(folder / "keys")])
    assert code == 0
    return folder


def test_keys_out_holds_the_network_key_and_every_link_key(two_hours):
    keys = json.loads((two_hours / "keys.json").read_text())
    assert set(keys) == {"network_key", "link_keys"}
    assert len(bytes.fromhex(keys["network_key"])) == 16
    # Four install-code keys (ESME, GSME, PPMID, IHD) and three CBKE keys.
    assert len(keys["link_keys"]) == len(set(keys["link_keys"])) == 7
    assert all(len(bytes.fromhex(k)) == 16 for k in keys["link_keys"])


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not on PATH")
def test_tshark_shows_joins_cbke_tunnels_and_metering_reads(two_hours):
    keys = json.loads((two_hours / "keys.json").read_text())
    options = []
    for i, key in enumerate([keys["network_key"], *keys["link_keys"]]):
        options += ["-o", f'uat:zigbee_pc_keys:"{key}","Normal","k{i}"']
    result = subprocess.run(["tshark", "-n", "-r", str(two_hours / "han.pcap"), *options,
                             "-V"], capture_output=True, text=True, timeout=300, check=True)
    out = result.stdout
    assert "Malformed" not in out and "Incorrect" not in out
    frames = out.count("FCS: ")
    assert frames > 5000 and out.count("(Correct)") == frames
    for expected in ("Association Response", "Command Identifier: Transport Key (0x05)",
                     "Device Announcement",
                     "Command: Initiate Key Establishment Request (0x00)",
                     "Command: Confirm Key Data Response (0x02)",
                     "Key Establishment Suite: Crypto Suite 2",
                     "Command: Request Tunnel Response (0x00)",
                     "Transfer data command: PUT (0x03)", "GBCS Message",
                     "Read Attributes Response", "Current Summation Delivered"):
        assert expected in out, expected
    # The IHD reads every 10 s: about 720 answers in two hours.
    assert out.count("Command: Read Attributes Response") >= 700


def test_every_traced_wan_message_verifies_with_the_keys_written(two_hours):
    store = keystores.load(two_hours / "keys")
    roles = json.loads((two_hours / "keys" / "roles.json").read_text())
    acb = bytes.fromhex(next(e for e, r in roles.items() if r == "accessControlBroker"))
    lines = [json.loads(line) for line in (two_hours / "trace.jsonl").read_text().splitlines()]
    # The Supplier's 4.1.1 every 30 minutes: 4 commands, 3 answered before the end.
    assert [line["direction"] for line in lines] == [DOWN, UP] * 3 + [DOWN]
    for line in lines:
        assert set(line) == {"time", "direction", "hex"}
        msg = decode(bytes.fromhex(line["hex"]), store, acb)
        assert msg.use_case.use_case == "ECS17b"
        assert msg.mac == "valid" and msg.signature in ("valid", "absent")


# -- the premises in a test --------------------------------------------------------------


@pytest.fixture(scope="module")
def lab() -> Lab:
    need(REFERENCE / "duis-request-matrix.json")
    events: list[tuple[str, str]] = []
    trace = io.StringIO()
    lab = Lab(load_premises(DEFAULT_PREMISES), start=START, seed=3,
              report=lambda kind, text: events.append((kind, text)), trace=trace)
    lab.events, lab.trace_text = events, trace
    lab.start()
    assert demo.bring_up(lab).ok
    lab.ready_at = lab.sim.now()
    yield lab
    lab.close()


def test_the_han_comes_up_in_seconds_of_virtual_time(lab):
    assert lab.ready and lab.ready_at - START < timedelta(seconds=10)
    han = lab.han
    for device in han.devices.values():
        assert device.node.joined
        assert device.node.link_keys[han.chf.eui64] == (device.cbke_key or device.link_key)
    assert {d.board.name for d in han.devices.values() if d.cbke_key} == {"esme", "gsme",
                                                                         "ppmid"}
    assert len(han.tunnels.tunnels) == 3
    assert not [e for e in lab.events if e[0] == "error" and "rejected" not in e[1]]


def test_the_ihd_shows_what_the_meter_measured(lab):
    lab.sim.run_for(timedelta(minutes=5))
    unit = next(iter(lab.esmes.values()))
    engine = unit.engine
    screen = next(d.ihd for d in lab.han.devices.values() if d.ihd is not None)
    assert screen.reads >= 30 and lab.sim.now() - screen.updated <= timedelta(seconds=10)
    assert screen.supply == "on"
    assert screen.power_kw == unit.board.load.active_power_kw(lab.sim.now()) == 0.25
    # A read is at most 10 s old: at 0.25 kW that is under a watt-hour.
    assert abs(screen.total_kwh * 1000 - engine.active_import_wh) <= 1
    assert screen.today_kwh == screen.total_kwh          # the meter was new at midnight


def test_demo_reads_tops_up_updates_the_tariff_joins_an_ihd_and_reads_later(lab):
    for step in (demo.read_registers, demo.read_device_log, demo.top_up, demo.tariff_update,
                 demo.join_ihd, demo.firmware_update, demo.future_dated_read):
        result = step(lab)
        assert result.ok, (step.__name__, result.detail)
    engine = next(iter(lab.esmes.values())).engine
    assert engine.meter_balance == demo.TOP_UP_PENCE * 1000
    assert engine.tariff.prices == (demo.TARIFF_PENCE * 1000,)
    new_ihd = lab.han.devices[demo.NEW_IHD_EUI]
    assert new_ihd.link_key == install_code_link_key(lab.pki.install_codes[demo.NEW_IHD_EUI])
    assert lab.hub.chf.device_log.find(demo.NEW_IHD_EUI) is not None
    # The CHF told the DCC its device log changed (CS14), over the WAN.
    sent = [decode(bytes.fromhex(json.loads(line)["hex"]), verify=False)
            for line in lab.trace_text.getvalue().splitlines()
            if json.loads(line)["direction"] == UP]
    assert any(m.use_case and m.use_case.use_case == "CS14" for m in sent)
    refused = [r for r in lab.wan.exchanges.values() if r.refused is not None]
    assert refused == []


def test_firmware_updates_are_refused_with_typed_duis_errors(lab):
    wan, eui = lab.wan, next(iter(lab.esmes))
    supplier = wan.users[Role.SUPPLIER]

    def update(image: str, version: str, devices: str) -> object:
        return wan.dcc.non_device(wan.request(Role.SUPPLIER, eui, "11.1", Element(
            "UpdateFirmware", children=(Element("FirmwareImage", image),
                                        Element("FirmwareVersion", version),
                                        Element("DeviceIDList", devices))),
            command_variant=8), supplier)
    for args, code, where in [(("!!", "01", "00-DB-12-34-56-78-90-A0"), None, "FirmwareImage"),
                              (("AAAA", "version", "00-DB-12-34-56-78-90-A0"), None,
                               "FirmwareVersion"),
                              (("AAAA", "01", "nobody"), None, "DeviceIDList"),
                              (("AAAA", "01", "00-DB-12-34-56-78-90-AF"), "E19", "RequestID")]:
        err = update(*args)
        assert isinstance(err, DuisError) and err.code == code and where in err.path, err
    assert lab.hub.chf.device_log.find(eui) is not None


def test_a_ppmid_firmware_update_is_activated_and_reported_to_the_supplier(lab):
    """11.4: the hub hands the image to the PPMID, which activates it (no CS06 for a
    PPMID) and sends CS09 (8F8B) with the version it runs; 11.1 to it is refused."""
    assert demo.bring_up(lab).ok
    wan = lab.wan
    ppmid = next(iter(lab.ppmids.values())).ppmid
    supplier = wan.users[Role.SUPPLIER]

    def update(srv: str, service: str) -> object:
        return wan.dcc.non_device(wan.request(Role.SUPPLIER, ppmid.eui, srv, Element(
            service, children=(Element("FirmwareImage", "c21ldHNsYWIgUFBNSUQ="),
                               Element("FirmwareVersion", "02000000"),
                               Element("DeviceIDList", demo._text(ppmid.eui)))),
            command_variant=8), supplier)
    refused = update("11.1", "UpdateFirmware")
    assert isinstance(refused, DuisError) and refused.code == "E11"
    seen = len(wan.alerts)
    assert update("11.4", "UpdatePPMIDFirmware").code == "I99"
    assert demo._wait(lab, lambda: any(a.alert_code == 0x8F8B and user == supplier.eui
                                       for user, a in wan.alerts[seen:]),
                      timedelta(minutes=5))
    assert running_version(ppmid) == bytes.fromhex("02000000")


def test_a_replayed_command_is_refused_by_the_meter_and_changes_nothing(lab):
    eui = next(iter(lab.esmes))
    assert demo.read_registers(lab).ok
    engine = lab.esmes[eui].engine
    before = (engine.meter_balance, lab.stores[eui].entries("security"))
    sent = [json.loads(line) for line in lab.trace_text.getvalue().splitlines()]
    last_command = next(line for line in reversed(sent) if line["direction"] == DOWN)
    assert lab.han.send_to_device(eui, bytes.fromhex(last_command["hex"]))
    lab.sim.run_for(timedelta(seconds=5))
    assert engine.meter_balance == before[0]
    assert len(lab.stores[eui].entries("security")) == len(before[1]) + 1
    assert any(kind == "error" and "rejected" in text for kind, text in lab.events)


def test_the_status_screen_renders_devices_and_the_ihd(lab):
    lab.sim.run_for(timedelta(seconds=15))       # an IHD read or two
    status = Status(LINES)
    status.lab = lab
    console = Console(record=True, width=120)
    console.print(status.render())
    text = console.export_text()
    for expected in ("esme", "ESME", "02534C0000000003", "ready", "enabled", "screen"):
        assert expected in text
    assert "kWh" in status.summary()


# -- options -------------------------------------------------------------------------------


def test_durations():
    assert parse_duration("2h") == timedelta(hours=2)
    assert parse_duration("7d") == timedelta(days=7)
    assert parse_duration("90s") == timedelta(seconds=90)
    for bad in ("2", "h", "2 hours", "-1h", ""):
        with pytest.raises(LabError):
            parse_duration(bad)


@pytest.mark.parametrize("argv, message", [
    (["--for", "two hours"], "--for 'two hours'"),
    (["--premises", "/nonexistent/premises.toml"], "cannot read"),
    (["--speed", "0.5"], "--speed 0.5"),
])
def test_bad_options_are_errors_naming_them(argv, message, capsys, tmp_path):
    need(REFERENCE / "duis-request-matrix.json")
    assert main(["lab", "--quiet", *argv]) == 2
    assert message in capsys.readouterr().err


def test_a_bad_premises_file_names_the_key(tmp_path, capsys):
    bad = tmp_path / "p.toml"
    bad.write_text('[boards.esme]\ntype = "ESME"\neui = "nope"\n')
    assert main(["lab", "--for", "1m", "--premises", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "boards.esme.eui" in err and "not an EUI-64" in err
    bad.write_text('[boards.esme]\ntype = "ESME"\neui = "02-53-4C-00-00-00-00-03"\n')
    assert main(["lab", "--for", "1m", "--premises", str(bad)]) == 2
    assert "the lab needs one CHF" in capsys.readouterr().err


def test_against_the_wall_clock_the_dcc_api_reaches_the_meter(monkeypatch, tmp_path):
    """`smetslab lab --speed 20`: a User POSTs 4.1.1 to the DCC API and polls the meter's
    answer; then the lab is stopped (as Ctrl-C stops it) and still writes its keys."""
    need(REFERENCE / "duis-request-matrix.json")
    said: queue.Queue[str] = queue.Queue()
    monkeypatch.setattr(Status, "say", lambda self, text: said.put(text))
    supplier, esme = "02-53-4C-A0-00-00-00-02", "02-53-4C-00-00-00-00-03"
    request = f"""<?xml version="1.0" encoding="UTF-8"?>
<sr:Request xmlns:sr="http://www.dccinterface.co.uk/ServiceUserGateway" schemaVersion="5.4">
<sr:Header><sr:RequestID>{supplier}:{esme}:77</sr:RequestID>
<sr:CommandVariant>1</sr:CommandVariant><sr:ServiceReference>4.1</sr:ServiceReference>
<sr:ServiceReferenceVariant>4.1.1</sr:ServiceReferenceVariant></sr:Header>
<sr:Body><sr:ReadInstantaneousImportRegisters/></sr:Body></sr:Request>""".encode()
    answers: list[str] = []
    stop = threading.Event()

    def user() -> None:
        try:
            url = re.search(r"http://[0-9.:]+", said.get(timeout=120)).group(0)
            post = urllib.request.Request(f"{url}/api/v1/serviceS", data=request,
                                          headers={"Content-Type": "application/xml"})
            answers.append(urllib.request.urlopen(post, timeout=60).read().decode())
            for _ in range(600):           # the meter answers within a virtual second
                stop.wait(0.2)
                polled = urllib.request.urlopen(f"{url}/api/v1/responses/{supplier}",
                                                timeout=60).read().decode()
                if "GBCSPayload" in polled:
                    answers.append(polled)
                    break
        finally:
            stop.set()

    thread = threading.Thread(target=user)
    thread.start()
    code = run(LabOptions(speed=20, quiet=True, keys_out=tmp_path / "keys.json"), stop)
    thread.join()
    assert code == 0 and (tmp_path / "keys.json").exists()
    assert len(answers) == 2
    assert "<sr:ResponseCode>I99</sr:ResponseCode>" in answers[0]
    assert "<sr:ResponseCode>I0</sr:ResponseCode>" in answers[1]


def test_a_seed_gives_the_same_keys_and_the_state_folder_resumes(tmp_path, capsys):
    need(REFERENCE / "duis-request-matrix.json")
    for run_name in ("a", "b"):
        assert main(["lab", "--for", "1m", "--quiet", "--seed", "5", "--keys-out",
                     str(tmp_path / f"{run_name}.json")]) == 0
    assert (tmp_path / "a.json").read_text() == (tmp_path / "b.json").read_text()
    state = tmp_path / "state"
    assert main(["lab", "--for", "31m", "--quiet", "--seed", "5", "--state",
                 str(state)]) == 0
    saved = json.loads((state / "lab.json").read_text())
    assert saved["seed"] == 5 and datetime.fromisoformat(saved["virtual_time"])
    assert {p.name for p in state.iterdir()} >= {"dcc.sqlite", "02534c0000000003.sqlite"}
    # Resumed: the same keys, the meter's and the DCC's counters carry on, no refusals.
    capsys.readouterr()
    assert main(["lab", "--for", "31m", "--quiet", "--state", str(state)]) == 0
    assert capsys.readouterr().err == ""
    with SqliteStore(state / "02534c0000000003.sqlite") as store:
        assert store.entries("security") == []
        assert store.highest(bytes.fromhex("02534CA000000002")) >= 2
    assert main(["lab", "--for", "1m", "--quiet", "--seed", "6", "--state", str(state)]) == 2
    assert "made with seed 5" in capsys.readouterr().err


# -- the gas meter and the GPF -----------------------------------------------------------


def _gas(lab: Lab) -> tuple[bytes, object]:
    eui = next(iter(lab.gsmes))
    return eui, lab.gsmes[eui].gsme


def test_a_gas_read_is_held_by_the_chf_until_the_gsme_wakes_then_answered(lab):
    eui, gsme = _gas(lab)
    wan = lab.wan
    exchange = wan.submit(Role.SUPPLIER, wan.request(
        Role.SUPPLIER, eui, "4.1.1", Element("ReadInstantaneousImportRegisters")))
    assert exchange.refused is None
    node_eui = int.from_bytes(eui, "big")
    assert len(lab.han.tunnels.queues[node_eui]) == 1          # queued at the hub
    now = lab.sim.now()
    wake = now.replace(minute=now.minute // 30 * 30, second=0, microsecond=0) + GSME_WAKE
    lab.sim.run_until(wake - timedelta(seconds=1))   # the GSME wakes on the half hour
    assert exchange.response is None and len(lab.han.tunnels.queues[node_eui]) == 1
    result = demo._answered(lab, exchange, GSME_WAKE)
    assert result.ok, result.detail
    assert "GCS13a" in result.detail and not lab.han.tunnels.queues[node_eui]
    assert exchange.response.response_datetime >= lab.gsme_woke[eui]
    assert demo._summation(lab, exchange) == gsme.data.get(CURRENT_SUMMATION) > 0
    # Through the demo's step too: held, then answered at the wake.
    step = demo.read_gas_meter(lab)
    assert step.ok, step.detail


def test_the_gpf_answers_a_read_for_the_gsme_from_the_sync_it_got_over_the_han(lab):
    eui, gsme = _gas(lab)
    lab.sim.run_for(GSME_WAKE)                                  # one more wake and sync
    assert lab.gpf.last_sync() == lab.gsme_woke[eui]
    assert lab.gpf.data.get(CURRENT_SUMMATION) == gsme.data.get(CURRENT_SUMMATION) > 0
    assert lab.han.chf.stats["gpf_sync_refused"] == 0
    trace_before = lab.wan.trace.count
    result = demo.read_gpf(lab)
    assert result.ok, result.detail
    # The GPF is in the hub: the read is answered without waiting for the GSME.
    sent = [json.loads(line) for line in lab.trace_text.getvalue().splitlines()]
    down, up = sent[trace_before:trace_before + 2]
    assert (down["direction"], up["direction"]) == (DOWN, UP)
    assert decode(bytes.fromhex(up["hex"]), verify=False).header.originator == lab.gpf.eui
    assert datetime.fromisoformat(up["time"]) - datetime.fromisoformat(down["time"]) \
        < timedelta(seconds=1)


def test_a_sync_frame_from_a_device_that_is_not_a_gsme_is_refused(lab):
    esme = lab.han.devices[next(iter(lab.esmes))]
    before = lab.gpf.last_sync()
    frame = gas.encode_sync({"at": 0, "attributes": {}, "logs": {}, "tap_off": []}, 1)
    esme.node.send_data(0x0000, 1, gas.MIRROR_SYNC, frame)
    lab.sim.run_for(timedelta(seconds=2))
    assert lab.han.chf.stats["gpf_sync_refused"] == 1
    assert lab.gpf.last_sync() == before


def test_sync_frames_round_trip_and_bad_ones_name_the_field():
    update = {"at": 1, "attributes": {"0702/0000": 5}, "logs": {"profile": [[0, b"\x01"]]},
              "tap_off": []}
    frame = gas.encode_sync(update, 7)
    assert gas.decode_sync(frame) == update
    cases = [(frame[:3], "header", 3), (b"\x11" + frame[1:], "frame control", 0),
             (frame[:1] + b"\x00\x00" + frame[3:], "manufacturer code", 1),
             (frame[:4] + b"\x01" + frame[5:], "command", 4),
             (frame[:5] + b"not deflated", "payload", 5)]
    for bad, field, offset in cases:
        with pytest.raises(gas.SyncFrameError) as err:
            gas.decode_sync(bad)
        assert (err.value.field, err.value.offset) == (field, offset)
    with pytest.raises(gas.SyncFrameError, match="payload"):
        gas.encode_sync({"logs": {"x": [random.Random(0).randbytes(4000)]}}, 1)
