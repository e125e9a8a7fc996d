"""What `print EXPR`, `break watch EXPR` and breakpoint conditions read: `DEVICE.FIELD`
over a lab's devices, shown as small aligned tables so a firmware developer reads them
at a glance.

Fields with a table of their own are listed in `FIELDS` (`esme.credit`,
`esme.registers`, `esme.supply`, `gsme.battery`, `gsme.supply`, `gsme.credit`,
`chf.device_log`, `chf.power`); any other public attribute of an ESME's metering engine
(`esme.meter_balance`, `esme.supply_state`, ...) is a scalar. A DEVICE is a board name
of the premises, or its type (`esme`, `gsme`, `chf`) for the first of that type.
A condition (`break ... if CONDITION`) is `EXPR OP VALUE [and EXPR OP VALUE ...]`.
"""

from __future__ import annotations

import enum
import operator
import re
from collections.abc import Callable
from typing import Any

from boards.board import DeviceType
from firmware.core.gas import (BATTERY_DAYS, CREDIT_REMAINING,
                               EMERGENCY_CREDIT_REMAINING, PAYMENT_CONTROL,
                               PREPAYMENT_MODE, SUPPLY_ARMED, SUPPLY_ON, SUPPLY_STATUS)
from firmware.esme.engine import UNITS_PER_PENNY
from tools.lab.esme import EsmeBoard
from tools.lab.gas import GsmeBoard
from tools.lab.premises import Lab

Table = list[tuple[str, str]]
Scalar = int | float | str
LOW_BATTERY = 0.1        # the GSME's low-battery level (its firmware's)


class ExpressionError(Exception):
    """An expression that names no device or field: says which part and why."""


def money(units: int) -> str:
    """Currency units (1000 to the penny) as pounds, signed."""
    pence = round(units / UNITS_PER_PENNY)
    return f"{'-' if pence < 0 else ''}£{abs(pence) / 100:,.2f}"


def _name(value: Any) -> Scalar:
    if isinstance(value, enum.Enum):
        return value.name.lower()
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else str(value)


# -- ESME -----------------------------------------------------------------------------------


def _credit(unit: EsmeBoard) -> Table:
    e = unit.engine
    debt1, debt2 = e.time_debts
    return [("payment_mode", str(_name(e.config.payment_mode))),
            ("meter_balance", money(e.meter_balance)),
            ("emergency_credit_balance", money(e.emergency_credit_balance)),
            ("emergency_credit_state", str(_name(e.emergency_credit_state))),
            ("time_debt_1", money(debt1)), ("time_debt_2", money(debt2)),
            ("payment_debt", money(e.payment_debt)),
            ("disablement_threshold", money(e.credit_config.disablement_threshold))]


def _registers(unit: EsmeBoard) -> Table:
    e = unit.engine
    rows = [("active_import", f"{e.active_import_wh / 1000:.3f} kWh"),
            ("active_export", f"{e.active_export_wh / 1000:.3f} kWh"),
            ("reactive_import", f"{e.reactive_import_varh / 1000:.3f} kvarh"),
            ("reactive_export", f"{e.reactive_export_varh / 1000:.3f} kvarh")]
    rows += [(f"tou_rate_{n}", f"{wh / 1000:.3f} kWh")
             for n, wh in enumerate(e.tou_registers_wh, 1) if wh]
    rows += [("current_rate", str(e.current_rate)),
             ("cost_total", money(e.cost_total)),
             ("billing_period_cost", money(e.billing_period_cost))]
    return rows


def _supply(unit: EsmeBoard) -> Table:
    return [("supply_state", str(_name(unit.engine.supply_state))),
            ("load", f"{unit.power_kw():g} kW"),
            ("load_limit_counter", str(unit.engine.load_limit_counter))]


# -- GSME -----------------------------------------------------------------------------------


