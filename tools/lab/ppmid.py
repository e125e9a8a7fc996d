"""The lab's PPMID: the firmware (`firmware.ppmid.Ppmid`) on its HAN node, the meters'
side of its commands, and the joins that let them talk.

- Joins, as the DCC would send them at installation: CS03A2 on the PPMID and CS03A1 on
  the ESME (Method A: the HAN's CBKE gives their APS link key), CS03C on the PPMID and
  the GSME, each carrying the other's SMKI Device KA certificate (issued here by the
  lab's device CA), so PCS01 / PCS02 can be MAC'd between them.
- The ESME's Prepayment server on its HAN endpoint: attribute reads from its engine and
  the PECS01-03 commands (`firmware.core.pecs`), taken only from a joined PPMID.
- The GPF's Prepayment and Metering attributes on the hub's endpoint, read from its
  mirror, for the PPMID's gas reads.
- The PPMID reads the ESME every 10 s and the gas mirror every 30 minutes; its PCS
  commands go up its tunnel to the CHF, which queues them for the GSME's next wake; the
  GSME's responses addressed to the PPMID come back down the PPMID's tunnel.
- The GSME checks UTRNs with the lab's gas top-up key (`utrn_verifier`).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from boards.board import Board, DeviceType
from boards.nvm import SqliteStore
from firmware.core.credentials import Role
from firmware.core.device import GbcsDevice
from firmware.core.pecs import (
    LOCAL_CHANGE_SUPPLY, METERING, PREPAYMENT, REJECTED_DUPLICATE, REJECTED_INVALID,
    REJECTED_MAX_CREDIT, PecsServer, TopUpRefused,
)
from firmware.core.security import JOIN_LOG, PPMID_TYPE
from firmware.esme.engine import BUTTON_ENABLE, EngineError, SupplyState, UtrnError
from firmware.esme.engine import verify_utrn as check_utrn
from firmware.esme.engine.codes import Alert
from firmware.gsme.gsme import TopUpError
from firmware.ppmid import EnablePolicy, Fuel, GbcsOut, Outgoing, Ppmid
from gbcs import asn1, crypto
from gbcs.build import build_message
from gbcs.der_x509 import HARDWARE_MODULE_NAME
from gbcs.errors import GbcsDecodeError
from gbcs.message import peek_header
from gbcs.node import encode
from han.key_establishment import Outcome
from han.cbke.errors import KeyEstablishmentStatus
from han.radio.aps_layer import ApsIndication
from tools.lab.esme import EsmeBoard
from tools.lab.han import CHF_SHORT, ENDPOINT, GPF_ENDPOINT, HanDevice

if TYPE_CHECKING:
    from tools.lab.premises import Lab

ESME_READ_EVERY = timedelta(seconds=10)
GAS_READ_EVERY = timedelta(minutes=30)
CS03A1, CS03A2, CS03C = 0x000D, 0x00AB, 0x00AF
ESME_TYPE, GSME_TYPE = 1, 0
DEVICE_HW_TYPE = "1.2.826.0.1.8641679.1.2.2.1"   # hwType of the lab's device certificates
CERTIFICATE_START = _dt.datetime(2015, 1, 1, tzinfo=_dt.UTC)
CERTIFICATE_END = _dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=_dt.UTC)  # no expiry
HARDWARE_MODULE_NAME_OID = x509.ObjectIdentifier("1.3.6.1.5.5.7.8.4")


def device_certificate(eui: bytes, public_key: crypto.PublicKey, usage: str,
                       issuer_key: crypto.PrivateKey, serial: int,
                       issuer: str = "lab device CA") -> bytes:
    """An SMKI-shaped Device certificate (DER): empty subject, the device id in the
    hardwareModuleName subjectAltName, keyUsage `usage` ("DS" or "KA") critical."""
    hardware = encode(HARDWARE_MODULE_NAME.build("hardware_module_name", {
        "hw_type": DEVICE_HW_TYPE, "hw_serial_num": eui}))
    ka = usage == "KA"
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(public_key).serial_number(serial)
            .not_valid_before(CERTIFICATE_START).not_valid_after(CERTIFICATE_END)
            .add_extension(x509.KeyUsage(not ka, False, False, False, ka, False, False,
                                         False, False), critical=True)
            .add_extension(x509.SubjectAlternativeName([x509.OtherName(
                HARDWARE_MODULE_NAME_OID, hardware)]), critical=True)
            .sign(issuer_key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


# -- the meters' side -----------------------------------------------------------------------

_UTRN_RESULTS = {Alert.DUPLICATE_UTRN: REJECTED_DUPLICATE,
                 Alert.UTRN_EXCEEDS_MAXIMUM_CREDIT: REJECTED_MAX_CREDIT}


class EsmePrepayment:
    """The ESME's engine as the PECS server's `PrepaymentMeter`: a UTRN keyed in on the
    PPMID is entered as on the meter's keypad, emergency credit and enable as its
    buttons would."""

    def __init__(self, unit: EsmeBoard) -> None:
        self.unit = unit

    def enter_utrn(self, utrn: str) -> int:
        try:
            return self.unit.engine.enter_utrn(utrn)
        except UtrnError as err:
            raise TopUpRefused(_UTRN_RESULTS.get(err.alert, REJECTED_INVALID),
                               str(err)) from None

    def select_emergency_credit(self) -> bool:
        try:
            self.unit.engine.activate_emergency_credit()
        except EngineError:
            return False
        return True

    def local_enable(self) -> bool:
        engine = self.unit.engine
        if engine.supply_state is not SupplyState.ARMED:
            return False
        engine.press(BUTTON_ENABLE)
        return engine.supply_state is SupplyState.ENABLED

    def credit_remaining(self) -> int:
        return self.unit.engine.meter_balance


def gas_top_up_key(gsme_ka: crypto.PrivateKey) -> bytes:
    """The lab's UTRN key for a GSME (its supplier's and its own secret): derived from
    the meter's KA private key, so a resumed lab has the same one."""
    scalar = gsme_ka.private_numbers().private_value.to_bytes(32, "big")
    return hashlib.sha256(b"smetslab gas UTRN key" + scalar).digest()[:16]


