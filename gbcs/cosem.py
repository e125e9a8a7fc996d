"""COSEM date-time (12 octets) and related helpers shared by every payload decoder."""

from __future__ import annotations

import datetime as _dt

DATETIME_LEN = 12


_TEXT: dict[bytes, str] = {}
_TEXT_LIMIT = 4096


def format_datetime(raw: bytes) -> str:
    """A COSEM date-time as ISO text; 0xFF fields ("not specified") become '*'.

    Texts are cached: a message stream repeats the same few date-times (none, the
    command's validity date, wildcards), and formatting is a hot path of decoding.
    """
    text = _TEXT.get(raw)
    if text is None:
        if len(_TEXT) >= _TEXT_LIMIT:
            _TEXT.clear()
        text = _TEXT[bytes(raw)] = _format_datetime(raw)
    return text


def _format_datetime(raw: bytes) -> str:
    """Layout: year (2), month, day of month, day of week, hour, minute, second,
    hundredths, deviation (2, signed minutes, 0x8000 = not specified), clock status.
    """
    if len(raw) != DATETIME_LEN:
        return raw.hex().upper()
    year = int.from_bytes(raw[0:2], "big")
    month, day, _dow, hour, minute, second, hundredths = raw[2:9]
    deviation = int.from_bytes(raw[9:11], "big", signed=True)

    def part(value: int, width: int, unspecified: int = 0xFF) -> str:
        return "*" * width if value == unspecified else f"{value:0{width}d}"

    text = (f"{part(year, 4, 0xFFFF)}-{part(month, 2)}-{part(day, 2)}"
            f"T{part(hour, 2)}:{part(minute, 2)}:{part(second, 2)}")
    if hundredths not in (0xFF, 0):
        text += f".{hundredths:02d}"
    if deviation == -0x8000:
        return text
    if deviation == 0:
        return text + "Z"
    sign = "+" if deviation < 0 else "-"  # COSEM deviation is local-to-UTC, opposite sign
    return text + f"{sign}{abs(deviation) // 60:02d}:{abs(deviation) % 60:02d}"


def datetime_bytes(when: _dt.datetime, deviation: int | None = 0x8000,
                   clock_status: int = 0x00) -> bytes:
    """A COSEM date-time for `when` (UTC); GBCS sends UTC with deviation 0x8000."""
    dev = 0x8000 if deviation is None else deviation & 0xFFFF
    return (when.year.to_bytes(2, "big")
            + bytes((when.month, when.day, when.isoweekday(), when.hour, when.minute,
                     when.second, 0x00))
            + dev.to_bytes(2, "big") + bytes((clock_status,)))


def parse_datetime(raw: bytes) -> _dt.datetime | None:
    """The UTC datetime of a fully specified COSEM date-time, else None."""
    if len(raw) != DATETIME_LEN:
        return None
    year = int.from_bytes(raw[0:2], "big")
    month, day, _dow, hour, minute, second = raw[2:8]
    try:
        return _dt.datetime(year, month, day, hour, minute, second, tzinfo=_dt.timezone.utc)
    except ValueError:
        return None
