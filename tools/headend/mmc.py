"""Device responses in the MMC form (DUIS ``mmc-schema``: ``ra:GBCSResponse``), what a
DCC User's Parse and Correlate software makes of the GBCS a Service Response carries.

The header names the parties, counters, message code and SRV; the body carries the
values read, in the ``SMETSData`` element the schema has for the SRV, for the use cases
below (`supported_use_cases`), and for every SRV whose MMC response is only an
acknowledgement (``MessageSuccess``). Anything else keeps the GBCS as ``GBCSData``
(``plain``, or ``encrypted`` when its protected part could not be opened with the keys
given). Responses the User must decrypt need the User's KA key in `keys`.
"""

from __future__ import annotations

import base64
import datetime as _dt
import xml.etree.ElementTree as ET
from decimal import Decimal
from functools import lru_cache
from typing import Callable

from gbcs.errors import GbcsError
from gbcs.keystore import Keystore
from gbcs.message import DecodedMessage, decode
from gbcs.node import Node
from tools.headend import duis
from tools.headend.duis import RA, DuisError, ServiceResponse

_EPOCH_2000 = _dt.datetime(2000, 1, 1, tzinfo=_dt.timezone.utc)
# COSEM disconnect control states -> MMC SupplyState.
_SUPPLY_STATES = {0: "Disabled", 1: "Enabled", 2: "Armed"}
_SUCCESS = 0


class MmcError(DuisError):
    """A response that cannot be put in the MMC form (undecodable GBCS)."""


# -- reading the decoded access-response -------------------------------------------------


def _payload(msg: DecodedMessage) -> Node | None:
    """The decoded content under the grouping header (None for a GBT block): the DLMS
    or GBZ payload is that node itself, never one of the headers around it, and no
    payload form holds another, so neither the headers nor the payload's insides need
    a walk (the DCC reads every response this way)."""
    tree = msg.tree
    try:
        signing = tree if tree.name == "general_signing" else \
            tree["ciphered_content.general_signing"]
        return signing["content"].children[1]
    except (KeyError, IndexError, TypeError):
        return None


def _dlms(msg: DecodedMessage) -> Node | None:
    payload = _payload(msg)
    return payload if payload is not None and payload.kind == "dlms.access-response" \
        else None


def _results(msg: DecodedMessage) -> tuple[list[Node], list[int]]:
    """The data items and the result code of each (0 success) of an access-response;
    a protected item stands for its decrypted plaintext when it was opened."""
    dlms = _dlms(msg)
    if dlms is None:
        return [], []
    data = list(dlms.get("access_response_list_of_data").children or ())
    return [_opened(item) for item in data], _codes(dlms)


def _codes(dlms: Node) -> list[int]:
    """The result code of each item of an access-response (0 success)."""
    return [c.children[0].value if c.children else 0
            for c in dlms.get("access_response_specification").children or ()]


def _opened(item: Node) -> Node:
    for node in item.walk():
        if node.name == "plaintext":
            return node.get("data") or node
    return item


def _encrypted(item: Node) -> bool:
    return any(n.name == "ciphertext" for n in item.walk()) and not any(
        n.name in ("plaintext", "decrypted") for n in item.walk())


def _gbz(msg: DecodedMessage) -> Node | None:
    payload = _payload(msg)
    return payload if payload is not None and payload.name == "gbz" else None


def _zcl_records(gbz: Node) -> dict[int, tuple[int, object]]:
    """Attribute id -> (status, value) over every Read Attributes Response record."""
    records = {}
    for record in (n for n in gbz.walk() if n.name == "record"):
        fields = {c.name: c.value for c in record.children or ()}
        if "attribute_id" in fields:
            records[fields["attribute_id"]] = (fields.get("status", 0), fields.get("value"))
    return records


def _integers(node: Node) -> list[int]:
    """The integer leaves of a structure, depth first (values, scalers, units)."""
    return [n.value for n in node.walk() if not n.children and isinstance(n.value, int)
            and not isinstance(n.value, bool)]


def _xs(when: _dt.datetime) -> str:
    return when.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sub(parent: ET.Element, name: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, f"{{{RA}}}{name}", attrs)
    if text is not None:
        el.text = text
    return el


