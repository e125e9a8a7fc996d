"""The ZSE clusters the ESME and the GPF publish on the HAN for Type 2 devices (IHDs and
CADs): Metering, Price, Prepayment, Messaging (ESME), Calendar and Device Management,
each value read when asked: from the meter engine for the ESME, from the GPF's mirror
of the GSME (refreshed at each 30-minute sync) for gas.

Everything is read-only. A write answers READ_ONLY for a published attribute and
UNSUPPORTED_ATTRIBUTE for any other (`ClusterServer` with nothing writable); a
cluster command other than the gets a display sends (GetProfile, GetCurrentPrice,
GetLastMessage, MessageConfirmation, GetCalendar, GetChangeOfTenancy) answers
UNSUP_CLUSTER_COMMAND.

Money is in currency units of 1/1000 p (pence with three trailing digits, as the
meters keep it; PriceTrailingDigit 3); energy in Wh (electricity, Divisor 1000 for kWh)
or litres (gas, m3 with Divisor 1000).

Change of tenancy (ECS12 on the ESME, GCS09 on the GPF) hides the previous tenant's
data: an attribute for a period that began before the tenancy start answers
NOT_AUTHORIZED, except today's consumption and cost, which count from the tenancy start;
half-hour intervals from before it read zero in a GetProfile, and a supplier message
from before it is no longer shown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, MutableMapping
from datetime import UTC, datetime, timedelta
from typing import Any

from zigpy.zcl import foundation
from zigpy.zcl.foundation import Direction, Status, ZCLHeader

from firmware.core.gas import DEFAULTS as GAS_DEFAULTS
from firmware.core.gas import GasData
from firmware.core.zse import to_datetime, to_seconds
from firmware.esme.engine import EmergencyCredit, PaymentMode, SupplyState
from firmware.gpf.gpf import Gpf
from han.radio import Endpoint
from han.zcl.errors import ZIGPY_ERRORS, ZclDecodeError
from han.zcl.frame import ZclFrame, cluster_command, decode_frame
from han.zcl.server import ClusterServer
from tools.lab.esme import EsmeBoard, Tenancy

PRICE, METERING, MESSAGING = 0x0700, 0x0702, 0x0703
PREPAYMENT, CALENDAR, DEVICE_MANAGEMENT = 0x0705, 0x0707, 0x0708
ESME_ENDPOINT, GPF_ENDPOINT = 1, 2

# Metering (0x0702)
CURRENT_SUMMATION_DELIVERED = 0x0000
CURRENT_BLOCK = 0x000E
SUPPLY_STATUS = 0x0014
ACTIVE_REGISTER_TIER_DELIVERED = 0x0020
STATUS = 0x0200
UNIT_OF_MEASURE, MULTIPLIER, DIVISOR = 0x0300, 0x0301, 0x0302
SUMMATION_FORMATTING, DEMAND_FORMATTING = 0x0303, 0x0304
METERING_DEVICE_TYPE = 0x0306
INSTANTANEOUS_DEMAND = 0x0400
CURRENT_DAY_CONSUMPTION_DELIVERED = 0x0401
PREVIOUS_DAY_CONSUMPTION_DELIVERED = 0x0403
BILL_TO_DATE_DELIVERED = 0x0A00
# GetProfile (Metering command 0x00)
CONSUMPTION_DELIVERED = 0x00     # interval channel
HALF_HOUR = 0x02                 # ProfileIntervalPeriod: 30 minutes
PROFILE_SUCCESS, UNDEFINED_CHANNEL, TOO_MANY_PERIODS, NO_INTERVALS = 0x00, 0x01, 0x04, 0x05
MAX_PERIODS = 24                 # the most intervals one response carries
KWH, CUBIC_METRES = 0x00, 0x01
ELECTRIC_METERING, MIRRORED_GAS_METERING = 0x00, 0x80
WH_DIVISOR = 1000                # Wh / W with Divisor 1000 read as kWh / kW
FORMATTING = 0xBB                # 7 digits left, 3 right, leading zeros suppressed
SUPPLY_OFF, SUPPLY_ARMED, SUPPLY_ON = 0, 1, 2
# Prepayment (0x0705)
PAYMENT_CONTROL_CONFIGURATION = 0x0000
CREDIT_REMAINING = 0x0001
EMERGENCY_CREDIT_REMAINING = 0x0002
CREDIT_STATUS = 0x0003
ACCUMULATED_DEBT = 0x0005
EMERGENCY_CREDIT_LIMIT = 0x0010
EMERGENCY_CREDIT_THRESHOLD = 0x0011
LOW_CREDIT_WARNING_LEVEL = 0x0031
DEBT_AMOUNTS = (0x0211, 0x0221, 0x0231)
PREPAYMENT_CURRENCY = 0x0503
CURRENT_DAY_COST_DELIVERED = 0x051C
PREVIOUS_DAY_COST_DELIVERED = 0x051E
PREPAYMENT_MODE = 0x0002         # PaymentControlConfiguration: prepayment enabled
CREDIT_OK, LOW_CREDIT, EC_ENABLED, EC_AVAILABLE = 0x01, 0x02, 0x04, 0x08
EC_SELECTED, EC_IN_USE, CREDIT_EXHAUSTED = 0x10, 0x20, 0x40
# Price (0x0700)
STANDING_CHARGE = 0x0301
CONVERSION_FACTOR, CONVERSION_FACTOR_TRAILING_DIGIT = 0x0302, 0x0303
CALORIFIC_VALUE, CALORIFIC_VALUE_TRAILING_DIGIT = 0x0304, 0x0306
NUMBER_OF_PRICE_TIERS_IN_USE, NUMBER_OF_BLOCK_THRESHOLDS_IN_USE = 0x0611, 0x0612
PRICE_CURRENCY, PRICE_TRAILING_DIGIT = 0x0616, 0x0617
TIER_BLOCK_PRICE = 0x0400        # + tier * 0x10 + block - 1 (tiers 1-15, blocks 1-16)
MAX_TIERS, MAX_BLOCKS = 15, 4
GBP = 826
PRICE_DIGITS = 3                 # 1/1000 p: pence with three trailing digits
# Device Management (0x0708)
CHANGE_OF_TENANCY_UPDATE_DATE_TIME = 0x0200
PROPOSED_TENANCY_CHANGE_CONTROL = 0x0201
# Messaging (0x0703)
CONFIRMATION_REQUIRED = 0x80     # MessageControl bit 7
UNTIL_CHANGED = 0xFFFF           # DurationInMinutes
PROVIDER_ID = 0x534C             # the lab's supplier ("SL")
DELIVERED_CALENDAR = 0x00

_ESME_SUPPLY = {SupplyState.DISABLED: SUPPLY_OFF, SupplyState.ARMED: SUPPLY_ARMED,
                SupplyState.ENABLED: SUPPLY_ON}

Getter = Callable[[], Any]
# A cluster command's answer: the response frame, or the status of a Default Response.
Answer = Callable[[ZclFrame], "ZclFrame | Status"]


class Restricted(Exception):
    """An attribute whose period began before the tenancy in force (NOT_AUTHORIZED)."""


class LiveAttributes(MutableMapping[int, Any]):
    """A cluster's attributes, each read from the device when asked; a getter returning
    None has no value now (UNSUPPORTED_ATTRIBUTE), one raising `Restricted` is hidden.
    Nothing is writable."""

    def __init__(self, cluster_id: int, getters: dict[int, Getter]) -> None:
        self.cluster_id = cluster_id
        self.getters = getters

    def __getitem__(self, attr: int) -> Any:
        value = self.getters[attr]()
        if value is None:
            raise KeyError(attr)
        return value

    def __contains__(self, attr: object) -> bool:
        getter = self.getters.get(attr)  # type: ignore[call-overload]
        if getter is None:
            return False
        try:
            return getter() is not None
        except Restricted:
            return True             # published, but not to be shown now

    def __iter__(self) -> Iterator[int]:
        return iter(self.getters)

    def __len__(self) -> int:
        return len(self.getters)

    def __setitem__(self, attr: int, value: Any) -> None:
        raise KeyError(f"0x{self.cluster_id:04X}/0x{attr:04X} is read only")

    def __delitem__(self, attr: int) -> None:
        raise KeyError(f"0x{self.cluster_id:04X}/0x{attr:04X} cannot be removed")


class PublishedCluster(ClusterServer):
    """A read-only ZSE cluster server: attributes from `getters`, the cluster commands
    in `answers` (by command id, client to server) answered with their response."""

    def __init__(self, cluster_id: int, getters: dict[int, Getter],
                 answers: dict[int, Answer] | None = None) -> None:
        super().__init__(cluster_id, LiveAttributes(cluster_id, getters),
                         writable=frozenset())
        self.answers = dict(answers or {})

    def handle(self, data: bytes) -> bytes | None:
        try:
            header, _ = ZCLHeader.deserialize(bytes(data))
        except ZIGPY_ERRORS:
            return None
        fc = header.frame_control
        if not (fc.is_cluster and not fc.is_manufacturer_specific
                and header.direction == Direction.Client_to_Server
                and header.command_id in self.answers):
            return super().handle(data)
        try:
            frame = decode_frame(self.cluster_id, data)
        except ZclDecodeError:
            return super().handle(data)              # MALFORMED_COMMAND
        try:
            answer = self.answers[header.command_id](frame)
            if isinstance(answer, ZclFrame):
                return answer.encode()
        except ZIGPY_ERRORS:        # a value the device holds does not fit the response
            answer = Status.FAILURE
        return self._default(header, answer)

    def _read(self, attr_id: int) -> foundation.ReadAttributeRecord:
        try:
            return super()._read(attr_id)
        except Restricted:
            record = foundation.ReadAttributeRecord(attrid=attr_id)
            record.status = Status.NOT_AUTHORIZED
            return record


def reply(request: ZclFrame, cluster_id: int, name: str, **fields: Any) -> ZclFrame:
    """The response `name` (server to client) to `request`, with its transaction number."""
    return cluster_command(cluster_id, name, Direction.Server_to_Client,
                           tsn=request.header.tsn, disable_default_response=True, **fields)


def serve(endpoint: Endpoint, clusters: Iterable[PublishedCluster]) -> None:
    """Put the clusters' servers on a HAN endpoint."""
    for server in clusters:
        endpoint.server_clusters[server.cluster_id] = \
            lambda ind, server=server: server.handle(ind.payload)


