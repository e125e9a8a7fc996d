"""COSEM interface classes (Blue Book, IEC 62056-6-2) as the GBCS ESME uses them.

An `InterfaceClass` declares attributes (id, name, shape, writable) and methods (id,
name, parameter shape); a `CosemObject` is one instance (class, OBIS) whose attribute
shapes may be narrowed per object (a Data object's value is whatever GBCS says it is).
Attribute values are stored in the device's NonVolatileStore as raw A-XDR bytes (one
key per attribute, written only when set: a new meter reads its declared default), or
come from a getter callable `value(ctx) -> Node` when the metering engine owns them.
Two more hooks let the engine act on the objects (see `binding`): a sink
`fn(ctx, value)` is told every value saved to an attribute (a SET, or an activation
copying a passive value over an active one), and a handler `fn(ctx, params)` carries out
a method instead of the class's own behaviour.

Behaviour lives in small subclasses per interface class: `cosem_profile` (profile
buffers with selective access, data protection), `cosem_time` (clock, activation of
passive values in virtual time, scripts), `cosem_control` (registers, switches,
prepayment). Every failure is an `AccessError` carrying the DLMS result code.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from firmware.core.credentials import DeviceCredentials, TrustAnchor, TrustAnchors
from firmware.core.hal import NonVolatileStore
from firmware.esme.cosem_types import (
    ANY, BOOL, DT, ENUM, I8, I16, I32, OBIS, SCALER_UNIT, U8, U16, U32, Arr, Shape,
    ShapeError, bs, check, default, os_, s, vs,
)
from gbcs import axdr
from gbcs.axdr import decode_axdr
from gbcs.errors import GbcsDecodeError
from gbcs.node import Node, encode
from gbcs.reader import Reader

# Data-Access-Result / Action-Result codes (the codec's tables name them).
SUCCESS, HARDWARE_FAULT, TEMPORARY_FAILURE, READ_WRITE_DENIED = 0, 1, 2, 3
OBJECT_UNDEFINED, OBJECT_UNAVAILABLE, TYPE_UNMATCHED = 4, 11, 12
SCOPE_OF_ACCESS_VIOLATED, OTHER_REASON = 13, 250


class AccessError(Exception):
    """A failed COSEM access: the DLMS result code and what failed."""

    def __init__(self, result_code: int, detail: str) -> None:
        super().__init__(detail)
        self.result_code = result_code
        self.detail = detail


class FaultKey(NamedTuple):
    """An attribute (or method) the board marks broken: accessing it is a hardware-fault."""

    class_id: int
    obis: bytes
    ident: int
    method: bool = False


@dataclass(frozen=True)
class Invocation:
    """The command being executed: who sent it, its counter and message code."""

    originator: TrustAnchor
    originator_counter: int
    message_code: int


class Context(Protocol):
    """What objects need from the device running them."""

    store: NonVolatileStore
    credentials: DeviceCredentials
    anchors: TrustAnchors
    invocation: Invocation | None

    def now(self) -> _dt.datetime: ...

    def at(self, when: _dt.datetime, callback: Callable[[], None], name: str) -> None:
        """Run `callback` at device time `when` (now if already past)."""

    def raise_alert(self, message_code: int, payload: Node, recipient: TrustAnchor) -> None: ...

    def lookup(self, class_id: int, obis: bytes) -> CosemObject:
        """The object, or AccessError(object-undefined)."""

    def check_fault(self, key: FaultKey) -> None:
        """AccessError(hardware-fault) when the board marks `key` broken."""

    def adjust_clock(self, when: _dt.datetime) -> None:
        """Set the device clock to `when` (the board clock is never touched)."""

    def board_now(self) -> _dt.datetime:
        """The board clock's time (the clock base the device clock follows)."""


# -- interface classes --------------------------------------------------------------


@dataclass(frozen=True)
class Attribute:
    ident: int
    name: str
    shape: Shape
    writable: bool = False


@dataclass(frozen=True)
class Method:
    ident: int
    name: str
    params: Shape = ANY


