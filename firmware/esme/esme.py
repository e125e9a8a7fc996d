"""The ESME: a GBCS device whose commands are DLMS COSEM Access-Requests.

It builds its objects from the catalogue for its variant and runs each accepted
command's Access-Request through the DLMS server; the Response is built by the shared
pipeline (`GbcsDevice`). It is the `Context` its objects run in: the device clock (the
board clock plus the offset a clock adjustment left in the store), timers for
activation times in virtual time, alerts, and the board's fault-injection hook.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from typing import Any

from firmware.core.credentials import DeviceCredentials, TrustAnchors
from firmware.core.device import GbcsDevice
from firmware.core.hal import Clock, NonVolatileStore
from firmware.core.security import Accepted
from firmware.esme import server
from firmware.esme.cosem import (
    HARDWARE_FAULT, OBJECT_UNDEFINED, AccessError, Context, CosemObject, FaultKey,
    Invocation,
)
from firmware.esme.cosem_time import Clock as ClockObject, Passive
from firmware.esme.objects import Variant, build
from gbcs import crypto, dlms
from gbcs.build import payload_key
from gbcs.node import Node

VARIANT_KEY = "esme/variant"


class EsmeError(ValueError):
    """A command the ESME cannot execute at all (not DLMS, not an Access-Request)."""


class Esme(GbcsDevice):
    """An electricity meter. `faults` is the board's fault-injection hook: accessing a
    listed attribute or method answers hardware-fault (a failed NVM page, a dead
    metrology chip)."""

    def __init__(self, credentials: DeviceCredentials, anchors: TrustAnchors,
                 store: NonVolatileStore, clock: Clock, variant: Variant,
                 getters: dict[tuple[int, bytes], dict[int, Any]] | None = None) -> None:
        super().__init__(credentials, anchors, store, clock)
        self.variant = Variant(variant)
        stored = store.get(VARIANT_KEY)
        if stored not in (None, self.variant.value):
            raise EsmeError(f"this store belongs to a {stored} meter, not "
                            f"{self.variant.value}")
        self.invocation: Invocation | None = None
        self.faults: set[FaultKey] = set()
        self.objects: dict[tuple[int, bytes], CosemObject] = build(self.variant, _seal,
                                                                   getters)
        store.put(VARIANT_KEY, self.variant.value)
        self._rearm()

    @classmethod
    def create(cls, eui: bytes, variant: Variant | str, credentials: DeviceCredentials,
               anchors: TrustAnchors, store: NonVolatileStore, clock: Clock) -> Esme:
        if credentials.eui != eui:
            raise EsmeError(f"credentials are for {credentials.eui.hex().upper()}, "
                            f"not {eui.hex().upper()}")
        return cls(credentials, anchors, store, clock, Variant(variant))

    # -- the pipeline -------------------------------------------------------------------

    def execute(self, accepted: Accepted) -> Node:
        request = next((n for n in accepted.message.tree.walk() if n.name == "dlms"), None)
        if request is None or request.kind != "dlms.access-request":
            raise EsmeError(f"{accepted.use_case.title}: the payload is no DLMS "
                            "Access-Request")
        self.invocation = Invocation(accepted.originator, accepted.originator_counter,
                                     accepted.use_case.code)
        try:
            return server.execute(self, request)
        finally:
            self.invocation = None

    # -- Context ------------------------------------------------------------------------

    def now(self) -> _dt.datetime:
        return self.clock.now() + _dt.timedelta(seconds=self.store.get(ClockObject.OFFSET, 0))

    def lookup(self, class_id: int, obis: bytes) -> CosemObject:
        obj = self.objects.get((class_id, bytes(obis)))
        if obj is None:
            raise AccessError(OBJECT_UNDEFINED, f"no object of class {class_id} at "
                                                f"{bytes(obis).hex().upper()}")
        return obj

    def check_fault(self, key: FaultKey) -> None:
        if key in self.faults:
            what = "method" if key.method else "attribute"
            raise AccessError(HARDWARE_FAULT, f"class {key.class_id} {key.obis.hex()} "
                                              f"{what} {key.ident}: hardware fault")

    def at(self, when: _dt.datetime, callback: Callable[[], None], name: str) -> None:
        delay = when - self.now()
        if delay <= _dt.timedelta(0):
            callback()
            return
        self.clock.schedule(lambda: self._run_timer(callback), name, after=delay)

    def _run_timer(self, callback: Callable[[], None]) -> None:
        with self.store.transaction():
            callback()

    def _rearm(self) -> None:
        """Arm the activation timers a restart lost (their due times are in the store)."""
        for key in self.store.keys("activation/"):
            _, class_id, obis = key.split("/")
            obj = self.objects.get((int(class_id), bytes.fromhex(obis)))
            pending = self.store.get(key)
            if isinstance(obj, Passive) and pending:
                obj.arm(self, pending["at"])


def _seal(ctx: Context, plaintext: bytes) -> Node:
    """Encrypt for the requester of the current command (GBCS protected data)."""
    inv = ctx.invocation
    if inv is None or inv.originator.ka is None:
        raise AccessError(HARDWARE_FAULT, "no requester key-agreement key to encrypt for")
    device = ctx.credentials
    key = payload_key(device.ka, inv.originator.ka, originator=device.eui,
                      originator_counter=inv.originator_counter,
                      recipient=inv.originator.eui)
    sealed = crypto.encrypt(key, crypto.iv_for(device.eui), plaintext)
    params = dlms.protection_parameters(inv.originator_counter, device.eui,
                                        inv.originator.eui)
    return dlms.protected_data(params, sealed)
