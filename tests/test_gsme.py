"""The GSME in virtual time: a gas day of consumption, prepayment running out, top-up by
UTRN, the valve disabled, armed and enabled locally, future-dated tariffs, faults."""

from __future__ import annotations

import datetime as _dt

import pytest

from boards.nvm import SqliteStore
from boards.peripherals import VirtualValve
from boards.simulator import Simulator
from firmware.core import gas
from firmware.core.credentials import DeviceCredentials, Role, TrustAnchor, TrustAnchors
from firmware.core.security import AUTHENTICATION_FAILED
from firmware.core.zse import Fault, HARDWARE_FAILURE, INVALID_VALUE, to_datetime
from firmware.esme.engine.utrn import UtrnError, make_utrn, verify_utrn
from firmware.gsme.gsme import REJECTED_DUPLICATE, REJECTED_INVALID, Gsme, TopUpError
from gbcs import crypto, gbz, zcl
from gbcs.build import build_message
from gbcs.keystore import DS, KA, KeyPair, Keystore
from gbcs.message import decode
from gbcs.usecases import by_id
from gbcs.zcl_types import utc_seconds

GSME_EUI = bytes.fromhex("00DB1234567890A1")
GPF_EUI = bytes.fromhex("00DB1234567890A3")
SUPPLIER = bytes.fromhex("90B3D51F30010000")
ACB = bytes.fromhex("90B3D51F30000002")
START = _dt.datetime(2024, 3, 1, tzinfo=_dt.UTC)
UTRN_KEY = b"lab top-up key 1"


class BoilerLoad:
    """Litres per half hour: morning and evening peaks over a low base."""

    def volume_litres(self, start: _dt.datetime, end: _dt.datetime) -> int:
        per_half_hour = 250 if start.hour in (7, 8, 18, 19) else 15
        return round(per_half_hour * (end - start).total_seconds() / 1800)


def day_litres() -> int:
    return 8 * 250 + 40 * 15


class Lab:
    """A supplier, an ACB and gas devices with their keys; builds commands, decodes
    responses."""

    def __init__(self) -> None:
        self.keys = {name: (crypto.generate_private_key(), crypto.generate_private_key())
                     for name in ("gsme", "gpf", "supplier", "acb")}
        self.anchors = TrustAnchors()
        for role, name, eui in ((Role.SUPPLIER, "supplier", SUPPLIER),
                                (Role.ACCESS_CONTROL_BROKER, "acb", ACB)):
            ds, ka = self.keys[name]
            self.anchors.set(TrustAnchor(role, eui, ds.public_key(), ka.public_key()))
        self.keystore = Keystore()
        for name, eui in (("gsme", GSME_EUI), ("gpf", GPF_EUI), ("supplier", SUPPLIER),
                          ("acb", ACB)):
            ds, ka = self.keys[name]
            self.keystore.add(eui, DS, KeyPair(ds.public_key(), ds))
            self.keystore.add(eui, KA, KeyPair(ka.public_key(), ka))
        self.counter = 1000

    def credentials(self, name: str, eui: bytes) -> DeviceCredentials:
        return DeviceCredentials(eui, *self.keys[name])

    def command(self, use_case: str, components: list, recipient: bytes = GSME_EUI,
                device: str = "gsme") -> bytes:
        uc = next(u for u in by_id(use_case) if not u.alert)
        self.counter += 1
        payload = gbz.gbz_payload([gbz.component(cluster, frame, from_date_time=when)
                                   for cluster, frame, when in components])
        return build_message(cra=1, originator_counter=self.counter, originator=SUPPLIER,
                             recipient=recipient, message_code=uc.code, content=payload,
                             signer=self.keys["supplier"][0] if uc.critical else None,
                             mac_keys=(self.keys["acb"][1], self.keys[device][1].public_key()))

    def send(self, device, use_case: str, *components, recipient: bytes = GSME_EUI,
             name: str = "gsme") -> list:
        """The response components of `device` to the command."""
        sent = device.receive(self.command(use_case, [c if len(c) == 3 else (*c, None)
                                                      for c in components],
                                           recipient, name))
        assert sent, device.store.entries("event")[-1:] or device.store.entries("security")
        msg = decode(sent[0], self.keystore, ACB)
        assert msg.mac in ("valid", "absent") and msg.signature in ("valid", "absent")
        payload = next(n for n in msg.tree.walk() if n.name == "gbz")
        return [c for c in payload.children if c.name == "component"]