@dataclass(frozen=True)
class InterfaceClass:
    class_id: int
    name: str
    attributes: tuple[Attribute, ...]
    methods: tuple[Method, ...] = ()

    def attribute(self, ident: int) -> Attribute | None:
        return next((a for a in self.attributes if a.ident == ident), None)

    def method(self, ident: int) -> Method | None:
        return next((m for m in self.methods if m.ident == ident), None)


def _a(ident: int, name: str, shape: Shape, writable: bool = False) -> Attribute:
    return Attribute(ident, name, shape, writable)


_LN = _a(1, "logical_name", OBIS)
_RESET = Method(1, "reset", I8)
DAY_PROFILE = s(U8, Arr(s(os_(4), OBIS, U16)))           # day id, {start, script, selector}
SPECIAL_DAY = s(U16, os_(5), U8)                        # index, date, day id
SCHEDULE_ENTRY = s(U16, BOOL, OBIS, U16, os_(4), U16, bs(7), bs(0), os_(5), os_(5))
UNIT_CHARGE = s(s(I8, I8), s(U16, OBIS, I8), Arr(s(os_(0), I16)))
PROTECTION = s(ENUM, s(os_(9), os_(8), os_(8), os_(0), s(ENUM, s(os_(1), os_(0)))))

CLASSES: dict[int, InterfaceClass] = {c.class_id: c for c in (
    InterfaceClass(1, "Data", (_LN, _a(2, "value", ANY, True))),
    InterfaceClass(3, "Register", (_LN, _a(2, "value", U32, True), _a(3, "scaler_unit",
                                   SCALER_UNIT)), (_RESET,)),
    InterfaceClass(4, "Extended register", (
        _LN, _a(2, "value", U32, True), _a(3, "scaler_unit", SCALER_UNIT),
        _a(4, "status", ANY), _a(5, "capture_time", DT)), (_RESET,)),
    InterfaceClass(5, "Demand register", (
        _LN, _a(2, "current_average_value", U32), _a(3, "last_average_value", U32),
        _a(4, "scaler_unit", SCALER_UNIT), _a(5, "status", ANY), _a(6, "capture_time", DT),
        _a(7, "start_time_current", DT), _a(8, "period", U32, True),
        _a(9, "number_of_periods", U16, True)), (_RESET, Method(2, "next_period", I8))),
    InterfaceClass(7, "Profile generic", (
        _LN, _a(2, "buffer", ANY), _a(3, "capture_objects", Arr(s(U16, OBIS, I8, U16))),
        _a(4, "capture_period", U32, True), _a(5, "sort_method", ENUM),
        _a(6, "sort_object", s(U16, OBIS, I8, U16)), _a(7, "entries_in_use", U32),
        _a(8, "profile_entries", U32)), (_RESET, Method(2, "capture", I8))),
    InterfaceClass(8, "Clock", (
        _LN, _a(2, "time", DT, True), _a(3, "time_zone", I16, True), _a(4, "status", U8),
        _a(5, "daylight_savings_begin", DT, True), _a(6, "daylight_savings_end", DT, True),
        _a(7, "daylight_savings_deviation", I8, True),
        _a(8, "daylight_savings_enabled", BOOL, True), _a(9, "clock_base", ENUM, True)),
        (Method(4, "adjust_to_preset_time", I8),
         Method(5, "preset_adjusting_time", s(DT, DT, DT)), Method(6, "shift_time", I16))),
    InterfaceClass(9, "Script table", (
        _LN, _a(2, "scripts", Arr(s(U16, Arr(s(ENUM, U16, OBIS, I8, ANY)))))),
        (Method(1, "execute", U16),)),
    InterfaceClass(10, "Schedule", (_LN, _a(2, "entries", Arr(SCHEDULE_ENTRY), True))),
    InterfaceClass(11, "Special days table", (_LN, _a(2, "entries", Arr(SPECIAL_DAY), True)),
                   (Method(1, "insert", SPECIAL_DAY), Method(2, "delete", U16))),
    InterfaceClass(20, "Activity calendar", (
        _LN, _a(2, "calendar_name_active", os_()),
        _a(3, "season_profile_active", Arr(s(os_(), DT, os_()))),
        _a(4, "week_profile_table_active", Arr(s(os_(), U8, U8, U8, U8, U8, U8, U8))),
        _a(5, "day_profile_table_active", Arr(DAY_PROFILE)),
        _a(6, "calendar_name_passive", os_(), True),
        _a(7, "season_profile_passive", Arr(s(os_(), DT, os_())), True),
        _a(8, "week_profile_table_passive", Arr(s(os_(), U8, U8, U8, U8, U8, U8, U8)), True),
        _a(9, "day_profile_table_passive", Arr(DAY_PROFILE), True),
        _a(10, "activate_passive_calendar_time", DT, True)),
        (Method(1, "activate_passive_calendar", I8),)),
    InterfaceClass(21, "Register monitor", (
        _LN, _a(2, "thresholds", Arr(U32), True), _a(3, "monitored_value", s(U16, OBIS, I8)),
        _a(4, "actions", Arr(s(s(OBIS, U16), s(OBIS, U16)))))),
    InterfaceClass(22, "Single action schedule", (
        _LN, _a(2, "executed_script", s(OBIS, U16)), _a(3, "type", ENUM),
        _a(4, "execution_time", Arr(s(os_(4), os_(5))), True))),
    InterfaceClass(30, "Data protection", (
        _LN, _a(2, "protection_buffer", ANY),
        _a(3, "protection_object_list", Arr(s(U16, OBIS, I8, U16))),
        _a(4, "protection_parameters_get", Arr(PROTECTION)),
        _a(5, "protection_parameters_set", Arr(PROTECTION)),
        _a(6, "required_protection", ENUM)),
        (Method(1, "get_protected_attributes",
                s(Arr(s(U16, OBIS, I8, U16, ANY)), Arr(PROTECTION))),)),
    InterfaceClass(70, "Disconnect control", (
        _LN, _a(2, "output_state", BOOL), _a(3, "control_state", ENUM),
        _a(4, "control_mode", ENUM, True)),
        (Method(1, "remote_disconnect", I8), Method(2, "remote_reconnect", I8))),
    InterfaceClass(71, "Limiter", (
        _LN, _a(2, "monitored_value", s(U16, OBIS, I8)), _a(3, "threshold_active", U32),
        _a(4, "threshold_normal", U32, True), _a(5, "threshold_emergency", U32, True),
        _a(6, "min_over_threshold_duration", U32, True),
        _a(7, "min_under_threshold_duration", U32, True),
        _a(8, "emergency_profile", s(U16, DT, U32)),
        _a(9, "emergency_profile_group_id_list", Arr(U16)),
        _a(10, "emergency_profile_active", BOOL),
        _a(11, "actions", s(s(OBIS, U16), s(OBIS, U16))))),
    InterfaceClass(104, "ZigBee network control", (
        _LN, _a(2, "enable_disable_joining", BOOL, True), _a(3, "join_timeout", U16, True),
        _a(4, "active_devices", Arr(ANY))),
        (Method(1, "register_device", os_(8)), Method(2, "unregister_device", os_(8)))),
    InterfaceClass(111, "Account", (
        _LN, _a(2, "account_mode_and_status", s(ENUM, ENUM), True),
        _a(3, "current_credit_in_use", U8), _a(4, "current_credit_status", bs(8)),
        _a(5, "available_credit", I32), _a(6, "amount_to_clear", I32),
        _a(7, "clearance_threshold", I32, True), _a(8, "aggregated_debt", I32),
        _a(9, "credit_reference_list", Arr(OBIS)), _a(10, "charge_reference_list", Arr(OBIS)),
        _a(11, "credit_charge_configuration", Arr(s(OBIS, OBIS, bs(3))), True),
        _a(12, "token_gateway_configuration", Arr(s(OBIS, U8)), True),
        _a(13, "account_activation_time", DT, True), _a(14, "account_closure_time", DT),
        _a(15, "currency", s(vs(), I8, ENUM), True),
        _a(16, "low_credit_threshold", I32, True),
        _a(17, "next_credit_available_threshold", I32, True),
        _a(18, "max_provision", U16, True), _a(19, "max_provision_period", I32, True)),
        (Method(1, "activate_account", I8), Method(2, "close_account", I8),
         Method(3, "reset_account", I8))),
    InterfaceClass(112, "Credit", (
        _LN, _a(2, "current_credit_amount", I32), _a(3, "credit_type", ENUM),
        _a(4, "priority", U8), _a(5, "warning_threshold", I32, True),
        _a(6, "limit", I32, True), _a(7, "credit_configuration", bs(5), True),
        _a(8, "credit_status", ENUM), _a(9, "preset_credit_amount", I32, True),
        _a(10, "credit_available_threshold", I32, True), _a(11, "period", DT)),
        (Method(1, "update_amount", I32), Method(2, "set_amount_to_value", I32),
         Method(3, "invoke_credit", I8))),
    InterfaceClass(113, "Charge", (
        _LN, _a(2, "total_amount_paid", I32), _a(3, "charge_type", ENUM),
        _a(4, "priority", U8), _a(5, "unit_charge_active", UNIT_CHARGE),
        _a(6, "unit_charge_passive", UNIT_CHARGE, True),
        _a(7, "unit_charge_activation_time", DT, True), _a(8, "period", U32, True),
        _a(9, "charge_configuration", bs(2), True), _a(10, "last_collection_time", DT),
        _a(11, "last_collection_amount", I32), _a(12, "total_amount_remaining", I32),
        _a(13, "proportion", U16, True)),
        (Method(1, "update_unit_charge", UNIT_CHARGE),
         Method(2, "activate_passive_unit_charge", I8), Method(3, "collect", I8),
         Method(4, "update_total_amount_remaining", I32),
         Method(5, "set_total_amount_remaining", I32))),
    InterfaceClass(115, "Token gateway", (
        _LN, _a(2, "token", os_()), _a(3, "token_time", DT),
        _a(4, "token_description", Arr(vs())), _a(5, "token_delivery_method", ENUM),
        _a(6, "token_status", s(ENUM, bs(8)))), (Method(1, "enter", os_()),)),
    InterfaceClass(9000, "GBCS extended data", (
        _LN, _a(2, "value_active", ANY), _a(3, "scaler_unit_active", SCALER_UNIT),
        _a(4, "value_passive", ANY, True), _a(5, "scaler_unit_passive", SCALER_UNIT, True),
        _a(6, "activate_passive_value_time", DT, True))),
)}

