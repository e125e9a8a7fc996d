"""Service request -> GBCS command: the DCC's transform.

Each supported use case has a builder: the COSEM objects GBCS reads, writes or calls for
it and how the DUIS body's fields fill their values (ESME and comms hub use cases here,
payment and pricing in `pricing`, the ESME's alert behaviours in `esme_alerts` and its
auxiliary load control calendars in `esme_calendars`, the gas meter's in `gsme`, ASN.1
ones (joins, credentials, firmware, the gas clock) in `asn1_commands`; what they share in
`context`). Where GBCS lets the SRV decide whether a use case is critical (CS02e ...),
the DUIS request matrix does. The
command is a General Signing APDU from the DCC User (originator = the User's EUI,
originator counter = the RequestID counter) to the device: a pre-command for the User to
sign when the use case is critical, else complete with a zero signature length; the ACB
then MACs it (`Command.mac`).

`supported_srvs()` lists what has a transform; anything else is a DuisError E11.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

from gbcs import crypto
from gbcs.axdr import array_node, data_node, structure_node
from gbcs.build import (grouping_header, mac_header, message_mac_key, other_information,
                        sign_grouping_header)
from gbcs.content import CRA_COMMAND
from gbcs.dlms import access_request
from gbcs.errors import GbcsEncodeError
from gbcs.node import Node, encode
from gbcs.usecases import UseCase, by_id, for_srv, srvs_for
from tools.headend import asn1_commands, esme_alerts, esme_calendars, gsme, pricing
from tools.headend.access import Device, RequestMatrix
from tools.headend.context import (NO_WINDOW, NOT_SPECIFIED, Context, activation_time,
                                   cosem_datetime, flag, integer, log_period, obis,
                                   range_selection, u32, xs_time)
from tools.headend.duis import E11, E12, DuisError, Element, ServiceRequest, parse_datetime


# The Data protection object's get_protected_attributes: protection type 2 (the
# response encrypted), key information "agreed key" with scheme C(0e, 2s).
_PROTECTION_TYPE, _KEY_INFO_AGREED, _KEY_SCHEME = 2, 2, b"\x02"


def _reads(*items: tuple) -> tuple[tuple[int, bytes, int], ...]:
    """(class, OBIS, attribute or attributes) rows -> one descriptor per attribute."""
    out = []
    for class_id, text, attrs in items:
        for attr in (attrs if isinstance(attrs, tuple) else (attrs,)):
            out.append((class_id, obis(text), attr))
    return tuple(out)


# ECS26a: prepayment configuration reads (single and twin element alike).
_ECS26A = _reads(
    (113, '0-0:19.20.1.255', 5), (11, '0-0:11.0.2.255', 2),
    (113, '0-0:19.20.1.255', (8, 5)), (113, '0-0:19.20.2.255', (5, 8, 5)),
    (113, '0-0:19.20.3.255', 13), (9000, '0-0:94.44.2.10', 2), (21, '0-0:16.0.1.255', 2),
    (9000, '0-0:94.44.2.20', 2), (111, '0-0:19.0.0.255', (16, 18, 19)),
    (112, '0-0:19.10.1.255', (9, 10)), (10, '0-0:12.0.1.255', 2),
    (111, '0-0:19.0.0.255', 11),)

# Use cases that only read attributes (no parameters): (use case, ESME variant) -> reads.
_GETS: dict[tuple[str, str], tuple[tuple[int, bytes, int], ...]] = {
    ('ECS52', ''): _reads(
        (1, '0-0:0.2.1.255', 2),),
    ('ECS24', ''): _reads(
        (3, '0-0:94.44.1.7', (2, 3)), (20, '0-0:13.0.0.255', (3, 4, 5)),
        (11, '0-0:11.0.0.255', 2), (21, '0-0:16.0.11.255', 2), (21, '0-0:16.0.12.255', 2),
        (21, '0-0:16.0.13.255', 2), (21, '0-0:16.0.14.255', 2), (21, '0-0:16.0.15.255', 2),
        (21, '0-0:16.0.16.255', 2), (21, '0-0:16.0.17.255', 2), (21, '0-0:16.0.18.255', 2),
        (9000, '0-0:94.44.2.0', 2), (113, '0-0:19.20.4.255', 5), (113, '0-0:19.20.0.255', 5),),
    ('ECS24b', ''): _reads(
        (113, '0-0:19.20.5.255', 5), (3, '0-0:94.44.1.8', (2, 3)), (11, '0-0:11.0.1.255', 2),
        (20, '0-0:13.0.1.255', (3, 4, 5)),),
    ('ECS18b', ''): _reads(
        (1, '0-0:94.44.5.0', 2), (1, '0-0:94.44.5.1', 2), (4, '1-0:1.6.0.255', (2, 3, 5)),
        (4, '1-0:1.6.1.255', (2, 3, 5)), (10, '0-0:12.0.0.255', 2),),
    ('ECS18a', ''): _reads(
        (1, '0-0:94.44.5.2', 2), (4, '1-0:2.6.0.255', (2, 3, 5)),),
    ('ECS26a', ''): _ECS26A,
    ('ECS26a', 'twin'): _ECS26A,  # the same objects on a twin element meter
    ('ECS27', ''): _reads(
        (9000, '0-0:94.44.0.3', 2), (3, '0-0:94.44.42.255', (2, 3)),
        (71, '0-0:17.0.0.255', (4, 6, 7)),),
    ('ECS17c', ''): _reads(
        (1, '0-0:94.44.34.20', 2),),
    ('ECS82', ''): _reads(
        (112, '0-0:19.10.0.255', 2),),
    ('ECS17a', ''): _reads(
        (3, '1-0:2.8.0.255', (2, 3)), (3, '1-0:4.8.0.255', (2, 3)),),
    ('ECS25r1', ''): _reads(
        (1, '0-30:97.98.15.255', 2), (1, '0-30:97.98.16.255', 2), (1, '0-30:97.98.17.255', 2),
        (1, '0-30:97.98.18.255', 2),),
    ('ECS26b', ''): _reads(
        (71, '0-0:17.0.1.255', (4, 6)), (71, '0-0:17.0.2.255', (4, 6)),
        (71, '0-0:17.0.3.255', (4, 6)), (71, '0-0:17.0.4.255', (4, 6)),
        (1, '1-0:32.35.0.4', 2), (1, '1-0:32.31.0.4', 2),),
    ('ECS26k', ''): _reads(
        (71, '0-0:17.0.1.255', (4, 6)), (71, '0-0:17.0.2.255', (4, 6)),
        (71, '0-0:17.0.3.255', (4, 6)), (71, '0-0:17.0.4.255', (4, 6)),
        (1, '1-0:32.35.0.4', 2), (1, '1-0:32.31.0.4', 2), (1, '1-0:52.31.0.4', 2),
        (1, '1-0:52.35.0.4', 2), (1, '1-0:72.31.0.4', 2), (1, '1-0:72.35.0.4', 2),),
    ('ECS26c', ''): _reads(
        (1, '0-0:94.44.0.0', 2), (1, '0-0:94.44.0.2', 2), (1, '0-0:94.44.0.1', 2),),
    ('ECS26d', ''): _reads(
        (22, '0-0:15.0.0.255', 4),),
    ('ECS26l', ''): _reads(
        (22, '0-0:15.0.0.255', 4),),
    ('ECS26e', ''): _reads(
        (1, '0-0:96.1.1.255', 2), (1, '0-0:96.1.2.255', 2), (1, '0-0:96.1.4.255', 2),
        (1, '0-0:96.1.6.255', 2), (1, '0-0:94.44.0.4', 2),),
    ('ECS26i', ''): _reads(
        (1, '0-0:96.1.1.255', 2), (1, '0-0:96.1.4.255', 2), (1, '0-0:96.1.6.255', 2),),
    ('ECS26m', ''): _reads(
        (1, '0-0:96.1.2.255', 2), (1, '0-0:96.1.4.255', 2), (1, '0-0:96.1.6.255', 2),
        (1, '0-0:94.44.0.4', 2),),
    ('ECS26n', ''): _reads(
        (1, '0-0:96.1.4.255', 2), (1, '0-0:96.1.6.255', 2),),
    ('ECS26f', ''): _reads(
        (21, '0-0:16.0.0.255', 2),),
    ('ECS40', ''): _reads(
        (1, '0-0:94.44.34.11', 2), (1, '1-0:0.0.2.255', 2),),
    ('ECS40', 'twin'): _reads(
        (1, '0-0:94.44.34.11', 2), (1, '1-0:0.0.2.255', 2),),
    ('ECS26j', ''): _reads(
        (111, '0-0:19.0.0.255', 2),),
    ('DBCH03', ''): _reads(
        (1, '0-0:94.44.10.0', 2),),
    ('DBCH01', ''): _reads(
        (1, '0-0:94.44.10.2', 2),),
    ('ECS61e', ''): _reads(
        (1, '0-0:94.44.0.21', 2), (1, '0-0:94.44.0.22', 2), (1, '0-0:94.44.0.23', 2),
        (1, '0-0:94.44.0.24', 2), (1, '0-0:94.44.0.25', 2), (1, '0-0:94.44.0.31', 2),
        (1, '0-0:94.44.0.32', 2), (1, '0-0:94.44.0.33', 2), (1, '0-0:94.44.0.34', 2),
        (1, '0-0:94.44.0.35', 2),),
    ('ECS45', ''): _reads(
        (70, '0-0:96.3.10.255', 3),),
    ('ECS61a', ''): _reads(
        *((1, f'0-0:94.44.0.{n}', 2) for n in (11, 12, 13, 14, 15, 21, 22, 23, 24, 25)),
        (11, '0-0:11.0.3.255', 2), (10, '0-0:12.0.2.255', 2),
        *((70, f'0-{n}:96.3.10.255', 2) for n in range(1, 6))),
    # no RTDS commands for these two: the objects are the ESME catalogue's. ECS25r2 (the
    # network operator's behaviours) answers 6.2.10 from a network operator, which
    # choose_use_case cannot tell (no sender role): it is sent only when asked for.
    ('ECS61d', ''): _reads(
        *((1, f'0-0:94.44.0.{n}', 2) for n in range(31, 36))),
    ('ECS25r2', ''): _reads(
        (1, '0-33:97.98.15.255', 2), (1, '0-33:97.98.16.255', 2), (1, '0-33:97.98.17.255', 2),
        (1, '0-33:97.98.18.255', 2),),
    ('CCS04', ''): _reads(
        (104, '0-0:30.3.0.255', 4),),
    ('CCS06', ''): _reads(
        (104, '0-0:30.3.0.255', 4),),}

# Reads GBCS asks for through the Data protection object (class 30), so that the
# device encrypts the response for the User: use case -> (protection object, the
# (class, OBIS) of each protected object; profiles (class 7) are read over the request's
# ReadLogPeriod).
_PROTECTED: dict[str, tuple[str, tuple[tuple[int, str], ...]]] = {
    "ECS17b": ("0-0:43.2.8.255", ((1, "0-0:94.44.34.10"),)),
    "ECS17d": ("0-0:43.2.9.255", ((1, "0-0:94.44.34.1"),)),
    "ECS17e": ("0-0:43.2.10.255", ((1, "0-0:94.44.34.2"),)),
    "ECS19": ("0-0:43.2.1.255", ((1, "0-0:94.44.34.30"),)),
    "ECS20b": ("0-0:43.2.3.255", ((7, "0-0:98.1.2.255"),)),
    "ECS20c": ("0-0:43.2.2.255", ((7, "0-0:98.1.0.255"), (7, "0-0:98.1.1.255"))),
    "ECS21a": ("0-0:43.2.5.255", ((7, "0-0:98.1.9.255"),)),
    "ECS21b": ("0-0:43.2.6.255", ((7, "0-0:98.1.8.255"),)),
    "ECS22b": ("0-0:43.2.7.255", ((7, "0-0:99.1.0.255"),)),
    "ECS66": ("0-0:43.2.4.255", ((7, "0-0:99.1.3.255"),)),
    "ECS21c": ("0-0:43.2.11.255", ((7, "0-0:98.1.10.255"),)),   # no RTDS command
}

# Logs read buffer-by-range (get-with-selection) over the request's ReadLogPeriod.
_RANGE_LOGS: dict[str, str] = {
    "ECS20a": "0-0:98.1.4.255", "ECS20d": "0-0:98.1.5.255", "ECS22a": "0-0:99.1.1.255",
    "ECS22c": "0-0:99.1.2.255", "ECS35a": "0-0:99.98.0.255", "ECS35b": "0-0:99.98.1.255",
    "ECS35c": "0-0:99.98.0.255", "ECS35d": "0-0:99.98.1.255", "ECS35f": "0-17:99.98.2.255",
    "ECS35g": "0-17:99.98.2.255", "DBCH02": "0-0:94.44.10.3",
    "ECS35e": "0-0:99.98.4.255",   # the power event log (no RTDS command: GBCS 4 object)
}

# Method calls with a fixed parameter: use case -> ((class, OBIS, method, type, value), ...).
_ACTIONS: dict[str, tuple[tuple[int, str, int, str, object], ...]] = {
    "ECS04b": tuple((112, f"0-0:19.10.{i}.255", 2, "double-long", 0) for i in range(3)),
    # the tariffication script table: script 99 resets the tariff block counter matrix
    "ECS05": ((9, "0-0:10.0.100.255", 1, "long-unsigned", 99),),
    "ECS09": ((112, "0-0:19.10.1.255", 3, "integer", 0),),
    "ECS15a": ((7, "0-0:99.98.0.255", 1, "integer", 0),),
    "ECS15c": ((7, "0-17:99.98.2.255", 1, "integer", 0),),
    "ECS28b": ((3, "0-0:94.44.42.255", 1, "integer", 0),),
    "ECS29e": tuple((3, f"1-0:32.{c}.0.4", 1, "integer", 0) for c in (32, 36)),
    "ECS29f": tuple((3, f"1-0:{p}.{c}.0.4", 1, "integer", 0)
                    for p in (32, 52, 72) for c in (32, 36)),
    # the disconnector script table: 51 enable, 52 disable, 54 arm
    "ECS42": ((9, "0-0:10.0.106.255", 1, "long-unsigned", 51),),
    "ECS43": ((9, "0-0:10.0.106.255", 1, "long-unsigned", 52),),
    "ECS44": ((9, "0-0:10.0.106.255", 1, "long-unsigned", 54),),
}

# ESME use cases the ACB sends on the User's behalf.
_VIA_ACB = frozenset(("ECS39b",))
_ESME_EVENT_LOGS = {"Event": "ECS35a", "Security": "ECS35b", "ALCSEvent": "ECS35f",
                    "PowerEvent": "ECS35e"}
_CHF_EVENT_LOGS = {"Event": "ECS35c", "Security": "ECS35d"}


def _protection_parameters(ctx: Context) -> Node:
    """Ask for the response encrypted for the User: transaction id (CRA 04 and the
    originator counter), originator and recipient system titles, no date-time, and
    key information (agreed key)."""
    transaction = b"\x04" + ctx.counter.to_bytes(8, "big")
    key_info = structure_node("", [data_node("", _KEY_INFO_AGREED, "enum"),
                                   structure_node("", [data_node("", _KEY_SCHEME, "octet-string"),
                                                       data_node("", b"", "octet-string")])])
    return structure_node("", [data_node("", _PROTECTION_TYPE, "enum"), structure_node("", [
        data_node("", transaction, "octet-string"), data_node("", ctx.originator, "octet-string"),
        data_node("", ctx.recipient, "octet-string"), data_node("", b"", "octet-string"),
        key_info])])


def _gets(uc: str) -> Callable[[Context], list[tuple]]:
    def build(ctx: Context) -> list[tuple]:
        reads = _GETS.get((uc, ctx.device.variant)) or _GETS[(uc, "")]
        return [("get", c, o, a, None) for c, o, a in reads]
    return build


def _protected(uc: str) -> Callable[[Context], list[tuple]]:
    dp, objects = _PROTECTED[uc]

    def build(ctx: Context) -> list[tuple]:
        if ctx.request.body.find("KAPublicSecurityCredentials") is not None:
            raise DuisError(E11, "reads for an unknown remote party (KAPublicSecurity"
                            "Credentials) are not supported", f"Request/Body/{ctx.request.service}")
        entries = []
        for class_id, ln in objects:
            if class_id == 7:
                start, end = log_period(ctx)
                restriction = structure_node("", [
                    data_node("", 1, "enum"),
                    structure_node("", [data_node("", cosem_datetime(start), "octet-string"),
                                        data_node("", cosem_datetime(end), "octet-string")])])
            else:
                restriction = structure_node("", [data_node("", 0, "enum"),
                                                  data_node("", None, "null-data")])
            entries.append(structure_node("", [
                data_node("", class_id, "long-unsigned"), data_node("", obis(ln), "octet-string"),
                data_node("", 2, "integer"), data_node("", 0, "long-unsigned"), restriction]))
        params = structure_node("", [array_node("", entries),
                                     array_node("", [_protection_parameters(ctx)])])
        return [("action", 30, obis(dp), 1, params)]
    return build


def _range_log(uc: str) -> Callable[[Context], list[tuple]]:
    def build(ctx: Context) -> list[tuple]:
        return [("get-with-selection", 7, obis(_RANGE_LOGS[uc]), 2, None,
                 range_selection(ctx))]
    return build


def _actions(uc: str) -> Callable[[Context], list[tuple]]:
    def build(ctx: Context) -> list[tuple]:
        return [("action", c, obis(o), m, data_node("", v, t)) for c, o, m, t, v in _ACTIONS[uc]]
    return build


# The OBIS C of each phase's voltage objects (L1, L2, L3).
_PHASES = (32, 52, 72)


def _network_data(phases: tuple[int, ...]) -> Callable[[Context], list[tuple]]:
    """ECS23 (single phase), ECS23b (each phase): the RMS voltage counters, and the
    average voltage profile over the period."""
    def build(ctx: Context) -> list[tuple]:
        items: list[tuple] = []
        for phase in phases:
            items += [("get", 3, obis(f"1-0:{phase}.{c}.0.4"), a, None)
                      for c in (32, 36) for a in (2, 3)]
            profile = obis(f"1-0:{phase}.24.0.255")
            items.append(("get-with-selection", 7, profile, 2, None, range_selection(ctx)))
            items.append(("get", 7, profile, 4, None))
        return items
    return build


# ECS29: the RMS voltage limiters (extreme over, extreme under, sag, swell): the DUIS
# setting names, each setting the limiter's threshold and its measurement period.
_LIMITERS = (("0-0:17.0.1.255", "RMSExtremeOverVoltage"), ("0-0:17.0.2.255",
             "RMSExtremeUnderVoltage"), ("0-0:17.0.3.255", "RMSVoltageSag"),
             ("0-0:17.0.4.255", "RMSVoltageSwell"))


def _limiters(ctx: Context) -> list[tuple]:
    items = []
    for ln, name in _LIMITERS:
        items.append(("set", 71, obis(ln), 4, u32(ctx, f"RMSVoltageSettings/{name}Threshold")))
        items.append(("set", 71, obis(ln), 6,
                      u32(ctx, f"RMSVoltageSettings/{name}MeasurementPeriod")))
    return items


def _phase_settings(ctx: Context) -> list[tuple[int, str]]:
    """(OBIS C, DUIS path of its settings) per phase: SinglePhaseVoltageSettings, or the
    PolyPhaseVoltageSettings for phases 1, 2 and 3."""
    body = ctx.request.body
    if body.find("SinglePhaseVoltageSettings") is not None:
        return [(_PHASES[0], "SinglePhaseVoltageSettings")]
    found = {p.value("Phase"): p for p in body.find_all("PolyPhaseVoltageSettings")}
    if sorted(found) != ["1", "2", "3"]:
        raise DuisError(None, "PolyPhaseVoltageSettings needs phases 1, 2 and 3",
                        f"Request/Body/{ctx.request.service}/PolyPhaseVoltageSettings")
    return [(_PHASES[int(n) - 1], n) for n in ("1", "2", "3")]


def _phase_value(ctx: Context, where: str, name: str) -> Node:
    if where == "SinglePhaseVoltageSettings":
        return u32(ctx, f"{where}/{name}")
    phase = next(p for p in ctx.request.body.find_all("PolyPhaseVoltageSettings")
                 if p.value("Phase") == where)
    sub = Context(ServiceRequest(ctx.request.request_id, ctx.request.command_variant,
                                 ctx.request.service_reference, ctx.request.srv, phase),
                  ctx.device, ctx.originator, ctx.counter, ctx.now)
    return u32(sub, f"PhaseVoltageSettings/{name}")


def _thresholds(ctx: Context) -> list[tuple]:
    """Per phase: average RMS under- then over-voltage threshold."""
    items = []
    for phase, where in _phase_settings(ctx):
        items.append(("set", 1, obis(f"1-0:{phase}.31.0.4"), 2,
                      _phase_value(ctx, where, "AverageRMSUnderVoltageThreshold")))
        items.append(("set", 1, obis(f"1-0:{phase}.35.0.4"), 2,
                      _phase_value(ctx, where, "AverageRMSOverVoltageThreshold")))
    return items


def _periods(ctx: Context) -> list[tuple]:
    """Per phase: the average voltage profile's capture period."""
    return [("set", 7, obis(f"1-0:{phase}.24.0.255"), 4,
             _phase_value(ctx, where, "AverageRMSVoltageMeasurementPeriod"))
            for phase, where in _phase_settings(ctx)]


