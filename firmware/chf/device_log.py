"""The CHF device log (whitelist): the HAN devices allowed to join, with their keys.

Each entry is a device's EUI-64, its GBCS device type and the secret it joins with: an
install code (from which the HAN derives the link key) or a link key. CCS01 adds
(register_device), CCS02 removes (unregister_device), CCS03 restores a backup
(restore_PAN, replacing the whole log: a comms hub replacement), CCS07 backs it up
(backup_PAN: the devices with their link keys). The HAN's view of each logged device
(signal, last heard, hops, battery) is what CCS04/CCS05/CCS06 read as active devices.
The log lives in the store; `changed` is told each new content, so the trust centre
(wired by the lab) follows the whitelist.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass, field

from firmware.core.hal import NonVolatileStore

CAPACITY = 16  # entries (GBCS: the CHF device log holds at least the premises' devices)
INSTALL_CODE, LINK_KEY = 0, 1  # how the entry's secret is to be used
UNKNOWN_TYPE = -1  # restored from a backup, which carries no device type
STATUS_BITS = 8


class DeviceLogError(ValueError):
    """A device log change the CHF refuses: what and which device."""


@dataclass(frozen=True)
class LogEntry:
    eui: bytes
    device_type: int
    secret: bytes
    secret_kind: int = INSTALL_CODE


@dataclass
class HanStats:
    """What the HAN reports of a logged device (CCS06 "check HAN communications")."""

    status: str = "0" * STATUS_BITS
    rssi: tuple[int, int, int] = (0, 0, 0)  # max, average, min (dBm)
    lqi: tuple[int, int, int] = (0, 0, 0)   # max, average, min
    last_heard: _dt.datetime | None = None
    hops: int = 0
    transmission_failures: int = 0
    battery: tuple[int, int, int] = (0, 0, 0)  # level, threshold, status
    extra: dict = field(default_factory=dict)


class DeviceLog:
    """One device log kept under `key` in the store."""

    def __init__(self, store: NonVolatileStore, key: str,
                 changed: Callable[[list[LogEntry]], None] | None = None) -> None:
        self.store, self.key, self.changed = store, key, changed

    def entries(self) -> list[LogEntry]:
        return [LogEntry(e["eui"], e["type"], e["secret"], e["kind"])
                for e in self.store.get(self.key) or []]

    def find(self, eui: bytes) -> LogEntry | None:
        return next((e for e in self.entries() if e.eui == eui), None)

    def add(self, entry: LogEntry) -> None:
        if len(entry.eui) != 8:
            raise DeviceLogError(f"device id {entry.eui.hex().upper()} is not an EUI-64")
        if not entry.secret:
            raise DeviceLogError(f"{entry.eui.hex().upper()}: no install code or link key")
        log = self.entries()
        known = next((e for e in log if e.eui == entry.eui), None)
        if known is None and len(log) >= CAPACITY:
            raise DeviceLogError(f"device log full ({CAPACITY} entries): cannot add "
                                 f"{entry.eui.hex().upper()}")
        self._save([e for e in log if e.eui != entry.eui] + [entry])

    def remove(self, eui: bytes) -> None:
        log = self.entries()
        kept = [e for e in log if e.eui != eui]
        if len(kept) == len(log):
            raise DeviceLogError(f"{eui.hex().upper()} is not in the device log")
        self._save(kept)

    def restore(self, entries: list[LogEntry]) -> None:
        """Replace the whole log (a comms hub replacement restores its predecessor's)."""
        if len(entries) > CAPACITY:
            raise DeviceLogError(f"{len(entries)} entries do not fit the device log "
                                 f"({CAPACITY})")
        if len({e.eui for e in entries}) != len(entries):
            raise DeviceLogError("a device appears twice in the restored log")
        self._save(list(entries))

    def _save(self, entries: list[LogEntry]) -> None:
        self.store.put(self.key, [{"eui": e.eui, "type": e.device_type, "secret": e.secret,
                                   "kind": e.secret_kind} for e in entries])
        if self.changed is not None:
            self.changed(entries)
