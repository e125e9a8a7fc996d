"""ESME payment and pricing commands: top-up and meter balance, payment mode (credit
ECS02, prepayment ECS03), prepayment configuration with its non-disablement calendar
(ECS08, ECS08a), debt (ECS07), and the tariffs: the primary element's switching table,
special days, block thresholds and prices (ECS01a), the secondary element's (ECS01c) and
its prices alone (ECS01d). Each is checked byte for byte against the RTDS command (or
pre-command) of its SRV.
"""

from __future__ import annotations

from typing import Callable

from gbcs.axdr import array_node, data_node, structure_node
from gbcs.node import Node
from tools.headend.context import (NO_WINDOW, PRICE, SCALE, Context, Field, activation_time,
                                   date_element, flag, integer, obis, xs_date, xs_time)
from tools.headend.duis import DuisError

def _top_up(ctx: Context) -> list[tuple]:
    utrn = ctx.field("UTRN")
    return [("action", 115, obis("0-0:19.40.0.255"), 1,
             data_node("", utrn.encode("ascii"), "octet-string"))]


def _adjust_balance(ctx: Context) -> list[tuple]:
    amount = integer(ctx, "PrepaymentMode/AdjustMeterBalance", -(1 << 31), (1 << 31) - 1)
    return [("action", 112, obis("0-0:19.10.0.255"), 1, data_node("", amount, "double-long"))]


# ECS02: the charges a credit-mode account deducts from the meter balance (all three
# of accrue, deduct, pay-off), the secondary element's on a twin-element ESME.
_CREDIT_CHARGES = ("0-0:19.20.0.255", "0-0:19.20.4.255")
_TWIN_CHARGES = ("0-0:19.20.5.255",)
_CREDIT_MODE, _ACCOUNT_NEW = 1, 1


def _credit_mode(ctx: Context) -> list[tuple]:
    account = obis("0-1:19.0.0.255")
    charges = _CREDIT_CHARGES + (_TWIN_CHARGES if ctx.device.variant == "twin" else ())
    balance = obis("0-0:19.10.0.255")
    config = array_node("", [structure_node("", [
        data_node("", balance, "octet-string"), data_node("", obis(c), "octet-string"),
        data_node("", "111", "bit-string")]) for c in charges])
    return [("set", 111, account, 2, structure_node("", [
                data_node("", _CREDIT_MODE, "enum"), data_node("", _ACCOUNT_NEW, "enum")])),
            ("set", 111, account, 11, config),
            ("set", 111, account, 13, data_node(
                "", activation_time(ctx.request.execution_datetime), "octet-string"))]


# ECS03: the charges a prepayment account takes from each balance. Debt recovery by
# time (rates 1 and 2) from the meter and emergency credit balances is suspended while
# the supply is disabled when SuspendDebtDisabled is true (bit-string 110: the charge
# accrues and is deducted but not paid off); debt accrued while on emergency credit is
# collected from the accumulated debt register unless SuspendDebtEmergency is false
# (as the RTDS ECS03 commands show for each combination of the two flags).
_METER_BALANCE, _EMERGENCY, _DEBT = "0-0:19.10.0.255", "0-0:19.10.1.255", "0-0:19.10.2.255"
_TOU, _STANDING, _DRR1, _DRR2, _PER_PAYMENT, _SECONDARY_TOU = (
    "0-0:19.20.0.255", "0-0:19.20.4.255", "0-0:19.20.1.255", "0-0:19.20.2.255",
    "0-0:19.20.3.255", "0-0:19.20.5.255")
_PREPAYMENT_MODE = 2
_DISABLEMENT_THRESHOLD = "0-0:94.44.128.22"


