"""The ESME object catalogue: every COSEM object the GBCS ECS use cases read, write or
invoke, with its class, OBIS code, name, attribute shapes and a new meter's values, per
variant (single element, twin element, polyphase).

Shapes are GBCS facts (the RTDS commands and responses carry them); values are what a
meter leaves the factory with. Live quantities (registers, credit, supply state) are
the metering engine's: `binding.bind` makes those attributes read the engine (and
refuses SETs to them), as do `getters` passed to `build` (a map from (class id, OBIS)
to {attribute: callable(ctx) -> Node}).
"""

from __future__ import annotations

import datetime as _dt
import enum
from collections.abc import Callable
from typing import Any

from firmware.core.device import LOG_CAPACITY, SECURITY_LOG
from firmware.esme.cosem import Context, CosemObject
from firmware.esme.cosem_control import (
    Account, Charge, Credit, DisconnectControl, Register, SpecialDays, TokenGateway,
)
from firmware.esme.cosem_profile import Capture, DataProtection, ProfileGeneric, to_seconds
from firmware.esme.cosem_time import Clock, Passive, RequestTable, ScriptTable, script
from firmware.esme.cosem_types import (
    ANY, BOOL, DT, ENUM, I32, SCALER_UNIT, U16, U32, UTF8, Arr, Shape, bs, os_, s, vs,
)
from gbcs import axdr
from gbcs.node import Node


class Variant(str, enum.Enum):
    """ESME variants, as SMETS2 names them."""

    SINGLE_ELEMENT = "single_element"
    TWIN_ELEMENT = "twin_element"
    POLYPHASE = "polyphase"


ALL = frozenset(Variant)
TWIN = frozenset({Variant.TWIN_ELEMENT})
POLY = frozenset({Variant.POLYPHASE})
Seal = Callable[[Context, bytes], Node]


def obis(text: str) -> bytes:
    """'0-0:94.44.34.10' (F defaults to 255) -> 6 bytes."""
    ab, cdef = text.split(":")
    parts = [int(x) for x in ab.split("-")] + [int(x) for x in cdef.split(".")]
    return bytes(parts + [255] * (6 - len(parts)))


def _scaler_unit(scaler: int, unit: int) -> Node:
    return axdr.structure_node("data", [axdr.data_node("", scaler, axdr.INTEGER),
                                        axdr.data_node("", unit, axdr.ENUM)])


WH, VARH, W, V = 30, 32, 27, 35  # DLMS units
SU = SCALER_UNIT
# A GBCS alarm filter / event behaviour bit-string has 256 bits.
FILTER = bs(256)


class Entry:
    """One catalogue line: how to build the object, and the variants that have it."""

    def __init__(self, make: Callable[[Seal], CosemObject],
                 variants: frozenset[Variant] = ALL) -> None:
        self.make = make
        self.variants = variants


CATALOGUE: list[Entry] = []


def _add(variants: frozenset[Variant], make: Callable[[Seal], CosemObject]) -> None:
    CATALOGUE.append(Entry(make, variants))


def data(code: str, name: str, shape: Shape, *, writable: bool = False,
         value: Node | None = None, variants: frozenset[Variant] = ALL) -> None:
    _add(variants, lambda seal: CosemObject(
        1, obis(code), name, types={2: shape}, values={2: value} if value else None,
        writable=frozenset({2}) if writable else frozenset()))


def register(code: str, name: str, unit: int, *, class_id: int = 3, scaler: int = 0,
             writable: bool = False, variants: frozenset[Variant] = ALL) -> None:
    su = {3: 3, 4: 3, 5: 4}[class_id]
    extra: dict[int, Node] = {su: _scaler_unit(scaler, unit)}
    _add(variants, lambda seal: Register(
        class_id, obis(code), name, values=extra,
        writable=frozenset({8, 9}) if class_id == 5 else (
            frozenset({2}) if writable else frozenset())))


def extended(code: str, name: str, value: Shape, *,
             variants: frozenset[Variant] = ALL, active_writable: bool = False,
             activates: tuple[tuple[int, str, str], ...] = ()) -> None:
    """A GBCS extended data object (class 9000): passive value with activation time;
    `activates` lists (class id, passive OBIS, active OBIS) attribute-2 copies."""
    copies = tuple(((c, obis(p), 2), (c, obis(a), 2)) for c, p, a in activates)
    _add(variants, lambda seal: Passive(
        9000, obis(code), name, types={2: value, 4: value}, copies=copies,
        writable=frozenset({2, 4, 5, 6} if active_writable else {4, 5, 6})))


