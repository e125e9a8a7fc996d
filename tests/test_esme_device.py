"""The ESME as one device: GBCS commands (signed and MAC'd as a DCC would send them) to
an ESME on a virtual board whose COSEM objects are views and controls of its metering
engine, in virtual time."""

from __future__ import annotations

import datetime as _dt
import hashlib

import pytest

from boards.board import Board, DeviceType, LoadProfile, Variant as BoardVariant
from boards.esme_board import EsmeBoard, build_esme
from boards.nvm import SqliteStore
from boards.simulator import Simulator
from firmware.core.credentials import DeviceCredentials, Role, TrustAnchor, TrustAnchors
from firmware.core.device import EVENT_LOG, SECURITY_LOG
from firmware.esme.esme import Esme
from firmware.esme.cosem_profile import to_seconds
from firmware.esme.engine import (BUTTON_ENABLE, EmergencyCredit, PaymentMode,
                                  SupplyState, make_utrn)
from firmware.esme.objects import Variant, obis
from gbcs import axdr, crypto, dlms
from gbcs.axdr import axdr_value, data_node
from gbcs.build import build_message
from gbcs.cosem import datetime_bytes
from gbcs.keystore import DS, KA, KeyPair, Keystore
from gbcs.message import decode
from gbcs.node import encode
from gbcs.usecases import by_code

ESME = bytes.fromhex("00DB1234567890A0")
SUPPLIER = bytes.fromhex("90B3D51F30010000")
ACB = bytes.fromhex("90B3D51F30000002")
START = _dt.datetime(2026, 1, 5, tzinfo=_dt.UTC)  # a Monday
DAY = _dt.timedelta(days=1)
CS01A, ECS01A, ECS03, ECS04A, ECS09 = 0x0007, 0x0019, 0x001B, 0x001C, 0x0020
ECS17B, ECS22B, ECS28A, ECS28B, ECS57 = 0x0027, 0x0037, 0x0034, 0x0035, 0x005A
ECS30, ECS38, ECS42, ECS43, ECS44, ECS45 = 0x0046, 0x004B, 0x004F, 0x0050, 0x0051, 0x0052
ECS70, ECS82 = 0x0062, 0x0069
U32, U16, I32, OS = (axdr.DOUBLE_LONG_UNSIGNED, axdr.LONG_UNSIGNED, axdr.DOUBLE_LONG,
                     axdr.OCTET_STRING)
KW = 1.0                                # a constant 1 kW load: 500 Wh a half hour
METER_BALANCE = obis("0-0:19.10.0")
SUPPLY = obis("0-0:96.3.10")
TARIFF = obis("0-0:13.0.0")
PRICES = obis("0-0:19.20.0")


@pytest.fixture(scope="module")
def keys():
    return {n: (crypto.generate_private_key(), crypto.generate_private_key())
            for n in ("esme", "supplier", "acb")}


