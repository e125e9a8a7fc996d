"""The command pipeline every GBCS device shares.

`GbcsDevice.receive(data)` runs the GBCS inbound checks (`check_command`); a rejected
command changes nothing but the security log and yields no messages: its originator is
unauthenticated, so it gets no Response, and GBCS has the device send the security
event as an alert only where the alert filters enable it, which is the device's event
handling, not this pipeline's. A message for another device leaves no trace.

An accepted command is executed in ONE store transaction together with its anti-replay
counter, then answered with `respond`; alerts the execution raised follow the Response.
If execution raises, the transaction rolls back (the command leaves no trace but the
event log entry) and nothing is sent.

The ASN.1 commands every device answers the same way (security credentials CS02a-g,
join / unjoin CS03 / CS04 and CS07, firmware activation CS06 and version CS08) run in the core handlers
of `DER_HANDLERS`; everything else goes to the device's own `execute`. Future-dated
ones are queued in the store (`FutureDated`) and run in their own transaction at their
time, their outcome alert queued for `take_alerts`.
"""

from __future__ import annotations

import datetime as _dt
from abc import ABC, abstractmethod
from collections.abc import Callable

from firmware.core import credentials_ops, firmware_image, join
from firmware.core.credentials import DeviceCredentials, TrustAnchor, TrustAnchors
from firmware.core.future_dated import FutureDated
from firmware.core.gbt_inbox import GbtInbox, TransferKey, is_gbt
from firmware.core.hal import Clock, NonVolatileStore
from firmware.core.responses import alert, respond
from firmware.core.security import Accepted, Rejected, check_command
from firmware.core.trust_store import TrustStore
from gbcs.node import Node

SECURITY_LOG = "security"
EVENT_LOG = "event"
LOG_CAPACITY = 100
ORIGINATOR_COUNTER = "device/originator_counter"

Handler = Callable[["GbcsDevice", Accepted], Node]
FutureHandler = Callable[["GbcsDevice", Accepted, _dt.datetime, _dt.datetime], None]
_UPDATE_CODES = (*range(0x0100, 0x010A), 0x0125, 0x0126)
DER_HANDLERS: dict[int, Handler] = {
    0x0008: credentials_ops.provide_details, 0x011B: credentials_ops.provide_details,
    **{code: credentials_ops.update_credentials for code in _UPDATE_CODES},
    0x000A: credentials_ops.issue_credentials,
    0x000B: credentials_ops.update_device_certificate,
    0x000C: credentials_ops.provide_device_certificate,
    0x000D: join.join, 0x000E: join.join, 0x00AB: join.join, 0x00AF: join.join,
    0x000F: join.unjoin, 0x0010: join.unjoin, 0x0013: join.read_join_details,
    0x0012: firmware_image.activate_firmware, 0x0129: firmware_image.read_firmware_version,
}
FUTURE_HANDLERS: dict[str, FutureHandler] = {
    "CS02b": credentials_ops.run_future_update, "CS02g": credentials_ops.run_future_update,
    "CS06": firmware_image.run_future_activation,
}


