"""The gas meter's ZSE data, which the GSME keeps and the GPF mirrors: the attributes of
the Basic, Price, Metering and Prepayment clusters, the logs GBCS reads (daily
snapshots, half-hourly profile, daily consumption, network data, top-ups, debt
recovery, the ZigBee event and security logs), the tariff and calendar the supplier
published, and the handlers that publish into it and read it back (GCS01a, GCS13-18,
GCS21, GCS61, CS10 ...). The device owning a `GasData` decides what changes it; reads
answer the same from the GSME and from the GPF's mirror.

Times in logs are ZCL seconds (from 2000-01-01 UTC); volumes are litres (the metering
register counts 0.001 m3: Multiplier 1, Divisor 1000); money is in 1/1000 pence.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from typing import Any

from firmware.core.hal import NonVolatileStore
from firmware.core.zse import (
    INVALID_VALUE, NOT_FOUND, Attributes, Handler, Request, ZclError, response, to_datetime,
    to_seconds,
)

BASIC, PRICE, METERING, MESSAGING = 0x0000, 0x0700, 0x0702, 0x0703
PREPAYMENT, CALENDAR, DEVICE_MANAGEMENT, EVENTS = 0x0705, 0x0707, 0x0708, 0x0709
TO_CLIENT, TO_SERVER = 1, 0

# Metering attributes.
CURRENT_SUMMATION = (METERING, 0x0000)
SUPPLY_STATUS = (METERING, 0x0014)
BATTERY_DAYS = (METERING, 0x0205)
BILL_TO_DATE = (METERING, 0x0A00)
BLOCK_SUMMATIONS = tuple((METERING, 0x0700 + i) for i in range(4))
TAMPER_STATE, DEPLETION_STATE = (METERING, 0x0607), (METERING, 0x0608)
SITE_ID = (METERING, 0x0307)
METER_ID = (METERING, 0x0206)
# Prepayment attributes.
PAYMENT_CONTROL = (PREPAYMENT, 0x0000)
CREDIT_REMAINING = (PREPAYMENT, 0x0001)
EMERGENCY_CREDIT_REMAINING = (PREPAYMENT, 0x0002)
ACCUMULATED_DEBT = (PREPAYMENT, 0x0005)
EMERGENCY_CREDIT_LIMIT = (PREPAYMENT, 0x0010)
EMERGENCY_CREDIT_THRESHOLD = (PREPAYMENT, 0x0011)
CUT_OFF_VALUE = (PREPAYMENT, 0x0040)
DEBT_AMOUNTS = ((PREPAYMENT, 0x0211), (PREPAYMENT, 0x0221), (PREPAYMENT, 0x0231))
# Time-based recovery per day of Debt1 and Debt2; Debt3's share of each top-up (in
# hundredths of a percent).
DEBT_RECOVERY_AMOUNTS = ((PREPAYMENT, 0x0217), (PREPAYMENT, 0x0227))
DEBT3_TOP_UP_PERCENTAGE = (PREPAYMENT, 0x0239)
# Price attributes.
STANDING_CHARGE = (PRICE, 0x0301)
CONVERSION_FACTOR = (PRICE, 0x0302)
CALORIFIC_VALUE = (PRICE, 0x0304)

SUPPLY_OFF, SUPPLY_ARMED, SUPPLY_ON = 0, 1, 2
PREPAYMENT_MODE = 0x0002  # PaymentControlConfiguration: prepayment (else credit) mode

# Snapshot causes (ZSE bit masks).
CAUSE_DAILY, CAUSE_BILLING, CAUSE_TARIFF = 0x0001, 0x0002, 0x0008
CAUSE_TENANCY, CAUSE_SUPPLIER, CAUSE_MODE = 0x1000, 0x2000, 0x4000
BLOCK_TIER_NO_BILLING = 6  # snapshot payload type
DEBT_CREDIT_STATUS = 0  # prepay snapshot payload type
# Sample ids of the sampled-data logs (as the RTDS reads them).
PROFILE, DAILY_CONSUMPTION, NETWORK_DATA = 0, 1, 2
SAMPLE_INTERVALS = {PROFILE: 1800, DAILY_CONSUMPTION: 0xFFFF, NETWORK_DATA: 360}
GENERAL_EVENT_LOG, SECURITY_EVENT_LOG = 3, 4

# The clusters whose data responses a use case encrypts for the requester (as the RTDS
# responses of these use cases are).
ENCRYPTED_RESPONSES: dict[str, frozenset[int]] = {
    "GCS13a": frozenset({METERING}), "GCS13b": frozenset({METERING}),
    "GCS13c": frozenset({METERING}), "GCS14": frozenset({PREPAYMENT}),
    "GCS15b": frozenset({METERING, PREPAYMENT}), "GCS15c": frozenset({METERING, PREPAYMENT}),
    "GCS15d": frozenset({PREPAYMENT}), "GCS16a": frozenset({METERING}),
    "GCS16b": frozenset({METERING, PREPAYMENT}), "GCS17": frozenset({METERING}),
    "GCS18": frozenset({METERING}), "GCS61": frozenset({METERING}),
}

LOGS = {"gas/snapshots": 62, "gas/prepay_snapshots": 62, "gas/profile": 13 * 31 * 48,
        "gas/daily": 731, "gas/network": 41, "gas/top_ups": 10, "gas/debts": 10,
        "gas/events": 100, "gas/security_events": 100}

DEFAULTS: dict[tuple[int, int], Any] = {
    (BASIC, 0x0003): 1, (BASIC, 0x0004): b"smetslab", (BASIC, 0x0005): b"GSME lab 1",
    (PRICE, 0x0300): 0x02, STANDING_CHARGE: 25000, CONVERSION_FACTOR: 1022640,
    (PRICE, 0x0303): 0x60, CALORIFIC_VALUE: 39500, (PRICE, 0x0305): 0x01,
    (PRICE, 0x0306): 0x30, (PRICE, 0x0616): 826, (PRICE, 0x0617): 0x30,
    CURRENT_SUMMATION: 0, SUPPLY_STATUS: SUPPLY_ON, (METERING, 0x0300): 0x01,
    (METERING, 0x0301): 1, (METERING, 0x0302): 1000, METER_ID: b"", SITE_ID: b"",
    BATTERY_DAYS: 3650, BILL_TO_DATE: 0, TAMPER_STATE: 0, DEPLETION_STATE: 0,
    (METERING, 0x0B10): 0, (METERING, 0x0B11): 0x01, (METERING, 0x0B12): 1,
    (METERING, 0x0B13): 1000, (METERING, 0x0B14): 30, (METERING, 0x0B15): 60,
    **{key: 0 for key in BLOCK_SUMMATIONS},
    PAYMENT_CONTROL: 0, CREDIT_REMAINING: 0, EMERGENCY_CREDIT_REMAINING: 0,
    ACCUMULATED_DEBT: 0, (PREPAYMENT, 0x0006): 0, EMERGENCY_CREDIT_LIMIT: 500000,
    EMERGENCY_CREDIT_THRESHOLD: 100000, (PREPAYMENT, 0x0021): 100000000,
    (PREPAYMENT, 0x0022): 50000000, (PREPAYMENT, 0x0031): 200000, CUT_OFF_VALUE: 0,
    **{key: 0 for key in DEBT_AMOUNTS},
    (PREPAYMENT, 0x0216): 1, (PREPAYMENT, 0x0217): 0, (PREPAYMENT, 0x0226): 1,
    (PREPAYMENT, 0x0227): 0, (PREPAYMENT, 0x0239): 0,
}


class GasData:
    """The gas meter's ZSE state in a NonVolatileStore. `now` is the owning device's
    clock; `on_future` is called for a published item whose start time is still to come
    (the GSME arms a timer and raises the future-dated alert when it takes effect).
    A mirror (`snapshots=False`) takes no snapshots itself: it copies the meter's."""

    def __init__(self, store: NonVolatileStore, now: Callable[[], _dt.datetime],
                 on_future: Callable[[Request, _dt.datetime], None] | None = None, *,
                 snapshots: bool = True) -> None:
        self.store = store
        self.snapshots = snapshots
        self.now = now
        self.on_future = on_future
        self.attributes = Attributes(store, "gas/attr", DEFAULTS)
        for log, capacity in LOGS.items():
            store.declare_log(log, capacity)

    # -- attributes ---------------------------------------------------------------------

    def get(self, key: tuple[int, int]) -> Any:
        return self.attributes.get(*key)

    def set(self, key: tuple[int, int], value: Any) -> None:
        self.attributes.set(*key, value)

    def kwh(self, litres: int) -> float:
        """Energy of a gas volume: m3 x conversion factor x calorific value (MJ/m3) / 3.6,
        the two scaled by their trailing digits."""
        cf = self.get(CONVERSION_FACTOR) / 10 ** (self.get((PRICE, 0x0303)) >> 4)
        cv = self.get(CALORIFIC_VALUE) / 10 ** (self.get((PRICE, 0x0306)) >> 4)
        return litres / 1000 * cf * cv / 3.6

    def unit_price(self) -> int:
        """The active price per kWh (1/1000 pence): tier 1 of the published price
        matrix, scaled from its trailing digits to 3 decimal places; 0 with none."""
        matrix = self.config("price_matrix") or {}
        prices = [e["price"] for e in matrix.get("sub_payload", []) if isinstance(e, dict)]
        if not prices:
            return 0
        digits = self.get((PRICE, 0x0617)) >> 4
        return prices[0] * 10 ** (3 - digits) if digits <= 3 else prices[0] // 10 ** (digits - 3)

    # -- published configuration --------------------------------------------------------

    def config(self, name: str, key: Any = "") -> dict | None:
        return self.store.get(f"gas/config/{name}/{key}")

    def configs(self, name: str) -> list[dict]:
        return [self.store.get(k) for k in self.store.keys(f"gas/config/{name}/")]

    def publish(self, name: str, request: Request, key: Any = "",
                start_field: str | None = None) -> bool:
        """Keep a published item; True when its start time is still to come (it was
        handed to `on_future`, and its effect waits until then)."""
        self.store.put(f"gas/config/{name}/{key}", request.fields)
        return self.deferred(request, request.fields.get(start_field) if start_field else None)

    def deferred(self, request: Request, start: int | None) -> bool:
        """Whether `request` takes effect at a future `start` (ZCL seconds; 0 = now)."""
        if not start or self.on_future is None:
            return False
        when = to_datetime(start)
        if when <= self.now():
            return False
        self.on_future(request, when)
        return True

    # -- logs ---------------------------------------------------------------------------

    def entries(self, log: str) -> list:
        """A log's entries since it was last cleared (the store's logs only append)."""
        cleared = self.store.get(f"gas/cleared/{log}", -1)
        return [e for e in self.store.entries(log) if e.seq > cleared]

    def clear(self, log: str) -> None:
        entries = self.store.entries(log)
        if entries:
            self.store.put(f"gas/cleared/{log}", entries[-1].seq)

    def log_event(self, code: int, data: bytes = b"", security: bool = False) -> None:
        self.store.append("gas/security_events" if security else "gas/events",
                          {"t": to_seconds(self.now()), "code": code, "data": data})

    def take_snapshot(self, cause: int) -> None:
        if not self.snapshots:
            return
        self.store.append("gas/snapshots", {
            "t": to_seconds(self.now()), "cause": cause,
            "summation": self.get(CURRENT_SUMMATION),
            "blocks": [self.get(k) for k in BLOCK_SUMMATIONS]})
        self.store.append("gas/prepay_snapshots", {
            "t": to_seconds(self.now()), "cause": cause,
            "debt": self.get(ACCUMULATED_DEBT),
            "debts": [self.get(k) for k in DEBT_AMOUNTS],
            "ec": self.get(EMERGENCY_CREDIT_REMAINING), "credit": self.get(CREDIT_REMAINING)})

    def collect_debt(self, index: int, amount: int) -> int:
        """Take up to `amount` off Debt1-3 (index 0-2), logging the collection; what was
        taken, for the caller to charge."""
        key = DEBT_AMOUNTS[index]
        taken = max(0, min(amount, self.get(key)))
        if taken:
            self.set(key, self.get(key) - taken)
            self.set(ACCUMULATED_DEBT, sum(self.get(k) for k in DEBT_AMOUNTS))
            self.store.append("gas/debts", {"t": to_seconds(self.now()), "amount": taken,
                                            "type": index, "outstanding": self.get(key)})
        return taken

    def add_sample(self, sample_id: int, at: _dt.datetime, value: int) -> None:
        log = {PROFILE: "gas/profile", DAILY_CONSUMPTION: "gas/daily",
               NETWORK_DATA: "gas/network"}[sample_id]
        self.store.append(log, {"t": to_seconds(at), "v": value})

    # -- handlers -------------------------------------------------------------------------

    def handlers(self) -> dict[tuple[int, int, int], Handler]:
        """What both the GSME and the GPF answer: log and configuration reads, and the
        configuration the supplier publishes (a tap-off replays these into the mirror)."""
        def keep(name: str, key_field: str | None = None, start: str | None = None,
                 cause: int = 0) -> Handler:
            def handler(request: Request) -> None:
                key = request.fields.get(key_field, "") if key_field else ""
                self.publish(name, request, key, start)
                if cause:
                    self.take_snapshot(cause)
            return handler
        return {
            (PRICE, TO_CLIENT, 0x04): keep("tariff_information", start="start_time",
                                           cause=CAUSE_TARIFF),
            (PRICE, TO_CLIENT, 0x05): keep("price_matrix", start="start_time"),
            (PRICE, TO_CLIENT, 0x06): keep("block_thresholds", start="start_time"),
            (PRICE, TO_CLIENT, 0x02): self._conversion_factor,
            (PRICE, TO_CLIENT, 0x03): self._calorific_value,
            (PRICE, TO_CLIENT, 0x09): keep("billing_period", start="billing_period_start_time"),
            (PRICE, TO_CLIENT, 0x01): keep("block_period", start="block_period_start_time"),
            (PRICE, TO_SERVER, 0x0B): self._get_billing_period,
            (CALENDAR, TO_CLIENT, 0x00): keep("calendar", start="start_time"),
            (CALENDAR, TO_CLIENT, 0x01): keep("day_profile", "day_id"),
            (CALENDAR, TO_CLIENT, 0x02): keep("week_profile", "week_id"),
            (CALENDAR, TO_CLIENT, 0x03): keep("seasons"),
            (CALENDAR, TO_CLIENT, 0x04): keep("special_days", start="start_time"),
            (CALENDAR, TO_SERVER, 0x01): self._get_published("day_profile", 0x01),
            (CALENDAR, TO_SERVER, 0x02): self._get_published("week_profile", 0x02),
            (CALENDAR, TO_SERVER, 0x03): self._get_published("seasons", 0x03),
            (CALENDAR, TO_SERVER, 0x04): self._get_published("special_days", 0x04),
            (METERING, TO_SERVER, 0x06): self._get_snapshot,
            (METERING, TO_SERVER, 0x08): self._get_sampled_data,
            (PREPAYMENT, TO_SERVER, 0x07): self._get_prepay_snapshot,
            (PREPAYMENT, TO_SERVER, 0x08): self._get_top_up_log,
            (PREPAYMENT, TO_SERVER, 0x0A): self._get_debt_log,
            (PREPAYMENT, TO_SERVER, 0x02): self._change_debt,
            (DEVICE_MANAGEMENT, TO_CLIENT, 0x01): keep(
                "change_of_supplier", start="provider_change_implementation_time",
                cause=CAUSE_SUPPLIER),
            (DEVICE_MANAGEMENT, TO_CLIENT, 0x03): self._update_site_id,
            (DEVICE_MANAGEMENT, TO_CLIENT, 0x04): self._set_event_configuration,
            (DEVICE_MANAGEMENT, TO_CLIENT, 0x05): self._get_event_configuration,
            (DEVICE_MANAGEMENT, TO_CLIENT, 0x06): keep("cin", start="implementation_time"),
            (DEVICE_MANAGEMENT, TO_CLIENT, 0x00): keep(
                "change_of_tenancy", start="implementation_date_time", cause=CAUSE_TENANCY),
            (EVENTS, TO_SERVER, 0x00): self._get_event_log,
            (EVENTS, TO_SERVER, 0x01): self._clear_event_log,
        }

    def _conversion_factor(self, request: Request) -> None:
        if self.publish("conversion_factor", request, start_field="start_time"):
            return
        self.set(CONVERSION_FACTOR, request.fields["conversion_factor"])
        self.set((PRICE, 0x0303), request.fields["conversion_factor_trailing_digit"])

    def _calorific_value(self, request: Request) -> None:
        if self.publish("calorific_value", request, start_field="start_time"):
            return
        self.set(CALORIFIC_VALUE, request.fields["calorific_value"])
        self.set((PRICE, 0x0305), request.fields["calorific_value_unit"])
        self.set((PRICE, 0x0306), request.fields["calorific_value_trailing_digit"])

    def _update_site_id(self, request: Request) -> None:
        self.publish("site_id", request)
        self.set(SITE_ID, request.fields["site_id"])

    def _change_debt(self, request: Request) -> None:
        """Set a debt register: ZSE's DebtAmountType names it and how (0/1 Debt1,
        2/3 Debt2, 4/5 Debt3; even absolute, odd incremental)."""
        f = request.fields
        kind = f.get("debt_amount_type", 0)
        if not 0 <= kind <= 5:
            raise ZclError(INVALID_VALUE, f"debt amount type {kind} is none of 0-5")
        if self.deferred(request, f.get("debt_recovery_start_time")):
            return
        index, incremental = divmod(kind, 2)
        key = DEBT_AMOUNTS[index]
        amount = f["debt_amount"]
        self.set(key, max(0, self.get(key) + amount if incremental else amount))
        self.set(ACCUMULATED_DEBT, sum(self.get(k) for k in DEBT_AMOUNTS))
        if index < 2:
            self.set(DEBT_RECOVERY_AMOUNTS[index], max(0, f.get("debt_recovery_amount", 0)))
        else:
            self.set(DEBT3_TOP_UP_PERCENTAGE,
                     min(10000, f.get("debt_recovery_balance_percentage", 0)))
        self.publish(f"debt{index + 1}", request)

    def _get_billing_period(self, request: Request) -> list:
        stored = self.config("billing_period")
        if stored is None:
            raise ZclError(NOT_FOUND, "no billing period published")
        return [response(PRICE, 0x09, TO_CLIENT, request, **stored)]

    def _get_published(self, name: str, command_id: int) -> Handler:
        def handler(request: Request) -> list:
            items = self.configs(name)
            if not items:
                raise ZclError(NOT_FOUND, f"no {name.replace('_', ' ')} published")
            return [response(CALENDAR, command_id, TO_CLIENT, request, **i) for i in items]
        return handler

    def _entries(self, log: str, earliest: int, latest: int, cause: int) -> list:
        """A snapshot log's entries in [earliest, latest] with a matching cause, newest
        first (offset 0 is the most recent)."""
        found = [e for e in self.entries(log)
                 if earliest <= e.value["t"] <= latest and e.value["cause"] & cause]
        return found[::-1]

    def _snapshot_entry(self, log: str, request: Request) -> tuple[int, dict, int]:
        f = request.fields
        found = self._entries(log, f["earliest_start_time"], f["latest_end_time"],
                              f["snapshot_cause"])
        offset = f["snapshot_offset"]
        if offset >= len(found):
            raise ZclError(NOT_FOUND, f"no snapshot at offset {offset} ({len(found)} found)")
        return found[offset].seq, found[offset].value, len(found)

    def _get_snapshot(self, request: Request) -> list:
        seq, snap, total = self._snapshot_entry("gas/snapshots", request)
        blocks = snap["blocks"]
        return [response(METERING, 0x06, TO_CLIENT, request, snapshot_id=seq,
                         snapshot_time=snap["t"], total_snapshots_found=total,
                         command_index=0, total_commands=1, snapshot_cause=snap["cause"],
                         snapshot_payload_type=BLOCK_TIER_NO_BILLING,
                         snapshot_sub_payload={
                             "current_summation_delivered": snap["summation"],
                             "tier_summations": [snap["summation"]],
                             "number_of_tiers_and_block_thresholds_in_use":
                                 0x10 | len(blocks),
                             "tier_block_summations": blocks})]

    def _get_prepay_snapshot(self, request: Request) -> list:
        seq, snap, total = self._snapshot_entry("gas/prepay_snapshots", request)
        d1, d2, d3 = snap["debts"]
        return [response(PREPAYMENT, 0x01, TO_CLIENT, request, snapshot_id=seq,
                         snapshot_time=snap["t"], total_snapshots_found=total,
                         command_index=0, total_number_of_commands=1,
                         snapshot_cause=snap["cause"],
                         snapshot_payload_type=DEBT_CREDIT_STATUS, snapshot_sub_payload={
                             "accumulated_debt": snap["debt"], "type1_debt_remaining": d1,
                             "type2_debt_remaining": d2, "type3_debt_remaining": d3,
                             "emergency_credit_remaining": snap["ec"],
                             "credit_remaining": snap["credit"]})]

    def _get_sampled_data(self, request: Request) -> list:
        f = request.fields
        sample_id = f["sample_id"]
        log = {PROFILE: "gas/profile", DAILY_CONSUMPTION: "gas/daily",
               NETWORK_DATA: "gas/network"}.get(sample_id)
        if log is None:
            raise ZclError(NOT_FOUND, f"no sampled data log {sample_id}")
        samples = [e.value for e in self.entries(log)
                   if e.value["t"] >= f["earliest_sample_time"]][:f["number_of_samples"]]
        if not samples:
            raise ZclError(NOT_FOUND, f"no samples of log {sample_id} from "
                           f"{f['earliest_sample_time']}")
        return [response(METERING, 0x07, TO_CLIENT, request, sample_id=sample_id,
                         sample_start_time=samples[0]["t"], sample_type=f["sample_type"],
                         sample_request_interval=SAMPLE_INTERVALS[sample_id],
                         samples=[min(s["v"], 0xFFFFFF) for s in samples])]

    def _get_top_up_log(self, request: Request) -> list:
        f = request.fields
        ups = [e.value for e in self.entries("gas/top_ups")
               if e.value["t"] <= f["latest_end_time"]][::-1][:f["number_of_records"]]
        if not ups:
            raise ZclError(NOT_FOUND, "no top-up before the latest end time")
        return [response(PREPAYMENT, 0x05, TO_CLIENT, request, command_index=0,
                         total_number_of_commands=1, top_up_payload=[
                             {"top_up_code": u["code"], "top_up_amount": u["amount"],
                              "top_up_time": u["t"]} for u in ups])]

    def _get_debt_log(self, request: Request) -> list:
        f = request.fields
        earliest = to_seconds(request.from_date_time) if request.from_date_time else 0
        debts = [e.value for e in self.entries("gas/debts")
                 if earliest <= e.value["t"] <= f["latest_end_time"]
                 and f["debt_type"] in (e.value["type"], 0xFF)][::-1][:f["number_of_debts"]]
        if not debts:
            raise ZclError(NOT_FOUND, "no debt collection in the period")
        return [response(PREPAYMENT, 0x06, TO_CLIENT, request, command_index=0,
                         total_number_of_commands=1, debt_payload=[
                             {"collection_time": d["t"], "amount_collected": d["amount"],
                              "debt_type": d["type"], "outstanding_debt": d["outstanding"]}
                             for d in debts])]

    def _set_event_configuration(self, request: Request) -> None:
        f = request.fields
        payload = f.get("event_configuration_payload") or {}
        events = payload.get("event_ids", []) if isinstance(payload, dict) else []
        for event_id in events:
            self.store.put(f"gas/event_config/{event_id:04x}", f["event_configuration"])

    def _get_event_configuration(self, request: Request) -> list:
        wanted = request.fields["event_id"]
        items = [(int(k.rsplit("/", 1)[1], 16), self.store.get(k))
                 for k in self.store.keys("gas/event_config/")]
        items = [i for i in items if wanted in (0xFFFF, i[0])]
        if not items:
            raise ZclError(NOT_FOUND, f"no configuration for event 0x{wanted:04X}")
        return [response(DEVICE_MANAGEMENT, 0x04, TO_SERVER, request, command_index=0,
                         total_commands=1, event_configuration_payload=[
                             {"event_id": e, "event_configuration": c} for e, c in items])]

    def _get_event_log(self, request: Request) -> list:
        f = request.fields
        log_id = f["event_control_log_id"] & 0x0F
        logs = {GENERAL_EVENT_LOG: ["gas/events"], SECURITY_EVENT_LOG: ["gas/security_events"],
                0: ["gas/events", "gas/security_events"]}.get(log_id)
        if logs is None:
            raise ZclError(NOT_FOUND, f"no event log {log_id}")
        events = sorted(((e.value, GENERAL_EVENT_LOG if name == "gas/events"
                          else SECURITY_EVENT_LOG) for name in logs
                         for e in self.entries(name)
                         if f["start_time"] <= e.value["t"] <= f["end_time"]
                         and f["event_id"] in (0, e.value["code"])),
                        key=lambda item: item[0]["t"], reverse=True)
        events = events[f["event_offset"]:]
        if f["number_of_events"]:
            events = events[:f["number_of_events"]]
        if not events:
            raise ZclError(NOT_FOUND, "no event in the period")
        return [response(EVENTS, 0x01, TO_CLIENT, request, total_number_of_events=len(events),
                         command_index=0, total_commands=1, log_payload_control=0,
                         log_payload=[{"log_id": log, "event_id": e["code"],
                                       "event_time": e["t"], "event_data": e["data"]}
                                      for e, log in events])]

    def _clear_event_log(self, request: Request) -> list:
        """Clear the general and / or security event log; the response says which."""
        log_id = request.fields["log_id"]
        cleared = 0
        for ident, log in ((GENERAL_EVENT_LOG, "gas/events"),
                           (SECURITY_EVENT_LOG, "gas/security_events")):
            if log_id in (0, ident):
                self.clear(log)
                cleared |= 1 << (ident - 1)
        if not cleared:
            raise ZclError(NOT_FOUND, f"no event log {log_id}")
        return [response(EVENTS, 0x02, TO_CLIENT, request, cleared_events_logs=cleared)]

    # -- mirror -------------------------------------------------------------------------

    def logs_since(self, marks: dict[str, int]) -> dict[str, list]:
        """The log entries after `marks` (log -> last seq copied), per log."""
        return {log: [[e.seq, e.value] for e in self.store.entries(log)
                      if e.seq > marks.get(log, -1)] for log in LOGS}