class Lab:
    """One ESME board and the remote parties that command it."""

    def __init__(self, keys, store=":memory:", counter=1000, top_up_key=b"") -> None:
        self.keys = keys
        anchors = TrustAnchors()
        for role, name, eui in ((Role.SUPPLIER, "supplier", SUPPLIER),
                                (Role.ACCESS_CONTROL_BROKER, "acb", ACB)):
            ds, ka = keys[name]
            anchors.set(TrustAnchor(role, eui, ds.public_key(), ka.public_key()))
        board = Board("esme", DeviceType.ESME, ESME, BoardVariant.SINGLE_ELEMENT,
                      load=LoadProfile((KW,)))
        self.board: EsmeBoard = build_esme(board, DeviceCredentials(ESME, *keys["esme"]),
                                           anchors, start=START, store=store,
                                           top_up_key=top_up_key)
        self.esme, self.sim, self.engine = self.board.esme, self.board.sim, \
            self.board.esme.engine
        self.keystore = Keystore()
        for name, eui in (("esme", ESME), ("supplier", SUPPLIER), ("acb", ACB)):
            ds, ka = keys[name]
            self.keystore.add(eui, DS, KeyPair(ds.public_key(), ds))
            self.keystore.add(eui, KA, KeyPair(ka.public_key(), ka))
        self.counter = counter

    def command(self, request, code) -> bytes:
        self.counter += 1
        return build_message(cra=1, originator_counter=self.counter, originator=SUPPLIER,
                             recipient=ESME, message_code=code, content=encode(request),
                             signer=self.keys["supplier"][0] if by_code(code).critical
                             else None,
                             mac_keys=(self.keys["acb"][1], self.keys["esme"][1].public_key()))

    def send(self, request, code):
        """(results, data nodes, alert messages) of a command the ESME answers."""
        out = self.esme.receive(self.command(request, code))
        assert out, self.board.store.entries(EVENT_LOG) or \
            self.board.store.entries(SECURITY_LOG)
        msg = decode(out[0], self.keystore, ACB)
        assert msg.mac in ("valid", "absent") and msg.signature in ("valid", "absent")
        dl = next(n for n in msg.tree.walk() if n.name == "dlms")
        results = [r.children[0].value for r in dl["access_response_specification"].children]
        return results, dl["access_response_list_of_data"].children, out[1:]

    def read(self, class_id, code, attribute, message_code=ECS17B):
        results, data, _ = self.send(dlms.get_request([(class_id, code, attribute)], 1),
                                     message_code)
        assert results == [0]
        return axdr_value(data[0])

    def alert_codes(self, raw_alerts) -> list[tuple[int, int]]:
        """(GBCS message code, DLMS alert code) of each alert sent."""
        out = []
        for raw in raw_alerts:
            msg = decode(raw, self.keystore, ACB)
            assert msg.header.cra == 3 and "invalid" not in (msg.mac, msg.signature)
            body = next(n for n in msg.tree.walk() if n.name == "notification_body")
            out.append((msg.header.message_code, body.children[0].value))
        return out


@pytest.fixture
def lab(keys):
    lab = Lab(keys)
    yield lab
    lab.board.close()


def _i32(value):
    return data_node("", value, I32)


def _script(n):
    return dlms.action_request([(9, obis("0-0:10.0.106"), 1, data_node("", n, U16))], n)


def adjust(lab, amount):
    results, _, alerts = lab.send(dlms.action_request([(112, METER_BALANCE, 1,
                                                        _i32(amount))], 1), ECS04A)
    assert results == [0]
    return alerts


def _cosem_time(hh, mm=0):
    return bytes((hh, mm, 0, 0))


def _tariff_request(at, day_profile, prices):
    """ECS01a: a one-season, one-week, one-day switching table and TOU prices (pounds
    per kWh x 10^-5, commodity in kWh), both activating at `at`."""
    script = obis("0-0:10.0.100")
    seasons = axdr.array_node("", [axdr.structure_node("", [
        data_node("", b"all", OS), data_node("", bytes.fromhex("FFFF0101FF00000000800000"),
                                             OS), data_node("", b"\x01", OS)])])
    weeks = axdr.array_node("", [axdr.structure_node("", [data_node("", b"\x01", OS)] + [
        data_node("", 1, axdr.UNSIGNED) for _ in range(7)])])
    days = axdr.array_node("", [axdr.structure_node("", [
        data_node("", 1, axdr.UNSIGNED), axdr.array_node("", [axdr.structure_node("", [
            data_node("", _cosem_time(hh), OS), data_node("", script, OS),
            data_node("", rate, U16)]) for hh, rate in day_profile])])])
    charge = axdr.structure_node("", [
        axdr.structure_node("", [data_node("", 3, axdr.INTEGER),
                                 data_node("", -5, axdr.INTEGER)]),
        axdr.structure_node("", [data_node("", 3, U16), data_node("", obis("1-0:1.8.0"), OS),
                                 data_node("", 2, axdr.INTEGER)]),
        axdr.array_node("", [axdr.structure_node("", [data_node("", bytes((i + 1,)), OS),
                                                      data_node("", p, axdr.LONG)])
                             for i, p in enumerate(prices)])])
    when = data_node("", datetime_bytes(at), OS)
    return dlms.set_request([(20, TARIFF, 7, seasons), (20, TARIFF, 8, weeks),
                             (20, TARIFF, 9, days), (113, PRICES, 6, charge),
                             (20, TARIFF, 10, when), (113, PRICES, 7, when)], 1)


def set_tariff(lab, at, day_profile, prices):
    results, _, alerts = lab.send(_tariff_request(at, day_profile, prices), ECS01A)
    assert results == [0] * 6 and alerts == []