def _voltage_reset(ctx: Context) -> list[tuple]:
    """ECS29a: single phase, counters reset: profile period, limiters, over- then
    under-voltage threshold, then the two counters reset."""
    under, over = _thresholds(ctx)
    return (_periods(ctx) + _limiters(ctx) + [over, under]
            + [("action", 3, obis(f"1-0:32.{c}.0.4"), 1, data_node("", 0, "integer"))
               for c in (32, 36)])


def _voltage_reset_polyphase(ctx: Context) -> list[tuple]:
    """ECS29b: polyphase, counters reset: as ECS29a for each phase (no RTDS command to
    check it against: the order follows ECS29a's)."""
    thresholds = _thresholds(ctx)
    swapped = [item for n in range(0, len(thresholds), 2)
               for item in (thresholds[n + 1], thresholds[n])]   # over, then under
    return (_periods(ctx) + _limiters(ctx) + swapped
            + [("action", 3, obis(f"1-0:{phase}.{c}.0.4"), 1, data_node("", 0, "integer"))
               for phase in _PHASES for c in (32, 36)])


def _voltage_kept(ctx: Context) -> list[tuple]:
    """ECS29c (single phase), ECS29d (polyphase): counters not reset."""
    return _thresholds(ctx) + _periods(ctx) + _limiters(ctx)


