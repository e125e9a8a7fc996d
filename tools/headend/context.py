"""What a transform works from: the request in its context (the device, who sends the
command, the DCC's time), typed reads of the DUIS body, and the COSEM values GBCS
commands carry (OBIS codes, date-times, dates, times, activation times, log periods).

Every read of the body raises a DuisError naming the element's path when the value is
missing or out of range, so a bad request is refused, never a traceback.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

from gbcs.axdr import array_node, data_node, structure_node
from gbcs.node import Node
from tools.headend.access import Device
from tools.headend.duis import E12, DuisError, ServiceRequest, parse_datetime

_EPOCH_2000 = _dt.datetime(2000, 1, 1, tzinfo=_dt.timezone.utc)

# GBCS reads a log between two times with the range descriptor, restricting on the
# GBCS "UTC seconds since 2000" clock object (class 1, attribute 2).
_RANGE_CLOCK = (1, bytes((0, 0, 94, 44, 100, 255)), 2, 0)

# DUIS "cancel a future-dated command": an execution date-time of 3000-12-31.
_CANCEL_YEAR = 3000


@lru_cache(maxsize=1024)  # transforms name the same few objects on every request
def obis(text: str) -> bytes:
    """6 OBIS octets from ``A-B:C.D.E.F``."""
    a_b, c_f = text.split(":")
    return bytes(int(v) for v in a_b.split("-") + c_f.split("."))


@dataclass(frozen=True, slots=True)
class Context:
    """What a transform needs: the request, the device it targets, who sends the
    command (the User, or the ACB on the User's behalf) with which counter, and the
    DCC's time (GSME commands carry it as their issuer event id)."""

    request: ServiceRequest
    device: Device
    originator: bytes
    counter: int
    now: _dt.datetime | None = None
    inventory: Callable[[bytes], Device | None] | None = None   # other devices (SMI)

    def issuer_event_id(self) -> int:
        if self.now is None:
            raise ValueError("this transform needs the DCC's time: give now")
        return seconds_since_2000(self.now)

    @property
    def recipient(self) -> bytes:
        return self.request.request_id.target

    def field(self, path: str) -> str:
        value = self.request.body.value(path)
        if value is None:
            raise DuisError(None, f"missing {path}", f"Request/Body/{self.request.service}/"
                                                     f"{path}")
        return value


def cosem_datetime(when: _dt.datetime) -> bytes:
    """A COSEM date-time as GBCS commands carry it: UTC, day of week and clock status
    not specified."""
    when = when.astimezone(_dt.timezone.utc)
    return (when.year.to_bytes(2, "big") + bytes((when.month, when.day, 0xFF, when.hour,
                                                   when.minute, when.second, 0x00))
            + b"\x80\x00\xff")


def activation_time(when: _dt.datetime | None) -> bytes:
    """When a written value takes effect: now (all zero), a future date-time, or the
    cancellation of a pending one (all 0xFF) for DUIS's 3000-12-31."""
    if when is None:
        return bytes(9) + b"\x80\x00\xff"
    if when.year >= _CANCEL_YEAR:
        return b"\xff" * 9 + b"\x80\x00\xff"
    return cosem_datetime(when)


def seconds_since_2000(when: _dt.datetime) -> int:
    """The GBCS clock (and ZCL UTCTime): seconds since 2000-01-01 UTC."""
    return int((when - _EPOCH_2000).total_seconds())


def log_period(ctx: Context) -> tuple[_dt.datetime, _dt.datetime]:
    """The request's ReadLogPeriod (start, end)."""
    base = f"Request/Body/{ctx.request.service}/ReadLogPeriod"
    start = parse_datetime(ctx.field("ReadLogPeriod/StartDateTime"), base)
    end = parse_datetime(ctx.field("ReadLogPeriod/EndDateTime"), base)
    if end < start:
        raise DuisError(E12, "EndDateTime is before StartDateTime", base)
    return start, end


def range_selection(ctx: Context) -> tuple[int, Node]:
    """Access selector 1 (range descriptor) over the GBCS seconds-since-2000 clock."""
    start, end = log_period(ctx)
    class_id, ln, attr, index = _RANGE_CLOCK
    restricting = structure_node("", [data_node("", class_id, "long-unsigned"),
                                      data_node("", ln, "octet-string"),
                                      data_node("", attr, "integer"),
                                      data_node("", index, "long-unsigned")])
    return 1, structure_node("access_parameters", [
        restricting, data_node("", seconds_since_2000(start), "double-long-unsigned"),
        data_node("", seconds_since_2000(end), "double-long-unsigned"),
        array_node("", [])])


def u32(ctx: Context, path: str) -> Node:
    """The integer at `path` as a double-long-unsigned."""
    return data_node("", integer(ctx, path, 0, 0xFFFFFFFF), "double-long-unsigned")


def flag(ctx: Context, path: str) -> bool:
    """The xs:boolean at `path`."""
    text = ctx.field(path)
    if text not in ("true", "false", "1", "0"):
        raise DuisError(None, f"{path} {text!r} is not a boolean",
                        f"Request/Body/{ctx.request.service}/{path}")
    return text in ("true", "1")


NOT_SPECIFIED = 0xFF  # a COSEM date or time field that matches any value
# COSEM day of month: 0xFE the last day, 0xFD the second last (Blue Book date).
_DAY_OF_MONTH = {"LastDayOfMonth": 0xFE, "SecondLastDayOfMonth": 0xFD}

# A schedule entry runs whenever its switch time comes: no validity window.
NO_WINDOW = 0xFFFF
_XS_DATE = re.compile(r"^(\d{4,5})-(\d\d)-(\d\d)(?:Z|[+-]\d\d:\d\d)?$")
_XS_TIME = re.compile(r"^(\d\d):(\d\d):(\d\d)(?:\.(\d{1,2}))?(?:Z|[+-]\d\d:\d\d)?$")


def date_element(date, path: str) -> bytes:
    """A DUIS Date (year, month, day of month, day of week, each specified or not) as a
    5-byte COSEM date."""
    def part(name: str, specified: str, size: int, special: dict | None = None) -> int:
        choice = date.find(name)
        child = choice.children[0] if choice is not None and choice.children else None
        if child is None:
            raise DuisError(None, f"missing {name}", f"{path}/{name}")
        if child.name == specified:
            if not child.text.isdigit():
                raise DuisError(None, f"{specified} {child.text!r} is not a number",
                                f"{path}/{name}/{specified}")
            return int(child.text)
        if special and child.name in special:
            return special[child.name]
        return (1 << 8 * size) - 1
    year = part("Year", "SpecifiedYear", 2)
    return (year.to_bytes(2, "big")
            + bytes((part("Month", "SpecifiedMonth", 1), part(
                "DayOfMonth", "SpecifiedDayOfMonth", 1, _DAY_OF_MONTH),
                part("DayOfWeek", "SpecifiedDayOfWeek", 1))))


def xs_date(text: str, path: str) -> bytes:
    """A DUIS schedule date (``2014-10-27Z``; year 65535 for any year) as a COSEM date,
    day of week not specified."""
    m = _XS_DATE.match((text or "").strip())
    if not m or int(m.group(1)) > 0xFFFF:
        raise DuisError(None, f"bad date {text!r}", path)
    return int(m.group(1)).to_bytes(2, "big") + bytes((int(m.group(2)), int(m.group(3)),
                                                        NOT_SPECIFIED))


def xs_time(text: str, path: str) -> bytes:
    """A DUIS switch time (``09:30:00.00Z``) as a COSEM time (hundredths included)."""
    m = _XS_TIME.match((text or "").strip())
    if not m:
        raise DuisError(None, f"bad time {text!r}", path)
    hundredths = int((m.group(4) or "0").ljust(2, "0"))
    return bytes((int(m.group(1)), int(m.group(2)), int(m.group(3)), hundredths))


class Field:
    """A DUIS body element read with typed errors naming its path."""

    def __init__(self, element, path: str) -> None:
        self.element, self.path = element, path

    def child(self, name: str) -> Field:
        found = self.element.find(name)
        if found is None:
            raise DuisError(None, f"missing {name}", f"{self.path}/{name}")
        return Field(found, f"{self.path}/{name}")

    def optional(self, name: str) -> Field | None:
        found = self.element.find(name)
        return None if found is None else Field(found, f"{self.path}/{name}")

    def all(self, name: str) -> list[Field]:
        return [Field(e, f"{self.path}/{name}[{i}]")
                for i, e in enumerate(self.element.find_all(name), 1)]

    def int(self, name: str, lo: int, hi: int) -> int:
        """The integer text of child `name`, in lo..hi."""
        return self.child(name).number(lo, hi)

    def number(self, lo: int, hi: int) -> int:
        """This element's integer text, in lo..hi."""
        return _bounded(self.element.text, lo, hi, self.path)

    def index(self, lo: int, hi: int) -> int:
        text = self.element.attribute("index") or ""
        if not text.isdigit() or not lo <= int(text) <= hi:
            raise DuisError(None, f"index {text!r} is not in {lo}..{hi}", self.path)
        return int(text)


# The ranges of a COSEM charge's price (long) and of a scaler (integer).
PRICE = (-(1 << 15), (1 << 15) - 1)
SCALE = (-128, 127)


def integer(ctx: Context, path: str, lo: int, hi: int) -> int:
    """The integer at `path` in the request body, in lo..hi."""
    return _bounded(ctx.field(path), lo, hi, f"Request/Body/{ctx.request.service}/{path}")


def _bounded(text: str, lo: int, hi: int, path: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not lo <= value <= hi:
        raise DuisError(None, f"{text!r} is not an integer in {lo}..{hi}", path)
    return value
