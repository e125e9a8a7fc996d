"""GSME commands (GBZ): the gas meter's reads, and the ZSE cluster commands the DCC
issues with its time as the issuer event id and no start or implementation time (at
once). Each is checked byte for byte against the RTDS command of its SRV.
"""

from __future__ import annotations

from typing import Callable

from gbcs.gbz import component, gbz_payload
from gbcs.node import Node
from gbcs.zcl import zcl_command, zcl_read_attributes
from tools.headend.context import Context, Field, log_period, seconds_since_2000
from tools.headend.duis import DuisError, parse_datetime

# GSME reads (GBZ): use case -> (cluster, attribute ids) per component, in order.
_GBZ_READS: dict[str, tuple[tuple[int, tuple[int, ...]], ...]] = {
    "GCS13a": ((0x0702, (0x0302, 0x0301, 0x0300, 0x0000)),),
    "GCS13b": ((0x0702, (0x0700, 0x0701, 0x0702, 0x0703, 0x0302, 0x0301, 0x0300)),),
    "GCS14": ((0x0700, (0x0617, 0x0616)), (0x0705, (0x0005, 0x0002, 0x0001, 0x0231, 0x0211,
                                                    0x0221))),
    "GCS21a": ((0x0700, (0x0306, 0x0305, 0x0304, 0x0303, 0x0302)),
               (0x0702, (0x0B13, 0x0B12, 0x0B11, 0x0B10, 0x0B14, 0x0B15))),
    "GCS21e": ((0x0000, (0x0004, 0x0005, 0x0003)), (0x0702, (0x0608, 0x0607))),
    "GCS21j": ((0x0705, (0x0000,)),),
    "GCS33": ((0x0702, (0x0205, 0x0014)),),
    "GCS38": ((0x0702, (0x0206,)),),
    "GCS46": ((0x0702, (0x0307,)),),
    "GCS60": ((0x0702, (0x0A00,)), (0x0705, (0x0001,))),
}


def _gbz_reads(uc: str) -> Callable[[Context], Node]:
    """A GSME read: one ZCL Read Attributes component per cluster (GBZ content), their
    transaction sequence numbers counting from 0."""
    def build(ctx: Context) -> Node:
        return gbz_payload([component(cluster, zcl_read_attributes(
            cluster, list(attributes), transaction_sequence=n))
            for n, (cluster, attributes) in enumerate(_GBZ_READS[uc])])
    return build


# GSME commands (GBZ): ZSE cluster commands the DCC issues with its time as the issuer
# event id and no start or implementation time (at once).
_MESSAGING, _DEVICE_MANAGEMENT, _METERING = 0x0703, 0x0708, 0x0702
_SERVER_TO_CLIENT, _CLIENT_TO_SERVER = 1, 0
_UNTIL_CHANGED = 0xFFFF           # DisplayMessage duration: until replaced
_CONSUMER_MENU_PASSWORD = 2       # RequestNewPasswordResponse password type

# PublishChangeOfSupplier provider change control (as the RTDS GCS44 command carries).
_CHANGE_OF_SUPPLIER_CONTROL = 0x1800
_SUPPLY_OFF = 0                   # ChangeSupply proposed supply status: valve closed
_SUPPLY_ARMED = 1                 # ... armed: the consumer opens it with the button
_ACKNOWLEDGE_CHANGE = 0x01        # ChangeSupply supply control bits


def _gbz_command(cluster: int, command_id: int, direction: int,
                 fields: Callable[[Context], dict]) -> Callable[[Context], Node]:
    def build(ctx: Context) -> Node:
        return gbz_payload([component(cluster, zcl_command(cluster, command_id, direction,
                                                           **fields(ctx)))])
    return build


def _message(ctx: Context) -> dict:
    """GCS07: the supplier's message on the gas meter's display until replaced."""
    text = ctx.field("SupplierMessage")
    return {"message_id": ctx.issuer_event_id(), "message_control": 0, "start_time": 0,
            "duration_in_minutes": _UNTIL_CHANGED, "message": text.encode("utf-8")}


def _no_pin(ctx: Context) -> dict:
    """GCS11: clear the consumer menu password (an empty one, at once)."""
    return {"issuer_event_id": ctx.issuer_event_id(), "implementation_date_time": 0,
            "duration_in_minutes": 0, "password_type": _CONSUMER_MENU_PASSWORD,
            "password": b""}