def zcl_payload(comp):
    last = comp["zcl"].children[-1]
    if last.name == "encrypted_payload":
        return next(c for c in last.children if c.name == "decrypted").children[0]
    return last


def status(comp) -> int:
    return zcl_payload(comp)["status"].value


def read(cluster: int, *attributes: int):
    return cluster, zcl.zcl_read_attributes(cluster, list(attributes))


def records(comp) -> dict[int, object]:
    return {r["attribute_id"].value: (r["value"].value if r.get("value") is not None
                                      else r["status"].value)
            for r in zcl_payload(comp).children}


def to_server(cluster: int, command: int, **fields):
    return cluster, zcl.zcl_command(cluster, command, 0, **fields)


def to_client(cluster: int, command: int, **fields):
    return cluster, zcl.zcl_command(cluster, command, 1, **fields)


def utrn_verifier(device: bytes):
    def verify(code: bytes) -> tuple[int, int]:
        try:
            token = verify_utrn(UTRN_KEY, device, code.decode(), [])
        except UtrnError as err:
            raise TopUpError(REJECTED_INVALID, str(err)) from None
        return token.value_pence * 1000, token.counter
    return verify


@pytest.fixture
def lab():
    return Lab()


def make_gsme(lab: Lab, sim: Simulator, store=None, **kw) -> Gsme:
    return Gsme(lab.credentials("gsme", GSME_EUI), lab.anchors, store or SqliteStore(), sim,
                VirtualValve(sim), load=BoilerLoad(), verify_utrn=utrn_verifier(GSME_EUI),
                **kw)


def price_matrix(price: int, start: int = 0):
    return to_client(gas.PRICE, 0x05, provider_id=1, issuer_event_id=1, start_time=start,
                     issuer_tariff_id=1, command_index=0, number_of_commands=1,
                     sub_payload_control=1,
                     sub_payload=[{"tier_block_id": 0x10, "price": price}])


def test_a_gas_day_of_consumption_is_metered_logged_and_read(lab):
    sim = Simulator(START, keep_trace=False)
    meter = make_gsme(lab, sim)
    sim.run_until(START + _dt.timedelta(days=1))
    litres = day_litres()
    assert meter.data.get(gas.CURRENT_SUMMATION) == litres
    profile = meter.store.entries("gas/profile")
    assert len(profile) == 48 and sum(e.value["v"] for e in profile) == litres
    assert [e.value["v"] for e in meter.store.entries("gas/daily")] == [litres]
    assert [e.value["cause"] for e in meter.store.entries("gas/snapshots")] == [gas.CAUSE_DAILY]
    # the standing charge of the day is billed at midnight
    assert meter.data.get(gas.BILL_TO_DATE) == meter.data.get(gas.STANDING_CHARGE)
    # kWh = m3 x CF x CV / 3.6 with the default CF 1.02264 and CV 39.5 MJ/m3
    assert meter.data.kwh(1000) == pytest.approx(1.02264 * 39.5 / 3.6)
    # GCS13a: the register, encrypted for the supplier
    (comp,) = lab.send(meter, "GCS13a", read(gas.METERING, 0x0000, 0x0300, 0x0301, 0x0302))
    assert comp["extended_header_control"].value & gbz.ENCRYPTED
    assert records(comp) == {0x0000: litres, 0x0300: 1, 0x0301: 1, 0x0302: 1000}
    # GCS17: the half-hourly profile
    (comp,) = lab.send(meter, "GCS17", to_server(
        gas.METERING, 0x08, sample_id=gas.PROFILE, earliest_sample_time=utc_seconds(START),
        sample_type=0, number_of_samples=48))
    samples = zcl_payload(comp)["samples"].children[1:]
    assert [s.value for s in samples] == [e.value["v"] for e in profile]
    # GCS16a: the daily snapshot, then NOT_FOUND past the last one
    snap = {"earliest_start_time": utc_seconds(START), "latest_end_time": 0xFFFFFFFE,
            "snapshot_cause": gas.CAUSE_DAILY}
    found, missing = lab.send(meter, "GCS16a",
                              to_server(gas.METERING, 0x06, snapshot_offset=0, **snap),
                              to_server(gas.METERING, 0x06, snapshot_offset=1, **snap))
    sub = zcl_payload(found)["snapshot_sub_payload"]
    assert sub["current_summation_delivered"].value == litres
    assert status(missing) == 0x8B


