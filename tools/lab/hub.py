"""The lab's comms hub: the CHF firmware (`firmware.chf.Chf`) between the WAN and the HAN.

What the DCC sends goes to `Chf.deliver`: the CHF answers its own commands and routes
the rest, by recipient, to the devices in its device log, through the HAN tunnels. Its
device log is the HAN trust centre's whitelist: when it changes (CCS01 / CCS02, or an
installer adding a device), the trust centre follows, and the CHF raises CS14 to the
DCC. A new hub is installed with the premises' devices already in its log.

The GPF (`firmware.gpf.Gpf`) lives in the same hub: GBCS addressed to it is handed over
inside the hub, and the GSME's 30-minute syncs, arriving over the HAN, fill its mirror.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from boards.board import Board, DeviceType, Premises
from boards.nvm import SqliteStore
from boards.simulator import Simulator
from firmware.chf.chf import DEVICE_LOG_KEY, Chf
from firmware.chf.device_log import INSTALL_CODE, LINK_KEY, DeviceLog, LogEntry
from firmware.core.credentials import DeviceCredentials, TrustAnchors
from firmware.gpf.gpf import Gpf, GpfError
from gbcs import asn1
from gbcs.errors import GbcsDecodeError
from gbcs.message import decode
from tools.lab.han import Han, Report

# GBCS device types (as the device log and CCS01 carry them) by board type.
_GBCS_TYPES = {name: code for code, name in asn1.DEVICE_TYPES.items()}
DEVICE_TYPE = {DeviceType.GSME: _GBCS_TYPES["gsme"], DeviceType.ESME: _GBCS_TYPES["esme"],
               DeviceType.PPMID: _GBCS_TYPES["ppmid"], DeviceType.IHD: _GBCS_TYPES["type2"],
               DeviceType.CAD: _GBCS_TYPES["type2"]}
class Hub:
    """The CHF of a premises, wired to its HAN (see module doc). `to_dcc(eui, message)`
    takes what the CHF sends over the WAN."""

    def __init__(self, board: Board, premises: Premises, credentials: DeviceCredentials,
                 anchors: TrustAnchors, store: SqliteStore, sim: Simulator, han: Han,
                 install_codes: dict[bytes, bytes], report: Report,
                 gpf: Gpf | None = None) -> None:
        self.board, self.han, self.report, self.gpf = board, han, report, gpf
        self.to_dcc: Callable[[bytes, bytes], None] = lambda eui, message: None
        log = DeviceLog(store, DEVICE_LOG_KEY)
        if not log.entries():         # installed with the premises' devices
            log.restore([LogEntry(b.eui, DEVICE_TYPE[b.type], install_codes[b.eui],
                                  INSTALL_CODE)
                         for b in premises.boards if b.eui in install_codes])
        self.chf = Chf(credentials, anchors, store, sim, route=self._route,
                       on_device_log_change=self._log_changed)
        han.follow_device_log([(e.eui, self._secret(e)) for e in self.chf.device_log.entries()])

    def deliver(self, message: bytes) -> None:
        """A message from the WAN; the CHF's own answers and alerts go back up. What is
        addressed to the GPF goes to it inside the hub, without a radio hop."""
        if self.gpf is not None and _recipient(message) == self.gpf.eui:
            answers = self.gpf.receive(message)
            if not answers:
                self.report("error", "GPF: command rejected or failed (see its security "
                                     "and event logs)")
            for answer in answers:
                self.to_dcc(self.gpf.eui, answer)
            return
        for answer in self.chf.deliver(message) + self.chf.take_alerts():
            self.to_dcc(self.board.eui, answer)

    def gsme_synced(self, eui: bytes, update: dict[str, Any]) -> None:
        """A GSME's 30-minute sync, received over the HAN, into the GPF's mirror."""
        if self.gpf is None:
            self.report("error", "a GSME sync but no GPF in the hub; dropped")
            return
        try:
            self.gpf.sync(update)
        except GpfError as err:
            self.report("error", f"GPF: {err}")

    def collect_alerts(self) -> None:
        for alert in self.chf.take_alerts():
            self.to_dcc(self.board.eui, alert)

    def _route(self, recipient: bytes, message: bytes) -> None:
        if not self.han.send_to_device(recipient, message):
            self.report("error", f"CHF: {recipient.hex().upper()} has no open tunnel or "
                                 "no firmware in the lab; message dropped")

    def _log_changed(self, entries: list[LogEntry]) -> None:
        self.han.follow_device_log([(e.eui, self._secret(e)) for e in entries])

    @staticmethod
    def _secret(entry: LogEntry) -> tuple[str, bytes]:
        return ("link_key" if entry.secret_kind == LINK_KEY else "install_code", entry.secret)


def _recipient(message: bytes) -> bytes | None:
    """The recipient a GBCS message names (None when its header does not decode: the
    CHF's pipeline logs that)."""
    try:
        return decode(message, verify=False).header.recipient
    except GbcsDecodeError:
        return None