def to_prepayment(lab):
    account = obis("0-1:19.0.0")
    mode = axdr.structure_node("", [data_node("", 2, axdr.ENUM), data_node("", 1, axdr.ENUM)])
    now = data_node("", bytes(12), OS)  # all zero: activate at once
    results, *_ = lab.send(dlms.set_request([(111, account, 2, mode),
                                             (111, account, 13, now)], 1), ECS03)
    assert results == [0, 0]


# -- prepayment ------------------------------------------------------------------------


def test_meter_balance_adjustment_is_read_back_from_the_engine(lab):
    adjust(lab, 2_500_000)
    assert lab.engine.meter_balance == 2_500_000
    assert lab.read(112, METER_BALANCE, 2, ECS82) == 2_500_000
    adjust(lab, -500_000)
    assert lab.read(112, METER_BALANCE, 2, ECS82) == 2_000_000
    # The pre-payment register collection shows the same register.
    assert lab.read(1, obis("0-0:94.44.34.30"), 2)[0] == 2_000_000


def test_prepayment_runs_out_disables_then_arm_and_local_enable(lab):
    set_tariff(lab, START, [(0, 1)], [20_000])     # 20p/kWh: 4,800 units an hour at 1 kW
    to_prepayment(lab)
    assert lab.engine.config.payment_mode == PaymentMode.PREPAYMENT
    assert lab.read(111, obis("0-0:19.0.0"), 2)[0] == 2  # account mode: prepayment
    adjust(lab, 600_000)                            # 125 hours of credit less the EC
    lab.sim.run_until(START + 6 * DAY)
    assert lab.engine.supply_state == SupplyState.DISABLED
    assert not lab.board.contactor.closed
    codes = lab.alert_codes(lab.esme.take_alerts())
    # low credit (non critical, MAC'd), then the supply is disabled: credit below the
    # disablement threshold, a critical alert (signed)
    assert codes == [(0x1001, 0x810D), (0x1000, 0x8F0F)]
    results, data, _ = lab.send(dlms.get_request([(70, SUPPLY, 2), (70, SUPPLY, 3)], 1),
                                ECS45)
    assert [d.value for d in data] == [False, 0]
    # Consumption stopped with the supply.
    before = lab.engine.active_import_wh
    lab.sim.run_until(START + 7 * DAY)
    assert lab.engine.active_import_wh == before
    # Arming needs credit: refused (other-reason), the engine logs why.
    results, *_ = lab.send(_script(54), ECS44)
    assert results == [250]
    assert lab.engine.log("event")[-1]["event"] == "command_rejected"
    adjust(lab, 1_000_000)
    results, _, alerts = lab.send(_script(54), ECS44)
    assert results == [0] and (0x1000, 0x8F32) in lab.alert_codes(alerts)
    assert lab.read(70, SUPPLY, 3, ECS45) == 2       # ready for reconnection
    assert not lab.board.contactor.closed
    lab.board.press(BUTTON_ENABLE)
    assert lab.read(70, SUPPLY, 3, ECS45) == 1 and lab.board.contactor.closed
    lab.sim.run_until(START + 7 * DAY + _dt.timedelta(hours=2))
    assert lab.engine.active_import_wh == before + 2000


def test_utrn_top_up_through_the_token_gateway(keys):
    lab = Lab(keys, top_up_key=b"utrn key of this meter")
    gateway = obis("0-0:19.40.0")
    utrn = make_utrn(b"utrn key of this meter", ESME, 1_000, 1)   # GBP 10.00

    def enter(token):
        request = dlms.action_request([(115, gateway, 1,
                                        data_node("", token.encode(), OS))], 1)
        results, _, alerts = lab.send(request, CS01A)
        assert results == [0]
        return lab.read(115, gateway, 6)[0], lab.alert_codes(alerts)

    # executed (the engine treats every UTRN as credit added at the meter: 0x810E)
    assert enter(utrn) == (3, [(0x1001, 0x810E)])
    credits = lab.read(7, obis("0-0:98.1.5"), 2)             # the prepayment credits log
    assert [r[1] for r in credits] == [1_000_000]
    assert lab.engine.meter_balance == 1_000_000
    # The same UTRN again: validation failure, a critical alert, credit unchanged.
    assert enter(utrn) == (6, [(0x1000, 0x8F51)])
    assert lab.engine.meter_balance == 1_000_000
    # Another meter's UTRN: authentication failure.
    other = make_utrn(b"another key", ESME, 1_000, 2)
    assert enter(other) == (5, [(0x1000, 0x8F63)])
    assert lab.engine.meter_balance == 1_000_000
    lab.board.close()


