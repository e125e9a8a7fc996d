"""Prepayment: credit, emergency credit, debt and the non-disablement calendar.

All amounts are integers in the engine's currency units. The meter balance is the
consumer's own credit; it may go below zero only by charges taken while the supply
cannot be disabled (or after emergency credit is exhausted): that is accumulated debt,
paid back first by the next top-up. Emergency credit (EC) becomes available when the
meter balance falls below the EC threshold; once the consumer activates it, charges the
meter balance cannot cover come out of the EC balance, and top-ups repay the EC used
before adding to the meter balance. Time debts (two registers) are recovered at a rate
per hour or per day, payment debt as a percentage of each top-up up to a cap.

In credit mode the meter balance is a prepayment register nobody draws on: consumption
and standing charges are billed (cost registers) but not taken from it, and no debt is
recovered. A switch to prepayment starts from the balance as it stands (top-ups made in
credit mode included).
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from datetime import date

from firmware.esme.engine.codes import Alert
from firmware.esme.engine.errors import EngineError, check_int

DAY_S = 86_400
HOUR_S = 3_600


class PaymentMode(enum.IntEnum):
    CREDIT = 0
    PREPAYMENT = 1


class EmergencyCredit(enum.IntEnum):
    NOT_AVAILABLE = 0
    AVAILABLE = 1
    ACTIVE = 2
    EXHAUSTED = 3


@dataclass(frozen=True)
class CreditConfig:
    """The supplier's prepayment settings (thresholds and limits in currency units)."""

    low_credit_threshold: int = 100_000
    disablement_threshold: int = 0
    emergency_credit_limit: int = 500_000
    emergency_credit_threshold: int = 100_000
    max_meter_balance: int = 100_000_000
    max_credit_threshold: int = 20_000_000     # the largest single top-up
    time_debt_rates: tuple[int, int] = (0, 0)  # currency units per recovery period
    time_debt_periods_s: tuple[int, int] = (DAY_S, DAY_S)  # HOUR_S or DAY_S each
    payment_debt_percent: int = 0
    payment_debt_cap: int = 0                  # most taken from one top-up (0: no cap)

    def validate(self) -> None:
        for name in ("low_credit_threshold", "emergency_credit_limit",
                     "emergency_credit_threshold", "max_meter_balance",
                     "max_credit_threshold", "payment_debt_cap"):
            check_int(f"credit.{name}", getattr(self, name), 0)
        check_int("credit.disablement_threshold", self.disablement_threshold)
        check_int("credit.payment_debt_percent", self.payment_debt_percent, 0, 100)
        for i in (0, 1):
            check_int(f"credit.time_debt_rates[{i}]", self.time_debt_rates[i], 0)
            if self.time_debt_periods_s[i] not in (HOUR_S, DAY_S):
                raise EngineError(f"credit.time_debt_periods_s[{i}]", "3600 or 86400")

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, obj: dict) -> CreditConfig:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in obj.items()})


