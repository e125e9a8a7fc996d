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
"""

from __future__ import annotations

import datetime as _dt

from firmware.core.credentials import DeviceCredentials, TrustAnchor, TrustAnchors
from firmware.core.hal import Clock, NonVolatileStore
from firmware.core.responses import alert, respond
from firmware.core.security import Accepted, Rejected, check_command
from gbcs.node import Node

SECURITY_LOG = "security"
EVENT_LOG = "event"
LOG_CAPACITY = 100
ORIGINATOR_COUNTER = "device/originator_counter"


class GbcsDevice:
    """A device's command pipeline; subclasses implement `execute`."""

    def __init__(self, credentials: DeviceCredentials, anchors: TrustAnchors,
                 store: NonVolatileStore, clock: Clock) -> None:
        self.credentials = credentials
        self.anchors = anchors
        self.store = store
        self.clock = clock
        self._alerts: list[bytes] = []
        store.declare_log(SECURITY_LOG, LOG_CAPACITY)
        store.declare_log(EVENT_LOG, LOG_CAPACITY)

    @property
    def eui(self) -> bytes:
        return self.credentials.eui

    def now(self) -> _dt.datetime:
        """The device's time (the board clock; devices with an adjustable clock add to it)."""
        return self.clock.now()

    def receive(self, data: bytes) -> list[bytes]:
        """The messages the device sends in answer to `data`: [Response, alerts...], or
        [] for a rejected command."""
        verdict = check_command(data, self.credentials, self.anchors, self.store)
        if isinstance(verdict, Rejected):
            self._log_rejected(verdict)
            return []
        try:
            with self.store.transaction():
                payload = self.execute(verdict)
                verdict.commit(self.store)
                response = respond(verdict, payload, self.credentials, self.now())
        except Exception as exc:  # execution failed: nothing changed, say why in the log
            self._alerts.clear()
            self.store.append(EVENT_LOG, {
                "at": self.now().isoformat(), "event": "command_failed",
                "message_code": verdict.use_case.code,
                "originator_counter": verdict.originator_counter,
                "detail": f"{type(exc).__name__}: {exc}"})
            return []
        return [response] + self.take_alerts()

    def execute(self, accepted: Accepted) -> Node | bytes:
        """Carry out an accepted command and return the Response payload."""
        raise NotImplementedError

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

    def _log_rejected(self, verdict: Rejected) -> None:
        if verdict.event_code is None:
            return  # not for this device: dropped without a trace, as GBCS says
        h = verdict.message.header if verdict.message is not None else None
        self.store.append(SECURITY_LOG, {
            "at": self.now().isoformat(), "reason": verdict.reason,
            "detail": verdict.detail, "event_code": verdict.event_code,
            "originator": h.originator if h is not None else None,
            "originator_counter": h.originator_counter if h is not None else None})
