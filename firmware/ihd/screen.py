"""What a Type 2 device shows: per fuel, the figures a GB IHD displays (power now, the
meter reading, today's use and cost, the price and rate, credit and debt in
prepayment), the supplier's message, and the tenancy start the meter keeps.

A figure is None until read; a figure the meter refused (NOT_AUTHORIZED: a period
before the tenancy start) is None and named in `hidden`. Money is in pence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class Fuel:
    """One fuel's figures, from the last reads of its meter (the ESME, or the GPF for
    gas)."""

    name: str
    source: tuple[int, int] | None = None    # (short address, endpoint) of the meter
    reads: int = 0
    updated: datetime | None = None
    power_kw: float | None = None
    unit: str = "kWh"
    total: float | None = None                # the meter reading, in `unit`
    today: float | None = None                # today's use, in `unit`
    yesterday: float | None = None
    kwh_per_unit: float | None = None         # 1 for kWh; gas: from CV and CF
    today_cost_p: float | None = None
    yesterday_cost_p: float | None = None
    supply: str = "?"
    price_p_per_kwh: float | None = None
    rate: int | None = None
    standing_charge_p: float | None = None
    prepayment: bool = False
    credit_p: float | None = None
    emergency_credit_p: float | None = None
    debt_p: float | None = None
    tariff: str | None = None                 # the calendar's name
    history: list[float] = field(default_factory=list)  # half hours, in `unit`, oldest first
    history_end: datetime | None = None       # when the last half hour of it ended
    hidden: set[str] = field(default_factory=set)

    @property
    def total_kwh(self) -> float | None:
        return self._kwh(self.total)

    @property
    def today_kwh(self) -> float | None:
        return self._kwh(self.today)

    @property
    def yesterday_kwh(self) -> float | None:
        return self._kwh(self.yesterday)

    def _kwh(self, amount: float | None) -> float | None:
        if amount is None or self.kwh_per_unit is None:
            return None
        return amount * self.kwh_per_unit

    def lines(self) -> list[str]:
        if self.source is None:
            return [f"{self.name}: no meter found"]
        if self.reads == 0:
            return [f"{self.name}: no reading yet"]
        line = f"{self.name}:"
        if self.power_kw is not None:
            line += f" now {self.power_kw:.2f} kW,"
        line += f" today {_num(self.today_kwh, '.3f')} kWh {_pounds(self.today_cost_p)}"
        if self.price_p_per_kwh is not None:
            line += f", {self.price_p_per_kwh:.2f} p/kWh"
            if self.rate is not None:
                line += f" (rate {self.rate})"
        line += f", supply {self.supply}"
        out = [line]
        if self.prepayment:
            out.append(f"{self.name} credit {_pounds(self.credit_p)}, emergency credit "
                       f"{_pounds(self.emergency_credit_p)}, debt {_pounds(self.debt_p)}")
        if self.hidden:
            out.append(f"{self.name}: {', '.join(sorted(self.hidden))} hidden (tenancy)")
        return out


@dataclass(frozen=True)
class Message:
    """A supplier message on the display."""

    id: int
    text: str
    received: datetime
    confirmed: bool = False


@dataclass
class Screen:
    """The display. Its first page is electricity: `power_kw`, `today_kwh` and the
    rest at the top level read the electricity figures."""

    electricity: Fuel = field(default_factory=lambda: Fuel("electricity"))
    gas: Fuel = field(default_factory=lambda: Fuel("gas", unit="m3"))
    message: Message | None = None
    tenancy_start: datetime | None = None

    @property
    def reads(self) -> int:
        return self.electricity.reads

    @property
    def updated(self) -> datetime | None:
        return self.electricity.updated

    @property
    def power_kw(self) -> float | None:
        return self.electricity.power_kw

    @property
    def total_kwh(self) -> float | None:
        return self.electricity.total_kwh

    @property
    def today_kwh(self) -> float | None:
        return self.electricity.today_kwh

    @property
    def today_cost_p(self) -> float | None:
        return self.electricity.today_cost_p

    @property
    def supply(self) -> str:
        return self.electricity.supply

    def lines(self) -> list[str]:
        out = [*self.electricity.lines()]
        if self.gas.source is not None:
            out += self.gas.lines()
        if self.message is not None:
            out.append(f"message: {self.message.text}")
        return out


def _num(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _pounds(pence: float | None) -> str:
    return "£-" if pence is None else f"£{pence / 100:,.2f}"
