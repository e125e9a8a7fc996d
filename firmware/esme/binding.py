"""The binding of an ESME's COSEM objects to its metering engine: which attribute reads
which engine value, which write, activation or method drives which engine command.

The objects stay the GBCS view (shapes, activation times, data protection); the engine
owns the behaviour. `bind(objects, engine)` installs, per object:

- getters: registers, credit, debt, supply and switch states, the maximum demand, the
  randomised offset read the engine (each read first measures up to now);
- sources: the profile and log buffers read the engine's logs (half-hourly active and
  reactive import, daily read, daily consumption, billing data, prepayment credits and
  payment-based debt payments, event, security and power logs);
- handlers: methods that are engine commands (credit adjustments, emergency credit,
  debt, the supply and auxiliary switches, UTRN entry);
- activation listeners and sinks: when the passive tariff (calendar, prices, standing
  charge, block thresholds, special days), credit settings, load limit settings or
  payment mode become active, they are converted into the engine's `Tariff`,
  `CreditConfig` and `EngineConfig` and handed to it.

Money is in the engine's currency units (10^-5 GBP, `engine.MONEY_SCALER`); a GBCS price
or charge `value` with price scaler `ps` is value x 10^(ps + 5) of them, per kWh for a
commodity in Wh with scaler `cs` (x 10^(3 - cs)). An engine refusal (`EngineError`)
answers the access with other-reason; the engine has logged it.

An activation that cannot be converted (a calendar naming a day profile it lacks, more
rates than the engine has) leaves the engine on its last tariff and is logged in the
device event log: it happens in a timer, where there is no command to answer.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from firmware.core.device import EVENT_LOG
from firmware.esme.cosem import OTHER_REASON, AccessError, Context, CosemObject, int_value
from firmware.esme.cosem_control import TokenGateway
from firmware.esme.cosem_profile import ProfileGeneric, to_seconds
from firmware.esme.cosem_time import Passive
from firmware.esme.cosem_types import NEVER
from firmware.esme.engine import (
    Alert, CreditConfig, DayProfile, EmergencyCredit, EngineError, LoadLimitConfig, MeterEngine,
    NonDisablementCalendar, PaymentMode, Season, SupplyState, SwitchingTable, Tariff,
    UtrnError,
)
from firmware.esme.objects import obis
from gbcs import axdr
from gbcs.axdr import octets_of
from gbcs.cosem import datetime_bytes
from gbcs.node import Node

Objects = dict[tuple[int, bytes], CosemObject]

U32_MAX, I32_MIN, I32_MAX = 2**32 - 1, -2**31, 2**31 - 1
NO_THRESHOLD = U32_MAX                  # a threshold matrix entry that is not set
DLMS_CREDIT_MODE, DLMS_PREPAYMENT_MODE = 1, 2
BLOCK_SELECTOR_BASE = 100               # script selector 100 + n: block tariff TOU rate n
# class 112 credit_status (Blue Book): 0 enabled, 1 selectable, 3 in use, 4 exhausted
CREDIT_STATUS = {EmergencyCredit.NOT_AVAILABLE: 0, EmergencyCredit.AVAILABLE: 1,
                 EmergencyCredit.ACTIVE: 3, EmergencyCredit.EXHAUSTED: 4}
# class 115 token_status codes (Blue Book)
TOKEN_EXECUTED, TOKEN_AUTHENTICATION_FAILED, TOKEN_VALIDATION_FAILED = 3, 5, 6
TOKEN_EXECUTION_FAILED = 7
TOKEN_STATUS = {Alert.UTRN_NOT_AUTHENTIC: TOKEN_AUTHENTICATION_FAILED,
                Alert.DUPLICATE_UTRN: TOKEN_VALIDATION_FAILED,
                Alert.UTRN_EXCEEDS_MAXIMUM_CREDIT: TOKEN_VALIDATION_FAILED,
                Alert.CREDIT_EXCEEDS_MAXIMUM_METER_BALANCE: TOKEN_VALIDATION_FAILED}
WH = 30                                 # DLMS unit: Wh
SPECIAL_DAY_YEARS = 30                  # a every-year special day is expanded this far


class BindingError(ValueError):
    """A COSEM value the engine cannot take: names the object and what is wrong."""


# -- A-XDR values -----------------------------------------------------------------------


def _u32(value: int) -> Node:
    return axdr.data_node("data", min(max(value, 0), U32_MAX), axdr.DOUBLE_LONG_UNSIGNED)


def _i32(value: int) -> Node:
    return axdr.data_node("data", min(max(value, I32_MIN), I32_MAX), axdr.DOUBLE_LONG)


def _su(unit: int) -> Node:
    return axdr.structure_node("", [axdr.data_node("", 0, axdr.INTEGER),
                                    axdr.data_node("", unit, axdr.ENUM)])


def _struct(*members: Node) -> Node:
    return axdr.structure_node("data", list(members))


def _u32s(values: list[int] | tuple[int, ...]) -> Node:
    return axdr.array_node("", [_u32(v) for v in values])


def _when(at: _dt.datetime | None) -> Node:
    return axdr.data_node("data", datetime_bytes(at) if at else NEVER, axdr.OCTET_STRING)


@contextmanager
def _engine(what: str) -> Iterator[None]:
    """Run an engine command for a COSEM access; a refusal answers other-reason."""
    try:
        yield
    except (EngineError, UtrnError) as err:
        raise AccessError(OTHER_REASON, f"{what}: {err}") from None


# -- binding --------------------------------------------------------------------------


class _Binder:
    def __init__(self, objects: Objects, engine: MeterEngine) -> None:
        self.objects = objects
        self.engine = engine

    def obj(self, class_id: int, code: str) -> CosemObject | None:
        return self.objects.get((class_id, obis(code)))

    def get(self, class_id: int, code: str, ident: int,
            value: Callable[[], Node]) -> None:
        target = self.obj(class_id, code)
        if target is not None:
            target.getters[ident] = lambda ctx: value()

    def method(self, class_id: int, code: str, ident: int,
               handler: Callable[[Context, Node], Node | None]) -> None:
        target = self.obj(class_id, code)
        if target is not None:
            target.handlers[ident] = handler

    def source(self, code: str, rows: Callable[[Context], list[list]],
               columns: int) -> None:
        target = self.obj(7, code)
        if isinstance(target, ProfileGeneric) and len(target.captures) == columns:
            target.source = rows

    def on_activate(self, class_id: int, code: str,
                    listener: Callable[[Context], None]) -> None:
        target = self.obj(class_id, code)
        if isinstance(target, Passive):
            target.on_activate.append(listener)


def bind(objects: Objects, engine: MeterEngine, *, polyphase: bool = False,
         twin: bool = False) -> None:
    """Make `objects` (one ESME's, from `objects.build`) views and controls of `engine`."""
    b = _Binder(objects, engine)
    _bind_registers(b, polyphase, twin)
    _bind_profiles(b, twin)
    _bind_prepayment(b)
    _bind_supply(b)
    _bind_settings(b)


def _bind_registers(b: _Binder, polyphase: bool, twin: bool) -> None:
    e = b.engine
    for code, read in (("1-0:1.8.0", lambda: e.active_import_wh),
                       ("1-0:2.8.0", lambda: e.active_export_wh),
                       ("1-0:3.8.0", lambda: e.reactive_import_varh),
                       ("1-0:4.8.0", lambda: e.reactive_export_varh),
                       ("0-0:94.44.1.7", lambda: e.block_period_wh),
                       ("0-0:94.44.42.255", lambda: e.load_limit_counter)):
        b.get(3, code, 2, lambda read=read: _u32(read()))
    for phase, c in ((1, 32), (2, 52), (3, 72)):
        index = phase if polyphase else 0
        for d, kind, counts in ((32, "sag", lambda: e.sag_counts),
                                (36, "swell", lambda: e.swell_counts)):
            code = f"1-0:{c}.{d}.0.4"
            b.get(3, code, 2, lambda i=index, counts=counts: _u32(counts()[i]))

            def reset(ctx: Context, params: Node, kind: str = kind, i: int = index) -> None:
                with _engine(f"{kind} counter"):
                    e.reset_voltage_counter(kind, i)

            b.method(3, code, 1, reset)
    for code, read, export in (("1-0:1.6.0", lambda: e.max_demand_import, False),
                               ("1-0:2.6.0", lambda: e.max_demand_export, True)):
        b.get(4, code, 2, lambda read=read: _u32(read()[0]))
        b.get(4, code, 5, lambda read=read: _when(read()[1]))

        def reset(ctx: Context, params: Node, export: bool = export) -> None:
            with _engine("maximum demand"):
                e.reset_max_demand(export=export)

        b.method(4, code, 1, reset)

    def reset_counter(ctx: Context, params: Node) -> None:
        with _engine("load limit counter"):
            e.reset_load_limit_counter()

    b.method(3, "0-0:94.44.42.255", 1, reset_counter)

    def import_collection() -> Node:
        primary, secondary = e.active_import_wh, e.secondary_active_import_wh
        members = [_u32(primary), _su(WH), _u32(primary + secondary), _su(WH)]
        return _struct(*members, _u32(secondary)) if twin else _struct(*members)

    b.get(1, "0-0:94.44.34.10", 2, import_collection)
    if not twin:  # the engine keeps no TOU registers for a secondary element
        b.get(1, "0-0:94.44.34.1", 2, lambda: _struct(_u32s(e.tou_registers_wh)))
    b.get(1, "0-0:94.44.34.2", 2, lambda: _struct(_u32s(
        [wh for rate in e.block_matrix_wh for wh in rate])))
    b.get(1, "0-0:94.44.34.30", 2, lambda: _struct(*(_i32(v) for v in _prepay(e))))


def _prepay(e: MeterEngine) -> list[int]:
    """Meter balance, emergency credit balance, accumulated debt, time debts 1 and 2,
    payment debt: the pre-payment register collection and the prepayment log rows."""
    balance = e.meter_balance
    return [balance, e.emergency_credit_balance, max(0, -balance), *e.time_debts,
            e.payment_debt]


def _bind_profiles(b: _Binder, twin: bool) -> None:
    e = b.engine
    half_hour = _dt.timedelta(minutes=30)

    def half_hourly(name: str) -> Callable[[Context], list[list]]:
        # An entry is captured at the end of its half hour; the one in progress is not
        # captured yet.
        def rows(ctx: Context) -> list[list]:
            now = to_seconds(ctx.now())
            out = [[to_seconds(start + half_hour), value]
                   for start, value in e.profile(name)]
            return [r for r in out if r[0] <= now]
        return rows

    if not twin:
        b.source("0-0:99.1.0", half_hourly("active_import"), 2)
    b.source("0-0:99.1.2", half_hourly("reactive_import"), 2)
    b.source("0-0:99.1.3", lambda ctx: [[_s(r["t"]), r["wh"]]
                                         for r in e.log("daily_consumption")], 2)

    def reading(r: dict) -> list:
        tou = (list(r["tou_wh"]) + [0] * 48)[:48]
        matrix = r["matrix_wh"] or [0] * 32
        blocks = [[matrix[rate * 4 + block] for rate in range(8)] for block in range(4)]
        return [_s(r["t"]), r["import_wh"], tou, *blocks]

    def prepay(r: dict) -> list:
        balance = r["meter_balance"]
        return [_s(r["t"]), balance, r["emergency_credit_balance"], max(0, -balance),
                *r["debts"]]

    if not twin:
        b.source("0-0:98.1.9", lambda ctx: [reading(r) for r in e.log("daily_read")], 7)
        b.source("0-0:98.1.0", lambda ctx: [reading(r) for r in e.log("billing_data")], 7)
    b.source("0-0:98.1.8", lambda ctx: [prepay(r) for r in e.log("daily_read")], 7)
    b.source("0-0:98.1.1", lambda ctx: [prepay(r) for r in e.log("billing_data")], 7)
    b.source("0-0:98.1.10", lambda ctx: [[_s(r["t"]), r["export_wh"]]
                                          for r in e.log("daily_read")], 2)

    def top_ups(field: str) -> list[list]:
        return [[_s(r["t"]), r["detail"][field]] for r in e.log("event")
                if r.get("event") == "top_up" and r["detail"][field] > 0]

    b.source("0-0:98.1.5", lambda ctx: top_ups("amount"), 2)
    b.source("0-0:98.1.4", lambda ctx: top_ups("payment_debt_recovered"), 2)

    def alerts(log: str) -> list[list]:
        return [[_s(r["t"]), r["alert"]] for r in e.log(log) if "alert" in r]

    b.source("0-0:99.98.0", lambda ctx: [row + [b""] for row in alerts("event")], 3)
    security = b.obj(7, "0-0:99.98.1")
    if isinstance(security, ProfileGeneric) and security.source is not None:
        device_log = security.source
        security.source = lambda ctx: sorted(device_log(ctx) + alerts("security"),
                                             key=lambda r: r[0])
    b.source("0-0:99.98.4", lambda ctx: [[_s(r["t"]), r["alert"]]
                                         for r in e.log("event") if r.get("alert") in
                                         (0x8F35, 0x8F36)], 2)


def _s(t: int) -> int:
    """POSIX seconds as a buffer timestamp (seconds from 2000-01-01)."""
    return to_seconds(_dt.datetime.fromtimestamp(t, _dt.UTC))


def _bind_prepayment(b: _Binder) -> None:
    e = b.engine
    b.get(112, "0-0:19.10.0", 2, lambda: _i32(e.meter_balance))
    b.get(112, "0-0:19.10.1", 2, lambda: _i32(e.emergency_credit_balance))
    b.get(112, "0-0:19.10.1", 8, lambda: axdr.data_node(
        "data", CREDIT_STATUS[e.emergency_credit_state], axdr.ENUM))
    b.get(112, "0-0:19.10.2", 2, lambda: _i32(max(0, -e.meter_balance)))

    def adjust(ctx: Context, params: Node) -> None:
        with _engine("meter balance"):
            e.adjust_meter_balance(int_value(params))

    def set_balance(ctx: Context, params: Node) -> None:
        with _engine("meter balance"):
            target = int_value(params)
            if target == 0:
                e.reset_meter_balance()
            elif target != e.meter_balance:
                e.adjust_meter_balance(target - e.meter_balance)

    def set_debt(ctx: Context, params: Node) -> None:
        # Accumulated debt is the meter balance below zero: setting it moves the balance.
        debt = max(0, -e.meter_balance)
        target = int_value(params)
        if target != debt:
            with _engine("accumulated debt"):
                e.adjust_meter_balance(debt - target)

    def set_emergency(ctx: Context, params: Node) -> None:
        if int_value(params) != e.emergency_credit_balance:
            raise AccessError(OTHER_REASON, "the emergency credit balance changes only by "
                                            "invoking emergency credit and repaying it")

    def invoke(ctx: Context, params: Node) -> None:
        """ECS09: the command is carried out if emergency credit is available; if not,
        nothing changes (the credit_status read shows it) and the event log says so."""
        if e.emergency_credit_state != EmergencyCredit.AVAILABLE:
            ctx.store.append(EVENT_LOG, {
                "at": ctx.now().isoformat(), "event": "emergency_credit_not_available",
                "detail": e.emergency_credit_state.name})
            return
        with _engine("emergency credit"):
            e.activate_emergency_credit()

    b.method(112, "0-0:19.10.0", 1, adjust)
    b.method(112, "0-0:19.10.0", 2, set_balance)
    b.method(112, "0-0:19.10.1", 2, set_emergency)
    b.method(112, "0-0:19.10.1", 3, invoke)
    b.method(112, "0-0:19.10.2", 2, set_debt)

    # Debts: 19.20.1 and 19.20.2 time debts, 19.20.3 payment debt.
    def debts() -> list[int]:
        return [*e.time_debts, e.payment_debt]

    for n in (1, 2, 3):
        b.get(113, f"0-0:19.20.{n}", 12, lambda i=n - 1: _i32(debts()[i]))

        def change(ctx: Context, params: Node, i: int = n - 1, add: bool = True) -> None:
            values = debts()
            values[i] = values[i] + int_value(params) if add else int_value(params)
            with _engine("debt"):
                e.set_debt(*values)

        b.method(113, f"0-0:19.20.{n}", 4, change)
        b.method(113, f"0-0:19.20.{n}", 5, lambda ctx, p, f=change: f(ctx, p, add=False))

    account = b.obj(111, "0-0:19.0.0")
    if account is not None:
        def mode_and_status(ctx: Context) -> Node:
            stored = account.stored(ctx, 2)
            status = stored.children[1].value if stored is not None else 2
            mode = DLMS_PREPAYMENT_MODE if e.config.payment_mode == PaymentMode.PREPAYMENT \
                else DLMS_CREDIT_MODE
            return _struct(axdr.data_node("", mode, axdr.ENUM),
                           axdr.data_node("", status, axdr.ENUM))

        def mode_written(ctx: Context, value: Node) -> None:
            mode = value.children[0].value
            if mode not in (DLMS_CREDIT_MODE, DLMS_PREPAYMENT_MODE):
                raise AccessError(OTHER_REASON, f"account mode {mode} is not credit (1) "
                                                "or prepayment (2)")
            with _engine("payment mode"):
                e.set_payment_mode(PaymentMode.PREPAYMENT if mode == DLMS_PREPAYMENT_MODE
                                   else PaymentMode.CREDIT)

        account.getters[2] = mode_and_status
        account.sinks[2] = mode_written
    b.get(111, "0-0:19.0.0", 5, lambda: _i32(
        e.meter_balance + (e.emergency_credit_balance
                           if e.emergency_credit_state == EmergencyCredit.ACTIVE else 0)))
    b.get(111, "0-0:19.0.0", 8, lambda: _i32(sum(debts())))
    b.get(111, "0-0:19.0.0", 16, lambda: _i32(e.credit_config.low_credit_threshold))

    gateway = b.obj(115, "0-0:19.40.0")
    if isinstance(gateway, TokenGateway):
        def enter(ctx: Context, params: Node) -> None:
            """A UTRN is accepted for processing (a 20-digit token); whether the engine
            applied it is its token_status, and a refused one raises its alert."""
            gateway.enter(ctx, params)  # records token, time; refuses a malformed one
            try:
                e.enter_utrn((octets_of(params) or b"").decode("ascii"))
                status = TOKEN_EXECUTED
            except UtrnError as err:
                status = TOKEN_STATUS.get(err.alert, TOKEN_VALIDATION_FAILED)
            except EngineError:
                status = TOKEN_EXECUTION_FAILED
            gateway.save(ctx, 6, _struct(axdr.data_node("", status, axdr.ENUM),
                                         axdr.data_node("", "0" * 8, axdr.BIT_STRING)))

        gateway.handlers[1] = enter


def _bind_supply(b: _Binder) -> None:
    e = b.engine
    b.get(70, "0-0:96.3.10", 2, lambda: axdr.data_node(
        "data", e.supply_state == SupplyState.ENABLED, axdr.BOOLEAN))
    b.get(70, "0-0:96.3.10", 3, lambda: axdr.data_node("data", int(e.supply_state),
                                                       axdr.ENUM))
    switch = b.obj(70, "0-0:96.3.10")

    def disconnect(ctx: Context, params: Node) -> None:
        with _engine("supply"):
            e.disable_supply()

    def reconnect(ctx: Context, params: Node) -> None:
        """Control modes 2, 4 and 6 arm (the consumer closes the supply with the
        button); others enable. Arming a supply that is on leaves it on."""
        mode = int_value(switch.load(ctx, 4)) if switch is not None else 1
        with _engine("supply"):
            if mode not in (2, 4, 6):
                e.enable_supply()
            elif e.supply_state != SupplyState.ENABLED:
                e.arm_supply()

    b.method(70, "0-0:96.3.10", 1, disconnect)
    b.method(70, "0-0:96.3.10", 2, reconnect)
    for n in range(1, 6):
        b.get(70, f"0-{n}:96.3.10", 2, lambda i=n - 1: axdr.data_node(
            "data", e.alcs_states[i], axdr.BOOLEAN))

        def alcs(ctx: Context, params: Node, n: int = n, on: bool = False) -> None:
            with _engine(f"auxiliary load control switch {n}"):
                e.set_alcs(n, on)

        b.method(70, f"0-{n}:96.3.10", 1, alcs)
        b.method(70, f"0-{n}:96.3.10", 2, lambda ctx, p, f=alcs: f(ctx, p, on=True))


# -- settings: tariff, credit, load limit ---------------------------------------------------


def _bind_settings(b: _Binder) -> None:
    e = b.engine
    objects = b.objects

    def guarded(what: str, apply: Callable[[Context], None]) -> Callable[[Context], None]:
        def listener(ctx: Context) -> None:
            try:
                apply(ctx)
            except (BindingError, EngineError) as err:
                ctx.store.append(EVENT_LOG, {"at": ctx.now().isoformat(),
                                             "event": f"{what}_not_applied",
                                             "detail": str(err)})
        return listener

    tariff = guarded("tariff", lambda ctx: e.set_tariff(tariff_from_cosem(ctx, objects,
                                                                          e.tariff)))
    for class_id, code in ((20, "0-0:13.0.0"), (113, "0-0:19.20.0"), (113, "0-0:19.20.4"),
                           (9000, "0-0:63.1.1"), (9000, "0-0:94.44.128.29")):
        b.on_activate(class_id, code, tariff)
    credit = guarded("credit_settings", lambda ctx: e.set_credit_config(
        credit_from_cosem(ctx, objects, e.credit_config)))
    for code in ("0-0:94.44.2.10", "0-0:94.44.2.20", "0-0:94.44.128.2", "0-0:94.44.128.3",
                 "0-0:94.44.128.9", "0-0:94.44.128.12", "0-0:94.44.128.22"):
        b.on_activate(9000, code, credit)
    for code in ("0-0:19.20.1", "0-0:19.20.2"):
        b.on_activate(113, code, credit)
    proportion = b.obj(113, "0-0:19.20.3")
    if proportion is not None:
        proportion.sinks[13] = lambda ctx, value: credit(ctx)
    limit = guarded("load_limit", lambda ctx: e.configure(replace(
        e.config, load_limit=load_limit_from_cosem(ctx, objects, e.config.load_limit))))
    for code in ("0-0:94.44.0.3", "0-0:94.44.128.6", "0-0:94.44.128.7", "0-0:94.44.128.8"):
        b.on_activate(9000, code, limit)
    # The load limiter shows the settings the engine limits by (ECS27).
    for ident, field in ((4, "threshold_w"), (6, "period_s"), (7, "restoration_s")):
        b.get(71, "0-0:17.0.0", ident,
              lambda f=field: _u32(getattr(e.config.load_limit, f)))
    calendar = guarded("non_disablement", lambda ctx: e.configure(replace(
        e.config, non_disablement=non_disablement_from_cosem(
            ctx, objects, e.config.non_disablement))))
    b.on_activate(9000, "0-0:94.44.128.31", calendar)

    billing = b.obj(22, "0-0:15.0.0")
    if billing is not None:
        def billing_written(ctx: Context, value: Node) -> None:
            """The engine captures billing data monthly: a calendar entry on day n of
            every month (n <= 28) sets that day; others leave it, logged."""
            days = {bytes(date)[3] for _time, date in axdr.axdr_value(value)
                    if len(bytes(date)) >= 4 and bytes(date)[2] == 0xFF}
            if len(days) == 1 and 1 <= min(days) <= 28:
                with _engine("billing calendar"):
                    e.configure(replace(e.config, billing_day=min(days)))
            else:
                ctx.store.append(EVENT_LOG, {"at": ctx.now().isoformat(),
                                             "event": "billing_calendar_not_applied",
                                             "detail": "not one day of every month"})
        billing.sinks[4] = billing_written

    offset = b.obj(1, "0-0:94.44.0.1")
    if offset is not None:
        def offset_written(ctx: Context, value: Node) -> None:
            with _engine("randomised offset limit"):
                e.configure(replace(e.config, randomised_offset_limit_s=int_value(value)))
        offset.sinks[2] = offset_written
    b.get(1, "0-0:94.44.0.0", 2, lambda: axdr.data_node("data", e.randomised_offset_s,
                                                        axdr.LONG_UNSIGNED))


def _value(ctx: Context, objects: Objects, class_id: int, code: str,
           ident: int) -> Any:
    """An attribute's configured value (Python form), or None if never configured."""
    target = objects.get((class_id, obis(code)))
    node = target.stored(ctx, ident) if target is not None else None
    return axdr.axdr_value(node) if node is not None else None


def _scaled(value: int, exponent: int) -> int:
    return value * 10 ** exponent if exponent >= 0 else round(value / 10 ** -exponent)


def _charges(charge: Any) -> tuple[list[tuple[bytes, int]], int] | None:
    """A unit charge's (index, price) entries and the exponent that turns its prices
    into engine currency units (per kWh), or None when it has no prices."""
    if not charge:
        return None
    (commodity_scaler, price_scaler), _commodity, prices = charge
    if not prices:
        return None
    return [(bytes(i), p) for i, p in prices], price_scaler + 5 + 3 - commodity_scaler


def tariff_from_cosem(ctx: Context, objects: Objects, current: Tariff) -> Tariff:
    """The engine tariff the active COSEM tariff objects describe; parts never
    configured keep the engine's `current` ones."""
    switching = current.switching
    seasons = _value(ctx, objects, 20, "0-0:13.0.0", 3)
    weeks = _value(ctx, objects, 20, "0-0:13.0.0", 4)
    days = _value(ctx, objects, 20, "0-0:13.0.0", 5)
    special = _value(ctx, objects, 11, "0-0:11.0.0", 2)
    selectors: set[int] = set()
    if seasons and weeks and days:
        switching = _switching(seasons, weeks, days, special or [], ctx.now().year,
                               selectors)
    block = any(s > BLOCK_SELECTOR_BASE for s in selectors) or current.is_block
    rates = max([1, *(r for _, r in _all_switches(switching))])
    price_charge = _charges(_value(ctx, objects, 113, "0-0:19.20.0", 5))
    standing = current.standing_charge
    standing_charge = _charges(_value(ctx, objects, 113, "0-0:19.20.4", 5))
    if standing_charge:
        entries, exponent = standing_charge
        standing = _scaled(entries[0][1], exponent - 3)  # per day, no commodity
    thresholds = _value(ctx, objects, 21, "0-0:16.0.11", 2)
    if block:
        limits = tuple(t for t in (thresholds or []) if 0 < t < NO_THRESHOLD)[:3] \
            or current.block_thresholds
        if not limits:
            raise BindingError("tariff threshold matrix: a block tariff needs thresholds")
        if price_charge:
            entries, exponent = price_charge
            flat = {int.from_bytes(i or b"\x01", "big"): _scaled(p, exponent)
                    for i, p in entries}
            prices = tuple(tuple(flat.get(r * 4 + k + 1, 0) for k in range(len(limits) + 1))
                           for r in range(rates))
        else:
            prices = current.block_prices
        return Tariff(switching, (), standing, limits, prices)
    if price_charge:
        entries, exponent = price_charge
        flat = {int.from_bytes(i or b"\x01", "big"): _scaled(p, exponent)
                for i, p in entries}
        prices = tuple(flat.get(r + 1, 0) for r in range(rates))
    else:
        prices = (current.prices + (0,) * rates)[:rates] if current.prices else (0,) * rates
    return Tariff(switching, prices, standing)


def _all_switches(table: SwitchingTable) -> Iterator[tuple[int, int]]:
    for profile in table.day_profiles.values():
        yield from profile.switches


def _switching(seasons: list, weeks: list, days: list, special: list, year: int,
               selectors: set[int]) -> SwitchingTable:
    week_ids = {bytes(w[0]): tuple(w[1:8]) for w in weeks}
    profiles: dict[int, DayProfile] = {}
    for day_id, actions in days:
        switches = []
        for start, _script, selector in actions:
            selectors.add(selector)
            rate = selector - BLOCK_SELECTOR_BASE if selector > BLOCK_SELECTOR_BASE \
                else selector
            start = bytes(start)
            at = 3600 * _field(start, 0) + 60 * _field(start, 1) + _field(start, 2)
            switches.append((at, rate))
        switches.sort()
        if not switches:
            raise BindingError(f"day profile {day_id} has no switches")
        if switches[0][0] != 0:  # the last switch of the day runs on past midnight
            switches.insert(0, (0, switches[-1][1]))
        profiles[day_id] = DayProfile(tuple(switches))
    out = []
    for name, start, week in seasons:
        start = bytes(start)
        if bytes(week) not in week_ids:
            raise BindingError(f"season {bytes(name)!r} names no week profile "
                               f"{bytes(week)!r}")
        month = start[2] if 1 <= start[2] <= 12 else 1
        day = start[3] if 1 <= start[3] <= 31 else 1
        out.append(Season((month, day), week_ids[bytes(week)]))
    special_days: dict[_dt.date, int] = {}
    for _index, date, day_id in special:
        for when in _dates(bytes(date), year):
            special_days[when] = day_id
    table = SwitchingTable(profiles, tuple(out), special_days)
    try:
        table.validate(48)
    except EngineError as err:
        raise BindingError(f"tariff switching table: {err}") from None
    return table


def _field(raw: bytes, i: int) -> int:
    return raw[i] if i < len(raw) and raw[i] != 0xFF else 0


def _dates(raw: bytes, year: int) -> list[_dt.date]:
    """A COSEM date (year 0xFFFF: every year, from `year` on for a while)."""
    if len(raw) < 4:
        return []
    y = int.from_bytes(raw[:2], "big")
    years = range(year - 1, year + SPECIAL_DAY_YEARS) if y == 0xFFFF else (y,)
    out = []
    for candidate in years:
        try:
            out.append(_dt.date(candidate, raw[2], raw[3]))
        except ValueError:
            continue
    return out


def credit_from_cosem(ctx: Context, objects: Objects, current: CreditConfig) -> CreditConfig:
    """The engine credit settings the active COSEM prepayment objects describe."""
    def active(code: str) -> int | None:
        return _value(ctx, objects, 9000, code, 2)

    changes: dict[str, Any] = {}
    for field, code in (("max_credit_threshold", "0-0:94.44.2.10"),
                        ("max_meter_balance", "0-0:94.44.2.20"),
                        ("emergency_credit_limit", "0-0:94.44.128.2"),
                        ("emergency_credit_threshold", "0-0:94.44.128.3"),
                        ("low_credit_threshold", "0-0:94.44.128.9"),
                        ("payment_debt_cap", "0-0:94.44.128.12"),
                        ("disablement_threshold", "0-0:94.44.128.22")):
        value = active(code)
        if value is not None:
            changes[field] = value
    rates, periods = list(current.time_debt_rates), list(current.time_debt_periods_s)
    for i, n in enumerate((1, 2)):
        charge = _charges(_value(ctx, objects, 113, f"0-0:19.20.{n}", 5))
        if charge:
            entries, exponent = charge
            rates[i] = _scaled(entries[0][1], exponent - 3)  # per period, no commodity
        period = _value(ctx, objects, 113, f"0-0:19.20.{n}", 8)
        if period:
            periods[i] = period
    changes["time_debt_rates"], changes["time_debt_periods_s"] = tuple(rates), tuple(periods)
    proportion = _value(ctx, objects, 113, "0-0:19.20.3", 13)
    if proportion is not None:
        changes["payment_debt_percent"] = proportion // 100  # 10000 is 100 %
    return replace(current, **changes)


def load_limit_from_cosem(ctx: Context, objects: Objects,
                          current: LoadLimitConfig) -> LoadLimitConfig:
    """The load limit settings of the active 9000 objects (threshold W, period and
    restoration seconds, whether the supply is disabled)."""
    changes: dict[str, Any] = {}
    for field, code in (("disable", "0-0:94.44.0.3"), ("period_s", "0-0:94.44.128.6"),
                        ("threshold_w", "0-0:94.44.128.7"),
                        ("restoration_s", "0-0:94.44.128.8")):
        value = _value(ctx, objects, 9000, code, 2)
        if value is not None:
            changes[field] = bool(value) if field == "disable" else value
    return replace(current, **changes)


def non_disablement_from_cosem(ctx: Context, objects: Objects,
                               current: NonDisablementCalendar) -> NonDisablementCalendar:
    """The non-disablement special days (whole days on which credit running out does
    not disable the supply); the weekly windows stay as they are."""
    days = _value(ctx, objects, 11, "0-0:11.0.2", 2) or []
    year = ctx.now().year
    dates = sorted({d for _i, raw, _id in days for d in _dates(bytes(raw), year)})
    return replace(current, special_days=tuple(dates))
