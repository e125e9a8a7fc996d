"""The GSME: a battery-powered gas meter whose GBCS commands carry GBZ payloads.

Accepted commands run through the shared ZSE executor over the meter's `GasData`; the
GSME adds what only the meter itself does: prepayment (top-up by UTRN, emergency
credit, credit adjustment, payment mode), the valve (disable and arm remotely, enable
locally by the button only when armed), the network data log, messages and the privacy
PIN. A command whose implementation time is still to come is kept and run by a timer at
that time, raising the future-dated execution alert (8F66).

Behaviour in virtual time: every 30 minutes the meter wakes, reads the gas volume the
load drew (nothing with the valve closed), adds it to the register and the half-hourly
profile, charges it (kWh x unit price) against the bill and, in prepayment mode, the
credit then the emergency credit, closing the valve when both are exhausted; at midnight
it logs the day's consumption, takes the daily snapshot, charges the standing charge,
recovers the time-based debts (Debt3 is recovered as a share of each top-up) and
counts down the battery; then it syncs with the GPF (`on_sync`): its attributes, the
new log entries, and the commands it executed since the last sync (the tap-off).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from typing import Any, Protocol

from firmware.core.credentials import DeviceCredentials, TrustAnchors
from firmware.core.device import GbcsDevice
from firmware.core.gas import (
    BATTERY_DAYS, BILL_TO_DATE, BLOCK_SUMMATIONS, CAUSE_DAILY, CAUSE_MODE, CREDIT_REMAINING,
    CURRENT_SUMMATION, CUT_OFF_VALUE, DAILY_CONSUMPTION, DEBT3_TOP_UP_PERCENTAGE,
    DEBT_RECOVERY_AMOUNTS, DEVICE_MANAGEMENT, EMERGENCY_CREDIT_LIMIT,
    EMERGENCY_CREDIT_REMAINING, EMERGENCY_CREDIT_THRESHOLD, ENCRYPTED_RESPONSES, MESSAGING,
    METERING, NETWORK_DATA, PAYMENT_CONTROL, PREPAYMENT, PREPAYMENT_MODE, PROFILE,
    STANDING_CHARGE, SUPPLY_ARMED, SUPPLY_OFF, SUPPLY_ON, SUPPLY_STATUS, TO_CLIENT,
    TO_SERVER, GasData,
)
from firmware.core.hal import Battery, Clock, NonVolatileStore, Timer, Valve
from firmware.core.responses import seal
from firmware.core.security import Accepted
from firmware.core.zse import (
    INVALID_VALUE, Handler, Request, ZclError, ZseServer, response, to_datetime, to_seconds,
)
from gbcs import gbz
from gbcs.node import Node

WAKE = _dt.timedelta(minutes=30)
FUTURE_DATED_ALERT = 0x00CD  # message code of the GBZ future-dated execution alert
FUTURE_DATED_SUCCESS = 0x8F66
# Event codes (gbcs.alerts).
SUPPLY_ARMED_EVENT, SUPPLY_INTERRUPTED, LOW_BATTERY = 0x8F32, 0x8F57, 0x8F1F
EMERGENCY_CREDIT_ACTIVATED, CREDIT_ADDED_LOCALLY = 0x81AB, 0x810E
DUPLICATE_UTRN, UTRN_NOT_AUTHENTIC, UTRN_ABOVE_MAX_CREDIT = 0x8F51, 0x8F63, 0x8F5B

# ConsumerTopUpResponse result types.
ACCEPTED, REJECTED_INVALID, REJECTED_DUPLICATE, REJECTED_MAX_CREDIT = 0x00, 0x01, 0x02, 0x04


class GasLoad(Protocol):
    """The gas the premises draws: litres between two times (the meter's flow sensor)."""

    def volume_litres(self, start: _dt.datetime, end: _dt.datetime) -> int:
        """Volume drawn in [start, end)."""


class TopUpError(Exception):
    """A UTRN the meter refuses; `result_type` is the ConsumerTopUpResponse result."""

    def __init__(self, result_type: int, detail: str) -> None:
        super().__init__(detail)
        self.result_type = result_type


UtrnVerifier = Callable[[bytes], tuple[int, int]]  # UTRN -> (value in 1/1000 p, counter)


class GsmeError(ValueError):
    """A command the GSME cannot execute at all (no GBZ payload)."""


class Gsme(GbcsDevice):
    """A gas meter. `faults` is the board's fault-injection hook (`zse.Fault`s)."""

    def __init__(self, credentials: DeviceCredentials, anchors: TrustAnchors,
                 store: NonVolatileStore, clock: Clock, valve: Valve, *,
                 battery: Battery | None = None, load: GasLoad | None = None,
                 verify_utrn: UtrnVerifier | None = None,
                 on_sync: Callable[[dict[str, Any]], None] | None = None) -> None:
        super().__init__(credentials, anchors, store, clock)
        self.valve = valve
        self.battery = battery
        self.load = load
        self.verify_utrn = verify_utrn
        self.on_sync = on_sync
        self.data = GasData(store, self.now, self._defer)
        store.declare_log("gsme/tap_off", 500)
        self.server = ZseServer(self.data.attributes, self.data.handlers() | self._handlers())
        self.faults = self.server.faults
        self._accepted: Accepted | None = None
        self._wake_timer: Timer | None = None
        self.display: list[str] = []
        self._rearm()

    # -- the pipeline -------------------------------------------------------------------

    def execute(self, accepted: Accepted) -> Node:
        payload = next((n for n in accepted.message.tree.walk() if n.name == "gbz"), None)
        if payload is None:
            raise GsmeError(f"{accepted.use_case.title}: the payload is not GBZ")
        self._accepted = accepted
        try:
            result = self.server.execute(
                payload, encrypt=self._seal,
                encrypted_clusters=ENCRYPTED_RESPONSES.get(accepted.use_case.use_case, ()))
        finally:
            self._accepted = None
        for request in self.server.executed:
            self.store.append("gsme/tap_off", _tap(request))
        return result

    def _seal(self, plaintext: bytes) -> bytes:
        """Encrypt a response component for the requester (GBCS payload encryption)."""
        accepted = self._accepted
        if accepted is None or accepted.originator.ka is None:
            raise GsmeError("no requester key-agreement key to encrypt for")
        return seal(self.credentials, accepted.originator, accepted.originator_counter,
                    plaintext)

    # -- future-dated commands ----------------------------------------------------------

    def _defer(self, request: Request, when: _dt.datetime) -> None:
        """Keep `request` to run at `when`; the alert names the command that set it."""
        accepted = self._accepted
        pending = {"at": to_seconds(when), "request": _tap(request),
                   "message_code": accepted.use_case.code if accepted else 0,
                   "originator_counter": accepted.originator_counter if accepted else 0,
                   "recipient": accepted.originator.role.value if accepted else ""}
        key = f"gsme/pending/{pending['at']:010d}/{len(self.store.keys('gsme/pending/'))}"
        self.store.put(key, pending)
        self._arm(key, when)

    def _arm(self, key: str, when: _dt.datetime) -> None:
        self.clock.schedule(lambda: self._run_pending(key), f"future {key}",
                            after=max(when - self.now(), _dt.timedelta(0)))

    def _run_pending(self, key: str) -> None:
        pending = self.store.get(key)
        if pending is None:
            return
        with self.store.transaction():
            self.store.delete(key)
            request = _untap(pending["request"])
            handler = self.server.handlers[(request.cluster_id, request.direction,
                                            request.command_id)]
            handler(request)  # now due, so it takes effect
            self.store.append("gsme/tap_off", pending["request"])
            recipient = next((a for a in self.anchors.anchors.values()
                              if a.role.value == pending["recipient"]), None)
            if recipient is not None and recipient.ka is not None:
                direction_bit = 0x08 if request.direction else 0x00
                detail = gbz.future_dated_alert(
                    pending["message_code"], pending["originator_counter"],
                    request.cluster_id, 0x01 | direction_bit, request.command_id)
                self.raise_alert(FUTURE_DATED_ALERT, gbz.gbz_payload(
                    [], gbz.GbzAlert(FUTURE_DATED_SUCCESS, self.now(), [detail])), recipient)

    def _rearm(self) -> None:
        """Arm the timers a restart lost: future-dated commands and the wake timer."""
        for key in self.store.keys("gsme/pending/"):
            self._arm(key, to_datetime(self.store.get(key)["at"]))
        last = self.store.get("gsme/last_wake")
        if last is None:
            self.store.put("gsme/last_wake", to_seconds(self.now()))
        self._schedule_wake()

    # -- behaviour in virtual time ------------------------------------------------------

    def _schedule_wake(self) -> None:
        now = self.now()
        since = now - _dt.datetime(2000, 1, 1, tzinfo=_dt.UTC)
        delay = WAKE - since % WAKE
        self._wake_timer = self.clock.schedule(self._wake, "gsme wake", after=delay)

    def stop_waking(self) -> None:
        """Stop the 30-minute wake cycle (metering and syncs), e.g. to run the clock
        years ahead to a future-dated command; `start_waking` resumes it."""
        if self._wake_timer is not None:
            self.clock.cancel(self._wake_timer)
            self._wake_timer = None

    def start_waking(self) -> None:
        if self._wake_timer is None:
            self.store.put("gsme/last_wake", to_seconds(self.now()))
            self._schedule_wake()

    def _wake(self) -> None:
        self._wake_timer = None
        with self.store.transaction():
            self.tick()
        self._schedule_wake()
        if self.on_sync is not None:
            self.on_sync(self.sync_data())

    def tick(self) -> None:
        """One wake: meter the gas drawn since the last, charge it, log it."""
        now = self.now()
        last = to_datetime(self.store.get("gsme/last_wake", to_seconds(now)))
        self.store.put("gsme/last_wake", to_seconds(now))
        litres = 0
        if self.load is not None and self.valve.open and now > last:
            litres = max(0, int(self.load.volume_litres(last, now)))
        d = self.data
        d.set(CURRENT_SUMMATION, d.get(CURRENT_SUMMATION) + litres)
        d.set(BLOCK_SUMMATIONS[0], d.get(BLOCK_SUMMATIONS[0]) + litres)
        d.add_sample(PROFILE, last, litres)
        self.store.put("gsme/day_litres", self.store.get("gsme/day_litres", 0) + litres)
        self._network_sample(now, litres)
        self.charge(round(d.kwh(litres) * d.unit_price()))
        if now.hour == 0 and now.minute == 0:
            self._end_of_day(now)
        self._check_battery()

    def _end_of_day(self, now: _dt.datetime) -> None:
        d = self.data
        d.add_sample(DAILY_CONSUMPTION, now - _dt.timedelta(days=1),
                     self.store.get("gsme/day_litres", 0))
        self.store.put("gsme/day_litres", 0)
        self.charge(d.get(STANDING_CHARGE))
        if d.get(PAYMENT_CONTROL) & PREPAYMENT_MODE:  # time-based debt recovery
            for index, rate in enumerate(DEBT_RECOVERY_AMOUNTS):
                self._take_credit(d.collect_debt(index, d.get(rate)))
        d.set(BATTERY_DAYS, max(0, d.get(BATTERY_DAYS) - 1))
        d.take_snapshot(CAUSE_DAILY)

    def _network_sample(self, now: _dt.datetime, litres: int) -> None:
        """The network data log (GCS31): samples while a sampling run is active."""
        run = self.store.get("gsme/network_run")
        if not run or now < to_datetime(run["start"]):
            return
        self.data.add_sample(NETWORK_DATA, now, litres)
        run["taken"] += 1
        self.store.put("gsme/network_run", run if run["taken"] < run["max"] else None)

    def _check_battery(self) -> None:
        if self.battery is None or self.battery.level() > 0.1:
            return
        if not self.store.get("gsme/low_battery_logged"):
            self.store.put("gsme/low_battery_logged", True)
            self.data.log_event(LOW_BATTERY)

    def charge(self, amount: int) -> None:
        """Bill `amount` (1/1000 p); in prepayment mode take it from the credit, then the
        emergency credit, and disable the supply when both are gone."""
        d = self.data
        d.set(BILL_TO_DATE, d.get(BILL_TO_DATE) + amount)
        if d.get(PAYMENT_CONTROL) & PREPAYMENT_MODE:
            self._take_credit(amount)

    def _take_credit(self, amount: int) -> None:
        d = self.data
        if amount <= 0:
            return
        credit = d.get(CREDIT_REMAINING) - amount
        if credit < 0 and d.get(EMERGENCY_CREDIT_REMAINING) > 0:
            ec = d.get(EMERGENCY_CREDIT_REMAINING) + credit
            d.set(EMERGENCY_CREDIT_REMAINING, max(0, ec))
            credit = min(0, ec)
        d.set(CREDIT_REMAINING, credit)
        if credit <= d.get(CUT_OFF_VALUE) and d.get(EMERGENCY_CREDIT_REMAINING) <= 0 \
                and d.get(SUPPLY_STATUS) == SUPPLY_ON:
            self._set_supply(SUPPLY_OFF)
            d.log_event(SUPPLY_INTERRUPTED)

    def sync_data(self) -> dict[str, Any]:
        """What the GPF mirrors: attributes, new log entries, the tap-off since the last
        sync (marks of what was sent are kept, so each entry goes once)."""
        marks = self.store.get("gsme/sync_marks", {})
        logs = self.data.logs_since(marks)
        tap_off = [e for e in self.store.entries("gsme/tap_off")
                   if e.seq > marks.get("gsme/tap_off", -1)]
        new_marks = dict(marks)
        for log, entries in logs.items():
            if entries:
                new_marks[log] = entries[-1][0]
        if tap_off:
            new_marks["gsme/tap_off"] = tap_off[-1].seq
        self.store.put("gsme/sync_marks", new_marks)
        return {"at": to_seconds(self.now()), "attributes": self.data.attributes.stored(),
                "logs": logs, "tap_off": [e.value for e in tap_off],
                "config": {k: self.store.get(k) for k in self.store.keys("gas/config/")}}

    # -- the valve and the button -------------------------------------------------------

    def _set_supply(self, status: int) -> None:
        self.valve.set_open(status == SUPPLY_ON)
        self.data.set(SUPPLY_STATUS, status)

    def press_button(self) -> bool:
        """The consumer's enable button: opens the valve only when it is armed."""
        with self.store.transaction():
            if self.data.get(SUPPLY_STATUS) != SUPPLY_ARMED:
                return False
            self._set_supply(SUPPLY_ON)
            return True

    # -- the GSME's own commands --------------------------------------------------------

    def _handlers(self) -> dict[tuple[int, int, int], Handler]:
        return {
            (METERING, TO_SERVER, 0x0B): self._change_supply,
            (METERING, TO_SERVER, 0x0D): self._set_supply_status,
            (METERING, TO_SERVER, 0x0E): self._set_uncontrolled_flow_threshold,
            (METERING, TO_SERVER, 0x07): self._start_sampling,
            (PREPAYMENT, TO_SERVER, 0x00): self._select_emergency_credit,
            (PREPAYMENT, TO_SERVER, 0x04): self._consumer_top_up,
            (PREPAYMENT, TO_SERVER, 0x05): self._credit_adjustment,
            (PREPAYMENT, TO_SERVER, 0x06): self._change_payment_mode,
            (MESSAGING, TO_CLIENT, 0x00): self._display_message,
            (DEVICE_MANAGEMENT, TO_CLIENT, 0x02): self._new_password,
        }

    def _change_supply(self, request: Request) -> list | None:
        """Disable (close) or arm the valve; a gas valve is never enabled remotely."""
        f = request.fields
        status = f["proposed_supply_status"]
        if status not in (SUPPLY_OFF, SUPPLY_ARMED):
            raise ZclError(INVALID_VALUE, f"supply status {status} cannot be set remotely")
        if not self.data.deferred(request, f.get("implementation_date_time")):
            self._set_supply(status)
        if f.get("supply_control_bits", 0) & 0x01:  # acknowledge required
            return [response(METERING, 0x0C, TO_CLIENT, request, provider_id=f["provider_id"],
                             issuer_event_id=f["issuer_event_id"],
                             implementation_date_time=f["implementation_date_time"],
                             supply_status=self.data.get(SUPPLY_STATUS))]
        return None

    def _set_supply_status(self, request: Request) -> None:
        f = request.fields
        self.data.set((METERING, 0x0607), f["supply_tamper_state"])
        self.data.set((METERING, 0x0608), f["supply_depletion_state"])

    def _set_uncontrolled_flow_threshold(self, request: Request) -> None:
        f = request.fields
        for attribute, name in ((0x0B10, "uncontrolled_flow_threshold"),
                                (0x0B11, "unit_of_measure"), (0x0B12, "multiplier"),
                                (0x0B13, "divisor"), (0x0B14, "stabilisation_period"),
                                (0x0B15, "measurement_period")):
            self.data.set((METERING, attribute), f[name])

    def _start_sampling(self, request: Request) -> list:
        """Start the network data log; 0xFFFF (no sampling) while one is still running."""
        f = request.fields
        running = self.store.get("gsme/network_run")
        sample_id = 0xFFFF
        if not running and f["max_number_of_samples"]:
            start = max(to_datetime(f["start_sampling_time"]), self.now())
            self.store.put("gsme/network_run", {"start": to_seconds(start), "taken": 0,
                                                "max": f["max_number_of_samples"]})
            sample_id = NETWORK_DATA
        return [response(METERING, 0x0D, TO_CLIENT, request, sample_id=sample_id)]

    def _select_emergency_credit(self, request: Request) -> None:
        d = self.data
        if d.get(CREDIT_REMAINING) > d.get(EMERGENCY_CREDIT_THRESHOLD):
            raise ZclError(INVALID_VALUE, "credit is above the emergency credit threshold")
        if d.get(EMERGENCY_CREDIT_REMAINING) > 0:
            raise ZclError(INVALID_VALUE, "emergency credit is already in use")
        d.set(EMERGENCY_CREDIT_REMAINING, d.get(EMERGENCY_CREDIT_LIMIT))
        d.log_event(EMERGENCY_CREDIT_ACTIVATED)
        self._arm_if_disabled()

    def _consumer_top_up(self, request: Request) -> list:
        f = request.fields
        code = f["top_up_code"]
        d = self.data
        try:
            if self.verify_utrn is None:
                raise TopUpError(REJECTED_INVALID, "no UTRN key to verify with")
            value, counter = self.verify_utrn(code)
            accepted = self.store.get("gsme/utrn_counters", [])
            if counter in accepted:
                raise TopUpError(REJECTED_DUPLICATE, f"UTRN counter {counter} already used")
            if d.get(CREDIT_REMAINING) + value > d.get((PREPAYMENT, 0x0021)):
                raise TopUpError(REJECTED_MAX_CREDIT, "the top-up exceeds the credit limit")
        except TopUpError as err:
            d.log_event({REJECTED_DUPLICATE: DUPLICATE_UTRN,
                         REJECTED_MAX_CREDIT: UTRN_ABOVE_MAX_CREDIT}.get(
                             err.result_type, UTRN_NOT_AUTHENTIC), code, security=True)
            return [response(PREPAYMENT, 0x03, TO_CLIENT, request, result_type=err.result_type,
                             top_up_value=0, source_of_top_up=f["originating_device"],
                             credit_remaining=d.get(CREDIT_REMAINING))]
        self.store.put("gsme/utrn_counters", (accepted + [counter])[-10:])
        self.top_up(value, code)
        return [response(PREPAYMENT, 0x03, TO_CLIENT, request, result_type=ACCEPTED,
                         top_up_value=value, source_of_top_up=f["originating_device"],
                         credit_remaining=d.get(CREDIT_REMAINING))]

    def top_up(self, value: int, code: bytes) -> None:
        """Add credit, repay emergency credit first, log it, arm a disabled valve."""
        d = self.data
        share = value * d.get(DEBT3_TOP_UP_PERCENTAGE) // 10000  # payment-based recovery
        d.set(CREDIT_REMAINING, d.get(CREDIT_REMAINING) + value - d.collect_debt(2, share))
        used_ec = d.get(EMERGENCY_CREDIT_LIMIT) - d.get(EMERGENCY_CREDIT_REMAINING)
        if d.get(EMERGENCY_CREDIT_REMAINING) > 0 and used_ec > 0:
            d.set(CREDIT_REMAINING, d.get(CREDIT_REMAINING) - used_ec)
            d.set(EMERGENCY_CREDIT_REMAINING, 0)
        self.store.append("gas/top_ups", {"t": to_seconds(self.now()), "code": code,
                                          "amount": value})
        d.log_event(CREDIT_ADDED_LOCALLY)
        self._arm_if_disabled()

    def _arm_if_disabled(self) -> None:
        d = self.data
        available = d.get(CREDIT_REMAINING) + d.get(EMERGENCY_CREDIT_REMAINING)
        if d.get(SUPPLY_STATUS) == SUPPLY_OFF and available > d.get(CUT_OFF_VALUE):
            self._set_supply(SUPPLY_ARMED)
            d.log_event(SUPPLY_ARMED_EVENT)

    def _credit_adjustment(self, request: Request) -> None:
        f = request.fields
        if self.data.deferred(request, f.get("start_time")):
            return
        value = f["credit_adjustment_value"]
        current = self.data.get(CREDIT_REMAINING)
        self.data.set(CREDIT_REMAINING, current + value if f["credit_adjustment_type"] == 0
                      else value)
        self._arm_if_disabled()

    def _change_payment_mode(self, request: Request) -> list:
        f = request.fields
        d = self.data
        if not d.deferred(request, f.get("implementation_date_time")):
            d.take_snapshot(CAUSE_MODE)
            d.set(PAYMENT_CONTROL, f["proposed_payment_control_configuration"])
            d.set(CUT_OFF_VALUE, f["cut_off_value"])
        return [response(PREPAYMENT, 0x02, TO_CLIENT, request, friendly_credit=0,
                         friendly_credit_calendar_id=0,
                         emergency_credit_limit=d.get(EMERGENCY_CREDIT_LIMIT),
                         emergency_credit_threshold=d.get(EMERGENCY_CREDIT_THRESHOLD))]

    def _display_message(self, request: Request) -> None:
        message = request.fields["message"]
        text = message.decode("latin-1") if isinstance(message, bytes) else str(message)
        self.store.put("gsme/message", {"id": request.fields["message_id"], "text": text})
        self.display = [text]

    def _new_password(self, request: Request) -> None:
        """GCS11: a new privacy PIN (password type) for the meter's user interface."""
        f = request.fields
        self.store.put(f"gsme/password/{f['password_type']}", f["password"])


def _tap(request: Request) -> dict[str, Any]:
    return {"cluster_id": request.cluster_id, "command_id": request.command_id,
            "direction": request.direction, "fields": request.fields}


def _untap(item: dict[str, Any]) -> Request:
    return Request(item["cluster_id"], item["command_id"], item["direction"], item["fields"])

