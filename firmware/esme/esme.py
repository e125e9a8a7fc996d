"""The ESME: a GBCS device whose commands are DLMS COSEM Access-Requests.

It builds its objects from the catalogue for its variant, binds them to its metering
engine (`binding`: registers, credit, supply, profiles and settings are the engine's)
and runs each accepted command's Access-Request through the DLMS server; the Response
is built by the shared pipeline (`GbcsDevice`). It is the `Context` its objects run in:
the device clock (the engine's: the board clock plus the offset clock adjustments
left), timers for activation times in virtual time, alerts, and the board's
fault-injection hook.

The engine's alerts become GBCS alerts to the supplier: a DLMS Data-Notification with
the alert code, as a Generic Critical Alert (0x1000, signed) for the 0x8Fxx codes GBCS
classes critical, else a Generic Non Critical Alert (0x1001, MAC'd); a supply restored
after an outage of 3 minutes or more goes to the Network Operator in its own message
(0x0067, ECS80) with the interruption and restoration times. A command from an
originator without authority raises 8F30; a firmware image received over the HAN 8F72
with its hash (0x00CE); an integrity issue the board reports 81A0 (0x00F0).
"""

from __future__ import annotations

import datetime as _dt
import random
from collections.abc import Callable
from typing import Any

from firmware.core import firmware_image
from firmware.core.credentials import DeviceCredentials, Role, TrustAnchor, TrustAnchors
from firmware.core.device import EVENT_LOG, GbcsDevice
from firmware.core.hal import Buttons, Clock, NonVolatileStore, SupplyContactor
from firmware.core.responses import seal
from firmware.core.security import NO_AUTHORITY, Accepted, Rejected
from firmware.esme import binding, server
from firmware.esme.cosem import (
    HARDWARE_FAULT, OBJECT_UNDEFINED, AccessError, Context, CosemObject, FaultKey,
    Invocation,
)
from firmware.esme.cosem_time import Passive
from firmware.esme.engine import LoadModel, MeterEngine
from firmware.esme.objects import Variant, build
from gbcs import dlms, gbz
from gbcs.axdr import OCTET_STRING, data_node
from gbcs.cosem import datetime_bytes
from gbcs.node import Node

VARIANT_KEY = "esme/variant"
CRITICAL_ALERT, NON_CRITICAL_ALERT = 0x1000, 0x1001
OUTAGE_RESTORED_3_MINUTES, OUTAGE_RESTORE_ALERT = 0x8F36, 0x0067  # ECS80
FIRMWARE_VERIFIED, FIRMWARE_RECEIPT_ALERT = 0x8F72, 0x00CE
INTEGRITY_WARNING, INTEGRITY_ALERT = 0x81A0, 0x00F0


class NoLoad:
    """Metrology with nothing connected: the load of a meter built without a board."""

    def active_power_kw(self, at: _dt.datetime) -> float:
        return 0.0

    def energy_kwh(self, start: _dt.datetime, end: _dt.datetime) -> float:
        return 0.0


class EsmeError(ValueError):
    """A command the ESME cannot execute at all (not DLMS, not an Access-Request)."""


