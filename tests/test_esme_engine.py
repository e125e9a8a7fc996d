"""The ESME metering engine in virtual time: profiles, tariffs, prepayment, supply,
quality of supply, persistence (including SIGKILL mid-run) and snapshots."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from boards.board import LoadProfile
from boards.nvm import MEMORY, SqliteStore
from boards.peripherals import VirtualButtons, VirtualContactor
from boards.simulator import Simulator
from firmware.esme.engine import (Alert, AlcsSchedule, CreditConfig, DayProfile,
                                  EmergencyCredit, EngineConfig, EngineError,
                                  LoadLimitConfig, LoadModel, MeterEngine,
                                  NonDisablementCalendar, PaymentMode, Season, SupplyState,
                                  SwitchingTable, Tariff, UtrnError, make_utrn,
                                  single_rate, two_rate)

START = datetime(2026, 1, 1, tzinfo=UTC)  # a Thursday
EUI = bytes.fromhex("0022080000000001")
KEY = bytes(range(16))
POUND = 100_000  # currency units


class Meter:
    """A simulator, a store and an engine on a virtual board, recording alerts."""

    def __init__(self, kw=(1.0,), *, path=MEMORY, seed=1, export=None, commit_every="day",
                 **model) -> None:
        self.sim = Simulator(START, seed=seed, keep_trace=False)
        self.store = SqliteStore(path)
        self.alerts: list[tuple[datetime, int]] = []
        self.contactor = VirtualContactor(self.sim)
        self.buttons = VirtualButtons(self.sim, ["A", "B", "boost"])
        load = LoadModel(LoadProfile(tuple(kw)),
                         LoadProfile(tuple(export)) if export else None,
                         daily_periodic=True, **model)
        self.engine = MeterEngine(self.sim, self.store, load, device_id=EUI,
                                  rng=self.sim.random, on_alert=self._alert,
                                  contactor=self.contactor, buttons=self.buttons,
                                  top_up_key=KEY, commit_every=commit_every)

    def _alert(self, code: int, detail) -> None:
        self.alerts.append((self.sim.now(), code))

    def codes(self) -> list[int]:
        return [code for _, code in self.alerts]

    def run(self, **delta) -> None:
        self.sim.run_for(timedelta(**delta))

    def prepay(self, credit: CreditConfig = CreditConfig(), price=20_000, **config) -> None:
        self.engine.set_tariff(single_rate(price))
        self.engine.set_credit_config(credit)
        self.engine.configure(EngineConfig(payment_mode=PaymentMode.PREPAYMENT, **config))


# -- metrology and profiles --------------------------------------------------------------


def test_a_year_of_half_hourly_profiles_bounded_to_13_and_3_months():
    shape = [0.2] * 16 + [0.8] * 32            # 100 Wh, then 400 Wh a half hour
    pv = [0.0] * 20 + [0.5] * 12 + [0.0] * 16  # 250 Wh a half hour at midday
    m = Meter(shape, export=pv, power_factor=0.8)
    m.run(days=400)
    e = m.engine
    daily_wh = 16 * 100 + 32 * 400
    assert e.active_import_wh == 400 * daily_wh
    assert e.active_export_wh == 400 * 12 * 250
    assert e.reactive_import_varh == 400 * daily_wh * 3 // 4  # tan(acos 0.8) = 0.75
    imp = e.profile("active_import")
    assert len(imp) == 18_720 and len(e.profile("active_export")) == 4_416
    assert len(e.profile("reactive_import")) == 4_416
    assert imp[-1][0] == START + timedelta(days=400, minutes=-30)
    assert imp[0][0] == START + timedelta(days=400) - 18_720 * timedelta(minutes=30)
    assert [v for _, v in imp[-48:]] == [100] * 16 + [400] * 32
    assert sum(v for _, v in imp) == 390 * daily_wh
    assert [v for _, v in e.profile("active_export")[-48:]] == [0] * 20 + [250] * 12 + \
        [0] * 16
    reads = e.log("daily_read")
    assert len(reads) == 400 and reads[-1]["import_wh"] == 400 * daily_wh
    assert {c["wh"] for c in e.log("daily_consumption")} == {daily_wh}
    assert e.max_demand_import[0] == 800 and e.max_demand_export[0] == 500


def test_twin_element_and_polyphase_registers():
    twin = Simulator(START)
    e = MeterEngine(twin, SqliteStore(), LoadModel(LoadProfile((1.0,)),
                                                   secondary=LoadProfile((2.0,))))
    twin.run_for(timedelta(hours=10))
    assert (e.active_import_wh, e.secondary_active_import_wh) == (10_000, 20_000)
    poly = Meter((3.0,), phase_shares=(0.5, 0.3, 0.2))
    poly.run(hours=10)
    assert poly.engine.phase_active_import_wh == (15_000, 9_000, 6_000)
    with pytest.raises(EngineError, match="phase_shares"):
        LoadModel(LoadProfile((1.0,)), phase_shares=(0.5, 0.2)).validate()


def test_reads_are_current_between_ticks():
    m = Meter((1.2,))
    m.run(minutes=10)
    assert m.engine.active_import_wh == 200  # 1.2 kW for 10 minutes, before any tick


def test_what_is_measured_does_not_depend_on_when_it_is_read():
    """Days with nothing to react to are measured whole; reading every 20 minutes makes
    the engine measure the same days period by period: the results must be identical."""
    runs = []
    for read_every in (None, timedelta(minutes=20)):
        m = Meter([0.3] * 14 + [1.1] * 20 + [0.6] * 14, export=[0.0] * 20 + [0.7] * 10 +
                  [0.0] * 18, power_factor=0.9, phase_shares=(0.5, 0.3, 0.2), seed=11)
        e = m.engine
        e.set_tariff(two_rate(31_000, 13_000, night_start_s=3600, day_start_s=8 * 3600,
                              standing_charge=53_000))
        e.set_credit_config(CreditConfig())
        e.configure(EngineConfig(payment_mode=PaymentMode.PREPAYMENT,
                                 randomised_offset_limit_s=1700))
        e.top_up(20_000_000)
        end = START + timedelta(days=9)
        while read_every and m.sim.now() < end:
            m.sim.run_for(read_every)
            e.refresh()
        m.sim.run_until(end)
        runs.append((e.active_import_wh, e.active_export_wh, e.reactive_import_varh,
                     e.phase_active_import_wh, e.tou_registers_wh, e.cost_total,
                     e.meter_balance, e.max_demand_import, e.max_demand_export,
                     e.profile("active_import"), e.profile("active_export"),
                     e.profile("reactive_import"), e.log("daily_read")))
    assert runs[0] == runs[1]
    assert runs[0][0] > 0 and runs[0][1] > 0


def test_maximum_demand_window_is_configurable():
    shape = [1.0] * 96
    shape[40] = 5.0  # one 15-minute slot at 5 kW, 10:00-10:15
    m = Meter(shape)
    m.engine.configure(EngineConfig(max_demand_window_s=900))
    m.run(days=1)
    assert m.engine.max_demand_import == (5000, START + timedelta(hours=10, minutes=15))
    m2 = Meter(shape)
    m2.run(days=1)
    assert m2.engine.max_demand_import[0] == 3000  # (5 + 1) / 2 over the half hour
    with pytest.raises(EngineError, match="max_demand_window_s"):
        m.engine.configure(EngineConfig(max_demand_window_s=700))


# -- tariffs ------------------------------------------------------------------------------


def test_tou_switch_happens_at_the_randomised_offset():
    m = Meter((1.0,), seed=7)
    e = m.engine
    e.set_tariff(two_rate(30_000, 10_000, night_start_s=0, day_start_s=7 * 3600))
    e.configure(EngineConfig(randomised_offset_limit_s=1800))
    offset = e.randomised_offset_s
    assert 0 <= offset <= 1800
    offsets = set()
    for seed in range(6):  # drawn from the simulator's seeded RNG
        other = Meter(seed=seed)
        other.engine.configure(EngineConfig(randomised_offset_limit_s=1800))
        offsets.add(other.engine.randomised_offset_s)
        if seed == 7:
            assert other.engine.randomised_offset_s == offset
    assert len(offsets) > 1
    # the night rate runs 00:00 + offset to 07:00 + offset (the day rate carries over)
    switch = START + timedelta(hours=7, seconds=offset)
    m.sim.run_until(switch - timedelta(seconds=36))
    assert e.current_rate == 2
    assert abs(e.tou_registers_wh[1] - (7 * 3600 - 36) * 1000 // 3600) <= 1  # 1 kW
    assert abs(e.tou_registers_wh[0] - offset * 1000 // 3600) <= 1
    m.sim.run_until(switch + timedelta(seconds=360))
    assert e.current_rate == 1 and e.tou_registers_wh[1] == 7000
    assert abs(e.tou_registers_wh[0] - (offset + 360) * 1000 // 3600) <= 1
    m.run(days=1)  # and the night rate comes back at 00:00 + offset
    assert sum(e.tou_registers_wh) == e.active_import_wh
    cost = e.tou_registers_wh[0] * 30 + e.tou_registers_wh[1] * 10  # units: 1000/kWh*Wh
    assert abs(e.cost_total - cost) <= 60


def test_switching_table_seasons_and_special_days():
    profiles = {1: DayProfile(((0, 1),)), 2: DayProfile(((0, 2),)), 3: DayProfile(((0, 3),))}
    table = SwitchingTable(profiles, (Season((1, 1), (1, 1, 1, 1, 1, 2, 2)),
                                      Season((4, 1), (3,) * 7)),
                           {date(2026, 1, 5): 3})
    tariff = Tariff(table, (10_000, 20_000, 30_000))
    tariff.validate()
    assert table.day_profile(date(2026, 1, 1)) == profiles[1]   # Thursday, winter
    assert table.day_profile(date(2026, 1, 3)) == profiles[2]   # Saturday
    assert table.day_profile(date(2026, 1, 5)) == profiles[3]   # special day
    assert table.day_profile(date(2026, 6, 1)) == profiles[3]   # summer season
    m = Meter((1.0,))
    m.engine.set_tariff(tariff)
    m.run(days=5)
    assert m.engine.tou_registers_wh[:3] == (48_000, 48_000, 24_000)
    with pytest.raises(EngineError, match=r"switching.seasons\[0\].week"):
        Tariff(SwitchingTable(profiles, (Season((1, 1), (9,) * 7),)), (1, 2, 3)).validate()


def test_block_tariff_fills_the_tariff_block_counter_matrix_and_bills():
    m = Meter((1.0,))
    e = m.engine
    base = two_rate(0, 0, night_start_s=0, day_start_s=12 * 3600)
    e.set_tariff(replace(base, prices=(), block_thresholds=(5_000, 10_000),
                         block_prices=((10_000, 20_000, 40_000), (5_000, 5_000, 5_000))))
    e.configure(EngineConfig(billing_day=2))
    m.run(hours=15)  # 12 kWh at night (rate 2), 3 kWh in the day (rate 1, block 3)
    matrix = e.block_matrix_wh
    assert matrix[1][:3] == (5_000, 5_000, 2_000) and matrix[0][:3] == (0, 0, 3_000)
    assert e.current_block == 3
    assert e.cost_total == 12_000 * 5 + 3_000 * 40
    m.sim.run_until(datetime(2026, 1, 2, tzinfo=UTC))
    billing = e.log("billing_data")
    assert len(billing) == 1 and billing[0]["import_wh"] == 24_000
    assert Alert.BILLING_DATA_LOG_UPDATED in m.codes()
    assert e.current_block == 1 and e.billing_period_cost == 0


# -- prepayment ---------------------------------------------------------------------------


def test_prepayment_runs_out_emergency_credit_disablement_top_up_arm_and_button():
    m = Meter((1.0,))  # 1 kWh an hour at 20p: 20,000 units an hour
    e = m.engine
    m.prepay(CreditConfig(low_credit_threshold=POUND, emergency_credit_threshold=POUND,
                          emergency_credit_limit=2 * POUND))
    e.top_up(5 * POUND)  # 25 hours of credit
    m.run(hours=21)
    assert Alert.LOW_CREDIT in m.codes()
    assert Alert.EMERGENCY_CREDIT_AVAILABLE in m.codes()
    assert e.emergency_credit_state is EmergencyCredit.AVAILABLE
    m.buttons.press("B")  # the consumer accepts emergency credit
    m.run(seconds=1)
    assert e.emergency_credit_state is EmergencyCredit.ACTIVE
    assert Alert.EMERGENCY_CREDIT_ACTIVATED in m.codes()
    m.run(hours=15)  # 4 more hours of credit, then 10 of emergency credit
    assert Alert.EMERGENCY_CREDIT_EXHAUSTED in m.codes()
    assert Alert.CREDIT_BELOW_DISABLEMENT_THRESHOLD in m.codes()
    assert e.supply_state is SupplyState.DISABLED and not m.contactor.closed
    disabled_at = dict((c, t) for t, c in m.alerts)[Alert.CREDIT_BELOW_DISABLEMENT_THRESHOLD]
    # 25 + 10 hours use it all; the next measuring period goes below zero
    assert disabled_at == START + timedelta(hours=35, minutes=30)
    frozen = e.active_import_wh
    assert frozen == 35_500 and e.meter_balance == -10_000
    m.buttons.press("A")  # not armed: refused
    m.run(hours=2)
    assert e.active_import_wh == frozen and e.supply_state is SupplyState.DISABLED
    assert Alert.USER_INTERFACE_COMMAND_NOT_ACTIONED in m.codes()
    with pytest.raises(EngineError, match="disablement threshold"):
        e.arm_supply()
    amount = e.enter_utrn(make_utrn(KEY, EUI, 1000, counter=1))  # £10
    assert amount == 10 * POUND
    assert e.supply_state is SupplyState.ARMED and not m.contactor.closed
    assert Alert.SUPPLY_ARMED in m.codes()
    assert e.meter_balance == 10 * POUND - 2 * POUND - 10_000  # EC and debt repaid
    assert e.emergency_credit_state is EmergencyCredit.NOT_AVAILABLE
    m.buttons.press("A", after=timedelta(minutes=5))
    m.run(hours=1)
    assert e.supply_state is SupplyState.ENABLED and m.contactor.closed
    assert e.active_import_wh == frozen + 55 * 1000 // 60  # 55 minutes since the press
    assert [h[1] for h in m.contactor.history] == [False, True]


def test_non_disablement_period_suspends_disablement_until_it_ends():
    m = Meter((1.0,))
    e = m.engine
    # Thursday 2026-01-01, 00:00-06:00: a friendly-credit window
    m.prepay(CreditConfig(emergency_credit_limit=0),
             non_disablement=NonDisablementCalendar(((3, 0, 6 * 3600),)))
    e.top_up(POUND)  # 5 hours
    m.run(hours=5, minutes=30)
    assert Alert.DISABLEMENT_SUSPENDED in m.codes()
    assert e.supply_state is SupplyState.ENABLED and e.meter_balance < 0
    m.run(hours=1)
    assert e.supply_state is SupplyState.DISABLED
    assert dict((c, t) for t, c in m.alerts)[Alert.CREDIT_BELOW_DISABLEMENT_THRESHOLD] \
        == START + timedelta(hours=6)


def test_time_based_and_payment_based_debt_recovery():
    m = Meter((0.0,))  # no consumption: only debt moves the credit
    e = m.engine
    m.prepay(CreditConfig(time_debt_rates=(1_000, 500), time_debt_periods_s=(3600, 86_400),
                          payment_debt_percent=25, payment_debt_cap=10_000))
    e.top_up(10 * POUND)
    e.set_debt(24_000, 1_000, 30_000)
    m.run(hours=12)
    assert e.time_debts == (12_000, 750)
    assert e.meter_balance == 10 * POUND - 12_000 - 250
    m.run(hours=12)
    assert e.time_debts == (0, 500) and Alert.DEBT_COLLECTED_TIME_DEBT_1 in m.codes()
    e.top_up(100_000)   # 25% = 25,000, capped at 10,000
    e.top_up(20_000)    # 5,000
    assert e.payment_debt == 15_000
    e.top_up(100_000)   # the remaining 15,000... capped at 10,000
    e.top_up(100_000)   # the last 5,000
    assert e.payment_debt == 0 and Alert.DEBT_COLLECTED_PAYMENT_DEBT in m.codes()
    top_ups = [x["detail"] for x in e.log("event") if x.get("event") == "top_up"]
    assert [t["payment_debt_recovered"] for t in top_ups[-4:]] == [10_000, 5_000, 10_000,
                                                                   5_000]


def test_utrn_is_accepted_once_and_replays_are_rejected():
    m = Meter((0.0,))
    e = m.engine
    m.prepay()
    token = make_utrn(KEY, EUI, 2000, counter=41)
    assert len(token) == 20 and token.isdigit()
    assert e.enter_utrn(token) == 20 * POUND
    assert Alert.CREDIT_ADDED_LOCALLY in m.codes()
    for bad, alert in ((token, Alert.DUPLICATE_UTRN),
                       (make_utrn(KEY, bytes(8), 2000, 42), Alert.UTRN_NOT_AUTHENTIC),
                       (token[:-1] + str((int(token[-1]) + 1) % 10), Alert.UTRN_NOT_AUTHENTIC),
                       ("1234", Alert.UTRN_NOT_AUTHENTIC)):
        with pytest.raises(UtrnError) as info:
            e.enter_utrn(bad)
        assert info.value.alert == alert and m.codes()[-1] == alert
        assert e.meter_balance == 20 * POUND  # nothing changed but the logs
    assert [x["alert"] for x in e.log("security")] == [
        Alert.DUPLICATE_UTRN, Alert.UTRN_NOT_AUTHENTIC, Alert.UTRN_NOT_AUTHENTIC,
        Alert.UTRN_NOT_AUTHENTIC]
    for counter in (50, 51, 52, 53):  # fill the window of 5 accepted counters
        e.enter_utrn(make_utrn(KEY, EUI, 100, counter))
    with pytest.raises(UtrnError, match="older than the accepted window"):
        e.enter_utrn(make_utrn(KEY, EUI, 100, 40))  # never seen, but too old now
    e.enter_utrn(make_utrn(KEY, EUI, 100, 45))      # out of order, inside the window
    with pytest.raises(UtrnError, match="maximum credit"):
        e.enter_utrn(make_utrn(KEY, EUI, 500_000, 60))
    # the accepted counters survive a restart: the replay is still refused
    restarted = MeterEngine(m.sim, m.store, LoadModel(LoadProfile((0.0,))), device_id=EUI,
                            top_up_key=KEY)
    with pytest.raises(UtrnError, match="already accepted"):
        restarted.enter_utrn(token)


def test_meter_balance_adjust_reset_and_a_rejected_command_changes_nothing():
    m = Meter((0.0,))
    e = m.engine
    m.prepay(CreditConfig(max_meter_balance=50 * POUND))
    e.top_up(10 * POUND)
    e.adjust_meter_balance(-3 * POUND)
    assert e.meter_balance == 7 * POUND
    state = (e.meter_balance, e.cost_total, e.supply_state)
    with pytest.raises(EngineError, match="maximum meter balance"):
        e.top_up(45 * POUND)
    with pytest.raises(EngineError, match=r"top_up.amount: -1 is below 1"):
        e.top_up(-1)
    with pytest.raises(EngineError, match=r"tariff.prices\[1\]"):
        e.set_tariff(two_rate(10, -5))
    assert (e.meter_balance, e.cost_total, e.supply_state) == state
    assert Alert.CREDIT_EXCEEDS_MAXIMUM_METER_BALANCE in m.codes()
    assert any(x.get("event") == "command_rejected" for x in e.log("event"))
    e.reset_meter_balance()
    assert e.meter_balance == 0


# -- supply -------------------------------------------------------------------------------


def test_remote_disable_arm_and_local_enable():
    m = Meter((1.0,))
    e = m.engine
    e.disable_supply()
    m.run(hours=1)
    assert e.active_import_wh == 0 and not m.contactor.closed
    e.arm_supply()
    assert e.supply_state is SupplyState.ARMED and Alert.SUPPLY_ARMED in m.codes()
    m.buttons.press("A", after=timedelta(minutes=30))
    m.run(hours=1)
    assert e.supply_state is SupplyState.ENABLED and e.active_import_wh == 500
    with pytest.raises(EngineError, match="already enabled"):
        e.arm_supply()


def test_load_limiting_counts_alerts_disables_and_restores():
    shape = [1.0] * 48
    shape[20] = 6.0  # 10:00-10:30 at 6 kW
    m = Meter(shape)
    e = m.engine
    e.configure(EngineConfig(load_limit=LoadLimitConfig(threshold_w=4000, period_s=300,
                                                        disable=True, restoration_s=900)))
    m.run(hours=10, minutes=5)
    assert e.load_limit_counter == 1
    assert m.codes()[:2] == [Alert.LOAD_LIMIT_THRESHOLD_EXCEEDED,
                             Alert.SUPPLY_ARMED_LOAD_LIMIT]
    assert e.supply_state is SupplyState.ARMED and not m.contactor.closed
    m.run(minutes=15)
    assert Alert.SUPPLY_ENABLED_AFTER_LOAD_LIMIT in m.codes()
    m.run(hours=2)
    assert e.load_limit_counter == 2  # still 6 kW when restored at 10:20
    assert e.supply_state is SupplyState.ENABLED  # restored again at 10:40, below the limit


# -- quality of supply, outages, ALCS, clock ----------------------------------------------


def test_voltage_sag_and_swell_count_after_the_period_and_averages_alert():
    m = Meter((1.0,))
    e = m.engine
    e.set_voltage(190.0)
    m.run(seconds=10)
    e.set_voltage(230.0)   # shorter than the 30 s period: not a sag
    m.run(seconds=60)
    assert e.sag_counts[0] == 0 and not m.codes()
    e.set_voltage(190.0)
    m.run(seconds=60)
    assert e.sag_counts[0] == 1 and m.codes() == [Alert.VOLTAGE_SAG]
    e.set_voltage(230.0)
    m.run(seconds=60)
    assert m.codes()[-1] == Alert.VOLTAGE_SAG_ENDED
    e.set_voltage(270.0)
    m.run(seconds=40)
    e.set_voltage(258.0)
    assert e.swell_counts[0] == 1 and m.codes()[-1] == Alert.VOLTAGE_SWELL
    m.run(hours=1)
    assert Alert.VOLTAGE_SWELL_ENDED in m.codes()
    assert Alert.AVERAGE_OVER_VOLTAGE in m.codes()
    e.set_voltage(230.0, phase=0)
    m.run(hours=1)
    assert m.codes()[-1] == Alert.AVERAGE_OVER_VOLTAGE_ENDED
    with pytest.raises(EngineError, match="voltage.phase"):
        e.set_voltage(230.0, phase=4)


def test_outage_stops_metering_and_logs_the_restoration():
    m = Meter((1.0,))
    e = m.engine
    m.run(hours=1)
    e.power_fail()
    m.run(minutes=10)
    e.power_restore()
    m.run(hours=1)
    assert e.active_import_wh == 2000
    assert m.codes() == [Alert.SUPPLY_OUTAGE_RESTORED_3_MINUTES]
    assert [(x["event"], x.get("outage_s")) for x in e.log("power_event")] == [
        ("supply_interrupted", None), ("supply_restored", 600)]
    e.power_fail()
    m.run(seconds=30)
    e.power_restore()
    assert m.codes()[-1] == Alert.SUPPLY_OUTAGE_RESTORED


def test_alcs_schedule_and_boost_button():
    m = Meter((1.0,))
    e = m.engine
    e.configure(EngineConfig(boost_s=3600, alcs_schedules=(
        AlcsSchedule(((2 * 3600, True), (5 * 3600, False))),)))
    m.run(hours=3)
    assert e.alcs_states[0]
    m.run(hours=3)
    assert not e.alcs_states[0]
    m.buttons.press("boost")
    m.run(minutes=30)
    assert e.alcs_states[0] and Alert.USER_INTERFACE_COMMAND_ACTIONED in m.codes()
    m.run(minutes=31)
    assert not e.alcs_states[0]
    e.set_alcs(2, True)
    assert e.alcs_states[:2] == (False, True)


def test_clock_synchronisation_within_tolerance_only():
    m = Meter((1.0,))
    e = m.engine
    m.run(hours=1)
    assert e.synchronise_clock(m.sim.now() + timedelta(seconds=8))
    assert e.now == m.sim.now() + timedelta(seconds=8)
    assert m.codes() == [Alert.CLOCK_ADJUSTED]
    assert not e.synchronise_clock(m.sim.now() + timedelta(minutes=5))
    assert m.codes()[-1] == Alert.CLOCK_NOT_ADJUSTED
    assert e.log("security")[-1]["alert"] == Alert.CLOCK_NOT_ADJUSTED
    m.run(hours=1)
    assert e.active_import_wh == 2000 + 8 * 1000 // 3600


# -- persistence --------------------------------------------------------------------------


def test_state_survives_a_clean_restart(tmp_path):
    path = tmp_path / "esme.db"
    m = Meter((1.0,), path=path)
    m.engine.set_tariff(two_rate(30_000, 10_000))
    m.run(days=3, hours=5)
    m.engine.refresh()
    m.engine.top_up(POUND)  # a command commits everything measured so far
    before = (m.engine.active_import_wh, m.engine.tou_registers_wh, m.engine.cost_total)
    m.store.close()
    store = SqliteStore(path)
    assert MeterEngine.committed_time(store) == m.sim.now()
    sim = Simulator(m.sim.now())
    again = MeterEngine(sim, store, LoadModel(LoadProfile((1.0,)), daily_periodic=True))
    assert (again.active_import_wh, again.tou_registers_wh, again.cost_total) == before
    assert len(again.profile("active_import")) == 3 * 48 + 10
    assert again.log("power_event") == []  # restarted where it stopped: no outage


def test_commit_every_tick_commits_each_half_hour(tmp_path):
    m = Meter((1.0,), path=tmp_path / "esme.db", commit_every="tick")
    before = m.engine.commits
    m.run(hours=5)
    assert m.engine.commits - before == 10
    assert MeterEngine.committed_time(m.store) == START + timedelta(hours=5)
    with pytest.raises(EngineError, match="commit_every"):
        MeterEngine(m.sim, m.store, LoadModel(LoadProfile((1.0,))), commit_every="hour")


def test_restart_after_a_gap_records_an_outage(tmp_path):
    path = tmp_path / "esme.db"
    m = Meter((1.0,), path=path)
    m.run(days=1)
    m.store.close()
    sim = Simulator(START + timedelta(days=1, hours=2))
    alerts = []
    again = MeterEngine(sim, SqliteStore(path), LoadModel(LoadProfile((1.0,))),
                        on_alert=lambda c, d: alerts.append((c, d)))
    assert again.active_import_wh == 24_000  # nothing measured while it was off
    assert alerts == [(Alert.SUPPLY_OUTAGE_RESTORED_3_MINUTES, {"outage_s": 7200})]
    assert len(again.profile("active_import")) == 48 + 4


def test_snapshot_and_restore_replay_identically():
    m = Meter((0.5, 1.5), seed=3)
    m.engine.set_tariff(two_rate(30_000, 10_000))
    m.engine.configure(EngineConfig(randomised_offset_limit_s=900))
    m.sim.register("store", m.store)
    m.sim.register("esme", m.engine)
    m.run(days=10, hours=3)
    snap = m.sim.snapshot()
    m.run(days=10)
    first = (m.engine.tou_registers_wh, m.engine.profile("active_import"),
             m.engine.log("daily_read"))
    m.sim.restore(snap)
    assert m.engine.active_import_wh < sum(first[0])
    m.run(days=10)
    assert (m.engine.tou_registers_wh, m.engine.profile("active_import"),
            m.engine.log("daily_read")) == first


# A meter in its own process: two-rate prepayment, a UTRN on day 3, daily commits with
# synchronous=FULL, run against the wall clock at 50 days a second (so a kill lands
# mid-run). It prints the time of each commit (what it has acknowledged) and, restarted
# after a kill, carries on from its store at the committed time.
CHILD = textwrap.dedent("""
    import sys
    from datetime import UTC, datetime, timedelta
    from boards.board import LoadProfile
    from boards.nvm import SqliteStore
    from boards.simulator import Simulator, WallClockRunner
    from firmware.esme.engine import (CreditConfig, EngineConfig, LoadModel, MeterEngine,
                                      PaymentMode, make_utrn, two_rate)
    START = datetime(2026, 1, 1, tzinfo=UTC)
    END = START + timedelta(days=int(sys.argv[2]))
    store = SqliteStore(sys.argv[1])
    at = MeterEngine.committed_time(store) or START
    sim = Simulator(at, seed=5, keep_trace=False)
    installed = store.get("lab.installed", False)
    def ack(t):
        if installed:
            sys.stdout.write(f"{t}\\n")
            sys.stdout.flush()
    load = LoadModel(LoadProfile((0.3,) * 14 + (0.9,) * 34), daily_periodic=True)
    engine = MeterEngine(sim, store, load, rng=sim.random, device_id=bytes(8),
                         top_up_key=b"k" * 16, on_commit=ack)
    if not installed:
        with store.transaction():  # commissioning lands whole or not at all
            engine.set_tariff(two_rate(30_000, 12_000, standing_charge=50_000))
            engine.set_credit_config(CreditConfig(max_credit_threshold=50_000_000))
            engine.configure(EngineConfig(payment_mode=PaymentMode.PREPAYMENT,
                                          randomised_offset_limit_s=1200))
            engine.top_up(40_000_000)
            store.put("lab.installed", True)
        installed = True
    utrn_at = START + timedelta(days=3, hours=12)
    if sim.now() < utrn_at:
        sim.schedule(lambda: engine.enter_utrn(make_utrn(b"k" * 16, bytes(8), 2500, 9)),
                     "utrn", at=utrn_at)
    if sys.argv[3] == "wall":
        WallClockRunner(sim, speed=50 * 86_400).run_for(END - sim.now())
    else:
        sim.run_until(END)
    print("done", flush=True)
