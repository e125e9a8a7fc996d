"""The lab's comms hub: the CHF firmware (`firmware.chf.Chf`) between the WAN and the HAN.

What the DCC sends goes to `Chf.deliver`: the CHF answers its own commands and routes
the rest, by recipient, to the devices in its device log, through the HAN tunnels. Its
device log is the HAN trust centre's whitelist: when it changes (CCS01 / CCS02, or an
installer adding a device), the trust centre follows, and the CHF raises CS14 to the
DCC. A new hub is installed with the premises' devices already in its log.

The GPF (`firmware.gpf.Gpf`) lives in the same hub: GBCS addressed to it is handed over
inside the hub, and the GSME's 30-minute syncs, arriving over the HAN, fill its mirror.

Delivery: a command for the sleepy GSME waits in the hub until the meter GETs it at a
wake; one not collected within `delivery_timeout` is withdrawn and the CHF raises the
failure-to-deliver alert (0x8F84) naming it, as it does at once for a device it cannot
reach (no tunnel, no APS acknowledgement of the PUT).

Power: `power_cut` sends the last gasp (a WAN notice) and silences the hub's radio;
`power_restored` restarts the CHF firmware from its store (the 3-minute rule decides
whether the DCC hears of the restoration) and brings the coordinator back on its
network. `replace` puts a new comms hub in: a CHF with an empty device log, which the
DCC restores with CCS03, after which the devices join again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from boards.board import Board, DeviceType, Premises
from boards.nvm import SqliteStore
from boards.simulator import Simulator
from firmware.chf.chf import DEVICE_LOG_KEY, TIME_SYNCHRONISED, Chf
from firmware.chf.power import WanNotice
from firmware.chf.device_log import INSTALL_CODE, LINK_KEY, DeviceLog, LogEntry
from firmware.core.credentials import DeviceCredentials, TrustAnchors
from firmware.gpf.gpf import Gpf, GpfError
from gbcs import asn1
from gbcs.errors import GbcsDecodeError
from gbcs.message import peek_header
from tools.lab.han import Han, Report

# GBCS device types (as the device log and CCS01 carry them) by board type.
_GBCS_TYPES = {name: code for code, name in asn1.DEVICE_TYPES.items()}
DEVICE_TYPE = {DeviceType.GSME: _GBCS_TYPES["gsme"], DeviceType.ESME: _GBCS_TYPES["esme"],
               DeviceType.PPMID: _GBCS_TYPES["ppmid"], DeviceType.IHD: _GBCS_TYPES["type2"],
               DeviceType.CAD: _GBCS_TYPES["type2"]}
DELIVERY_TIMEOUT = timedelta(hours=2)   # the lab's choice: four GSME wakes
ZCL_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
OTA_BYTES_PER_SECOND = 100              # the lab's HAN image transfer rate
TRANSFER_SUCCESS, TRANSFER_FAILURE = 0, 3   # FirmwareTransferResponseCode
ImageReceiver = Callable[[bytes, bytes], object]   # (image, version): a device takes it


class Hub:
    """The CHF of a premises, wired to its HAN (see module doc). `to_dcc(eui, message)`
    takes what the CHF sends over the WAN, `to_dcc_notice(notice)` its power notices
    (kept in `notices` too)."""

    def __init__(self, board: Board, premises: Premises, credentials: DeviceCredentials,
                 anchors: TrustAnchors, store: SqliteStore, sim: Simulator, han: Han,
                 install_codes: dict[bytes, bytes], report: Report,
                 gpf: Gpf | None = None, *,
                 delivery_timeout: timedelta = DELIVERY_TIMEOUT) -> None:
        self.board, self.han, self.report, self.gpf = board, han, report, gpf
        self.credentials, self.anchors, self.sim = credentials, anchors, sim
        self.delivery_timeout = delivery_timeout
        self.to_dcc: Callable[[bytes, bytes], None] = lambda eui, message: None
        self.to_dcc_notice: Callable[[WanNotice], None] = lambda notice: None
        self.notices: list[WanNotice] = []
        self.powered = True
        # the devices' firmware that takes an image the hub sends over the HAN
        self.image_receivers: dict[bytes, ImageReceiver] = {}
        log = DeviceLog(store, DEVICE_LOG_KEY)
        if not log.entries():         # installed with the premises' devices
            log.restore([LogEntry(b.eui, DEVICE_TYPE[b.type], install_codes[b.eui],
                                  INSTALL_CODE)
                         for b in premises.boards if b.eui in install_codes])
        self.chf = self._firmware(store)
        self.chf.set_time_synchronised()     # the WAN gave the hub its time at install
        han.follow_device_log([(e.eui, self._secret(e)) for e in self.chf.device_log.entries()])

    def han_time(self) -> tuple[datetime, bool]:
        """The HAN's time as a device hears it from the hub's ZCL Time server: the time
        and whether it is synchronised (a GSME's GCS28 time source)."""
        seconds, status = self.chf.zcl_time()
        return ZCL_EPOCH + timedelta(seconds=seconds), \
            self.powered and bool(status & TIME_SYNCHRONISED)

    def _firmware(self, store: SqliteStore) -> Chf:
        return Chf(self.credentials, self.anchors, store, self.sim, route=self._route,
                   wan=self._notice, on_device_log_change=self._log_changed)

    def deliver(self, message: bytes) -> None:
        """A message from the WAN; the CHF's own answers and alerts go back up. What is
        addressed to the GPF goes to it inside the hub, without a radio hop. A hub
        without power hears nothing."""
        if not self.powered:
            self.report("error", "CHF: no mains power; a WAN message was lost")
            return
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

    # -- delivery to HAN devices -----------------------------------------------------------

    def _route(self, recipient: bytes, message: bytes) -> None:
        if not self.han.send_to_device(recipient, message,
                                       on_failed=lambda: self._not_delivered(
                                           recipient, message, "the PUT was not acknowledged")):
            self._not_delivered(recipient, message, "no open tunnel")
            return
        entry = self.chf.device_log.find(recipient)
        if entry is not None and entry.device_type == DEVICE_TYPE[DeviceType.GSME]:
            self.sim.schedule(lambda: self._expire(recipient, message),
                              "chf delivery timeout", after=self.delivery_timeout)

    def _expire(self, recipient: bytes, message: bytes) -> None:
        """The delivery timeout of a message held for a sleepy device."""
        if self.han.withdraw(recipient, message):
            self._not_delivered(recipient, message, "not collected before the delivery "
                                                    "timeout")

    def _not_delivered(self, recipient: bytes, message: bytes, why: str) -> None:
        self.report("error", f"CHF: message for {recipient.hex().upper()} not delivered "
                             f"({why}); failure-to-deliver alert raised")
        self.chf.failed_to_deliver(message)
        self.collect_alerts()

    def distribute_firmware(self, eui: bytes, image: bytes, version: bytes) -> None:
        """Send a firmware image to a device of the device log over the HAN (the lab
        hands it over after the time the transfer takes, rather than in OTA blocks);
        CCS08 tells the DCC the outcome, and the device verifies and reports the image
        itself (a GSME: 8F72) before CS06 activates it."""
        if self.chf.device_log.find(eui) is None:
            raise ValueError(f"{eui.hex().upper()} is not in the CHF's device log")

        def done() -> None:
            receiver = self.image_receivers.get(eui)
            ok = receiver is not None and self.powered
            if ok:
                receiver(image, version)
            self.chf.firmware_transferred(eui, version,
                                          TRANSFER_SUCCESS if ok else TRANSFER_FAILURE)
            self.collect_alerts()
        self.sim.schedule(done, "chf firmware transfer",
                          after=timedelta(seconds=len(image) / OTA_BYTES_PER_SECOND))

    # -- power and replacement -------------------------------------------------------------

    def _notice(self, notice: WanNotice) -> None:
        self.notices.append(notice)
        self.report("alert", f"CHF: {notice.kind.replace('_', ' ')} at "
                             f"{notice.at.isoformat()}")
        self.to_dcc_notice(notice)

    def power_cut(self) -> None:
        """Mains lost: the last gasp goes over the WAN, then the hub is silent."""
        if not self.powered:
            return
        self.chf.power_lost()
        self.powered = False
        self.han.hub_power(False)

    def power_restored(self) -> WanNotice | None:
        """Mains back: the CHF restarts from its store, tells the DCC when the outage
        lasted 3 minutes or more, and the coordinator takes up its network again."""
        if self.powered:
            return None
        self.chf = self._firmware(self.chf.store)
        notice = self.chf.power_restored()
        self.powered = True
        self.han.hub_power(True)
        return notice

    def replace(self, store: SqliteStore) -> None:
        """A new comms hub in place of this one: its CHF starts with `store` (an empty
        device log, so the HAN lets no device in until CCS03 restores the log)."""
        self.chf = self._firmware(store)
        self.han.follow_device_log([(e.eui, self._secret(e))
                                    for e in self.chf.device_log.entries()])

    def _log_changed(self, entries: list[LogEntry]) -> None:
        self.han.follow_device_log([(e.eui, self._secret(e)) for e in entries])

    @staticmethod
    def _secret(entry: LogEntry) -> tuple[str, bytes]:
        return ("link_key" if entry.secret_kind == LINK_KEY else "install_code", entry.secret)


def _recipient(message: bytes) -> bytes | None:
    """The recipient a GBCS message names, from its header alone (None when the header
    does not decode: the CHF's pipeline logs that)."""
    try:
        return peek_header(message).recipient
    except GbcsDecodeError:
        return None
