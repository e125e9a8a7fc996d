"""The GPF: the gas proxy function, a separate logical device in the comms hub that
mirrors the GSME and answers GCS reads for it while the GSME sleeps.

Its mirror is a `GasData` like the GSME's own, filled at each 30-minute sync
(`sync`): the GSME's attributes (consumption register, prepayment state, supply status
...), the new entries of its logs (profile, daily consumption, snapshots, top-ups, event
logs ...), and the tap-off, the commands the GSME executed since the last sync, which
the GPF replays through the same handlers, so the tariff, calendar, billing period and
the rest of the published configuration follow. The GPF's own commands are the change
of tenancy (GCS09); reads of the mirror are answered as the GSME answers them. Its
device log (the PPMID and Type 2 devices bound to it) is restored by GCS59 and backed
up to the DCC by GCS62 (`firmware.gpf.device_log`).
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from firmware.core.credentials import DeviceCredentials, TrustAnchors
from firmware.core.device import GbcsDevice
from firmware.core.gas import ENCRYPTED_RESPONSES, LOGS, GasData
from firmware.core.hal import Clock, NonVolatileStore
from firmware.core.responses import seal
from firmware.core.security import Accepted
from firmware.core.zse import Request, ZclError, ZseServer, to_datetime
from firmware.gpf import device_log
from gbcs.node import Node

LAST_SYNC = "gpf/last_sync"
TAP_OFF_MARK = "gpf/mark/tap_off"


class GpfError(ValueError):
    """A command or a sync the GPF cannot take."""


class Gpf(GbcsDevice):
    """The gas proxy function. `faults` is the board's fault-injection hook."""

    def __init__(self, credentials: DeviceCredentials, anchors: TrustAnchors,
                 store: NonVolatileStore, clock: Clock) -> None:
        super().__init__(credentials, anchors, store, clock)
        self.der_handlers[device_log.RESTORE] = device_log.restore
        self.data = GasData(store, self.now, snapshots=False)
        self.server = ZseServer(self.data.attributes, self.data.handlers())
        self.faults = self.server.faults
        self._accepted: Accepted | None = None

    def execute(self, accepted: Accepted) -> Node:
        payload = next((n for n in accepted.message.tree.walk() if n.name == "gbz"), None)
        if payload is None:
            raise GpfError(f"{accepted.use_case.title}: the payload is not GBZ")
        self._accepted = accepted
        try:
            return self.server.execute(
                payload, encrypt=self._seal,
                encrypted_clusters=ENCRYPTED_RESPONSES.get(accepted.use_case.use_case, ()))
        finally:
            self._accepted = None

    def _seal(self, plaintext: bytes) -> bytes:
        """Encrypt a response component for the requester (GBCS payload encryption)."""
        accepted = self._accepted
        if accepted is None or accepted.originator.ka is None:
            raise GpfError("no requester key-agreement key to encrypt for")
        return seal(self.credentials, accepted.originator, accepted.originator_counter,
                    plaintext)

    # -- the mirror ---------------------------------------------------------------------

    def sync(self, update: dict[str, Any]) -> None:
        """Take a GSME sync into the mirror, in one transaction: attributes, new log
        entries and tap-off commands (each once, by its GSME sequence number: a GSME
        resends what was not acknowledged), the GSME's attributes having the last word."""
        try:
            with self.store.transaction():
                mark = self.store.get(TAP_OFF_MARK, -1)
                for seq, item in update["tap_off"]:
                    if seq > mark:      # a resent sync replays nothing twice
                        self._tap_off(item)
                        mark = seq
                self.store.put(TAP_OFF_MARK, mark)
                self.data.attributes.load(update["attributes"])
                for log, entries in update["logs"].items():
                    if log not in LOGS:
                        raise GpfError(f"sync: unknown log {log!r}")
                    mark_key = f"gpf/mark/{log}"
                    mark = self.store.get(mark_key, -1)
                    for seq, value in entries:
                        if seq > mark:
                            self.store.append(log, value)
                            mark = seq
                    self.store.put(mark_key, mark)
                self.store.put(LAST_SYNC, update["at"])
        except (KeyError, TypeError, ValueError) as err:
            raise GpfError(f"sync: malformed update ({type(err).__name__}: {err})") from None

    def _tap_off(self, item: dict[str, Any]) -> None:
        """Replay a command the GSME executed into the mirror; commands only the GSME
        executes (its valve, its credit) reach the mirror through its attributes."""
        key = (item["cluster_id"], item["direction"], item["command_id"])
        handler = self.server.handlers.get(key)
        if handler is None:
            return
        try:
            handler(Request(item["cluster_id"], item["command_id"], item["direction"],
                            item["fields"]))
        except ZclError as err:
            self.store.append("event", {"at": self.now().isoformat(), "event": "tap_off_failed",
                                        "detail": err.detail})

    def last_sync(self) -> _dt.datetime | None:
        """When the mirror last heard from the GSME (None: never)."""
        at = self.store.get(LAST_SYNC)
        return to_datetime(at) if at is not None else None
