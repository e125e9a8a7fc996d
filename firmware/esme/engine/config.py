"""The supplier's settings for an ESME other than its tariff and credit settings, and
the engine's units."""

from __future__ import annotations

from dataclasses import dataclass

from firmware.esme.engine.errors import EngineError, check_int
from firmware.esme.engine.prepayment import NonDisablementCalendar, PaymentMode
from firmware.esme.engine.supply import AlcsSchedule, LoadLimitConfig, VoltageConfig

MONEY_SCALER = -5          # currency units are 10^-5 GBP
UNITS_PER_PENNY = 1000
DAY_S = 86_400
HALF_HOUR_S = 1800
MAX_RANDOMISED_OFFSET_S = 3600
MAX_ALCS = 5


@dataclass(frozen=True)
class EngineConfig:
    """The supplier's settings that are not the tariff or the credit settings."""

    payment_mode: PaymentMode = PaymentMode.CREDIT
    billing_day: int = 1                  # day of month billing data is captured, 0: none
    max_demand_window_s: int = HALF_HOUR_S
    randomised_offset_limit_s: int = 0
    boost_s: int = 3600
    load_limit: LoadLimitConfig = LoadLimitConfig()
    voltage: VoltageConfig = VoltageConfig()
    non_disablement: NonDisablementCalendar = NonDisablementCalendar()
    alcs_schedules: tuple[AlcsSchedule, ...] = ()

    def validate(self) -> None:
        check_int("billing_day", self.billing_day, 0, 28)
        w = check_int("max_demand_window_s", self.max_demand_window_s, 60, DAY_S)
        if DAY_S % w or (HALF_HOUR_S % w and w % HALF_HOUR_S):
            raise EngineError("max_demand_window_s", f"{w} s does not divide a day into "
                              "periods that fit the half hour")
        check_int("randomised_offset_limit_s", self.randomised_offset_limit_s, 0,
                  MAX_RANDOMISED_OFFSET_S)
        check_int("boost_s", self.boost_s, 60, DAY_S)
        self.load_limit.validate()
        self.voltage.validate()
        self.non_disablement.validate()
        if len(self.alcs_schedules) > MAX_ALCS:
            raise EngineError("alcs_schedules", f"at most {MAX_ALCS} switches")
        for i, schedule in enumerate(self.alcs_schedules):
            schedule.validate(f"alcs_schedules[{i}]")

    def to_json(self) -> dict:
        return {"payment_mode": int(self.payment_mode), "billing_day": self.billing_day,
                "max_demand_window_s": self.max_demand_window_s,
                "randomised_offset_limit_s": self.randomised_offset_limit_s,
                "boost_s": self.boost_s, "load_limit": self.load_limit.to_json(),
                "voltage": self.voltage.to_json(),
                "non_disablement": self.non_disablement.to_json(),
                "alcs_schedules": [[list(p) for p in s.points] for s in self.alcs_schedules]}

    @classmethod
    def from_json(cls, obj: dict) -> EngineConfig:
        return cls(PaymentMode(obj["payment_mode"]), obj["billing_day"],
                   obj["max_demand_window_s"], obj["randomised_offset_limit_s"],
                   obj["boost_s"], LoadLimitConfig(**obj["load_limit"]),
                   VoltageConfig(**obj["voltage"]),
                   NonDisablementCalendar.from_json(obj["non_disablement"]),
                   tuple(AlcsSchedule(tuple((a, bool(on)) for a, on in s))
                         for s in obj["alcs_schedules"]))