# -- the use cases with values -------------------------------------------------------------

_Fill = Callable[[ET.Element, list[Node]], None]


def _import_registers(rsp: ET.Element, data: list[Node]) -> None:
    """ECS17b: active import (Wh), reactive import (varh), secondary active (twin)."""
    values = _integers(data[0]) if data else []
    # value, scaler, unit, value, scaler, unit[, secondary value]
    elec = _sub(rsp, "Electricity")
    if len(values) >= 3:
        reg = _sub(elec, "ActiveImportRegister")
        _sub(reg, "Value", str(values[0] * 10 ** values[1]))
        _sub(reg, "ActiveEnergyUnit", "Wh")
    if len(values) >= 6:
        reg = _sub(elec, "ReactiveImportRegister")
        _sub(reg, "Value", str(values[3] * 10 ** values[4]))
        _sub(reg, "ReactiveEnergyUnit", "varh")
    if len(values) >= 7:
        reg = _sub(elec, "SecondaryActiveImportRegister")
        _sub(reg, "Value", str(values[6] * 10 ** values[1]))
        _sub(reg, "ActiveEnergyUnit", "Wh")


def _supply_state(rsp: ET.Element, data: list[Node]) -> None:
    """ECS45: the disconnect control's state."""
    state = _SUPPLY_STATES.get(data[0].value) if data else None
    if state is not None:
        _sub(rsp, "SupplyState", state)


def _active_import_profile(rsp: ET.Element, data: list[Node]) -> None:
    """ECS22b: (UTC seconds since 2000, primary[, secondary]) per half hour."""
    if not data:
        return
    for entry in (n for n in data[0].walk() if n.name.startswith("entry[")):
        values = [c.value for c in entry.children or ()]
        if len(values) < 2:
            continue
        log = _sub(rsp, "LogEntry")
        _sub(log, "Timestamp", _xs(_EPOCH_2000 + _dt.timedelta(seconds=values[0])))
        elec = _sub(log, "Electricity")
        _sub(elec, "PrimaryValue", str(values[1]))
        if len(values) > 2:
            _sub(elec, "SecondaryValue", str(values[2]))


# ZSE Simple Metering attributes a GSME read returns.
_SUMMATION, _UNIT, _MULTIPLIER, _DIVISOR = 0x0000, 0x0300, 0x0301, 0x0302
_BATTERY_DAYS, _SUPPLY_STATUS = 0x0205, 0x0014
_M3 = 0x01                       # ZSE UnitOfMeasure: cubic metres (binary)
# ZSE SupplyStatus: 0 off, 1 off/armed, 2 on.
_GAS_SUPPLY = {0: "Disabled", 1: "Armed", 2: "Enabled"}
_GbzFill = Callable[[ET.Element, dict[int, tuple[int, object]]], None]


def _gas_register(rsp: ET.Element, records: dict) -> None:
    """GCS13a: CurrentSummationDelivered x Multiplier / Divisor, in m3."""
    gas = _sub(rsp, "Gas")
    read = {a: records.get(a, (1, None)) for a in (_SUMMATION, _MULTIPLIER, _DIVISOR, _UNIT)}
    if any(status != _SUCCESS or not isinstance(value, int) for status, value in read.values()):
        return  # a value without its scaling would mislead: the GBCS says what failed
    summation, multiplier, divisor = (read[a][1] for a in (_SUMMATION, _MULTIPLIER, _DIVISOR))
    register = _sub(gas, "ConsumptionRegister")
    _sub(register, "Value", str(Decimal(summation * multiplier) / Decimal(divisor or 1)))
    if read[_UNIT][1] == _M3:
        _sub(register, "Unit", "m3")


def _gas_supply(rsp: ET.Element, records: dict) -> None:
    """GCS33: the valve's supply status and the battery's remaining life."""
    state = _GAS_SUPPLY.get(records.get(_SUPPLY_STATUS, (1, None))[1])
    if state is not None:
        _sub(rsp, "SupplyState", state)
    days = records.get(_BATTERY_DAYS, (1, None))
    if days[0] == _SUCCESS and isinstance(days[1], int):
        _sub(_sub(rsp, "Gas"), "RemainingBatteryCapacity", str(days[1]))


