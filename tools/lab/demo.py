"""`smetslab lab --demo`: a scripted tour of the premises, each step a real exchange over
the DCC, the WAN and the HAN, printing its result; exit 0 when every step succeeds.

Each step checks the effect, not only the answer (the balance after a top-up, the
tariff the meter charges, the supply state, the firmware version running).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from boards.board import Board, DeviceType
from firmware.chf.device_log import INSTALL_CODE, LogEntry
from firmware.core.credentials import Role
from firmware.core.firmware_image import image_hash, running_version
from firmware.core.gas import CURRENT_SUMMATION
from firmware.esme.engine import BUTTON_ENABLE, UNITS_PER_PENNY, SupplyState, make_utrn
from firmware.gsme.gsme import WAKE as GSME_WAKE
from gbcs.build import sign_grouping_header
from gbcs.errors import GbcsError
from gbcs.message import decode
from han.cbke.mmo import install_code_link_key
from tools.headend import mmc
from tools.headend.duis import DuisError, Element, ServiceRequest, parse_json
from tools.lab.hub import DEVICE_TYPE
from tools.lab.pki import install_code
from tools.lab.premises import Lab
from tools.lab.status import money
from tools.lab.wan import TICK_EVERY, Exchange

STEP = timedelta(seconds=1)
ANSWER_WAIT = timedelta(seconds=60)
BRING_UP_WAIT = timedelta(minutes=5)
FUTURE = timedelta(minutes=15)
NEW_IHD_EUI = bytes.fromhex("02534C0000000007")
TOP_UP_PENCE = 1000
TARIFF_PENCE, STANDING_PENCE = 30, 60
FIRMWARE_VERSION = bytes.fromhex("01020000")
FIRMWARE_IMAGE = b"smetslab ESME firmware 1.2.0\n" * 64   # what the manufacturer signs
FIRMWARE_VERIFIED = 0x8F72
FIRMWARE_WAIT = timedelta(minutes=5)


@dataclass
class Result:
    """A step's outcome and what to print about it."""

    ok: bool
    detail: str


def _wait(lab: Lab, done: Callable[[], bool], limit: timedelta) -> bool:
    end = lab.sim.now() + limit
    while not done() and lab.sim.now() < end:
        lab.sim.run_for(STEP)
    return done()


def _answered(lab: Lab, exchange: Exchange, limit: timedelta = ANSWER_WAIT) -> Result:
    """The device's response to `exchange`: decoded and verified with the lab's keys,
    a success when the DCC says I0 and every item of the response succeeded."""
    if exchange.refused is not None:
        return Result(False, f"refused by the DCC: {exchange.refused}")
    if not _wait(lab, lambda: exchange.response is not None, limit):
        return Result(False, "no response from the device")
    response = exchange.response
    try:
        msg = decode(response.gbcs_payload, lab.pki.keystore(), lab.pki.acb.eui)
    except GbcsError as exc:
        return Result(False, f"{response.code}, undecodable response: {exc}")
    if "invalid" in (msg.mac, msg.signature):
        return Result(False, f"{response.code}, response MAC {msg.mac}, signature "
                             f"{msg.signature}")
    ok = response.code == "I0" and mmc.succeeded(msg)
    return Result(ok, f"{response.code}, {msg.use_case.use_case} response "
                      f"{len(response.gbcs_payload)} bytes, device reports "
                      f"{'success' if ok else 'failure'}")


def _esme(lab: Lab) -> bytes:
    return next(iter(lab.esmes))


def bring_up(lab: Lab) -> Result:
    ok = _wait(lab, lambda: lab.ready, BRING_UP_WAIT)
    states = ", ".join(f"{d.board.name} {d.state}" for d in lab.han.devices.values())
    return Result(ok, states)


def read_registers(lab: Lab) -> Result:
    wan = lab.wan
    request = wan.request(Role.SUPPLIER, _esme(lab), "4.1.1",
                          Element("ReadInstantaneousImportRegisters"))
    return _answered(lab, wan.submit(Role.SUPPLIER, request))


def read_device_log(lab: Lab) -> Result:
    """8.9: the Supplier reads the CHF's device log."""
    wan = lab.wan
    request = wan.request(Role.SUPPLIER, lab.hub.board.eui, "8.9", Element("ReadDeviceLog"))
    result = _answered(lab, wan.submit(Role.SUPPLIER, request))
    return Result(result.ok, f"{result.detail}; {len(lab.hub.chf.device_log.entries())} "
                             "devices in the log")


