"""IHDs and CADs (Type 2 devices) in virtual time: an IHD and four CADs join by install
code, find the ESME and the GPF and read them for an hour; each shows the power and
today's use and cost the meter engine measured, and the gas figures of the GSME's last
sync to the GPF. Writes to the published clusters are refused over the air and change
nothing; commands other than the gets are unsupported; the IHD displays and confirms
the supplier's message; after a change of tenancy (SRV 3.2 / ECS12 through the DCC; the
GPF's GCS09 handler) the previous tenant's data is hidden."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import REFERENCE, need
from zigpy.zcl import foundation
from zigpy.zcl.foundation import Direction, GeneralCommand, Status

from boards.board import DEFAULT_PREMISES, DeviceType, load_premises
from firmware.core.credentials import Role
from firmware.core.gas import CURRENT_SUMMATION, DEVICE_MANAGEMENT, TO_CLIENT
from firmware.core.zse import Request, to_datetime, to_seconds
from firmware.esme.engine import UNITS_PER_PENNY, PaymentMode
from firmware.ihd import Kind
from gbcs.axdr import data_node
from gbcs.message import decode
from han.radio import Endpoint
from han.radio.aps_layer import ApsIndication
from han.zcl.frame import cluster_command, decode_frame, general_command
from tools.headend import mmc
from tools.headend.duis import Element
from tools.lab import zse
from tools.lab.esme import SUPPLIER_MESSAGE
from tools.lab.han import GPF_ENDPOINT
from tools.lab.premises import Lab
from tools.lab.status import LINES, Status as LabStatus

START = datetime(2026, 3, 1, tzinfo=UTC)
CADS = Path(__file__).resolve().parent.parent / "boards" / "premises" / "cads.toml"
PROBE_ENDPOINT = 200          # a test endpoint on a Type 2 device's node
STEP = timedelta(seconds=10)


def _run_until(lab: Lab, done, limit: timedelta) -> bool:
    end = lab.sim.now() + limit
    while not done() and lab.sim.now() < end:
        lab.sim.run_for(STEP)
    return done()


def _type2(lab: Lab):
    return [d for d in lab.han.devices.values() if d.type2 is not None]


@pytest.fixture(scope="module")
def cads() -> Lab:
    """The CAD premises after an hour of reading."""
    need(REFERENCE / "duis-request-matrix.json")
    events: list[tuple[str, str]] = []
    lab = Lab(load_premises(CADS), start=START, seed=5,
              report=lambda kind, text: events.append((kind, text)))
    lab.events = events
    lab.start()
    assert _run_until(lab, lambda: lab.ready, timedelta(minutes=5))
    lab.sim.run_for(timedelta(hours=1))
    yield lab
    lab.close()


class Probe:
    """A test endpoint on a device's node: sends ZCL frames, keeps the answers."""

    def __init__(self, node, clusters) -> None:
        self.node, self.answers = node, []
        endpoint = node.add_endpoint(Endpoint(PROBE_ENDPOINT))
        for cluster_id in clusters:
            endpoint.client_clusters[cluster_id] = \
                lambda ind, c=cluster_id: self.answers.append(decode_frame(c, ind.payload))

    def send(self, lab: Lab, source: tuple[int, int], cluster_id: int, frame) -> object:
        self.answers.clear()
        self.node.send_data(source[0], source[1], cluster_id, frame.encode(),
                            source_endpoint=PROBE_ENDPOINT)
        assert _run_until(lab, lambda: self.answers, timedelta(seconds=30))
        return self.answers[0]


def test_an_ihd_and_four_cads_read_the_esme_for_an_hour(cads):
    devices = _type2(cads)
    assert sorted(d.type2.kind.value for d in devices) == ["CAD"] * 4 + ["IHD"]
    unit = next(iter(cads.esmes.values()))
    engine, now = unit.engine, cads.sim.now()
    price_p = engine.tariff.prices[0] / UNITS_PER_PENNY
    for device in devices:
        screen = device.ihd
        assert device.node.joined and device.cbke_key is None     # Type 2: no CBKE
        assert screen.electricity.source == (unit_short(cads), zse.ESME_ENDPOINT)
        assert screen.reads >= 350                                # 10 s for an hour
        assert now - screen.updated <= timedelta(seconds=10)
        assert screen.power_kw == unit.load.active_power_kw(now)
        # At most 10 s old: under 1 Wh at this premises' load.
        assert abs(screen.total_kwh * 1000 - engine.active_import_wh) <= 1
        today_wh = engine.active_import_wh - unit.day_start()
        assert abs(screen.today_kwh * 1000 - today_wh) <= 1
        # Cost is read each minute in credit mode: energy and standing charge of 60 s.
        cost_p = (engine.cost_total - unit.day_start_cost()) / UNITS_PER_PENNY
        slack = 60 / 3600 * max(unit.load.slots_kw) * price_p \
            + 60 / 86400 * engine.tariff.standing_charge / UNITS_PER_PENNY
        assert 0 < screen.today_cost_p <= cost_p and cost_p - screen.today_cost_p <= slack
        assert screen.electricity.price_p_per_kwh == price_p
        assert screen.electricity.rate == engine.current_rate
        assert screen.supply == "on" and not screen.electricity.prepayment
        # GetProfile every 30 minutes: the completed half hours, as the engine logged them.
        history = screen.electricity.history
        logged = [wh / 1000 for at, wh in engine.profile("active_import")
                  if at + timedelta(minutes=30) <= screen.electricity.history_end]
        assert history and history == pytest.approx(logged[-len(history):])
        assert not [e for e in cads.events if e[0] == "error"]


