"""TOU and block tariffs: the switching table (seasons, week and day profiles, special
days), prices per rate or per TOU x block, and the standing charge.

An ESME has up to 48 TOU rate registers; with a block tariff, up to 8 TOU rates times
4 blocks (the tariff block counter matrix), the block chosen by consumption since the
start of the billing period against up to 3 thresholds. Money is in the engine's
currency units (see `engine.MONEY_SCALER`); prices are currency units per kWh.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date, timedelta

from firmware.esme.engine.errors import EngineError, check_int

MAX_TOU_RATES = 48
MAX_BLOCK_TOU_RATES = 8
MAX_BLOCKS = 4
DAY_S = 86_400


@dataclass(frozen=True)
class DayProfile:
    """Switch points of one day: (seconds after midnight, TOU rate 1..48), the first at 0."""

    switches: tuple[tuple[int, int], ...]

    def validate(self, where: str, rates: int) -> None:
        if not self.switches or self.switches[0][0] != 0:
            raise EngineError(where, "a day profile starts with a switch at 00:00")
        last = -1
        for i, (at, rate) in enumerate(self.switches):
            check_int(f"{where}[{i}].time", at, 0, DAY_S - 1)
            check_int(f"{where}[{i}].rate", rate, 1, rates)
            if at <= last:
                raise EngineError(f"{where}[{i}].time", "switch times must increase")
            last = at


@dataclass(frozen=True)
class Season:
    """From (month, day) each year until the next season: day profile ids Monday..Sunday."""

    start: tuple[int, int]
    week: tuple[int, int, int, int, int, int, int]


@dataclass(frozen=True)
class SwitchingTable:
    """Which TOU rate applies when: seasons select a week profile, a special day overrides
    the week with its own day profile."""

    day_profiles: dict[int, DayProfile]
    seasons: tuple[Season, ...]
    special_days: dict[date, int] = field(default_factory=dict)

    def validate(self, rates: int) -> None:
        if not self.seasons:
            raise EngineError("switching.seasons", "at least one season is needed")
        for pid, profile in self.day_profiles.items():
            profile.validate(f"switching.day_profiles[{pid}]", rates)
        for i, season in enumerate(self.seasons):
            month, day = season.start
            check_int(f"switching.seasons[{i}].start.month", month, 1, 12)
            check_int(f"switching.seasons[{i}].start.day", day, 1, 31)
            if len(season.week) != 7:
                raise EngineError(f"switching.seasons[{i}].week", "needs 7 day profiles")
            for pid in season.week:
                if pid not in self.day_profiles:
                    raise EngineError(f"switching.seasons[{i}].week", f"no day profile {pid}")
        for day, pid in self.special_days.items():
            if pid not in self.day_profiles:
                raise EngineError(f"switching.special_days[{day}]", f"no day profile {pid}")

    def day_profile(self, day: date) -> DayProfile:
        if day in self.special_days:
            return self.day_profiles[self.special_days[day]]
        starts = sorted(self.seasons, key=lambda s: s.start)
        key = (day.month, day.day)
        season = starts[-1]  # a date before the first start is in last year's last season
        for candidate in starts:
            if candidate.start <= key:
                season = candidate
        return self.day_profiles[season.week[day.weekday()]]

    def switch_times(self, first_day: date, days: int, offset_s: int,
                     epoch_day: int) -> list[tuple[int, int]]:
        """(POSIX second, rate) of every switch from `first_day` for `days` days, each moved
        later by the randomised offset; `epoch_day` is first_day's days since 1970-01-01."""
        out = []
        for n in range(days):
            base = (epoch_day + n) * DAY_S + offset_s
            for at, rate in self.day_profile(first_day + timedelta(days=n)).switches:
                out.append((base + at, rate))
        return out