def _supplier_name(ctx: Context) -> dict:
    """GCS44: the supplier's name and telephone number."""
    return {"current_provider_id": 0, "issuer_event_id": ctx.issuer_event_id(),
            "tariff_type": 0, "proposed_provider_id": 0,
            "provider_change_implementation_time": 0,
            "provider_change_control": _CHANGE_OF_SUPPLIER_CONTROL,
            "proposed_provider_name": ctx.field("SupplierName").encode("utf-8"),
            "proposed_provider_contact_details": ctx.field(
                "SupplierTelephoneNumber").encode("utf-8")}


def _valve(status: int) -> Callable[[Context], dict]:
    """GCS32 (close the valve), GCS39 (arm it): ChangeSupply at once."""
    def fields(ctx: Context) -> dict:
        return {"provider_id": 0, "issuer_event_id": ctx.issuer_event_id(),
                "request_date_time": 0, "implementation_date_time": 0,
                "proposed_supply_status": status, "supply_control_bits": _ACKNOWLEDGE_CHANGE}
    return fields


# -- payment, debt, meter balance, gas flow (critical) ------------------------------------

_PREPAYMENT = 0x0705
_NOT_SPECIFIED = 0xFFFFFFFF       # a ZCL UTCTime that names no time (cancels)
# ZSE PaymentControlConfiguration as GBCS sets it on the GSME (RTDS GCS02 and GCS03): the
# low byte for the mode, bit 10 set when debt recovery is suspended while the supply is
# disabled, bit 11 set unless it is suspended while on emergency credit.
_CREDIT_MODE, _PREPAYMENT_MODE = 0x0094, 0x0097
_SUSPEND_DEBT_DISABLED, _COLLECT_DEBT_ON_EMERGENCY = 0x0400, 0x0800
_NO_CUT_OFF = -1                  # credit mode: the cut-off value is never reached
_ESI = 0                          # OriginatingDevice: the energy service interface (DCC)
_INCREMENTAL, _ABSOLUTE, _CREDIT_MODE_RESET = 0, 1, 2   # CreditAdjustmentType (2: GBCS)


def implementation_time(ctx: Context) -> int:
    """When a GSME command takes effect, as a ZCL UTCTime: at once (0), the request's
    ExecutionDateTime, or not specified for DUIS's 3000-12-31 cancellation."""
    when = ctx.request.execution_datetime
    if when is None:
        return 0
    if when.year >= 3000:
        return _NOT_SPECIFIED
    return seconds_since_2000(when)


def _payment_mode(ctx: Context) -> dict:
    """GCS02 (credit) and GCS03 (prepayment, with its debt flags and disablement
    threshold as the cut-off value)."""
    prepayment = Field(ctx.request.body, f"Request/Body/{ctx.request.service}").optional(
        "Prepayment")
    if prepayment is None:
        config, cut_off = _CREDIT_MODE | _SUSPEND_DEBT_DISABLED | _COLLECT_DEBT_ON_EMERGENCY, \
            _NO_CUT_OFF
    else:
        config = _PREPAYMENT_MODE
        if _flag(prepayment, "SuspendDebtDisabled"):
            config |= _SUSPEND_DEBT_DISABLED
        if not _flag(prepayment, "SuspendDebtEmergency"):
            config |= _COLLECT_DEBT_ON_EMERGENCY
        cut_off = prepayment.int("DisablementThreshold", -(1 << 31), (1 << 31) - 1)
    return {"provider_id": 0, "issuer_event_id": ctx.issuer_event_id(),
            "implementation_date_time": implementation_time(ctx),
            "proposed_payment_control_configuration": config, "cut_off_value": cut_off}


def _flag(field: Field, name: str) -> bool:
    text = field.child(name).element.text
    if text not in ("true", "false", "1", "0"):
        raise DuisError(None, f"{name} {text!r} is not a boolean", f"{field.path}/{name}")
    return text in ("true", "1")


def _top_up(ctx: Context) -> dict:
    """CS01b: the UTRN, entered as if by the consumer, from the DCC (the ESI)."""
    utrn = ctx.field("UTRN")
    if not (utrn.isdigit() and len(utrn) == 20):
        raise DuisError(None, f"UTRN {utrn!r} is not 20 digits",
                        f"Request/Body/{ctx.request.service}/UTRN")
    return {"originating_device": _ESI, "top_up_code": utrn.encode("ascii")}


