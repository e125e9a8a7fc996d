"""Service request -> GBCS command: the DCC's transform.

Each supported use case is a row of a table: the COSEM objects GBCS reads or writes for
it, and how the DUIS body's fields fill their values. The command is a General Signing
APDU from the DCC User (originator = the User's EUI, originator counter = the RequestID
counter) to the device: a pre-command for the User to sign when the use case is
critical, else complete with a zero signature length; the ACB then MACs it (`mac`).

`supported_srvs()` lists what has a transform; anything else is a DuisError E11.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
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
from tools.headend.access import Device
from tools.headend.duis import E11, E12, DuisError, ServiceRequest, parse_datetime

_EPOCH_2000 = _dt.datetime(2000, 1, 1, tzinfo=_dt.timezone.utc)
# GBCS reads a log between two times with the range descriptor, restricting on the
# GBCS "UTC seconds since 2000" clock object (class 1, attribute 2).
_RANGE_CLOCK = (1, bytes((0, 0, 94, 44, 100, 255)), 2, 0)
# DUIS "cancel a future-dated command": an execution date-time of 3000-12-31.
_CANCEL_YEAR = 3000
# The Data protection object's get_protected_attributes: protection type 2 (the
# response encrypted), key information "agreed key" with scheme C(0e, 2s).
_PROTECTION_TYPE, _KEY_INFO_AGREED, _KEY_SCHEME = 2, 2, b"\x02"


def obis(text: str) -> bytes:
    """6 OBIS octets from ``A-B:C.D.E.F``."""
    a_b, c_f = text.split(":")
    return bytes(int(v) for v in a_b.split("-") + c_f.split("."))


def _reads(*items: tuple) -> tuple[tuple[int, bytes, int], ...]:
    """(class, OBIS, attribute or attributes) rows -> one descriptor per attribute."""
    out = []
    for class_id, text, attrs in items:
        for attr in (attrs if isinstance(attrs, tuple) else (attrs,)):
            out.append((class_id, obis(text), attr))
    return tuple(out)


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
    ('ECS26a', ''): _reads(
        (113, '0-0:19.20.1.255', 5), (11, '0-0:11.0.2.255', 2),
        (113, '0-0:19.20.1.255', (8, 5)), (113, '0-0:19.20.2.255', (5, 8, 5)),
        (113, '0-0:19.20.3.255', 13), (9000, '0-0:94.44.2.10', 2), (21, '0-0:16.0.1.255', 2),
        (9000, '0-0:94.44.2.20', 2), (111, '0-0:19.0.0.255', (16, 18, 19)),
        (112, '0-0:19.10.1.255', (9, 10)), (10, '0-0:12.0.1.255', 2),
        (111, '0-0:19.0.0.255', 11),),
    ('ECS26a', 'twin'): _reads(
        (113, '0-0:19.20.1.255', 5), (11, '0-0:11.0.2.255', 2),
        (113, '0-0:19.20.1.255', (8, 5)), (113, '0-0:19.20.2.255', (5, 8, 5)),
        (113, '0-0:19.20.3.255', 13), (9000, '0-0:94.44.2.10', 2), (21, '0-0:16.0.1.255', 2),
        (9000, '0-0:94.44.2.20', 2), (111, '0-0:19.0.0.255', (16, 18, 19)),
        (112, '0-0:19.10.1.255', (9, 10)), (10, '0-0:12.0.1.255', 2),
        (111, '0-0:19.0.0.255', 11),),
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
}

# Logs read buffer-by-range (get-with-selection) over the request's ReadLogPeriod.
_RANGE_LOGS: dict[str, str] = {
    "ECS20a": "0-0:98.1.4.255", "ECS20d": "0-0:98.1.5.255", "ECS22a": "0-0:99.1.1.255",
    "ECS22c": "0-0:99.1.2.255", "ECS35a": "0-0:99.98.0.255", "ECS35b": "0-0:99.98.1.255",
    "ECS35c": "0-0:99.98.0.255", "ECS35d": "0-0:99.98.1.255", "ECS35f": "0-17:99.98.2.255",
    "ECS35g": "0-17:99.98.2.255",
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

_ESME_EVENT_LOGS = {"Event": "ECS35a", "Security": "ECS35b", "ALCSEvent": "ECS35f"}
_CHF_EVENT_LOGS = {"Event": "ECS35c", "Security": "ECS35d"}


@dataclass(frozen=True, slots=True)
class Context:
    """What a transform needs: the request, the device it targets, and who sends the
    command (the User, or the ACB on the User's behalf) with which counter."""

    request: ServiceRequest
    device: Device
    originator: bytes
    counter: int

    @property
    def recipient(self) -> bytes:
        return self.request.request_id.target

    def field(self, path: str) -> str:
        value = self.request.body.value(path)
        if value is None:
            raise DuisError(None, f"missing {path}", f"Request/Body/{self.request.service}/"
                                                     f"{path}")
        return value


# -- values -------------------------------------------------------------------------------


def cosem_datetime(when: _dt.datetime) -> bytes:
    """A COSEM date-time as GBCS commands carry it: UTC, day of week and clock status
    not specified."""
    when = when.astimezone(_dt.timezone.utc)
    return (when.year.to_bytes(2, "big") + bytes((when.month, when.day, 0xFF, when.hour,
                                                   when.minute, when.second, 0x00))
            + b"\x80\x00\xff")


def activation_time(when: _dt.datetime | None) -> bytes:
    """When a written value takes effect: now (all zero), a future date-time, or the
    cancellation of a pending one (all 0xFF) for DUIS's 3000-12-31."""
    if when is None:
        return bytes(9) + b"\x80\x00\xff"
    if when.year >= _CANCEL_YEAR:
        return b"\xff" * 9 + b"\x80\x00\xff"
    return cosem_datetime(when)


def _seconds_since_2000(when: _dt.datetime) -> int:
    return int((when - _EPOCH_2000).total_seconds())


def _log_period(ctx: Context) -> tuple[_dt.datetime, _dt.datetime]:
    base = f"Request/Body/{ctx.request.service}/ReadLogPeriod"
    start = parse_datetime(ctx.field("ReadLogPeriod/StartDateTime"), base)
    end = parse_datetime(ctx.field("ReadLogPeriod/EndDateTime"), base)
    if end < start:
        raise DuisError(E12, "EndDateTime is before StartDateTime", base)
    return start, end


def _range_selection(ctx: Context) -> tuple[int, Node]:
    """Access selector 1 (range descriptor) over the GBCS seconds-since-2000 clock."""
    start, end = _log_period(ctx)
    class_id, ln, attr, index = _RANGE_CLOCK
    restricting = structure_node("", [data_node("", class_id, "long-unsigned"),
                                      data_node("", ln, "octet-string"),
                                      data_node("", attr, "integer"),
                                      data_node("", index, "long-unsigned")])
    return 1, structure_node("access_parameters", [
        restricting, data_node("", _seconds_since_2000(start), "double-long-unsigned"),
        data_node("", _seconds_since_2000(end), "double-long-unsigned"),
        array_node("", [])])


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


# -- the builders: context -> access-request items ------------------------------------------


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
                start, end = _log_period(ctx)
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
                 _range_selection(ctx))]
    return build


