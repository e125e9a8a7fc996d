"""The PPMID: joins (CS03A2 / CS03C / CS04AC) and device-originated commands (PCS01 /
PCS02) checked by the meter's security, its screen, and, in the lab in virtual time,
top-ups from the PPMID to the ESME (PECS, over the HAN) and the sleeping GSME (PCS,
through the CHF), refused when replayed or when the PPMID is not joined."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import zigpy.types as t
from zigpy.zcl.foundation import Direction, Status

from boards.board import DEFAULT_PREMISES, load_premises
from boards.nvm import SqliteStore
from boards.peripherals import VirtualValve
from boards.simulator import Simulator
from firmware.core import security as sec
from firmware.core.credentials import DeviceCredentials, Role, TrustAnchor, TrustAnchors
from firmware.core.gas import CREDIT_REMAINING, EMERGENCY_CREDIT_REMAINING
from firmware.core.pecs import REJECTED_DUPLICATE, PecsServer, TopUpRefused
from firmware.esme.engine import PaymentMode, SupplyState, make_utrn
from firmware.esme.engine.engine import UNITS_PER_PENNY
from firmware.gsme.gsme import Gsme
from firmware.ppmid import Alert, EnablePolicy, Fuel, GbcsOut, MeterView, Ppmid, PpmidError
from gbcs import asn1, crypto, gbz, zcl
from gbcs.build import build_message
from gbcs.message import decode
from han.zcl.frame import cluster_command, decode_frame
from tools.lab.ppmid import device_certificate, gas_top_up_key, utrn_verifier
from tools.lab.premises import Lab
from tests.conftest import REFERENCE, need

START = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)
SUPPLIER = bytes.fromhex("02534CA000000002")
ACB = bytes.fromhex("02534CA000000004")
GSME_EUI = bytes.fromhex("02534C0000000104")
PPMID_EUI = bytes.fromhex("02534C0000000105")
CS03C, CS04AC = 0x00AF, 0x000F


# -- a GSME and a PPMID on the bench, joined as the DCC joins them ---------------------------


class Bench:
    def __init__(self) -> None:
        self.supplier_ds, self.acb_ka = crypto.generate_private_key(), \
            crypto.generate_private_key()
        self.ca = crypto.generate_private_key()
        anchors = TrustAnchors()
        anchors.set(TrustAnchor(Role.SUPPLIER, SUPPLIER, self.supplier_ds.public_key(), None))
        anchors.set(TrustAnchor(Role.ACCESS_CONTROL_BROKER, ACB, None,
                                self.acb_ka.public_key()))
        self.sim = Simulator(START, keep_trace=False)
        gsme_ka = crypto.generate_private_key()
        self.utrn_key = gas_top_up_key(gsme_ka)
        self.gsme = Gsme(DeviceCredentials(GSME_EUI, crypto.generate_private_key(), gsme_ka),
                         anchors, SqliteStore(), self.sim, VirtualValve(self.sim),
                         verify_utrn=utrn_verifier(self.utrn_key, GSME_EUI))
        self.gsme.stop_waking()
        self.ppmid = Ppmid(DeviceCredentials(PPMID_EUI, crypto.generate_private_key(),
                                             crypto.generate_private_key()),
                           anchors, SqliteStore(), self.sim)
        self.counter = 0

    def command(self, device, code: int, content) -> bytes:
        self.counter += 1
        return build_message(cra=1, originator_counter=self.counter, originator=SUPPLIER,
                             recipient=device.eui, message_code=code, content=content,
                             signer=self.supplier_ds,
                             mac_keys=(self.acb_ka, device.credentials.ka.public_key()))

    def certificate(self, device, usage: str = "KA") -> bytes:
        key = device.credentials.ka if usage == "KA" else device.credentials.ds
        return device_certificate(device.eui, key.public_key(), usage, self.ca,
                                  self.counter + 1)

    def join(self, device, other, other_type: str, usage: str = "KA") -> str:
        content = asn1.join_command(CS03C, "methodC", other.eui, other_type,
                                    self.certificate(other, usage))
        [answer] = device.receive(self.command(device, CS03C, content))
        tree = decode(answer, verify=False).tree
        return next(n for n in tree.walk() if n.name == "join_response_code").human

    def unjoin(self, device, other) -> None:
        device.receive(self.command(device, CS04AC, asn1.unjoin_command(CS04AC, other.eui)))

    def utrn(self, pence: int, counter: int) -> str:
        return make_utrn(self.utrn_key, GSME_EUI, pence, counter)


@pytest.fixture
def bench() -> Bench:
    b = Bench()
    assert b.join(b.gsme, b.ppmid, "ppmid") == "success"
    assert b.join(b.ppmid, b.gsme, "gsme") == "success"
    return b


def _credit(bench: Bench) -> int:
    return bench.gsme.data.get(CREDIT_REMAINING)


def test_pcs01_from_the_joined_ppmid_tops_up_the_gsme_once(bench):
    [out] = bench.ppmid.enter_utrn(Fuel.GAS, bench.utrn(500, 7))
    assert isinstance(out, GbcsOut) and out.recipient == GSME_EUI
    msg = decode(out.message, verify=False)
    assert msg.use_case.use_case == "PCS01" and msg.header.mac is not None
    assert msg.header.signature is None
    before = _credit(bench)
    [response] = bench.gsme.receive(out.message)
    assert _credit(bench) - before == 500 * 1000
    assert bench.ppmid.on_gbcs(response)
    assert bench.ppmid.screen.view(Fuel.GAS).credit == _credit(bench)
    assert "accepted" in bench.ppmid.screen.message
    # The same message again: a replayed counter, refused and logged, nothing changes.
    assert bench.gsme.receive(out.message) == []
    assert _credit(bench) - before == 500 * 1000
    assert bench.gsme.store.entries("security")[-1].value["reason"] == sec.REPLAYED
    # The same UTRN keyed in again: the command passes, the meter refuses the token.
    [again] = bench.ppmid.enter_utrn(Fuel.GAS, bench.utrn(500, 7))
    [answer] = bench.gsme.receive(again.message)
    assert bench.ppmid.on_gbcs(answer) and "already used" in bench.ppmid.screen.message
    assert _credit(bench) - before == 500 * 1000
    assert not bench.ppmid.on_gbcs(answer)        # answered once


def test_pcs02_activates_emergency_credit(bench):
    [out] = bench.ppmid.select_emergency_credit(Fuel.GAS)
    assert decode(out.message, verify=False).use_case.use_case == "PCS02"
    [response] = bench.gsme.receive(out.message)
    assert bench.gsme.data.get(EMERGENCY_CREDIT_REMAINING) > 0
    assert bench.ppmid.on_gbcs(response) and "done" in bench.ppmid.screen.message


def test_unjoined_or_unknown_ppmid_is_refused_and_changes_nothing(bench):
    bench.unjoin(bench.gsme, bench.ppmid)
    assert sec.device_originator(bench.gsme.store, PPMID_EUI) is None
    [out] = bench.ppmid.enter_utrn(Fuel.GAS, bench.utrn(300, 9))
    before = _credit(bench)
    assert bench.gsme.receive(out.message) == []
    assert _credit(bench) == before
    assert bench.gsme.store.entries("security")[-1].value["reason"] == sec.BAD_MAC


def test_device_commands_need_the_right_key_and_sender(bench):
    [out] = bench.ppmid.enter_utrn(Fuel.GAS, bench.utrn(300, 11))
    tampered = out.message[:-1] + bytes([out.message[-1] ^ 1])
    verdict = sec.check_command(tampered, bench.gsme.credentials, bench.gsme.anchors,
                                bench.gsme.store)
    assert isinstance(verdict, sec.Rejected) and verdict.reason == sec.BAD_MAC
    # PCS01 is a device's command: the supplier may not send it.
    top_up = gbz.gbz_payload([gbz.component(0x0705, zcl.zcl_command(
        0x0705, 0x04, 0, originating_device=2, top_up_code=bench.utrn(300, 12).encode()))])
    verdict = sec.check_command(bench.command(bench.gsme, 0x009B, top_up),
                                bench.gsme.credentials, bench.gsme.anchors, bench.gsme.store)
    assert isinstance(verdict, sec.Rejected) and verdict.reason == sec.SIGNER_NOT_AUTHORISED


def test_a_joined_ppmid_may_send_only_pcs01_and_pcs02(bench):
    read = gbz.gbz_payload([gbz.component(0x0705, zcl.zcl_read_attributes(0x0705, [1]))])
    message = build_message(cra=1, originator_counter=99, originator=PPMID_EUI,
                            recipient=GSME_EUI, message_code=0x0070, content=read,
                            mac_keys=(bench.ppmid.credentials.ka,
                                      bench.gsme.credentials.ka.public_key()))
    verdict = sec.check_command(message, bench.gsme.credentials, bench.gsme.anchors,
                                bench.gsme.store)
    assert isinstance(verdict, sec.Rejected) and verdict.reason == sec.SIGNER_NOT_AUTHORISED


class FakeMeter:
    def __init__(self) -> None:
        self.credit, self.used = 0, set()

    def enter_utrn(self, utrn: str) -> int:
        if utrn in self.used:
            raise TopUpRefused(REJECTED_DUPLICATE, "used")
        self.used.add(utrn)
        self.credit += 1000
        return 1000

    def select_emergency_credit(self) -> bool:
        return False

    def local_enable(self) -> bool:
        return True

    def credit_remaining(self) -> int:
        return self.credit


def test_pecs_server_answers_a_joined_ppmid_only():
    store = {sec.JOIN_LOG: [{"eui": PPMID_EUI, "type": sec.PPMID_TYPE}]}
    meter = FakeMeter()
    server = PecsServer(meter, store)
    top_up = cluster_command(0x0705, "consumer_top_up", Direction.Client_to_Server, tsn=4,
                             originating_device=2,
                             top_up_code=t.LVBytes(b"1" * 20)).encode()
    assert server.handle(GSME_EUI, 0x0705, top_up) is None       # not a joined PPMID
    assert server.handle(None, 0x0705, top_up) is None           # not APS-authenticated
    assert server.refused["not_joined"] == 2 and meter.credit == 0
    answer = decode_frame(0x0705, server.handle(PPMID_EUI, 0x0705, top_up))
    assert answer.header.tsn == 4 and answer.args.result_type == 0
    assert answer.args.top_up_value == 1000 and answer.args.credit_remaining == 1000
    again = decode_frame(0x0705, server.handle(PPMID_EUI, 0x0705, top_up))
    assert again.args.result_type == REJECTED_DUPLICATE and meter.credit == 1000
    ec = cluster_command(0x0705, "select_available_emergency_credit",
                         Direction.Client_to_Server, tsn=5, command_issue_date_time=0,
                         originating_device=2).encode()
    refused = decode_frame(0x0705, server.handle(PPMID_EUI, 0x0705, ec))
    assert refused.args.status == Status.FAILURE
    assert decode_frame(0x0705, server.handle(PPMID_EUI, 0x0705, b"\x01\x06\x04\x02")
                        ).args.status == Status.MALFORMED_COMMAND


def test_method_c_needs_a_device_ka_certificate():
    b = Bench()
    assert b.join(b.gsme, b.ppmid, "ppmid", usage="DS") == "invalidOrMissingCertificate"
    assert sec.device_originator(b.gsme.store, PPMID_EUI) is None
    with pytest.raises(PpmidError, match="Method C"):
        b.ppmid.enter_utrn(Fuel.GAS, "1" * 20)


def test_ppmid_refuses_what_it_cannot_send(bench):
    with pytest.raises(PpmidError, match="20 digits"):
        bench.ppmid.enter_utrn(Fuel.GAS, "12345")
    with pytest.raises(PpmidError, match="gas meter"):
        bench.ppmid.press_enable(Fuel.GAS)
    with pytest.raises(PpmidError, match="ESME"):
        bench.ppmid.enter_utrn(Fuel.ELECTRICITY, "1" * 20)


def test_screen_alerts():
    view = MeterView()
    assert view.alerts() == [Alert.NO_DATA]
    view.updated, view.prepayment = START, True
    view.credit, view.low_credit_level, view.credit_status = 50_000, 100_000, 0x01 | 0x08
    view.supply, view.debt = "armed", 2_000
    assert view.alerts() == [Alert.LOW_CREDIT, Alert.EMERGENCY_CREDIT_AVAILABLE,
                             Alert.SUPPLY_ARMED, Alert.DEBT]
    view.prepayment = False                        # credit mode: no credit alerts
    assert view.alerts() == [Alert.SUPPLY_ARMED, Alert.DEBT]


# -- the premises in virtual time ---------------------------------------------------------------


@pytest.fixture(scope="module")
def lab():
    need(REFERENCE / "duis-request-matrix.json")
    events: list[tuple[str, str]] = []
    lab = Lab(load_premises(DEFAULT_PREMISES), start=START, seed=5,
              report=lambda kind, text: events.append((kind, text)))
    lab.events = events
    lab.start()
    lab.sim.run_until(START + timedelta(minutes=2))
    yield lab
    lab.close()


def _units(lab):
    [ppmid] = lab.ppmids.values()
    [esme] = lab.esmes.values()
    [gas] = lab.gsmes.values()
    return ppmid, esme, gas


def _run(lab, seconds: float) -> None:
    lab.sim.run_until(lab.sim.now() + timedelta(seconds=seconds))


def test_lab_ppmid_joins_does_cbke_and_reads_both_meters(lab):
    unit, esme, gas = _units(lab)
    assert lab.ready and unit.cbke_with_esme == "done"
    assert unit.ppmid.meter(Fuel.ELECTRICITY) == esme.board.eui
    assert unit.ppmid.meter(Fuel.GAS) == gas.board.eui
    reads = unit.ppmid.screen.view(Fuel.ELECTRICITY).reads
    _run(lab, 30)
    assert unit.ppmid.screen.view(Fuel.ELECTRICITY).reads >= reads + 3   # every 10 s
    assert unit.ppmid.screen.view(Fuel.GAS).reads >= 1


def test_lab_esme_top_up_adds_exactly_the_utrn_and_only_once(lab):
    unit, esme, _ = _units(lab)
    engine = esme.engine
    engine.set_payment_mode(PaymentMode.PREPAYMENT)
    _run(lab, 11)
    assert unit.ppmid.screen.view(Fuel.ELECTRICITY).prepayment is True
    utrn = make_utrn(lab.pki.top_up_keys[esme.board.eui], esme.board.eui, 1250, 41)
    balance, cost = engine.meter_balance, engine.cost_total
    unit.send(unit.ppmid.enter_utrn(Fuel.ELECTRICITY, utrn))
    _run(lab, 3)
    used = engine.cost_total - cost                # what the load drew meanwhile
    assert engine.meter_balance - balance + used == 1250 * UNITS_PER_PENNY
    assert "top-up of £12.50 accepted" in unit.ppmid.screen.message
    assert unit.ppmid.screen.view(Fuel.ELECTRICITY).credit == pytest.approx(
        engine.meter_balance, abs=200)
    # Keyed in again: refused as a duplicate, the balance only pays for the load.
    balance, cost = engine.meter_balance, engine.cost_total
    unit.send(unit.ppmid.enter_utrn(Fuel.ELECTRICITY, utrn))
    _run(lab, 3)
    assert engine.meter_balance - balance + (engine.cost_total - cost) == 0
    assert "already used" in unit.ppmid.screen.message


def test_lab_arm_then_enable_per_policy(lab):
    unit, esme, _ = _units(lab)
    engine = esme.engine
    engine.set_payment_mode(PaymentMode.PREPAYMENT)
    engine.disable_supply()
    engine.arm_supply()
    unit.ppmid.policy = EnablePolicy.ON_BUTTON
    _run(lab, 11)
    assert unit.ppmid.screen.view(Fuel.ELECTRICITY).supply == "armed"
    key = lab.pki.top_up_keys[esme.board.eui]
    unit.send(unit.ppmid.enter_utrn(Fuel.ELECTRICITY, make_utrn(key, esme.board.eui, 200, 42)))
    _run(lab, 3)
    assert engine.supply_state is SupplyState.ARMED      # waits for the button
    unit.send(unit.ppmid.press_enable(Fuel.ELECTRICITY))
    _run(lab, 3)
    assert engine.supply_state is SupplyState.ENABLED
    engine.disable_supply()
    engine.arm_supply()
    unit.ppmid.policy = EnablePolicy.ON_TOP_UP
    _run(lab, 11)
    unit.send(unit.ppmid.enter_utrn(Fuel.ELECTRICITY, make_utrn(key, esme.board.eui, 200, 43)))
    _run(lab, 3)
    assert engine.supply_state is SupplyState.ENABLED   # enabled on the accepted top-up
    unit.ppmid.policy = EnablePolicy.ON_BUTTON


def test_lab_gas_top_up_reaches_the_gsme_at_its_next_wake(lab):
    unit, _, gas = _units(lab)
    key = gas_top_up_key(gas.gsme.credentials.ka)
    utrn = make_utrn(key, gas.board.eui, 800, 5)
    now = lab.sim.now()
    wake = now.replace(minute=30 if now.minute < 30 else 0, second=0) + \
        (timedelta(hours=1) if now.minute >= 30 else timedelta(0))
    before = gas.gsme.data.get(CREDIT_REMAINING)
    unit.send(unit.ppmid.enter_utrn(Fuel.GAS, utrn))
    lab.sim.run_until(wake - timedelta(seconds=5))
    assert gas.gsme.data.get(CREDIT_REMAINING) == before     # asleep: queued in the hub
    lab.sim.run_until(wake + timedelta(seconds=30))
    assert gas.gsme.data.get(CREDIT_REMAINING) - before == 800 * 1000
    assert "gas: top-up of £8.00 accepted" in unit.ppmid.screen.message
    assert unit.ppmid.screen.view(Fuel.GAS).credit == before + 800 * 1000
    # The same UTRN again reaches the meter at the next wake and is refused.
    unit.send(unit.ppmid.enter_utrn(Fuel.GAS, utrn))
    lab.sim.run_until(wake + timedelta(minutes=30, seconds=30))
    assert gas.gsme.data.get(CREDIT_REMAINING) - before == 800 * 1000
    assert "already used" in unit.ppmid.screen.message


def test_lab_unjoined_ppmid_is_refused_by_the_esme(lab):
    unit, esme, _ = _units(lab)
    engine = esme.engine
    installer_unjoin(lab, esme.esme, unit.ppmid.eui)
    key = lab.pki.top_up_keys[esme.board.eui]
    balance, cost = engine.meter_balance, engine.cost_total
    unit.send(unit.ppmid.enter_utrn(Fuel.ELECTRICITY, make_utrn(key, esme.board.eui, 900, 77)))
    _run(lab, 3)
    assert engine.meter_balance - balance + (engine.cost_total - cost) == 0
    assert unit.ppmid.screen.message == "electricity: top-up sent"     # no answer
    assert 77 not in engine.utrn_counters


def installer_unjoin(lab, device, other: bytes) -> None:
    """CS04AC from the supplier, with the DCC's next counter (as `Installer.join`)."""
    wan, pki = lab.wan, lab.pki
    user = wan.users[Role.SUPPLIER]
    counter = wan.next_counter(user)
    wan.dcc.counters.advance(user.eui, counter)
    device.receive(build_message(
        cra=1, originator_counter=counter, originator=pki.supplier.eui, recipient=device.eui,
        message_code=CS04AC, content=asn1.unjoin_command(CS04AC, other),
        signer=pki.supplier.ds, mac_keys=(pki.acb.ka, device.credentials.ka.public_key())))
    assert all(e["eui"] != other for e in device.store.get(sec.JOIN_LOG) or [])