def top_up(lab: Lab) -> Result:
    """2.2: a £10 UTRN from the Supplier; the meter balance must grow by £10."""
    eui = _esme(lab)
    engine = lab.esmes[eui].engine
    before = engine.meter_balance
    utrn = make_utrn(lab.pki.top_up_keys[eui], eui, TOP_UP_PENCE,
                     int(lab.sim.now().timestamp()))
    wan = lab.wan
    request = wan.request(Role.SUPPLIER, eui, "2.2", Element(
        "TopUpDevice", children=(Element("UTRN", utrn),)))
    result = _answered(lab, wan.submit(Role.SUPPLIER, request))
    added = engine.meter_balance - before
    return Result(result.ok and added == TOP_UP_PENCE * UNITS_PER_PENNY,
                  f"UTRN {utrn}: {result.detail}; balance {money(before)} -> "
                  f"{money(engine.meter_balance)}")


def _critical(lab: Lab, request: ServiceRequest) -> Result:
    """Submit a critical request, sign its pre-command with the Supplier's key, send it."""
    wan = lab.wan
    exchange = wan.submit(Role.SUPPLIER, request)
    if exchange.refused is not None:
        return Result(False, f"refused by the DCC: {exchange.refused}")
    pre_command = exchange.acknowledgement.pre_command
    signed = sign_grouping_header(pre_command, lab.pki.supplier.ds)
    result = wan.dcc.signed(signed, wan.users[Role.SUPPLIER])
    if isinstance(result, DuisError):
        return Result(False, f"signed pre-command refused: {result}")
    return _answered(lab, exchange)


def tariff_update(lab: Lab) -> Result:
    """1.1.1: a single-rate tariff signed by the Supplier; the meter must charge it."""
    wan = lab.wan
    supplier = wan.users[Role.SUPPLIER]
    header = {"RequestID": f"{_text(supplier.eui)}:{_text(_esme(lab))}:"
                           f"{wan.next_counter(supplier)}",
              "CommandVariant": "4", "ServiceReference": "1.1",
              "ServiceReferenceVariant": "1.1.1"}
    try:
        request = parse_json({"Request": {"@schemaVersion": "5.4", "Header": header, "Body": {
            "UpdateImportTariffPrimaryElement": _single_rate_tariff()}}})
    except DuisError as exc:
        return Result(False, f"the request does not parse: {exc}")
    result = _critical(lab, request)
    lab.sim.run_for(STEP)                       # activation is immediate: at its time
    tariff = lab.esmes[_esme(lab)].engine.tariff
    charged = (tariff.prices, tariff.standing_charge)
    wanted = ((TARIFF_PENCE * UNITS_PER_PENNY,), STANDING_PENCE * UNITS_PER_PENNY)
    return Result(result.ok and charged == wanted,
                  f"{result.detail}; the meter charges {charged[0][0] / UNITS_PER_PENNY:g} "
                  f"p/kWh and {charged[1] / UNITS_PER_PENNY:g} p a day")


def firmware_update(lab: Lab) -> Result:
    """11.1 hands an image to the hub, which sends it to the ESME; the meter verifies it
    and alerts the Supplier (8F72); 11.3 (CS06, critical) activates it by its hash, and
    the meter then runs the new version."""
    eui, wan = _esme(lab), lab.wan
    esme = lab.esmes[eui].esme
    before = running_version(esme)
    supplier = wan.users[Role.SUPPLIER]
    update = wan.request(Role.SUPPLIER, eui, "11.1", Element("UpdateFirmware", children=(
        Element("FirmwareImage", base64.b64encode(FIRMWARE_IMAGE).decode()),
        Element("FirmwareVersion", FIRMWARE_VERSION.hex().upper()),
        Element("DeviceIDList", _text(eui)))), command_variant=8)
    answer = wan.dcc.non_device(update, supplier)
    if isinstance(answer, DuisError):
        return Result(False, f"11.1 refused by the DCC: {answer}")
    seen = len(wan.alerts)

    def verified() -> bool:
        return any(user == supplier.eui and alert.alert_code == FIRMWARE_VERIFIED
                   for user, alert in wan.alerts[seen:])
    if not _wait(lab, verified, FIRMWARE_WAIT):
        return Result(False, f"11.1 {answer.code}; no 8F72 from the meter")
    digest = image_hash(FIRMWARE_IMAGE)
    result = _critical(lab, wan.request(Role.SUPPLIER, eui, "11.3", Element(
        "ActivateFirmware", children=(Element("FirmwareHash", digest.hex().upper()),)),
        command_variant=4))
    after = running_version(esme)
    return Result(result.ok and after == FIRMWARE_VERSION,
                  f"11.1 {answer.code}, 8F72 from the meter; 11.3 {result.detail}; "
                  f"version {before.hex()} -> {after.hex()}")