def test_prepayment_runs_out_then_top_up_arms_and_the_button_enables(lab):
    sim = Simulator(START, keep_trace=False)
    meter = make_gsme(lab, sim)
    (ack,) = lab.send(meter, "GCS01b", price_matrix(20000))  # 20 p/kWh, 3 digits
    assert status(ack) == 0
    (mode,) = lab.send(meter, "GCS03", to_server(
        gas.PREPAYMENT, 0x06, provider_id=1, issuer_event_id=2, implementation_date_time=0,
        proposed_payment_control_configuration=gas.PREPAYMENT_MODE, cut_off_value=0))
    assert zcl_payload(mode).name == "change_payment_mode_response"
    (adjusted,) = lab.send(meter, "GCS40a", to_server(
        gas.PREPAYMENT, 0x05, issuer_event_id=3, start_time=0, credit_adjustment_type=1,
        credit_adjustment_value=1_000_000))  # 10 pounds
    assert status(adjusted) == 0
    sim.run_until(START + _dt.timedelta(days=3))
    assert not meter.valve.open
    assert meter.data.get(gas.SUPPLY_STATUS) == gas.SUPPLY_OFF
    assert meter.data.get(gas.CREDIT_REMAINING) <= 0
    used = meter.data.get(gas.CURRENT_SUMMATION)
    sim.run_until(START + _dt.timedelta(days=4))
    assert meter.data.get(gas.CURRENT_SUMMATION) == used  # no gas with the valve closed
    # top-up by UTRN (CS01b): the valve is armed, not opened
    utrn = make_utrn(UTRN_KEY, GSME_EUI, 2000, 7).encode()
    (topped,) = lab.send(meter, "CS01b", to_server(gas.PREPAYMENT, 0x04, originating_device=0,
                                                   top_up_code=utrn))
    result = zcl_payload(topped)
    assert result["result_type"].value == 0 and result["top_up_value"].value == 2_000_000
    assert meter.data.get(gas.SUPPLY_STATUS) == gas.SUPPLY_ARMED and not meter.valve.open
    assert meter.press_button() and meter.valve.open
    assert meter.data.get(gas.SUPPLY_STATUS) == gas.SUPPLY_ON
    # the same UTRN again is refused and changes nothing
    credit = meter.data.get(gas.CREDIT_REMAINING)
    (again,) = lab.send(meter, "CS01b", to_server(gas.PREPAYMENT, 0x04, originating_device=0,
                                                  top_up_code=utrn))
    assert zcl_payload(again)["result_type"].value == REJECTED_DUPLICATE
    assert meter.data.get(gas.CREDIT_REMAINING) == credit
    (log,) = lab.send(meter, "GCS15e", to_server(gas.PREPAYMENT, 0x08,
                                                 latest_end_time=0xFFFFFFFE,
                                                 number_of_records=5))
    assert len(zcl_payload(log)["top_up_payload"].children) == 1


def test_valve_is_disabled_and_armed_remotely_and_enabled_only_locally(lab):
    sim = Simulator(START, keep_trace=False)
    meter = make_gsme(lab, sim)

    def change_supply(status_: int):
        return to_server(gas.METERING, 0x0B, provider_id=1, issuer_event_id=1,
                         request_date_time=0, implementation_date_time=0,
                         proposed_supply_status=status_, supply_control_bits=1)
    (off,) = lab.send(meter, "GCS32", change_supply(gas.SUPPLY_OFF))
    assert zcl_payload(off)["supply_status"].value == gas.SUPPLY_OFF and not meter.valve.open
    assert not meter.press_button()  # disabled, not armed: the button does nothing
    (on,) = lab.send(meter, "GCS32", change_supply(gas.SUPPLY_ON))
    assert status(on) == INVALID_VALUE and not meter.valve.open
    (armed,) = lab.send(meter, "GCS39", change_supply(gas.SUPPLY_ARMED))
    assert zcl_payload(armed)["supply_status"].value == gas.SUPPLY_ARMED
    assert meter.press_button() and meter.valve.open
    (comp,) = lab.send(meter, "GCS33", read(gas.METERING, 0x0014))
    assert records(comp) == {0x0014: gas.SUPPLY_ON}