def profile(code: str, name: str, captures: list[Capture], entries: int, *,
            capture_period: int = 0, variants: frozenset[Variant] = ALL,
            writable: frozenset[int] = frozenset(),
            source: Callable[[Context], list[list]] | None = None) -> None:
    _add(variants, lambda seal: ProfileGeneric(obis(code), name, captures, entries,
                                               capture_period, source, writable=writable))


def security_events(ctx: Context) -> list[list]:
    """The security log entries the command pipeline records (time, event code)."""
    rows = []
    for entry in ctx.store.entries(SECURITY_LOG):
        at = _dt.datetime.fromisoformat(entry.value["at"])
        rows.append([to_seconds(at), entry.value["event_code"]])
    return rows


def _c(code: str, shape: Shape, attribute: int = 2, class_id: int = 3) -> Capture:
    return Capture(class_id, obis(code), attribute, shape)


CLOCK = Capture(8, obis("0-0:1.0.0"), 2, U32)
IMPORT = _c("1-0:1.8.0", U32)
# The TOU registers come from the register collections (element n of the structure);
# the tariff block counters per block period are the engine's to append.
TOU = Capture(1, obis("0-0:94.44.34.1"), 2, Arr(U32, 48), 1)
TOU_2 = Capture(1, obis("0-0:94.44.34.1"), 2, Arr(U32, 4), 2)
IMPORT_2 = Capture(1, obis("0-0:94.44.34.10"), 2, U32, 5)
BLOCKS = [_c(f"0-0:94.44.34.{n}", Arr(U32, 8), class_id=1) for n in range(4, 8)]
PREPAY = [_c(f"0-0:19.10.{n}", I32, class_id=112) for n in range(0, 3)] + \
         [_c(f"0-0:19.20.{n}", I32, class_id=113) for n in range(1, 4)]


# -- identification, clock, scripts ---------------------------------------------------

data("0-0:0.2.1", "Firmware version", os_(4))
data("0-0:96.1.0", "Device ID 1 (MPxN)", os_(8))
data("0-0:96.1.1", "Device ID 2 (Device ID)", os_(8))
data("0-0:96.1.2", "Meter variant", os_(1))
data("0-0:96.1.4", "Model type", os_(8))
data("0-0:96.1.6", "Manufacturer identifier", os_(4))
data("0-0:94.44.0.0", "Randomised offset", U16)
data("0-0:94.44.0.1", "Randomised offset limit", U16, writable=True)
data("0-0:94.44.0.2", "Randomised offset number", U16)
data("0-0:94.44.0.4", "Supply tamper state", BOOL, writable=True)
data("1-0:0.0.0", "Import MPAN", os_(13), writable=True)
data("1-0:0.0.2", "Export MPAN", os_(13), writable=True)
data("0-0:94.44.34.11", "MPAN collection", os_(13))
# Text for the display and the supplier's contact details: GBCS leaves the string type
# to the message, so the value is any data.
data("0-0:96.13.0", "Supplier contact telephone number", ANY, writable=True)
data("0-0:96.13.1", "Supplier contact name", ANY, writable=True)
data("0-2:96.13.1", "Supplier message (display)", ANY, writable=True)
data("0-0:94.44.3.0", "Customer identification number (CIN)", ANY, writable=True)
data("0-0:94.44.3.1", "Disable privacy PIN protection", os_(), writable=True)
data("0-0:94.44.3.2", "Restrict data date-time (change of tenancy)", DT, writable=True)
for _n in range(1, 6):
    data(f"0-0:94.44.0.{10 + _n}", f"Auxiliary load control switch {_n} description",
         vs(), writable=True)
    data(f"0-0:94.44.0.{20 + _n}", f"Auxiliary load control switch {_n} type and "
         "identifier", os_(8), writable=True)
    data(f"0-0:94.44.0.{30 + _n}", f"Auxiliary controller {_n} configuration data", UTF8)
    data(f"0-0:94.44.6.{_n}", f"Boost button association with switch {_n}", BOOL,
         writable=True)
data("0-0:94.44.7.255", "Boost button state", BOOL)
for _n in range(0, 3):
    data(f"0-0:94.44.5.{_n}", f"Maximum demand reset date-time {_n}", DT)