def _clamp(value: int, bits: int, signed: bool = False) -> int:
    if signed:
        limit = (1 << (bits - 1)) - 1
        return max(-limit - 1, min(limit, value))
    return max(0, min((1 << bits) - 1, value))


def _octets(value: bytes | str) -> bytes:
    return value.encode("latin-1", "replace") if isinstance(value, str) else bytes(value)


def _midnight(now: datetime) -> datetime:
    return datetime.combine(now.date(), datetime.min.time(), UTC)


def _started_after(tenancy: datetime | None, period_start: datetime) -> None:
    """Refuse a period that began before the tenancy in force."""
    if tenancy is not None and period_start < tenancy:
        raise Restricted()


def _price(trailing_digit: int, tier: int, tiers: int, price: int, now: datetime,
           request: ZclFrame, label: str) -> ZclFrame:
    # A new price event each day: its issuer event id is the day's start.
    return reply(request, PRICE, "publish_price", provider_id=PROVIDER_ID,
                 rate_label=label.encode(), issuer_event_id=to_seconds(_midnight(now)),
                 current_time=to_seconds(now), unit_of_measure=KWH, currency=GBP,
                 price_trailing_digit_and_price_tier=(trailing_digit << 4) | tier,
                 number_of_price_tiers_and_register_tier=(tiers << 4) | tier,
                 start_time=0, duration_in_minutes=UNTIL_CHANGED, price=_clamp(price, 32))


