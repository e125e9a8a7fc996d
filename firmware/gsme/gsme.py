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
counts down the battery; closes a billing period that ended (`firmware.gsme.billing`,
GCS53); then it syncs with the GPF (`on_sync`): its attributes, the new log entries, and
the commands it executed since the last sync (the tap-off), resent until the hub
acknowledges them (`sync_acknowledged`). A GCS31 sampling run samples the flow at its
interval (6 minutes) between wakes. GCS28 sets its clock from the HAN time source
(`firmware.gsme.clock`). Events in ALERTED_EVENTS (credit added locally, a command from
an unknown originator, low battery), integrity issues and a received firmware image
(8F72) become alerts to the Supplier, which leave with its next message up the tunnel.
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
from firmware.core import firmware_image
from firmware.core.credentials import Role
from firmware.core.security import Accepted, Rejected
from firmware.core.zse import (
    INVALID_VALUE, Handler, Request, ZclError, ZseServer, response, to_datetime, to_seconds,
)
from firmware.gsme import billing
from firmware.gsme import clock as gsme_clock
from firmware.gsme.clock import CLOCK_OFFSET, SET_CLOCK, TimeSource
from gbcs import gbz
from gbcs.node import Node

WAKE = _dt.timedelta(minutes=30)
TAP_OFF = "gsme/tap_off"
NETWORK_RUN = "gsme/network_run"
SYNC_ACKED, SYNC_HISTORY = "gsme/sync_acked", "gsme/sync_history"
RESEND_WAKES = 4      # syncs an unacknowledged entry goes with
FUTURE_DATED_ALERT = 0x00CD  # message code of the GBZ future-dated execution alert
FUTURE_DATED_SUCCESS = 0x8F66
# Event codes (gbcs.alerts).
SUPPLY_ARMED_EVENT, SUPPLY_INTERRUPTED, LOW_BATTERY = 0x8F32, 0x8F57, 0x8F1F
EMERGENCY_CREDIT_ACTIVATED, CREDIT_ADDED_LOCALLY = 0x81AB, 0x810E
NO_AUTHORITY, INTEGRITY_WARNING = 0x8F30, 0x81A0
FIRMWARE_VERIFIED = 0x8F72
GENERIC_CRITICAL, GENERIC_NON_CRITICAL = 0x1000, 0x1001   # GBZ generic alert message codes
# The events the meter also tells its Supplier about, as generic alerts (critical for
# the 0x8Fxx codes: signed, as the RTDS's GCA / GNCA alerts are).
ALERTED_EVENTS = frozenset({NO_AUTHORITY, CREDIT_ADDED_LOCALLY, LOW_BATTERY})
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
                 on_sync: Callable[[dict[str, Any]], None] | None = None,
                 time_source: TimeSource | None = None) -> None:
        super().__init__(credentials, anchors, store, clock)
        self.der_handlers[SET_CLOCK] = gsme_clock.set_clock
        self.time_source = time_source
        self.valve = valve
        self.battery = battery
        self.load = load
        self.verify_utrn = verify_utrn
        self.on_sync = on_sync
        self.data = GasData(store, self.now, self._defer)
        store.declare_log(TAP_OFF, 500)
        self.server = ZseServer(self.data.attributes, self.data.handlers() | self._handlers())
        self.faults = self.server.faults
        self._accepted: Accepted | None = None
        self._wake_timer: Timer | None = None
        self.display: list[str] = []
        self._rearm()

    # -- the pipeline -------------------------------------------------------------------

    def now(self) -> _dt.datetime:
        """The meter's own clock: the board clock as GCS28 last set it."""
        return self.clock.now() + gsme_clock.offset(self.store.get(CLOCK_OFFSET))

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
            self.store.append(TAP_OFF, _tap(request))
        return result

    def _seal(self, plaintext: bytes) -> bytes:
        """Encrypt a response component for the requester (GBCS payload encryption)."""
        accepted = self._accepted
        if accepted is None or accepted.originator.ka is None:
            raise GsmeError("no requester key-agreement key to encrypt for")
        return seal(self.credentials, accepted.originator, accepted.originator_counter,
                    plaintext)

    # -- alerts -------------------------------------------------------------------------

    def _log_rejected(self, verdict: Rejected) -> None:
        """A discarded command goes to the ZigBee security log too, which CS10b reads
        (GBCS: failed integrity or authentication checks are security events)."""
        super()._log_rejected(verdict)
        if verdict.event_code is not None:
            self.data.log_event(verdict.event_code, security=True)
        if verdict.event_code in ALERTED_EVENTS:
            self.alert_event(verdict.event_code)

    def event(self, code: int, data: bytes = b"", security: bool = False) -> None:
        """Log an event; the ones in ALERTED_EVENTS also go to the Supplier."""
        self.data.log_event(code, data, security=security)
        if code in ALERTED_EVENTS:
            self.alert_event(code)

    def alert_event(self, code: int) -> None:
        """A GBZ generic alert (no components) to the Supplier; it leaves with the
        meter's next message up its tunnel (a Response, or the next wake)."""
        critical = code & 0xFF00 == 0x8F00
        self._alert_supplier(GENERIC_CRITICAL if critical else GENERIC_NON_CRITICAL,
                             gbz.GbzAlert(code, self.now()))

    def integrity_issue(self, warning: int) -> None:
        """The board reports an integrity issue (gbz.INTEGRITY_WARNINGS, e.g. 0x0005 an
        unexpected hardware reset): logged, and 0x81A0 (message code 0x00F2) to the
        Supplier."""
        self.data.log_event(INTEGRITY_WARNING, warning.to_bytes(2, "big"))
        self._alert_supplier(gbz.METER_INTEGRITY_ALERT, gbz.GbzAlert(
            INTEGRITY_WARNING, self.now(), [gbz.integrity_warning(warning)]))

    def firmware_received(self, image: bytes, version: bytes) -> bytes:
        """A whole firmware image arrived over the HAN from the hub (CS11 distribution):
        keep it for CS06 activation and tell the Supplier its manufacturer image hash
        (8F72 Firmware Verification Successful, message code 0x00CF)."""
        with self.store.transaction():
            digest = firmware_image.store_image(self.store, image, version)
            self.data.log_event(FIRMWARE_VERIFIED)
            self._alert_supplier(gbz.FIRMWARE_RECEIPT_ALERT, gbz.GbzAlert(
                FIRMWARE_VERIFIED, self.now(), [gbz.firmware_hash(digest)]))
        return digest

    def _alert_supplier(self, message_code: int, alert: gbz.GbzAlert) -> None:
        supplier = self.anchors.get(Role.SUPPLIER)
        if supplier is None or supplier.ka is None:
            self.data.log_event(alert.code, b"no Supplier anchor to alert")
            return
        self.raise_alert(message_code, gbz.gbz_payload([], alert), supplier)

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
            self.store.append(TAP_OFF, pending["request"])
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
        self._arm_sampling()
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
        self.charge(round(d.kwh(litres) * d.unit_price()))
        if now.hour == 0 and now.minute == 0:
            self._end_of_day(now)
        billing.check(self)
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

    def _arm_sampling(self) -> None:
        """Time the next network data sample of the running GCS31 sampling run."""
        run = self.store.get(NETWORK_RUN)
        if not run:
            return
        due = to_datetime(run["start"] + (run["taken"] + 1) * run["interval"])
        self.clock.schedule(self._network_sample, "gsme network sample",
                            after=max(due - self.now(), _dt.timedelta(0)))

    def _network_sample(self) -> None:
        """One network data sample (GCS31, SRV 14.1): the gas drawn over the last
        interval, read from the flow sensor between wakes (the radio stays asleep)."""
        run = self.store.get(NETWORK_RUN)
        if not run:
            return
        end = to_datetime(run["start"] + (run["taken"] + 1) * run["interval"])
        begin = end - _dt.timedelta(seconds=run["interval"])
        litres = 0
        if self.load is not None and self.valve.open:
            litres = max(0, int(self.load.volume_litres(begin, end)))
        with self.store.transaction():
            self.data.add_sample(NETWORK_DATA, begin, litres)
            run["taken"] += 1
            self.store.put(NETWORK_RUN, run if run["taken"] < run["max"] else None)
        self._arm_sampling()

    def _check_battery(self) -> None:
        if self.battery is None or self.battery.level() > 0.1:
            return
        if not self.store.get("gsme/low_battery_logged"):
            self.store.put("gsme/low_battery_logged", True)
            self.event(LOW_BATTERY)

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
        """What the GPF mirrors: attributes, the log entries and tap-off commands the
        GPF may not have yet, each with its sequence number (the GPF takes each once),
        and the marks this update brings the GPF to (`sync_acknowledged` takes them back
        once the hub confirmed it). Entries go again until acknowledged, or for the last
        RESEND_WAKES syncs when nothing acknowledges: a lost sync is made good by the
        next one."""
        history = list(self.store.get(SYNC_HISTORY, []))
        base = dict(self.store.get(SYNC_ACKED, {}))
        if len(history) >= RESEND_WAKES:
            base = _newest(base, history[-RESEND_WAKES])
        logs = self.data.logs_since(base)
        tap_off = [[e.seq, e.value] for e in self.store.entries(TAP_OFF)
                   if e.seq > base.get(TAP_OFF, -1)]
        marks = dict(base)
        for log, entries in logs.items():
            if entries:
                marks[log] = entries[-1][0]
        if tap_off:
            marks[TAP_OFF] = tap_off[-1][0]
        self.store.put(SYNC_HISTORY, (history + [marks])[-RESEND_WAKES:])
        return {"at": to_seconds(self.now()), "attributes": self.data.attributes.stored(),
                "logs": logs, "tap_off": tap_off, "marks": marks,
                "config": {k: self.store.get(k) for k in self.store.keys("gas/config/")}}

    def sync_acknowledged(self, marks: dict[str, int]) -> None:
        """The hub confirmed a sync: what it carried need not go again."""
        self.store.put(SYNC_ACKED, _newest(dict(self.store.get(SYNC_ACKED, {})), marks))

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
        running = self.store.get(NETWORK_RUN)
        sample_id = 0xFFFF
        if not running and f["max_number_of_samples"] and f["sample_request_interval"]:
            start = max(to_datetime(f["start_sampling_time"]), self.now())
            self.store.put(NETWORK_RUN, {"start": to_seconds(start), "taken": 0,
                                         "max": f["max_number_of_samples"],
                                         "interval": f["sample_request_interval"]})
            self._arm_sampling()
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
        self.event(CREDIT_ADDED_LOCALLY)
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


def _newest(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    """Per log, the later of two marks."""
    return {k: max(a.get(k, -1), b.get(k, -1)) for k in a.keys() | b.keys()}


def _tap(request: Request) -> dict[str, Any]:
    return {"cluster_id": request.cluster_id, "command_id": request.command_id,
            "direction": request.direction, "fields": request.fields}


def _untap(item: dict[str, Any]) -> Request:
    return Request(item["cluster_id"], item["command_id"], item["direction"], item["fields"])