for _group in (117, 119, 121):
    for _n in range(1, 5):
        # ALCS / APC state changes: a date-time or a duration in seconds (GBCS sends
        # either, so the value is any data).
        data(f"0-0:94.44.{_group}.{_n}", f"Auxiliary load control {_group}.{_n}", ANY,
             writable=True)

_add(ALL, lambda seal: Clock(8, obis("0-0:1.0.0"), "Clock", values={
    4: axdr.data_node("data", 0, axdr.UNSIGNED), 9: axdr.data_node("data", 1, axdr.ENUM)},
    writable=frozenset({2, 3, 5, 6, 7, 8, 9})))

_DISCONNECTOR = obis("0-0:96.3.10")


def _scripts(*entries: Node) -> dict[int, Node]:
    return {2: axdr.array_node("data", list(entries))}


def _int8() -> Node:
    return axdr.data_node("", 0, axdr.INTEGER)


def _enum(value: int) -> Node:
    return axdr.data_node("", value, axdr.ENUM)


_add(ALL, lambda seal: ScriptTable(9, obis("0-0:10.0.106"), "Disconnector script table",
                                   values=_scripts(
    # GBCS supply state scripts, as ECS42 / ECS43 / ECS44 execute them in the RTDS:
    # 51 enable (connect), 52 disable (disconnect), 54 arm (ready for reconnection,
    # closed locally with the button).
    script(51, (1, 70, _DISCONNECTOR, 4, _enum(1)), (2, 70, _DISCONNECTOR, 2, _int8())),
    script(52, (2, 70, _DISCONNECTOR, 1, _int8())),
    script(54, (1, 70, _DISCONNECTOR, 4, _enum(4)), (2, 70, _DISCONNECTOR, 2, _int8())))))
_add(ALL, lambda seal: ScriptTable(9, obis("0-0:10.0.100"), "Tariffication script table",
                                   values=_scripts(
    script(99, (2, 3, obis("0-0:94.44.1.7"), 1, _int8())))))  # reset block counters
_add(ALL, lambda seal: RequestTable(9, obis("0-0:10.0.103"), "Set output signals script "
                                    "table"))
_add(ALL, lambda seal: RequestTable(9, obis("0-0:10.0.107"), "Image activation script "
                                    "table"))

# -- supply, load limiting, voltage quality ---------------------------------------------

_add(ALL, lambda seal: DisconnectControl(70, obis("0-0:96.3.10"), "Supply disconnect "
                                         "control", values={
    2: axdr.data_node("data", True, axdr.BOOLEAN), 3: axdr.data_node("data", 1, axdr.ENUM),
    4: axdr.data_node("data", 4, axdr.ENUM)}))
for _n in range(1, 6):
    _add(ALL, lambda seal, n=_n: DisconnectControl(70, obis(f"0-{n}:96.3.10"),
                                                   f"Auxiliary load control switch {n}"))
_add(ALL, lambda seal: CosemObject(71, obis("0-0:17.0.0"), "Limiter (load limit)"))
for _n, _name in ((1, "RMS extreme over voltage"), (2, "RMS extreme under voltage"),
                  (3, "RMS voltage sag"), (4, "RMS voltage swell")):
    _add(ALL, lambda seal, n=_n, name=_name: CosemObject(71, obis(f"0-0:17.0.{n}"),
                                                         f"{name} limiter"))
_add(ALL, lambda seal: CosemObject(21, obis("0-0:16.0.0"), "Instantaneous power "
                                   "thresholds", writable=frozenset({2})))
_add(ALL, lambda seal: CosemObject(21, obis("0-0:16.0.1"), "Register monitor (credit)",
                                   types={2: Arr(I32)}))
for _phase, _c_ in ((1, 32), (2, 52), (3, 72)):
    _v = ALL if _phase == 1 else POLY
    data(f"1-0:{_c_}.31.0.4", f"Average RMS under voltage threshold (phase {_phase})", U32,
         writable=True, variants=_v)
    data(f"1-0:{_c_}.35.0.4", f"Average RMS over voltage threshold (phase {_phase})", U32,
         writable=True, variants=_v)
    register(f"1-0:{_c_}.32.0.4", f"Voltage L{_phase} under limit occurrence counter", 255,
             variants=_v)
    register(f"1-0:{_c_}.36.0.4", f"Voltage L{_phase} over limit occurrence counter", 255,
             variants=_v)
    profile(f"1-0:{_c_}.24.0", f"Average RMS voltage L{_phase}",
            [CLOCK, _c(f"1-0:{_c_}.24.0", U32, 2, 5)], 1440, capture_period=1800,
            variants=_v, writable=frozenset({4}))
    register(f"1-0:{_c_}.24.0", f"Voltage L{_phase} average (demand)", V, class_id=5,
             variants=_v)