def test_emergency_credit_invoked_remotely(lab):
    set_tariff(lab, START, [(0, 1)], [20_000])
    to_prepayment(lab)
    credit = obis("0-0:19.10.1")
    assert lab.read(112, credit, 8) == 1                    # selectable (available)
    results, _, alerts = lab.send(dlms.action_request(
        [(112, credit, 3, data_node("", 0, axdr.INTEGER))], 1), ECS09)
    assert results == [0] and (0x1001, 0x81AB) in lab.alert_codes(alerts)
    assert lab.engine.emergency_credit_state == EmergencyCredit.ACTIVE
    assert lab.read(112, credit, 8) == 3                    # in use
    assert lab.read(112, credit, 2) == lab.engine.credit_config.emergency_credit_limit
    # Invoked again when no longer available: nothing changes, the event log says so.
    lab.send(dlms.action_request([(112, credit, 3, data_node("", 0, axdr.INTEGER))], 1),
             ECS09)
    assert lab.board.store.entries(EVENT_LOG)[-1].value["event"] == \
        "emergency_credit_not_available"


def test_maximum_demand_read_and_reset(lab):
    lab.sim.run_until(START + DAY)
    md = obis("1-0:1.6.0")
    assert lab.read(4, md, 2) == 1000                       # 1 kW over each half hour
    results, *_ = lab.send(dlms.action_request([(4, md, 1, data_node("", 0, axdr.INTEGER))],
                                               1), ECS57)
    assert results == [0] and lab.read(4, md, 2) == 0


def test_load_limit_settings_activate_into_the_engine(lab):
    now = data_node("", bytes(12), OS)
    items = []
    for code, value in (("0-0:94.44.128.7", data_node("", 700, U32)),     # W
                        ("0-0:94.44.128.6", data_node("", 300, U32))):    # s
        items += [(9000, obis(code), 4, value), (9000, obis(code), 6, now)]
    results, *_ = lab.send(dlms.set_request(items, 1), ECS28A)
    assert results == [0] * 4
    assert (lab.engine.config.load_limit.threshold_w,
            lab.engine.config.load_limit.period_s) == (700, 300)
    assert lab.read(71, obis("0-0:17.0.0"), 4) == 700
    lab.sim.run_until(START + _dt.timedelta(hours=1))      # 1 kW is above 700 W
    alerts = lab.esme.take_alerts()
    counter = obis("0-0:94.44.42.255")
    results, data, more = lab.send(dlms.get_request([(3, counter, 2)], 1), ECS17B)
    assert data[0].value == 1 == lab.engine.load_limit_counter
    assert (0x1000, 0x8F01) in lab.alert_codes(alerts + more)
    results, *_ = lab.send(dlms.action_request([(3, counter, 1, data_node(
        "", 0, axdr.INTEGER))], 1), ECS28B)
    assert results == [0] and lab.engine.load_limit_counter == 0


def test_clock_set_by_command_moves_the_engine_clock(lab):
    target = START + _dt.timedelta(minutes=5)
    clock = obis("0-0:1.0.0")
    window = [data_node("", datetime_bytes(t), OS) for t in
              (target, START - _dt.timedelta(minutes=1), START + _dt.timedelta(minutes=1))]
    request = dlms.action_request([(8, clock, 5, axdr.structure_node("", window)),
                                   (8, clock, 4, data_node("", 0, axdr.INTEGER))], 1)
    results, _, alerts = lab.send(request, ECS70)
    assert results == [0, 0] and (0x1001, 0x8145) in lab.alert_codes(alerts)
    assert lab.engine.now == target and lab.sim.now() == START
    # The half hours are the meter's: the first ends 25 board minutes later.
    lab.sim.run_until(START + _dt.timedelta(minutes=25))
    assert lab.read(7, obis("0-0:99.1.0"), 2) == [[to_seconds(START) + 1800, 500]]


def test_billing_calendar_sets_the_engine_billing_day(lab):
    entry = axdr.structure_node("", [data_node("", bytes(4), OS),
                                     data_node("", bytes.fromhex("FFFFFF0FFF"), OS)])
    results, *_ = lab.send(dlms.set_request([(22, obis("0-0:15.0.0"), 4,
                                              axdr.array_node("", [entry]))], 1), ECS30)
    assert results == [0] and lab.engine.config.billing_day == 15