def unit_short(lab: Lab) -> int:
    eui = next(iter(lab.esmes))
    return lab.han.devices[eui].node.short_address


def test_gas_figures_are_the_gpf_mirror_after_a_gsme_sync(cads):
    gpf, devices = cads.gpf, _type2(cads)
    assert gpf.last_sync() is not None
    assert _run_until(cads, lambda: all(d.ihd.gas.updated > gpf.last_sync()
                                        for d in devices), timedelta(minutes=31))
    litres = gpf.data.get(CURRENT_SUMMATION)
    midnight = to_seconds(START)
    today = sum(e.value["v"] for e in gpf.data.entries("gas/profile")
                if e.value["t"] >= midnight)
    assert litres > 0 and today > 0
    for device in devices:
        gas = device.ihd.gas
        assert gas.source == (0x0000, GPF_ENDPOINT) and gas.unit == "m3"
        assert gas.reads >= 2                                      # every 30 minutes
        assert round(gas.total * 1000) == litres
        assert round(gas.today * 1000) == today
        assert gas.today_kwh == pytest.approx(gpf.data.kwh(today))
        assert gas.supply == "on"
        logged = [e.value["v"] / 1000 for e in gpf.data.entries("gas/profile")
                  if to_datetime(e.value["t"]) + timedelta(minutes=30) <= gas.history_end]
        assert gas.history and gas.history == pytest.approx(logged[-len(gas.history):])


def test_writes_are_refused_and_other_commands_unsupported(cads):
    device = next(d for d in _type2(cads) if d.type2.kind is Kind.CAD)
    probe = Probe(device.node, [zse.METERING, zse.PREPAYMENT])
    esme = (unit_short(cads), zse.ESME_ENDPOINT)
    gpf = (0x0000, GPF_ENDPOINT)
    engine = next(iter(cads.esmes.values())).engine
    balance = engine.meter_balance
    credit = cads.gpf.data.get((zse.PREPAYMENT, zse.CREDIT_REMAINING))

    def write(attrid: int, type_id: int, value: int):
        kind = foundation.DataType.from_type_id(foundation.DataTypeId(type_id)).python_type
        record = foundation.Attribute(attrid, foundation.TypeValue(type_id, kind(value)))
        return general_command(GeneralCommand.Write_Attributes, Direction.Client_to_Server,
                               tsn=7, attributes=[record])

    answer = probe.send(cads, esme, zse.PREPAYMENT, write(zse.CREDIT_REMAINING, 0x2B,
                                                          10_000_000))
    assert [(r.attrid, r.status) for r in answer.args.status_records] == \
        [(zse.CREDIT_REMAINING, Status.READ_ONLY)]
    answer = probe.send(cads, esme, zse.METERING, write(0x0002, 0x25, 1))   # not published
    assert answer.args.status_records[0].status == Status.UNSUPPORTED_ATTRIBUTE
    answer = probe.send(cads, gpf, zse.PREPAYMENT, write(zse.CREDIT_REMAINING, 0x2B,
                                                         10_000_000))
    assert answer.args.status_records[0].status == Status.READ_ONLY
    adjust = cluster_command(zse.PREPAYMENT, "credit_adjustment", Direction.Client_to_Server,
                             tsn=8, issuer_event_id=1, start_time=0, credit_adjustment_type=1,
                             credit_adjustment_value=10_000_000)
    top_up = cluster_command(zse.PREPAYMENT, "consumer_top_up", Direction.Client_to_Server,
                             tsn=8, originating_device=3, top_up_code=b"1" * 20)
    for source, command in ((esme, adjust), (gpf, adjust), (gpf, top_up)):
        answer = probe.send(cads, source, zse.PREPAYMENT, command)
        assert answer.header.command_id == GeneralCommand.Default_Response
        assert answer.args.status == Status.UNSUP_CLUSTER_COMMAND
    change = cluster_command(zse.METERING, "change_supply", Direction.Client_to_Server,
                             tsn=9, provider_id=1, issuer_event_id=1, request_date_time=0,
                             implementation_date_time=0, proposed_supply_status=0,
                             supply_control_bits=0)
    assert probe.send(cads, esme, zse.METERING, change).args.status == \
        Status.UNSUP_CLUSTER_COMMAND
    assert engine.meter_balance == balance and engine.supply_state.name == "ENABLED"
    assert cads.gpf.data.get((zse.PREPAYMENT, zse.CREDIT_REMAINING)) == credit


