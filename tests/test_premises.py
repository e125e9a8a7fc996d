"""A premises in virtual time (tools.lab's Lab, comms hub + GPF, ESME and GSME over the
virtual HAN, with the DCC): a gas day of 48 syncs with the GPF mirror equal to the
meter at each; a command to the sleeping GSME held by the hub until its wake and
answered, and one it never collects withdrawn with the failure-to-deliver alert; hub
power cuts of 2 minutes (the DCC hears nothing: the 3-minute rule) and 4 minutes (last
gasp and restoration) with the HAN back and a sync lost in the outage made good; a comms
hub replacement whose device log the DCC restores with CCS03, after which the devices
join again and commands flow."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from conftest import REFERENCE, need

from boards.board import DEFAULT_PREMISES, DeviceType, Premises, load_premises
from boards.nvm import MEMORY, SqliteStore
from firmware.chf.chf import CS14, FAILURE_TO_DELIVER, NOT_DELIVERED
from firmware.chf.cosem import DEVICE_LOG, ZIGBEE_NETWORK_CONTROL
from firmware.chf.power import POWER_OUTAGE, POWER_RESTORED
from firmware.core.credentials import Role
from firmware.core.gas import CURRENT_SUMMATION
from firmware.gsme.gsme import WAKE
from gbcs import asn1, dlms
from gbcs.axdr import ARRAY, OCTET_STRING, STRUCTURE, data_node
from gbcs.build import build_message
from gbcs.message import decode
from tools.headend.duis import Element
from tools.lab import demo
from tools.lab.premises import Lab
from tools.lab.wan import UP

START = datetime(2026, 3, 1, tzinfo=UTC)
ACB_COUNTER = 1 << 40            # above anything the lab's DCC sent the hub as the ACB


def _premises() -> Premises:
    """The default premises without its PPMID and IHD (they add nothing here but radio
    traffic: the IHD reads every 10 s)."""
    full = load_premises(DEFAULT_PREMISES)
    return Premises("gas", tuple(b for b in full.boards
                                 if b.type not in (DeviceType.PPMID, DeviceType.IHD)))


@pytest.fixture
def lab():
    need(REFERENCE / "duis-request-matrix.json")
    events: list[tuple[str, str]] = []
    trace = io.StringIO()
    lab = Lab(_premises(), start=START, seed=5,
              report=lambda kind, text: events.append((kind, text)), trace=trace)
    lab.events, lab.trace_text = events, trace
    # the hub confirms each sync it took; the GSME then need not send it again
    lab.han.sync_confirmed = \
        lambda eui, update: lab.gsmes[eui].gsme.sync_acknowledged(update["marks"])
    lab.start()
    assert demo.bring_up(lab).ok
    yield lab
    lab.close()


def _gas(lab: Lab):
    eui = next(iter(lab.gsmes))
    return eui, lab.gsmes[eui].gsme


def _next_wake(now: datetime) -> datetime:
    return now.replace(minute=now.minute // 30 * 30, second=0, microsecond=0) + WAKE


def _up(lab: Lab) -> list:
    """The messages that went up the WAN, decoded (headers)."""
    out = []
    for line in lab.trace_text.getvalue().splitlines():
        item = json.loads(line)
        if item["direction"] == UP:
            out.append(decode(bytes.fromhex(item["hex"]), verify=False))
    return out


def _profile(lab: Lab, eui: bytes) -> list:
    return [e.value for e in lab.stores[eui].entries("gas/profile")]


def test_a_gas_day_48_syncs_with_the_gpf_mirror_equal_to_the_meter_at_each(lab):
    eui, gsme = _gas(lab)
    gpf_eui = lab.gpf.eui
    seen = []
    into_gpf = lab.han.to_gpf

    def synced(sender: bytes, update: dict) -> None:
        into_gpf(sender, update)
        seen.append((lab.gpf.data.attributes.stored() == gsme.data.attributes.stored(),
                     lab.gpf.data.get(CURRENT_SUMMATION), gsme.data.get(CURRENT_SUMMATION),
                     _profile(lab, gpf_eui) == _profile(lab, eui)))
    lab.han.to_gpf = synced
    day = _next_wake(lab.sim.now()) + timedelta(minutes=1)
    lab.sim.run_until(day)
    seen.clear()
    lab.sim.run_until(day + timedelta(days=1))
    assert len(seen) == 48
    assert all(attributes and profile and mirrored == metered
               for attributes, mirrored, metered, profile in seen)
    litres = [metered for _, _, metered, _ in seen]
    assert litres == sorted(litres) and litres[-1] > litres[0]     # 1.5 kW of gas burnt
    # each half hour once in the mirror's profile, nothing counted twice
    times = [entry["t"] for entry in _profile(lab, gpf_eui)]
    assert len(times) == len(set(times)) >= 48
    assert lab.han.chf.stats["gpf_sync_refused"] == 0


def test_a_command_for_the_sleeping_gsme_waits_for_its_wake_and_is_answered(lab):
    eui, gsme = _gas(lab)
    step = demo.read_gas_meter(lab)              # held by the CHF, GET at the wake
    assert step.ok, step.detail
    assert not [e for e in lab.events if "not delivered" in e[1]]


def test_a_command_the_gsme_never_collects_is_withdrawn_with_a_failure_alert(lab):
    eui, gsme = _gas(lab)
    gsme.stop_waking()                           # e.g. a flat battery
    wan = lab.wan
    sent = lab.sim.now()
    exchange = wan.submit(Role.SUPPLIER, wan.request(
        Role.SUPPLIER, eui, "4.1.1", Element("ReadInstantaneousImportRegisters")))
    assert exchange.refused is None
    node = int.from_bytes(eui, "big")
    assert len(lab.han.tunnels.queues[node]) == 1
    lab.sim.run_until(sent + lab.hub.delivery_timeout + timedelta(seconds=1))
    assert not lab.han.tunnels.queues[node]
    assert exchange.response is None
    [alert] = [m for m in _up(lab) if m.header.message_code == FAILURE_TO_DELIVER]
    notification = next(n for n in alert.tree.walk() if n.name == "notification_body")
    assert notification["alert_code"].value == NOT_DELIVERED
    target = next(n for n in notification.walk() if n.name == "business_target_id")
    assert target.value == eui
    assert alert.header.originator == lab.hub.board.eui
    gsme.start_waking()                          # nothing left for it at the next wake
    lab.sim.run_for(WAKE + timedelta(minutes=1))
    assert exchange.response is None


@pytest.mark.parametrize("minutes", [2, 4])
def test_a_hub_power_cut_and_the_three_minute_rule(lab, minutes):
    eui, gsme = _gas(lab)
    lab.sim.run_until(_next_wake(lab.sim.now()) + timedelta(minutes=1))   # a first sync
    synced = lab.gpf.last_sync()
    wake = _next_wake(lab.sim.now())
    # the cut spans the GSME's wake: that sync is lost and made good at the next
    lab.sim.run_until(wake - timedelta(minutes=1))
    lab.hub.power_cut()
    lab.sim.run_until(wake - timedelta(minutes=1) + timedelta(minutes=minutes))
    lab.hub.power_restored()
    kinds = [n.kind for n in lab.hub.notices]
    assert kinds == ([POWER_OUTAGE, POWER_RESTORED] if minutes >= 3 else [])
    if kinds:
        assert lab.hub.notices[1].outage_duration == timedelta(minutes=minutes)
    assert lab.gpf.last_sync() == synced            # the sync at the wake was lost
    lab.sim.run_until(wake + WAKE + timedelta(minutes=1))
    assert lab.gpf.last_sync() == wake + WAKE       # the next one got through
    assert lab.gpf.data.get(CURRENT_SUMMATION) == gsme.data.get(CURRENT_SUMMATION)
    assert _profile(lab, lab.gpf.eui) == _profile(lab, eui)
    # the HAN is back: the electricity meter answers a read over it
    assert lab.ready
    step = demo.read_registers(lab)
    assert step.ok, step.detail
    events = [e.value for e in lab.stores[lab.hub.board.eui].entries("event")
              if isinstance(e.value, dict) and e.value.get("event") == "power_restored"]
    assert events[-1]["outage_seconds"] == minutes * 60


def _restore_command(lab: Lab, backup) -> bytes:
    """CCS03 from the DCC (the ACB): restore_PAN with the backup the DCC was sent in the
    old hub's last CS14 alert."""
    _, pan, devices = backup.children
    value = data_node("", [data_node("", pan.value, OCTET_STRING),
                           data_node("", list(devices.children), ARRAY)], STRUCTURE)
    request = dlms.access_request([("action", ZIGBEE_NETWORK_CONTROL, DEVICE_LOG, 5, value)],
                                  ACB_COUNTER)
    hub = lab.pki.devices[lab.hub.board.eui]
    return build_message(cra=1, originator_counter=ACB_COUNTER, originator=lab.pki.acb.eui,
                         recipient=lab.hub.board.eui, message_code=0x0003, content=request,
                         mac_keys=(lab.pki.acb.ka, hub.ka.public_key()))