def _profile_answer(now: Callable[[], datetime],
                    intervals: Callable[[], list[tuple[datetime, int]]],
                    tenancy: Callable[[], datetime | None]) -> Answer:
    """GetProfile of the half-hourly consumption (interval channel 0): the intervals
    ending at or before the end time (0: now), most recent first; an interval that
    began before the tenancy start reads zero."""
    def answer(request: ZclFrame) -> ZclFrame:
        args = request.args
        end = to_datetime(int(args.end_time)) if int(args.end_time) else now()
        wanted = int(args.number_of_periods)
        if int(args.interval_channel) != CONSUMPTION_DELIVERED:
            return _profile(request, 0, UNDEFINED_CHANNEL, [])
        found = [(t, v) for t, v in intervals() if t + timedelta(minutes=30) <= end]
        found = found[::-1][:min(wanted, MAX_PERIODS)]
        if not found:
            return _profile(request, to_seconds(end), NO_INTERVALS, [])
        start = tenancy()
        values = [0 if start is not None and t < start else _clamp(v, 24) for t, v in found]
        status = TOO_MANY_PERIODS if wanted > MAX_PERIODS else PROFILE_SUCCESS
        return _profile(request, to_seconds(found[0][0] + timedelta(minutes=30)), status,
                        values)
    return answer