class Esme(GbcsDevice):
    """An electricity meter. `faults` is the board's fault-injection hook: accessing a
    listed attribute or method answers hardware-fault (a failed NVM page, a dead
    metrology chip). The board's hardware (load, contactor, buttons, auxiliary
    switches, random source, UTRN key) goes to the metering engine, `engine`; without
    a load the meter measures nothing. `getters` override attributes (a board's
    instrumented values)."""

    device_type = 1  # GBCS DeviceType: ESME

    def __init__(self, credentials: DeviceCredentials, anchors: TrustAnchors,
                 store: NonVolatileStore, clock: Clock, variant: Variant,
                 getters: dict[tuple[int, bytes], dict[int, Any]] | None = None, *,
                 load: LoadModel | None = None, contactor: SupplyContactor | None = None,
                 buttons: Buttons | None = None, alcs: tuple[SupplyContactor, ...] = (),
                 rng: random.Random | None = None, top_up_key: bytes = b"",
                 commit_every: str = "day") -> None:
        super().__init__(credentials, anchors, store, clock)
        self.variant = Variant(variant)
        stored = store.get(VARIANT_KEY)
        if stored not in (None, self.variant.value):
            raise EsmeError(f"this store belongs to a {stored} meter, not "
                            f"{self.variant.value}")
        self.invocation: Invocation | None = None
        self.faults: set[FaultKey] = set()
        self.objects: dict[tuple[int, bytes], CosemObject] = build(self.variant, _seal)
        store.put(VARIANT_KEY, self.variant.value)
        self.engine = MeterEngine(
            clock, store, load or LoadModel(NoLoad(), daily_periodic=True, peak_kw=0.0),
            device_id=credentials.eui,
            rng=rng or random.Random(int.from_bytes(credentials.eui, "big")),
            on_alert=self._engine_alert, contactor=contactor, buttons=buttons, alcs=alcs,
            top_up_key=top_up_key, commit_every=commit_every)
        binding.bind(self.objects, self.engine,
                     polyphase=self.variant == Variant.POLYPHASE,
                     twin=self.variant == Variant.TWIN_ELEMENT)
        for key, bound in (getters or {}).items():
            self.objects[key].getters.update(bound)
        self._rearm()

    @classmethod
    def create(cls, eui: bytes, variant: Variant | str, credentials: DeviceCredentials,
               anchors: TrustAnchors, store: NonVolatileStore, clock: Clock,
               **hardware: Any) -> Esme:
        if credentials.eui != eui:
            raise EsmeError(f"credentials are for {credentials.eui.hex().upper()}, "
                            f"not {eui.hex().upper()}")
        return cls(credentials, anchors, store, clock, Variant(variant), **hardware)

    # -- the pipeline -------------------------------------------------------------------

    def execute(self, accepted: Accepted) -> Node:
        request = next((n for n in accepted.message.tree.walk() if n.name == "dlms"), None)
        if request is None or request.kind != "dlms.access-request":
            raise EsmeError(f"{accepted.use_case.title}: the payload is no DLMS "
                            "Access-Request")
        self.invocation = Invocation(accepted.originator, accepted.originator_counter,
                                     accepted.use_case.code)
        before = self.engine.snapshot()
        try:
            return server.execute(self, request)
        except Exception:
            # The pipeline rolls the store back: the engine goes back with it.
            self.engine.restore(before)
            raise
        finally:
            self.invocation = None

    # -- Context ------------------------------------------------------------------------

    def now(self) -> _dt.datetime:
        """The meter's clock: the engine's once built (it may be adjusted by command);
        the board's while the engine is being built (it can raise alerts then, when it
        resumes after a gap)."""
        engine = getattr(self, "engine", None)
        return self.clock.now() if engine is None else engine.now

    def board_now(self) -> _dt.datetime:
        return self.clock.now()

    def adjust_clock(self, when: _dt.datetime) -> None:
        """A clock set by an authenticated command: no tolerance applies."""
        self.engine.synchronise_clock(when, tolerance_s=None)

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
        """An activation at its time: all of it, or (a value the engine refuses)
        nothing but the event log entry saying why."""
        try:
            with self.store.transaction():
                callback()
        except AccessError as err:
            self.store.append(EVENT_LOG, {"at": self.now().isoformat(),
                                          "event": "activation_failed",
                                          "detail": err.detail})

    def _engine_alert(self, code: int, detail: Any) -> None:
        """An engine alert as a GBCS alert: 8F36 to the Network Operator (ECS80), the
        others to the supplier (0x8Fxx are critical)."""
        if code == OUTAGE_RESTORED_3_MINUTES:
            restored = self.now()
            interrupted = restored - _dt.timedelta(seconds=detail["outage_s"])
            self._alert(OUTAGE_RESTORE_ALERT, code, Role.NETWORK_OPERATOR,
                        [data_node("interrupted", datetime_bytes(interrupted), OCTET_STRING),
                         data_node("restored", datetime_bytes(restored), OCTET_STRING)])
            return
        message_code = CRITICAL_ALERT if code >> 8 == 0x8F else NON_CRITICAL_ALERT
        self._alert(message_code, code, Role.SUPPLIER, [])

    def _alert(self, message_code: int, code: int, role: Role, payload: list[Node]) -> None:
        """A DLMS Data-Notification alert to the `role` anchor (logged when there is none)."""
        anchor: TrustAnchor | None = self.anchors.get(role)
        if anchor is None:
            self.store.append(EVENT_LOG, {"at": self.now().isoformat(),
                                          "event": "alert_undeliverable",
                                          "detail": f"0x{code:04X}: no {role.value}"})
            return
        notification = dlms.alert_notification(code, datetime_bytes(self.now()), payload,
                                               invoke_id=0)
        self.raise_alert(message_code, notification, anchor)

    def _log_rejected(self, verdict: Rejected) -> None:
        """Logged as every device does; a command from a party without authority for it
        is also alerted to the supplier (8F30)."""
        super()._log_rejected(verdict)
        if verdict.event_code == NO_AUTHORITY:
            self._engine_alert(NO_AUTHORITY, {"reason": verdict.reason})

    # -- the board's reports ------------------------------------------------------------

    def firmware_received(self, image: bytes, version: bytes) -> bytes:
        """A whole firmware image arrived over the HAN from the hub (CS11 distribution):
        keep it for CS06 activation and tell the supplier its manufacturer image hash
        (8F72 Firmware Verification Successful, 0x00CE)."""
        with self.store.transaction():
            digest = firmware_image.store_image(self.store, image, version)
            self.store.append(EVENT_LOG, {"at": self.now().isoformat(),
                                          "event": "firmware_verified",
                                          "detail": digest.hex()})
            self._alert(FIRMWARE_RECEIPT_ALERT, FIRMWARE_VERIFIED, Role.SUPPLIER,
                        [data_node("calculated_manufacturer_hash", digest, OCTET_STRING)])
        return digest

    def integrity_issue(self, warning: int) -> None:
        """The board reports an integrity issue (gbz.INTEGRITY_WARNINGS, e.g. 0x0005 an
        unexpected hardware reset): logged, and 81A0 (0x00F0) to the supplier."""
        if warning not in gbz.INTEGRITY_WARNINGS:
            raise EsmeError(f"integrity issue 0x{warning:04X}: no GBCS integrity warning")
        with self.store.transaction():
            self.store.append(EVENT_LOG, {"at": self.now().isoformat(),
                                          "event": "integrity_issue",
                                          "detail": f"0x{warning:04X} "
                                                    f"{gbz.INTEGRITY_WARNINGS[warning]}"})
            self._alert(INTEGRITY_ALERT, INTEGRITY_WARNING, Role.SUPPLIER,
                        [data_node("integrity_issue_warning", warning.to_bytes(2, "big"),
                                   OCTET_STRING)])

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
    sealed = seal(device, inv.originator, inv.originator_counter, plaintext)
    params = dlms.protection_parameters(inv.originator_counter, device.eui,
                                        inv.originator.eui)
    return dlms.protected_data(params, sealed)
