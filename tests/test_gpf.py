"""The GPF mirrors the GSME: after a sync it answers GCS reads as the GSME would, the
tap-off replays the GSME's executed commands into the mirror, and it takes its own
change of tenancy."""

from __future__ import annotations

import datetime as _dt

import pytest

from boards.nvm import SqliteStore
from boards.simulator import Simulator
from firmware.core import gas
from firmware.gpf.gpf import Gpf, GpfError
from gbcs.zcl_types import utc_seconds
from tests.test_gsme import (
    GPF_EUI, START, Lab, day_litres, make_gsme, read, records, status, to_client, to_server,
    zcl_payload,
)


@pytest.fixture
def premises():
    lab = Lab()
    sim = Simulator(START, keep_trace=False)
    gpf = Gpf(lab.credentials("gpf", GPF_EUI), lab.anchors, SqliteStore(), sim)
    gsme = make_gsme(lab, sim, on_sync=gpf.sync)
    return lab, sim, gsme, gpf


def send_gpf(lab, gpf, use_case, *components):
    return lab.send(gpf, use_case, *components, recipient=GPF_EUI, name="gpf")


def test_the_mirror_follows_the_gsme_after_each_sync(premises):
    lab, sim, gsme, gpf = premises
    assert gpf.last_sync() is None
    sim.run_until(START + _dt.timedelta(days=1, minutes=1))
    assert gpf.last_sync() == START + _dt.timedelta(days=1)
    assert gpf.data.get(gas.CURRENT_SUMMATION) == gsme.data.get(gas.CURRENT_SUMMATION) \
        == day_litres()
    for log in ("gas/profile", "gas/daily", "gas/snapshots"):
        assert [e.value for e in gpf.store.entries(log)] == \
            [e.value for e in gsme.store.entries(log)]
    # GCS13a to the GPF: the GSME's register, from the mirror, encrypted
    (comp,) = send_gpf(lab, gpf, "GCS13a", read(gas.METERING, 0x0000, 0x0300))
    assert records(comp) == {0x0000: day_litres(), 0x0300: 1}
    # GCS61: the daily consumption log
    (comp,) = send_gpf(lab, gpf, "GCS61", to_server(
        gas.METERING, 0x08, sample_id=gas.DAILY_CONSUMPTION,
        earliest_sample_time=utc_seconds(START), sample_type=0, number_of_samples=7))
    assert [s.value for s in zcl_payload(comp)["samples"].children[1:]] == [day_litres()]
    # half an hour later the mirror has the new half hour, not before the sync
    sim.run_until(START + _dt.timedelta(days=1, hours=7, minutes=10))
    assert gpf.data.get(gas.CURRENT_SUMMATION) == gsme.data.get(gas.CURRENT_SUMMATION)


def test_the_tap_off_replays_the_gsme_commands_into_the_mirror(premises):
    lab, sim, gsme, gpf = premises
    (ack,) = lab.send(gsme, "GCS25", to_client(
        gas.PRICE, 0x09, provider_id=1, issuer_event_id=9, billing_period_start_time=0,
        billing_period_duration=1, billing_period_duration_type=2, tariff_type=0))
    assert status(ack) == 0
    (missing,) = send_gpf(lab, gpf, "GCS21k", to_server(
        gas.PRICE, 0x0B, earliest_start_time=0, min_issuer_event_id=0, number_of_commands=1,
        tariff_type=0))
    assert status(missing) == 0x8B  # not synced yet
    sim.run_until(START + _dt.timedelta(minutes=31))
    (period,) = send_gpf(lab, gpf, "GCS21k", to_server(
        gas.PRICE, 0x0B, earliest_start_time=0, min_issuer_event_id=0, number_of_commands=1,
        tariff_type=0))
    assert zcl_payload(period)["issuer_event_id"].value == 9


