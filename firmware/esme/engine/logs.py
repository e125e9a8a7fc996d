"""The ESME's logs in the non-volatile store, and their GBCS sizes.

Half-hourly profiles are kept one day per log entry (a block of up to 48 half-hour
values with its start time), as a meter keeps them in flash pages: a year of profile
data is 365 writes rather than 17,520. The block logs hold whole days; `expand` turns
them back into half-hour entries and bounds them to the profile's GBCS capacity
(13 months of active import, 3 months of export and reactive import).
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

HALF_HOUR_S = 1800
PER_DAY = 48


@dataclass(frozen=True)
class ProfileSpec:
    log: str
    entries: int          # GBCS capacity in half-hour entries

    @property
    def blocks(self) -> int:
        return -(-self.entries // PER_DAY)


ACTIVE_IMPORT_PROFILE = ProfileSpec("esme.profile.active_import", 18_720)  # 13 x 30 days
ACTIVE_EXPORT_PROFILE = ProfileSpec("esme.profile.active_export", 4_416)   # 92 days
REACTIVE_IMPORT_PROFILE = ProfileSpec("esme.profile.reactive_import", 4_416)
PROFILES = {"active_import": ACTIVE_IMPORT_PROFILE, "active_export": ACTIVE_EXPORT_PROFILE,
            "reactive_import": REACTIVE_IMPORT_PROFILE}

DAILY_READ_LOG = ("esme.daily_read", 731)
DAILY_CONSUMPTION_LOG = ("esme.daily_consumption", 731)
BILLING_DATA_LOG = ("esme.billing_data", 12)
EVENT_LOG = ("esme.event", 100)
SECURITY_LOG = ("esme.security", 100)
POWER_EVENT_LOG = ("esme.power_event", 100)
ALL_LOGS = (DAILY_READ_LOG, DAILY_CONSUMPTION_LOG, BILLING_DATA_LOG, EVENT_LOG,
            SECURITY_LOG, POWER_EVENT_LOG,
            *((p.log, p.blocks) for p in PROFILES.values()))


def pack(values: list[int]) -> bytes:
    """Integers as little-endian int64s: how registers and profile blocks are stored
    (one bytes value instead of a JSON list keeps a day's commit small)."""
    packed = array("q", values)
    if sys.byteorder == "big":
        packed.byteswap()
    return packed.tobytes()


def unpack(raw: bytes) -> list[int]:
    packed = array("q")
    packed.frombytes(raw)
    if sys.byteorder == "big":
        packed.byteswap()
    return packed.tolist()


def expand(blocks: Iterable[dict], spec: ProfileSpec,
           current: dict | None) -> list[tuple[datetime, int]]:
    """Half-hour (capture start, value) entries of the stored day blocks and the day in
    progress, oldest first, at most `spec.entries` of them."""
    out: list[tuple[datetime, int]] = []
    for block in [*blocks, *([current] if current else [])]:
        start, values = block["t"], block["v"]
        if isinstance(values, bytes):
            values = unpack(values)
        out.extend((datetime.fromtimestamp(start + i * HALF_HOUR_S, UTC), value)
                   for i, value in enumerate(values))
    return out[-spec.entries:]
