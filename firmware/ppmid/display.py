"""What the PPMID shows: per fuel, the credit, debt, emergency credit and supply state it
last read from the meter (the ESME over the HAN, the GSME through the GPF's mirror),
the alerts a GB prepayment display raises from them, and the outcome of the consumer's
last action.

Money is in 1/1000 pence, as the meters' ZSE Prepayment attributes carry it.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from enum import Enum

# ZSE Prepayment CreditStatus bits.
CREDIT_OK, LOW_CREDIT, EC_ENABLED, EC_AVAILABLE, EC_SELECTED, EC_IN_USE, EXHAUSTED = (
    0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40)
SUPPLY_NAMES = {0: "off", 1: "armed", 2: "on"}


class Fuel(str, Enum):
    ELECTRICITY = "electricity"
    GAS = "gas"


class Alert(str, Enum):
    """The alerts the PPMID shows (GB prepayment display wording, shortened)."""

    LOW_CREDIT = "low credit"
    EMERGENCY_CREDIT_AVAILABLE = "emergency credit available"
    EMERGENCY_CREDIT_IN_USE = "emergency credit in use"
    CREDIT_EXHAUSTED = "credit exhausted"
    SUPPLY_OFF = "supply off"
    SUPPLY_ARMED = "supply armed: press enable"
    DEBT = "debt to repay"
    NO_DATA = "no data from the meter"


@dataclass
class MeterView:
    """What the PPMID knows of one meter's prepayment state."""

    prepayment: bool | None = None   # the meter's payment mode (None: not read yet)
    credit: int | None = None
    emergency_credit: int | None = None
    credit_status: int | None = None
    debt: int | None = None
    low_credit_level: int | None = None
    supply: str | None = None
    updated: _dt.datetime | None = None
    reported_at: _dt.datetime | None = None  # when the meter itself last told the credit
    reads: int = 0

    @property
    def emergency_credit_available(self) -> bool:
        return bool(self.credit_status is not None and self.credit_status & EC_AVAILABLE)

    def alerts(self) -> list[Alert]:
        if self.updated is None:
            return [Alert.NO_DATA]
        out = []
        # Credit alerts mean something in prepayment mode only.
        status = (self.credit_status or 0) if self.prepayment else 0
        if status & EXHAUSTED:
            out.append(Alert.CREDIT_EXHAUSTED)
        elif status & LOW_CREDIT or (
                self.prepayment and self.credit is not None
                and self.low_credit_level is not None and self.credit < self.low_credit_level):
            out.append(Alert.LOW_CREDIT)
        if status & EC_AVAILABLE:
            out.append(Alert.EMERGENCY_CREDIT_AVAILABLE)
        if status & EC_IN_USE:
            out.append(Alert.EMERGENCY_CREDIT_IN_USE)
        if self.supply == "off":
            out.append(Alert.SUPPLY_OFF)
        elif self.supply == "armed":
            out.append(Alert.SUPPLY_ARMED)
        if self.debt:
            out.append(Alert.DEBT)
        return out


@dataclass
class Screen:
    """The PPMID's display: a view per fuel and the last message to the consumer."""

    meters: dict[Fuel, MeterView] = field(default_factory=dict)
    message: str = ""

    def view(self, fuel: Fuel) -> MeterView:
        return self.meters.setdefault(fuel, MeterView())

    def lines(self) -> list[str]:
        """The screen as text, one line per fuel, then the message."""
        out = []
        for fuel, view in sorted(self.meters.items(), key=lambda item: item[0].value):
            credit = "?" if view.credit is None else _money(view.credit)
            ec = "?" if view.emergency_credit is None else _money(view.emergency_credit)
            debt = "?" if view.debt is None else _money(view.debt)
            alerts = ", ".join(a.value for a in view.alerts()) or "ok"
            mode = {True: "prepayment", False: "credit"}.get(view.prepayment, "?")
            out.append(f"{fuel.value} ({mode}): credit {credit}, emergency {ec}, debt {debt}, "
                       f"supply {view.supply or '?'} [{alerts}]")
        if self.message:
            out.append(self.message)
        return out


def _money(thousandths_of_penny: int) -> str:
    pence = thousandths_of_penny / 1000
    return f"£{pence / 100:,.2f}"