_GBZ_FILLS: dict[str, tuple[str, _GbzFill]] = {
    "GCS13a": ("ReadInstantaneousImportRegistersRsp", _gas_register),
    "GCS33": ("ReadSupplyStatusRsp", _gas_supply),
}

_FILLS: dict[str, tuple[str, _Fill]] = {
    "ECS17b": ("ReadInstantaneousImportRegistersRsp", _import_registers),
    "ECS45": ("ReadSupplyStatusRsp", _supply_state),
    "ECS22b": ("ReadActiveImportProfileDataRsp", _active_import_profile),
}


def succeeded(msg: DecodedMessage) -> bool:
    """True when a device response reports success for every item (DLMS results, ZCL
    read records); a response in another form counts as success when it decoded."""
    gbz = _gbz(msg)
    if gbz is not None:
        refused = any(n.name in ("default_response", "consumer_top_up_response")
                      and (n.get("status") or n.get("result_type")) is not None
                      and (n.get("status") or n.get("result_type")).value != _SUCCESS
                      for n in gbz.walk())
        return not refused and all(status == _SUCCESS
                                   for status, _ in _zcl_records(gbz).values())
    dlms = _dlms(msg)
    return dlms is None or all(c == _SUCCESS for c in _codes(dlms))


def supported_use_cases() -> list[str]:
    """Use cases whose values go into SMETSData (acknowledgements come on top)."""
    return sorted(list(_FILLS) + list(_GBZ_FILLS))


@lru_cache(maxsize=256)
def _acknowledgement(name: str) -> bool:
    """True when the schema's ``<name>`` response type carries only MessageSuccess."""
    xsd = duis.schema()
    if xsd is None:
        return False
    xsd_type = xsd.maps.types.get(f"{{{RA}}}{name}")
    return xsd_type is not None and xsd_type.is_empty()


# -- the document ------------------------------------------------------------------------------


def to_mmc(response: ServiceResponse, keys: Keystore | None = None) -> str:
    """The MMC form of a Service Response that carries a device's GBCS response."""
    if not response.gbcs_payload:
        raise MmcError(None, "no GBCS payload to parse", "Response/Body")
    return ET.tostring(gbcs_response(response.gbcs_payload, srv=response.srv,
                                     service_reference=response.service_reference,
                                     service=response.service or None, keys=keys),
                       encoding="unicode", xml_declaration=True)


def gbcs_response(data: bytes, *, srv: str = "", service_reference: str = "",
                  service: str | None = None, keys: Keystore | None = None) -> ET.Element:
    """``ra:GBCSResponse`` for the GBCS `data`; `service` is the request's body element
    name (defaults to the one the SRV's use case implies), `keys` opens encrypted parts."""
    try:
        msg = decode(data, keys, verify=False)
    except GbcsError as exc:
        raise MmcError(None, f"undecodable GBCS response: {exc}", "GBCSPayload") from None
    ET.register_namespace("ra", RA)
    root = ET.Element(f"{{{RA}}}GBCSResponse", {"schemaVersion": duis.SCHEMA_VERSION})
    _header(root, msg, srv, service_reference)
    payload = _sub(_sub(root, "Body"), "ResponseMessage")
    uc = msg.use_case
    gbz = _gbz(msg)
    if uc is not None and uc.use_case in _GBZ_FILLS and gbz is not None and not _encrypted(gbz):
        records = _zcl_records(gbz)
        name, fill = _GBZ_FILLS[uc.use_case]
        ok = bool(records) and all(status == _SUCCESS for status, _ in records.values())
        fill(_sub(_sub(payload, "SMETSData"), name, MessageSuccess="true" if ok else "false"),
             records)
        return root
    data_items, codes = _results(msg)
    name = _rsp_name(uc.use_case if uc else "", service, srv)
    fill = _FILLS.get(uc.use_case) if uc else None
    opened = not any(_encrypted(d) for d in data_items)
    ok = bool(codes) and all(c == _SUCCESS for c in codes)
    # a failed read has no values to show: its GBCS (with the DUIS response code) says why
    if name and opened and _dlms(msg) is not None and (
            (fill and ok) or (not fill and _acknowledgement(name))):
        rsp = _sub(_sub(payload, "SMETSData"), name, MessageSuccess="true" if ok else "false")
        if fill:
            fill[1](rsp, data_items)
        return root
    fmt = "plain" if opened and (gbz is None or not _encrypted(gbz)) else "encrypted"
    payload.insert(0, _gbcs_data(data, fmt, uc.use_case if uc else "GBCS"))
    return root


