"""`smetslab bench esme`: simulated meter-years per wall second for an ESME on a two-rate
TOU tariff (randomised offset) in prepayment mode with half-hourly profiles, daily logs
and a weekly top-up, against a bare simulator running the same half-hourly events with
nothing behind them, measured in the same run.

The store is a file with `synchronous=OFF`: the bench measures the engine and its SQLite
work, not the disk's flush latency (the durability test uses FULL, where each daily
commit waits for the disk). Writes are counted at the store interface: each put or log
append is one write; a commit is one transaction.

Goal (issue 3): at least 5 meter-years per second.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from boards.board import LoadProfile
from boards.nvm import SqliteStore
from boards.peripherals import VirtualContactor
from boards.simulator import Simulator
from firmware.esme.engine import (CreditConfig, EngineConfig, LoadModel, MeterEngine,
                                  PaymentMode, two_rate)

GOAL_METER_YEARS_PER_S = 5.0
START = datetime(2026, 1, 1, tzinfo=UTC)
HALF_HOURS_PER_YEAR = 17_520
# A GB household: ~3,100 kWh a year, heavier in the evening; a little PV export.
_HOUSE_KW = (0.25,) * 14 + (0.45,) * 4 + (0.35,) * 16 + (0.7,) * 10 + (0.6,) * 4
_PV_KW = (0.0,) * 16 + (0.4,) * 16 + (0.0,) * 16


class CountingStore(SqliteStore):
    """A SqliteStore that counts the writes and transactions asked of it."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.writes = 0
        self.transactions = 0

    def put(self, key, value) -> None:
        self.writes += 1
        super().put(key, value)

    def append(self, log, value) -> int:
        self.writes += 1
        return super().append(log, value)

    def transaction(self):
        if not self.in_transaction:
            self.transactions += 1
        return super().transaction()


def meter_year(folder: Path, n: int) -> dict:
    """One simulated year of one meter; wall seconds, writes and transactions in it."""
    sim = Simulator(START, seed=n, keep_trace=False)
    store = CountingStore(folder / f"esme{n}.db", synchronous="OFF")
    load = LoadModel(LoadProfile(_HOUSE_KW), LoadProfile(_PV_KW), power_factor=0.95,
                     daily_periodic=True)
    engine = MeterEngine(sim, store, load, rng=sim.random, contactor=VirtualContactor(sim))
    engine.set_tariff(two_rate(27_000, 12_000, standing_charge=55_000))
    engine.set_credit_config(CreditConfig())
    engine.configure(EngineConfig(payment_mode=PaymentMode.PREPAYMENT,
                                  randomised_offset_limit_s=1800))
    engine.top_up(5_000_000)

    def weekly_top_up() -> None:
        engine.top_up(2_500_000)
        sim.schedule(weekly_top_up, "consumer.top_up", after=timedelta(days=7))

    sim.schedule(weekly_top_up, "consumer.top_up", after=timedelta(days=7))
    writes, transactions = store.writes, store.transactions
    start = time.perf_counter()
    sim.run_until(START + timedelta(days=365))
    engine.refresh()
    elapsed = time.perf_counter() - start
    result = {"seconds": elapsed, "writes": store.writes - writes,
              "transactions": store.transactions - transactions,
              "events": sim.events_run, "import_kwh": engine.active_import_wh / 1000,
              "profile_entries": len(engine.profile("active_import")),
              "supply": engine.supply_state.name}
    store.close()
    return result


def bare_year() -> float:
    """Wall seconds for the simulator alone to run a year of half-hourly events."""
    sim = Simulator(START, keep_trace=False)
    step = timedelta(minutes=30)

    def tick() -> None:
        sim.schedule(tick, "esme.tick", after=step)

    sim.schedule(tick, "esme.tick", after=step)
    start = time.perf_counter()
    sim.run_until(START + timedelta(days=365))
    return time.perf_counter() - start


def run(meters: int = 5) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        years = [meter_year(Path(tmp), n) for n in range(meters)]
    bare = statistics.median(bare_year() for _ in range(meters))
    seconds = statistics.median(y["seconds"] for y in years)
    rate = 1.0 / seconds
    return {
        "meters": meters,
        "seconds_per_meter_year": round(seconds, 4),
        "seconds_per_meter_year_min": round(min(y["seconds"] for y in years), 4),
        "meter_years_per_s": round(rate, 2),
        "sqlite_writes_per_day": round(statistics.mean(y["writes"] for y in years) / 365, 2),
        "transactions_per_day": round(statistics.mean(y["transactions"] for y in years)
                                      / 365, 2),
        "simulator_events_per_year": years[0]["events"],
        "half_hours_per_year": HALF_HOURS_PER_YEAR,
        "profile_entries": years[0]["profile_entries"],
        "import_kwh_per_year": round(years[0]["import_kwh"], 1),
        "supply_at_end": years[0]["supply"],
        "bare_simulator_year_s": round(bare, 4),
        "ratio_to_bare_simulator": round(seconds / bare, 2),
        "goal_meter_years_per_s": GOAL_METER_YEARS_PER_S,
        "meets_goal": rate >= GOAL_METER_YEARS_PER_S,
    }


def report(result: dict) -> str:
    return (f"ESME, two-rate TOU, prepayment, half-hourly profiles; {result['meters']} "
            f"meter-years\n"
            f"one meter-year      {result['seconds_per_meter_year']:>8.3f} s  = "
            f"{result['meter_years_per_s']:.2f} meter-years/s "
            f"(goal >= {result['goal_meter_years_per_s']:.0f})\n"
            f"bare simulator year {result['bare_simulator_year_s']:>8.3f} s  "
            f"({result['half_hours_per_year']:,} half-hourly events; a meter-year = "
            f"{result['ratio_to_bare_simulator']:.2f} x)\n"
            f"SQLite writes/day   {result['sqlite_writes_per_day']:>8.2f}    "
            f"({result['transactions_per_day']:.2f} transactions/day; "
            f"{result['profile_entries']:,} profile entries kept)\n"
            f"{'meets' if result['meets_goal'] else 'MISSES'} the goal")
