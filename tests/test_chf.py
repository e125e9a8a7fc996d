"""The Communications Hub Function (firmware.chf): RTDS CCS / DBCH commands re-MAC'd
for a CHF with keys made here, the device log (add, remove, back up, restore on a
replacement hub), routing to HAN devices, sub GHz configuration and channel log, the HAN
time source, and mains power loss with the 3-minute rule."""

from __future__ import annotations

import datetime as _dt

import pytest

from boards.nvm import SqliteStore
from boards.simulator import Simulator
from firmware.chf.chf import Chf, ChfError
from firmware.chf.cosem import (
    CHANNEL_LOG, DATA, DEVICE_LOG, OPERATING_CHANNEL, PROFILE_GENERIC, SUB_GHZ_CONFIGURATION,
    ZIGBEE_NETWORK_CONTROL, unix2000,
)
from firmware.chf.device_log import CAPACITY, INSTALL_CODE, LINK_KEY, HanStats, LogEntry
from firmware.chf.power import POWER_OUTAGE, POWER_RESTORED
from firmware.core.credentials import DeviceCredentials
from gbcs import asn1, dlms
from gbcs.axdr import (
    ARRAY, BIT_STRING, BOOLEAN, DOUBLE_LONG_UNSIGNED, ENUM, INTEGER, LONG_UNSIGNED,
    OCTET_STRING, STRUCTURE, UNSIGNED, axdr_value, data_node,
)
from gbcs.build import build_message
from gbcs.keystore import KA as KS_KA
from gbcs.message import DecodedMessage, decode
from gbcs.node import Node
from han.cbke.mmo import install_code_link_key
from han.crc import crc16_x25
from tests.conftest import RTDS, need
from tests.test_credentials_ops import (  # noqa: F401 - replay is a fixture
    cases, check_answer, expected, got, replay, send,
)
from tools.conformance import Case, Replay, _specs, compare

CHF_EUI = bytes.fromhex("00DB1234567890A2")
ACB = bytes.fromhex("90B3D51F30000002")
ESME = bytes.fromhex("00DB1234567890A0")
GSME = bytes.fromhex("00DB1234567890A1")
START = _dt.datetime(2015, 1, 1, tzinfo=_dt.UTC)
CONFIG_TYPES = (BIT_STRING,) * 4 + (LONG_UNSIGNED, LONG_UNSIGNED, UNSIGNED, LONG_UNSIGNED,
                                    UNSIGNED, UNSIGNED, LONG_UNSIGNED, UNSIGNED,
                                    LONG_UNSIGNED, LONG_UNSIGNED, LONG_UNSIGNED)


def configuration(n: int) -> Node:
    """A sub GHz configuration: channel masks with the low bits of n set, parameters n."""
    values = [format(n, "032b") if t == BIT_STRING else n for t in CONFIG_TYPES]
    return data_node("", [data_node("", v, t) for v, t in zip(values, CONFIG_TYPES)],
                     STRUCTURE)


def chf(replay: Replay, *, store=None, clock=None, routed=None, wan=None) -> Chf:
    ds, ka = replay.device_keys(CHF_EUI)
    return Chf(DeviceCredentials(CHF_EUI, ds, ka), replay.parties.anchors({ACB}),
               store or SqliteStore(), clock or Simulator(START, keep_trace=False),
               sub_ghz_configuration=configuration(1),
               route=(lambda eui, data: routed.append((eui, data))) if routed is not None
               else None, wan=wan.append if wan is not None else None)


def command(replay: Replay, hub: Chf, code: int, request: Node, counter: int) -> bytes:
    keys = replay.parties.keystore
    return build_message(cra=1, originator_counter=counter, originator=ACB, recipient=hub.eui,
                         message_code=code, content=request,
                         mac_keys=(keys.private_keys(ACB, KS_KA)[0],
                                   hub.credentials.ka.public_key()))


def access(replay: Replay, hub: Chf, code: int, items: list[tuple], counter: int
           ) -> tuple[DecodedMessage, list[DecodedMessage]]:
    sent = hub.receive(command(replay, hub, code, dlms.access_request(items, counter),
                               counter))
    assert sent, hub.store.entries("event")[-1:] or hub.store.entries("security")[-1:]
    return got(replay, sent[0]), [got(replay, a) for a in sent[1:]]