# ECS47: the set output signals script table; a script id is the switch (high byte)
# and the action (low byte).
_OUTPUT_SCRIPTS = "0-0:10.0.103.255"
_ALCS_ACTIONS = {"7.5": ("ActivateALCSHCALCS", 0x11, 1), "7.6": ("DeactivateALCSHCALCS",
                 0x12, 2), "7.8": ("ResetALCSHCALCS", 0x20, None)}


def switch_index(ctx: Context, element, path: str, attribute: str = "index") -> int:
    text = element.attribute(attribute) or ""
    if not text.isdigit() or not 1 <= int(text) <= 5:
        raise DuisError(None, f"{attribute} {text!r} is not a switch 1..5",
                        f"Request/Body/{ctx.request.service}/{path}")
    return int(text)


def _auxiliary_load(ctx: Context) -> list[tuple]:
    """ECS47 (7.5 activate, 7.6 deactivate, 7.8 reset an auxiliary load control switch):
    the duration for the switch, then the script."""
    name, action, duration_object = _ALCS_ACTIONS[ctx.request.srv]
    switch = ctx.request.body.find(name)
    if switch is None:
        raise DuisError(None, f"missing {name}", f"Request/Body/{ctx.request.service}/{name}")
    n = switch_index(ctx, switch, name)
    items = []
    if duration_object is not None:
        duration = switch.value("Duration") or ""
        if not duration.isdigit() or int(duration) > 0xFFFF:
            raise DuisError(None, f"Duration {duration!r} is not 0..65535 minutes",
                            f"Request/Body/{ctx.request.service}/{name}/Duration")
        items.append(("set", 1, obis(f"0-0:94.44.{116 + n}.{duration_object}"), 2,
                      data_node("", int(duration), "long-unsigned")))
    items.append(("action", 9, obis(_OUTPUT_SCRIPTS), 1,
                  data_node("", n << 8 | action, "long-unsigned")))
    return items