def _prepayment_mode(ctx: Context) -> list[tuple]:
    suspend_disabled = flag(ctx, "Prepayment/SuspendDebtDisabled")
    suspend_emergency = flag(ctx, "Prepayment/SuspendDebtEmergency")
    threshold = integer(ctx, "Prepayment/DisablementThreshold", -(1 << 31), (1 << 31) - 1)
    by_time = "110" if suspend_disabled else "111"
    charges = [(_METER_BALANCE, _TOU, "111"), (_METER_BALANCE, _STANDING, "111"),
               (_METER_BALANCE, _DRR1, by_time), (_METER_BALANCE, _DRR2, by_time),
               (_METER_BALANCE, _PER_PAYMENT, "111"), (_EMERGENCY, _PER_PAYMENT, "111"),
               (_EMERGENCY, _TOU, "111"), (_EMERGENCY, _STANDING, "111"),
               (_EMERGENCY, _DRR1, by_time), (_EMERGENCY, _DRR2, by_time)]
    if suspend_emergency:
        charges += [(_DEBT, _STANDING, "111"), (_DEBT, _DRR1, "111"), (_DEBT, _DRR2, "111")]
    if ctx.device.variant == "twin":
        charges += [(_METER_BALANCE, _SECONDARY_TOU, "111"), (_EMERGENCY, _SECONDARY_TOU, "111")]
    config = array_node("", [structure_node("", [
        data_node("", obis(balance), "octet-string"), data_node("", obis(charge), "octet-string"),
        data_node("", bits, "bit-string")]) for balance, charge, bits in charges])
    account, when = obis("0-1:19.0.0.255"), activation_time(ctx.request.execution_datetime)
    return [("set", 111, account, 2, structure_node("", [
                data_node("", _PREPAYMENT_MODE, "enum"), data_node("", _ACCOUNT_NEW, "enum")])),
            ("set", 9000, obis(_DISABLEMENT_THRESHOLD), 4,
             data_node("", threshold, "double-long")),
            ("set", 111, account, 11, config),
            ("set", 9000, obis(_DISABLEMENT_THRESHOLD), 6, data_node("", when, "octet-string")),
            ("set", 111, account, 13, data_node("", when, "octet-string"))]


_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_SCRIPT_START, _SCRIPT_STOP = 32, 33
_DISCONNECTOR_SCRIPTS = "0-0:10.0.106.255"


def _special_days(days: list, path: str) -> Node:
    """Special days table entries: (index, date, day id = the index)."""
    entries = []
    for day in days:
        index = day.attribute("index") or ""
        if not index.isdigit():
            raise DuisError(None, f"SpecialDay index {index!r}", path)
        entries.append(structure_node("", [
            data_node("", int(index), "long-unsigned"),
            data_node("", date_element(day.find("Date") or day, f"{path}/SpecialDay/Date"),
                      "octet-string"),
            data_node("", int(index), "unsigned")]))
    return array_node("", entries)


def _non_disablement_schedule(schedules: list, special_days: int, path: str) -> Node:
    """The non-disablement calendar: one schedule entry per DUIS schedule, running the
    disconnector script's START or STOP at its switch time on its days of the week and
    special days, between its start and end dates. The special days bit-string has one
    bit per special day of the calendar."""
    entries = []
    for n, schedule in enumerate(schedules, 1):
        where = f"{path}/ElectricityNonDisablementSchedule[{n}]"
        script = {"START": _SCRIPT_START, "STOP": _SCRIPT_STOP}.get(
            schedule.value("NonDisablementScript") or "")
        if script is None:
            raise DuisError(None, "NonDisablementScript must be START or STOP", where)
        weekdays = {d.value("DayOfWeekID") for d in (
            schedule.find("DaysOfWeekApplicability") or schedule).find_all(
            "DayOfWeekApplicability")}
        special = {d.value("SpecialDayID") for d in (
            schedule.find("SpecialDaysApplicability") or schedule).find_all(
            "SpecialDayApplicability")}
        times = schedule.find("ScheduleDatesAndTime")
        if times is None:
            raise DuisError(None, "missing ScheduleDatesAndTime", where)
        entries.append(structure_node("", [
            data_node("", n, "long-unsigned"), data_node("", 0xFF, "boolean"),
            data_node("", obis(_DISCONNECTOR_SCRIPTS), "octet-string"),
            data_node("", script, "long-unsigned"),
            data_node("", xs_time(times.value("SwitchTime"), where), "octet-string"),
            data_node("", NO_WINDOW, "long-unsigned"),
            data_node("", "".join("1" if d in weekdays else "0" for d in _WEEKDAYS),
                      "bit-string"),
            data_node("", "".join("1" if str(i) in special else "0"
                                  for i in range(1, special_days + 1)), "bit-string"),
            data_node("", xs_date(times.value("StartDate"), where), "octet-string"),
            data_node("", xs_date(times.value("EndDate"), where), "octet-string")]))
    return array_node("", entries)