def test_the_ihd_displays_and_confirms_the_supplier_message(cads):
    unit = next(iter(cads.esmes.values()))
    # What ECS10 writes: the message for the display (0-2:96.13.1).
    unit.esme.lookup(1, SUPPLIER_MESSAGE).save(
        unit.esme, 2, data_node("", b"Your tariff changes on 1 April", "octet-string"))
    devices = _type2(cads)
    ihd = next(d for d in devices if d.type2.kind is Kind.IHD)
    assert _run_until(cads, lambda: ihd.ihd.message is not None, timedelta(minutes=2))
    assert ihd.ihd.message.text == "Your tariff changes on 1 April"
    assert _run_until(cads, lambda: unit.supplier_message().confirmed is not None,
                      timedelta(seconds=30))
    assert ihd.ihd.message.confirmed
    assert all(d.ihd.message is None for d in devices if d.type2.kind is Kind.CAD)
    status = LabStatus(LINES)
    status.lab = cads
    assert "message: Your tariff changes on 1 April" in status.summary()
    assert "now 0." in status.summary() and "gas: today" in status.summary()


# -- change of tenancy ----------------------------------------------------------------------


@pytest.fixture
def premises() -> Lab:
    need(REFERENCE / "duis-request-matrix.json")
    lab = Lab(load_premises(DEFAULT_PREMISES), start=START, seed=7)
    lab.start()
    assert _run_until(lab, lambda: lab.ready, timedelta(minutes=5))
    yield lab
    lab.close()


def test_restrict_data_hides_the_previous_tenants_data(premises):
    lab = premises
    eui, unit = next(iter(lab.esmes.items()))
    ihd = next(d for d in lab.han.devices.values() if d.board.type is DeviceType.IHD)
    unit.esme.lookup(1, SUPPLIER_MESSAGE).save(
        unit.esme, 2, data_node("", b"Welcome", "octet-string"))
    lab.sim.run_for(timedelta(minutes=15))
    screen = ihd.ihd
    before_wh = screen.today_kwh * 1000
    assert before_wh > 50 and screen.message is not None and not screen.electricity.hidden

    tenancy = lab.sim.now().replace(microsecond=0) + timedelta(seconds=1)
    request = lab.wan.request(Role.SUPPLIER, eui, "3.2", Element(
        "RestrictAccessForChangeOfTenancy", children=(Element(
            "RestrictionDateTime", tenancy.strftime("%Y-%m-%dT%H:%M:%S.00Z")),)))
    exchange = lab.wan.submit(Role.SUPPLIER, request)
    assert exchange.refused is None
    assert _run_until(lab, lambda: exchange.response is not None, timedelta(minutes=1))
    message = decode(exchange.response.gbcs_payload, lab.pki.keystore(), lab.pki.acb.eui)
    assert message.use_case.use_case == "ECS12" and mmc.succeeded(message)
    assert unit.restrict_from() == tenancy

    # The next reads count today from the tenancy start and hide what came before it.
    assert _run_until(lab, lambda: screen.tenancy_start == tenancy, timedelta(minutes=31))
    lab.sim.run_for(timedelta(seconds=70))          # a slow cycle after the last read
    since = unit.tenancy()
    assert since.start == tenancy
    # What the old tenant used today (at least what the IHD showed before) is left out.
    assert since.import_wh - unit.day_start() >= before_wh
    assert abs(screen.today_kwh * 1000 - (unit.engine.active_import_wh - since.import_wh)) <= 1
    assert screen.today_cost_p * UNITS_PER_PENNY <= unit.engine.cost_total - since.cost
    assert "yesterday" in screen.electricity.hidden and screen.electricity.yesterday is None
    assert screen.message is None                   # the old tenant's message is gone
    # The half hour that began before the tenancy reads zero in GetProfile.
    assert unit.engine.profile("active_import")[0][1] > 0
    assert screen.electricity.history == [0]
    probe = Probe(ihd.node, [zse.METERING])
    read = general_command(GeneralCommand.Read_Attributes, Direction.Client_to_Server,
                           tsn=3, attribute_ids=[zse.BILL_TO_DATE_DELIVERED,
                                                 zse.CURRENT_SUMMATION_DELIVERED])
    answer = probe.send(lab, ihd.type2.screen.electricity.source, zse.METERING, read)
    assert [r.status for r in answer.args.status_records] == \
        [Status.NOT_AUTHORIZED, Status.SUCCESS]

    # The GPF's change of tenancy (its GCS09 handler), effective at the last sync: gas
    # used before it is no longer in today's figure.
    gpf = lab.gpf
    start = gpf.last_sync()
    gpf.server.handlers[(DEVICE_MANAGEMENT, TO_CLIENT, 0x00)](Request(
        DEVICE_MANAGEMENT, 0x00, TO_CLIENT, {"implementation_date_time": to_seconds(start)}))
    served = {c.cluster_id: c for c in zse.gpf_clusters(gpf)}[zse.METERING]
    answer = decode_frame(zse.METERING, served.handle(read.encode()))
    assert answer.args.status_records[0].status == Status.NOT_AUTHORIZED
    today = decode_frame(zse.METERING, served.handle(general_command(
        GeneralCommand.Read_Attributes, Direction.Client_to_Server, tsn=4,
        attribute_ids=[zse.CURRENT_DAY_CONSUMPTION_DELIVERED]).encode()))
    expected = sum(e.value["v"] for e in gpf.data.entries("gas/profile")
                   if e.value["t"] >= to_seconds(start))
    assert today.args.status_records[0].value.value == expected