# -- registers ---------------------------------------------------------------------------

register("1-0:1.8.0", "Active energy import (A+) total", WH)
register("1-0:2.8.0", "Active energy export (A-) total", WH)
register("1-0:3.8.0", "Reactive energy import (R+) total", VARH)
register("1-0:4.8.0", "Reactive energy export (R-) total", VARH)
register("0-0:94.44.1.7", "Tariff block counter (primary element)", WH)
register("0-0:94.44.1.8", "Tariff block counter (secondary element)", WH, variants=TWIN)
register("0-0:94.44.42.255", "Load limit counter", 255)
for _code, _name in (("1-0:1.6.0", "Active power import (+P) maximum demand total"),
                     ("1-0:1.6.1", "Active power import (+P) maximum demand rate 1"),
                     ("1-0:2.6.0", "Active power export (-P) maximum demand total")):
    register(_code, _name, W, class_id=4)
_single = s(U32, SU, U32, SU)
data("0-0:94.44.34.10", "Import register collection", _single,
     variants=ALL - TWIN)
data("0-0:94.44.34.10", "Import register collection", s(U32, SU, U32, SU, U32),
     variants=TWIN)
data("0-0:94.44.34.1", "Tariff TOU register collection", s(Arr(U32, 48)),
     variants=ALL - TWIN)
data("0-0:94.44.34.1", "Tariff TOU register collection", s(Arr(U32, 48), Arr(U32, 4)),
     variants=TWIN)
data("0-0:94.44.34.2", "Tariff block TOU register collection", s(Arr(U32, 64)))
data("0-0:94.44.34.20", "Power import collection", s(U32, SU, U32))
data("0-0:94.44.34.30", "Pre-payment register collection", s(I32, I32, I32, I32, I32, I32))

# -- tariffs and calendars --------------------------------------------------------------

_add(ALL, lambda seal: Passive(20, obis("0-0:13.0.0"), "Tariff switching table"))
_add(TWIN, lambda seal: Passive(20, obis("0-0:13.0.1"), "Tariff switching table "
                                "(secondary element)"))
for _n, _name, _v in ((0, "Tariff switching table special days", ALL),
                      (1, "Tariff switching table special days (secondary element)", TWIN),
                      (2, "Non-disablement calendar special days", ALL),
                      (3, "Auxiliary load control calendar special days", ALL)):
    for _b in (0, 1):  # 0-0: active, 0-1: passive (activated through class 9000)
        _add(_v, lambda seal, n=_n, b=_b, name=_name: SpecialDays(
            11, obis(f"0-{b}:11.0.{n}"), name + (" (passive)" if b else ""),
            writable=frozenset({2} if b else set())))
for _n, _name in ((0, "Schedule"), (1, "Non-disablement calendar"),
                  (2, "Auxiliary load control calendar")):
    for _b in (0, 1):
        if _n == 0 and _b:
            continue
        _add(ALL, lambda seal, n=_n, b=_b, name=_name: CosemObject(
            10, obis(f"0-{b}:12.0.{n}"), name + (" (passive)" if b else ""),
            writable=frozenset({2} if (b or n == 0) else set())))
for _n in range(1, 9):
    _add(ALL, lambda seal, n=_n: CosemObject(21, obis(f"0-0:16.0.{10 + n}"),
                                             f"Tariff threshold matrix blocks TOU{n}"))
    _add(ALL, lambda seal, n=_n: CosemObject(21, obis(f"0-0:16.1.{10 + n}"),
                                             f"Tariff threshold matrix blocks TOU{n} "
                                             "(passive)", writable=frozenset({2})))
_add(ALL, lambda seal: CosemObject(22, obis("0-0:15.0.0"), "Billing calendar"))
_add(ALL, lambda seal: CosemObject(22, obis("0-0:15.1.0"), "Tariff block counter matrix "
                                   "daily reset"))
_add(ALL, lambda seal: CosemObject(22, obis("0-0:15.2.0"), "Billing calendar (all "
                                   "periodicities)"))

# -- prepayment -------------------------------------------------------------------------

