"""`MeterEngine`: the metering behaviour of a GB ESME, in virtual or real time.

The engine is driven by a `Clock` (the simulator's, or the wall clock's) and keeps
everything a real meter keeps in non-volatile memory in a `NonVolatileStore`. Time
inside the engine is whole POSIX seconds of *device* time (the clock plus the offset
clock synchronisation applied), and everything happens at boundaries:

- the measuring period (the tick: 30 minutes, or the maximum demand window if shorter)
  accumulates energy, cost and credit; reads and commands accumulate up to "now" first,
  so a read is always current; the credit thresholds (low credit, emergency credit,
  disablement) are compared at its end (and by the commands that move credit), so how
  often the meter is read never changes when the supply is disabled;
- TOU switch times (moved by the randomised offset) split the energy between rates;
- each half hour captures the profiles; each midnight closes the day (daily read and
  consumption logs, the day's profile blocks, the billing calendar) and commits.

The engine asks its clock to wake it at the next measuring period, or at midnight when
it can prove nothing will happen before then (`_next_wake`), and measures a day with
nothing to react to in one step (`_whole_day`). Energies come from cumulative values
(see `metrology`), so how time is cut -- by reads, commands, skipped wake-ups -- never
changes a register, a profile entry or a penny.

Persistence. The meter's state is one store record plus its logs. Commands commit
before they return, alerts are committed before `on_alert` sees them, and metering
commits once per simulated day (`commit_every="day"`, one transaction: the state and the
day's log entries) or at every tick (`"tick"`). What is acknowledged -- a command that
returned, an alert, `on_commit(t)` -- is in the store; metering since the last commit is
not acknowledged and, after a kill, is measured again from the committed time (the load
model is deterministic) or, after a real gap, recorded as an outage.

Units (plain ints, as GBCS carries them): energy in Wh / varh, demand in W, money in
currency units of 10^MONEY_SCALER pounds (1000 units to the penny), prices in currency
units per kWh, durations in seconds, times as UTC datetimes at the API.
"""

from __future__ import annotations

import copy
import math
import random
from bisect import bisect_right
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Iterator

from firmware.core.hal import Buttons, Clock, NonVolatileStore, SupplyContactor, Timer
from firmware.esme.engine import logs
from firmware.esme.engine.codes import Alert
from firmware.esme.engine.config import (DAY_S, HALF_HOUR_S, MAX_ALCS, UNITS_PER_PENNY,
                                          EngineConfig)
from firmware.esme.engine.errors import EngineError, check_int
from firmware.esme.engine.metrology import NO_ENERGY, LoadModel, MeasuringElement
from firmware.esme.engine.prepayment import (Credit, CreditConfig, EmergencyCredit,
                                              PaymentMode)
from firmware.esme.engine.quality import SupplyQuality
from firmware.esme.engine.state import DayPlan, MeterState
from firmware.esme.engine.supply import DisableReason, SupplyState
from firmware.esme.engine.tariff import MAX_BLOCK_TOU_RATES, MAX_BLOCKS, Tariff, single_rate
from firmware.esme.engine.utrn import UtrnError, verify_utrn

CLOCK_TOLERANCE_S = 10     # the largest adjustment clock synchronisation accepts
BUTTON_ENABLE = "A"        # local supply enable (only when armed)
BUTTON_EMERGENCY_CREDIT = "B"
BUTTON_BOOST = "boost"
STATE_KEY = "esme.state"
CONFIG_KEY = "esme.config"
ALERTS_TO_SECURITY_LOG = {Alert.UTRN_NOT_AUTHENTIC, Alert.DUPLICATE_UTRN,
                          Alert.CLOCK_NOT_ADJUSTED, Alert.UNAUTHORISED_PHYSICAL_ACCESS}

AlertHook = Callable[[int, Any], None]