def utrn_verifier(key: bytes, gsme: bytes) -> Callable[[bytes], tuple[int, int]]:
    """The GSME's UTRN check: (value in 1/1000 p, counter), or TopUpError (the GSME keeps
    the counters it accepted and refuses a repeat itself)."""
    def verify(code: bytes) -> tuple[int, int]:
        try:
            token = check_utrn(key, gsme, code.decode("ascii"), [])
        except UnicodeDecodeError:
            raise TopUpError(REJECTED_INVALID, "a UTRN is decimal digits") from None
        except UtrnError as err:
            raise TopUpError(_UTRN_RESULTS.get(err.alert, REJECTED_INVALID),
                             str(err)) from None
        return token.value_pence * 1000, token.counter
    return verify


# -- the joins, as the DCC sends them at installation -------------------------------------


def _joined(store: SqliteStore, eui: bytes) -> bool:
    return any(e.get("eui") == eui for e in store.get(JOIN_LOG) or [])


class Installer:
    """Sends the supplier's join commands (CS03A1 / CS03A2 / CS03C) to the devices, with
    the originator counters of the DCC's own counter table (so the DCC's later commands
    stay above them), signed by the supplier and MAC'd by the ACB."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        # The lab has no SMKI device CA: its Root party's key stands in for one.
        root = lab.pki.parties.get(Role.ROOT) or lab.pki.supplier
        self.ca = root.ds
        self._serial = 0x5000

    def join(self, device: GbcsDevice, code: int, method: str, other: bytes,
             other_type: int, certificate: bytes | None = None) -> bool:
        """Send one join to `device`; whether it joined."""
        wan, pki = self.lab.wan, self.lab.pki
        user = wan.users[pki.supplier.role]
        counter = wan.next_counter(user)
        wan.dcc.counters.advance(user.eui, counter)
        command = build_message(
            cra=1, originator_counter=counter, originator=pki.supplier.eui,
            recipient=device.eui, message_code=code,
            content=asn1.join_command(code, method, other, other_type, certificate),
            signer=pki.supplier.ds, mac_keys=(pki.acb.ka, device.credentials.ka.public_key()))
        device.receive(command)
        return _joined(device.store, other)

    def certificate(self, eui: bytes, key: crypto.PrivateKey) -> bytes:
        self._serial += 1
        return device_certificate(eui, key.public_key(), "KA", self.ca, self._serial)


# -- the PPMID on its board -------------------------------------------------------------------


@dataclass
class PpmidBoard:
    """A PPMID in the lab: its firmware, its HAN device, and the meters it serves."""

    board: Board
    ppmid: Ppmid
    lab: Lab
    cbke_with_esme: str = "not started"   # not started, running, done, failed
    sent: list[Outgoing] = field(default_factory=list)

    @property
    def han(self) -> HanDevice:
        return self.lab.han.devices[self.board.eui]

    def send(self, outgoing: list[Outgoing]) -> None:
        """Carry what the PPMID sends: ZCL frames to the ESME (or the GPF on the hub),
        GBCS commands up its tunnel to the CHF."""
        for item in outgoing:
            self.sent.append(item)
            if isinstance(item, GbcsOut):
                self.lab.han.reply(self.board.eui, item.message)
                continue
            short, endpoint = self._address(item.to)
            if short is None or not self.han.node.joined:
                self.lab.report("error", f"{self.board.name}: no route to "
                                         f"{item.to.hex().upper()}; frame dropped")
                continue
            self.han.node.send_data(short, endpoint, item.cluster_id, item.frame,
                                    source_endpoint=ENDPOINT)

    def firmware_received(self, image: bytes, version: bytes) -> bytes:
        """An image from the hub (SRV 11.4): the PPMID activates it and its CS09 alert
        goes up its tunnel."""
        digest = self.ppmid.firmware_received(image, version)
        for alert in self.ppmid.take_alerts():
            self.lab.han.reply(self.board.eui, alert)
        return digest

    def _address(self, eui: bytes) -> tuple[int | None, int]:
        if self.lab.gpf is not None and eui == self.lab.gpf.eui:
            return CHF_SHORT, GPF_ENDPOINT
        device = self.lab.han.devices.get(eui)
        if device is None or device.state != "ready":
            return None, ENDPOINT
        return device.node.short_address, device.endpoint.endpoint

    def on_zcl(self, ind: ApsIndication) -> bytes | None:
        """A ZCL frame to the PPMID's Prepayment or Metering client."""
        source = self._source(ind)
        if source is not None:
            self.send(self.ppmid.on_frame(source, ind.cluster_id, ind.payload))
        return None

    def _source(self, ind: ApsIndication) -> bytes | None:
        if ind.source == CHF_SHORT and ind.source_endpoint == GPF_ENDPOINT:
            return self.lab.gpf.eui if self.lab.gpf is not None else None
        return next((eui for eui, d in self.lab.han.devices.items()
                     if d.node.short_address == ind.source and d.state == "ready"), None)

    def on_message(self, message: bytes) -> None:
        """GBCS down its tunnel: a GSME's answer to a PCS command, or a command from the
        DCC for the PPMID itself."""
        if self.ppmid.on_gbcs(message):
            return
        for answer in self.ppmid.receive(message):
            self.lab.han.reply(self.board.eui, answer)

    # -- timers ---------------------------------------------------------------------------

    def read_electricity(self) -> None:
        """Every 10 s: CBKE with the ESME once (Method A's link key), then its reads."""
        esme = self.ppmid.meter(Fuel.ELECTRICITY)
        ready = self.han.state == "ready" and esme is not None and \
            self.lab.han.devices.get(esme) is not None and \
            self.lab.han.devices[esme].state == "ready"
        if ready and self.cbke_with_esme in ("not started", "failed"):
            self._cbke(esme)
        elif ready and self.cbke_with_esme == "done":
            self.send(self.ppmid.read_requests(Fuel.ELECTRICITY))
        self.lab.sim.schedule(self.read_electricity, f"{self.board.name} read esme",
                              after=ESME_READ_EVERY)

    def read_gas(self) -> None:
        if self.han.state == "ready" and self.ppmid.gas_proxy is not None:
            self.send(self.ppmid.read_requests(Fuel.GAS))
        self.lab.sim.schedule(self.read_gas, f"{self.board.name} read gas",
                              after=GAS_READ_EVERY)

    def _cbke(self, esme: bytes) -> None:
        target = self.lab.han.devices[esme]
        if self.han.ke is None or any(d.state not in ("ready", "off")
                                      for d in self.lab.han.devices.values()):
            return            # the HAN is still commissioning a device: wait
        self.cbke_with_esme = "running"

        def done(outcome: Outcome) -> None:
            ok = outcome.status is KeyEstablishmentStatus.SUCCESS
            self.cbke_with_esme = "done" if ok else "failed"
            self.lab.report("han" if ok else "error",
                            f"{self.board.name}: CBKE with {target.board.name} "
                            f"{'done' if ok else 'failed'}")
        self.han.ke.initiate(target.node.short_address, target.endpoint.endpoint, done)