def test_a_comms_hub_replacement_restores_the_device_log_and_commands_flow_again(lab):
    old_log = lab.hub.chf.device_log.entries()
    # the DCC holds the hub's last backup: the CS14 alert of its last device log change
    lab.hub.chf._device_log_changed(old_log)
    lab.hub.collect_alerts()
    cs14 = [m for m in _up(lab) if m.header.message_code == CS14][-1]
    backup = next(n for n in cs14.tree.walk() if n.name == "notification_body").children[2]

    lab.hub.replace(SqliteStore(MEMORY))
    assert lab.hub.chf.device_log.entries() == []
    lab.sim.run_for(timedelta(seconds=30))
    assert not demo.read_registers(lab).ok            # no device log: nothing routed

    tunnels = set(lab.han.tunnels.tunnels)
    lab.wan.to_chf(_restore_command(lab, backup))
    assert sorted(e.eui for e in lab.hub.chf.device_log.entries()) == \
        sorted(e.eui for e in old_log)
    assert not lab.ready                                # the devices join again
    assert demo._wait(lab, lambda: lab.ready, timedelta(minutes=10))
    assert len(lab.han.tunnels.tunnels) == 2 and not tunnels & set(lab.han.tunnels.tunnels)
    step = demo.read_registers(lab)
    assert step.ok, step.detail
    step = demo.read_gas_meter(lab)
    assert step.ok, step.detail