def _controller_state(objects: tuple[int, int], scripts: str) -> Callable[[Context], list]:
    """ECS47a (7.13 set an auxiliary controller's state), ECS47e (7.16 limit an APC's
    level): the period's start and end, then the script: the controller with 0x10 (or
    0x20 for input from the controlled load) in the high byte, the level in the low."""
    def build(ctx: Context) -> list[tuple]:
        body, base = ctx.request.body, f"Request/Body/{ctx.request.service}"
        n = switch_index(ctx, body, "", "auxiliaryControllerN")
        start = parse_datetime(ctx.field("StartDateTime"), f"{base}/StartDateTime")
        end = parse_datetime(ctx.field("EndDateTime"), f"{base}/EndDateTime")
        level = integer(ctx, "CommandedStateLevel", 0, 100)
        kind = 0x20 if body.find("InputFromControlledLoad") is not None else 0x10
        return [("set", 1, obis(f"0-0:94.44.{116 + n}.{objects[0]}"), 2,
                 data_node("", cosem_datetime(start), "octet-string")),
                ("set", 1, obis(f"0-0:94.44.{116 + n}.{objects[1]}"), 2,
                 data_node("", cosem_datetime(end), "octet-string")),
                ("action", 9, obis(scripts), 1,
                 data_node("", (kind | n) << 8 | level, "long-unsigned"))]
    return build


def _switch_descriptions(ctx: Context) -> list[tuple]:
    """ECS46a: the description of each auxiliary load control switch the request names."""
    items = []
    for switch in ctx.request.body.find_all("ALCSHCALCSDescription"):
        n = switch_index(ctx, switch, "ALCSHCALCSDescription")
        text = switch.value("SwitchDescription") or ""
        if not text.isascii():
            raise DuisError(None, f"SwitchDescription {text!r} is not ASCII",
                            f"Request/Body/{ctx.request.service}/ALCSHCALCSDescription")
        items.append(("set", 1, obis(f"0-0:94.44.0.{10 + n}"), 2,
                      data_node("", text, "visible-string")))
    if not items:
        raise DuisError(None, "no ALCSHCALCSDescription", f"Request/Body/{ctx.request.service}")
    return items


def _boost_button(ctx: Context) -> list[tuple]:
    """ECS62: each switch added to (7.9) or removed from (7.10) the boost button."""
    add = ctx.request.srv == "7.9"
    name = "AddToBoostButton" if add else "RemoveFromBoostButton"
    items = []
    for switch in ctx.request.body.find_all(name):
        n = switch_index(ctx, switch, name)
        if switch.text == "true":
            items.append(("set", 1, obis(f"0-0:94.44.6.{n}"), 2,
                          data_node("", 0xFF if add else 0, "boolean")))
    if not items:
        raise DuisError(None, f"no {name} is true", f"Request/Body/{ctx.request.service}")
    return items


def _restrict_access(ctx: Context) -> list[tuple]:
    when = parse_datetime(ctx.field("RestrictionDateTime"), "RestrictionDateTime")
    return [("set", 1, obis("0-0:94.44.3.2"), 2,
             data_node("", cosem_datetime(when), "octet-string"))]


def _disable_pin(ctx: Context) -> list[tuple]:
    return [("set", 1, obis("0-0:94.44.3.1"), 2, data_node("", b"", "octet-string"))]


def _randomised_offset(ctx: Context) -> list[tuple]:
    limit = integer(ctx, "RandomisedOffsetLimit", 0, 0xFFFF)
    return [("set", 1, obis("0-0:94.44.0.1"), 2, data_node("", limit, "long-unsigned"))]