_add(ALL, lambda seal: Account(111, obis("0-0:19.0.0"), "Account", values={
    2: axdr.structure_node("data", [axdr.data_node("", 1, axdr.ENUM),
                                    axdr.data_node("", 2, axdr.ENUM)])},
    writable=frozenset()))
_add(ALL, lambda seal: Account(111, obis("0-1:19.0.0"), "Account (payment mode, passive)",
                               writable=frozenset({2, 11, 13}), copies=tuple(
    ((111, obis("0-1:19.0.0"), n), (111, obis("0-0:19.0.0"), n)) for n in (2, 11))))
for _n, _name in ((0, "Meter balance"), (1, "Emergency credit balance"),
                  (2, "Accumulated debt register")):
    _add(ALL, lambda seal, n=_n, name=_name: Credit(112, obis(f"0-0:19.10.{n}"), name))
for _n, _name, _v in ((0, "Tariff block price matrix TOU", ALL),
                      (1, "Debt recovery rates 1", ALL), (2, "Debt recovery rates 2", ALL),
                      (3, "Debt recovery per payment", ALL), (4, "Standing charge", ALL),
                      (5, "Secondary tariff TOU price matrix", TWIN)):
    _add(_v, lambda seal, n=_n, name=_name: Charge(113, obis(f"0-0:19.20.{n}"), name))
_add(ALL, lambda seal: TokenGateway(115, obis("0-0:19.40.0"), "Prepayment credit (token "
                                   "gateway)"))
for _code, _name, _shape, _active in (
        ("0-0:94.44.0.3", "Load limit supply state", BOOL, False),
        ("0-0:94.44.2.0", "Currency unit", BOOL, False),
        ("0-0:94.44.2.10", "Prepayment credit max credit threshold", I32, False),
        ("0-0:94.44.2.20", "Prepayment credit max meter balance", I32, True),
        ("0-0:94.44.128.2", "Emergency credit limit", I32, False),
        ("0-0:94.44.128.3", "Emergency credit threshold", I32, False),
        ("0-0:94.44.128.6", "Load limit period", U32, False),
        ("0-0:94.44.128.7", "Load limit power threshold", U32, False),
        ("0-0:94.44.128.8", "Load limit restoration period", U32, False),
        ("0-0:94.44.128.9", "Low credit threshold", I32, False),
        ("0-0:94.44.128.12", "Debt recovery rate cap amount", U16, False),
        ("0-0:94.44.128.13", "Debt recovery rate cap period", I32, False),
        ("0-0:94.44.128.22", "Disablement threshold meter balance", I32, False)):
    extended(_code, _name, _shape, active_writable=_active)
# Activation of passive calendars and special days (value unused: the time matters).
for _code, _name, _class, _passive, _active, _v in (
        ("0-0:94.44.128.26", "Auxiliary load control calendar", 10, "0-1:12.0.2",
         "0-0:12.0.2", ALL),
        ("0-0:94.44.128.28", "Non-disablement calendar", 10, "0-1:12.0.1", "0-0:12.0.1",
         ALL),
        ("0-0:94.44.128.29", "Tariff switching table special days", 11, "0-1:11.0.0",
         "0-0:11.0.0", ALL),
        ("0-0:94.44.128.30", "Tariff switching table special days (secondary element)",
         11, "0-1:11.0.1", "0-0:11.0.1", TWIN),
        ("0-0:94.44.128.31", "Non-disablement calendar special days", 11, "0-1:11.0.2",
         "0-0:11.0.2", ALL),
        ("0-0:94.44.128.35", "Auxiliary load control calendar special days", 11,
         "0-1:11.0.3", "0-0:11.0.3", ALL)):
    extended(_code, f"{_name} activation", ANY, variants=_v,
             activates=((_class, _passive, _active),))
extended("0-0:63.1.1", "Tariff threshold matrix activation", ANY, activates=tuple(
    (21, f"0-0:16.1.{10 + n}", f"0-0:16.0.{10 + n}") for n in range(1, 9)))

# -- alarms and event behaviours --------------------------------------------------------

for _b in (30, 33):     # 0-30: supplier, 0-33: network operator event behaviours
    for _n in range(1, 19):
        data(f"0-{_b}:97.98.{9 + _n}", f"Alarm filter {_n}", FILTER, writable=True)

# -- profiles and logs --------------------------------------------------------------