def _profile(request: ZclFrame, end: int, status: int, values: list[int]) -> ZclFrame:
    return reply(request, METERING, "get_profile_response", end_time=end, status=status,
                 profile_interval_period=HALF_HOUR, intervals=values)


def _tenancy_answer(start: Callable[[], datetime | None]) -> Answer:
    def answer(request: ZclFrame) -> ZclFrame | Status:
        when = start()
        if when is None:
            return Status.NOT_FOUND
        return reply(request, DEVICE_MANAGEMENT, "publish_change_of_tenancy",
                     provider_id=PROVIDER_ID, issuer_event_id=to_seconds(when), tariff_type=0,
                     implementation_date_time=to_seconds(when),
                     proposed_tenancy_change_control=0)
    return answer


def _device_management(start: Callable[[], datetime | None]) -> PublishedCluster:
    return PublishedCluster(DEVICE_MANAGEMENT, {
        CHANGE_OF_TENANCY_UPDATE_DATE_TIME:
            lambda: to_seconds(start()) if start() is not None else None,
        PROPOSED_TENANCY_CHANGE_CONTROL: lambda: 0 if start() is not None else None,
    }, {0x00: _tenancy_answer(start)})


def _calendar_answer(calendar: Callable[[], dict | None]) -> Answer:
    def answer(request: ZclFrame) -> ZclFrame | Status:
        found = calendar()
        if found is None:
            return Status.NOT_FOUND
        return reply(request, CALENDAR, "publish_calendar", provider_id=PROVIDER_ID,
                     issuer_event_id=found.get("issuer_event_id", 0),
                     issuer_calendar_id=found.get("issuer_calendar_id", 1),
                     start_time=found.get("start_time", 0),
                     calendar_type=found.get("calendar_type", DELIVERED_CALENDAR),
                     calendar_time_reference=found.get("calendar_time_reference", 0),
                     calendar_name=_octets(found.get("calendar_name", b"")),
                     number_of_seasons=found.get("number_of_seasons", 0),
                     number_of_week_profiles=found.get("number_of_week_profiles", 0),
                     number_of_day_profiles=found.get("number_of_day_profiles", 0))
    return answer


# -- the ESME ---------------------------------------------------------------------------