def _export_mpan(ctx: Context) -> list[tuple]:
    mpan = ctx.field("ExportMPAN")
    return [("set", 1, obis("1-0:0.0.2.255"), 2,
             data_node("", mpan.encode("ascii"), "octet-string"))]


def _power_thresholds(ctx: Context) -> list[tuple]:
    """ECS34: the instantaneous power thresholds (low / medium, medium / high, in W), the
    register monitor's thresholds as ECS26f reads them back."""
    base = f"Request/Body/{ctx.request.service}"
    low = integer(ctx, "LowMediumPowerThreshold", 0, 0xFFFFFFFF)
    high = integer(ctx, "MediumHighPowerThreshold", 0, 0xFFFFFFFF)
    if low > high:
        raise DuisError(None, f"LowMediumPowerThreshold {low} is above "
                        f"MediumHighPowerThreshold {high}", f"{base}/LowMediumPowerThreshold")
    return [("set", 21, obis("0-0:16.0.0.255"), 2, array_node("", [
        data_node("", low, "double-long-unsigned"),
        data_node("", high, "double-long-unsigned")]))]


def _tamper_state(ctx: Context) -> list[tuple]:
    locked = ctx.field("SupplyTamperState") == "Locked"
    return [("set", 1, obis("0-0:94.44.0.4"), 2, data_node("", 0xFF if locked else 0, "boolean"))]


_CLOCK = "0-0:1.0.0.255"
_RADIO_CONTROLLED = 5  # COSEM clock_base: the time comes from the network
_NEVER = b"\xff" * 9 + b"\x80\x00\xff"


def _synchronise_clock(ctx: Context) -> list[tuple]:
    """ECS70 (6.11 synchronise clock, 8.1.1 commission): set the clock from the network
    within a validity window of CurrentDateTime plus TolerancePeriod seconds, then read
    the time and clock status back."""
    base = f"Request/Body/{ctx.request.service}"
    now = parse_datetime(ctx.field("CurrentDateTime"), f"{base}/CurrentDateTime")
    tolerance = integer(ctx, "TolerancePeriod", 0, 0xFFFFFFFF)
    clock = obis(_CLOCK)
    window = structure_node("", [
        data_node("", _NEVER, "octet-string"),
        data_node("", cosem_datetime(now), "octet-string"),
        data_node("", cosem_datetime(now + _dt.timedelta(seconds=tolerance)), "octet-string")])
    return [("set", 8, clock, 9, data_node("", _RADIO_CONTROLLED, "enum")),
            ("action", 8, clock, 5, window),
            ("action", 8, clock, 4, data_node("", 0, "integer")),
            ("get", 8, clock, 2, None), ("get", 8, clock, 4, None)]


# ECS57: which maximum demand registers each optional DUIS element resets, in order.
_MAX_DEMAND = (("MaxDemandActivePowerImportValue", "1-0:1.6.0.255"),
               ("MaxDemandConfigTimeActivePowerImportValue", "1-0:1.6.1.255"),
               ("MaxDemandActivePowerExportValue", "1-0:2.6.0.255"))


def _reset_max_demand(ctx: Context) -> list[tuple]:
    items = [("action", 4, obis(ln), 1, data_node("", 0, "integer"))
             for name, ln in _MAX_DEMAND if ctx.request.body.find(name) is not None]
    if not items:
        raise DuisError(None, "no maximum demand register named",
                        f"Request/Body/{ctx.request.service}")
    return items


# ECS37: the configurable maximum demand period: a schedule running the period's start
# (script 1) and end (script 2) every day, from any date on.
_MAX_DEMAND_SCRIPTS = "0-0:10.128.100.255"
_ANY_DATE_FROM = bytes((0, 0, 1, 0xFF, 0xFF))
_NO_DATE = b"\xff" * 5


def _max_demand_period(ctx: Context) -> list[tuple]:
    base = f"Request/Body/{ctx.request.service}/MaximumDemandTimePeriodSchedule"
    times = [xs_time(ctx.field(f"MaximumDemandTimePeriodSchedule/{name}"), f"{base}/{name}")
             for name in ("StartTime", "EndTime")]
    entries = [structure_node("", [
        data_node("", n, "long-unsigned"), data_node("", 0xFF, "boolean"),
        data_node("", obis(_MAX_DEMAND_SCRIPTS), "octet-string"),
        data_node("", n + 1, "long-unsigned"), data_node("", when, "octet-string"),
        data_node("", NO_WINDOW, "long-unsigned"), data_node("", "1111111", "bit-string"),
        data_node("", "", "bit-string"), data_node("", _ANY_DATE_FROM, "octet-string"),
        data_node("", _NO_DATE, "octet-string")]) for n, when in enumerate(times)]
    return [("set", 10, obis("0-0:12.0.0.255"), 2, array_node("", entries))]


def _boost_details(ctx: Context) -> list[tuple]:
    """ECS61c: the boost duration, the boost event log over the period, and which
    switches the boost button drives."""
    return ([("get", 1, obis("0-0:94.44.7.255"), 2, None),
             ("get-with-selection", 7, obis("0-0:99.98.20.255"), 2, None,
              range_selection(ctx))]
            + [("get", 1, obis(f"0-0:94.44.6.{n}"), 2, None) for n in range(1, 6)])


# ECS28a: load limiting: whether to disable the supply, the power threshold, the period
# over it, the restoration period; passive values taking effect together.
_LOAD_LIMIT = (("LoadLimitSupplyState", "0-0:94.44.0.3"),
               ("LoadLimitPowerThreshold", "0-0:94.44.128.7"),
               ("LoadLimitPeriod", "0-0:94.44.128.6"),
               ("LoadLimitRestorationPeriod", "0-0:94.44.128.8"))


def _load_limiting(ctx: Context) -> list[tuple]:
    state = ctx.field("LoadLimitSupplyState")
    if state not in ("Disable", "Unchanged"):
        raise DuisError(None, f"LoadLimitSupplyState {state!r}",
                        f"Request/Body/{ctx.request.service}/LoadLimitSupplyState")
    values = [data_node("", 0xFF if state == "Disable" else 0, "boolean")] + [
        u32(ctx, name) for name, _ in _LOAD_LIMIT[1:]]
    when = data_node("", activation_time(ctx.request.execution_datetime), "octet-string")
    return ([("set", 9000, obis(ln), 4, v) for (_, ln), v in zip(_LOAD_LIMIT, values)]
            + [("set", 9000, obis(ln), 6, when) for _, ln in _LOAD_LIMIT])


# Held-back use cases (no RTDS command to check against), on the objects the ESME's
# catalogue has for them: the display message, the supplier's name and telephone
# number, the import MPAN.
def _text(ctx: Context, name: str, limit: int = 0xFF) -> Node:
    text = ctx.field(name)
    if not text.isascii() or len(text) > limit:
        raise DuisError(None, f"{name} {text!r} is not ASCII of up to {limit} characters",
                        f"Request/Body/{ctx.request.service}/{name}")
    return data_node("", text.encode("ascii"), "octet-string")


def _display_message(ctx: Context) -> list[tuple]:
    """ECS10: the supplier's message on the meter's display."""
    return [("set", 1, obis("0-2:96.13.1.255"), 2, _text(ctx, "SupplierMessage"))]


