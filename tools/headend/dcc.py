"""The DCC: service requests in, GBCS commands out over the WAN, responses back.

`Dcc.submit` runs a request through the checks DUIS asks for (format, User and role,
command variant, device and SMI status, registration, counter, anomaly detection),
transforms it, and either returns the pre-command for a critical request (signed later
through `Dcc.signed`), holds a future-dated one until its time (`Dcc.tick`), or applies
the ACB MAC and hands the command to the WAN link. `Dcc.receive` matches what comes back
from the CHF to the request it answers and returns the Service Response, or routes an
alert to the User registered for the device.

The WAN link, the clock and where responses go are injected: no I/O or wall clock here.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

from gbcs import crypto
from gbcs.content import CRA_ALERT, CRA_RESPONSE
from gbcs.errors import GbcsError
from gbcs.message import decode
from tools.headend import access, duis, firmware, mmc, smi
from tools.headend.access import (AnomalyDetector, Counters, Inventory, MessageLog,
                                  RequestMatrix, User)
from tools.headend.duis import (E1, E2, E4, E11, E12, E13, E19, I0, I99, DuisError, Element,
                                RequestId, ServiceRequest, ServiceResponse)
from tools.headend.schedule import ScheduleStore, parse_create
from tools.headend.transform import Command, choose_use_case, transform, via_acb

# Command variants (DUIS): 1-3 non-critical (send, local, both), 4 transform a critical
# request into a pre-command, 5-7 send a signed pre-command, 8 DCC-only.
NON_CRITICAL_CVS = frozenset((1, 2, 3))
TRANSFORM_CV = 4
SIGNED_CVS = frozenset((5, 6, 7))
# 8.1.1 Commission Device: its success makes the device Commissioned in the SMI.
_COMMISSION = "8.1.1"
# The DCC alert for a request quarantined by anomaly detection.
AD1 = "AD1"
# Where a sequenced request's preceding request is: in progress, done, failed.
_IN_PROGRESS, _SUCCEEDED, _FAILED = "in progress", "succeeded", "failed"
# How many finished requests the DCC remembers for sequencing (oldest forgotten first).
_OUTCOMES_KEPT = 100_000


class Clock(Protocol):
    def now(self) -> _dt.datetime: ...


WanLink = Callable[[bytes, bytes], None]           # (recipient EUI, GBCS message)
Delivery = Callable[[bytes, ServiceResponse], None]  # (User EUI, response or alert)


@dataclass(frozen=True, slots=True)
class Accepted:
    """The request passed the checks. `data` is the pre-command to sign when
    `awaiting_signature`, else the MAC'd command handed to the WAN (None while the
    request is held for its execution time). `response` is what DUIS answers now."""

    request_id: RequestId
    response: ServiceResponse
    data: bytes | None = None
    awaiting_signature: bool = False
    held_until: _dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class Quarantined:
    """Over an anomaly-detection threshold: kept, not sent, until released."""

    request_id: RequestId
    srv: str


@dataclass
class _Outstanding:
    request: ServiceRequest
    user: User
    command: Command
    sent: bytes | None = None
    due: _dt.datetime | None = None
    # The RequestID as text, made once: the log and the sequencing keys use it.
    rid: str = field(init=False)

    def __post_init__(self) -> None:
        self.rid = str(self.request.request_id)


@dataclass
class DccKeys:
    """The ACB's identity and KA private key, and where device KA public keys come from
    (the SMKI repository, here a lookup), for the MAC on every command."""

    acb: bytes
    acb_ka: crypto.PrivateKey
    device_ka: Callable[[bytes], crypto.PublicKey | None]
    user_ds: Callable[[bytes], crypto.PublicKey | None] = field(default=lambda eui: None)


class Dcc:
    """The DCC head end core."""

    def __init__(self, *, db_path: str | Path, keys: DccKeys, wan: WanLink, clock: Clock,
                 deliver: Delivery | None = None, matrix: RequestMatrix | None = None,
                 anomaly: AnomalyDetector | None = None) -> None:
        self.db = access.connect(db_path)
        self.inventory = Inventory(self.db)
        self.counters = Counters(self.db)
        self.log = MessageLog(self.db)
        self.matrix = matrix or RequestMatrix.load()
        self.anomaly = anomaly or AnomalyDetector()
        self.keys, self.wan, self.clock = keys, wan, clock
        self.deliver = deliver or (lambda user, response: None)
        self.users: dict[bytes, User] = {}
        self._pending_signature: dict[tuple[bytes, int], _Outstanding] = {}
        self._held: list[_Outstanding] = []
        self._quarantine: dict[str, tuple[ServiceRequest, User]] = {}
        self._awaiting: dict[tuple[bytes, int], _Outstanding] = {}
        self._progress: dict[str, str] = {}              # RequestID -> _IN_PROGRESS ...
        self._after: dict[str, list[_Outstanding]] = {}  # preceding RequestID -> waiting
        self._quarantine_events = 0
        self.schedules = ScheduleStore(self.db)
        # SRV 11.1's path to the comms hubs (the lab wires its hub): None refuses with E11.
        self.distribute_firmware: firmware.Distributor | None = None

    def add_user(self, user: User) -> None:
        self.users[user.eui] = user

    # -- requests ---------------------------------------------------------------------

    def submit(self, request: ServiceRequest | str | bytes | dict,
               user: User) -> Accepted | Quarantined | DuisError:
        """Check, transform and send (or hold, or return for signing) one request."""
        now = self.clock.now()
        try:
            req = request if isinstance(request, ServiceRequest) else duis.parse(request)
        except DuisError as err:
            self.log.add(now, "in", user=user.eui, code="HTTP 400", detail=str(err))
            return err
        try:
            return self._submit(req, user, now)
        except DuisError as err:
            self.log.add(now, "in", user=user.eui, request_id=str(req.request_id),
                         srv=req.srv, code=err.code or "HTTP 400", detail=str(err))
            return err

    def _submit(self, req: ServiceRequest, user: User, now: _dt.datetime,
                ) -> Accepted | Quarantined:
        rid = req.request_id
        if self.users.get(user.eui) != user or rid.originator != user.eui:
            raise DuisError(E1, f"user {duis.eui_text(user.eui)} ({user.role}) is not a known "
                            "DCC User or is not the RequestID originator",
                            "Request/Header/RequestID")
        entry = self.matrix.check_role(req.srv, user.role)
        if entry.non_device:
            raise DuisError(E13, f"{req.srv} is a non-device request", "Request/Header")
        allowed = {TRANSFORM_CV} if entry.critical else NON_CRITICAL_CVS
        if req.command_variant not in allowed:
            raise DuisError(E12, f"command variant {req.command_variant} does not apply to "
                            f"{'a critical' if entry.critical else 'a non-critical'} request",
                            "Request/Header/CommandVariant")
        device = self.inventory.authorise(user, rid.target, entry)
        self.counters.check(user.eui, rid.counter)
        self._check_sequence(req, user)
        if self.anomaly.over(user.eui, req.srv, now):
            self.counters.advance(user.eui, rid.counter)  # spent: release sends it as is
            self._quarantine[str(rid)] = (req, user)
            self._progress[str(rid)] = _IN_PROGRESS
            self.log.add(now, "in", user=user.eui, request_id=str(rid), srv=req.srv,
                         code="quarantined", detail="over anomaly-detection threshold")
            self._quarantine_events += 1
            self.deliver(user.eui, ServiceResponse(
                I0, now, rid, None, req.service_reference, req.srv, dcc_alert_code=AD1,
                dcc_alert=Element("QuarantinedRequest", children=(Element(
                    "ADUserThresholdBreach", children=(
                        Element("RequestID", str(rid)),
                        Element("QuarantineEventRef", str(self._quarantine_events)))),))))
            return Quarantined(rid, req.srv)
        return self._transform_and_send(req, user, device, entry, now)

    def _check_sequence(self, req: ServiceRequest, user: User) -> None:
        """A sequenced request names a preceding request of the same User that the DCC
        accepted and that has not failed (DuisError naming PrecedingServiceRequestID)."""
        preceding = req.preceding_request_id
        if preceding is None:
            return
        path = "Request/Header/PrecedingServiceRequestID"
        state = self._progress.get(str(preceding))
        if preceding.originator != user.eui or state is None:
            raise DuisError(None, f"preceding request {preceding} is not one the DCC "
                            "accepted from this User", path)
        if state == _FAILED:
            raise DuisError(None, f"preceding request {preceding} failed: the sequence is "
                            "broken", path)

    def _transform_and_send(self, req: ServiceRequest, user: User, device: access.Device,
                            entry: access.MatrixEntry, now: _dt.datetime, *,
                            counter_spent: bool = False) -> Accepted:
        rid = req.request_id
        acb_counter = None
        if via_acb(choose_use_case(req, device) or "", device):
            acb_counter = self._next_acb_counter()
        command = transform(req, device, acb=self.keys.acb, acb_counter=acb_counter, now=now,
                            inventory=self.inventory.device)
        if not counter_spent:
            self.counters.advance(user.eui, rid.counter)
        if acb_counter is not None:
            self.counters.advance(self.keys.acb, acb_counter)
        item = _Outstanding(req, user, command)
        self._progress[item.rid] = _IN_PROGRESS
        if command.critical:
            self._pending_signature[(command.originator, command.originator_counter)] = item
            self.log.add(now, "out", user=user.eui, request_id=item.rid, srv=req.srv, code=I0,
                         detail="pre-command returned for signing")
            return Accepted(rid, self._response(req, I0, pre_command=command.apdu),
                            command.apdu, awaiting_signature=True)
        return self._dispatch(item, command.apdu, entry, now)

    def _next_acb_counter(self) -> int:
        return max(self.counters.last(self.keys.acb) + 1, 1)

    # -- non-device requests: DCC schedules ------------------------------------------------

    def non_device(self, request: ServiceRequest | str | bytes | dict,
                   user: User) -> ServiceResponse | DuisError:
        """A request the DCC answers itself: 5.1 Create Schedule, 5.3 Delete Schedule
        and the inventory requests of `smi` (others: E11, not yet)."""
        now = self.clock.now()
        try:
            req = request if isinstance(request, ServiceRequest) else duis.parse(request)
        except DuisError as err:
            self.log.add(now, "in", user=user.eui, code="HTTP 400", detail=str(err))
            return err
        try:
            response = self._non_device(req, user, now)
        except DuisError as err:
            return self._refuse(now, user, req, err)
        self.log.add(now, "in", user=user.eui, request_id=str(req.request_id), srv=req.srv,
                     code=response.code, detail="non-device")
        return response

    def _non_device(self, req: ServiceRequest, user: User, now: _dt.datetime,
                    ) -> ServiceResponse:
        if self.users.get(user.eui) != user or req.request_id.originator != user.eui:
            raise DuisError(E1, "not a known DCC User, or not the RequestID originator",
                            "Request/Header/RequestID")
        entry = self.matrix.check_role(req.srv, user.role)
        if not entry.non_device:
            raise DuisError(E13, f"{req.srv} is a device request", "Request/Header")
        if req.command_variant != 8:
            raise DuisError(E12, "non-device requests take command variant 8",
                            "Request/Header/CommandVariant")
        self.counters.check(user.eui, req.request_id.counter)
        if req.srv == "5.1":
            fields = parse_create(req)
            scheduled = self.matrix.check_role(fields["srv"], user.role)
            if not scheduled.dcc_scheduled:
                raise DuisError(E2, f"{fields['srv']} cannot be DCC scheduled",
                                f"Request/Body/{req.service}/DSPScheduledServiceReferenceVariant")
            device = self.inventory.authorise(user, fields["device"], scheduled)
            probe = ServiceRequest(duis.RequestId(user.eui, device.eui, 0), 1,
                                   fields["service_reference"], fields["srv"],
                                   duis.Element(fields["service"]))
            if choose_use_case(probe, device) is None:
                raise DuisError(E11, f"no transform for scheduled SRV {fields['srv']} to a "
                                f"{device.device_type}", f"Request/Body/{req.service}")
            schedule = self.schedules.add(user.eui, fields)
            self.counters.advance(user.eui, req.request_id.counter)
            return ServiceResponse(I0, now, req.request_id, None, req.service_reference,
                                   req.srv, schedule_id=schedule.schedule_id)
        if req.srv == "5.3":
            text = req.body.value("DSPScheduleID", "")
            schedule = self.schedules.get(int(text)) if text.isdigit() else None
            if schedule is None or schedule.user != user.eui:
                raise DuisError(E4, f"no schedule {text} of this User",
                                f"Request/Body/{req.service}/DSPScheduleID")
            self.schedules.delete(schedule.schedule_id)
            self.counters.advance(user.eui, req.request_id.counter)
            return self._response(req, I99)
        if req.srv in firmware.SRVS:
            update = firmware.parse_update(req)
            ppmid = req.srv == "11.4"      # 11.4 is for PPMIDs only, 11.1 for the others
            for eui in update.devices:
                device = self.inventory.authorise(user, eui, entry)
                if (device.device_type == "PPMID") != ppmid:
                    raise DuisError(E11, f"{req.srv} does not apply to a "
                                    f"{device.device_type}", "Request/Body")
            firmware.distribute(update, self.distribute_firmware)
            self.counters.advance(user.eui, req.request_id.counter)
            return self._response(req, I99)
        if req.srv in smi.SRVS:
            response = smi.handle(self.inventory, user, req, now)
            self.counters.advance(user.eui, req.request_id.counter)
            return response
        raise DuisError(E11, f"non-device request {req.srv} is not supported yet",
                        "Request/Header/ServiceReferenceVariant")

    def _run_schedules(self, now: _dt.datetime) -> int:
        """Send each due scheduled read (the ACB on the User's behalf)."""
        runs = 0
        for schedule in self.schedules.due(now):
            user = self.users.get(schedule.user)
            device = self.inventory.device(schedule.device)
            counter = self._next_acb_counter()
            req = schedule.request(counter)
            self.schedules.advance(schedule)
            try:
                if user is None or device is None:
                    raise DuisError(E19, "schedule's User or device no longer known")
                entry = self.matrix.check_role(req.srv, user.role)
                self.inventory.authorise(user, device.eui, entry)
                command = transform(req, device, acb=self.keys.acb, acb_counter=counter,
                                    on_behalf=True, now=now)
                device_ka = self.keys.device_ka(device.eui)
                if device_ka is None:
                    raise DuisError(duis.E20, "no KA certificate for the device: cannot MAC")
            except DuisError as err:
                self.log.add(now, "schedule", user=schedule.user, request_id=str(req.request_id),
                             srv=req.srv, code=err.code or "HTTP 400", detail=str(err))
                continue
            self.counters.advance(self.keys.acb, counter)
            item = _Outstanding(req, user, command)
            item.sent = command.mac(command.apdu, self.keys.acb_ka, device_ka)
            self._send(item, now)
            runs += 1
        return runs

    def signed(self, data: bytes, user: User) -> Accepted | DuisError:
        """Take a signed pre-command back: check it is the pre-command we gave, signed
        by the User, then MAC and send it (or hold it)."""
        now = self.clock.now()
        try:
            msg = decode(data, verify=False)
        except GbcsError as exc:
            return self._refuse(now, user, None, DuisError(None, f"not a GBCS message: {exc}"))
        item = self._pending_signature.get((msg.header.originator,
                                            msg.header.originator_counter))
        if item is None or item.user != user:
            return self._refuse(now, user, None, DuisError(
                E12, "no pre-command awaiting signature for this originator and counter"))
        sig_at = msg.header.signature_length_at
        if sig_at < 0 or data[:sig_at] != item.command.apdu or msg.header.signature is None:
            return self._refuse(now, user, item.request, DuisError(
                E12, "signed pre-command differs from the one the DCC returned"))
        key = self.keys.user_ds(user.eui)
        if key is None or not crypto.verify(key, data[1:sig_at], msg.header.signature):
            return self._refuse(now, user, item.request, DuisError(
                E1, "signature on the pre-command does not verify with the User's key"))
        del self._pending_signature[(msg.header.originator, msg.header.originator_counter)]
        try:
            return self._dispatch(item, data, self.matrix.get(item.request.srv), now)
        except DuisError as err:
            return self._refuse(now, user, item.request, err)

    def _refuse(self, now: _dt.datetime, user: User, req: ServiceRequest | None,
                err: DuisError) -> DuisError:
        self.log.add(now, "in", user=user.eui, request_id=str(req.request_id) if req else "",
                     srv=req.srv if req else "", code=err.code or "HTTP 400", detail=str(err))
        return err

    def _dispatch(self, item: _Outstanding, apdu: bytes, entry: access.MatrixEntry | None,
                  now: _dt.datetime) -> Accepted:
        """Send now, or hold a DSP future-dated request until its execution time."""
        req = item.request
        device_ka = self.keys.device_ka(item.command.recipient)
        if device_ka is None:
            raise DuisError(duis.E20, "no KA certificate for the device: cannot MAC")
        item.sent = item.command.mac(apdu, self.keys.acb_ka, device_ka)
        preceding = str(req.preceding_request_id) if req.preceding_request_id else None
        if preceding is not None and self._progress.get(preceding) == _IN_PROGRESS:
            self._after.setdefault(preceding, []).append(item)
            self.log.add(now, "held", user=item.user.eui, request_id=item.rid,
                         srv=req.srv, code=I99, detail=f"until {preceding} completes")
            return Accepted(req.request_id, self._response(req, I99), None)
        when = req.execution_datetime
        if when is not None and entry is not None and "DSP" in entry.future_dated and when > now:
            item.due = when
            self._held.append(item)
            self.log.add(now, "held", user=item.user.eui, request_id=item.rid,
                         srv=req.srv, code=I99, detail=f"until {when.isoformat()}")
            return Accepted(req.request_id, self._response(req, I99), None, held_until=when)
        self._send(item, now)
        return Accepted(req.request_id, self._response(req, I99), item.sent)

    def _send(self, item: _Outstanding, now: _dt.datetime) -> None:
        cmd = item.command
        self._awaiting[(cmd.originator, cmd.originator_counter)] = item
        self.log.add(now, "out", user=item.user.eui, request_id=item.rid,
                     srv=item.request.srv, code=I99, detail=item.sent.hex())
        self.wan(cmd.recipient, item.sent)

    def tick(self) -> int:
        """Send the held future-dated requests and the DCC-scheduled reads whose time has
        come; how many commands were sent."""
        now = self.clock.now()
        due = [item for item in self._held if item.due <= now]
        self._held = [item for item in self._held if item.due > now]
        for item in sorted(due, key=lambda i: i.due):
            self._send(item, now)
        return len(due) + self._run_schedules(now)

    def held(self) -> list[tuple[RequestId, _dt.datetime]]:
        return [(item.request.request_id, item.due) for item in self._held]

    def quarantined(self) -> list[str]:
        return list(self._quarantine)

    def release(self, request_id: str) -> Accepted | DuisError:
        """Let a quarantined request through (after the User confirmed it)."""
        req, user = self._quarantine.pop(request_id)
        now = self.clock.now()
        entry = self.matrix.get(req.srv)
        device = self.inventory.device(req.request_id.target)
        try:
            if device is None:
                raise DuisError(E19, "device no longer in the inventory")
            return self._transform_and_send(req, user, device, entry, now, counter_spent=True)
        except DuisError as err:
            return self._refuse(now, user, req, err)

    # -- what comes back ------------------------------------------------------------------

    def receive(self, data: bytes) -> ServiceResponse | None:
        """A GBCS message from the CHF: a response goes to the User who asked, an alert
        to the User registered for the device. Returns the Service Response delivered,
        or None when nothing matches (logged)."""
        now = self.clock.now()
        try:
            msg = decode(data, verify=False)
        except GbcsError as exc:
            self.log.add(now, "in-wan", code="discarded", detail=f"undecodable: {exc}")
            return None
        h = msg.header
        if h.cra == CRA_RESPONSE:
            item = self._awaiting.pop((h.recipient, h.originator_counter), None)
            if item is None:
                self.log.add(now, "in-wan", code="discarded",
                             detail=f"response matches no request: {data.hex()}")
                return None
            req = item.request
            response = self._response(req, I0, gbcs_payload=data, response_id=RequestId(
                h.originator, item.user.eui, h.originator_counter))
            self.log.add(now, "in-wan", user=item.user.eui, request_id=item.rid,
                         srv=req.srv, code=I0, detail=data.hex())
            self.deliver(item.user.eui, response)
            ok = mmc.succeeded(msg)
            if ok and req.srv == _COMMISSION:
                self._commissioned(req.request_id.target, now)
            self._completed(item.rid, ok, now)
            return response
        if h.cra == CRA_ALERT:
            return self._route_alert(msg, data, now)
        self.log.add(now, "in-wan", code="discarded", detail=f"unexpected CRA {h.cra}")
        return None

    def _commissioned(self, eui: bytes, now: _dt.datetime) -> None:
        """8.1.1 Commission Device succeeded: the SMI records the device Commissioned."""
        device = self.inventory.device(eui)
        if device is not None and device.status == access.INSTALLED_NOT_COMMISSIONED:
            self.inventory.set_status(eui, access.COMMISSIONED)
            self.inventory.set_details(eui, commissioned=now.date().isoformat())
            self.log.add(now, "smi", request_id="", srv=_COMMISSION, code=I0,
                         detail=f"{duis.eui_text(eui)} commissioned")

    def _completed(self, rid: str, ok: bool, now: _dt.datetime) -> None:
        """A request's response came: send what was sequenced after it, or, when it
        failed, drop that (and what follows it) as a broken sequence."""
        self._progress[rid] = _SUCCEEDED if ok else _FAILED
        if len(self._progress) > _OUTCOMES_KEPT:
            oldest = next((k for k, v in self._progress.items()
                           if v != _IN_PROGRESS and k != rid), None)
            if oldest is not None:
                del self._progress[oldest]
        for item in self._after.pop(rid, []):
            req = item.request
            if ok:
                when = req.execution_datetime
                entry = self.matrix.get(req.srv)
                if when is not None and entry and "DSP" in entry.future_dated and when > now:
                    item.due = when
                    self._held.append(item)
                else:
                    self._send(item, now)
                continue
            self.log.add(now, "cancelled", user=item.user.eui, request_id=item.rid,
                         srv=req.srv, code="sequence", detail=f"preceding {rid} failed")
            self._completed(item.rid, False, now)

    def _route_alert(self, msg, data: bytes, now: _dt.datetime) -> ServiceResponse | None:
        h = msg.header
        user = h.recipient if h.recipient in self.users else None
        if user is None:
            device = self.inventory.device(h.originator)
            if device is not None:
                for role in (access.IS, access.GS, access.ED, access.GT):
                    user = self.inventory.responsible(device, role)
                    if user is not None:
                        break
        if user is None:
            self.log.add(now, "in-wan", code="discarded", detail=f"alert for nobody: {data.hex()}")
            return None
        code = next((n.value for n in msg.tree.walk() if n.name == "alert_code"
                     and isinstance(n.value, int)), h.message_code)
        response = ServiceResponse(I0, now, response_id=RequestId(h.originator, user,
                                                                  h.originator_counter),
                                   gbcs_payload=data, alert_code=code)
        self.log.add(now, "alert", user=user, code=f"{code:04X}", detail=data.hex())
        self.deliver(user, response)
        return response

    def _response(self, req: ServiceRequest, code: str, *, pre_command: bytes | None = None,
                  gbcs_payload: bytes | None = None,
                  response_id: RequestId | None = None) -> ServiceResponse:
        return ServiceResponse(code, self.clock.now(), req.request_id, response_id,
                               req.service_reference, req.srv, gbcs_payload=gbcs_payload,
                               pre_command=pre_command, service=req.service)

    def error_response(self, req: ServiceRequest, err: DuisError) -> ServiceResponse:
        """The Service Response for a refused request (E codes); a malformed request has
        none (HTTP 400)."""
        if err.code is None:
            raise ValueError("a malformed request gets HTTP 400, not a Service Response")
        return self._response(req, err.code)