def _battery(gas: GsmeBoard) -> Table:
    level = gas.battery.level()
    return [("level", f"{level * 100:.1f} %"),
            ("low", "yes" if level <= LOW_BATTERY else "no"),
            ("low_battery_logged", "yes" if gas.gsme.store.get("gsme/low_battery_logged")
             else "no"),
            ("battery_life_remaining", f"{gas.gsme.data.get(BATTERY_DAYS)} days")]


_GAS_SUPPLY = {SUPPLY_ON: "enabled", SUPPLY_ARMED: "armed"}


def _gas_supply(gas: GsmeBoard) -> Table:
    status = gas.gsme.data.get(SUPPLY_STATUS)
    return [("supply_state", _GAS_SUPPLY.get(status, "disabled")),
            ("valve", "open" if gas.valve.open else "closed")]


def _gas_credit(gas: GsmeBoard) -> Table:
    data = gas.gsme.data
    mode = "prepayment" if data.get(PAYMENT_CONTROL) & PREPAYMENT_MODE else "credit"
    return [("payment_mode", mode), ("credit_remaining", money(data.get(CREDIT_REMAINING))),
            ("emergency_credit_remaining", money(data.get(EMERGENCY_CREDIT_REMAINING)))]


# -- CHF ------------------------------------------------------------------------------------


def _device_log(lab: Lab) -> Table:
    names = {b.eui: b.name for b in lab.premises.boards}
    return [(entry.eui.hex().upper(), f"{names.get(entry.eui, '?')} (type "
                                      f"{entry.device_type})")
            for entry in lab.hub.chf.device_log.entries()]


def _power(lab: Lab) -> Table:
    return [("powered", "yes" if getattr(lab.hub, "powered", True) else "no"),
            ("han_ready", "yes" if lab.ready else "no")]


ESME_FIELDS: dict[str, Callable[[EsmeBoard], Table]] = {
    "credit": _credit, "registers": _registers, "supply": _supply}
GSME_FIELDS: dict[str, Callable[[GsmeBoard], Table]] = {
    "battery": _battery, "supply": _gas_supply, "credit": _gas_credit}
CHF_FIELDS: dict[str, Callable[[Lab], Table]] = {"device_log": _device_log, "power": _power}
FIELDS = ([f"esme.{f}" for f in ESME_FIELDS] + [f"gsme.{f}" for f in GSME_FIELDS]
          + [f"chf.{f}" for f in CHF_FIELDS] + ["esme.supply_state", "esme.meter_balance",
                                                 "time"])


# -- devices --------------------------------------------------------------------------------


def _board_type(lab: Lab, name: str) -> DeviceType | None:
    board = next((b for b in lab.premises.boards if b.name == name), None)
    if board is not None:
        return board.type
    return next((t for t in DeviceType if t.value.lower() == name.lower()), None)


def _pick(units: dict, name: str, kind: str):
    for unit in units.values():
        if unit.board.name == name:
            return unit
    if name == kind and units:
        return next(iter(units.values()))
    raise ExpressionError(f"{name!r}: no {kind.upper()} of that name in the premises "
                          f"({', '.join(u.board.name for u in units.values()) or 'none'})")


def esme(lab: Lab, name: str) -> EsmeBoard:
    """The ESME whose board is called `name` ("esme" alone: the premises' first)."""
    return _pick(lab.esmes, name, "esme")


def gsme(lab: Lab, name: str) -> GsmeBoard:
    """The GSME whose board is called `name` ("gsme" alone: the premises' first)."""
    return _pick(lab.gsmes, name, "gsme")


def device_kind(lab: Lab, name: str) -> DeviceType:
    """The type of the device `name` names (a board name or a type)."""
    kind = _board_type(lab, name)
    if kind is None:
        raise ExpressionError(f"{name!r}: no device of that name in the premises "
                              f"({', '.join(b.name for b in lab.premises.boards)})")
    return kind