def test_a_hardware_fault_fails_its_component_and_skips_the_rest(lab):
    sim = Simulator(START, keep_trace=False)
    meter = make_gsme(lab, sim)
    meter.faults.add(Fault(gas.PRICE, 0x0617))
    first, second = lab.send(meter, "GCS14", read(gas.PRICE, 0x0617, 0x0616),
                             read(gas.PREPAYMENT, 0x0001))
    assert records(first) == {0x0617: HARDWARE_FAILURE, 0x0616: 826}
    assert zcl_payload(second)["command_id"].value == 0xFF and status(second) == 0x01


def test_a_future_dated_price_takes_effect_at_its_time_with_the_8F66_alert(lab):
    sim = Simulator(START, keep_trace=False)
    meter = make_gsme(lab, sim)
    start = START + _dt.timedelta(hours=5)
    (ack,) = lab.send(meter, "GCS23", to_client(
        gas.PRICE, 0x02, issuer_event_id=1, start_time=utc_seconds(start),
        conversion_factor=1020000, conversion_factor_trailing_digit=0x60))
    assert status(ack) == 0
    assert meter.data.get(gas.CONVERSION_FACTOR) == 1022640  # not yet
    sim.run_until(start + _dt.timedelta(minutes=1))
    assert meter.data.get(gas.CONVERSION_FACTOR) == 1020000
    (alert,) = meter.take_alerts()
    msg = decode(alert, lab.keystore, ACB)
    payload = next(n for n in msg.tree.walk() if n.name == "gbz")
    assert msg.header.message_code == 0x00CD and payload["alert_code"].value == 0x8F66
    assert payload["future_dated_alert"]["originator_counter"].value == lab.counter


def test_nothing_acknowledged_is_lost_across_a_restart(lab, tmp_path):
    path = tmp_path / "gsme.sqlite"
    sim = Simulator(START, keep_trace=False)
    meter = make_gsme(lab, sim, SqliteStore(path))
    sim.run_until(START + _dt.timedelta(hours=10))
    litres = meter.data.get(gas.CURRENT_SUMMATION)
    meter.store.close()
    sim2 = Simulator(START + _dt.timedelta(hours=10), keep_trace=False)
    again = make_gsme(lab, sim2, SqliteStore(path))
    assert again.data.get(gas.CURRENT_SUMMATION) == litres
    sim2.run_until(START + _dt.timedelta(days=1))
    assert again.data.get(gas.CURRENT_SUMMATION) == day_litres()


def test_a_malformed_command_changes_nothing_but_the_security_log(lab):
    sim = Simulator(START, keep_trace=False)
    meter = make_gsme(lab, sim)
    change = to_server(gas.METERING, 0x0B, provider_id=1, issuer_event_id=1,
                       request_date_time=0, implementation_date_time=0,
                       proposed_supply_status=gas.SUPPLY_OFF, supply_control_bits=1)
    data = bytearray(lab.command("GCS32", [(*change, None)]))
    data[-1] ^= 0xFF  # the last byte of the MAC
    assert meter.receive(bytes(data)) == []
    assert meter.store.entries("security")[-1].value["reason"] == "bad_mac"
    assert meter.valve.open and meter.data.get(gas.SUPPLY_STATUS) == gas.SUPPLY_ON
    # The ZigBee security log has it too: CS10b reads it (log id 4: security).
    [log] = lab.send(meter, "CS10b", to_server(
        gas.EVENTS, 0x00, event_control_log_id=gas.SECURITY_EVENT_LOG, event_id=0,
        start_time=0, end_time=0xFFFFFFFE, number_of_events=0, event_offset=0))
    events = [(e["log_id"].value, e["event_id"].value)
              for e in zcl_payload(log)["log_payload"].children]
    assert events == [(gas.SECURITY_EVENT_LOG, AUTHENTICATION_FAILED)]