@dataclass(frozen=True)
class Tariff:
    """Prices and switching: a TOU tariff (`prices[rate-1]`), or a block tariff when
    `block_thresholds` is given (`block_prices[rate-1][block]`, thresholds in Wh)."""

    switching: SwitchingTable
    prices: tuple[int, ...] = ()
    standing_charge: int = 0                    # currency units per day
    block_thresholds: tuple[int, ...] = ()      # Wh since the billing period started
    block_prices: tuple[tuple[int, ...], ...] = ()

    @property
    def is_block(self) -> bool:
        return bool(self.block_thresholds)

    @property
    def rates(self) -> int:
        return len(self.block_prices) if self.is_block else len(self.prices)

    def validate(self) -> None:
        check_int("tariff.standing_charge", self.standing_charge, 0)
        if self.is_block:
            if not 1 <= len(self.block_thresholds) < MAX_BLOCKS:
                raise EngineError("tariff.block_thresholds", "1 to 3 thresholds")
            last = 0
            for i, threshold in enumerate(self.block_thresholds):
                check_int(f"tariff.block_thresholds[{i}]", threshold, last + 1)
                last = threshold
            if not 1 <= len(self.block_prices) <= MAX_BLOCK_TOU_RATES:
                raise EngineError("tariff.block_prices", "1 to 8 TOU rates of block prices")
            for r, row in enumerate(self.block_prices):
                if len(row) != len(self.block_thresholds) + 1:
                    raise EngineError(f"tariff.block_prices[{r}]",
                                      "one price per block (thresholds + 1)")
                for b, price in enumerate(row):
                    check_int(f"tariff.block_prices[{r}][{b}]", price, 0)
        else:
            if not 1 <= len(self.prices) <= MAX_TOU_RATES:
                raise EngineError("tariff.prices", "1 to 48 TOU rate prices")
            for r, price in enumerate(self.prices):
                check_int(f"tariff.prices[{r}]", price, 0)
        self.switching.validate(self.rates)

    def price(self, rate: int, block: int) -> int:
        if self.is_block:
            return self.block_prices[rate - 1][block]
        return self.prices[rate - 1]

    def block_of(self, consumed_wh: int) -> int:
        """The block (0-3) that consumption `consumed_wh` into the billing period is in."""
        return bisect_right(self.block_thresholds, consumed_wh)

    # persistence (JSON-like, as the store keeps it)

    def to_json(self) -> dict:
        sw = self.switching
        return {
            "prices": list(self.prices), "standing_charge": self.standing_charge,
            "block_thresholds": list(self.block_thresholds),
            "block_prices": [list(row) for row in self.block_prices],
            "day_profiles": {str(k): [list(s) for s in v.switches]
                             for k, v in sw.day_profiles.items()},
            "seasons": [[list(s.start), list(s.week)] for s in sw.seasons],
            "special_days": {d.isoformat(): p for d, p in sw.special_days.items()},
        }

    @classmethod
    def from_json(cls, obj: dict) -> Tariff:
        switching = SwitchingTable(
            {int(k): DayProfile(tuple((a, r) for a, r in v))
             for k, v in obj["day_profiles"].items()},
            tuple(Season((s[0][0], s[0][1]), tuple(s[1])) for s in obj["seasons"]),
            {date.fromisoformat(d): p for d, p in obj["special_days"].items()})
        return cls(switching, tuple(obj["prices"]), obj["standing_charge"],
                   tuple(obj["block_thresholds"]),
                   tuple(tuple(row) for row in obj["block_prices"]))


def two_rate(day_price: int, night_price: int, night_start_s: int = 0,
             day_start_s: int = 7 * 3600, standing_charge: int = 0) -> Tariff:
    """An Economy-7-like two-rate TOU tariff: rate 2 (night) from `night_start_s` after
    midnight, rate 1 (day) from `day_start_s`, every day of the year."""
    midnight_rate = 2 if not 0 < night_start_s < day_start_s else 1
    points = {0: midnight_rate, night_start_s: 2, day_start_s: 1}
    switches = tuple(sorted(points.items()))
    table = SwitchingTable({1: DayProfile(switches)}, (Season((1, 1), (1,) * 7),))
    return Tariff(table, (day_price, night_price), standing_charge)


def single_rate(price: int, standing_charge: int = 0) -> Tariff:
    table = SwitchingTable({1: DayProfile(((0, 1),))}, (Season((1, 1), (1,) * 7),))
    return Tariff(table, (price,), standing_charge)