def _text(eui: bytes) -> str:
    return "-".join(f"{b:02X}" for b in eui)


def _date(year: int | None, month: int, day: int) -> dict:
    return {"Year": {"SpecifiedYear": str(year)} if year else {"NonSpecifiedYear": ""},
            "Month": {"SpecifiedMonth": f"{month:02d}"},
            "DayOfMonth": {"SpecifiedDayOfMonth": f"{day:02d}"},
            "DayOfWeek": {"NonSpecifiedDayOfWeek": ""}}


def _single_rate_tariff() -> dict:
    """One rate all year (Christmas Day too); prices in 10^-3 pounds (0.1 p)."""
    days = [{"@index": str(n), "#text": "1"} for n in range(1, 8)]
    return {
        "ElecTariffElements": {
            "CurrencyUnits": "GBP",
            "SwitchingTable": {
                "DayProfiles": {"DayProfile": {"DayName": "1", "ProfileSchedule": {
                    "StartTime": "00:00:00.00Z", "TOUTariffAction": "1"}}},
                "WeekProfiles": {"WeekProfile": {"WeekName": "1",
                                                 "ReferencedDayName": days}},
                "Seasons": {"Season": {"SeasonName": "all year",
                                       "SeasonStartDate": _date(2020, 1, 1),
                                       "ReferencedWeekName": "1"}}},
            "SpecialDays": {"SpecialDay": {"Date": _date(None, 12, 25),
                                           "ReferencedDayName": "1"}},
            "ThresholdMatrix": {"Thresholds": [
                {"@index": str(n), "BlockThreshold": {"@index": "1", "#text": "4294967295"}}
                for n in range(1, 9)]}},
        "PriceElements": {"ElectricityPriceElements": {
            "StandingCharge": str(STANDING_PENCE * 10), "StandingChargeScale": "-3",
            "PriceScale": "-3",
            "TOUTariff": {"TOUPrice": {"@index": "1", "#text": str(TARIFF_PENCE * 10)}}}}}


def _supply(lab: Lab, srv: str, service: str, expected: SupplyState) -> Result:
    """A critical supply command, then a look at the meter: the response must report
    success and the supply must be in the `expected` state."""
    wan = lab.wan
    request = wan.request(Role.SUPPLIER, _esme(lab), srv, Element(service),
                          command_variant=4)
    result = _critical(lab, request)
    state = lab.esmes[_esme(lab)].engine.supply_state
    return Result(result.ok and state is expected,
                  f"{result.detail}; the supply is {state.name.lower()}")


def disable_supply(lab: Lab) -> Result:
    return _supply(lab, "7.2", "DisableSupply", SupplyState.DISABLED)


def arm_supply(lab: Lab) -> Result:
    return _supply(lab, "7.3", "ArmSupply", SupplyState.ARMED)


def local_enable(lab: Lab) -> Result:
    """The consumer presses the enable button on the armed ESME."""
    unit = lab.esmes[_esme(lab)]
    before = unit.engine.supply_state
    unit.buttons.press(BUTTON_ENABLE)
    lab.sim.run_for(STEP)
    after = unit.engine.supply_state
    return Result(before is SupplyState.ARMED and after is SupplyState.ENABLED,
                  f"supply {before.name.lower()} -> {after.name.lower()}")


def join_ihd(lab: Lab) -> Result:
    """An installer adds a second IHD to the CHF's device log by install code (as CCS01
    would); the trust centre follows the log, the IHD joins and reads the meter."""
    code = install_code(lab.rng)
    board = Board("ihd2", DeviceType.IHD, NEW_IHD_EUI)
    lab.pki.install_codes[board.eui] = code
    lab.hub.chf.device_log.add(LogEntry(board.eui, DEVICE_TYPE[board.type], code,
                                        INSTALL_CODE))
    lab.han.add_device(board)
    device = lab.han.devices[board.eui]
    ok = _wait(lab, lambda: device.ihd.reads > 0, BRING_UP_WAIT)
    key = install_code_link_key(code)
    return Result(ok, f"joined with install-code key {key.hex().upper()[:8]}..., "
                      f"{device.ihd.reads} reads of the ESME")


def _summation(lab: Lab, exchange: Exchange) -> int | None:
    """CurrentSummationDelivered (litres) in a gas read's response, as decoded."""
    msg = decode(exchange.response.gbcs_payload, lab.pki.keystore(), lab.pki.acb.eui)
    found = False
    for node in msg.tree.walk():
        if node.name == "attribute_id":
            found = node.value == CURRENT_SUMMATION[1]
        elif found and node.name == "value":
            return node.value
    return None