def results(msg: DecodedMessage) -> list[str]:
    d = next(n for n in msg.tree.walk() if n.name == "dlms")
    return [r.children[0].human for r in d["access_response_specification"].children]


def data(msg: DecodedMessage) -> list[Node]:
    d = next(n for n in msg.tree.walk() if n.name == "dlms")
    return d["access_response_list_of_data"].children


def register(eui: bytes, device_type: int, secret: bytes, kind: int) -> tuple:
    return ("action", ZIGBEE_NETWORK_CONTROL, DEVICE_LOG, 1, data_node("", [
        data_node("", eui, OCTET_STRING), data_node("", device_type, ENUM),
        data_node("", secret, OCTET_STRING), data_node("", kind, ENUM)], STRUCTURE))


def unregister(eui: bytes) -> tuple:
    return ("action", ZIGBEE_NETWORK_CONTROL, DEVICE_LOG, 2, data_node("", eui, OCTET_STRING))


BACKUP = ("action", ZIGBEE_NETWORK_CONTROL, DEVICE_LOG, 4, None)
ACTIVE = ("get", ZIGBEE_NETWORK_CONTROL, DEVICE_LOG, 4, None)
ESME_KEY = bytes(range(16))
GSME_CODE = bytes.fromhex("83FED3407A939723A5C639B26916D5")[:12]


# -- RTDS ---------------------------------------------------------------------------------


def _arrange(hub: Chf, case: Case, exp: DecodedMessage) -> None:
    """The hub state the RTDS case assumes: the devices its command or response names in
    the log (with HAN statistics), the fault its ERROR response reports."""
    for node in [*case.message.tree.walk(), *exp.tree.walk()]:
        if node.kind == "axdr.octet-string" and len(node.value) == 8 and \
                node.value[:2] == CHF_EUI[:2] and node.value != CHF_EUI:
            if hub.device_log.find(node.value) is None:
                hub.device_log.add(LogEntry(node.value, 1, bytes(16), LINK_KEY))
                hub.han_report(node.value, HanStats(
                    "11001000", (-35, -50, -100), (2, 39, 247), START, 1, 0, (100, 1, 1)))
    hub.sub_ghz_channel_changed("1" * 3 + "0" * 29, 36646, b"\x09\x01\x00")
    d = next(n for n in exp.tree.walk() if n.name == "dlms")
    for i, result in enumerate(d["access_response_specification"].children):
        if case.error and result.children[0].value == 1:
            spec = _specs(case.message)[i]
            class_id, obis, ident = (c.value for c in spec.children[0].children)
            hub.faults.add((class_id, bytes(obis), ident, spec.kind == "dlms.action"))
    hub.take_alerts()


@pytest.mark.parametrize("folder", [
    "8.11_CCS01", "8.11_CCS02", "8.12.1_CCS03", "8.9_CCS05CCS04", "8.9_CCS06", "8.9_CCS07",
    "6.31_DBCH01", "6.32_DBCH02", "6.30_DBCH03", "6.28_DBCH04"])
def test_rtds_ccs_and_dbch_cases(replay, folder):
    for label, case in cases(folder).items():
        hub = chf(replay, clock=Simulator(START + _dt.timedelta(days=1)))
        exp = expected(replay, case.expected)
        _arrange(hub, case, exp)
        sent = send(replay, hub, case)
        assert sent, hub.store.entries("event")[-1:]
        mine = got(replay, sent[0])
        assert compare(exp, mine) == [], case.name
        for alert_raw in case.alerts:  # DBCH04: the configuration changed alert
            alert = expected(replay, alert_raw)
            match = [got(replay, a) for a in sent[1:]
                     if decode(a, verify=False).header.message_code
                     == alert.header.message_code]
            assert match and compare(alert, match[0]) == []


def test_rtds_core_commands_on_the_chf(replay):
    """CS02a (the signed variant, sent to the hub) runs in the core handlers."""
    for label, case in cases("NA_CS02aSignature").items():
        if case.message.header.recipient != CHF_EUI:
            continue
        hub = chf(replay)
        check_answer(replay, case, send(replay, hub, case))