class MeterEngine(SupplyQuality):
    """An ESME's metering, tariff, prepayment and supply behaviour (see module doc).

    `load` is what the meter measures; `rng` draws the randomised offset (pass the
    simulator's `random`); `on_alert(code, detail)` receives GBCS alert codes;
    `contactor`, `buttons` and `alcs` are the board's hardware; `top_up_key` checks
    UTRNs for `device_id`; `on_commit(t)` is told (POSIX seconds) after each commit.
    Started on a store that already holds a meter, it carries on from that meter.

    Public attributes (read them; change them only through the commands):
    `tariff` (`Tariff`), `credit_config` (`CreditConfig`), `config` (`EngineConfig`),
    `credit` (`Credit`: the credit and debt registers, currency units),
    `device_id` (EUI-64 bytes), `commits` (transactions committed since started).
    The properties below are the registers, each current when read.
    """

    def __init__(self, clock: Clock, store: NonVolatileStore, load: LoadModel, *,
                 device_id: bytes = bytes(8), rng: random.Random | None = None,
                 on_alert: AlertHook | None = None,
                 contactor: SupplyContactor | None = None, buttons: Buttons | None = None,
                 alcs: Sequence[SupplyContactor] = (), top_up_key: bytes = b"",
                 commit_every: str = "day",
                 on_commit: Callable[[int], None] | None = None) -> None:
        if commit_every not in ("day", "tick"):
            raise EngineError("commit_every", f"{commit_every!r} is not 'day' or 'tick'")
        self._clock = clock
        self._store = store
        self._element = MeasuringElement(load)
        self._shares = load.phase_shares if len(load.phase_shares) == 3 else ()
        self.device_id = device_id
        self._rng = rng or random.Random(0)
        self._on_alert = on_alert
        self._contactor = contactor
        self._alcs_out = list(alcs)
        self._top_up_key = top_up_key
        self._commit_each_tick = commit_every == "tick"
        self._on_commit = on_commit
        self._alerts: list[tuple[int, Any]] = []
        self._pending: list[tuple[str, Any]] = []
        self._timers: dict[str, Timer] = {}
        self._volts: list[float] = []
        self._volt_integral: list[float] = []
        self._voltage_events: set[str] = set()  # sags / swells in progress ("sag0", ...)
        self._volt_since = 0
        self.commits = 0
        for name, capacity in logs.ALL_LOGS:
            store.declare_log(name, capacity)
        config = store.get(CONFIG_KEY)
        if config is None:
            self.tariff, self.credit_config, self.config = single_rate(0), CreditConfig(), \
                EngineConfig()
        else:
            self.tariff = Tariff.from_json(config["tariff"])
            self.credit_config = CreditConfig.from_json(config["credit"])
            self.config = EngineConfig.from_json(config["engine"])
        now = self._clock_s()
        saved = store.get(STATE_KEY)
        if saved is None:
            self._s, self.credit = MeterState(now), Credit()
        else:
            self._s, self.credit = MeterState.from_json(saved)
        self._derive()
        now = self._now_s()
        if saved is not None and now > self._s.t:
            self._resume_after_gap(now)
        if config is None:
            self._commit_config()
        if saved is None:
            self._commit()
        if buttons is not None:
            buttons.on_press(self.press)
        self._apply_outputs()
        self._schedule_tick()
        self._schedule_alcs_day()

    # -- public reads (each first measures up to now, so it is current) -----------------

    def refresh(self) -> None:
        """Measure up to the current time."""
        self._advance(self._now_s())
        self._flush()

    def set_load(self, load: LoadModel) -> None:
        """Measure `load` from now on (a lab or debugger changing what is connected):
        what was measured so far is taken first, so the change applies at this instant."""
        self.refresh()
        self._element = MeasuringElement(load)
        self._derive()
        self._schedule_tick()
        self._schedule_load_limit()

    @property
    def now(self) -> datetime:
        """The meter's clock (the board clock plus the synchronisation offset)."""
        return _dt(self._now_s())

    @property
    def active_import_wh(self) -> int:
        """Total active import register (primary element, all phases)."""
        self.refresh()
        return self._s.imp // 1000

    @property
    def active_export_wh(self) -> int:
        self.refresh()
        return self._s.exp // 1000

    @property
    def reactive_import_varh(self) -> int:
        self.refresh()
        return self._s.rimp // 1000

    @property
    def reactive_export_varh(self) -> int:
        self.refresh()
        return self._s.rexp // 1000

    @property
    def secondary_active_import_wh(self) -> int:
        """The secondary element's active import (twin element meters; else 0)."""
        self.refresh()
        return self._s.sec // 1000

    @property
    def phase_active_import_wh(self) -> tuple[int, ...]:
        """Active import per phase L1..L3 (polyphase meters; else empty)."""
        self.refresh()
        return tuple(p // 1000 for p in self._s.phases) if self._shares else ()

    @property
    def tou_registers_wh(self) -> tuple[int, ...]:
        """The 48 TOU rate registers (rate n at index n-1)."""
        self.refresh()
        return tuple(r // 1000 for r in self._s.tou)

    @property
    def block_matrix_wh(self) -> tuple[tuple[int, ...], ...]:
        """The tariff block counter matrix: 8 TOU rates x 4 blocks."""
        self.refresh()
        m = self._s.matrix
        return tuple(tuple(m[r * MAX_BLOCKS + b] // 1000 for b in range(MAX_BLOCKS))
                     for r in range(MAX_BLOCK_TOU_RATES))

    @property
    def current_rate(self) -> int:
        """The TOU rate (1..48) in force now."""
        self.refresh()
        return self._rate

    @property
    def block_period_wh(self) -> int:
        """Import since the billing period began: what selects the block (the tariff
        block counter)."""
        self.refresh()
        return self._s.block_period // 1000

    @property
    def current_block(self) -> int:
        """The block (1..4) that the next kWh is charged at (1 on a TOU tariff)."""
        self.refresh()
        return self.tariff.block_of(self._s.block_period // 1000) + 1 \
            if self.tariff.is_block else 1

    @property
    def cost_total(self) -> int:
        """Energy and standing charges since installation (currency units)."""
        self.refresh()
        return self._s.cost_total

    @property
    def billing_period_cost(self) -> int:
        self.refresh()
        return self._s.billing_cost

    @property
    def meter_balance(self) -> int:
        self.refresh()
        return self.credit.meter_balance

    @property
    def emergency_credit_balance(self) -> int:
        self.refresh()
        return self.credit.emergency_credit_balance

    @property
    def emergency_credit_state(self) -> EmergencyCredit:
        self.refresh()
        return EmergencyCredit(self.credit.emergency_credit)

    @property
    def time_debts(self) -> tuple[int, int]:
        self.refresh()
        return tuple(self.credit.time_debts)

    @property
    def payment_debt(self) -> int:
        self.refresh()
        return self.credit.payment_debt

    @property
    def supply_state(self) -> SupplyState:
        self.refresh()
        return SupplyState(self._s.supply)

    @property
    def max_demand_import(self) -> tuple[int, datetime | None]:
        """Maximum active import demand (W) over the configured window, and when."""
        self.refresh()
        return self._s.md[0], _dt(self._s.md[1]) if self._s.md[1] else None

    @property
    def max_demand_export(self) -> tuple[int, datetime | None]:
        self.refresh()
        return self._s.md[2], _dt(self._s.md[3]) if self._s.md[3] else None

    @property
    def load_limit_counter(self) -> int:
        return self._s.load_limit_counter

    @property
    def sag_counts(self) -> tuple[int, ...]:
        """Voltage sags counted, per phase (index 0 on a single-phase meter)."""
        return tuple(self._s.sags)

    @property
    def swell_counts(self) -> tuple[int, ...]:
        return tuple(self._s.swells)

    @property
    def alcs_states(self) -> tuple[bool, ...]:
        """Auxiliary load control switches 1..5: True when closed (load on)."""
        return tuple(bool(on) for on in self._s.alcs)

    @property
    def randomised_offset_s(self) -> int:
        """The offset (0..limit) drawn for switching times, from the seeded RNG."""
        return self._s.randomised_offset

    @property
    def utrn_counters(self) -> tuple[int, ...]:
        """The UTRN counters accepted (the newest last)."""
        return tuple(self._s.utrn_counters)

    def profile(self, name: str) -> list[tuple[datetime, int]]:
        """A half-hourly profile: "active_import", "active_export" or "reactive_import";
        (capture period start, Wh or varh) oldest first, bounded to its GBCS size."""
        if name not in logs.PROFILES:
            raise EngineError("profile", f"{name!r} is not one of {sorted(logs.PROFILES)}")
        self.refresh()
        spec = logs.PROFILES[name]
        values = {"active_import": self._s.pi, "active_export": self._s.pe,
                  "reactive_import": self._s.pr}[name]
        blocks = [e.value for e in self._store.entries(spec.log)]
        return logs.expand(blocks, spec, {"t": self._s.day_t, "v": values})

    def log(self, name: str) -> list[dict]:
        """A log's entries, oldest first: "daily_read", "daily_consumption",
        "billing_data", "event", "security" or "power_event"."""
        names = {n.removeprefix("esme."): n for n, _ in logs.ALL_LOGS
                 if not n.startswith("esme.profile")}
        if name not in names:
            raise EngineError("log", f"{name!r} is not one of {sorted(names)}")
        return [e.value for e in self._store.entries(names[name])]

    # -- configuration commands --------------------------------------------------------

    def set_tariff(self, tariff: Tariff) -> None:
        """Replace the tariff (prices, switching table, standing charge)."""
        tariff.validate()
        with self._command():
            self.tariff = tariff
            self._commit_config()
            self._derive()

    def set_credit_config(self, config: CreditConfig) -> None:
        config.validate()
        with self._command():
            self.credit_config = config
            self._commit_config()
            self._derive()
            self._check_credit()

    def configure(self, config: EngineConfig) -> None:
        """Replace the other settings; a new randomised offset limit draws a new offset."""
        config.validate()
        with self._command():
            old, self.config = self.config, config
            if config.randomised_offset_limit_s != old.randomised_offset_limit_s:
                self._s.randomised_offset = self._rng.randint(
                    0, config.randomised_offset_limit_s)
            if config.load_limit != old.load_limit:
                self._s.load_limit_from = [self._s.t, self._s.imp]
                self._s.load_limit_above = False
                timer = self._timers.pop("load_limit", None)
                if timer is not None:
                    self._clock.cancel(timer)
            if config.max_demand_window_s != old.max_demand_window_s:
                self._s.md_window = [0, 0]
                self._s.md_recent, self._s.md_recent_exp = [], []
            self._commit_config()
            self._derive()
            self._check_credit()
            self._schedule_tick()
            self._schedule_alcs_day()

    def set_payment_mode(self, mode: PaymentMode) -> None:
        with self._command():
            self.config = replace(self.config, payment_mode=PaymentMode(mode))
            self._commit_config()
            self._derive()
            if mode == PaymentMode.CREDIT and self._s.disable_reason == DisableReason.CREDIT:
                self._set_supply(SupplyState.ARMED, DisableReason.NONE)
            self._check_credit()

    # -- prepayment commands -----------------------------------------------------------

    def top_up(self, amount: int, *, local: bool = False) -> None:
        """Add credit (currency units), as a remote top-up command or a PPMID does."""
        check_int("top_up.amount", amount, 1)
        with self._command():
            self._add_credit(amount, local)

    def enter_utrn(self, utrn: str) -> int:
        """Top up by a 20-digit UTRN; the amount added (currency units). A refused UTRN
        is logged in the security log and raised as `UtrnError` (state unchanged)."""
        with self._command():
            try:
                token = verify_utrn(self._top_up_key, self.device_id, utrn,
                                    self._s.utrn_counters)
                amount = token.value_pence * UNITS_PER_PENNY
                self._check_top_up(amount)
            except UtrnError as err:
                self._alert(err.alert, {"utrn": utrn, "problem": err.problem})
                raise
            self._s.utrn_counters = (self._s.utrn_counters + [token.counter])[-10:]
            self._add_credit(amount, True, {"utrn_counter": token.counter})
            return amount

    def activate_emergency_credit(self) -> None:
        """The consumer accepts emergency credit (button or PPMID)."""
        with self._command():
            if self.credit.emergency_credit != EmergencyCredit.AVAILABLE:
                raise EngineError("emergency_credit", "emergency credit is not available")
            self.credit.emergency_credit = EmergencyCredit.ACTIVE
            self.credit.emergency_credit_balance = self.credit_config.emergency_credit_limit
            self._alert(Alert.EMERGENCY_CREDIT_ACTIVATED,
                        {"limit": self.credit_config.emergency_credit_limit})
            if self._s.disable_reason == DisableReason.CREDIT and \
                    self.credit.combined >= self.credit_config.disablement_threshold:
                self._set_supply(SupplyState.ARMED, DisableReason.NONE,
                                 Alert.SUPPLY_ARMED_EMERGENCY_CREDIT)

    def adjust_meter_balance(self, delta: int) -> None:
        check_int("meter_balance.delta", delta)
        with self._command():
            if self.credit.meter_balance + delta > self.credit_config.max_meter_balance:
                raise EngineError("meter_balance.delta", "would exceed the maximum meter "
                                                         "balance")
            self.credit.meter_balance += delta
            self._event("meter_balance_adjusted", {"delta": delta})
            self._check_credit()

    def reset_meter_balance(self) -> None:
        with self._command():
            self._event("meter_balance_reset", {"was": self.credit.meter_balance})
            self.credit.meter_balance = 0
            self._check_credit()

    def set_debt(self, time_debt_1: int, time_debt_2: int, payment_debt: int) -> None:
        """Set the three debt registers (currency units)."""
        for name, value in (("time_debt_1", time_debt_1), ("time_debt_2", time_debt_2),
                            ("payment_debt", payment_debt)):
            check_int(f"debt.{name}", value, 0)
        with self._command():
            self.credit.time_debts = [time_debt_1, time_debt_2]
            self.credit.time_debt_remainders = [0, 0]
            self.credit.payment_debt = payment_debt
            self._event("debt_set", {"time": [time_debt_1, time_debt_2],
                                     "payment": payment_debt})

    def reset_max_demand(self, *, export: bool = False) -> None:
        """Clear the maximum active import (or export) demand register."""
        with self._command():
            md = self._s.md
            was = md[2] if export else md[0]
            if export:
                md[2], md[3] = 0, 0
            else:
                md[0], md[1] = 0, 0
            self._event("max_demand_reset", {"export": export, "was_w": was})

    def reset_voltage_counter(self, kind: str, phase: int = 0) -> None:
        """Clear the sag ("sag") or swell ("swell") counter of `phase` (0 single phase,
        1..3 polyphase)."""
        if kind not in ("sag", "swell"):
            raise EngineError("voltage.counter", f"{kind!r} is not 'sag' or 'swell'")
        check_int("voltage.phase", phase, 0, 3)
        with self._command():
            counts = self._s.sags if kind == "sag" else self._s.swells
            self._event("voltage_counter_reset", {"kind": kind, "phase": phase,
                                                  "was": counts[phase]})
            counts[phase] = 0

    def reset_load_limit_counter(self) -> None:
        with self._command():
            self._event("load_limit_counter_reset", {"was": self._s.load_limit_counter})
            self._s.load_limit_counter = 0

    # -- supply commands ---------------------------------------------------------------

    def enable_supply(self) -> None:
        """Remote enable; refused while credit is below the disablement threshold."""
        with self._command():
            if self._credit_exhausted():
                raise EngineError("supply", "credit is below the disablement threshold")
            self._set_supply(SupplyState.ENABLED, DisableReason.NONE)

    def disable_supply(self) -> None:
        with self._command():
            self._set_supply(SupplyState.DISABLED, DisableReason.REMOTE)

    def arm_supply(self) -> None:
        """Remote arm: the consumer then enables the supply with the button."""
        with self._command():
            if self._s.supply == SupplyState.ENABLED:
                raise EngineError("supply", "the supply is already enabled")
            if self._credit_exhausted():
                raise EngineError("supply", "credit is below the disablement threshold")
            self._set_supply(SupplyState.ARMED, DisableReason.NONE, Alert.SUPPLY_ARMED)

    def press(self, button: str) -> None:
        """A button press on the meter: enable when armed, emergency credit, or boost."""
        with self._command():
            if button == BUTTON_ENABLE:
                if self._s.supply != SupplyState.ARMED:
                    self._alert(Alert.USER_INTERFACE_COMMAND_NOT_ACTIONED,
                                {"button": button, "supply": SupplyState(self._s.supply).name})
                    return
                self._set_supply(SupplyState.ENABLED, DisableReason.NONE)
            elif button == BUTTON_EMERGENCY_CREDIT:
                if self.credit.emergency_credit != EmergencyCredit.AVAILABLE:
                    self._alert(Alert.USER_INTERFACE_COMMAND_NOT_ACTIONED, {"button": button})
                    return
                self.activate_emergency_credit()
                return
            elif button == BUTTON_BOOST:
                self._boost()
            else:
                return
            self._alert(Alert.USER_INTERFACE_COMMAND_ACTIONED, {"button": button})

    # -- power and quality of supply -----------------------------------------------------

    def synchronise_clock(self, reference: datetime,
                          tolerance_s: int | None = CLOCK_TOLERANCE_S) -> bool:
        """Set the meter's clock to `reference` if within `tolerance_s` of it (10 s for
        time synchronisation; None for a clock set by an authenticated command) with
        alert 0x8145; otherwise leave it and raise 0x8F0C. Returns whether it was
        adjusted."""
        if not isinstance(reference, datetime) or reference.utcoffset() is None:
            raise EngineError("clock.reference", f"{reference!r} is not a UTC date-time")
        with self._command():
            target = int(reference.timestamp())
            delta = target - self._now_s()
            if tolerance_s is not None and abs(delta) > tolerance_s:
                self._alert(Alert.CLOCK_NOT_ADJUSTED, {"by_s": delta})
                return False
            self._s.clock_offset += delta
            self._alert(Alert.CLOCK_ADJUSTED, {"by_s": delta})
            self._schedule_tick()
            return True

    # -- internals: time and stepping ----------------------------------------------------

    def _clock_s(self) -> int:
        return int(self._clock.now().timestamp())

    def _now_s(self) -> int:
        return int(self._clock.now().timestamp()) + self._s.clock_offset

    def _derive(self) -> None:
        """Recompute what follows from the configuration (not stored)."""
        self._tick = math.gcd(HALF_HOUR_S, self.config.max_demand_window_s)
        self._prepayment = self.config.payment_mode == PaymentMode.PREPAYMENT
        self._is_block = self.tariff.is_block
        self._prices = self.tariff.prices
        self._standing = self.tariff.standing_charge
        self._max_price = max(max(row) for row in self.tariff.block_prices) \
            if self._is_block else max(self._prices)
        self._plans: dict[tuple, DayPlan] = {}
        self._batchable = (not self._is_block and self._tick == HALF_HOUR_S
                           and self.config.max_demand_window_s == HALF_HOUR_S
                           and not self._commit_each_tick and not self._volts
                           and self._element.model.daily_periodic)
        self._energy = self._element.energy
        self._metering = self._s.powered and self._s.supply == SupplyState.ENABLED
        cc = self.credit_config
        # below this meter balance a charge may cross a threshold (EC may be in use)
        self._credit_watch = max(cc.low_credit_threshold, cc.emergency_credit_threshold,
                                 cc.disablement_threshold) + cc.emergency_credit_limit + 1
        self._tick_delta = timedelta(seconds=self._tick)
        self._md_ticks = max(1, self.config.max_demand_window_s // HALF_HOUR_S)
        self._load_switches(self._s.t)

    def _load_switches(self, t: int) -> None:
        day = t // DAY_S
        first = date.fromordinal(day - 1 + 719_163)
        points = self.tariff.switching.switch_times(first, 3, self._s.randomised_offset,
                                                    day - 1)
        self._switch_times = [p[0] for p in points]
        self._switch_rates = [p[1] for p in points]
        i = bisect_right(self._switch_times, t)
        self._rate = self._switch_rates[i - 1] if i else self._switch_rates[-1]
        self._next_switch = self._switch_times[i] if i < len(points) else t + DAY_S
        self._switch_i = i

    def _schedule_tick(self) -> None:
        timer = self._timers.pop("tick", None)
        if timer is not None:
            self._clock.cancel(timer)
        due = self._next_wake() - self._s.clock_offset
        self._timers["tick"] = self._clock.schedule(
            self._on_tick, "esme.tick", at=datetime.fromtimestamp(due, UTC))

    def _on_tick(self) -> None:
        s = self._s
        self._advance(int(self._clock.now().timestamp()) + s.clock_offset)
        if self._alerts:
            self._flush()
        rest = self._next_wake() - s.t
        self._timers["tick"] = self._clock.schedule(
            self._on_tick, "esme.tick",
            after=self._tick_delta if rest == self._tick else timedelta(seconds=rest))

    def _next_wake(self) -> int:
        """When the engine must next run: the next measuring period boundary, or the
        next midnight when nothing can happen before it. Nothing can when the load model
        is a daily shape (so the energy to midnight is known), no average voltage is
        being watched, commits are daily, and in prepayment no credit threshold can be
        reached and no time debt paid off even at the highest price. Boundaries passed
        while asleep are still measured one by one when it wakes (or is read)."""
        s = self._s
        t = s.t
        tick = t - t % self._tick + self._tick
        if self._volts or self._commit_each_tick or not self._element.model.daily_periodic:
            return tick
        midnight = t - t % DAY_S + DAY_S
        if not self._prepayment:
            return midnight
        seconds = midnight - t
        credit, cfg = self.credit, self.credit_config
        bound = self._standing * seconds // DAY_S + 2
        if self._metering:
            bound += self._energy(t, midnight)[0] * self._max_price // 1_000_000
        for i in (0, 1):
            if credit.time_debts[i]:
                due = cfg.time_debt_rates[i] * seconds // cfg.time_debt_periods_s[i] + 1
                if due >= credit.time_debts[i]:
                    return tick
                bound += due
        return midnight if credit.meter_balance - bound > self._credit_watch else tick

    def _advance(self, t1: int) -> None:
        """Measure from the state's time to `t1`, stopping at every boundary."""
        s = self._s
        tick = self._tick
        while s.t < t1:
            if not s.t % DAY_S and t1 - s.t >= DAY_S and self._batchable and \
                    self._metering and self._whole_day():
                continue
            boundary = s.t - s.t % tick + tick
            end = min(t1, boundary, self._next_switch)
            start, s.t = s.t, end  # what the period's charges trigger happens at its end
            self._accumulate(start, end)
            if end == self._next_switch:
                self._switch_i += 1
                self._rate = self._switch_rates[self._switch_i - 1]
                self._next_switch = self._switch_times[self._switch_i] \
                    if self._switch_i < len(self._switch_times) else end + DAY_S
            if end == boundary:
                self._boundary(end)

    def _whole_day(self) -> bool:
        """Measure a whole day at once when nothing in it can raise an alert or switch
        the supply: the same segments, the same sums, the same registers, logs and
        rounding as measuring it period by period (see `_day_plan`). False when the
        day's charges could reach a credit threshold: then it is measured step by step."""
        s, credit = self._s, self.credit
        plan = self._day_plan()
        cost, cost_rem = divmod(plan.cost + s.cost_rem, 1_000_000)
        standing, standing_rem = divmod(self._standing * DAY_S + s.standing_rem, DAY_S)
        if self._prepayment and (credit.time_debts[0] or credit.time_debts[1] or
                                 credit.meter_balance - cost - standing < self._credit_watch):
            return False
        t = s.t
        s.cost_rem, s.standing_rem = cost_rem, standing_rem
        s.cost_total += cost + standing
        s.billing_cost += cost + standing
        if self._prepayment:
            credit.meter_balance -= cost + standing
        for rate, imp in plan.by_rate:
            s.tou[rate - 1] += imp
            if rate <= MAX_BLOCK_TOU_RATES:
                s.matrix[(rate - 1) * MAX_BLOCKS] += imp
        base = s.imp, s.exp, s.rimp
        imp, exp, rimp, rexp, sec, *phases = plan.totals
        s.imp += imp
        s.exp += exp
        s.rimp += rimp
        s.rexp += rexp
        s.sec += sec
        s.block_period += imp
        if self._shares:
            s.phases = [a + b for a, b in zip(s.phases, phases)]
        for values, start, cumulative in zip((s.pi, s.pe, s.pr), base, plan.cumulative):
            last = start // 1000
            for c in cumulative:
                now = (start + c) // 1000
                values.append(now - last)
                last = now
        s.captured = [s.imp // 1000, s.exp // 1000, s.rimp // 1000]
        md = s.md
        if plan.md[0] > md[0]:
            md[0], md[1] = plan.md[0], t + plan.md[1]
        if plan.md[2] > md[2]:
            md[2], md[3] = plan.md[2], t + plan.md[3]
        s.t = t + DAY_S
        self._close_day(s.t)
        return True

    def _day_plan(self) -> DayPlan:
        """The day's energies from midnight, segment by segment as `_advance` would cut
        them (half hours and switch times), for a daily-periodic load; cached by the
        day's switching, as most days repeat."""
        t = self._s.t
        i = self._switch_i
        switches = []
        while i < len(self._switch_times) and self._switch_times[i] < t + DAY_S:
            switches.append((self._switch_times[i] - t, self._switch_rates[i]))
            i += 1
        key = (self._rate, tuple(switches))
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = DayPlan.measure(self._energy, self._prices, t,
                                                           self._rate, switches)
        return plan

    def _accumulate(self, t0: int, t1: int) -> None:
        s = self._s
        imp, exp, rimp, rexp, sec, p1, p2, p3 = self._energy(t0, t1) if self._metering \
            else NO_ENERGY
        cost = 0
        if imp:
            s.imp += imp
            s.rimp += rimp
            s.sec += sec
            if self._shares:
                phases = s.phases
                phases[0] += p1
                phases[1] += p2
                phases[2] += p3
            rate = self._rate
            s.tou[rate - 1] += imp
            s.md_window[0] += imp
            if self._is_block:
                cost = self._block_cost(rate, imp)
            else:
                if rate <= MAX_BLOCK_TOU_RATES:
                    s.matrix[(rate - 1) * MAX_BLOCKS] += imp
                cost, s.cost_rem = divmod(imp * self._prices[rate - 1] + s.cost_rem,
                                          1_000_000)
            s.block_period += imp
        if exp:
            s.exp += exp
            s.rexp += rexp
            s.md_window[1] += exp
        if self._standing:
            standing, s.standing_rem = divmod(self._standing * (t1 - t0) + s.standing_rem,
                                              DAY_S)
            cost += standing
        if cost:
            s.cost_total += cost
            s.billing_cost += cost
        if self._prepayment:
            credit = self.credit
            debts = credit.time_debts
            if credit.meter_balance >= cost and not (debts[0] or debts[1]):
                credit.meter_balance -= cost
            else:
                self._charge_credit(cost, t1 - t0)

    def _charge_credit(self, cost: int, seconds: int) -> None:
        """Charges that may dip into emergency credit or recover time debt."""
        alerts: list[int] = []
        if cost:
            self.credit.charge(cost, alerts)
        self.credit.recover_time_debt(self.credit_config, seconds, alerts)
        for code in alerts:
            self._alert(code, None)

    def _block_cost(self, rate: int, imp: int) -> int:
        s, tariff = self._s, self.tariff
        cost = s.cost_rem
        left, consumed = imp, s.block_period
        while left:
            block = tariff.block_of(consumed // 1000)
            part = left
            if block < len(tariff.block_thresholds):
                part = min(left, tariff.block_thresholds[block] * 1000 - consumed)
            s.matrix[(rate - 1) * MAX_BLOCKS + block] += part
            cost += part * tariff.price(rate, block)
            consumed += part
            left -= part
        whole, s.cost_rem = divmod(cost, 1_000_000)
        return whole

    def _boundary(self, t: int) -> None:
        s = self._s
        if self._prepayment and self.credit.meter_balance < self._credit_watch:
            self._check_credit()
        if self._volts:
            self._check_average_voltage(t)
        if self._md_ticks > 1 or not t % self.config.max_demand_window_s:
            self._maximum_demand(t)
        if t % HALF_HOUR_S:
            return
        imp, exp, rimp = s.imp // 1000, s.exp // 1000, s.rimp // 1000
        cap = s.captured
        s.pi.append(imp - cap[0])
        s.pe.append(exp - cap[1])
        s.pr.append(rimp - cap[2])
        s.captured = [imp, exp, rimp]
        if t % DAY_S == 0:
            self._close_day(t)
        elif self._commit_each_tick:
            self._commit()

    def _maximum_demand(self, t: int) -> None:
        s = self._s
        window = self.config.max_demand_window_s
        if self._md_ticks > 1:
            s.md_recent = (s.md_recent + [s.md_window[0]])[-self._md_ticks:]
            s.md_recent_exp = (s.md_recent_exp + [s.md_window[1]])[-self._md_ticks:]
            s.md_window = [0, 0]
            if t % window:
                return
            imp, exp = sum(s.md_recent), sum(s.md_recent_exp)
        elif t % window:
            return
        else:
            imp, exp = s.md_window
            s.md_window = [0, 0]
        imp_w, exp_w = imp * 36 // (window * 10), exp * 36 // (window * 10)
        md = s.md
        if imp_w > md[0]:
            md[0], md[1] = imp_w, t
        if exp_w > md[2]:
            md[2], md[3] = exp_w, t

    def _close_day(self, t: int) -> None:
        s = self._s
        day_wh = (s.imp - s.day_start_imp) // 1000
        self._pending += [
            (logs.ACTIVE_IMPORT_PROFILE.log, {"t": s.day_t, "v": logs.pack(s.pi)}),
            (logs.ACTIVE_EXPORT_PROFILE.log, {"t": s.day_t, "v": logs.pack(s.pe)}),
            (logs.REACTIVE_IMPORT_PROFILE.log, {"t": s.day_t, "v": logs.pack(s.pr)}),
            (logs.DAILY_CONSUMPTION_LOG[0], {"t": t, "wh": day_wh}),
            (logs.DAILY_READ_LOG[0], self._reading(t)),
        ]
        s.pi, s.pe, s.pr = [], [], []
        s.day_t, s.day_start_imp = t, s.imp
        if self.config.billing_day and _dt(t).day == self.config.billing_day:
            self._pending.append((logs.BILLING_DATA_LOG[0], self._reading(t)))
            s.billing_cost = 0
            s.block_period = 0
            s.md = [0, 0, 0, 0]
            self._alert(Alert.BILLING_DATA_LOG_UPDATED, {"t": t})
        self._load_switches(t)
        self._schedule_alcs_day()
        self._commit()

    def _reading(self, t: int) -> dict:
        s, rates = self._s, self.tariff.rates
        return {"t": t, "import_wh": s.imp // 1000, "export_wh": s.exp // 1000,
                "tou_wh": [r // 1000 for r in s.tou[:rates]],
                "matrix_wh": [m // 1000 for m in s.matrix] if self.tariff.is_block else [],
                "cost": s.cost_total, "billing_cost": s.billing_cost,
                "meter_balance": self.credit.meter_balance,
                "emergency_credit_balance": self.credit.emergency_credit_balance,
                "debts": [*self.credit.time_debts, self.credit.payment_debt],
                "md_import_w": s.md[0], "md_export_w": s.md[2]}

    # -- internals: credit and supply ----------------------------------------------------

    def _credit_exhausted(self) -> bool:
        return self.config.payment_mode == PaymentMode.PREPAYMENT and \
            self.credit.combined < self.credit_config.disablement_threshold

    def _check_credit(self) -> None:
        if self.config.payment_mode != PaymentMode.PREPAYMENT:
            return
        alerts: list[int] = []
        self.credit.check(self.credit_config, alerts)
        for code in alerts:
            self._alert(code, {"combined_credit": self.credit.combined})
        s = self._s
        if not self._credit_exhausted():
            s.disable_suspended = False
            return
        if s.supply == SupplyState.DISABLED:
            return
        if self.config.non_disablement.contains(s.t):
            if not s.disable_suspended:
                s.disable_suspended = True
                self._alert(Alert.DISABLEMENT_SUSPENDED, {"combined_credit":
                                                          self.credit.combined})
            return
        s.disable_suspended = False
        self._set_supply(SupplyState.DISABLED, DisableReason.CREDIT,
                         Alert.CREDIT_BELOW_DISABLEMENT_THRESHOLD)

    def _check_top_up(self, amount: int) -> None:
        cfg = self.credit_config
        if amount > cfg.max_credit_threshold:
            raise UtrnError(f"{amount} exceeds the maximum credit threshold",
                            Alert.UTRN_EXCEEDS_MAXIMUM_CREDIT)
        if self.credit.meter_balance + amount > cfg.max_meter_balance:
            raise UtrnError(f"{amount} would exceed the maximum meter balance",
                            Alert.CREDIT_EXCEEDS_MAXIMUM_METER_BALANCE)

    def _add_credit(self, amount: int, local: bool, detail: dict | None = None) -> None:
        try:
            self._check_top_up(amount)
        except UtrnError as err:
            self._alert(err.alert, {"amount": amount})
            raise EngineError("top_up.amount", err.problem) from None
        alerts: list[int] = []
        recovered = self.credit.add(self.credit_config, amount, alerts)
        for code in alerts:
            self._alert(code, None)
        self._event("top_up", {"amount": amount, "payment_debt_recovered": recovered,
                               **(detail or {})})
        if local:
            self._alert(Alert.CREDIT_ADDED_LOCALLY, {"amount": amount})
        self._check_credit()
        if self._s.disable_reason == DisableReason.CREDIT and not self._credit_exhausted():
            self._set_supply(SupplyState.ARMED, DisableReason.NONE, Alert.SUPPLY_ARMED)

    def _set_supply(self, state: SupplyState, reason: DisableReason,
                    alert: Alert | None = None) -> None:
        s = self._s
        if s.supply == state and s.disable_reason == reason:
            return
        s.supply, s.disable_reason = int(state), int(reason)
        self._event("supply", {"state": state.name, "reason": reason.name})
        self._apply_outputs()
        if alert is not None:
            self._alert(alert, {"supply": state.name})

    def _apply_outputs(self) -> None:
        self._metering = self._s.powered and self._s.supply == SupplyState.ENABLED
        if self._contactor is not None:
            self._contactor.set_closed(self._s.supply == SupplyState.ENABLED)
        for i, out in enumerate(self._alcs_out[:MAX_ALCS]):
            out.set_closed(bool(self._s.alcs[i]) and self._s.powered)

    # -- internals: load limit, voltage, outage, ALCS ------------------------------------

    # -- internals: commands, alerts, persistence ----------------------------------------

    @contextmanager
    def _command(self) -> Iterator[None]:
        """Measure up to now, run the command, commit, then deliver its alerts. A
        refused command (EngineError) keeps only its log entries and alerts."""
        self._advance(self._now_s())
        before = (self._s.record(self.credit), self.tariff, self.credit_config, self.config)
        try:
            yield
            self._schedule_tick()
        except EngineError as err:
            saved, self.tariff, self.credit_config, self.config = before
            self._s, self.credit = MeterState.from_json(saved)
            self._derive()
            self._pending = [p for p in self._pending if p[0] in
                             (logs.EVENT_LOG[0], logs.SECURITY_LOG[0])]
            self._event("command_rejected", {"field": err.field, "problem": err.problem})
            self._schedule_tick()
            self._commit()
            self._flush()
            raise
        self._commit()
        self._flush()

    def _alert(self, code: int, detail: Any) -> None:
        log = logs.SECURITY_LOG[0] if code in ALERTS_TO_SECURITY_LOG else logs.EVENT_LOG[0]
        self._pending.append((log, {"t": self._s.t, "alert": int(code), "detail": detail}))
        self._alerts.append((int(code), detail))

    def _event(self, event: str, detail: Any) -> None:
        self._pending.append((logs.EVENT_LOG[0], {"t": self._s.t, "event": event,
                                                  "detail": detail}))

    def _flush(self) -> None:
        """Deliver the alerts raised, committing first so each one is acknowledged."""
        if not self._alerts:
            return
        if self._pending:
            self._commit()
        alerts, self._alerts = self._alerts, []
        if self._on_alert is not None:
            for code, detail in alerts:
                self._on_alert(code, detail)

    def _commit_config(self) -> None:
        self._store.put(CONFIG_KEY, {"tariff": self.tariff.to_json(),
                                     "credit": self.credit_config.to_json(),
                                     "engine": self.config.to_json()})

    def _commit(self) -> None:
        store = self._store
        with store.transaction():
            store.put(STATE_KEY, self._s.record(self.credit))
            for log, value in self._pending:
                store.append(log, value)
        self._pending = []
        self.commits += 1
        if self._on_commit is not None:
            self._on_commit(self._s.t)

    # -- snapshots (the simulator saves the engine with the machine) --------------------

    def snapshot(self) -> tuple:
        """The engine's volatile state (its NVM is the store's own snapshot)."""
        return (self._s.record(self.credit), self.tariff,
                self.credit_config, self.config, copy.deepcopy(self._pending),
                dict(self._timers), list(self._volts), list(self._volt_integral),
                self._volt_since, set(self._voltage_events))

    def restore(self, state: tuple) -> None:
        saved, self.tariff, self.credit_config, self.config, pending, timers, volts, \
            integral, since, events = state
        self._s, self.credit = MeterState.from_json(saved)
        self._pending, self._timers = copy.deepcopy(pending), dict(timers)
        self._volts, self._volt_integral, self._volt_since = list(volts), list(integral), \
            since
        self._voltage_events = set(events)
        self._alerts = []
        self._derive()
        self._apply_outputs()

    @staticmethod
    def committed_time(store: NonVolatileStore) -> datetime | None:
        """The device time the store's state was committed at (to restart a simulator
        there after a kill), or None for a new meter."""
        saved = store.get(STATE_KEY)
        if saved is None:
            return None
        state, _ = MeterState.from_json(saved)
        return _dt(state.t - state.clock_offset)


def _dt(t: int) -> datetime:
    return datetime.fromtimestamp(t, UTC)