# ECS08 / ECS08a: the prepayment settings, their passive values taking effect at the
# execution date-time. DUIS caps debt recovery per week (the cap period, in seconds).
_WEEK = 7 * 24 * 3600
_PREPAY = {"max_balance": "0-0:94.44.2.20", "max_credit": "0-0:94.44.2.10",
           "cap": "0-0:94.44.128.12", "cap_period": "0-0:94.44.128.13",
           "low_credit": "0-0:94.44.128.9", "ec_limit": "0-0:94.44.128.2",
           "ec_threshold": "0-0:94.44.128.3", "special_days": "0-0:94.44.128.31",
           "calendar": "0-0:94.44.128.28"}


def _prepay_configuration(max_balance_attribute: int) -> Callable[[Context], list]:
    """ECS08 writes the maximum meter balance's active value, ECS08a its passive one."""
    def build(ctx: Context) -> list[tuple]:
        base = "UpdatePrepayConfigElectricity"
        cal_path = f"Request/Body/{ctx.request.service}/{base}/ElectricityNonDisablementCalendar"
        calendar = ctx.request.body.find(f"{base}/ElectricityNonDisablementCalendar")
        if calendar is None:
            raise DuisError(None, "missing ElectricityNonDisablementCalendar", cal_path)
        days = (calendar.find("ElectricitySpecialDays") or calendar).find_all("SpecialDay")

        def i32(name: str) -> Node:
            return data_node("", integer(ctx, f"{base}/{name}", -(1 << 31), (1 << 31) - 1),
                             "double-long")

        def x(name: str) -> bytes:
            return obis(_PREPAY[name])
        when = data_node("", activation_time(ctx.request.execution_datetime), "octet-string")
        return [
            ("set", 11, obis("0-1:11.0.2.255"), 2, _special_days(days, cal_path)),
            ("set", 9000, x("max_balance"), max_balance_attribute, i32("MaxMeterBalance")),
            ("set", 9000, x("max_credit"), 4, i32("MaxCreditThreshold")),
            ("set", 10, obis("0-1:12.0.1.255"), 2, _non_disablement_schedule(
                calendar.find_all("ElectricityNonDisablementSchedule"), len(days), cal_path)),
            ("set", 9000, x("cap"), 4, data_node(
                "", integer(ctx, f"{base}/DebtRecoveryRateCap", 0, 0xFFFF), "long-unsigned")),
            ("set", 9000, x("cap_period"), 4, data_node("", _WEEK, "double-long")),
            ("set", 9000, x("low_credit"), 4, i32("LowCreditThreshold")),
            ("set", 9000, x("ec_limit"), 4, i32("EmergencyCreditLimit")),
            ("set", 9000, x("special_days"), 6, when),
            ("set", 9000, x("ec_threshold"), 4, i32("EmergencyCreditThreshold")),
            *(("set", 9000, x(name), 6, when) for name in (
                "max_balance", "max_credit", "cap", "cap_period", "low_credit", "ec_limit",
                "ec_threshold", "calendar"))]
    return build


_TARIFF_SCRIPTS = "0-0:10.0.100.255"
_SECONDARY_SCRIPTS_BASE = 200      # the secondary element's TOU actions are 201..204
_BLOCK_SCRIPTS_BASE = 100          # block sets 1..8 are scripts 101..108
_MIDNIGHT = b"\x00\x00\x00\x00\x80\x00\xff"  # 00:00:00.00, deviation unspecified, status
_NO_THRESHOLD = 0xFFFFFFFF