def test_remote_disable_and_enable_drive_the_contactor(lab):
    assert lab.send(_script(52), ECS43)[0] == [0]
    assert not lab.board.contactor.closed
    assert lab.engine.supply_state == SupplyState.DISABLED
    assert lab.send(_script(51), ECS42)[0] == [0]
    assert lab.board.contactor.closed and lab.read(70, SUPPLY, 2, ECS45) is True


# -- tariffs ---------------------------------------------------------------------------


def test_tariff_activates_at_its_time_and_the_rate_registers_follow_it(lab):
    at = START + DAY + _dt.timedelta(hours=12)
    # rate 2 (night) from 00:00, rate 1 (day) from 07:00
    set_tariff(lab, at, [(0, 2), (7, 1)], [30_000, 12_000])
    lab.sim.run_until(at - _dt.timedelta(seconds=1))
    assert lab.engine.tariff.prices == (0,)          # not yet: the factory tariff
    lab.sim.run_until(at)
    alerts = lab.alert_codes(lab.esme.take_alerts())
    assert alerts.count((0x00CC, 0x8F66)) == 2       # calendar and prices, future dated
    assert lab.engine.tariff.prices == (30_000, 12_000)
    # The active tables read back what the engine runs on.
    day_profiles = lab.read(20, TARIFF, 5)
    assert [[s[2] for s in d[1]] for d in day_profiles] == [[2, 1]]
    assert lab.read(113, PRICES, 5)[2] == [[b"\x01", 30_000], [b"\x02", 12_000]]
    tou = lab.read(1, obis("0-0:94.44.34.1"), 2)[0]
    lab.sim.run_until(START + 4 * DAY)
    after = lab.read(1, obis("0-0:94.44.34.1"), 2)[0]
    # Two and a half days: 12 h of day rate, then 2 x (7 h night + 17 h day).
    assert after[0] - tou[0] == (12 + 2 * 17) * 1000
    assert after[1] - tou[1] == 2 * 7 * 1000
    assert tou[0] == 36 * 1000                      # before: all on the single rate
    assert lab.engine.cost_total == (12 + 34) * 30_000 + 14 * 12_000


def test_tariff_the_engine_cannot_take_is_logged_and_changes_nothing(lab):
    # Day profile selects rate 49: beyond the 48 TOU registers.
    set_tariff(lab, START + _dt.timedelta(hours=1), [(0, 49)], [10_000])
    lab.sim.run_until(START + _dt.timedelta(hours=2))
    assert lab.engine.tariff.prices == (0,)
    entry = lab.board.store.entries(EVENT_LOG)[-1].value
    assert entry["event"] == "tariff_not_applied" and "rate" in entry["detail"]


# -- reads ----------------------------------------------------------------------------


def _protected_read(target, class_id=1):
    restriction = axdr.structure_node("", [data_node("", 0, axdr.ENUM),
                                           data_node("", None, axdr.NULL_DATA)])
    objects = axdr.array_node("", [axdr.structure_node("", [
        data_node("", class_id, U16), data_node("", target, OS),
        data_node("", 2, axdr.INTEGER), data_node("", 0, U16), restriction])])
    return axdr.structure_node("", [objects, dlms.protection_parameters(0, SUPPLIER, ESME)])


def test_ecs17b_reads_the_engine_import_register_after_a_week(lab):
    lab.sim.run_until(START + 7 * DAY)
    request = dlms.action_request([(30, obis("0-0:43.2.8"), 1,
                                    _protected_read(obis("0-0:94.44.34.10")))], 1)
    results, data, _ = lab.send(request, ECS17B)
    assert results == [0]
    plaintext = next(n for n in data[0].walk() if n.name == "plaintext").children[0]
    (collection,) = axdr_value(plaintext)
    assert collection[0] == 7 * 24 * 1000 == lab.engine.active_import_wh
    assert collection[1] == [0, 30]  # Wh


def _range(start, end):
    restricting = axdr.structure_node("", [data_node("", 8, U16),
                                           data_node("", obis("0-0:1.0.0"), OS),
                                           data_node("", 2, axdr.INTEGER),
                                           data_node("", 0, U16)])
    return axdr.structure_node("", [restricting, data_node("", to_seconds(start), U32),
                                    data_node("", to_seconds(end), U32),
                                    axdr.array_node("", [])])