def _actions(uc: str) -> Callable[[Context], list[tuple]]:
    def build(ctx: Context) -> list[tuple]:
        return [("action", c, obis(o), m, data_node("", v, t)) for c, o, m, t, v in _ACTIONS[uc]]
    return build


def _network_data(ctx: Context) -> list[tuple]:
    """ECS23: RMS voltage counters, and the average voltage profile over the period."""
    items: list[tuple] = [("get", 3, obis(f"1-0:32.{c}.0.4"), a, None)
                          for c in (32, 36) for a in (2, 3)]
    profile = obis("1-0:32.24.0.255")
    items.append(("get-with-selection", 7, profile, 2, None, _range_selection(ctx)))
    items.append(("get", 7, profile, 4, None))
    return items


def _top_up(ctx: Context) -> list[tuple]:
    utrn = ctx.field("UTRN")
    return [("action", 115, obis("0-0:19.40.0.255"), 1,
             data_node("", utrn.encode("ascii"), "octet-string"))]


def _adjust_balance(ctx: Context) -> list[tuple]:
    amount = _int(ctx, "PrepaymentMode/AdjustMeterBalance", -(1 << 31), (1 << 31) - 1)
    return [("action", 112, obis("0-0:19.10.0.255"), 1, data_node("", amount, "double-long"))]