# The TOU price matrix: TOU rates 1..48 (index 0x01..0x30), then the block prices of
# TOU/block sets 1..8 for blocks 1..4 (index 0xA1..0xA8 for block 1, ... 0xD8 block 4).
_TOU_RATES, _BLOCK_SETS, _BLOCKS = 48, 8, 4
_ACTIVE_IMPORT = (3, "1-0:1.8.0.255", 2)
_SECONDARY_IMPORT = (3, "1-20:1.8.0.255", 2)
_KILO = 3  # prices are per kWh: commodity scale 10^3 on the Wh register


def _switching_table(table: Field, script_base: int) -> tuple[Node, Node, Node]:
    """An activity calendar's passive season, week and day profile tables."""
    seasons = [structure_node("", [
        data_node("", s.child("SeasonName").element.text.encode("utf-8"), "octet-string"),
        data_node("", date_element(s.child("SeasonStartDate").element, s.path) + _MIDNIGHT,
                  "octet-string"),
        data_node("", bytes((s.int("ReferencedWeekName", 1, 255),)), "octet-string")])
        for s in table.child("Seasons").all("Season")]
    weeks = []
    for week in table.child("WeekProfiles").all("WeekProfile"):
        days = {d.index(1, 7): d for d in week.all("ReferencedDayName")}
        if sorted(days) != list(range(1, 8)):
            raise DuisError(None, "a week profile names a day for each of days 1..7", week.path)
        weeks.append(structure_node("", [
            data_node("", bytes((week.int("WeekName", 1, 255),)), "octet-string")] + [
            data_node("", days[n].number(0, 255), "unsigned") for n in range(1, 8)]))
    day_profiles = []
    for day in table.child("DayProfiles").all("DayProfile"):
        actions = [structure_node("", [
            data_node("", xs_time(a.child("StartTime").element.text, a.path), "octet-string"),
            data_node("", obis(_TARIFF_SCRIPTS), "octet-string"),
            data_node("", _tariff_script(a, script_base), "long-unsigned")])
            for a in day.all("ProfileSchedule")]
        day_profiles.append(structure_node("", [
            data_node("", day.int("DayName", 1, 255), "unsigned"), array_node("", actions)]))
    return array_node("", seasons), array_node("", weeks), array_node("", day_profiles)


def _tariff_script(action: Field, script_base: int) -> int:
    """The tariffication script a switching time runs: TOU rate n is script base + n,
    block set n (primary element) script 100 + n."""
    if action.optional("BlockTariffAction") is not None and script_base == 0:
        return _BLOCK_SCRIPTS_BASE + action.int("BlockTariffAction", 1, _BLOCK_SETS)
    return script_base + action.int("TOUTariffAction", 1, _TOU_RATES)


def _tariff_special_days(days: Field | None) -> Node:
    """Special days: (n, date, the day profile it follows)."""
    entries = [] if days is None else [structure_node("", [
        data_node("", n, "long-unsigned"),
        data_node("", date_element(d.child("Date").element, d.path), "octet-string"),
        data_node("", d.int("ReferencedDayName", 1, 255), "unsigned")])
        for n, d in enumerate(days.all("SpecialDay"), 1)]
    return array_node("", entries)


def _unit_charge(commodity_scale: int, price_scale: int, reference: tuple[int, str, int] | None,
                 charges: list[tuple[bytes, int]]) -> Node:
    if reference is None:
        ref = [data_node("", 0, "long-unsigned"), data_node("", bytes(6), "octet-string"),
               data_node("", 0, "integer")]
    else:
        ref = [data_node("", reference[0], "long-unsigned"),
               data_node("", obis(reference[1]), "octet-string"),
               data_node("", reference[2], "integer")]
    return structure_node("", [
        structure_node("", [data_node("", commodity_scale, "integer"),
                            data_node("", price_scale, "integer")]),
        structure_node("", ref),
        array_node("", [structure_node("", [data_node("", index, "octet-string"),
                                            data_node("", charge, "long")])
                        for index, charge in charges])])