# -- wiring ---------------------------------------------------------------------------------


def attach_ppmids(lab: Lab, policy: EnablePolicy = EnablePolicy.ON_BUTTON
                  ) -> dict[bytes, PpmidBoard]:
    """Put the premises' PPMIDs in the lab (see module doc); call once the hub and the
    WAN are built."""
    units: dict[bytes, PpmidBoard] = {}
    installer = Installer(lab)
    for gas in lab.gsmes.values():
        gas.gsme.verify_utrn = utrn_verifier(gas_top_up_key(gas.gsme.credentials.ka),
                                             gas.gsme.eui)
    for board in lab.premises.of_type(DeviceType.PPMID):
        if board.eui not in lab.han.devices or board.eui not in lab.pki.devices:
            continue
        ppmid = Ppmid(lab.pki.devices[board.eui], lab.pki.anchors(), lab.stores[board.eui],
                      lab.sim, policy=policy,
                      gas_proxy=lab.gpf.eui if lab.gpf is not None else None)
        unit = PpmidBoard(board, ppmid, lab)
        _install_joins(lab, installer, unit)
        device = lab.han.devices[board.eui]
        device.on_message = unit.on_message
        for cluster in (PREPAYMENT, METERING):
            device.endpoint.client_clusters[cluster] = unit.on_zcl
        lab.sim.schedule(unit.read_electricity, f"{board.name} read esme",
                         after=ESME_READ_EVERY)
        lab.sim.schedule(unit.read_gas, f"{board.name} read gas", after=ESME_READ_EVERY)
        units[board.eui] = unit
        lab.hub.image_receivers[board.eui] = unit.firmware_received
    if units:
        for esme in lab.esmes.values():
            if esme.board.eui in lab.han.devices:
                _serve_pecs(lab, esme)
        _route_between_devices(lab, set(units))
    return units