def _emergency_credit(ctx: Context) -> dict:
    """GCS06: select the emergency credit on the gas meter, as the DCC (the ESI)."""
    return {"command_issue_date_time": 0, "originating_device": _ESI}


def _meter_balance(ctx: Context) -> dict:
    """GCS40a (add to the prepayment balance), GCS40b (reset it), GCS40d (reset the
    credit mode balance)."""
    body = Field(ctx.request.body, f"Request/Body/{ctx.request.service}")
    mode = body.optional("PrepaymentMode") or body.child("CreditMode")
    adjust = mode.optional("AdjustMeterBalance")
    if adjust is not None:
        kind, value = _INCREMENTAL, adjust.number(-(1 << 31), (1 << 31) - 1)
    else:
        mode.child("ResetMeterBalance")
        kind, value = (_ABSOLUTE if mode.element.name == "PrepaymentMode"
                       else _CREDIT_MODE_RESET), 0
    return {"issuer_event_id": ctx.issuer_event_id(), "start_time": 0,
            "credit_adjustment_type": kind, "credit_adjustment_value": value}


# ZSE DebtRecoveryFrequency from DUIS's DebtRecoveryRatePeriod.
_RECOVERY_PERIOD = {"HOURLY": 0, "DAILY": 1, "WEEKLY": 2, "MONTHLY": 3, "QUARTERLY": 4}
_TIME_BASED, _PERCENTAGE_BASED = 0, 1   # DebtRecoveryMethod
_TYPE1, _TYPE2, _TYPE3 = 1, 3, 5  # DebtAmountType: incremental, per debt register


def _debt(ctx: Context) -> Node:
    """GCS04: one ChangeDebt per debt register the request names (time debts 1 and 2
    recovered at a rate per period, the payment debt by a percentage of each top-up),
    their transaction sequence numbers counting from 0."""
    body = Field(ctx.request.body, f"Request/Body/{ctx.request.service}")
    event = ctx.issuer_event_id()
    changes = []
    for n, amount_type in ((1, _TYPE1), (2, _TYPE2)):
        amount = body.optional(f"TimeDebtRegister{n}")
        if amount is None:
            continue
        recovery = body.child(f"GasDebtRecovery{n}")
        period = recovery.child("DebtRecoveryRatePeriod").element.text
        if period not in _RECOVERY_PERIOD:
            raise DuisError(None, f"DebtRecoveryRatePeriod {period!r}",
                            f"{recovery.path}/DebtRecoveryRatePeriod")
        changes.append(_change_debt(event, amount.number(0, (1 << 31) - 1), amount_type,
                                    _TIME_BASED, _RECOVERY_PERIOD[period],
                                    recovery.int("DebtRecoveryRate", 0, (1 << 31) - 1), 0))
    payment = body.optional("PaymentDebtRegister")
    if payment is not None:
        changes.append(_change_debt(event, payment.number(0, (1 << 31) - 1), _TYPE3,
                                    _PERCENTAGE_BASED, _RECOVERY_PERIOD["DAILY"], 0,
                                    body.int("DebtRecoveryPerPayment", 0, 10000)))
    if not changes:
        raise DuisError(None, "no debt register to update", body.path)
    return gbz_payload([component(_PREPAYMENT, zcl_command(
        _PREPAYMENT, 0x02, _CLIENT_TO_SERVER, transaction_sequence=n, **fields))
        for n, fields in enumerate(changes)])


def _change_debt(event: int, amount: int, amount_type: int, method: int, frequency: int,
                 rate: int, percentage: int) -> dict:
    return {"issuer_event_id": event, "debt_label": b"", "debt_amount": amount,
            "debt_recovery_method": method, "debt_amount_type": amount_type,
            "debt_recovery_start_time": 0, "debt_recovery_collection_time": 0,
            "debt_recovery_frequency": frequency, "debt_recovery_amount": rate,
            "debt_recovery_balance_percentage": percentage}


_CUBIC_METRES_PER_HOUR = 0x01     # AmiUnitOfMeasure
_STATUS_OFF, _STATUS_UNCHANGED = 0, 3   # SupplyStatus
_LOCK = {"Unchanged": _STATUS_UNCHANGED, "Locked": _STATUS_OFF}