def test_profiles_and_daily_log_are_the_engine_logs(lab):
    lab.sim.run_until(START + 2 * DAY + _dt.timedelta(hours=1))
    request = dlms.access_request([("get-with-selection", 7, obis("0-0:99.1.0"), 2, None,
                                    (1, _range(START + DAY, START + DAY + _dt.timedelta(
                                        hours=1))))], 1)
    results, data, _ = lab.send(request, ECS22B)
    assert results == [0]
    assert axdr_value(data[0]) == [[to_seconds(START + DAY + _dt.timedelta(minutes=m)), 500]
                                   for m in (0, 30, 60)]
    daily = lab.read(7, obis("0-0:98.1.9"), 2)
    assert [(r[0], r[1], r[2][0]) for r in daily] == [
        (to_seconds(START + n * DAY), n * 24_000, n * 24_000) for n in (1, 2)]
    consumption = lab.read(7, obis("0-0:99.1.3"), 2)
    assert [r[1] for r in consumption] == [24_000, 24_000]


# -- the pipeline and persistence ----------------------------------------------------------


def test_replayed_command_rejected_logged_and_state_unchanged(lab):
    data = lab.command(dlms.action_request([(112, METER_BALANCE, 1, _i32(700_000))], 1),
                       ECS04A)
    assert len(lab.esme.receive(data)) == 1
    assert lab.engine.meter_balance == 700_000
    assert lab.esme.receive(data) == []
    assert lab.engine.meter_balance == 700_000
    entry = lab.board.store.entries(SECURITY_LOG)[-1].value
    assert entry["reason"] == "replayed" and entry["event_code"] == 0x8F53
    assert lab.read(112, METER_BALANCE, 2, ECS82) == 700_000


def test_kill_and_restart_keeps_engine_and_cosem_state(keys, tmp_path):
    path = str(tmp_path / "esme.db")
    first = Lab(keys, path)
    adjust(first, 3_000_000)
    results, *_ = first.send(dlms.set_request([(1, obis("0-0:94.44.0.1"), 2,
                                                data_node("", 900, U16))], 1), ECS38)
    assert results == [0] and first.engine.config.randomised_offset_limit_s == 900
    at = START + 3 * DAY
    set_tariff(first, at, [(0, 1)], [25_000])
    first.sim.run_until(START + 2 * DAY + _dt.timedelta(hours=5))
    import_then = first.engine.active_import_wh
    counter = first.counter
    first.board.store.close()   # killed: nothing after the last midnight was committed

    second = Lab(keys, path, counter=counter)
    assert second.sim.now() == START + 2 * DAY        # the store's last commit
    assert second.engine.meter_balance == 3_000_000
    assert second.engine.config.randomised_offset_limit_s == 900
    assert second.read(1, obis("0-0:94.44.0.1"), 2, ECS17B) == 900
    second.sim.run_until(START + 2 * DAY + _dt.timedelta(hours=5))
    assert second.engine.active_import_wh == import_then  # measured again, the same
    second.sim.run_until(at)                         # the pending tariff still activates
    assert second.engine.tariff.prices == (25_000,)
    # The anti-replay counters survived too: an old counter is refused.
    second.counter = 1000
    assert second.esme.receive(second.command(dlms.get_request(
        [(3, obis("1-0:1.8.0"), 2)], 1), ECS17B)) == []
    second.board.close()


def test_a_meter_resumed_after_a_long_gap_starts_and_alerts(tmp_path):
    """Restarting from a store whose meter last ran weeks ago: the engine measures the
    gap (and may raise alerts) while the Esme is still being built."""
    t0 = _dt.datetime(2026, 1, 1, tzinfo=_dt.UTC)
    supplier = crypto.generate_private_key()
    anchors = TrustAnchors()
    anchors.set(TrustAnchor(Role.SUPPLIER, bytes.fromhex("90B3D51F30010000"),
                            supplier.public_key(), supplier.public_key()))
    credentials = DeviceCredentials(bytes.fromhex("00DB1234567890A0"),
                                    crypto.generate_private_key(),
                                    crypto.generate_private_key())
    store, sim = SqliteStore(tmp_path / "esme.db"), Simulator(t0)
    Esme(credentials, anchors, store, sim, Variant.SINGLE_ELEMENT)
    sim.run_until(t0 + _dt.timedelta(days=2))
    store.close()
    resumed_at = t0 + _dt.timedelta(days=40)
    meter = Esme(credentials, anchors, SqliteStore(tmp_path / "esme.db"),
                 Simulator(resumed_at), Variant.SINGLE_ELEMENT)
    assert meter.now() == resumed_at


