"""Quality of supply and load control for the ESME engine: outages and restoration,
RMS voltage (sags, swells, averages), load limiting, the auxiliary load control
switches and the boost button.

`SupplyQuality` is mixed into `MeterEngine`: it acts through the engine's state,
timers, commands (`_command`: measure to now, commit, then alert) and alerts.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from firmware.esme.engine import logs
from firmware.esme.engine.codes import Alert, on_phase
from firmware.esme.engine.config import DAY_S, MAX_ALCS
from firmware.esme.engine.errors import EngineError, check_int
from firmware.esme.engine.supply import DisableReason, SupplyState


class SupplyQuality:
    """Outages, voltage quality, load limiting and ALCS (a `MeterEngine` mixin)."""

    def power_fail(self) -> None:
        """Mains lost: metering stops (registers kept) until `power_restore`."""
        with self._command():
            if not self._s.powered:
                raise EngineError("power", "the supply is already interrupted")
            self._s.powered = False
            self._s.outage_start = self._s.t
            self._pending.append((logs.POWER_EVENT_LOG[0],
                                  {"t": self._s.t, "event": "supply_interrupted"}))
            self._apply_outputs()

    def power_restore(self) -> None:
        with self._command():
            if self._s.powered:
                raise EngineError("power", "the supply is not interrupted")
            self._restored(self._s.t)

    def tamper_detected(self) -> None:
        """The tamper switch (cover or terminal seal) opened: a security log entry and
        the Unauthorised Physical Access alert (0x8F3F) to the supplier."""
        with self._command():
            self._alert(Alert.UNAUTHORISED_PHYSICAL_ACCESS, {"switch": "tamper"})

    def set_voltage(self, volts: float, phase: int = 0) -> None:
        """The RMS voltage now on `phase` (0 single phase, 1..3 polyphase): sags and
        swells count once they last the configured period; averages are checked per
        measuring period."""
        check_int("voltage.phase", phase, 0, 3)
        if not isinstance(volts, (int, float)) or not 0 <= volts < 1000:
            raise EngineError("voltage.volts", f"{volts!r} is not an RMS voltage")
        self.refresh()
        if not self._volts:
            self._volts = [230.0] * 4
            self._batchable = False  # average voltages are checked period by period
            self._volt_integral = [0.0] * 4
            self._volt_since = self._s.t - self._s.t % self._tick
        self._integrate_volts(self._s.t)
        self._volts[phase] = float(volts)
        cfg = self.config.voltage
        for kind, beyond in (("sag", volts < cfg.sag_v), ("swell", volts > cfg.swell_v)):
            name = f"{kind}{phase}"
            timer = self._timers.pop(name, None)
            if timer is not None:
                self._clock.cancel(timer)
            active = name in self._voltage_events
            if beyond != active:
                self._timers[name] = self._clock.schedule(
                    lambda k=kind, p=phase, b=beyond: self._voltage_confirmed(k, p, b),
                    f"esme.{name}", after=timedelta(seconds=cfg.period_s))

    def set_alcs(self, index: int, closed: bool) -> None:
        """Switch auxiliary load control switch `index` (1..5) on or off."""
        check_int("alcs.index", index, 1, MAX_ALCS)
        with self._command():
            self._switch_alcs(index - 1, bool(closed), "command")

    def _load_limit_check(self) -> None:
        cfg = self.config.load_limit
        self._timers.pop("load_limit", None)
        if not cfg.threshold_w:
            return
        self._advance(self._now_s())
        s, t = self._s, self._s.t
        since, imp = s.load_limit_from
        s.load_limit_from = [t, s.imp]
        above = t > since and (s.imp - imp) * 36 // ((t - since) * 10) > cfg.threshold_w
        if above and not s.load_limit_above:
            s.load_limit_counter += 1
            self._alert(Alert.LOAD_LIMIT_THRESHOLD_EXCEEDED,
                        {"counter": s.load_limit_counter, "threshold_w": cfg.threshold_w})
            if cfg.disable:
                self._set_supply(SupplyState.ARMED, DisableReason.LOAD_LIMIT,
                                 Alert.SUPPLY_ARMED_LOAD_LIMIT)
                self._timers["load_limit_restore"] = self._clock.schedule(
                    self._load_limit_restore, "esme.load_limit_restore",
                    after=timedelta(seconds=cfg.restoration_s))
        changed = above != s.load_limit_above
        s.load_limit_above = above
        if changed:  # the window start is re-measured after a restart, so needs no commit
            self._commit()
        self._flush()
        self._schedule_load_limit()

    def _schedule_load_limit(self) -> None:
        threshold = self.config.load_limit.threshold_w
        peak = self._element.model.peak_kw
        if peak is not None and peak * 1000 <= threshold and not self._s.load_limit_above:
            return  # the load can never go over it
        if threshold and "load_limit" not in self._timers:
            self._timers["load_limit"] = self._clock.schedule(
                self._load_limit_check, "esme.load_limit",
                after=timedelta(seconds=self.config.load_limit.period_s))

    def _load_limit_restore(self) -> None:
        self._timers.pop("load_limit_restore", None)
        with self._command():
            if self._s.disable_reason == DisableReason.LOAD_LIMIT:
                self._set_supply(SupplyState.ENABLED, DisableReason.NONE,
                                 Alert.SUPPLY_ENABLED_AFTER_LOAD_LIMIT)

    def _voltage_confirmed(self, kind: str, phase: int, beyond: bool) -> None:
        name = f"{kind}{phase}"
        self._timers.pop(name, None)
        with self._command():
            if beyond:
                self._voltage_events.add(name)
                counts = self._s.sags if kind == "sag" else self._s.swells
                counts[phase] += 1
                code = Alert.VOLTAGE_SAG if kind == "sag" else Alert.VOLTAGE_SWELL
            else:
                self._voltage_events.discard(name)
                code = Alert.VOLTAGE_SAG_ENDED if kind == "sag" else \
                    Alert.VOLTAGE_SWELL_ENDED
            self._alert(on_phase(code, phase), {"volts": self._volts[phase]})

    def _integrate_volts(self, t: int) -> None:
        dt = t - self._volt_since
        if dt > 0:
            for p in range(4):
                self._volt_integral[p] += self._volts[p] * dt
            self._volt_since = t

    def _check_average_voltage(self, t: int) -> None:
        start = t - self._tick
        self._integrate_volts(t)
        cfg = self.config.voltage
        phases = (1, 2, 3) if self._shares else (0,)
        for p in phases:
            average = self._volt_integral[p] / max(1, t - start)
            self._volt_integral[p] = 0.0
            flag = 1 if average > cfg.average_over_v else -1 if average < \
                cfg.average_under_v else 0
            old = self._s.average_flags[p]
            if flag == old:
                continue
            if old == 1:
                self._alert(on_phase(Alert.AVERAGE_OVER_VOLTAGE_ENDED, p), average)
            elif old == -1:
                self._alert(on_phase(Alert.AVERAGE_UNDER_VOLTAGE_ENDED, p), average)
            if flag == 1:
                self._alert(on_phase(Alert.AVERAGE_OVER_VOLTAGE, p), average)
            elif flag == -1:
                self._alert(on_phase(Alert.AVERAGE_UNDER_VOLTAGE, p), average)
            self._s.average_flags[p] = flag

    def _resume_after_gap(self, now: int) -> None:
        """Started after the store's last commit: the meter was off (a kill is a power
        cut). Move through the gap unpowered, then record the outage."""
        s = self._s
        if s.powered:
            s.powered = False
            s.outage_start = s.t
            self._pending.append((logs.POWER_EVENT_LOG[0],
                                  {"t": s.t, "event": "supply_interrupted"}))
            self._apply_outputs()
        self._advance(now)
        self._restored(now)
        self._commit()
        self._flush()

    def _restored(self, t: int) -> None:
        s = self._s
        s.powered = True
        duration = t - s.outage_start
        self._pending.append((logs.POWER_EVENT_LOG[0],
                              {"t": t, "event": "supply_restored", "outage_s": duration}))
        self._alert(Alert.SUPPLY_OUTAGE_RESTORED_3_MINUTES if duration >= 180
                    else Alert.SUPPLY_OUTAGE_RESTORED, {"outage_s": duration})
        self._apply_outputs()

    def _switch_alcs(self, i: int, closed: bool, why: str) -> None:
        if bool(self._s.alcs[i]) != closed:
            self._s.alcs[i] = closed
            self._event("alcs", {"switch": i + 1, "closed": closed, "by": why})
            self._apply_outputs()

    def _boost(self) -> None:
        timer = self._timers.pop("boost", None)
        if timer is not None:  # a second press ends the boost
            self._clock.cancel(timer)
            self._s.boost_until = 0
            self._switch_alcs(0, False, "boost")
            return
        self._s.boost_until = self._s.t + self.config.boost_s
        self._switch_alcs(0, True, "boost")
        self._timers["boost"] = self._clock.schedule(
            self._boost_end, "esme.boost_end", after=timedelta(seconds=self.config.boost_s))

    def _boost_end(self) -> None:
        self._timers.pop("boost", None)
        with self._command():
            self._s.boost_until = 0
            self._switch_alcs(0, False, "boost")

    def _schedule_alcs_day(self) -> None:
        """Schedule today's remaining ALCS switch points (and the load limit check)."""
        for name in [n for n in self._timers if n.startswith("alcs")]:
            self._clock.cancel(self._timers.pop(name))
        self._schedule_load_limit()
        day = self._s.t - self._s.t % DAY_S
        for i, schedule in enumerate(self.config.alcs_schedules):
            for n, (at, closed) in enumerate(schedule.points):
                due = day + at + self._s.randomised_offset
                if due > self._s.t:
                    self._timers[f"alcs{i}.{n}"] = self._clock.schedule(
                        lambda i=i, n=n, c=closed: self._alcs_scheduled(i, n, c),
                        f"esme.alcs{i + 1}",
                        at=datetime.fromtimestamp(due - self._s.clock_offset, UTC))

    def _alcs_scheduled(self, i: int, n: int, closed: bool) -> None:
        self._timers.pop(f"alcs{i}.{n}", None)
        with self._command():
            if not (i == 0 and self._s.boost_until):
                self._switch_alcs(i, closed, "schedule")