def _restrict_access(ctx: Context) -> list[tuple]:
    when = parse_datetime(ctx.field("RestrictionDateTime"), "RestrictionDateTime")
    return [("set", 1, obis("0-0:94.44.3.2"), 2,
             data_node("", cosem_datetime(when), "octet-string"))]


def _disable_pin(ctx: Context) -> list[tuple]:
    return [("set", 1, obis("0-0:94.44.3.1"), 2, data_node("", b"", "octet-string"))]


def _randomised_offset(ctx: Context) -> list[tuple]:
    limit = _int(ctx, "RandomisedOffsetLimit", 0, 0xFFFF)
    return [("set", 1, obis("0-0:94.44.0.1"), 2, data_node("", limit, "long-unsigned"))]


def _export_mpan(ctx: Context) -> list[tuple]:
    mpan = ctx.field("ExportMPAN")
    return [("set", 1, obis("1-0:0.0.2.255"), 2,
             data_node("", mpan.encode("ascii"), "octet-string"))]


def _tamper_state(ctx: Context) -> list[tuple]:
    locked = ctx.field("SupplyTamperState") == "Locked"
    return [("set", 1, obis("0-0:94.44.0.4"), 2, data_node("", 0xFF if locked else 0, "boolean"))]


# ECS02: the charges a credit-mode account deducts from the meter balance (all three
# of accrue, deduct, pay-off), the secondary element's on a twin-element ESME.
_CREDIT_CHARGES = ("0-0:19.20.0.255", "0-0:19.20.4.255")
_TWIN_CHARGES = ("0-0:19.20.5.255",)
_CREDIT_MODE, _ACCOUNT_NEW = 1, 1


def _credit_mode(ctx: Context) -> list[tuple]:
    account = obis("0-1:19.0.0.255")
    charges = _CREDIT_CHARGES + (_TWIN_CHARGES if ctx.device.variant == "twin" else ())
    balance = obis("0-0:19.10.0.255")
    config = array_node("", [structure_node("", [
        data_node("", balance, "octet-string"), data_node("", obis(c), "octet-string"),
        data_node("", "111", "bit-string")]) for c in charges])
    return [("set", 111, account, 2, structure_node("", [
                data_node("", _CREDIT_MODE, "enum"), data_node("", _ACCOUNT_NEW, "enum")])),
            ("set", 111, account, 11, config),
            ("set", 111, account, 13, data_node(
                "", activation_time(ctx.request.execution_datetime), "octet-string"))]


def _int(ctx: Context, path: str, lo: int, hi: int) -> int:
    text = ctx.field(path)
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not lo <= value <= hi:
        raise DuisError(None, f"{path} {text!r} is not an integer in {lo}..{hi}",
                        f"Request/Body/{ctx.request.service}/{path}")
    return value


# -- choosing the use case -------------------------------------------------------------------