def _gas_flow(ctx: Context) -> Node:
    """GCS24 (flow rate in m3/h) and GCS24a (with four decimals): the uncontrolled flow
    threshold and its periods, then the supply states GBCS locks the valve in (always on
    uncontrolled flow; on depletion and tamper when asked)."""
    body = Field(ctx.request.body, f"Request/Body/{ctx.request.service}")
    decimal = body.optional("UncontrolledGasFlowRateDecimal")
    if decimal is not None:
        text = decimal.element.text
        whole, _, fraction = text.partition(".")
        if not (whole + fraction).isdigit() or len(fraction) > 4:
            raise DuisError(None, f"{text!r} is not a decimal with up to 4 places",
                            decimal.path)
        threshold, divisor = int(whole + fraction.ljust(4, "0")), 10000
        if threshold > 0xFFFF:
            raise DuisError(None, f"{text!r} is over 6.5535", decimal.path)
    else:
        threshold, divisor = body.int("UncontrolledGasFlowRate", 0, 0xFFFF), 1
    states = {}
    for name in ("SupplyDepletionState", "SupplyTamperState"):
        text = body.child(name).element.text
        if text not in _LOCK:
            raise DuisError(None, f"{name} {text!r}", f"{body.path}/{name}")
        states[name] = _LOCK[text]
    event = ctx.issuer_event_id()
    flow = zcl_command(_METERING, 0x0E, _CLIENT_TO_SERVER, provider_id=0,
                       issuer_event_id=event, uncontrolled_flow_threshold=threshold,
                       unit_of_measure=_CUBIC_METRES_PER_HOUR, multiplier=1, divisor=divisor,
                       stabilisation_period=body.int("StabilisationPeriod", 1, 0xFF),
                       measurement_period=body.int("MeasurementPeriod", 1, 0xFFFF))
    supply = zcl_command(_METERING, 0x0D, _CLIENT_TO_SERVER, transaction_sequence=1,
                         issuer_event_id=event,
                         supply_tamper_state=states["SupplyTamperState"],
                         supply_depletion_state=states["SupplyDepletionState"],
                         supply_uncontrolled_flow_state=_STATUS_OFF,
                         load_limit_supply_state=_STATUS_UNCHANGED)
    return gbz_payload([component(_METERING, flow), component(_METERING, supply)])


# -- device management and events (non-critical) ----------------------------------------------

_EVENTS = 0x0709
_GENERAL_EVENT_LOG = 0x03         # EventLogId


def _mprn(ctx: Context) -> dict:
    """GCS41: the gas meter's MPRN (the ZSE site id)."""
    mprn = ctx.field("ImportMPRN")
    if not mprn.isdigit():
        raise DuisError(None, f"ImportMPRN {mprn!r} is not digits",
                        f"Request/Body/{ctx.request.service}/ImportMPRN")
    return {"issuer_event_id": ctx.issuer_event_id(), "site_id_time": 0, "provider_id": 0,
            "site_id": mprn.encode("ascii")}


# -- configuration reads that carry fixed arguments ---------------------------------------------

_PRICE, _CALENDAR = 0x0700, 0x0707
_ANY_CALENDAR = 0xFFFFFFFE        # issuer calendar id: the current calendar
_FRIENDLY_CREDIT_CALENDAR = 0x03  # CalendarType
_ALL_GBCS_EVENTS = 0x81FF         # GetEventConfiguration: every GBCS alert and event
_DELIVERED_TARIFF = 0x00          # TariffType
_ANY_EVENT = 0xFFFFFFFF           # min issuer event id: not specified

# GCS21b: the prepayment configuration (cluster, attributes), then the friendly credit
# calendar (day and week profiles, seasons, special days).
_PREPAYMENT_CONFIGURATION = (0x0239, 0x0006, 0x0216, 0x0226, 0x0040, 0x0010, 0x0011,
                             0x0031, 0x0021, 0x0022, 0x0217, 0x0227)


def _prepayment_configuration(ctx: Context) -> Node:
    calendar = {"provider_id": 0, "issuer_calendar_id": _ANY_CALENDAR}
    frames = [(_PREPAYMENT, zcl_read_attributes(_PREPAYMENT, list(_PREPAYMENT_CONFIGURATION))),
              (_PRICE, zcl_read_attributes(_PRICE, [0x0617])),   # PriceTrailingDigit
              (_CALENDAR, (0x01, dict(calendar, start_day_id=1, number_of_days=0))),
              (_CALENDAR, (0x02, dict(calendar, start_week_id=1, number_of_weeks=0))),
              (_CALENDAR, (0x03, calendar)),
              (_CALENDAR, (0x04, dict(calendar, start_time=0, number_of_events=0,
                                      calendar_type=_FRIENDLY_CREDIT_CALENDAR)))]
    return _components(frames)