def _supplier_name(ctx: Context) -> list[tuple]:
    """ECS16: the supplier's name and telephone number."""
    return [("set", 1, obis("0-0:96.13.1.255"), 2, _text(ctx, "SupplierName")),
            ("set", 1, obis("0-0:96.13.0.255"), 2, _text(ctx, "SupplierTelephoneNumber"))]


def _import_mpan(ctx: Context) -> list[tuple]:
    """ECS39a: the (single element) meter's import MPAN."""
    mpans = [e.text for e in (ctx.request.body.find("ImportMPANs") or Element("")).children]
    path = f"Request/Body/{ctx.request.service}/ImportMPANs"
    if len(mpans) != 1:
        raise DuisError(E11, "only a single import MPAN is supported", path)
    if not (mpans[0].isdigit() and len(mpans[0]) == 13):
        raise DuisError(None, f"ImportMPAN {mpans[0]!r} is not 13 digits", path)
    return [("set", 1, obis("1-0:0.0.0.255"), 2,
             data_node("", mpans[0].encode("ascii"), "octet-string"))]


def _daily_block_reset(ctx: Context) -> list[tuple]:
    """ECS48: the tariff block counter matrix's daily reset: at midnight on any date, or
    no reset."""
    on = flag(ctx, "DailyTariffBlockCounterMatrixReset")
    entries = [structure_node("", [data_node("", bytes(4), "octet-string"),
                                   data_node("", b"\xff" * 5, "octet-string")])] if on else []
    return [("set", 22, obis("0-0:15.1.0.255"), 4, array_node("", entries))]


# The CHF device log (ZigBee network control, class 104) and its unregister_device method.
_CHF_DEVICE_LOG, _UNREGISTER_DEVICE = "0-0:30.3.0.255", 2


_REGISTER_DEVICE, _JOINING, _JOIN_TIMEOUT, _INSTALL_CODE_SECRET = 1, 2, 3, 0


def _add_device(ctx: Context) -> list[tuple]:
    """CCS01: put a device (its type from the SMI) with its install code in the comms
    hub's device log, and open joining for JoinTimePeriod seconds."""
    base = f"Request/Body/{ctx.request.service}/AddDeviceToCHFWhitelist"
    device = asn1_commands.other_device(ctx, "DeviceID")
    code_text = ctx.field("AddDeviceToCHFWhitelist/InstallCode")
    try:
        code = bytes.fromhex(code_text)
    except ValueError:
        code = b""
    if not 6 <= len(code) <= 18:
        raise DuisError(None, f"InstallCode {code_text!r} is not 6 to 18 bytes of hex",
                        f"{base}/InstallCode")
    timeout = integer(ctx, "AddDeviceToCHFWhitelist/JoinTimePeriod", 0, 0xFFFF)
    entry = structure_node("", [
        data_node("", device.eui, "octet-string"),
        data_node("", asn1_commands.gbcs_device_type(device), "enum"),
        data_node("", code, "octet-string"), data_node("", _INSTALL_CODE_SECRET, "enum")])
    log = obis(_CHF_DEVICE_LOG)
    return [("action", 104, log, _REGISTER_DEVICE, entry),
            ("set", 104, log, _JOIN_TIMEOUT, data_node("", timeout, "long-unsigned")),
            ("set", 104, log, _JOINING, data_node("", 0xFF, "boolean"))]


def _remove_device(ctx: Context) -> list[tuple]:
    """CCS02: take a device out of the comms hub's device log."""
    text = ctx.field("DeviceID")
    try:
        device = bytes.fromhex(text.replace("-", ""))
    except ValueError:
        device = b""
    if len(device) != 8:
        raise DuisError(None, f"DeviceID {text!r} is not an EUI-64",
                        f"Request/Body/{ctx.request.service}/DeviceID")
    return [("action", 104, obis(_CHF_DEVICE_LOG), _UNREGISTER_DEVICE,
             data_node("", device, "octet-string"))]


# DBCH04: the sub GHz channel groups as ZigBee channel pages (page in the top 5 bits of
# a 32-bit mask, a channel's bit counted from the group's first channel).
_CHANNEL_PAGES = (("LowerBandSubGHzChannels0To26", 28, 0),
                  ("LowerBandSubGHzChannels27To34", 29, 27),
                  ("LowerBandSubGHzChannels35To61", 30, 35),
                  ("UpperBandSubGHzChannels0To26", 31, 0))
# The settings after the channel masks: (DUIS name, A-XDR type, scale of its decimals).
_SUB_GHZ_SETTINGS = (
    ("NormalLimitedDutyCycleThreshold", "long-unsigned", 100),
    ("LimitedCriticalDutyCycleThreshold", "long-unsigned", 100),
    ("MaximumSubGHzChannelChangesPerWeek", "unsigned", 1),
    ("GSMECurfew", "long-unsigned", 1), ("ChannelQuieterThreshold", "unsigned", 1),
    ("ChannelNoisierThreshold", "unsigned", 1),
    ("NonGSMEPoorCommsPercentageThreshold", "long-unsigned", 100),
    ("NonGSMEPoorCommsMeasurementPeriods", "unsigned", 1),
    ("LocalCHNoiseMeasurementPeriod", "long-unsigned", 1),
    ("LocalCHFailurePercentage", "long-unsigned", 100),
    ("LocalCHRetryPercentage", "long-unsigned", 100))
_AXDR_MAX = {"unsigned": 0xFF, "long-unsigned": 0xFFFF}


def _sub_ghz_configuration(ctx: Context) -> list[tuple]:
    """DBCH04: the comms hub's sub GHz channels and thresholds, one structure."""
    base = f"Request/Body/{ctx.request.service}"
    masks = []
    for name, page, first in _CHANNEL_PAGES:
        mask = page << 27
        for channel in (ctx.request.body.find(name) or Element(name)).children:
            number = channel.name.removeprefix("Channel")
            if not number.isdigit() or not 0 <= int(number) - first < 27:
                raise DuisError(None, f"{channel.name} is not in {name}", f"{base}/{name}")
            mask |= 1 << (int(number) - first)
        masks.append(data_node("", f"{mask:032b}", "bit-string"))
    values = []
    for name, kind, scale in _SUB_GHZ_SETTINGS:
        text = ctx.field(name)
        try:
            value = round(float(text) * scale)
        except ValueError:
            value = -1
        if not 0 <= value <= _AXDR_MAX[kind]:
            raise DuisError(None, f"{name} {text!r} is out of range", f"{base}/{name}")
        values.append(data_node("", value, kind))
    return [("set", 1, obis("0-0:94.44.10.0"), 2, structure_node("", masks + values))]


def _billing_calendar(ctx: Context) -> list[tuple]:
    """ECS30: the billing calendar's single action schedule: the billing time on a day
    of every month (any year, month and weekday), checked against the RTDS. Other
    periodicities are ECS30a's."""
    base = "ElectricityBillingCalendar"
    path = f"Request/Body/{ctx.request.service}/{base}"
    day = ctx.request.body.value(f"{base}/Monthly")
    if day is None:
        raise DuisError(E11, "ECS30 takes a Monthly billing calendar (others: ECS30a)", path)
    if not day.isdigit() or not 1 <= int(day) <= 31:
        raise DuisError(None, f"Monthly {day!r} is not a day 1..31", f"{path}/Monthly")
    when = xs_time(ctx.field(f"{base}/BillingTime"), f"{path}/BillingTime")
    date = b"\xff\xff\xff" + bytes((int(day), NOT_SPECIFIED))
    return [("set", 22, obis("0-0:15.0.0.255"), 4, array_node("", [structure_node("", [
        data_node("", when, "octet-string"), data_node("", date, "octet-string")])]))]