@dataclass
class Credit:
    """The credit registers (persisted with the meter's state)."""

    meter_balance: int = 0
    emergency_credit_balance: int = 0
    emergency_credit: int = EmergencyCredit.NOT_AVAILABLE
    time_debts: list[int] = field(default_factory=lambda: [0, 0])
    payment_debt: int = 0
    time_debt_remainders: list[int] = field(default_factory=lambda: [0, 0])
    low_credit: bool = False

    @property
    def combined(self) -> int:
        """Meter balance plus emergency credit in use: what the thresholds compare."""
        active = self.emergency_credit == EmergencyCredit.ACTIVE
        return self.meter_balance + (self.emergency_credit_balance if active else 0)

    def charge(self, amount: int, alerts: list[int]) -> None:
        """Take `amount` off the credit, from EC once the meter balance is spent."""
        self.meter_balance -= amount
        if self.meter_balance < 0 and self.emergency_credit == EmergencyCredit.ACTIVE:
            cover = min(-self.meter_balance, self.emergency_credit_balance)
            self.emergency_credit_balance -= cover
            self.meter_balance += cover
            if self.emergency_credit_balance == 0:
                self.emergency_credit = EmergencyCredit.EXHAUSTED
                alerts.append(Alert.EMERGENCY_CREDIT_EXHAUSTED)

    def recover_time_debt(self, cfg: CreditConfig, seconds: int, alerts: list[int]) -> None:
        for i in (0, 1):
            if not self.time_debts[i] or not cfg.time_debt_rates[i]:
                continue
            due, self.time_debt_remainders[i] = divmod(
                cfg.time_debt_rates[i] * seconds + self.time_debt_remainders[i],
                cfg.time_debt_periods_s[i])
            take = min(due, self.time_debts[i])
            if take:
                self.time_debts[i] -= take
                self.charge(take, alerts)
                if not self.time_debts[i]:
                    self.time_debt_remainders[i] = 0
                    alerts.append(Alert.DEBT_COLLECTED_TIME_DEBT_1 if i == 0
                                  else Alert.DEBT_COLLECTED_TIME_DEBT_2)

    def add(self, cfg: CreditConfig, amount: int, alerts: list[int]) -> int:
        """Apply a top-up: payment debt share, then EC repayment, then the meter balance.
        Returns the payment debt recovered."""
        share = min(amount * cfg.payment_debt_percent // 100, self.payment_debt)
        if cfg.payment_debt_cap:
            share = min(share, cfg.payment_debt_cap)
        self.payment_debt -= share
        if share and not self.payment_debt:
            alerts.append(Alert.DEBT_COLLECTED_PAYMENT_DEBT)
        rest = amount - share
        if self.emergency_credit in (EmergencyCredit.ACTIVE, EmergencyCredit.EXHAUSTED):
            used = cfg.emergency_credit_limit - self.emergency_credit_balance
            repay = min(rest, used)
            self.emergency_credit_balance += repay
            rest -= repay
            if repay == used:
                self.emergency_credit_balance = 0
                self.emergency_credit = EmergencyCredit.NOT_AVAILABLE
            elif self.emergency_credit == EmergencyCredit.EXHAUSTED:
                self.emergency_credit = EmergencyCredit.ACTIVE
        self.meter_balance += rest
        return share

    def check(self, cfg: CreditConfig, alerts: list[int]) -> None:
        """Raise the threshold alerts: low credit and EC available, once per crossing."""
        low = self.combined < cfg.low_credit_threshold
        if low and not self.low_credit:
            alerts.append(Alert.LOW_CREDIT)
        self.low_credit = low
        if self.emergency_credit == EmergencyCredit.NOT_AVAILABLE \
                and cfg.emergency_credit_limit \
                and self.meter_balance < cfg.emergency_credit_threshold:
            self.emergency_credit = EmergencyCredit.AVAILABLE
            alerts.append(Alert.EMERGENCY_CREDIT_AVAILABLE)

    def to_json(self) -> dict:
        return {k: list(v) if isinstance(v, list) else v for k, v in vars(self).items()}

    @classmethod
    def from_json(cls, obj: dict) -> Credit:
        return cls(**obj)


@dataclass(frozen=True)
class NonDisablementCalendar:
    """Periods in which the supply is not disabled for lack of credit: weekly windows
    (weekday 0=Monday, start and end seconds after midnight) and whole special days."""

    weekly: tuple[tuple[int, int, int], ...] = ()
    special_days: tuple[date, ...] = ()

    def validate(self) -> None:
        for i, (weekday, start, end) in enumerate(self.weekly):
            check_int(f"non_disablement.weekly[{i}].weekday", weekday, 0, 6)
            check_int(f"non_disablement.weekly[{i}].start", start, 0, DAY_S - 1)
            check_int(f"non_disablement.weekly[{i}].end", end, start + 1, DAY_S)

    def contains(self, t: int) -> bool:
        days, second = divmod(t, DAY_S)
        if self.special_days and date.fromordinal(days + 719_163) in self.special_days:
            return True
        weekday = (days + 3) % 7  # 1970-01-01 was a Thursday
        return any(w == weekday and start <= second < end for w, start, end in self.weekly)

    def to_json(self) -> dict:
        return {"weekly": [list(w) for w in self.weekly],
                "special_days": [d.isoformat() for d in self.special_days]}

    @classmethod
    def from_json(cls, obj: dict) -> NonDisablementCalendar:
        return cls(tuple(tuple(w) for w in obj["weekly"]),
                   tuple(date.fromisoformat(d) for d in obj["special_days"]))