def _components(frames: list[tuple[int, object]]) -> Node:
    """GBZ components in order, transaction sequence numbers counting from 0: each a
    built ZCL frame with a fixed sequence number 0, or (command id, fields[, direction])
    of a cluster command (client to server unless said)."""
    out = []
    for n, (cluster, frame) in enumerate(frames):
        if isinstance(frame, tuple):
            command_id, fields, *direction = frame
            frame = zcl_command(cluster, command_id, *(direction or [_CLIENT_TO_SERVER]),
                                transaction_sequence=n, **fields)
        else:
            frame = _renumbered(frame, n)
        out.append(component(cluster, frame))
    return gbz_payload(out)


def _renumbered(frame: Node, n: int) -> Node:
    tsn = frame.get("transaction_sequence")
    tsn.value = n
    return frame


def _alert_configuration(ctx: Context) -> Node:
    """GCS20r: the configuration of every GBCS event and alert."""
    return _components([(_DEVICE_MANAGEMENT, (0x05, {"event_id": _ALL_GBCS_EVENTS},
                                              _SERVER_TO_CLIENT))])


def _billing_period(ctx: Context) -> Node:
    """GCS21k: the billing calendar (the latest billing period of the delivered tariff)."""
    return _components([(_PRICE, (0x0B, {"earliest_start_time": 0,
                                         "min_issuer_event_id": _ANY_EVENT,
                                         "number_of_commands": 1,
                                         "tariff_type": _DELIVERED_TARIFF}))])


# -- reads over a period ---------------------------------------------------------------------------

# GetEventLog's log control and id: CS10a the event log, CS10b the security log.
_EVENT_LOGS = {"CS10a": 0x13, "CS10b": 0x04}
_DAILY_SNAPSHOTS = 31             # GCS16a: a month of daily read log entries
_GENERAL_SNAPSHOT = 0x00000001    # SnapshotCause: the daily (general) snapshot
_HALF_HOUR = 1800


def _event_log(uc: str) -> Callable[[Context], Node]:
    def build(ctx: Context) -> Node:
        start, end = log_period(ctx)
        return _components([(_EVENTS, (0x00, {
            "event_control_log_id": _EVENT_LOGS[uc], "event_id": 0,
            "start_time": seconds_since_2000(start), "end_time": seconds_since_2000(end),
            "number_of_events": 0, "event_offset": 0}))])
    return build


def _daily_read_log(ctx: Context) -> Node:
    """GCS16a: one GetSnapshot per day of the daily read log, newest first."""
    start, end = (seconds_since_2000(t) for t in log_period(ctx))
    return _components([(_METERING, (0x06, {
        "earliest_start_time": start, "latest_end_time": end, "snapshot_offset": n,
        "snapshot_cause": _GENERAL_SNAPSHOT})) for n in range(_DAILY_SNAPSHOTS)])