Getter = Callable[[Context], Node]
Sink = Callable[[Context, Node], None]
Handler = Callable[[Context, Node], "Node | None"]


# -- objects ------------------------------------------------------------------------


class CosemObject:
    """One COSEM object: its class, logical name, per-object attribute shapes, initial
    values and getters. Values written by SET persist in the store as A-XDR bytes."""

    def __init__(self, class_id: int, obis: bytes, name: str, *,
                 types: dict[int, Shape] | None = None,
                 values: dict[int, Node] | None = None,
                 getters: dict[int, Getter] | None = None,
                 writable: frozenset[int] | None = None) -> None:
        self.iclass = CLASSES[class_id]
        self.obis = bytes(obis)
        self.name = name
        self.types = dict(types or {})
        self.values = dict(values or {})
        self.getters = dict(getters or {})
        self.sinks: dict[int, Sink] = {}
        self.handlers: dict[int, Handler] = {}
        self.writable = writable

    @property
    def class_id(self) -> int:
        return self.iclass.class_id

    def __repr__(self) -> str:
        return f"{self.iclass.name} {self.obis.hex().upper()} {self.name}"

    # declarations

    def shape(self, ident: int) -> Shape:
        attribute = self._attribute(ident)
        return self.types.get(ident, attribute.shape)

    def _attribute(self, ident: int) -> Attribute:
        attribute = self.iclass.attribute(ident)
        if attribute is None:
            raise AccessError(OBJECT_UNAVAILABLE, f"{self}: {self.iclass.name} has no "
                                                  f"attribute {ident}")
        return attribute

    def is_writable(self, ident: int) -> bool:
        if self.writable is not None:
            return ident in self.writable
        return self._attribute(ident).writable

    def _key(self, ident: int) -> str:
        return f"cosem/{self.class_id}/{self.obis.hex()}/{ident}"

    # storage

    def load(self, ctx: Context, ident: int) -> Node:
        """The attribute's value: getter, stored bytes, initial value or default."""
        if ident == 1:
            return axdr.data_node("data", self.obis, axdr.OCTET_STRING)
        getter = self.getters.get(ident)
        if getter is not None:
            return getter(ctx)
        value = self.stored(ctx, ident)
        return value if value is not None else default(self.shape(ident))

    def save(self, ctx: Context, ident: int, value: Node) -> None:
        ctx.store.put(self._key(ident), encode(value))
        sink = self.sinks.get(ident)
        if sink is not None:
            sink(ctx, value)

    def stored(self, ctx: Context, ident: int) -> Node | None:
        """The value saved to the attribute or given it at build time; None if neither
        (so a binding can tell "never configured" from a configured zero)."""
        raw = ctx.store.get(self._key(ident))
        if raw is not None:
            return _decode(raw, self._key(ident))
        initial = self.values.get(ident)
        return None if initial is None else _decode(encode(initial), self._key(ident))

    # services

    def get(self, ctx: Context, ident: int, selection: tuple[int, Node] | None = None) -> Node:
        self._attribute(ident)
        ctx.check_fault(FaultKey(self.class_id, self.obis, ident))
        if selection is not None:
            return self.select(ctx, ident, *selection)
        return self.load(ctx, ident)

    def select(self, ctx: Context, ident: int, selector: int, params: Node) -> Node:
        raise AccessError(SCOPE_OF_ACCESS_VIOLATED, f"{self}: attribute {ident} has no "
                                                    "selective access")

    def set(self, ctx: Context, ident: int, value: Node) -> None:
        self._attribute(ident)
        ctx.check_fault(FaultKey(self.class_id, self.obis, ident))
        if not self.is_writable(ident) or ident in self.getters:
            raise AccessError(READ_WRITE_DENIED, f"{self}: attribute {ident} is read-only")
        try:
            check(value, self.shape(ident))
        except ShapeError as err:
            raise AccessError(TYPE_UNMATCHED, f"{self} attribute {ident}: {err}") from None
        self.save(ctx, ident, value)
        self.written(ctx, ident, value)

    def written(self, ctx: Context, ident: int, value: Node) -> None:
        """What follows a SET (an activation time arms its timer)."""

    def action(self, ctx: Context, ident: int, params: Node) -> Node | None:
        method = self.iclass.method(ident)
        if method is None:
            raise AccessError(OBJECT_UNAVAILABLE, f"{self}: {self.iclass.name} has no "
                                                  f"method {ident}")
        ctx.check_fault(FaultKey(self.class_id, self.obis, ident, True))
        try:
            check(params, method.params, "parameters")
        except ShapeError as err:
            raise AccessError(TYPE_UNMATCHED, f"{self} {method.name}: {err}") from None
        handler = self.handlers.get(ident) or getattr(self, method.name, None)
        if handler is None:
            raise AccessError(OBJECT_UNAVAILABLE, f"{self}: {method.name} is not supported")
        return handler(ctx, params)


def _decode(raw: bytes, where: str) -> Node:
    try:
        return decode_axdr(Reader(raw), where)
    except GbcsDecodeError as err:
        raise AccessError(HARDWARE_FAULT, f"{where}: stored value is corrupt: {err}") from None


def int_value(node: Node) -> int:
    """An integer parameter's value (0 for the null-data GBCS sends as "no value")."""
    return node.value if isinstance(node.value, int) else 0