class GbcsDevice(ABC):
    """A device's command pipeline; subclasses implement `execute` for the commands
    that are not core ASN.1 ones (`der_handlers` may narrow or extend those)."""

    firmware_version = bytes.fromhex("01000000")  # before any CS06 activation
    device_type: int | None = None  # GBCS DeviceType (0 GSME, 1 ESME, 2 CHF, 3 GPF ...)

    def __init__(self, credentials: DeviceCredentials, anchors: TrustAnchors,
                 store: NonVolatileStore, clock: Clock) -> None:
        self._built_credentials = credentials
        self.credentials = credentials_ops.load_device_credentials(store, credentials)
        self.anchors = anchors
        self.store = store
        self.clock = clock
        self._alerts: list[bytes] = []
        self.der_handlers: dict[int, Handler] = dict(DER_HANDLERS)
        # The board's fault injection for the core ASN.1 commands: message codes whose
        # storage or key hardware fails (GBCS's failure response codes follow).
        self.hardware_faults: set[int] = set()
        store.declare_log(SECURITY_LOG, LOG_CAPACITY)
        store.declare_log(EVENT_LOG, LOG_CAPACITY)
        self.trust = TrustStore(store, anchors)
        self.future = FutureDated(store, clock, anchors, self._run_future)
        self.gbt = GbtInbox(self.credentials.eui, self._log_gbt)

    @property
    def eui(self) -> bytes:
        return self.credentials.eui

    def now(self) -> _dt.datetime:
        """The device's time (the board clock; devices with an adjustable clock add to it)."""
        return self.clock.now()

    def receive(self, data: bytes) -> list[bytes]:
        """The messages the device sends in answer to `data`: [Response, alerts...], or
        [] for a rejected command. GBT blocks wait in `gbt` until their message is whole."""
        if is_gbt(data):
            whole = self.gbt.add(data)
            if whole is None:
                return []
            data = whole
        verdict = check_command(data, self.credentials, self.anchors, self.store)
        if isinstance(verdict, Rejected):
            self._log_rejected(verdict)
            return []
        try:
            with self.store.transaction():
                handler = self.der_handlers.get(verdict.use_case.code)
                payload = (handler(self, verdict) if handler is not None
                           else self.execute(verdict))
                verdict.commit(self.store)
                response = respond(verdict, payload, self.credentials, self.now())
        except Exception as exc:  # execution failed: nothing changed, say why in the log
            self._alerts.clear()
            self._reload()
            self.store.append(EVENT_LOG, {
                "at": self.now().isoformat(), "event": "command_failed",
                "message_code": verdict.use_case.code,
                "originator_counter": verdict.originator_counter,
                "detail": f"{type(exc).__name__}: {exc}"})
            return []
        return [response] + self.take_alerts()

    @abstractmethod
    def execute(self, accepted: Accepted) -> Node | bytes:
        """Carry out an accepted command and return the Response payload."""

    def _run_future(self, accepted: Accepted, when: _dt.datetime,
                    received: _dt.datetime) -> None:
        """A queued future-dated command's time came: run it in its own transaction; a
        failure rolls it back and is logged, its alerts dropped."""
        handler = FUTURE_HANDLERS.get(accepted.use_case.use_case)
        if handler is None:
            return
        queued = len(self._alerts)
        try:
            with self.store.transaction():
                handler(self, accepted, when, received)
        except Exception as exc:  # the device carries on; the log says why
            del self._alerts[queued:]
            self._reload()
            self.store.append(EVENT_LOG, {
                "at": self.now().isoformat(), "event": "future_dated_failed",
                "message_code": accepted.use_case.code,
                "originator_counter": accepted.originator_counter,
                "detail": f"{type(exc).__name__}: {exc}"})

    def _reload(self) -> None:
        """After a rolled-back transaction: the keys, anchors and timers the store holds
        (the in-memory copies may have followed the undone writes)."""
        self.credentials = credentials_ops.load_device_credentials(self.store,
                                                                   self._built_credentials)
        self.trust.reload()
        self.future.rearm()

    def raise_alert(self, message_code: int, payload: Node | bytes,
                    recipient: TrustAnchor) -> None:
        """Queue an alert to `recipient` under the device's next originator counter
        (persisted, so it never repeats across restarts)."""
        counter = int(self.store.get(ORIGINATOR_COUNTER, 0)) + 1
        self.store.put(ORIGINATOR_COUNTER, counter)
        self._alerts.append(alert(message_code, payload, self.credentials, recipient,
                                  counter))

    def take_alerts(self) -> list[bytes]:
        """The alerts queued since the last call (e.g. raised by a timer)."""
        out, self._alerts = self._alerts, []
        return out

    def _log_gbt(self, reason: str, detail: str, transfer: TransferKey | None) -> None:
        originator, _, counter = transfer if transfer is not None else (None, None, None)
        self.store.append(SECURITY_LOG, {
            "at": self.now().isoformat(), "reason": reason, "detail": detail,
            "event_code": None, "originator": originator, "originator_counter": counter})

    def _log_rejected(self, verdict: Rejected) -> None:
        if verdict.event_code is None:
            return  # not for this device: dropped without a trace, as GBCS says
        h = verdict.message.header if verdict.message is not None else None
        self.store.append(SECURITY_LOG, {
            "at": self.now().isoformat(), "reason": verdict.reason,
            "detail": verdict.detail, "event_code": verdict.event_code,
            "originator": h.originator if h is not None else None,
            "originator_counter": h.originator_counter if h is not None else None})