NETWORK_OPERATOR = bytes.fromhex("90B3D51F30020000")


def _alert_bodies(lab, raw_alerts):
    """(message code, recipient, notification body) of each alert sent."""
    out = []
    for raw in raw_alerts:
        msg = decode(raw, lab.keystore, ACB)
        assert msg.header.cra == 3 and "invalid" not in (msg.mac, msg.signature)
        body = next(n for n in msg.tree.walk() if n.name == "notification_body")
        out.append((msg.header.message_code, msg.header.recipient, body))
    return out


def test_an_outage_of_3_minutes_or_more_alerts_the_network_operator(lab):
    ds, ka = lab.keys["supplier"]
    lab.esme.take_alerts()
    lab.engine.power_fail()                          # no Network Operator anchor yet
    lab.sim.run_until(lab.sim.now() + _dt.timedelta(minutes=5))
    lab.engine.power_restore()
    assert lab.esme.take_alerts() == []
    assert lab.board.store.entries(EVENT_LOG)[-1].value["event"] == "alert_undeliverable"
    lab.esme.anchors.set(TrustAnchor(Role.NETWORK_OPERATOR, NETWORK_OPERATOR,
                                     ds.public_key(), ka.public_key()))
    lab.engine.power_fail()
    cut = lab.sim.now()
    lab.sim.run_until(cut + _dt.timedelta(minutes=4))
    lab.engine.power_restore()
    [(code, to, body)] = _alert_bodies(lab, lab.esme.take_alerts())
    assert (code, to, body.children[0].value) == (0x0067, NETWORK_OPERATOR, 0x8F36)
    assert [n.value for n in body.children[2:]] == [datetime_bytes(cut),
                                                    datetime_bytes(lab.sim.now())]
    lab.engine.power_fail()                          # a short one: no ECS80
    lab.sim.run_until(lab.sim.now() + _dt.timedelta(minutes=2))
    lab.engine.power_restore()
    assert [c for c, *_ in _alert_bodies(lab, lab.esme.take_alerts())] != [0x0067]


def test_a_command_from_a_party_without_authority_is_alerted_8f30(lab):
    """MAC'd by the ACB, but from an originator the meter holds no anchor for."""
    lab.esme.take_alerts()
    lab.counter += 1
    data = build_message(cra=1, originator_counter=lab.counter,
                         originator=bytes.fromhex("90B3D51F3001FFFF"), recipient=ESME,
                         message_code=ECS17B,
                         content=encode(dlms.get_request([(3, obis("1-0:1.8.0"), 2)], 1)),
                         mac_keys=(lab.keys["acb"][1], lab.keys["esme"][1].public_key()))
    before = lab.engine.active_import_wh
    assert lab.esme.receive(data) == []
    assert lab.board.store.entries(SECURITY_LOG)[-1].value["event_code"] == 0x8F30
    [(code, to, body)] = _alert_bodies(lab, lab.esme.take_alerts())
    assert (code, to, body.children[0].value) == (0x1000, SUPPLIER, 0x8F30)
    assert lab.engine.active_import_wh == before


def test_firmware_received_and_integrity_issue_alert_the_supplier(lab):
    lab.esme.take_alerts()
    image = bytes(range(256)) * 16
    digest = lab.esme.firmware_received(image, bytes.fromhex("01000200"))
    lab.esme.integrity_issue(0x0005)                 # unexpected hardware reset
    [(c1, to1, fw), (c2, to2, integrity)] = _alert_bodies(lab, lab.esme.take_alerts())
    assert (c1, to1, fw.children[0].value, fw.children[2].value) == (
        0x00CE, SUPPLIER, 0x8F72, hashlib.sha256(image).digest()) and \
        digest == hashlib.sha256(image).digest()
    assert (c2, to2, integrity.children[0].value) == (0x00F0, SUPPLIER, 0x81A0)
    assert integrity.children[2].children[0].value == 0x0005
    with pytest.raises(ValueError, match="integrity issue 0x0077"):
        lab.esme.integrity_issue(0x0077)