def _price_matrix(prices: Field) -> list[tuple[bytes, int]]:
    """All 80 entries of the TOU price matrix from TOUTariff, BlockTariff or HybridTariff
    (TOUPrice index n -> n; BlockPrices index s, BlockPrice index b -> 0xA0 + 16(b-1) + s);
    entries the request leaves out are 0."""
    table = {i: 0 for i in range(1, _TOU_RATES + 1)}
    table.update({(0xA0 + 0x10 * b) + s: 0 for b in range(_BLOCKS) for s in range(1, 9)})
    tariff = next((prices.optional(n) for n in ("TOUTariff", "BlockTariff", "HybridTariff")
                   if prices.optional(n) is not None), None)
    if tariff is None:
        raise DuisError(None, "missing TOUTariff, BlockTariff or HybridTariff", prices.path)
    for price in tariff.all("TOUPrice"):
        table[price.index(1, _TOU_RATES)] = price.number(*PRICE)
    for block_set in tariff.all("BlockPrices"):
        s = block_set.index(1, _BLOCK_SETS)
        for price in block_set.all("BlockPrice"):
            table[0xA0 + 0x10 * (price.index(1, _BLOCKS) - 1) + s] = price.number(*PRICE)
    return [(bytes((i,)), v) for i, v in table.items()]


def _tariff_primary(ctx: Context) -> list[tuple]:
    """ECS01a: the primary element's passive switching table, special days, block
    thresholds (one register monitor per TOU/block set), currency, standing charge and
    price matrix, and when each takes effect."""
    body = Field(ctx.request.body, f"Request/Body/{ctx.request.service}")
    tariff = body.child("ElecTariffElements")
    seasons, weeks, days = _switching_table(tariff.child("SwitchingTable"), 0)
    thresholds = {t.index(1, _BLOCK_SETS): t for t in tariff.child("ThresholdMatrix").all(
        "Thresholds")}
    prices = (tariff.optional("PriceElements") or body.child("PriceElements")).child(
        "ElectricityPriceElements")
    calendar, charges = obis("0-0:13.0.0.255"), obis("0-0:19.20.0.255")
    standing, currency = obis("0-0:19.20.4.255"), obis("0-0:94.44.2.0")
    when = data_node("", activation_time(ctx.request.execution_datetime), "octet-string")
    items = [("set", 20, calendar, 7, seasons), ("set", 20, calendar, 8, weeks),
             ("set", 20, calendar, 9, days),
             ("set", 11, obis("0-1:11.0.0.255"), 2,
              _tariff_special_days(tariff.optional("SpecialDays")))]
    for n in range(1, _BLOCK_SETS + 1):
        values = [b.number(0, _NO_THRESHOLD) for b in thresholds[n].all("BlockThreshold")] \
            if n in thresholds else [_NO_THRESHOLD]
        items.append(("set", 21, obis(f"0-0:16.1.{10 + n}.255"), 2, array_node("", [
            data_node("", v, "double-long-unsigned") for v in values])))
    items += [
        ("set", 9000, currency, 4, data_node(
            "", 0xFF if tariff.child("CurrencyUnits").element.text == "GBP" else 0, "boolean")),
        ("set", 113, standing, 6, _unit_charge(
            0, prices.int("StandingChargeScale", *SCALE), None,
            [(b"", prices.int("StandingCharge", -(1 << 15), (1 << 15) - 1))])),
        ("set", 113, charges, 6, _unit_charge(
            _KILO, prices.int("PriceScale", *SCALE), _ACTIVE_IMPORT, _price_matrix(prices))),
        ("set", 20, calendar, 10, when),
        ("set", 9000, obis("0-0:94.44.128.29"), 6, when), ("set", 9000, currency, 6, when),
        ("set", 113, standing, 7, when), ("set", 113, charges, 7, when),
        ("set", 9000, obis("0-0:63.1.1.255"), 6, when)]
    return items


def _secondary_prices(body: Field) -> Node:
    prices = body.child("PriceElements")
    return _unit_charge(_KILO, prices.int("PriceScale", *SCALE), _SECONDARY_IMPORT, [
        (bytes((p.index(1, 4),)), p.number(*PRICE))
        for p in prices.all("ElectricityPriceElement")])


