"""What an ESME keeps in non-volatile memory between commits (`MeterState`), and the
plan of a whole day of a daily-periodic load (`DayPlan`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from firmware.esme.engine.config import DAY_S, HALF_HOUR_S, MAX_ALCS
from firmware.esme.engine.metrology import Energy
from firmware.esme.engine.prepayment import Credit
from firmware.esme.engine.supply import DisableReason, SupplyState
from firmware.esme.engine.tariff import MAX_BLOCK_TOU_RATES, MAX_BLOCKS, MAX_TOU_RATES


class MeterState:
    """Everything the meter keeps in NVM (one store record). Energies in mWh."""

    def __init__(self, t: int) -> None:
        self.t = t                        # device time accumulated up to
        self.imp = self.exp = self.rimp = self.rexp = self.sec = 0
        self.phases = [0, 0, 0]
        self.tou = [0] * MAX_TOU_RATES
        self.matrix = [0] * (MAX_BLOCK_TOU_RATES * MAX_BLOCKS)
        self.block_period = 0             # mWh imported since the billing period began
        self.cost_rem = 0                 # cost remainder, currency units x 10^6
        self.standing_rem = 0             # standing charge remainder, units x seconds
        self.cost_total = 0               # all charges ever (currency units)
        self.billing_cost = 0             # charges this billing period
        self.supply = int(SupplyState.ENABLED)
        self.disable_reason = int(DisableReason.NONE)
        self.disable_suspended = False
        self.md_window = [0, 0]           # import / export mWh in the current window
        self.md_recent: list[int] = []    # import mWh of recent ticks (window > tick)
        self.md_recent_exp: list[int] = []
        self.md = [0, 0, 0, 0]            # max import W, its time, max export W, its time
        self.load_limit_counter = 0
        self.load_limit_above = False
        self.load_limit_from = [t, 0]     # time and import (mWh) of the last check
        self.sags = [0, 0, 0, 0]          # per phase (0 = single phase)
        self.swells = [0, 0, 0, 0]
        self.average_flags = [0, 0, 0, 0]  # per phase: 1 over, -1 under, 0 normal
        self.utrn_counters: list[int] = []
        self.randomised_offset = 0
        self.clock_offset = 0
        self.alcs = [False] * MAX_ALCS
        self.boost_until = 0
        self.powered = True
        self.outage_start = 0
        self.day_t = t - t % HALF_HOUR_S  # start of the day's profile block
        self.day_start_imp = 0            # import register (mWh) at the day's start
        self.captured = [0, 0, 0]         # import, export, reactive import Wh at capture
        self.pi: list[int] = []
        self.pe: list[int] = []
        self.pr: list[int] = []

    def to_json(self, credit: Credit) -> dict:
        out = {k: list(v) if isinstance(v, list) else v for k, v in vars(self).items()}
        out["credit"] = credit.to_json()
        return out

    def record(self, credit: Credit) -> bytes:
        """The store record: the state's JSON text, as one bytes value (the store tags
        each JSON node one by one, and this record is written every simulated day)."""
        return json.dumps(self.to_json(credit), separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, obj: dict | bytes) -> tuple[MeterState, Credit]:
        if isinstance(obj, bytes):
            obj = json.loads(obj)
        state = cls(obj["t"])
        vars(state).update({k: v for k, v in obj.items() if k != "credit"})
        return state, Credit.from_json(obj["credit"])


@dataclass(frozen=True)
class DayPlan:
    """A day of a daily-periodic load under one switching: what `_whole_day` adds."""

    totals: tuple[int, ...]                      # as `metrology.Energy`
    by_rate: tuple[tuple[int, int], ...]         # (rate, import mWh)
    cost: int                                    # sum of import mWh x price
    cumulative: tuple[tuple[int, ...], ...]      # import, export, reactive at each half hour
    md: tuple[int, int, int, int]                # max import W, its offset, export W, offset

    @classmethod
    def measure(cls, energy: Callable[[int, int], Energy], prices: tuple[int, ...], t: int,
                rate: int, switches: list[tuple[int, int]]) -> DayPlan:
        """Cut the day from midnight `t` at half hours and `switches` ((second of the day,
        rate)), `rate` in force at midnight, as `MeterEngine._advance` would."""
        totals = [0] * 8
        by_rate: dict[int, int] = {}
        cost = 0
        cumulative: tuple[list[int], list[int], list[int]] = ([], [], [])
        md = [0, 0, 0, 0]
        points = sorted({*range(HALF_HOUR_S, DAY_S + 1, HALF_HOUR_S),
                         *(at for at, _ in switches if at > 0)})
        rates = dict(switches)
        start = 0
        window = [0, 0]
        for end in points:
            if start in rates:
                rate = rates[start]
            e = energy(t + start, t + end)
            totals = [a + b for a, b in zip(totals, e)]
            by_rate[rate] = by_rate.get(rate, 0) + e[0]
            cost += e[0] * prices[rate - 1]
            window[0] += e[0]
            window[1] += e[1]
            if not end % HALF_HOUR_S:
                for series, value in zip(cumulative, (totals[0], totals[1], totals[2])):
                    series.append(value)
                imp_w, exp_w = (w * 36 // (HALF_HOUR_S * 10) for w in window)
                if imp_w > md[0]:
                    md[0], md[1] = imp_w, end
                if exp_w > md[2]:
                    md[2], md[3] = exp_w, end
                window = [0, 0]
            start = end
        return cls(tuple(totals), tuple(by_rate.items()), cost,
                   tuple(tuple(c) for c in cumulative), tuple(md))