def _install_joins(lab: Lab, installer: Installer, unit: PpmidBoard) -> None:
    """Join the PPMID to the ESMEs (Method A) and GSMEs (Method C) not yet joined."""
    ppmid = unit.ppmid
    for esme in lab.esmes.values():
        if not _joined(esme.esme.store, ppmid.eui):
            installer.join(esme.esme, CS03A1, "methodAInitiator", ppmid.eui, PPMID_TYPE)
        if not _joined(ppmid.store, esme.esme.eui):
            installer.join(ppmid, CS03A2, "methodAResponder", esme.esme.eui, ESME_TYPE)
    for gas in lab.gsmes.values():
        gsme = gas.gsme
        if not _joined(gsme.store, ppmid.eui):
            installer.join(gsme, CS03C, "methodC", ppmid.eui, PPMID_TYPE,
                           installer.certificate(ppmid.eui, ppmid.credentials.ka))
        if not _joined(ppmid.store, gsme.eui):
            installer.join(ppmid, CS03C, "methodC", gsme.eui, GSME_TYPE,
                           installer.certificate(gsme.eui, gsme.credentials.ka))


def _serve_pecs(lab: Lab, unit: EsmeBoard) -> None:
    """PECS01-03 on the ESME's endpoint, in front of its published Prepayment and
    Metering servers: from a joined PPMID over an APS-secured link only."""
    server = PecsServer(EsmePrepayment(unit), unit.esme.store, on_command=lambda pecs, eui,
                        outcome: lab.report("ppmid", f"{unit.board.name}: {pecs} from "
                                                     f"{eui.hex().upper()} {outcome}"))
    endpoint = lab.han.devices[unit.board.eui].endpoint
    commands = {PREPAYMENT: (0x00, 0x04), METERING: (LOCAL_CHANGE_SUPPLY,)}
    for cluster, ids in commands.items():
        published = endpoint.server_clusters.get(cluster)

        def handle(ind: ApsIndication, published=published, ids=ids) -> bytes | None:
            data = ind.payload
            is_pecs = len(data) >= 3 and data[0] & 0x03 == 0x01 and not data[0] & 0x0C \
                and data[2] in ids
            if not is_pecs:
                return published(ind) if published is not None else None
            source = None
            if ind.aps_secured:
                source = next((eui for eui, d in lab.han.devices.items()
                               if d.node.short_address == ind.source), None)
            return server.handle(source, ind.cluster_id, data)
        endpoint.server_clusters[cluster] = handle


def _route_between_devices(lab: Lab, ppmids: set[bytes]) -> None:
    """The CHF's HAN-to-HAN routing: a PPMID's GBCS to a HAN device goes to it (queued
    for a sleeping GSME), a device's answer to a PPMID goes down the PPMID's tunnel; the
    rest (a PPMID's alert to its Supplier, say) goes up the WAN as before."""
    upstream = lab.han.to_dcc

    def route(eui: bytes, message: bytes) -> None:
        try:
            recipient = peek_header(message).recipient
        except GbcsDecodeError:
            recipient = None
        if recipient in ppmids or (eui in ppmids and recipient in lab.han.devices):
            if recipient is None or not lab.han.send_to_device(recipient, message):
                lab.report("error", f"CHF: a message from {eui.hex().upper()} to "
                                    f"{recipient.hex().upper() if recipient else '?'} "
                                    "has no route; dropped")
            return
        upstream(eui, message)
    lab.han.to_dcc = route