def read_gas_meter(lab: Lab) -> Result:
    """4.1.1 to the sleepy GSME: the CHF holds it until the meter wakes and GETs it; the
    answer must come after that wake and carry the meter's consumption register."""
    eui = next(iter(lab.gsmes))
    gsme = lab.gsmes[eui].gsme
    wan = lab.wan
    sent = lab.sim.now()
    request = wan.request(Role.SUPPLIER, eui, "4.1.1",
                          Element("ReadInstantaneousImportRegisters"))
    exchange = wan.submit(Role.SUPPLIER, request)
    result = _answered(lab, exchange, GSME_WAKE + ANSWER_WAIT)
    if not result.ok:
        return result
    answered = exchange.response.response_datetime
    woke = lab.gsme_woke[eui]
    litres = _summation(lab, exchange)
    ok = sent < woke <= answered and litres == gsme.data.get(CURRENT_SUMMATION)
    return Result(ok, f"{result.detail}; held by the CHF from {sent:%H:%M:%S} to the "
                      f"meter's wake at {woke:%H:%M:%S}; {litres} l metered")


def read_gpf(lab: Lab) -> Result:
    """4.1.1 to the GPF: answered at once from its mirror, which the GSME's last sync
    over the HAN filled (the same register as the meter's)."""
    gpf = lab.gpf
    if gpf is None:
        return Result(False, "no GPF in the premises")
    if not _wait(lab, lambda: gpf.last_sync() is not None, GSME_WAKE + ANSWER_WAIT):
        return Result(False, "the GSME never synced the GPF")
    gsme = next(iter(lab.gsmes.values())).gsme
    wan = lab.wan
    request = wan.request(Role.SUPPLIER, gpf.eui, "4.1.1",
                          Element("ReadInstantaneousImportRegisters"))
    exchange = wan.submit(Role.SUPPLIER, request)
    result = _answered(lab, exchange)
    if not result.ok:
        return result
    litres = _summation(lab, exchange)
    return Result(litres == gsme.data.get(CURRENT_SUMMATION),
                  f"{result.detail}; mirror synced {gpf.last_sync():%H:%M:%S}, {litres} l "
                  "as the meter has")


def future_dated_read(lab: Lab) -> Result:
    wan = lab.wan
    when = (lab.sim.now() + FUTURE).replace(microsecond=0)
    request = wan.request(Role.SUPPLIER, _esme(lab), "4.1.1",
                          Element("ReadInstantaneousImportRegisters"), execution=when)
    exchange = wan.submit(Role.SUPPLIER, request)
    if exchange.refused is not None:
        return Result(False, f"refused by the DCC: {exchange.refused}")
    lab.sim.run_until(when)
    if exchange.response is not None:
        return Result(False, "answered before its execution time")
    result = _answered(lab, exchange, ANSWER_WAIT + TICK_EVERY)
    answered_at = exchange.response.response_datetime if exchange.response is not None else None
    late = answered_at is not None and answered_at >= when
    return Result(result.ok and late, f"held until {when:%H:%M:%S}; {result.detail}")


STEPS: list[tuple[str, Callable[[Lab], Result]]] = [
    ("commission the HAN (join, CBKE, tunnels)", bring_up),
    ("read the ESME's registers (4.1.1)", read_registers),
    ("read the CHF's device log (8.9)", read_device_log),
    ("top up £10 by UTRN (2.2)", top_up),
    ("critical tariff update signed by the Supplier (1.1.1)", tariff_update),
    ("disable supply (7.2, critical)", disable_supply),
    ("arm supply (7.3, critical)", arm_supply),
    ("local enable at the meter (button A)", local_enable),
    ("join a second IHD by install code", join_ihd),
    ("firmware update: image to the ESME (11.1), activation (11.3, critical)",
     firmware_update),
    ("future-dated read (4.1.1, 15 minutes ahead)", future_dated_read),
    ("read the gas meter at its next wake (4.1.1, GCS13a)", read_gas_meter),
    ("the GPF answers for the gas meter after a sync (4.1.1)", read_gpf),
]


def run_demo(lab: Lab) -> int:
    """Run every step, print each result; 0 when all succeed."""
    failures = 0
    for n, (title, step) in enumerate(STEPS, 1):
        result = step(lab)
        failures += not result.ok
        print(f"{n}. {title}: {'OK' if result.ok else 'FAILED'} ({result.detail})", flush=True)
    return 1 if failures else 0