# ECS30a: how many billing dates a year each periodicity with a start month has.
_BILLINGS_A_YEAR = {"Quarterly": 4, "SixMonthly": 2, "Yearly": 1}


def _billing_calendar_any(ctx: Context) -> list[tuple]:
    """ECS30a: the billing calendar of any periodicity (0-0:15.2.0), one execution time
    per billing date pattern: any day (Daily), a day of the week (Weekly, 1 Monday), a
    day of every month (Monthly), or a day of each billing month from the start month
    (Quarterly, SixMonthly, Yearly). No RTDS command: the patterns are COSEM dates'
    wildcards as ECS30's monthly one."""
    base = "ElectricityBillingCalendar"
    path = f"Request/Body/{ctx.request.service}/{base}"
    calendar = ctx.request.body.find(base)
    if calendar is None:
        raise DuisError(None, f"missing {base}", path)
    when = xs_time(ctx.field(f"{base}/BillingTime"), f"{path}/BillingTime")
    any_ = NOT_SPECIFIED
    dates: list[bytes] = []
    for choice in calendar.children:
        where = f"{path}/{choice.name}"
        if choice.name == "Daily":
            dates = [b"\xff\xff" + bytes((any_, any_, any_))]
        elif choice.name == "Weekly":
            weekday = integer(ctx, f"{base}/Weekly", 1, 7)
            dates = [b"\xff\xff" + bytes((any_, any_, weekday))]
        elif choice.name == "Monthly":
            day = integer(ctx, f"{base}/Monthly", 1, 28)
            dates = [b"\xff\xff" + bytes((any_, day, any_))]
        elif choice.name in _BILLINGS_A_YEAR:
            day = integer(ctx, f"{base}/{choice.name}/DayOfMonth", 1, 28)
            start = integer(ctx, f"{base}/{choice.name}/BillingPeriodStartMonth", 1, 12)
            count = _BILLINGS_A_YEAR[choice.name]
            months = sorted((start - 1 + n * 12 // count) % 12 + 1 for n in range(count))
            dates = [b"\xff\xff" + bytes((month, day, any_)) for month in months]
        elif choice.name != "BillingTime":
            raise DuisError(None, f"{choice.name} is not a billing periodicity", where)
    if not dates:
        raise DuisError(None, "no billing periodicity", path)
    return [("set", 22, obis("0-0:15.2.0.255"), 4, array_node("", [structure_node("", [
        data_node("", when, "octet-string"), data_node("", date, "octet-string")])
        for date in dates]))]


_Builder = Callable[[Context], list[tuple]]
_BUILDERS: dict[str, _Builder] = {uc: _gets(uc) for uc, _ in _GETS}

_BUILDERS.update({uc: _protected(uc) for uc in _PROTECTED})


_BUILDERS.update({uc: _range_log(uc) for uc in _RANGE_LOGS})


_BUILDERS.update({uc: _actions(uc) for uc in _ACTIONS})


_BUILDERS.update({
    "ECS23": _network_data(_PHASES[:1]), "ECS23b": _network_data(_PHASES),
    "ECS29a": _voltage_reset, "ECS29c": _voltage_kept, "ECS29d": _voltage_kept,
    "ECS47": _auxiliary_load, "ECS47a": _controller_state((1, 2), _OUTPUT_SCRIPTS),
    "ECS47e": _controller_state((3, 4), "0-0:10.0.107.255"), "ECS62": _boost_button,
    "ECS12": _restrict_access, "ECS14": _disable_pin, "ECS38": _randomised_offset,
    "ECS39b": _export_mpan, "ECS81": _tamper_state, "ECS70": _synchronise_clock,
    "ECS57": _reset_max_demand, "ECS37": _max_demand_period, "ECS61c": _boost_details,
    "ECS28a": _load_limiting, "ECS30": _billing_calendar, "ECS46a": _switch_descriptions,
    "ECS48": _daily_block_reset, "CCS01": _add_device, "CCS02": _remove_device,
    "ECS29b": _voltage_reset_polyphase,
    "ECS10": _display_message, "ECS16": _supplier_name, "ECS39a": _import_mpan,
    "DBCH04": _sub_ghz_configuration, "ECS34": _power_thresholds,
    "ECS30a": _billing_calendar_any,
})
_BUILDERS.update(esme_alerts.BUILDERS)
_BUILDERS.update(esme_calendars.BUILDERS)
_BUILDERS.update(pricing.BUILDERS)
_BUILDERS.update(gsme.BUILDERS)
_BUILDERS.update(asn1_commands.BUILDERS)


def choose_use_case(req: ServiceRequest, device: Device) -> str | None:
    """The use case the DCC sends for this SRV to this device, where the body or the
    device decides between several."""
    body = req.body
    if device.device_type == "GSME":
        return _gsme_use_case(req)
    if req.srv == "6.8" and device.device_type == "ESME":
        return "ECS30" if body.find("ElectricityBillingCalendar/Monthly") is not None \
            else "ECS30a"
    if req.srv == "6.22" and device.device_type == "ESME":
        return esme_alerts.use_case(body)
    if req.srv == "6.13":
        logs = _CHF_EVENT_LOGS if device.device_type == "CHF" else _ESME_EVENT_LOGS
        return logs.get(body.value("LogToRead") or "")
    if req.srv == "1.5":
        return "ECS04a" if body.find("PrepaymentMode") is not None else "ECS04b"
    if req.srv == "1.6":
        if body.find("Prepayment") is not None:
            return "ECS03"
        return "ECS02" if body.find("Credit") is not None else None
    if req.srv == "3.3":
        return {"ESME": "ECS15a", "ALCS": "ECS15c"}.get(body.value("ESMEEventLogType") or "")
    if req.srv == "6.27":
        return "ECS29f" if device.variant == "polyphase" else "ECS29e"
    if req.srv == "4.10":
        return "ECS23b" if device.variant == "polyphase" else "ECS23"
    if req.srv == "6.2.1" and device.device_type == "ESME":
        return "ECS26k" if device.variant == "polyphase" else "ECS26b"
    if req.srv == "6.5":
        poly = body.find("PolyPhaseVoltageSettings") is not None
        if body.find("RMSVoltageCountersNotReset") is not None:
            return "ECS29d" if poly else "ECS29c"
        return "ECS29b" if poly else "ECS29a"
    if req.srv == "8.11":
        return {"Add": "CCS01", "Remove": "CCS02"}.get(body.value("RequestType") or "")
    if req.srv == "8.9" and device.device_type == "CHF" and \
            body.find("ReadSecurityDetails") is not None:
        return "CCS07"                  # the device logs with their link keys
    candidates = [uc.use_case for uc in _use_cases_for(req.srv, device.device_type)]
    return candidates[0] if candidates else None


def _gsme_use_case(req: ServiceRequest) -> str | None:
    """The gas meter's use case where the body decides."""
    body = req.body
    if req.srv == "1.6":
        return "GCS03" if body.find("Prepayment") is not None else "GCS02"
    if req.srv == "1.5":
        if body.find("PrepaymentMode/AdjustMeterBalance") is not None:
            return "GCS40a"
        if body.find("PrepaymentMode/ResetMeterBalance") is not None:
            return "GCS40b"
        return "GCS40d" if body.find("CreditMode/ResetMeterBalance") is not None else None
    if req.srv == "6.7":
        return "GCS24a" if body.find("UncontrolledGasFlowRateDecimal") is not None else "GCS24"
    if req.srv == "6.13":
        return {"Event": "CS10a", "Security": "CS10b"}.get(body.value("LogToRead") or "")
    if req.srv == "6.8":
        monthly = body.value("GasBillingCalendar/Periodicity") == "Monthly"
        return "GCS25" if monthly else "GCS25a"
    candidates = [uc.use_case for uc in _use_cases_for(req.srv, "GSME")]
    return candidates[0] if candidates else None


# Where GBCS has an older and a newer use case for one SRV, the newer one.
_PREFERRED = {"6.2.4": ("ECS26m", "ECS26n"), "6.2.3": ("ECS26l",),
              "2.1": ("ECS08a",)}


def _use_cases_for(srv: str, device_type: str) -> list[UseCase]:
    found = [uc for uc in for_srv(srv) if device_type in uc.devices and uc.use_case in _BUILDERS]
    preferred = _PREFERRED.get(srv, ())
    found.sort(key=lambda uc: uc.use_case not in preferred)
    return found


def supported_srvs() -> list[str]:
    """The SRVs with a transform for at least one device type, in SRV order."""
    srvs = {srv for uc in _BUILDERS for srv in srvs_for(uc)}
    return sorted(srvs, key=lambda s: tuple(int(p) for p in s.split(".")))


def supported_use_cases() -> list[str]:
    return sorted(_BUILDERS)


@dataclass(frozen=True, slots=True)
class Command:
    """A transformed request: the General Signing APDU to the device (a pre-command to
    sign when `critical`)."""

    use_case: UseCase
    originator: bytes
    recipient: bytes
    originator_counter: int
    apdu: bytes
    signed_by_user: bool | None = None   # where GBCS lets the SRV decide (CS02e ...)

    @property
    def critical(self) -> bool:
        if self.signed_by_user is not None:
            return self.signed_by_user
        return bool(self.use_case.critical)

    @property
    def message_code(self) -> int:
        return self.use_case.code

    def sign_with(self, private_key: crypto.PrivateKey) -> bytes:
        """The pre-command signed as its User would sign it."""
        if not self.critical:
            raise DuisError(E12, f"{self.use_case.use_case} is not critical: nothing to sign")
        return sign_grouping_header(self.apdu, private_key)

    def mac(self, apdu: bytes, acb_ka: crypto.PrivateKey, device_ka: crypto.PublicKey) -> bytes:
        """`apdu` (this command, signed if critical) in the ACB's MAC header: the ACB's
        KA private key with the device's KA public key."""
        key = message_mac_key(acb_ka, device_ka, cra=CRA_COMMAND, originator=self.originator,
                              originator_counter=self.originator_counter,
                              recipient=self.recipient)
        return mac_header(apdu, key, self.originator)


@lru_cache(maxsize=1)
def _matrix() -> RequestMatrix | None:
    try:
        return RequestMatrix.load()
    except FileNotFoundError:
        return None


def _critical(uc: UseCase, srv: str) -> bool:
    """Whether the command is signed by the User: the use case says, or where GBCS lets
    it vary (CS02e, ...) the SRV's row of the DUIS matrix (signed when unknown)."""
    if uc.critical is not None:
        return uc.critical
    entry = _matrix().get(srv) if _matrix() is not None else None
    return True if entry is None else entry.critical


def via_acb(use_case: str, device: Device) -> bool:
    """True when GBCS has the ACB send the command, naming the User as supplementary
    remote party: anything to a comms hub but the User's own reads of the gas meter's
    data the GPF holds, and the use cases in `_VIA_ACB`."""
    if device.device_type == "GPF":
        return use_case not in gsme.READS
    return device.device_type == "CHF" or use_case in _VIA_ACB or use_case in gsme.VIA_ACB


def transform(req: ServiceRequest, device: Device, use_case: str | None = None, *,
              acb: bytes | None = None, acb_counter: int | None = None,
              on_behalf: bool = False, now: _dt.datetime | None = None,
              inventory: Callable[[bytes], Device | None] | None = None) -> Command:
    """The GBCS command for `req` to `device` (`use_case` forces one of the SRV's use
    cases, e.g. ECS26e rather than the newer ECS26m); DuisError E11 when there is no
    transform for it. Commands the ACB sends (see `via_acb`) need its EUI and its next
    originator counter for the device; `on_behalf` has the ACB send any command so (the
    DCC's own scheduled requests); `now` is the DCC's time, which GSME commands carry;
    `inventory` looks up other devices a command names (their type for joins)."""
    uc_id = use_case or choose_use_case(req, device)
    builder = _BUILDERS.get(uc_id or "")
    matches = [uc for uc in by_id(uc_id or "") if not uc.alert]
    if builder is None or len(matches) != 1:
        raise DuisError(E11, f"no transform for SRV {req.srv} to a {device.device_type}"
                        + (f" ({uc_id})" if uc_id else ""), "Request/Header/ServiceReferenceVariant")
    uc = matches[0]
    if req.srv not in uc.srvs:
        raise DuisError(E11, f"{uc_id} is not triggered by SRV {req.srv}",
                        "Request/Header/ServiceReferenceVariant")
    if device.device_type not in uc.devices:
        raise DuisError(E11, f"{uc_id} does not apply to a {device.device_type}",
                        "Request/Header/RequestID")
    rid = req.request_id
    critical = _critical(uc, req.srv)
    other_info = None
    if on_behalf or via_acb(uc.use_case, device):
        if acb is None or acb_counter is None:
            raise ValueError(f"{uc.use_case} is sent by the ACB: give acb and acb_counter")
        ctx = Context(req, device, acb, acb_counter, now, inventory)
        other_info = other_information(uc.code, supplementary_remote_party_id=rid.originator,
                                       supplementary_remote_party_counter=rid.counter)
    else:
        ctx = Context(req, device, rid.originator, rid.counter, now, inventory)
    try:
        built = builder(ctx)
        content = built if isinstance(built, Node) else access_request(built,
                                                                       invoke_id=ctx.counter)
        apdu = encode(grouping_header(
            cra=CRA_COMMAND, originator_counter=ctx.counter, originator=ctx.originator,
            recipient=ctx.recipient, message_code=uc.code, content=content,
            signature=None if critical else b"", other_info=other_info))
    except (GbcsEncodeError, ValueError) as exc:
        raise DuisError(None, f"cannot encode {uc_id}: {exc}",
                        f"Request/Body/{req.service}") from None
    return Command(uc, ctx.originator, ctx.recipient, ctx.counter, apdu, critical)