def test_rtds_alert_shapes(replay):
    """The hub's CS14, DBCH07 and DBCH09 alerts have the RTDS alerts' structure."""
    hub = chf(replay)
    hub.device_log.add(LogEntry(ESME, 1, ESME_KEY, LINK_KEY))
    hub.sub_ghz_channel_changed("1" * 3 + "0" * 28 + "1", 10, b"\x00")
    hub.dlms_alert(0x0113, 0x8F2A, hub.sub_ghz.configuration())
    hub.firmware_transferred(ESME, b"\x01\x02\x03\x04", 0)
    sent = {decode(a, verify=False).header.message_code: got(replay, a)
            for a in hub.take_alerts()}
    for folder, code in (("NA_CS14", 0x0018), ("NA_DBCH07", 0x0111),
                         ("6.28_DBCH04", 0x0113), ("NA_CCS08", 0x0128)):
        path = need_alert(folder)
        rtds = expected(replay, bytes.fromhex("".join(path.read_text().split())))
        assert compare(rtds, sent[code]) == [], folder
        assert sent[code].signature in ("valid", "absent") and sent[code].mac in (
            "valid", "absent")
    transfer = next(n for n in sent[0x0128].tree.walk() if n.name == "asn1")
    assert [c.name for c in transfer.children[0].children] == [
        "alert_code", "execution_date_time", "entity_id", "firmware_version",
        "firmware_transfer_response_code"]


def need_alert(folder: str):
    return next(need(RTDS / folder).glob("*ALERT*_GBCS.HEX"))


# -- the device log -----------------------------------------------------------------------


def test_device_log_add_remove_backup_and_restore_on_a_replacement_hub(replay):
    changes = []
    hub = chf(replay)
    hub._on_device_log_change = changes.append
    msg, alerts = access(replay, hub, 0x0001, [
        register(ESME, 1, ESME_KEY, LINK_KEY), register(GSME, 0, GSME_CODE, INSTALL_CODE),
        ("set", ZIGBEE_NETWORK_CONTROL, DEVICE_LOG, 3, data_node("", 90, LONG_UNSIGNED)),
        ("set", ZIGBEE_NETWORK_CONTROL, DEVICE_LOG, 2, data_node("", True, BOOLEAN))], 100)
    assert results(msg) == ["success"] * 4
    assert [e.eui for e in changes[-1]] == [ESME, GSME]
    assert [a.header.message_code for a in alerts] == [0x0018, 0x0018]  # CS14, per change

    msg, _ = access(replay, hub, 0x00FE, [BACKUP], 101)
    pan_time, pan_id, devices = data(msg)[0].children
    keys = {axdr_value(d.children[0]): axdr_value(d.children[1]) for d in devices.children}
    code_with_crc = GSME_CODE + crc16_x25(GSME_CODE).to_bytes(2, "little")
    assert keys == {ESME: ESME_KEY, GSME: install_code_link_key(code_with_crc)}
    assert axdr_value(pan_id) == CHF_EUI

    msg, alerts = access(replay, hub, 0x0002, [unregister(GSME)], 102)
    assert results(msg) == ["success"] and [e.eui for e in hub.device_log.entries()] == [ESME]
    msg, alerts = access(replay, hub, 0x0002, [unregister(GSME)], 103)
    assert results(msg) == ["other-reason"] and alerts == []  # not in the log: unchanged

    # a replacement hub restores the old hub's backup: same devices, same link keys
    new = chf(replay)
    restore = ("action", ZIGBEE_NETWORK_CONTROL, DEVICE_LOG, 5, data_node("", [
        data_node("", pan_id.value, OCTET_STRING), data_node("", list(devices.children),
                                                              ARRAY)], STRUCTURE))
    msg, alerts = access(replay, new, 0x0003, [restore], 104)
    assert results(msg) == ["success"]
    msg, _ = access(replay, new, 0x00FE, [BACKUP], 105)
    restored = {axdr_value(d.children[0]): axdr_value(d.children[1])
                for d in data(msg)[0].children[2].children}
    assert restored == keys and axdr_value(data(msg)[0].children[1]) == CHF_EUI