_Builder = Callable[[Context], list[tuple]]
_BUILDERS: dict[str, _Builder] = {uc: _gets(uc) for uc, _ in _GETS}
_BUILDERS.update({uc: _protected(uc) for uc in _PROTECTED})
_BUILDERS.update({uc: _range_log(uc) for uc in _RANGE_LOGS})
_BUILDERS.update({uc: _actions(uc) for uc in _ACTIONS})
_BUILDERS.update({
    "ECS23": _network_data, "CS01a": _top_up, "ECS04a": _adjust_balance,
    "ECS12": _restrict_access, "ECS14": _disable_pin, "ECS38": _randomised_offset,
    "ECS39b": _export_mpan, "ECS81": _tamper_state, "ECS02": _credit_mode,
})


def choose_use_case(req: ServiceRequest, device: Device) -> str | None:
    """The use case the DCC sends for this SRV to this device, where the body or the
    device decides between several."""
    body = req.body
    if req.srv == "6.13":
        logs = _CHF_EVENT_LOGS if device.device_type == "CHF" else _ESME_EVENT_LOGS
        return logs.get(body.value("LogToRead") or "")
    if req.srv == "1.5":
        return "ECS04a" if body.find("PrepaymentMode") is not None else "ECS04b"
    if req.srv == "1.6":
        return "ECS02" if body.find("Credit") is not None else None
    if req.srv == "3.3":
        return {"ESME": "ECS15a", "ALCS": "ECS15c"}.get(body.value("ESMEEventLogType") or "")
    if req.srv == "6.27":
        return "ECS29f" if device.variant == "polyphase" else "ECS29e"
    candidates = [uc.use_case for uc in _use_cases_for(req.srv, device.device_type)]
    return candidates[0] if candidates else None


# Where GBCS has an older and a newer use case for one SRV, the newer one.
_PREFERRED = {"6.2.4": ("ECS26m", "ECS26n"), "6.2.1": ("ECS26k",), "6.2.3": ("ECS26l",)}


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


# -- the command -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Command:
    """A transformed request: the General Signing APDU to the device (a pre-command to
    sign when `critical`)."""

    use_case: UseCase
    originator: bytes
    recipient: bytes
    originator_counter: int
    apdu: bytes

    @property
    def critical(self) -> bool:
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


def via_acb(use_case: str, device: Device) -> bool:
    """True when GBCS has the ACB send the command, naming the User as supplementary
    remote party: anything to a comms hub, and the use cases in `_VIA_ACB`."""
    return device.device_type in ("CHF", "GPF") or use_case in _VIA_ACB


def transform(req: ServiceRequest, device: Device, use_case: str | None = None, *,
              acb: bytes | None = None, acb_counter: int | None = None,
              on_behalf: bool = False) -> Command:
    """The GBCS command for `req` to `device` (`use_case` forces one of the SRV's use
    cases, e.g. ECS26e rather than the newer ECS26m); DuisError E11 when there is no
    transform for it. Commands the ACB sends (see `via_acb`) need its EUI and its next
    originator counter for the device; `on_behalf` has the ACB send any command so (the
    DCC's own scheduled requests)."""
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
    other_info = None
    if on_behalf or via_acb(uc.use_case, device):
        if acb is None or acb_counter is None:
            raise ValueError(f"{uc.use_case} is sent by the ACB: give acb and acb_counter")
        ctx = Context(req, device, acb, acb_counter)
        other_info = other_information(uc.code, supplementary_remote_party_id=rid.originator,
                                       supplementary_remote_party_counter=rid.counter)
    else:
        ctx = Context(req, device, rid.originator, rid.counter)
    try:
        content = access_request(builder(ctx), invoke_id=ctx.counter)
        apdu = encode(grouping_header(
            cra=CRA_COMMAND, originator_counter=ctx.counter, originator=ctx.originator,
            recipient=ctx.recipient, message_code=uc.code, content=content,
            signature=None if uc.critical else b"", other_info=other_info))
    except (GbcsEncodeError, ValueError) as exc:
        raise DuisError(None, f"cannot encode {uc_id}: {exc}",
                        f"Request/Body/{req.service}") from None
    return Command(uc, ctx.originator, ctx.recipient, ctx.counter, apdu)