def _rsp_name(use_case: str, service: str | None, srv: str) -> str | None:
    """The MMC response element: the use case's, else the request body's name + Rsp
    (where the schema has one), else the SRV's acknowledgement."""
    if use_case in _FILLS:
        return _FILLS[use_case][0]
    if service and _acknowledgement(f"{service}Rsp"):
        return f"{service}Rsp"
    return _SRV_SERVICES.get(srv)


# SRVs whose response is an acknowledgement, by the request body each names.
_SRV_SERVICES = {
    "1.5": "UpdateMeterBalanceRsp", "1.6": "UpdatePaymentModeRsp",
    "1.7": "ResetTariffBlockCounterMatrixRsp", "2.2": "TopUpDeviceRsp",
    "2.5": "ActivateEmergencyCreditRsp", "3.1": "DisplayMessageRsp",
    "3.2": "RestrictAccessForChangeOfTenancyRsp", "3.3": "ClearEventLogRsp",
    "3.5": "DisablePrivacyPINRsp", "6.5": "UpdateDeviceConfigurationVoltageRsp",
    "6.20.2": "SetDeviceConfigurationExportMPANRsp",
    "6.25": "SetElectricitySupplyTamperStateRsp", "6.27": "UpdateDeviceConfiguration"
    "RMSVoltageCounterResetRsp", "7.1": "EnableSupplyRsp", "7.2": "DisableSupplyRsp",
    "7.3": "ArmSupplyRsp", "7.12": "SetRandomisedOffsetLimitRsp",
    "1.1.1": "UpdateImportTariffPrimaryElementRsp",
    "1.1.2": "UpdateImportTariffSecondaryElementRsp",
    "1.2.2": "UpdatePriceSecondaryElementRsp", "2.1": "UpdatePrepayConfigurationRsp",
    "7.5": "ActivateAuxiliaryLoadRsp", "7.6": "DeactivateAuxiliaryLoadRsp",
    "7.8": "ResetAuxiliaryLoadRsp", "7.13": "SetAuxiliaryControllerStateRsp",
    "7.16": "LimitAPCLevelRsp",
}


def _gbcs_data(data: bytes, fmt: str, name: str) -> ET.Element:
    el = ET.Element(f"{{{RA}}}GBCSData", {"format": fmt, "sequence": "0", "name": name,
                                          "type": "gbcs"})
    el.text = base64.b64encode(data).decode()
    return el


def _header(root: ET.Element, msg: DecodedMessage, srv: str, service_reference: str) -> None:
    h = msg.header
    header = _sub(root, "Header")
    _sub(header, "BusinessOriginatorID", duis.eui_text(h.originator))
    _sub(header, "BusinessTargetID", duis.eui_text(h.recipient))
    _sub(header, "OriginatorCounter", str(h.originator_counter))
    _sub(header, "GBCSHexadecimalMessageCode", f"{h.message_code:04X}")
    if service_reference and srv:
        _sub(header, "ServiceReference", service_reference)
        _sub(header, "ServiceReferenceVariant", srv)
    when = next((n for n in msg.tree.walk() if n.name == "date_time"
                 and isinstance(n.value, bytes) and len(n.value) == 12), None)
    stamp = _cosem_time(when.value) if when is not None else None
    if stamp is not None:
        _sub(header, "Timestamp", _xs(stamp))


def _cosem_time(raw: bytes) -> _dt.datetime | None:
    year = int.from_bytes(raw[:2], "big")
    try:
        return _dt.datetime(year, raw[2], raw[3], raw[5], raw[6], raw[7],
                            tzinfo=_dt.timezone.utc)
    except ValueError:
        return None


def validate(text: str) -> bool:
    """Check an MMC document against the schema (DuisError if invalid); False when no
    schema is available."""
    return duis.validate(ET.fromstring(text))