def test_device_log_refuses_bad_entries_and_a_full_log(replay):
    hub = chf(replay)
    msg, _ = access(replay, hub, 0x0001, [register(ESME, 1, b"\x01\x02\x03", INSTALL_CODE)], 1)
    assert results(msg) == ["other-reason"]  # no valid install code length
    msg, _ = access(replay, hub, 0x0001, [("action", ZIGBEE_NETWORK_CONTROL, DEVICE_LOG, 1,
                                           data_node("", ESME, OCTET_STRING))], 2)
    assert results(msg) == ["type-unmatched"]
    for i in range(CAPACITY):
        hub.device_log.add(LogEntry(bytes(7) + bytes([i]), 6, ESME_KEY, LINK_KEY))
    msg, _ = access(replay, hub, 0x0001, [register(ESME, 1, ESME_KEY, LINK_KEY)], 3)
    assert results(msg) == ["other-reason"] and hub.device_log.find(ESME) is None


def test_active_devices_report_the_han_statistics(replay):
    hub = chf(replay)
    hub.device_log.add(LogEntry(ESME, 1, ESME_KEY, LINK_KEY))
    hub.device_log.add(LogEntry(GSME, 0, ESME_KEY, LINK_KEY))
    heard = START + _dt.timedelta(minutes=5)
    hub.han_report(ESME, HanStats("10000000", (-30, -40, -50), (250, 200, 150), heard, 2, 3,
                                  (90, 10, 0)))
    msg, _ = access(replay, hub, 0x010F, [ACTIVE], 10)
    esme, gsme = data(msg)[0].children
    values = axdr_value(esme)
    assert values[0] == ESME and values[2:5] == [-30, -40, -50] and values[9:11] == [2, 3]
    assert [c.kind for c in esme.children][2] == "axdr.integer"
    assert axdr_value(gsme)[8] == bytes.fromhex("FFFFFFFFFFFFFFFFFF8000FF")  # never heard
    with pytest.raises(ValueError, match="not in the device log"):
        hub.han_report(bytes(8), HanStats())


def test_messages_for_logged_devices_are_routed_others_dropped(replay):
    routed: list = []
    hub = chf(replay, routed=routed)
    hub.device_log.add(LogEntry(ESME, 1, ESME_KEY, LINK_KEY))
    hub.take_alerts()
    keys = replay.parties.keystore
    esme_ka = replay.device_keys(ESME)[1].public_key()
    for_esme = build_message(cra=1, originator_counter=5, originator=ACB, recipient=ESME,
                             message_code=0x0013, content=asn1.read_device_join_details_command(),
                             mac_keys=(keys.private_keys(ACB, KS_KA)[0], esme_ka))
    assert hub.deliver(for_esme) == [] and routed == [(ESME, for_esme)]
    stranger = for_esme.replace(ESME, bytes(8))
    assert hub.deliver(stranger) == [] and len(routed) == 1
    assert hub.store.entries("event")[-1].value["event"] == "undeliverable"
    own = command(replay, hub, 0x010A, dlms.get_request([(DATA, OPERATING_CHANNEL, 2)], 6), 6)
    assert len(hub.deliver(own)) == 1
    unwired = chf(replay)
    unwired.device_log.add(LogEntry(ESME, 1, ESME_KEY, LINK_KEY))
    with pytest.raises(ChfError, match="no HAN route"):
        unwired.deliver(for_esme)


# -- sub GHz ------------------------------------------------------------------------------