def test_in_prepayment_the_ihd_shows_credit_and_debt_every_read(premises):
    lab = premises
    unit = next(iter(lab.esmes.values()))
    engine = unit.engine
    ihd = next(d for d in lab.han.devices.values() if d.board.type is DeviceType.IHD)
    # What ECS03, a top-up and ECS07 do to the engine: prepayment, £5, 20 p of debt.
    engine.set_payment_mode(PaymentMode.PREPAYMENT)
    engine.top_up(5 * 100 * UNITS_PER_PENNY)
    engine.set_debt(0, 0, 20 * UNITS_PER_PENNY)
    screen = ihd.ihd.electricity
    assert _run_until(lab, lambda: screen.prepayment, timedelta(seconds=70))
    reads = screen.reads
    lab.sim.run_for(timedelta(seconds=35))
    assert screen.reads >= reads + 3
    # Read each 10 s: the balance is at most 10 s of charges above the meter's.
    ten_seconds = 10 / 3600 * max(unit.load.slots_kw) * engine.tariff.prices[0] \
        + 10 / 86400 * engine.tariff.standing_charge
    assert 0 <= screen.credit_p * UNITS_PER_PENNY - engine.meter_balance <= ten_seconds
    assert screen.debt_p == 20 and screen.emergency_credit_p == 0
    lines = "\n".join(ihd.ihd.lines())
    assert f"electricity credit £{screen.credit_p / 100:,.2f}" in lines
    assert "debt £0.20" in lines


def test_answers_of_the_wrong_shape_are_counted_and_dropped(premises):
    lab = premises
    ihd = next(d for d in lab.han.devices.values() if d.board.type is DeviceType.IHD)
    source = ihd.type2.screen.electricity.source
    assert source is not None
    before = ihd.ihd.total_kwh
    record = foundation.ReadAttributeRecord(
        attrid=zse.CURRENT_SUMMATION_DELIVERED, status=Status.SUCCESS,
        value=foundation.TypeValue(0x42, foundation.DataType.from_type_id(
            foundation.DataTypeId(0x42)).python_type("not a number")))
    frame = general_command(GeneralCommand.Read_Attributes_rsp, Direction.Server_to_Client,
                            tsn=1, status_records=[record]).encode()
    handler = ihd.endpoint.client_clusters[zse.METERING]
    assert handler(ApsIndication(source[0], None, source[1], 1, zse.METERING, 0x0109,
                                 frame, False, 255)) is None
    assert handler(ApsIndication(source[0], None, source[1], 1, zse.METERING, 0x0109,
                                 b"\x18\x01", False, 255)) is None          # truncated
    assert ihd.node.stats["type2_bad_answer"] == 2 and ihd.ihd.total_kwh == before