def test_time_based_debt_is_recovered_daily_and_read_from_the_debt_log(lab):
    sim = Simulator(START, keep_trace=False)
    meter = make_gsme(lab, sim)
    lab.send(meter, "GCS03", to_server(
        gas.PREPAYMENT, 0x06, provider_id=1, issuer_event_id=2, implementation_date_time=0,
        proposed_payment_control_configuration=gas.PREPAYMENT_MODE, cut_off_value=0))
    lab.send(meter, "GCS40a", to_server(
        gas.PREPAYMENT, 0x05, issuer_event_id=3, start_time=0, credit_adjustment_type=1,
        credit_adjustment_value=50_000_000))
    (ack,) = lab.send(meter, "GCS04", to_server(
        gas.PREPAYMENT, 0x02, issuer_event_id=4, debt_label=b"D1", debt_amount=300_000,
        debt_recovery_method=0, debt_amount_type=0, debt_recovery_start_time=0,
        debt_recovery_collection_time=0, debt_recovery_frequency=1,
        debt_recovery_amount=100_000, debt_recovery_balance_percentage=0))
    assert status(ack) == 0 and meter.data.get(gas.ACCUMULATED_DEBT) == 300_000
    sim.run_until(START + _dt.timedelta(days=2, minutes=1))
    assert meter.data.get(gas.DEBT_AMOUNTS[0]) == 100_000
    (log,) = lab.send(meter, "GCS15d", to_server(
        gas.PREPAYMENT, 0x0A, latest_end_time=0xFFFFFFFE, number_of_debts=10, debt_type=0),
        )
    debts = zcl_payload(log)["debt_payload"].children
    assert [d["amount_collected"].value for d in debts] == [100_000, 100_000]
    assert [d["outstanding_debt"].value for d in debts] == [100_000, 200_000]


# -- GCS28 Set Clock, generic alerts, the sync to the GPF ---------------------------------


def set_clock(lab: Lab, gsme: Gsme, start: _dt.datetime, end: _dt.datetime):
    from gbcs import asn1
    lab.counter += 1
    data = build_message(cra=1, originator_counter=lab.counter, originator=SUPPLIER,
                         recipient=GSME_EUI, message_code=0x007F,
                         content=asn1.set_time_command(start, end),
                         signer=lab.keys["supplier"][0],
                         mac_keys=(lab.keys["acb"][1], lab.keys["gsme"][1].public_key()))
    sent = gsme.receive(data)
    assert sent, gsme.store.entries("event")[-1:]
    answer = next(n for n in decode(sent[0], lab.keystore, ACB).tree.walk()
                  if n.name == "set_time_response")
    return answer["device_time"].human, answer["device_time_status"].human


def test_gcs28_sets_the_clock_from_the_hub_time_inside_the_validity_interval(lab):
    sim = Simulator(START, keep_trace=False)
    hub_time = [START + _dt.timedelta(seconds=90), True]
    store = SqliteStore()
    gsme = make_gsme(lab, sim, store, time_source=lambda: tuple(hub_time))
    window = (START - _dt.timedelta(minutes=30), START + _dt.timedelta(minutes=30))
    assert set_clock(lab, gsme, *window) == ("2024-03-01T00:01:30Z", "reliable")
    assert gsme.now() == START + _dt.timedelta(seconds=90)
    # a restarted meter keeps the time it was set to
    assert make_gsme(lab, sim, store).now() == START + _dt.timedelta(seconds=90)
    hub_time[0] = START + _dt.timedelta(hours=2)            # outside: clock unchanged
    assert set_clock(lab, gsme, *window) == ("2024-03-01T00:01:30Z", "invalid")
    hub_time[:] = [START, False]                             # the hub has no WAN time
    assert set_clock(lab, gsme, *window)[1] == "unreliable"
    hub_time[:] = [START, True]
    gsme.hardware_faults.add(0x007F)
    assert set_clock(lab, gsme, *window)[1] == "unreliable"
    assert gsme.now() == START + _dt.timedelta(seconds=90)


def test_a_top_up_an_unknown_originator_and_a_reset_alert_the_supplier(lab):
    sim = Simulator(START, keep_trace=False)
    gsme = make_gsme(lab, sim)
    gsme.top_up(5000, b"keypad")
    gsme.integrity_issue(0x0005)
    alerts = [decode(a, lab.keystore, ACB) for a in gsme.take_alerts()]
    assert [(a.header.message_code, a.header.recipient, a.mac) for a in alerts] == [
        (0x1001, SUPPLIER, "valid"), (0x00F2, SUPPLIER, "valid")]
    codes = [next(n for n in a.tree.walk() if n.name == "alert_code").value for a in alerts]
    assert codes == [0x810E, 0x81A0]
    stranger = lab.command("GCS13a", [(*read(gas.METERING, 0x0000), None)]).replace(
        SUPPLIER, bytes(8), 1)
    assert gsme.receive(stranger) == []
    assert gsme.take_alerts() == []           # the MAC fails first: not for 8F30


