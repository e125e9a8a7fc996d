"""The GSME's billing periods: at the end of each it snapshots its registers and pushes
the billing data log to the Supplier (GCS53, alert 0x8F0A Billing Data Log Updated).

The period is what the Supplier published (GCS25, PublishBillingPeriod): a start
(0: when published) and a duration in minutes, days, weeks or months (the low nibble of
BillingPeriodDurationType). The meter checks at each wake whether a period ended since
the last; the alert carries the billing snapshot as a PublishSnapshot component,
encrypted for the Supplier under the alert's own originator counter.
"""

from __future__ import annotations

import calendar
import datetime as _dt
from typing import TYPE_CHECKING

from firmware.core.credentials import Role
from firmware.core.device import ORIGINATOR_COUNTER
from firmware.core.gas import CAUSE_BILLING, METERING, TO_SERVER
from firmware.core.responses import seal
from firmware.core.zse import Request, to_datetime, to_seconds
from gbcs import gbz

if TYPE_CHECKING:
    from firmware.gsme.gsme import Gsme

BILLING_DATA_LOG_UPDATED = 0x8F0A
NEXT_KEY = "gsme/billing/next"        # {"issuer": issuer event id, "t": next end}
MINUTES, DAYS, WEEKS, MONTHS = 0, 1, 2, 3


def _add(when: _dt.datetime, duration: int, units: int) -> _dt.datetime:
    if units == MONTHS:
        month = when.month - 1 + duration
        year, month = when.year + month // 12, month % 12 + 1
        day = min(when.day, calendar.monthrange(year, month)[1])
        return when.replace(year=year, month=month, day=day)
    step = {MINUTES: _dt.timedelta(minutes=1), DAYS: _dt.timedelta(days=1),
            WEEKS: _dt.timedelta(weeks=1)}.get(units)
    if step is None:
        raise ValueError(f"billing period duration type {units} is not one ZSE defines")
    return when + duration * step


def check(gsme: Gsme) -> None:
    """At a wake: close every billing period that ended since the last check."""
    period = gsme.data.config("billing_period")
    if not period or not period.get("billing_period_duration"):
        return
    now = gsme.now()
    duration = period["billing_period_duration"]
    units = period["billing_period_duration_type"] & 0x0F
    known = gsme.store.get(NEXT_KEY)
    if known is None or known["issuer"] != period["issuer_event_id"]:
        start = period["billing_period_start_time"]
        first = to_datetime(start) if start else now
        known = {"issuer": period["issuer_event_id"],
                 "t": to_seconds(_add(first, duration, units))}
    while to_datetime(known["t"]) <= now:
        end_of_period(gsme)
        known["t"] = to_seconds(_add(to_datetime(known["t"]), duration, units))
    gsme.store.put(NEXT_KEY, known)


def end_of_period(gsme: Gsme) -> None:
    """The billing snapshot, and GCS53 with it to the Supplier."""
    gsme.data.take_snapshot(CAUSE_BILLING)
    supplier = gsme.anchors.get(Role.SUPPLIER)
    if supplier is None or supplier.ka is None:
        gsme.data.log_event(BILLING_DATA_LOG_UPDATED, b"no Supplier anchor to alert")
        return
    now = to_seconds(gsme.now())
    read = gsme.server.handlers[(METERING, TO_SERVER, 0x06)]     # GetSnapshot's answer
    [frame] = read(Request(METERING, 0x06, TO_SERVER, {
        "earliest_start_time": now, "latest_end_time": now, "snapshot_offset": 0,
        "snapshot_cause": CAUSE_BILLING}))
    counter = int(gsme.store.get(ORIGINATOR_COUNTER, 0)) + 1   # the alert's (raise_alert)
    component = gbz.component(METERING, frame, encrypt=lambda plain: seal(
        gsme.credentials, supplier, counter, plain))
    gsme.raise_alert(gbz.GCS53_ALERT, gbz.gbz_payload(
        [component], gbz.GbzAlert(BILLING_DATA_LOG_UPDATED, gsme.now())), supplier)
