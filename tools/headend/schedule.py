"""DCC-scheduled requests (DUIS 5.1 Create Schedule, 5.3 Delete Schedule).

A User asks the DCC to send one of the schedulable reads (the request matrix's "DCC
Scheduled" SRVs) to a device at a frequency; the schedule holds the read's log period as
day offsets and times from each execution date. Schedules persist in the head end's
SQLite database; `due` and `advance` let the DCC run them off its injected clock.
"""

from __future__ import annotations

import calendar
import datetime as _dt
import json
import sqlite3
from dataclasses import dataclass

from tools.headend.duis import (DuisError, Element, RequestId, ServiceRequest, eui,
                                parse_datetime)

_MONTHS = {"Daily": 0, "Weekly": 0, "Monthly": 1, "Quarterly": 3, "Half-Yearly": 6,
           "Yearly": 12}
_DSP_PREFIX = "DSP"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS schedule (
    schedule_id INTEGER PRIMARY KEY AUTOINCREMENT, user_eui BLOB NOT NULL,
    device BLOB NOT NULL, service_reference TEXT NOT NULL, srv TEXT NOT NULL,
    service TEXT NOT NULL, offsets TEXT, frequency TEXT NOT NULL, next_run TEXT NOT NULL,
    end_date TEXT);
"""


@dataclass(frozen=True, slots=True)
class Schedule:
    schedule_id: int
    user: bytes
    device: bytes
    service_reference: str
    srv: str
    service: str                      # the scheduled request's body element
    offsets: tuple[int, str, int, str] | None  # start days, start time, end days, end time
    frequency: str
    next_run: _dt.datetime
    end_date: _dt.date | None

    def request(self, counter: int) -> ServiceRequest:
        """The service request this schedule sends at `next_run`: its log period is the
        offsets applied to the run's date."""
        children: tuple[Element, ...] = ()
        if self.offsets is not None:
            start_days, start_time, end_days, end_time = self.offsets
            day = self.next_run.date()
            start = _at(day + _dt.timedelta(days=start_days), start_time)
            end = _at(day + _dt.timedelta(days=end_days), end_time)
            children = (Element("ReadLogPeriod", children=(
                Element("StartDateTime", _xs(start)), Element("EndDateTime", _xs(end)))),)
        return ServiceRequest(RequestId(self.user, self.device, counter), 1,
                              self.service_reference, self.srv,
                              Element(self.service, children=children))


def _at(day: _dt.date, time_text: str) -> _dt.datetime:
    return parse_datetime(f"{day.isoformat()}T{time_text}")


def _xs(when: _dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.00Z")


def next_after(when: _dt.datetime, frequency: str) -> _dt.datetime:
    """The next execution after `when` at `frequency` (month ends clamp)."""
    if frequency == "Daily":
        return when + _dt.timedelta(days=1)
    if frequency == "Weekly":
        return when + _dt.timedelta(days=7)
    months = when.month - 1 + _MONTHS[frequency]
    year, month = when.year + months // 12, months % 12 + 1
    day = min(when.day, calendar.monthrange(year, month)[1])
    return when.replace(year=year, month=month, day=day)


def parse_create(req: ServiceRequest) -> dict:
    """The fields of a Create Schedule body (DuisError when one is unusable)."""
    body, path = req.body, f"Request/Body/{req.body.name}"
    if body.name != "CreateSchedule":
        raise DuisError(None, "5.1 needs a CreateSchedule body", path)
    frequency = body.value("ScheduleFrequency", "")
    if frequency not in _MONTHS:
        raise DuisError(None, f"unknown ScheduleFrequency {frequency!r}",
                        f"{path}/ScheduleFrequency")
    try:
        start = _dt.date.fromisoformat(body.value("ScheduleStartDate", ""))
        end_text = body.value("ScheduleEndDate")
        end = _dt.date.fromisoformat(end_text) if end_text else None
    except ValueError:
        raise DuisError(None, "bad schedule date", f"{path}/ScheduleStartDate") from None
    run_time = body.value("ScheduleExecutionStartTime", "00:00:00Z")
    scheduled = [c for c in body.children if c.name.startswith(_DSP_PREFIX)
                 and c.name not in ("DSPScheduledServiceReference",
                                    "DSPScheduledServiceReferenceVariant")]
    if len(scheduled) != 1:
        raise DuisError(None, "one scheduled request element expected", path)
    element = scheduled[0]
    offsets = None
    if element.find("StartDateOffset") is not None:
        try:
            offsets = (int(element.value("StartDateOffset", "")), element.value("StartTime", ""),
                       int(element.value("EndDateOffset", "")), element.value("EndTime", ""))
        except ValueError:
            raise DuisError(None, "bad log period offset", f"{path}/{element.name}") from None
    return {
        "device": eui(body.value("DeviceID", "")),
        "service_reference": body.value("DSPScheduledServiceReference", ""),
        "srv": body.value("DSPScheduledServiceReferenceVariant", ""),
        "service": element.name[len(_DSP_PREFIX):], "offsets": offsets,
        "frequency": frequency, "next_run": _at(start, run_time), "end_date": end,
    }


class ScheduleStore:
    """Schedules in the head end's SQLite database."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        db.executescript(_SCHEMA)

    def add(self, user: bytes, fields: dict) -> Schedule:
        with self.db:
            cur = self.db.execute(
                "INSERT INTO schedule (user_eui, device, service_reference, srv, service, "
                "offsets, frequency, next_run, end_date) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (user, fields["device"], fields["service_reference"], fields["srv"],
                 fields["service"], json.dumps(fields["offsets"]), fields["frequency"],
                 fields["next_run"].isoformat(),
                 fields["end_date"].isoformat() if fields["end_date"] else None))
        return self.get(cur.lastrowid)

    def get(self, schedule_id: int) -> Schedule | None:
        row = self.db.execute("SELECT * FROM schedule WHERE schedule_id = ?",
                              (schedule_id,)).fetchone()
        return _schedule(row) if row else None

    def delete(self, schedule_id: int) -> None:
        with self.db:
            self.db.execute("DELETE FROM schedule WHERE schedule_id = ?", (schedule_id,))

    def due(self, now: _dt.datetime) -> list[Schedule]:
        rows = self.db.execute("SELECT * FROM schedule ORDER BY next_run").fetchall()
        return [s for s in map(_schedule, rows) if s.next_run <= now]

    def advance(self, schedule: Schedule) -> None:
        """Move past this run; a schedule past its end date is removed."""
        following = next_after(schedule.next_run, schedule.frequency)
        with self.db:
            if schedule.end_date and following.date() > schedule.end_date:
                self.db.execute("DELETE FROM schedule WHERE schedule_id = ?",
                                (schedule.schedule_id,))
            else:
                self.db.execute("UPDATE schedule SET next_run = ? WHERE schedule_id = ?",
                                (following.isoformat(), schedule.schedule_id))


def _schedule(row: tuple) -> Schedule:
    sid, user, device, sr, srv, service, offsets, frequency, next_run, end = row
    offs = json.loads(offsets) if offsets else None
    return Schedule(sid, user, device, sr, srv, service, tuple(offs) if offs else None,
                    frequency, _dt.datetime.fromisoformat(next_run),
                    _dt.date.fromisoformat(end) if end else None)