def esme_clusters(unit: EsmeBoard) -> list[PublishedCluster]:
    """The ESME's published clusters, read live from its engine and board."""
    engine = unit.engine
    now = unit.sim.now

    def tenancy_start() -> datetime | None:
        tenancy = unit.tenancy()
        return tenancy.start if tenancy is not None else None

    def today_base() -> tuple[int, int]:
        """(import Wh, cost) today's figures count from: midnight or the tenancy start."""
        tenancy: Tenancy | None = unit.tenancy()
        if tenancy is not None and tenancy.start > unit.midnight():
            return tenancy.import_wh, tenancy.cost
        return unit.day_start(), unit.day_start_cost()

    def previous_day() -> int:
        midnight = unit.midnight()
        _started_after(tenancy_start(), midnight - timedelta(days=1))
        last = next(iter(engine.log("daily_consumption")[-1:]), None)
        if last is None or last["t"] != int(midnight.timestamp()):
            return 0                              # the meter was not running yesterday
        return _clamp(last["wh"], 24)

    def previous_day_cost() -> int:
        midnight = unit.midnight()
        _started_after(tenancy_start(), midnight - timedelta(days=1))
        costs = {r["t"]: r["cost"] for r in engine.log("daily_read")[-2:]}
        today = costs.get(int(midnight.timestamp()))
        yesterday = costs.get(int((midnight - timedelta(days=1)).timestamp()))
        if today is None or yesterday is None:
            return 0                              # the meter was not running all day
        return _clamp(today - yesterday, 48)

    def bill_to_date() -> int:
        tenancy = tenancy_start()
        if tenancy is not None:
            billed = engine.log("billing_data")
            started = datetime.fromtimestamp(billed[-1]["t"], UTC) if billed else None
            if started is None or started < tenancy:
                raise Restricted()
        return _clamp(engine.billing_period_cost, 48)

    def tariff_price(tier: int, block: int) -> Getter:
        def price() -> int | None:
            tariff = engine.tariff
            blocks = len(tariff.block_thresholds) + 1
            if tier > min(tariff.rates, MAX_TIERS) or block > blocks:
                return None
            return tariff.price(tier, block - 1)
        return price

    def current_price(request: ZclFrame) -> ZclFrame:
        rate, tariff = engine.current_rate, engine.tariff
        tier = min(rate, MAX_TIERS)
        return _price(PRICE_DIGITS, tier, min(tariff.rates, MAX_TIERS),
                      tariff.price(rate, engine.current_block - 1), now(), request,
                      f"Rate {rate}")

    def credit_status() -> int:
        credit = engine.meter_balance
        ec = engine.emergency_credit_state
        bits = CREDIT_OK if credit > 0 else CREDIT_EXHAUSTED
        if 0 < credit < engine.credit_config.low_credit_threshold:
            bits |= LOW_CREDIT
        if ec is not EmergencyCredit.NOT_AVAILABLE:
            bits |= EC_ENABLED
        bits |= {EmergencyCredit.AVAILABLE: EC_AVAILABLE,
                 EmergencyCredit.ACTIVE: EC_SELECTED | EC_IN_USE}.get(ec, 0)
        return bits

    def last_message(request: ZclFrame) -> ZclFrame | Status:
        message = unit.supplier_message()
        tenancy = tenancy_start()
        if message is None or (tenancy is not None and message.since < tenancy):
            return Status.NOT_FOUND
        return reply(request, MESSAGING, "display_message", message_id=message.id,
                     message_control=CONFIRMATION_REQUIRED,
                     start_time=to_seconds(message.since),
                     duration_in_minutes=UNTIL_CHANGED, message=message.text)

    def confirmation(request: ZclFrame) -> Status:
        ok = unit.confirm_message(request.args.message_id, now())
        return Status.SUCCESS if ok else Status.NOT_FOUND

    def calendar() -> dict:
        switching = engine.tariff.switching
        return {"issuer_calendar_id": 1, "calendar_name": b"TOU",
                "number_of_seasons": len(switching.seasons),
                "number_of_week_profiles": len({s.week for s in switching.seasons}),
                "number_of_day_profiles": len(switching.day_profiles)}

    metering = PublishedCluster(METERING, {
        CURRENT_SUMMATION_DELIVERED: lambda: _clamp(engine.active_import_wh, 48),
        CURRENT_BLOCK: lambda: engine.current_block if engine.tariff.is_block else 0,
        SUPPLY_STATUS: lambda: _ESME_SUPPLY[engine.supply_state],
        ACTIVE_REGISTER_TIER_DELIVERED: lambda: engine.current_rate,
        STATUS: lambda: 0,
        UNIT_OF_MEASURE: lambda: KWH,
        MULTIPLIER: lambda: 1,
        DIVISOR: lambda: WH_DIVISOR,
        SUMMATION_FORMATTING: lambda: FORMATTING,
        DEMAND_FORMATTING: lambda: FORMATTING,
        METERING_DEVICE_TYPE: lambda: ELECTRIC_METERING,
        INSTANTANEOUS_DEMAND: lambda: _clamp(round(unit.power_kw() * 1000), 24, True),
        CURRENT_DAY_CONSUMPTION_DELIVERED:
            lambda: _clamp(engine.active_import_wh - today_base()[0], 24),
        PREVIOUS_DAY_CONSUMPTION_DELIVERED: previous_day,
        BILL_TO_DATE_DELIVERED: bill_to_date,
    }, {0x00: _profile_answer(now, lambda: engine.profile("active_import"), tenancy_start)})
    prepayment = PublishedCluster(PREPAYMENT, {
        PAYMENT_CONTROL_CONFIGURATION: lambda: PREPAYMENT_MODE
            if engine.config.payment_mode == PaymentMode.PREPAYMENT else 0,
        CREDIT_REMAINING: lambda: _clamp(engine.meter_balance, 32, True),
        EMERGENCY_CREDIT_REMAINING: lambda: _clamp(engine.emergency_credit_balance, 32, True),
        CREDIT_STATUS: credit_status,
        ACCUMULATED_DEBT: lambda: _clamp(sum(engine.time_debts) + engine.payment_debt, 32,
                                         True),
        EMERGENCY_CREDIT_LIMIT: lambda: engine.credit_config.emergency_credit_limit,
        EMERGENCY_CREDIT_THRESHOLD: lambda: engine.credit_config.emergency_credit_threshold,
        LOW_CREDIT_WARNING_LEVEL: lambda: engine.credit_config.low_credit_threshold,
        DEBT_AMOUNTS[0]: lambda: engine.time_debts[0],
        DEBT_AMOUNTS[1]: lambda: engine.time_debts[1],
        DEBT_AMOUNTS[2]: lambda: engine.payment_debt,
        PREPAYMENT_CURRENCY: lambda: GBP,
        CURRENT_DAY_COST_DELIVERED: lambda: _clamp(engine.cost_total - today_base()[1], 48),
        PREVIOUS_DAY_COST_DELIVERED: previous_day_cost,
    })
    price = PublishedCluster(PRICE, {
        STANDING_CHARGE: lambda: engine.tariff.standing_charge,
        NUMBER_OF_PRICE_TIERS_IN_USE: lambda: min(engine.tariff.rates, MAX_TIERS),
        NUMBER_OF_BLOCK_THRESHOLDS_IN_USE: lambda: len(engine.tariff.block_thresholds),
        PRICE_CURRENCY: lambda: GBP,
        PRICE_TRAILING_DIGIT: lambda: PRICE_DIGITS << 4,
        **{TIER_BLOCK_PRICE + tier * 0x10 + block - 1: tariff_price(tier, block)
           for tier in range(1, MAX_TIERS + 1) for block in range(1, MAX_BLOCKS + 1)},
    }, {0x00: current_price})
    messaging = PublishedCluster(MESSAGING, {}, {0x00: last_message, 0x01: confirmation})
    calendar_cluster = PublishedCluster(CALENDAR, {}, {0x00: _calendar_answer(calendar)})
    return [metering, price, prepayment, messaging, calendar_cluster,
            _device_management(unit.restrict_from)]