def test_the_gpf_takes_its_change_of_tenancy_and_refuses_a_bad_sync(premises):
    lab, sim, gsme, gpf = premises
    (ack,) = send_gpf(lab, gpf, "GCS09", to_client(
        gas.DEVICE_MANAGEMENT, 0x00, provider_id=1, issuer_event_id=3, tariff_type=0,
        implementation_date_time=0, proposed_tenancy_change_control=0))
    assert status(ack) == 0
    assert gpf.data.config("change_of_tenancy")["issuer_event_id"] == 3
    before = gpf.data.get(gas.CURRENT_SUMMATION)
    with pytest.raises(GpfError, match="malformed"):
        gpf.sync({"at": 0, "attributes": {"0702/0000": 5}, "logs": {}})  # no tap_off
    assert gpf.data.get(gas.CURRENT_SUMMATION) == before  # rolled back
    with pytest.raises(GpfError, match="unknown log"):
        gpf.sync({"at": 0, "attributes": {}, "logs": {"nope": []}, "tap_off": []})


def test_a_resent_sync_replays_its_tap_off_once(premises):
    lab, sim, gsme, gpf = premises
    updates: list = []
    gsme.on_sync = updates.append             # the hub acknowledges nothing
    lab.send(gsme, "GCS25", to_client(
        gas.PRICE, 0x09, provider_id=1, issuer_event_id=9, billing_period_start_time=0,
        billing_period_duration=1, billing_period_duration_type=2, tariff_type=0))
    sim.run_until(START + _dt.timedelta(minutes=61))
    replayed = []
    handler = gpf.server.handlers[(gas.PRICE, 1, 0x09)]
    gpf.server.handlers[(gas.PRICE, 1, 0x09)] = lambda r: (replayed.append(r), handler(r))
    for update in updates:                    # the first arrives late, then the resend
        gpf.sync(update)
    assert len(replayed) == 1
    profile = [e.value["t"] for e in gpf.store.entries("gas/profile")]
    assert len(profile) == len(set(profile)) == 2


def test_gcs59_restores_the_gpf_device_log_and_gcs62_backs_it_up(premises):
    from gbcs import asn1
    from tests.test_gsme import ACB
    from gbcs.build import build_message
    from gbcs.message import decode
    lab, sim, gsme, gpf = premises
    ppmid, ihd = bytes.fromhex("0011223344556677"), bytes.fromhex("8899AABBCCDDEEFF")

    def restore(entries):
        lab.counter += 1
        sent = gpf.receive(build_message(
            cra=1, originator_counter=lab.counter, originator=ACB, recipient=GPF_EUI,
            message_code=0x008C, content=asn1.gpf_device_log_restore_command(entries),
            mac_keys=(lab.keys["acb"][1], lab.keys["gpf"][1].public_key())))
        assert sent, gpf.store.entries("event")[-1:]
        msgs = [decode(m, lab.keystore, ACB) for m in sent]
        outcomes = [o["join_response_code"].human for o in msgs[0].tree.walk()
                    if o.name == "restore_outcome"]
        return outcomes, msgs[1:]

    outcomes, alerts = restore([(ppmid, 5), (ihd, 6)])
    assert outcomes == ["success", "success"]
    [backup] = alerts
    assert (backup.header.message_code, backup.header.recipient) == (0x00B2, ACB)
    logged = [n["device_id"].value for n in backup.tree.walk() if n.name == "device_log_entry"]
    assert logged == [ppmid, ihd]
    outcomes, alerts = restore([(ppmid, 5), (ppmid, 6)])    # known; then another type
    assert outcomes == ["success", "incompatibleWithExistingEntry"] and alerts == []
    full = [(bytes([i]) * 8, 6) for i in range(1, 8)]
    outcomes, alerts = restore(full)
    assert outcomes.count("deviceLogFull") == 1 and len(alerts) == 1
    gpf.hardware_faults.add(0x008C)
    outcomes, alerts = restore([(bytes([9]) * 8, 6)])
    assert outcomes == ["writeFailure"] and alerts == []