def test_a_lost_sync_goes_again_and_nothing_is_counted_twice(lab):
    sim = Simulator(START, keep_trace=False)
    updates: list = []
    gsme = make_gsme(lab, sim, on_sync=updates.append)
    lab.send(gsme, "GCS25", to_client(
        gas.PRICE, 0x09, provider_id=1, issuer_event_id=9, billing_period_start_time=0,
        billing_period_duration=1, billing_period_duration_type=2, tariff_type=0))
    sim.run_until(START + _dt.timedelta(minutes=61))
    first, second = updates                   # neither acknowledged: the second repeats
    assert [s for s, _ in second["logs"]["gas/profile"]][:1] == \
        [s for s, _ in first["logs"]["gas/profile"]]
    assert second["tap_off"] == first["tap_off"] and len(first["tap_off"]) == 1
    gsme.sync_acknowledged(second["marks"])
    sim.run_until(START + _dt.timedelta(minutes=91))
    third = updates[-1]
    assert third["tap_off"] == [] and len(third["logs"]["gas/profile"]) == 1


def test_gcs31_samples_the_network_data_every_6_minutes_for_4_hours(lab):
    sim = Simulator(START, keep_trace=False)
    gsme = make_gsme(lab, sim)
    begin = START + _dt.timedelta(hours=6)
    (ack,) = lab.send(gsme, "GCS31", to_server(
        gas.METERING, 0x07, issuer_event_id=1, start_sampling_time=utc_seconds(begin),
        sample_type=0, sample_request_interval=360, max_number_of_samples=41))
    assert zcl_payload(ack)["sample_id"].value == gas.NETWORK_DATA
    (busy,) = lab.send(gsme, "GCS31", to_server(
        gas.METERING, 0x07, issuer_event_id=2, start_sampling_time=0, sample_type=0,
        sample_request_interval=360, max_number_of_samples=10))
    assert zcl_payload(busy)["sample_id"].value == 0xFFFF       # one run at a time
    sim.run_until(begin + _dt.timedelta(hours=5))
    samples = [e.value for e in gsme.store.entries("gas/network")]
    assert len(samples) == 41
    times = [s["t"] for s in samples]
    assert times[0] == utc_seconds(begin) and {b - a for a, b in zip(times, times[1:])} == {360}
    load = BoilerLoad()
    assert [s["v"] for s in samples] == [
        load.volume_litres(to_datetime(t), to_datetime(t + 360)) for t in times]
    (comp,) = lab.send(gsme, "GCS31", to_server(
        gas.METERING, 0x07, issuer_event_id=3, start_sampling_time=0, sample_type=0,
        sample_request_interval=360, max_number_of_samples=41))
    assert zcl_payload(comp)["sample_id"].value == gas.NETWORK_DATA   # the run ended


def test_each_billing_period_end_pushes_the_billing_data_log_gcs53(lab):
    sim = Simulator(START, keep_trace=False)
    gsme = make_gsme(lab, sim)
    (ack,) = lab.send(gsme, "GCS25", to_client(
        gas.PRICE, 0x09, provider_id=1, issuer_event_id=9,
        billing_period_start_time=utc_seconds(START), billing_period_duration=1,
        billing_period_duration_type=1, tariff_type=0))           # daily
    assert status(ack) == 0
    gsme.take_alerts()
    sim.run_until(START + _dt.timedelta(days=2, minutes=1))
    alerts = [decode(a, lab.keystore, ACB) for a in gsme.take_alerts()]
    pushed = [a for a in alerts if a.header.message_code == gbz.GCS53_ALERT]
    assert len(pushed) == 2 and all(a.header.recipient == SUPPLIER for a in pushed)
    snapshot = next(n for n in pushed[-1].tree.walk() if n.name == "publish_snapshot")
    assert snapshot["snapshot_cause"].value == gas.CAUSE_BILLING
    assert snapshot["snapshot_sub_payload.current_summation_delivered"].value == \
        2 * day_litres()