def evaluate(lab: Lab, expr: str) -> Table | Scalar:
    """The value of `expr`: a table for a compound field, a scalar otherwise."""
    expr = expr.strip()
    if expr == "time":
        return lab.sim.now().isoformat()
    device, dot, field = expr.partition(".")
    if not dot or not field:
        raise ExpressionError(f"{expr!r}: expected DEVICE.FIELD (e.g. esme.credit) or time")
    kind = _board_type(lab, device)
    if kind is DeviceType.CHF and field in CHF_FIELDS:
        return CHF_FIELDS[field](lab)
    if kind is DeviceType.GSME and field in GSME_FIELDS:
        return GSME_FIELDS[field](gsme(lab, device))
    if kind is not DeviceType.ESME:
        raise ExpressionError(f"{expr!r}: the debugger reads ESMEs (credit, registers, "
                              "supply, or any engine attribute), "
                              f"{', '.join('gsme.' + f for f in GSME_FIELDS)} and "
                              f"{', '.join('chf.' + f for f in CHF_FIELDS)}")
    unit = esme(lab, device)
    if field in ESME_FIELDS:
        return ESME_FIELDS[field](unit)
    if field.startswith("_") or not hasattr(unit.engine, field):
        raise ExpressionError(f"{expr!r}: the ESME has no field {field!r} (try "
                              f"{', '.join(ESME_FIELDS)} or an engine attribute)")
    value = getattr(unit.engine, field)
    if callable(value):
        raise ExpressionError(f"{expr!r}: {field!r} is a method, not a field")
    return _name(value)


def render(expr: str, value: Table | Scalar) -> list[str]:
    """`expr = value`, or a heading and an aligned two-column table."""
    if not isinstance(value, list):
        return [f"{expr} = {value}"]
    if not value:
        return [f"{expr}: (empty)"]
    width = max(len(k) for k, _ in value)
    return [f"{expr}:"] + [f"  {k.ljust(width)}  {v}" for k, v in value]


def watch_text(lab: Lab, expr: str) -> str:
    """A watched expression's value, as one comparable string."""
    value = evaluate(lab, expr)
    return "; ".join(f"{k}={v}" for k, v in value) if isinstance(value, list) else str(value)


# -- conditions -----------------------------------------------------------------------------

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq, "!=": operator.ne, "<=": operator.le, ">=": operator.ge,
    "<": operator.lt, ">": operator.gt}
_COMPARISON = re.compile(r"^\s*(\S+?)\s*(==|!=|<=|>=|<|>)\s*(\S+)\s*$")


def _number(text: str) -> int | float | None:
    try:
        return int(text, 0)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return None


def parse_condition(text: str) -> list[tuple[str, str, str]]:
    """`EXPR OP VALUE [and ...]` as (expr, op, value) triples; a malformed part is an
    ExpressionError naming it."""
    parts = [p for p in re.split(r"\s+and\s+", text.strip()) if p]
    if not parts:
        raise ExpressionError("if: expected a condition EXPR OP VALUE "
                              "(e.g. esme.meter_balance < 100000)")
    triples = []
    for part in parts:
        m = _COMPARISON.match(part)
        if not m:
            raise ExpressionError(f"if {part!r}: expected EXPR OP VALUE with OP one of "
                                  f"{' '.join(_OPS)}")
        triples.append((m.group(1), m.group(2), m.group(3)))
    return triples


def holds(lab: Lab, condition: list[tuple[str, str, str]]) -> bool:
    """Whether every comparison of `condition` is true now: numbers compare as numbers,
    anything else as text (== and != only)."""
    for expr, op, expected in condition:
        value = evaluate(lab, expr)
        if isinstance(value, list):
            raise ExpressionError(f"if {expr}: a table; compare one of its scalar fields")
        number = _number(expected)
        if isinstance(value, (int, float)) and number is not None:
            ok = _OPS[op](value, number)
        elif op in ("==", "!="):
            ok = _OPS[op](str(value), expected)
        else:
            raise ExpressionError(f"if {expr} {op} {expected}: {expr} is {value!r}, "
                                  "not a number")
        if not ok:
            return False
    return True
