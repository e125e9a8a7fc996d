"""What `print EXPR` and `break watch EXPR` read: `DEVICE.FIELD` over a lab's devices,
shown as small aligned tables so a firmware developer reads them at a glance.

Fields with a table of their own (`esme.credit`, `esme.registers`, `esme.supply`,
`chf.device_log`) are listed in `FIELDS`; any other public attribute of the ESME's
metering engine (`esme.meter_balance`, `esme.supply_state`, ...) is shown as its value.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

from boards.board import DeviceType
from firmware.esme.engine import UNITS_PER_PENNY
from tools.lab.esme import EsmeBoard
from tools.lab.premises import Lab

Table = list[tuple[str, str]]


class ExpressionError(Exception):
    """An expression that names no device or field: says which part and why."""


def money(units: int) -> str:
    """Currency units (1000 to the penny) as pounds, signed."""
    pence = round(units / UNITS_PER_PENNY)
    return f"{'-' if pence < 0 else ''}£{abs(pence) / 100:,.2f}"


def _name(value: Any) -> str:
    return value.name.lower() if isinstance(value, enum.Enum) else str(value)


def _credit(unit: EsmeBoard) -> Table:
    e = unit.engine
    debt1, debt2 = e.time_debts
    return [("payment_mode", _name(e.config.payment_mode)),
            ("meter_balance", money(e.meter_balance)),
            ("emergency_credit_balance", money(e.emergency_credit_balance)),
            ("emergency_credit_state", _name(e.emergency_credit_state)),
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
             ("billing_period_cost", money(e.billing_period_cost))]
    return rows


def _supply(unit: EsmeBoard) -> Table:
    return [("supply_state", _name(unit.engine.supply_state)),
            ("load", f"{unit.power_kw():g} kW"),
            ("load_limit_counter", str(unit.engine.load_limit_counter))]


def _device_log(lab: Lab) -> Table:
    names = {b.eui: b.name for b in lab.premises.boards}
    return [(entry.eui.hex().upper(), f"{names.get(entry.eui, '?')} (type "
                                      f"{entry.device_type})")
            for entry in lab.hub.chf.device_log.entries()]


ESME_FIELDS: dict[str, Callable[[EsmeBoard], Table]] = {
    "credit": _credit, "registers": _registers, "supply": _supply}
FIELDS = [f"esme.{f}" for f in ESME_FIELDS] + ["chf.device_log", "time"]


def esme(lab: Lab, name: str) -> EsmeBoard:
    """The ESME whose board is called `name` ("esme" alone: the premises' first)."""
    for unit in lab.esmes.values():
        if unit.board.name == name:
            return unit
    if name == "esme" and lab.esmes:
        return next(iter(lab.esmes.values()))
    raise ExpressionError(f"{name!r}: no ESME of that name in the premises "
                          f"({', '.join(u.board.name for u in lab.esmes.values()) or 'none'})")


def evaluate(lab: Lab, expr: str) -> Table | str:
    """The value of `expr`: a table for a compound field, a string otherwise."""
    expr = expr.strip()
    if expr == "time":
        return lab.sim.now().isoformat()
    device, dot, field = expr.partition(".")
    if not dot or not field:
        raise ExpressionError(f"{expr!r}: expected DEVICE.FIELD (e.g. esme.credit) or time")
    board = next((b for b in lab.premises.boards if b.name == device), None)
    kind = board.type if board is not None else {"esme": DeviceType.ESME,
                                                 "chf": DeviceType.CHF}.get(device)
    if kind is DeviceType.CHF and field == "device_log":
        return _device_log(lab)
    if kind is not DeviceType.ESME:
        raise ExpressionError(f"{expr!r}: the debugger reads ESMEs (credit, registers, "
                              "supply, or any engine attribute) and chf.device_log")
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


def render(expr: str, value: Table | str) -> list[str]:
    """`expr = value`, or a heading and an aligned two-column table."""
    if isinstance(value, str):
        return [f"{expr} = {value}"]
    if not value:
        return [f"{expr}: (empty)"]
    width = max(len(k) for k, _ in value)
    return [f"{expr}:"] + [f"  {k.ljust(width)}  {v}" for k, v in value]


def watch_text(lab: Lab, expr: str) -> str:
    """A watched expression's value, as one comparable string."""
    value = evaluate(lab, expr)
    return value if isinstance(value, str) else "; ".join(f"{k}={v}" for k, v in value)
