"""The DCC's access control: who may send which service request to which device.

- `RequestMatrix`: the DUIS request matrix (SRV -> eligible roles, critical, future-dated
  pattern, DCC-scheduled, non-device).
- `Inventory`: a small Smart Metering Inventory in SQLite: devices (type, EUI, MPxN, SMI
  status, the comms hub they hang off) and who is registered for each MPxN in each role.
- `AnomalyDetector`: per-SRV thresholds on how many requests a User may send in a window;
  over the threshold a request is quarantined rather than sent.
- `MessageLog`: every decision, failed authentications included, in SQLite.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import sqlite3
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from tools.headend.duis import E1, E2, E4, E5, E11, E19, DuisError, eui_text

# DCC User roles as DUIS names them.
IS, ES, GS, RSA, ED, GT, OU = "IS", "ES", "GS", "RSA", "ED", "GT", "OU"
ROLES = (IS, ES, GS, RSA, ED, GT, OU)
SUPPLIER_ROLES = (IS, ES, GS)

# SMI statuses (DUIS Device Status values).
PENDING = "Pending"
WHITELISTED = "Whitelisted"
INSTALLED_NOT_COMMISSIONED = "InstalledNotCommissioned"
COMMISSIONED = "Commissioned"
DECOMMISSIONED = "Decommissioned"
WITHDRAWN = "Withdrawn"
SUSPENDED = "Suspended"
RECOVERY = "Recovery"
RECOVERED = "Recovered"
STATUSES = (PENDING, WHITELISTED, INSTALLED_NOT_COMMISSIONED, COMMISSIONED, DECOMMISSIONED,
            WITHDRAWN, SUSPENDED, RECOVERY, RECOVERED)

# What a device may be sent before commissioning: the install and commission steps
# (commission, credentials, joins, device log, clock, identity reads, firmware version).
INSTALL_SRVS = frozenset(("6.11", "6.15.1", "6.15.2", "6.17", "6.21", "6.23", "6.24.1",
                          "6.24.2", "6.2.4", "8.1.1", "8.5", "8.7.1", "8.7.2", "8.8.1",
                          "8.8.2", "8.9", "8.11", "8.12.1", "8.12.2", "11.2"))

# Which registration each role needs for the device's MPxN.
_REGISTRATION = {IS: "supplier", GS: "supplier", ES: "export_supplier",
                 ED: "network_operator", GT: "network_operator", RSA: "supplier_agent"}

MATRIX_ENV = "SMETSLAB_DUIS_MATRIX"

DETAIL_FIELDS = ("manufacturer", "model", "smets_version", "firmware", "esme_variant", "uprn",
                 "postcode", "address", "commissioned")


def matrix_path() -> Path | None:
    """$SMETSLAB_DUIS_MATRIX, or the request matrix in ../shared/reference."""
    if os.environ.get(MATRIX_ENV):
        return Path(os.environ[MATRIX_ENV])
    root = Path(__file__).resolve().parents[2]
    shared = Path(os.environ.get("SMETSLAB_SHARED", root.parent / "shared"))
    path = shared / "reference" / "duis-request-matrix.json"
    return path if path.is_file() else None


@dataclass(frozen=True, slots=True)
class MatrixEntry:
    """One SRV of the DUIS request matrix."""

    srv: str
    name: str
    roles: frozenset[str]
    critical: bool
    on_demand: bool
    future_dated: str        # "No", "DSP" (the DCC holds it), "Device", "DSP & Device"
    dcc_scheduled: bool
    non_device: bool


class RequestMatrix:
    """SRV -> `MatrixEntry`, from the DUIS request matrix JSON."""

    def __init__(self, entries: list[MatrixEntry]) -> None:
        self._by_srv = {e.srv: e for e in entries}

    @classmethod
    def load(cls, path: str | Path | None = None) -> RequestMatrix:
        path = Path(path) if path else matrix_path()
        if path is None:
            raise FileNotFoundError("DUIS request matrix not found: set SMETSLAB_DUIS_MATRIX "
                                    "or SMETSLAB_SHARED")
        rows = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls([MatrixEntry(
            srv=r["Service Reference Variant"].strip(), name=" ".join(r["Service Request Name"]
                                                                       .split()),
            roles=frozenset(r["Eligible User Roles"]), critical=r["Critical"] == "Yes",
            on_demand=r["On Demand"] == "Yes",
            future_dated=r["Future Dated Response Pattern"],
            dcc_scheduled=r["DCC Scheduled"] == "Yes", non_device=r["Non-Device Request"] == "Yes")
            for r in rows])

    def get(self, srv: str) -> MatrixEntry | None:
        return self._by_srv.get(srv)

    def __contains__(self, srv: str) -> bool:
        return srv in self._by_srv

    def srvs(self) -> list[str]:
        return list(self._by_srv)

    def check_role(self, srv: str, role: str) -> MatrixEntry:
        """The entry, or DuisError E2 when the role may not send the SRV (E11 when the
        SRV is not in the matrix)."""
        entry = self._by_srv.get(srv)
        if entry is None:
            raise DuisError(E11, f"unknown service reference variant {srv}",
                            "Request/Header/ServiceReferenceVariant")
        if role not in entry.roles:
            raise DuisError(E2, f"role {role} may not send {srv} ({entry.name}); eligible: "
                            f"{', '.join(sorted(entry.roles))}",
                            "Request/Header/ServiceReferenceVariant")
        return entry


@dataclass(frozen=True, slots=True)
class User:
    """A DCC User as the DCC knows it: the EUI in its RequestIDs and its role."""

    eui: bytes
    role: str
    name: str = ""

    def __post_init__(self) -> None:
        if len(self.eui) != 8:
            raise ValueError("a DCC User ID is an EUI-64 (8 bytes)")
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}: one of {', '.join(ROLES)}")


@dataclass(frozen=True, slots=True)
class Device:
    """An SMI entry."""

    eui: bytes
    device_type: str          # ESME, GSME, CHF, GPF, PPMID, HCALCS, IHD, CAD
    status: str
    mpxn: str = ""
    chf: bytes | None = None  # the comms hub the device is on
    variant: str = ""         # e.g. ESME "single", "twin", "polyphase"


_SCHEMA = """
CREATE TABLE IF NOT EXISTS device (
    eui BLOB PRIMARY KEY, device_type TEXT NOT NULL, status TEXT NOT NULL,
    mpxn TEXT NOT NULL DEFAULT '', chf BLOB, variant TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS device_detail (
    eui BLOB PRIMARY KEY, manufacturer TEXT NOT NULL DEFAULT '', model TEXT NOT NULL DEFAULT '',
    smets_version TEXT NOT NULL DEFAULT '', firmware TEXT NOT NULL DEFAULT '',
    esme_variant TEXT NOT NULL DEFAULT '', uprn TEXT NOT NULL DEFAULT '',
    postcode TEXT NOT NULL DEFAULT '', address TEXT NOT NULL DEFAULT '',
    commissioned TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS registration (
    mpxn TEXT NOT NULL, registration TEXT NOT NULL, user_eui BLOB NOT NULL,
    PRIMARY KEY (mpxn, registration));
CREATE TABLE IF NOT EXISTS user_counter (user_eui BLOB PRIMARY KEY, counter INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS message_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL, direction TEXT NOT NULL,
    user_eui BLOB, request_id TEXT, srv TEXT, code TEXT, detail TEXT NOT NULL DEFAULT '');
"""


def connect(path: str | Path) -> sqlite3.Connection:
    """The head end's SQLite database (":memory:" for a throw-away one)."""
    db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL") if str(path) != ":memory:" else None
    db.executescript(_SCHEMA)
    return db


class Inventory:
    """The Smart Metering Inventory, persisted in the head end's SQLite database."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def add(self, device: Device) -> None:
        """Pre-notify (or replace) a device."""
        if device.status not in STATUSES:
            raise ValueError(f"unknown SMI status {device.status!r}")
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO device VALUES (?, ?, ?, ?, ?, ?)",
                            (device.eui, device.device_type, device.status, device.mpxn,
                             device.chf, device.variant))

    def set_status(self, eui: bytes, status: str) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown SMI status {status!r}")
        with self.db:
            if self.db.execute("UPDATE device SET status = ? WHERE eui = ?",
                               (status, eui)).rowcount != 1:
                raise KeyError(f"no device {eui_text(eui)} in the inventory")

    def delete(self, eui: bytes) -> None:
        with self.db:
            self.db.execute("DELETE FROM device WHERE eui = ?", (eui,))
            self.db.execute("DELETE FROM device_detail WHERE eui = ?", (eui,))

    def set_mpxn(self, eui: bytes, mpxn: str) -> None:
        with self.db:
            if self.db.execute("UPDATE device SET mpxn = ? WHERE eui = ?",
                               (mpxn, eui)).rowcount != 1:
                raise KeyError(f"no device {eui_text(eui)} in the inventory")

    def set_details(self, eui: bytes, **fields: str) -> None:
        """Record what the SMI holds beyond status and MPxN (DETAIL_FIELDS: manufacturer,
        model, versions, and the property: UPRN, postcode and address identifier)."""
        unknown = set(fields) - set(DETAIL_FIELDS)
        if unknown:
            raise ValueError(f"unknown device details {sorted(unknown)}")
        with self.db:
            self.db.execute("INSERT OR IGNORE INTO device_detail (eui) VALUES (?)", (eui,))
            for name, value in fields.items():
                self.db.execute(f"UPDATE device_detail SET {name} = ? WHERE eui = ?",
                                (value, eui))

    def details(self, eui: bytes) -> dict[str, str]:
        row = self.db.execute(f"SELECT {', '.join(DETAIL_FIELDS)} FROM device_detail "
                              "WHERE eui = ?", (eui,)).fetchone()
        return dict(zip(DETAIL_FIELDS, row or ("",) * len(DETAIL_FIELDS)))

    def at_property(self, *, uprn: str | None = None, postcode: str | None = None,
                    address: str | None = None) -> list[Device]:
        """Devices recorded at a property: by UPRN, or by postcode and address identifier."""
        if uprn is not None:
            where, args = "d.uprn = ?", [uprn]
        else:
            where, args = "REPLACE(UPPER(d.postcode), ' ', '') = ? AND d.address = ?", [
                (postcode or "").upper().replace(" ", ""), address or ""]
        rows = self.db.execute(
            "SELECT v.eui, v.device_type, v.status, v.mpxn, v.chf, v.variant FROM device v "
            f"JOIN device_detail d ON d.eui = v.eui WHERE {where} ORDER BY v.eui", args)
        return [Device(*row) for row in rows]

    def device(self, eui: bytes) -> Device | None:
        row = self.db.execute("SELECT eui, device_type, status, mpxn, chf, variant FROM device "
                              "WHERE eui = ?", (eui,)).fetchone()
        return Device(*row) if row else None

    def devices(self, *, mpxn: str | None = None, chf: bytes | None = None) -> list[Device]:
        query, args = "SELECT eui, device_type, status, mpxn, chf, variant FROM device", []
        if mpxn is not None:
            query, args = query + " WHERE mpxn = ?", [mpxn]
        elif chf is not None:
            query, args = query + " WHERE chf = ?", [chf]
        return [Device(*row) for row in self.db.execute(query + " ORDER BY eui", args)]

    def register(self, mpxn: str, role: str, user: bytes) -> None:
        """Record `user` as registered for `mpxn` in `role` (supplier for IS and GS,
        network operator for ED and GT, export supplier for ES, agent for RSA)."""
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO registration VALUES (?, ?, ?)",
                            (mpxn, _REGISTRATION[role], user))

    def registered(self, mpxn: str, role: str) -> bytes | None:
        """The User registered for `mpxn` in the registration `role` needs."""
        row = self.db.execute("SELECT user_eui FROM registration WHERE mpxn = ? AND "
                              "registration = ?", (mpxn, _REGISTRATION[role])).fetchone()
        return row[0] if row else None

    def responsible(self, device: Device, role: str) -> bytes | None:
        """Who answers for `device` in `role`: by its MPxN, or for a comms hub (no MPxN)
        by the MPxN of a meter on it."""
        mpxns = [device.mpxn] if device.mpxn else [
            d.mpxn for d in self.devices(chf=device.eui) if d.mpxn]
        for mpxn in mpxns:
            user = self.registered(mpxn, role)
            if user is not None:
                return user
        return None

    def authorise(self, user: User, device_eui: bytes, entry: MatrixEntry,
                  device_types: tuple[str, ...] = ()) -> Device:
        """The device when `user` may send `entry` to it; else DuisError E19 (unknown
        device), E11 (wrong device type), E5 (SMI status) or E4 (not registered)."""
        device = self.device(device_eui)
        path = "Request/Header/RequestID"
        if device is None:
            raise DuisError(E19, f"device {eui_text(device_eui)} is not in the inventory", path)
        if device_types and device.device_type not in device_types:
            raise DuisError(E11, f"{entry.srv} does not apply to a {device.device_type} "
                            f"(only {', '.join(device_types)})", path)
        allowed = (device.status == COMMISSIONED
                   or (device.status == INSTALLED_NOT_COMMISSIONED and entry.srv in INSTALL_SRVS))
        if not allowed:
            raise DuisError(E5, f"device {eui_text(device_eui)} is {device.status}: "
                            f"{entry.srv} not allowed", path)
        if user.role != OU and self.responsible(device, user.role) != user.eui:
            raise DuisError(E4, f"user {eui_text(user.eui)} ({user.role}) is not registered "
                            f"for device {eui_text(device_eui)}", path)
        return device


class Counters:
    """The last RequestID counter accepted from each User, persisted: a request must
    carry a strictly greater one (the DCC uses it as the GBCS originator counter)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def last(self, user: bytes) -> int:
        row = self.db.execute("SELECT counter FROM user_counter WHERE user_eui = ?",
                              (user,)).fetchone()
        return row[0] if row else -1

    def check(self, user: bytes, counter: int) -> None:
        """DuisError (E1: treated as a failed authentication) when `counter` is not
        greater than the last one accepted from `user`: a replay."""
        last = self.last(user)
        if counter <= last:
            raise DuisError(E1, f"RequestID counter {counter} is not greater than the last "
                            f"accepted ({last}) for user {eui_text(user)}",
                            "Request/Header/RequestID")

    def advance(self, user: bytes, counter: int) -> None:
        """Accept `counter` for `user` (after `check`)."""
        self.check(user, counter)
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO user_counter VALUES (?, ?)", (user, counter))


@dataclass(frozen=True, slots=True)
class Threshold:
    """At most `limit` requests of an SRV per User in any `window`."""

    limit: int
    window: _dt.timedelta


class AnomalyDetector:
    """Counts each User's requests per SRV in a sliding window; a request over its
    threshold is quarantined (not sent) until released."""

    def __init__(self, thresholds: dict[str, Threshold] | None = None) -> None:
        self.thresholds = dict(thresholds or {})
        self._seen: dict[tuple[bytes, str], deque[_dt.datetime]] = {}

    def over(self, user: bytes, srv: str, now: _dt.datetime) -> bool:
        """Record one request; True when it goes over its SRV's threshold."""
        threshold = self.thresholds.get(srv)
        if threshold is None:
            return False
        seen = self._seen.setdefault((user, srv), deque())
        while seen and now - seen[0] >= threshold.window:
            seen.popleft()
        if len(seen) >= threshold.limit:
            return True
        seen.append(now)
        return False


@dataclass(frozen=True, slots=True)
class LogEntry:
    time: str
    direction: str
    user: bytes | None
    request_id: str
    srv: str
    code: str
    detail: str


class MessageLog:
    """What the DCC received and sent and what it decided, failed authentications kept."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def add(self, when: _dt.datetime, direction: str, *, user: bytes | None = None,
            request_id: str = "", srv: str = "", code: str = "", detail: str = "") -> None:
        with self.db:
            self.db.execute("INSERT INTO message_log (time, direction, user_eui, request_id, "
                            "srv, code, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
                            (when.isoformat(), direction, user, request_id, srv, code, detail))

    def entries(self, *, failed_only: bool = False) -> list[LogEntry]:
        query = ("SELECT time, direction, user_eui, request_id, srv, code, detail "
                 "FROM message_log")
        if failed_only:
            query += " WHERE code LIKE 'E%' OR code = 'HTTP 400'"
        return [LogEntry(*row) for row in self.db.execute(query + " ORDER BY seq")]

    def failed_authentications(self) -> list[LogEntry]:
        """Requests refused for who sent them (E1-E5, E19) — the security record."""
        return [e for e in self.entries(failed_only=True)
                if e.code in (E1, E2, "E3", E4, E5, E19)]