""")
LOAD_SHAPE = (0.3,) * 14 + (0.9,) * 34


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_mid_run_loses_nothing_acknowledged(tmp_path):
    days = 60
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    reference = tmp_path / "reference.db"
    subprocess.run([sys.executable, "-c", CHILD, str(reference), str(days), "fast"],
                   env=env, check=True, capture_output=True)
    path = tmp_path / "esme.db"
    rng = random.Random(20261123)
    kills = 0
    while True:
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(days), "wall"],
                                 stdout=subprocess.PIPE, env=env, text=True)
        first = child.stdout.readline()
        assert first, "the meter did not start"
        time.sleep(rng.uniform(0.05, 0.4))
        child.send_signal(signal.SIGKILL)
        out, _ = child.communicate()
        lines = [first.strip(), *out.splitlines()]
        if lines[-1] == "done":
            break
        assert child.returncode == -signal.SIGKILL
        kills += 1
        acknowledged = datetime.fromtimestamp(int(lines[-1]), UTC)
        with SqliteStore(path) as store:
            assert MeterEngine.committed_time(store) >= acknowledged, "a commit was lost"
        print(f"killed at commit {acknowledged.isoformat()}")
        assert kills < 30
    assert kills >= 1
    with SqliteStore(path) as a, SqliteStore(reference) as b:
        killed, straight = (MeterEngine(Simulator(START + timedelta(days=days)), s,
                                        LoadModel(LoadProfile(LOAD_SHAPE), daily_periodic=True))
                            for s in (a, b))
        assert killed.active_import_wh == straight.active_import_wh > 0
        assert killed.tou_registers_wh == straight.tou_registers_wh
        assert killed.meter_balance == straight.meter_balance
        assert killed.cost_total == straight.cost_total
        assert killed.utrn_counters == straight.utrn_counters == (9,)
        assert killed.profile("active_import") == straight.profile("active_import")
        assert killed.log("daily_read") == straight.log("daily_read")


def test_bench_meter_year_writes_once_a_day(tmp_path):
    from tools.bench import esme as bench

    year = bench.meter_year(tmp_path, 0)
    assert year["profile_entries"] == 17_520 and year["supply"] == "ENABLED"
    assert 365 <= year["transactions"] <= 365 + 60  # a commit a day, plus the top-ups
    assert 5 <= year["writes"] / 365 <= 8           # state + profile and daily logs
    assert "meter-years/s" in bench.report(bench.run(meters=1))