def test_a_firmware_image_reaches_the_gsme_through_the_hub_and_is_reported(lab):
    eui, gsme = _gas(lab)
    lab.hub.image_receivers[eui] = gsme.firmware_received
    image = bytes(range(256)) * 40
    lab.hub.distribute_firmware(eui, image, bytes.fromhex("02000000"))
    lab.sim.run_until(_next_wake(lab.sim.now()) + timedelta(minutes=1))
    codes = [m.header.message_code for m in _up(lab)]
    assert 0x0128 in codes             # CCS08 from the hub: transferred
    assert 0x00CF in codes             # 8F72 from the meter at its wake: verified
    receipt = next(m for m in _up(lab) if m.header.message_code == 0x00CF)
    digest = next(n for n in receipt.tree.walk() if n.name == "value").value
    assert digest == hashlib.sha256(image).digest()
    with pytest.raises(ValueError, match="not in the CHF's device log"):
        lab.hub.distribute_firmware(bytes(8), image, bytes(4))


def test_gcs28_sets_the_sleeping_gsme_clock_from_the_hub_time_at_its_wake(lab):
    eui, gsme = _gas(lab)
    gsme.time_source = lab.hub.han_time
    now = lab.sim.now()
    command = build_message(
        cra=1, originator_counter=lab.wan.next_counter(lab.wan.users[Role.SUPPLIER]),
        originator=lab.pki.supplier.eui, recipient=eui, message_code=0x007F,
        content=asn1.set_time_command(now - timedelta(minutes=30), now + timedelta(hours=1)),
        signer=lab.pki.supplier.ds,
        mac_keys=(lab.pki.acb.ka, lab.pki.devices[eui].ka.public_key()))
    lab.wan.to_chf(command)
    lab.sim.run_until(_next_wake(now) + timedelta(minutes=1))
    [answer] = [m for m in _up(lab) if m.header.message_code == 0x007F]
    status = next(n for n in answer.tree.walk() if n.name == "device_time_status")
    assert status.human == "reliable" and answer.header.originator == eui