def _tariff_secondary(ctx: Context) -> list[tuple]:
    """ECS01c: the secondary element's prices, switching table and special days."""
    body = Field(ctx.request.body, f"Request/Body/{ctx.request.service}")
    seasons, weeks, days = _switching_table(body.child("SwitchingTable"),
                                            _SECONDARY_SCRIPTS_BASE)
    calendar, charges = obis("0-0:13.0.1.255"), obis("0-0:19.20.5.255")
    when = data_node("", activation_time(ctx.request.execution_datetime), "octet-string")
    return [("set", 113, charges, 6, _secondary_prices(body)),
            ("set", 20, calendar, 7, seasons), ("set", 20, calendar, 8, weeks),
            ("set", 20, calendar, 9, days),
            ("set", 11, obis("0-1:11.0.1.255"), 2,
             _tariff_special_days(body.optional("SpecialDays"))),
            ("set", 20, calendar, 10, when), ("set", 113, charges, 7, when),
            ("set", 9000, obis("0-0:94.44.128.30"), 6, when)]


def _price_secondary(ctx: Context) -> list[tuple]:
    """ECS01d: the secondary element's prices alone."""
    body = Field(ctx.request.body, f"Request/Body/{ctx.request.service}")
    charges = obis("0-0:19.20.5.255")
    return [("set", 113, charges, 6, _secondary_prices(body)),
            ("set", 113, charges, 7, data_node(
                "", activation_time(ctx.request.execution_datetime), "octet-string"))]


_RECOVERY_PERIODS = {"HOURLY": 3600, "DAILY": 24 * 3600}


def _update_debt(ctx: Context) -> list[tuple]:
    """ECS07: the time-based debt recovery rates (passive, activated at once) and their
    periods, the payment-based recovery proportion, and each debt register's amount."""
    body = Field(ctx.request.body, f"Request/Body/{ctx.request.service}")
    rates, periods = [], []
    for n in (1, 2):
        recovery = body.child(f"ElecDebtRecovery{n}")
        rates.append(_unit_charge(0, recovery.int("DebtRecoveryRatePriceScale", *SCALE), None,
                                  [(b"", recovery.int("DebtRecoveryRate", *PRICE))]))
        period = recovery.child("DebtRecoveryRatePeriod").element.text
        if period not in _RECOVERY_PERIODS:
            raise DuisError(None, f"DebtRecoveryRatePeriod {period!r}",
                            f"{recovery.path}/DebtRecoveryRatePeriod")
        periods.append(data_node("", _RECOVERY_PERIODS[period], "double-long-unsigned"))
    drr1, drr2, per_payment = obis(_DRR1), obis(_DRR2), obis(_PER_PAYMENT)
    i32 = (-(1 << 31), (1 << 31) - 1)
    return [("set", 113, drr1, 6, rates[0]), ("set", 113, drr2, 6, rates[1]),
            ("set", 113, per_payment, 13, data_node(
                "", body.int("DebtRecoveryPerPayment", 0, 0xFFFF), "long-unsigned")),
            ("set", 113, drr1, 8, periods[0]), ("set", 113, drr2, 8, periods[1]),
            ("action", 113, drr1, 2, data_node("", 0, "integer")),
            ("action", 113, drr2, 2, data_node("", 0, "integer")),
            ("action", 113, per_payment, 4, data_node(
                "", body.int("PaymentDebtRegister", *i32), "double-long")),
            ("action", 113, drr1, 4, data_node("", body.int("TimeDebtRegister1", *i32),
                                               "double-long")),
            ("action", 113, drr2, 4, data_node("", body.int("TimeDebtRegister2", *i32),
                                               "double-long"))]


BUILDERS: dict[str, Callable[[Context], list[tuple]]] = {
    "CS01a": _top_up, "ECS04a": _adjust_balance, "ECS02": _credit_mode,
    "ECS03": _prepayment_mode, "ECS07": _update_debt, "ECS08": _prepay_configuration(2),
    "ECS08a": _prepay_configuration(4), "ECS01a": _tariff_primary,
    "ECS01c": _tariff_secondary, "ECS01d": _price_secondary,
}