def _profile_data(ctx: Context) -> Node:
    """GCS17: the half-hourly consumption samples from the period's start to its end."""
    start, end = (seconds_since_2000(t) for t in log_period(ctx))
    samples = min((end - start) // _HALF_HOUR + 1, 0xFFFF)
    return _components([(_METERING, (0x08, {"sample_id": 0, "earliest_sample_time": start,
                                            "sample_type": 0, "number_of_samples": samples}))])


_SNAPSHOTS = 12                   # GCS15b: the change of mode / tariff snapshots held
_TARIFF_OR_MODE_CHANGE = 0x00006008   # SnapshotCause: tariff or payment mode changed
_DEBT_RECORDS, _TOP_UP_RECORDS = 10, 5
_PAYMENT_DEBT = 0x02              # RepaymentDebtType Debt3: the payment-based debt
_LATEST_UTC = 0xFFFFFFFE          # the last valid ZCL UTCTime


def _utc_or_open(when) -> int:
    """A period's end as a ZCL UTCTime, the last one when past it (DUIS 3000-12-31)."""
    return min(seconds_since_2000(when), _LATEST_UTC)


def _billing_snapshots(ctx: Context) -> Node:
    """GCS15b: the prepayment snapshots, then the metering snapshots, taken at a change
    of tariff or payment mode over the period."""
    start, end = log_period(ctx)
    period = {"earliest_start_time": seconds_since_2000(start),
              "latest_end_time": _utc_or_open(end), "snapshot_cause": _TARIFF_OR_MODE_CHANGE}
    return _components([(cluster, (command_id, dict(period, snapshot_offset=n)))
                        for cluster, command_id in ((_PREPAYMENT, 0x07), (_METERING, 0x06))
                        for n in range(_SNAPSHOTS)])


def _from_period_start(cluster: int, command_id: int,
                       fields: Callable[[int], dict]) -> Callable[[Context], Node]:
    """A log read whose component starts at the period's start (GBZ from date-time) with
    the period's end in the command."""
    def build(ctx: Context) -> Node:
        start, end = log_period(ctx)
        frame = zcl_command(cluster, command_id, _CLIENT_TO_SERVER, **fields(_utc_or_open(end)))
        return gbz_payload([component(cluster, frame, from_date_time=seconds_since_2000(start))])
    return build


_NETWORK_DATA = 2                 # SampleID of the network data log GCS31 starts
_NETWORK_SAMPLES = 41             # ... and the samples one run of it takes
_OLDEST = 1                       # EarliestSampleTime: from the log's oldest sample


def _network_data(ctx: Context) -> Node:
    """GCS18: the network data log of the last GCS31 run, all of it (as the RTDS command
    carries: the request's period does not narrow it)."""
    log_period(ctx)   # checked, as DUIS asks for it
    return _components([(_METERING, (0x08, {
        "sample_id": _NETWORK_DATA, "earliest_sample_time": _OLDEST, "sample_type": 0,
        "number_of_samples": _NETWORK_SAMPLES}))])


def _network_sampling(ctx: Context) -> dict:
    """GCS31: sample the gas consumption every 6 minutes for 4 hours (41 samples), now."""
    return {"issuer_event_id": ctx.issuer_event_id(), "start_sampling_time": 0,
            "sample_type": 0, "sample_request_interval": 360,
            "max_number_of_samples": _NETWORK_SAMPLES}


# -- billing calendar (critical) -----------------------------------------------------------------

# DUIS Periodicity -> (duration, ZSE duration type: unit in the low nibble (1 days,
# 2 weeks, 3 months), 2 in the high nibble: the period runs from its start time).
_PERIODICITY = {"Daily": (1, 0x21), "Weekly": (1, 0x22), "Monthly": (1, 0x23),
                "Quarterly": (3, 0x23), "SixMonthly": (6, 0x23), "Yearly": (12, 0x23)}
_REPEATING_BLOCK_PERIOD = 0x02    # BlockPeriodControl: repeat the block period
_BLOCK_PERIOD_RESOLUTION = 0x01   # TariffResolutionPeriod


def _gas_billing_calendar(ctx: Context) -> Node:
    """GCS25 (monthly), GCS25a (any periodicity): the billing period and the block period
    (the block thresholds reset with each bill), from BillingPeriodStart."""
    base = "GasBillingCalendar"
    start = seconds_since_2000(parse_datetime(ctx.field(f"{base}/BillingPeriodStart"),
                                              f"Request/Body/{ctx.request.service}/{base}"))
    periodicity = ctx.field(f"{base}/Periodicity")
    if periodicity not in _PERIODICITY:
        raise DuisError(None, f"Periodicity {periodicity!r}",
                        f"Request/Body/{ctx.request.service}/{base}/Periodicity")
    duration, kind = _PERIODICITY[periodicity]
    event = ctx.issuer_event_id()
    billing = zcl_command(_PRICE, 0x09, _SERVER_TO_CLIENT, provider_id=0,
                          issuer_event_id=event, billing_period_start_time=start,
                          billing_period_duration=duration, billing_period_duration_type=kind,
                          tariff_type=_DELIVERED_TARIFF)
    block = zcl_command(_PRICE, 0x01, _SERVER_TO_CLIENT, transaction_sequence=1,
                        provider_id=0, issuer_event_id=event, block_period_start_time=start,
                        block_period_duration=duration,
                        block_period_control=_REPEATING_BLOCK_PERIOD,
                        block_period_duration_type=kind, tariff_type=_DELIVERED_TARIFF,
                        tariff_resolution_period=_BLOCK_PERIOD_RESOLUTION)
    return gbz_payload([component(_PRICE, billing), component(_PRICE, block)])


# -- prices (critical) ----------------------------------------------------------------------------

# ISO 4217 numeric codes of DUIS CurrencyUnits (ECB: the euro).
_CURRENCIES = {"GBP": 826, "ECB": 978}
_TOU_SCHEME, _BLOCK_SCHEME = 0x00, 0x10   # TariffTypeChargingScheme (delivered tariff)
_TIER_BASED, _BLOCK_BASED = 0x01, 0x00    # PriceMatrix sub-payload control
_KWH = 0x00                               # AmiUnitOfMeasure
_PRICE_DIGITS = 0x50                      # prices and standing charge in 1/100000 of a unit
_NO_TIER_BLOCK_MODE = 0xFF                # TierBlockMode: not used
_THRESHOLD_DIVISOR = 1000                 # block thresholds in Wh, read as kWh
_TARIFF_ID = 1                            # the DCC's one issuer tariff id per meter
_MAX_PRICES = 4                           # GBCS: a gas meter has four TOU or block prices
_PRICE_RANGE = (0, 0xFFFFFFFF)


def _gas_prices(ctx: Context) -> Node:
    """GCS01b: the TOU or block prices and the standing charge, from the request's
    execution date-time (or at once): the tariff information, then the price matrix
    (TOU tier ids from 1, block ids from 0). A cancellation names no start time in the
    tariff information and the last valid time in the price matrix, as the RTDS shows."""
    base = Field(ctx.request.body, f"Request/Body/{ctx.request.service}").child(
        "PriceElements").child("GasPriceElements")
    currency = base.child("CurrencyUnits")
    if currency.element.text not in _CURRENCIES:
        raise DuisError(None, f"CurrencyUnits {currency.element.text!r}", currency.path)
    tou = base.optional("TOUTariff")
    if tou is not None:
        prices = [(p.index(1, _MAX_PRICES), p.number(*_PRICE_RANGE))
                  for p in tou.all("TOUPrice")]
        scheme, control, tiers, thresholds = _TOU_SCHEME, _TIER_BASED, len(prices), 0
    else:
        block = base.child("BlockTariff")
        prices = [(p.index(1, _MAX_PRICES) - 1, p.number(*_PRICE_RANGE))
                  for p in block.all("BlockPrice")]
        scheme, control, tiers = _BLOCK_SCHEME, _BLOCK_BASED, 0
        thresholds = block.int("NumberOfThresholds", 0, _MAX_PRICES - 1)
    if not prices or len({n for n, _ in prices}) != len(prices):
        raise DuisError(None, "no prices, or one index twice", base.path)
    start = implementation_time(ctx)
    event = ctx.issuer_event_id()
    information = zcl_command(
        _PRICE, 0x04, _SERVER_TO_CLIENT, provider_id=0, issuer_event_id=event,
        issuer_tariff_id=_TARIFF_ID, start_time=start, tariff_type_charging_scheme=scheme,
        tariff_label=b"", number_of_price_tiers_in_use=tiers,
        number_of_block_thresholds_in_use=thresholds, unit_of_measure=_KWH,
        currency=_CURRENCIES[currency.element.text], price_trailing_digit=_PRICE_DIGITS,
        standing_charge=base.int("StandingCharge", *_PRICE_RANGE),
        tier_block_mode=_NO_TIER_BLOCK_MODE, block_threshold_multiplier=1,
        block_threshold_divisor=_THRESHOLD_DIVISOR)
    matrix = zcl_command(
        _PRICE, 0x05, _SERVER_TO_CLIENT, transaction_sequence=1, provider_id=0,
        issuer_event_id=event, start_time=min(start, _LATEST_UTC),
        issuer_tariff_id=_TARIFF_ID, command_index=0, number_of_commands=1,
        sub_payload_control=control,
        sub_payload=[{"tier_block_id": n, "price": price} for n, price in sorted(prices)])
    return gbz_payload([component(_PRICE, information), component(_PRICE, matrix)])


# -- gas conversion (critical) -------------------------------------------------------------------

_MJ_PER_M3 = 0x01                 # CalorificValueUnit


def _decimal(ctx: Context, name: str, places: int) -> tuple[int, int]:
    """A DUIS decimal as (its digits as an integer, the ZSE trailing digit: the number of
    decimal places in the high nibble)."""
    text = ctx.field(name)
    whole, _, fraction = text.partition(".")
    if not (whole + fraction).isdigit() or len(fraction) > places:
        raise DuisError(None, f"{name} {text!r} is not a decimal with up to {places} "
                        "places", f"Request/Body/{ctx.request.service}/{name}")
    return int(whole + fraction), len(fraction) << 4


def _gas_conversion(ctx: Context) -> Node:
    """GCS23: the conversion factor and the calorific value, published at once."""
    factor, factor_digits = _decimal(ctx, "ConversionFactor", 5)
    value, value_digits = _decimal(ctx, "CalorificValue", 1)
    event = ctx.issuer_event_id()
    conversion = zcl_command(_PRICE, 0x02, _SERVER_TO_CLIENT, issuer_event_id=event,
                             start_time=0, conversion_factor=factor,
                             conversion_factor_trailing_digit=factor_digits)
    calorific = zcl_command(_PRICE, 0x03, _SERVER_TO_CLIENT, transaction_sequence=1,
                            issuer_event_id=event, start_time=0, calorific_value=value,
                            calorific_value_unit=_MJ_PER_M3,
                            calorific_value_trailing_digit=value_digits)
    return gbz_payload([component(_PRICE, conversion), component(_PRICE, calorific)])


BUILDERS: dict[str, Callable[[Context], Node]] = {uc: _gbz_reads(uc) for uc in _GBZ_READS}
BUILDERS.update({
    "GCS07": _gbz_command(_MESSAGING, 0x00, _SERVER_TO_CLIENT, _message),
    "GCS11": _gbz_command(_DEVICE_MANAGEMENT, 0x02, _SERVER_TO_CLIENT, _no_pin),
    "GCS44": _gbz_command(_DEVICE_MANAGEMENT, 0x01, _SERVER_TO_CLIENT, _supplier_name),
    "GCS32": _gbz_command(_METERING, 0x0B, _CLIENT_TO_SERVER, _valve(_SUPPLY_OFF)),
    "GCS39": _gbz_command(_METERING, 0x0B, _CLIENT_TO_SERVER, _valve(_SUPPLY_ARMED)),
    "GCS02": _gbz_command(_PREPAYMENT, 0x06, _CLIENT_TO_SERVER, _payment_mode),
    "GCS03": _gbz_command(_PREPAYMENT, 0x06, _CLIENT_TO_SERVER, _payment_mode),
    "GCS06": _gbz_command(_PREPAYMENT, 0x00, _CLIENT_TO_SERVER, _emergency_credit),
    "CS01b": _gbz_command(_PREPAYMENT, 0x04, _CLIENT_TO_SERVER, _top_up),
    "GCS40a": _gbz_command(_PREPAYMENT, 0x05, _CLIENT_TO_SERVER, _meter_balance),
    "GCS40b": _gbz_command(_PREPAYMENT, 0x05, _CLIENT_TO_SERVER, _meter_balance),
    "GCS40d": _gbz_command(_PREPAYMENT, 0x05, _CLIENT_TO_SERVER, _meter_balance),
    "GCS04": _debt, "GCS24": _gas_flow, "GCS24a": _gas_flow,
    "GCS41": _gbz_command(_DEVICE_MANAGEMENT, 0x03, _SERVER_TO_CLIENT, _mprn),
    "CS11": _gbz_command(_EVENTS, 0x01, _CLIENT_TO_SERVER,
                         lambda ctx: {"log_id": _GENERAL_EVENT_LOG}),
    "GCS21b": _prepayment_configuration, "GCS20r": _alert_configuration,
    "GCS21k": _billing_period, "CS10a": _event_log("CS10a"), "CS10b": _event_log("CS10b"),
    "GCS16a": _daily_read_log, "GCS17": _profile_data, "GCS23": _gas_conversion,
    "GCS15b": _billing_snapshots,
    "GCS15d": _from_period_start(_PREPAYMENT, 0x0A, lambda end: {
        "latest_end_time": end, "number_of_debts": _DEBT_RECORDS, "debt_type": _PAYMENT_DEBT}),
    "GCS15e": _from_period_start(_PREPAYMENT, 0x08, lambda end: {
        "latest_end_time": end, "number_of_records": _TOP_UP_RECORDS}),
    "GCS18": _network_data,
    "GCS31": _gbz_command(_METERING, 0x07, _CLIENT_TO_SERVER, _network_sampling),
    "GCS01b": _gas_prices,
    "GCS25": _gas_billing_calendar, "GCS25a": _gas_billing_calendar,
})
# Commands to the gas meter the ACB sends on the User's behalf.
VIA_ACB = frozenset(("GCS15d", "GCS31"))
# The User's own reads of the gas meter's data, which the GPF answers too.
READS = frozenset(_GBZ_READS)