def test_sub_ghz_configuration_channel_and_log(replay):
    clock = Simulator(START)
    hub = chf(replay, clock=clock)
    msg, alerts = access(replay, hub, 0x010D, [("set", DATA, SUB_GHZ_CONFIGURATION, 2,
                                                configuration(7))], 20)
    assert results(msg) == ["success"]
    assert [a.header.message_code for a in alerts] == [0x0113]
    msg, _ = access(replay, hub, 0x010C, [("get", DATA, SUB_GHZ_CONFIGURATION, 2, None)], 21)
    assert axdr_value(data(msg)[0])[4:] == [7] * 11

    wrong = data_node("", [data_node("", 1, UNSIGNED)], STRUCTURE)
    msg, alerts = access(replay, hub, 0x010D, [("set", DATA, SUB_GHZ_CONFIGURATION, 2,
                                                wrong)], 22)
    assert results(msg) == ["type-unmatched"] and alerts == []

    times = []
    for n, mask in enumerate(("1" * 32, "0" * 31 + "1", "01" * 16)):
        clock.run_until(START + _dt.timedelta(hours=n + 1))
        hub.sub_ghz_channel_changed(mask, 100 + n, b"\x00\x00\x01")
        times.append(unix2000(clock.now()))
    assert [m.header.message_code for m in map(lambda a: got(replay, a), hub.take_alerts())] \
        == [0x0111] * 3
    msg, _ = access(replay, hub, 0x010A, [("get", DATA, OPERATING_CHANNEL, 2, None)], 23)
    assert axdr_value(data(msg)[0]) == "01" * 16
    selection = (1, data_node("", [
        data_node("", [data_node("", 8, LONG_UNSIGNED),
                       data_node("", bytes((0, 0, 1, 0, 0, 255)), OCTET_STRING),
                       data_node("", 2, INTEGER), data_node("", 0, LONG_UNSIGNED)], STRUCTURE),
        data_node("", times[1], DOUBLE_LONG_UNSIGNED),
        data_node("", times[2], DOUBLE_LONG_UNSIGNED), data_node("", [], ARRAY)], STRUCTURE))
    msg, _ = access(replay, hub, 0x010B, [("get-with-selection", PROFILE_GENERIC,
                                           CHANNEL_LOG, 2, None, selection)], 24)
    entries = axdr_value(data(msg)[0])
    assert [e[0] for e in entries] == times[1:]
    assert entries[0][2] == bytes.fromhex("00000001") + b"\x00\x00\x01"


# -- time and power -----------------------------------------------------------------------


def test_han_time_source(replay):
    clock = Simulator(START)
    hub = chf(replay, clock=clock)
    assert hub.zcl_time() == (unix2000(START), 0x01)  # master, not yet synchronised
    hub.set_time_synchronised()
    clock.run_until(START + _dt.timedelta(seconds=90))
    assert hub.zcl_time() == (unix2000(START) + 90, 0x03)


@pytest.mark.parametrize("minutes,notified", [(2, False), (4, True)])
def test_power_cut_and_the_three_minute_rule(replay, minutes, notified):
    """Under 3 minutes the DCC hears nothing (the event log has it); from 3 minutes the
    last gasp goes, then the restoration notice with the outage's duration."""
    store, clock, wan = SqliteStore(), Simulator(START), []
    hub = chf(replay, store=store, clock=clock, wan=wan)
    hub.power_lost()
    clock.run_until(START + min(_dt.timedelta(minutes=minutes),
                                _dt.timedelta(minutes=3) - _dt.timedelta(seconds=1)))
    assert wan == []                                # rides on its stored energy
    clock.run_until(START + _dt.timedelta(minutes=minutes))
    assert [n.kind for n in wan] == [POWER_OUTAGE] * notified
    # the hub restarts when power returns: a new process on the same store
    hub = chf(replay, store=store, clock=clock, wan=wan)
    assert not hub.power.powered
    notice = hub.power_restored()
    assert (notice is not None) is notified
    assert [n.kind for n in wan] == [POWER_OUTAGE, POWER_RESTORED] * notified
    if notice is not None:
        assert notice.outage_duration == _dt.timedelta(minutes=minutes)
        assert wan[0].outage_start == START and wan[0].at == START + _dt.timedelta(minutes=3)
    event = hub.store.entries("event")[-1].value
    assert event["outage_seconds"] == minutes * 60 and event["notified"] is notified
    assert hub.power.powered and hub.power_restored() is None
    clock.run_until(START + _dt.timedelta(minutes=10))
    assert len(wan) == 2 * notified                 # no late last gasp


def test_a_restart_during_a_long_outage_still_sends_the_last_gasp(replay):
    store, clock, wan = SqliteStore(), Simulator(START, keep_trace=False), []
    hub = chf(replay, store=store, clock=clock, wan=wan)
    hub.power_lost()
    other = Simulator(START + _dt.timedelta(minutes=5), keep_trace=False)  # timer lost
    hub = chf(replay, store=store, clock=other, wan=wan)
    hub.power_restored()
    assert [n.kind for n in wan] == [POWER_OUTAGE, POWER_RESTORED]