_TOU_TWIN = [TOU, TOU_2]
_billing_single = [CLOCK, IMPORT, TOU] + BLOCKS
_billing_twin = [CLOCK, IMPORT, IMPORT_2] + _TOU_TWIN + BLOCKS
for _code, _name in (("0-0:98.1.0", "Billing data log (billing calendar)"),
                     ("0-0:98.1.9", "Daily read log")):
    profile(_code, _name, _billing_single, 731 if _code.endswith("9") else 13,
            variants=ALL - TWIN)
    profile(_code, _name, _billing_twin, 731 if _code.endswith("9") else 13,
            variants=TWIN)
profile("0-0:98.1.1", "Billing data log (prepayment, billing calendar)",
        [CLOCK] + PREPAY, 13)
profile("0-0:98.1.2", "Billing data log (change of mode / tariff)",
        _billing_single + PREPAY, 5, variants=ALL - TWIN)
profile("0-0:98.1.2", "Billing data log (change of mode / tariff)",
        _billing_twin + PREPAY, 5, variants=TWIN)
profile("0-0:98.1.4", "Billing data log (payment-based debt payments)",
        [CLOCK, _c("0-0:19.20.3", U32, 2, 113)], 120)
profile("0-0:98.1.5", "Billing data log (pre-payment credits)",
        [CLOCK, _c("0-0:19.10.0", U32, 2, 112)], 100)
profile("0-0:98.1.8", "Daily read log (pre-payment)", [CLOCK] + PREPAY, 731)
profile("0-0:98.1.10", "Daily read log (export)", [CLOCK, _c("1-0:2.8.0", U32)], 731)
profile("0-0:99.1.0", "Half hour profile data (active import)", [CLOCK, IMPORT], 18960,
        capture_period=1800, variants=ALL - TWIN)
profile("0-0:99.1.0", "Half hour profile data (active import)",
        [CLOCK, IMPORT, IMPORT_2], 18960, capture_period=1800, variants=TWIN)
profile("0-0:99.1.1", "Half hour profile data (export)",
        [CLOCK, _c("1-0:2.8.0", U32), _c("1-0:4.8.0", U32)], 4416, capture_period=1800)
profile("0-0:99.1.2", "Half hour profile data (reactive import)",
        [CLOCK, _c("1-0:3.8.0", U32)], 4416, capture_period=1800)
profile("0-0:99.1.3", "Daily consumption log", [CLOCK, IMPORT], 731)
_EVENT = [CLOCK, _c("0-0:96.11.0", U16, 2, 1)]
profile("0-0:99.98.0", "Event log", _EVENT + [_c("0-0:96.11.1", os_(), 2, 1)], 100)
profile("0-0:99.98.1", "Security log", _EVENT, LOG_CAPACITY, source=security_events)
profile("0-0:99.98.4", "Power event log", _EVENT, 100)
profile("0-0:99.98.20", "Event log 20 (auxiliary controller)",
        [CLOCK, _c("0-0:96.11.20", U32, 2, 1)], 100)
profile("0-17:99.98.2", "Auxiliary load control switch event log",
        _EVENT + [_c("0-0:96.11.2", ENUM, 2, 1), _c("0-0:96.11.3", U32, 2, 1)], 100)

# -- data protection ----------------------------------------------------------------

for _n, _name in ((1, "pre-payment registers"), (2, "billing data log"),
                  (3, "billing data log (change of mode / tariff)"),
                  (4, "daily consumption log"), (5, "daily read log"),
                  (6, "daily read log (pre-payment)"), (7, "half hour profile data"),
                  (8, "import register collection"), (9, "tariff TOU register collection"),
                  (10, "tariff block TOU register collection"),
                  (11, "daily read log (export)")):
    _add(ALL, lambda seal, n=_n, name=_name: DataProtection(
        obis(f"0-0:43.2.{n}"), f"Data protection: {name}", seal))


def build(variant: Variant, seal: Seal,
          getters: dict[tuple[int, bytes], dict[int, Any]] | None = None
          ) -> dict[tuple[int, bytes], CosemObject]:
    """The objects of a new meter of `variant`, keyed by (class id, OBIS); `seal`
    encrypts data protection results; `getters` bind attributes to the engine."""
    objects: dict[tuple[int, bytes], CosemObject] = {}
    for entry in CATALOGUE:
        if variant not in entry.variants:
            continue
        obj = entry.make(seal)
        objects[(obj.class_id, obj.obis)] = obj
    for key, bound in (getters or {}).items():
        objects[key].getters.update(bound)
    return objects