# -- the GPF ----------------------------------------------------------------------------


def gpf_clusters(gpf: Gpf) -> list[PublishedCluster]:
    """The GPF's published clusters: the GSME as its mirror last heard it."""
    data: GasData = gpf.data

    def stored(cluster_id: int) -> dict[int, Getter]:
        return {a: (lambda key=(c, a): data.get(key)) for c, a in GAS_DEFAULTS
                if c == cluster_id}

    def tenancy_start() -> datetime | None:
        config = data.config("change_of_tenancy")
        start = config.get("implementation_date_time") if config else None
        if not start:
            return None
        when = to_datetime(start)
        return when if when <= gpf.now() else None

    def configured_tenancy() -> datetime | None:
        config = data.config("change_of_tenancy")
        start = config.get("implementation_date_time") if config else None
        return to_datetime(start) if start else None

    def today_litres() -> int:
        since = _midnight(gpf.now())
        tenancy = tenancy_start()
        if tenancy is not None and tenancy > since:
            since = tenancy
        first = to_seconds(since)
        return sum(e.value["v"] for e in data.entries("gas/profile") if e.value["t"] >= first)

    def previous_day() -> int:
        day = _midnight(gpf.now()) - timedelta(days=1)
        _started_after(tenancy_start(), day)
        entries = data.entries("gas/daily")
        last = entries[-1].value if entries else None
        if last is None or last["t"] != to_seconds(day):
            return 0
        return _clamp(last["v"], 24)

    def bill_to_date() -> int:
        tenancy = tenancy_start()
        if tenancy is not None:
            period = data.config("billing_period")
            start = period.get("billing_period_start_time") if period else None
            if not start or to_datetime(start) < tenancy:
                raise Restricted()
        return _clamp(data.get((METERING, BILL_TO_DATE_DELIVERED)), 48)

    def gas_profile() -> list[tuple[datetime, int]]:
        """The mirror's half-hour volumes (litres) of the last MAX_PERIODS hours."""
        since = to_seconds(gpf.now() - timedelta(hours=MAX_PERIODS))
        return [(to_datetime(e.value["t"]), e.value["v"]) for e in data.entries("gas/profile")
                if e.value["t"] >= since]

    def current_price(request: ZclFrame) -> ZclFrame | Status:
        price = data.unit_price()
        if price <= 0:
            return Status.NOT_FOUND
        return _price(PRICE_DIGITS, 1, 1, price, gpf.now(), request, "Gas")

    def calendar() -> dict | None:
        return data.config("calendar")

    metering = PublishedCluster(METERING, {
        **stored(METERING),
        METERING_DEVICE_TYPE: lambda: MIRRORED_GAS_METERING,
        CURRENT_DAY_CONSUMPTION_DELIVERED: lambda: _clamp(today_litres(), 24),
        PREVIOUS_DAY_CONSUMPTION_DELIVERED: previous_day,
        BILL_TO_DATE_DELIVERED: bill_to_date,
    }, {0x00: _profile_answer(gpf.now, gas_profile, tenancy_start)})
    prepayment = PublishedCluster(PREPAYMENT, {
        **stored(PREPAYMENT),
        PREPAYMENT_CURRENCY: lambda: GBP,
        CURRENT_DAY_COST_DELIVERED:
            lambda: _clamp(round(data.kwh(today_litres()) * data.unit_price()), 48),
    })
    price = PublishedCluster(PRICE, stored(PRICE), {0x00: current_price})
    calendar_cluster = PublishedCluster(CALENDAR, {}, {0x00: _calendar_answer(calendar)})
    return [metering, price, prepayment, calendar_cluster,
            _device_management(configured_tenancy)]
