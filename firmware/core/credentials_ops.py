"""Security credentials management on a device: the CS02 use cases.

- CS02a / CS02f report, per remote party role asked for, the trust anchor cells held
  (entity id, subject key id) and the highest originator counter accepted from it;
- CS02b / CS02g replace trust anchor cells. The signer was checked by
  `firmware.core.security` (its role must be the mode's authoriser); here the command's
  own authorising cell and sequence number must name that signer and counter, each
  target cell must be one the mode may replace (else other), and each new certificate
  an organisation certificate of the target role and key usage, valid when the command
  was received unless it disapplies time checks (else badCertificate), issued by a CA
  certificate of its certification path, that CA certificate signed by the Root trust
  anchor when the device holds one (else noTrustAnchor). All replacements apply or none
  does; the sequence number floors then follow (GBCS "RemotePartySeqNumberChange").
  Future-dated ones are queued and alert their outcome (0x00CB / 0x0124);
- CS02c generates a new key pair and answers a PKCS#10 request for it, the private key
  kept pending until CS02d installs a certificate for it;
- CS02d installs a device certificate, CS02e returns one.

Device keys and certificates that replace the ones the device was built with are kept
in the store, so a restart keeps them (`load_device_credentials`).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from firmware.core.credentials import DeviceCredentials, Role
from firmware.core.hal import NonVolatileStore
from firmware.core.security import Accepted
from firmware.core.trust_store import (
    DS, KA, MANAGEMENT, ROLE_CODES, ROLES_BY_CODE, TOP_UP, Cell, CellId,
)
from gbcs import asn1, crypto
from gbcs.certificates import (
    HARDWARE_MODULE_NAME, GbcsCertificateError, SmkiCertificate, load_x509,
    parse_certificate,
)
from gbcs.content import CRA_ALERT, CRA_RESPONSE
from gbcs.der import oid_bytes, parse_time
from gbcs.node import Node, encode

if TYPE_CHECKING:
    from firmware.core.device import GbcsDevice

DEVICE_KEYS = "credentials/device"
PENDING_KEYS = "credentials/pending_keys"
SPECIALIST_FLOORS = "credentials/specialist_floors"
FUTURE_DATE_SUCCESS, FUTURE_DATE_FAILURE = 0x8F66, 0x8F67
# GBCS: hwType of the device identity in a device certificate and certification request.
HW_TYPE_OID = "1.2.826.0.1.8641679.1.2.2.1"
CANCEL_TIME = _dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=_dt.UTC)

USAGE_WORDS = {"digitalSignature": DS, "keyAgreement": KA}
USAGE_BITS = {DS: "digitalSignature", KA: "keyAgreement"}
SUCCESS, BAD_CERTIFICATE, NO_TRUST_ANCHOR, OTHER = 0, 5, 10, 127
TRUST_ANCHOR_NOT_FOUND = 25

# Replacement mode -> the roles whose cells it may replace.
_ANY_BUT_ROOT = tuple(r for r in ROLE_CODES if r is not Role.ROOT)
MODE_TARGETS: dict[int, tuple[Role, ...]] = {
    0: (Role.ROOT,), 1: (Role.ROOT,), 2: (Role.SUPPLIER,), 3: (Role.NETWORK_OPERATOR,),
    4: (Role.ACCESS_CONTROL_BROKER,), 5: (Role.WAN_PROVIDER,),
    6: (Role.TRANSITIONAL_COS,), 7: (Role.SUPPLIER,), 8: _ANY_BUT_ROOT,
    9: tuple(ROLE_CODES), 10: (Role.LOAD_CONTROLLER,), 11: (Role.LOAD_CONTROLLER,),
}


# Certificate roles a cell accepts beyond its own: a Supplier acts as Load Controller
# with its own certificates (the RTDS loadControllerBySupplier cases).
CERTIFICATE_ROLES = {Role.LOAD_CONTROLLER: (ROLE_CODES[Role.LOAD_CONTROLLER],
                                            ROLE_CODES[Role.SUPPLIER])}


class CredentialsCommandError(ValueError):
    """An ASN.1 command the device refuses as a whole (inconsistent with its own header,
    naming a cell it cannot address): what, in which field, at which payload byte."""

    def __init__(self, message: str, field: str = "", offset: int = -1) -> None:
        super().__init__(message, field, offset)
        self.message, self.field, self.offset = message, field, offset

    def __str__(self) -> str:
        where = f" at byte {self.offset}" if self.offset >= 0 else ""
        return f"{self.message} (in {self.field}{where})" if self.field else self.message


# -- the device's own keys ------------------------------------------------------------


def _private_bytes(key: crypto.PrivateKey) -> bytes:
    return key.private_numbers().private_value.to_bytes(32, "big")


def load_device_credentials(store: NonVolatileStore,
                            given: DeviceCredentials) -> DeviceCredentials:
    """The credentials the device was built with, updated by any key or certificate
    that CS02d installed since (kept in the store)."""
    saved = store.get(DEVICE_KEYS) or {}
    out = given
    for usage, field in ((DS, "ds"), (KA, "ka")):
        if usage in saved:
            out = dataclasses.replace(out, **{
                field: crypto.private_key_from_bytes(saved[usage]["key"]),
                f"{field}_certificate": saved[usage]["certificate"]})
    return out


def _install_device_key(device: GbcsDevice, usage: str, key: crypto.PrivateKey,
                        certificate: bytes) -> None:
    saved = dict(device.store.get(DEVICE_KEYS) or {})
    saved[usage] = {"key": _private_bytes(key), "certificate": certificate}
    device.store.put(DEVICE_KEYS, saved)
    field = "ds" if usage == DS else "ka"
    device.credentials = dataclasses.replace(
        device.credentials, **{field: key, f"{field}_certificate": certificate})


# -- reading the command --------------------------------------------------------------


def payload(accepted: Accepted, name: str) -> Node:
    node = next((n for n in accepted.message.tree.walk() if n.name == name), None)
    if node is None:
        raise CredentialsCommandError(f"{accepted.use_case.title}: the payload has no "
                                      f"{name} (not the GBCS structure)", name)
    return node


def cell_id(node: Node) -> CellId:
    """A decoded TrustAnchorCellIdentifier."""
    role = ROLES_BY_CODE.get(node["remote_party_role"].value)
    usage = USAGE_WORDS.get(node["key_usage"].human or "")
    cell_usage = node.get("cell_usage")
    if role is None or usage is None:
        raise CredentialsCommandError(f"trust anchor cell {node.human}: no such cell on "
                                      "a device", node.name, node.offset)
    if cell_usage is not None and cell_usage.value not in (0, 1):
        raise CredentialsCommandError(f"cell usage {cell_usage.value} is not one GBCS "
                                      "defines", cell_usage.name, cell_usage.offset)
    usage_name = TOP_UP if cell_usage is not None and cell_usage.value == 1 else MANAGEMENT
    return CellId(role, usage, usage_name)


def cell_value(cell: CellId) -> dict:
    return asn1.trust_anchor_cell(ROLE_CODES[cell.role], cell.key_usage,
                                  1 if cell.cell_usage == TOP_UP else None)


def der_time(node: Node | None) -> _dt.datetime | None:
    if node is None:
        return None
    when = parse_time(node.value)
    if when is None:
        raise CredentialsCommandError(f"{node.value!r} is not a GBCS date-time", node.name,
                                      node.offset)
    return when


# -- CS02a / CS02f ----------------------------------------------------------------------


def provide_details(device: GbcsDevice, accepted: Accepted) -> Node:
    """The trust anchor cells and current sequence number of each role asked for."""
    command = payload(accepted, "provide_security_credential_details")
    cell_id(command["authorising_remote_party_ta_cell_identifier"])
    details = []
    for node in command["remote_party_roles_credentials_required"].children:
        role = ROLES_BY_CODE.get(node.value)
        cells = device.trust.of_role(role) if role is not None else []
        if not cells:
            details.append({"remote_party_role": node.value,
                            "status_code": TRUST_ANCHOR_NOT_FOUND})
            continue
        details.append({
            "remote_party_role": node.value, "status_code": SUCCESS,
            "current_seq_number": device.store.highest(cells[0][1].eui),
            "trust_anchor_cell_details": [{
                "key_usage": {USAGE_BITS[c.key_usage]},
                "cell_usage": 1 if c.cell_usage == TOP_UP else None,
                "subject_unique_id": v.eui, "subject_key_identifier": v.key_id}
                for c, v in cells]})
    return asn1.build(accepted.use_case.code, CRA_RESPONSE, details)


# -- CS02b / CS02g ----------------------------------------------------------------------


def update_credentials(device: GbcsDevice, accepted: Accepted) -> Node:
    """Execute now (the response carries the outcome) or, with an execution date-time,
    queue for then (or cancel the queued one, for 9999-12-31T23:59:59)."""
    command = payload(accepted, "update_security_credentials")
    code = accepted.use_case.code
    _check_authoriser(accepted, command)
    when = der_time(command.get("execution_date_time"))
    if when is not None and when > device.now():
        if when >= CANCEL_TIME:
            device.future.cancel(accepted.use_case.use_case)
        else:
            device.future.add(accepted, when)
        return asn1.update_security_credentials_response(code)
    outcome, _ = apply_update(device, command, code, device.now())
    return asn1.update_security_credentials_response(code, outcome)


def run_future_update(device: GbcsDevice, accepted: Accepted, when: _dt.datetime,
                      received: _dt.datetime) -> None:
    """A queued CS02b / CS02g reaching its time: apply it (its certificates' validity as
    when the command was received) and alert its originator."""
    command = payload(accepted, "update_security_credentials")
    code = accepted.use_case.code
    outcome, ok = apply_update(device, command, code, received)
    alert_code = 0x0124 if accepted.use_case.use_case == "CS02g" else 0x00CB
    body = asn1.build(alert_code, CRA_ALERT, {
        "alert_code": FUTURE_DATE_SUCCESS if ok else FUTURE_DATE_FAILURE,
        "execution_date_time": when, "execution_outcome": outcome})
    device.raise_alert(alert_code, body, accepted.originator)


def _check_authoriser(accepted: Accepted, command: Node) -> None:
    control = command["authorising_remote_party_control"]
    seq = control["authorising_remote_party_seq_number"]
    if seq.value != accepted.originator_counter:
        raise CredentialsCommandError(
            f"authorising sequence number {seq.value} is not the command's originator "
            f"counter {accepted.originator_counter}", seq.name, seq.offset)
    cell = control.get("authorising_remote_party_ta_cell_identifier")
    handover = accepted.originator.role is Role.ACCESS_CONTROL_BROKER
    if cell is not None and not handover:  # the DCC (as ACB) signs handovers itself
        named = cell_id(cell)
        if named.key_usage != DS or named.role is not accepted.originator.role:
            raise CredentialsCommandError(
                f"authorising cell {cell.human} is not the signer's "
                f"({accepted.originator.role.value} DS)", cell.name, cell.offset)


def apply_update(device: GbcsDevice, command: Node, code: int,
                 checked_at: _dt.datetime) -> tuple[dict, bool]:
    """Check every replacement (validity at `checked_at`), apply all or none, and give
    the execution outcome."""
    control = command["authorising_remote_party_control"]
    mode = control["credentials_replacement_mode"].value
    checks_time = _child_value(control, "apply_time_based_cpv_checks", 0) == 0
    path = [encode(c) for c in command["certification_path_certificates"].children]
    planned: list[tuple[CellId, Cell | None, Cell | None, int]] = []
    for replacement in command["replacements"].children:
        target = cell_id(replacement["target_trust_anchor_cell"])
        existing = device.trust.get(target)
        new, status = _check_replacement(device, mode, target,
                                         encode(replacement["replacement_certificate"]),
                                         path, checked_at if checks_time else None)
        planned.append((target, existing, new, status))
    ok = all(status == SUCCESS for *_, status in planned)
    outcomes = []
    for target, existing, new, status in planned:
        if ok and new is not None:
            device.trust.put(target, new)
        if not ok and status == SUCCESS:
            status = OTHER  # valid, but not applied since another replacement failed
        shown_new = new if ok and new is not None else existing
        outcomes.append({
            "affected_trust_anchor_cell": cell_value(target), "status_code": status,
            "existing_subject_unique_id": existing.eui if existing else b"",
            "existing_subject_key_id": existing.key_id if existing else b"",
            "replacing_subject_unique_id": shown_new.eui if shown_new else b"",
            "replacing_subject_key_id": shown_new.key_id if shown_new else b""})
    changes = _seq_number_changes(control, planned)
    if ok:
        _apply_floors(device, changes)
    return ({"authorising_remote_party_seq_number":
             control["authorising_remote_party_seq_number"].value,
             "credentials_replacement_mode": mode,
             "remote_party_seq_number_changes": changes,
             "replacement_outcomes": outcomes}, ok)


def _child_value(node: Node, name: str, default: int) -> int:
    child = node.get(name)
    return child.value if child is not None else default


def _check_replacement(device: GbcsDevice, mode: int, target: CellId, certificate: bytes,
                       path: list[bytes],
                       checked_at: _dt.datetime | None) -> tuple[Cell | None, int]:
    """The new cell contents and SUCCESS, or None and why not: badCertificate for a
    certificate that does not fit the cell (kind, role, key usage, validity),
    noTrustAnchor when no certificate of the path (up to the Root anchor) issued it. An
    empty cell may be filled."""
    if target.role not in MODE_TARGETS.get(mode, ()):
        return None, OTHER
    try:
        cert = parse_certificate(certificate)
    except GbcsCertificateError:
        return None, BAD_CERTIFICATE
    if target.role in (Role.ROOT, Role.RECOVERY):
        fits = cert.kind == "ca" or (cert.kind == "organisation" and cert.key_usage == DS)
    else:
        fits = (cert.kind == "organisation" and cert.key_usage == target.key_usage
                and cert.role in CERTIFICATE_ROLES.get(target.role,
                                                       (ROLE_CODES[target.role],)))
    if not fits or cert.entity_id is None or \
            (checked_at is not None and not cert.valid_at(checked_at)):
        return None, BAD_CERTIFICATE
    if not _issued_by_path(device, cert, path):
        return None, NO_TRUST_ANCHOR
    return Cell(cert.entity_id, cert.public_key), SUCCESS


def _issued_by_path(device: GbcsDevice, cert: SmkiCertificate, path: list[bytes]) -> bool:
    """`cert` is signed by a CA certificate of `path` that names it as issuer, and that
    CA certificate by the Root trust anchor when the device holds one."""
    root = device.trust.get(CellId(Role.ROOT, DS))
    for raw in path:
        try:
            ca = load_x509(raw)
        except ValueError:
            continue
        if ca.subject != cert.certificate.issuer or not _signed_by(cert.certificate,
                                                                   ca.public_key()):
            continue
        if root is None or _signed_by(ca, root.key):
            return True
    return False


def _signed_by(cert: x509.Certificate, key: object) -> bool:
    if not isinstance(key, ec.EllipticCurvePublicKey):
        return False
    try:
        key.verify(cert.signature, cert.tbs_certificate_bytes,
                   ec.ECDSA(cert.signature_hash_algorithm or hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def _seq_number_changes(control: Node, planned: list) -> list[dict]:
    """The new party's floor (for the role of the replaced cells) and the other roles'
    floors, as the command gives them."""
    out = []
    floor = control.get("new_remote_party_floor_seq_number")
    if floor is not None and planned:
        change = {"remote_party_role": ROLE_CODES[planned[0][0].role],
                  "floor_seq_number": floor.value}
        specialist = control.get("new_remote_party_specialist_floor_seq_numbers")
        if specialist is not None:
            change["specialist_floor_seq_numbers"] = _specialists(specialist)
        out.append(change)
    others = control.get("other_remote_party_seq_number_changes")
    for node in others.children if others is not None else ():
        change = {"remote_party_role": node["remote_party_role"].value,
                  "floor_seq_number": node["floor_seq_number"].value}
        specialist = node.get("specialist_floor_seq_numbers")
        if specialist is not None:
            change["specialist_floor_seq_numbers"] = _specialists(specialist)
        out.append(change)
    return out


def _specialists(node: Node) -> list[dict]:
    return [{"seq_number_usage": s["seq_number_usage"].value,
             "seq_number": s["seq_number"].value} for s in node.children]


def _apply_floors(device: GbcsDevice, changes: list[dict]) -> None:
    """Raise each role's anti-replay floor (counters only grow) and keep the
    specialist (prepayment top-up) floors."""
    specialist = dict(device.store.get(SPECIALIST_FLOORS) or {})
    for change in changes:
        role = ROLES_BY_CODE.get(change["remote_party_role"])
        anchor = device.anchors.get(role) if role is not None else None
        if anchor is None:
            continue
        if change["floor_seq_number"] > device.store.highest(anchor.eui):
            device.store.accept(anchor.eui, change["floor_seq_number"])
        for s in change.get("specialist_floor_seq_numbers", ()):
            specialist[f"{role.value}/{s['seq_number_usage']}"] = s["seq_number"]
    device.store.put(SPECIALIST_FLOORS, specialist)


# -- CS02c / CS02d / CS02e --------------------------------------------------------------


def _usage_of(accepted: Accepted, name: str) -> str | None:
    node = payload(accepted, name)["key_usage"]
    return USAGE_WORDS.get(node.human or "")


def issue_credentials(device: GbcsDevice, accepted: Accepted) -> Node:
    """A new key pair for DS or KA, kept pending, and the certification request."""
    usage = _usage_of(accepted, "issue_security_credentials")
    if usage is None:
        return asn1.build(0x000A, CRA_RESPONSE, {"response_code": 1})
    if accepted.use_case.code in device.hardware_faults:
        return asn1.build(0x000A, CRA_RESPONSE, {"response_code": 3})
    key = crypto.generate_private_key()
    hold_pending_key(device.store, usage, key)
    return asn1.build(0x000A, CRA_RESPONSE, {
        "certification_request": certification_request(device.eui, key, usage)})


def hold_pending_key(store: NonVolatileStore, usage: str, key: crypto.PrivateKey) -> None:
    """Keep `key` (DS or KA) pending until a CS02d certificate for it arrives."""
    pending = dict(store.get(PENDING_KEYS) or {})
    pending[usage] = _private_bytes(key)
    store.put(PENDING_KEYS, pending)


def certification_request(eui: bytes, key: crypto.PrivateKey, usage: str) -> bytes:
    """The PKCS#10 request GBCS has a device send: empty subject, the key usage and the
    device id (hardwareModuleName) as critical requested extensions."""
    hw_type = asn1_oid(HW_TYPE_OID)
    module = b"\x30" + bytes([len(hw_type) + 10]) + hw_type + b"\x04\x08" + eui
    usage_ext = x509.KeyUsage(
        digital_signature=usage == DS, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=usage == KA, key_cert_sign=False,
        crl_sign=False, encipher_only=False, decipher_only=False)
    request = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([]))
               .add_extension(usage_ext, critical=True)
               .add_extension(x509.SubjectAlternativeName(
                   [x509.OtherName(HARDWARE_MODULE_NAME, module)]), critical=True)
               .sign(key, hashes.SHA256()))
    return request.public_bytes(serialization.Encoding.DER)


def asn1_oid(dotted: str) -> bytes:
    body = oid_bytes(dotted)
    return b"\x06" + bytes([len(body)]) + body


UPDATE_INVALID, UPDATE_WRONG_IDENTITY, UPDATE_INVALID_USAGE = 1, 2, 3
UPDATE_NO_KEY_PAIR, UPDATE_WRONG_KEY, UPDATE_STORAGE_FAILED = 4, 5, 6


def update_device_certificate(device: GbcsDevice, accepted: Accepted) -> Node:
    """Install a device certificate for the key pair CS02c left pending."""
    raw = encode(payload(accepted, "device_certificate"))
    return asn1.build(0x000B, CRA_RESPONSE, _install(device, raw))


def _install(device: GbcsDevice, raw: bytes) -> int:
    try:
        usage = load_x509(raw).extensions.get_extension_for_class(x509.KeyUsage).value
    except (ValueError, x509.ExtensionNotFound):
        return UPDATE_INVALID
    if [usage.digital_signature, usage.key_agreement].count(True) != 1 or \
            usage.content_commitment or usage.key_cert_sign:
        return UPDATE_INVALID_USAGE
    try:
        cert = parse_certificate(raw)
    except GbcsCertificateError:
        return UPDATE_INVALID
    if cert.kind != "device" or cert.entity_id != device.eui:
        return UPDATE_WRONG_IDENTITY
    if cert.key_usage not in (DS, KA):
        return UPDATE_INVALID_USAGE
    pending = dict(device.store.get(PENDING_KEYS) or {})
    if cert.key_usage not in pending:
        return UPDATE_NO_KEY_PAIR
    key = crypto.private_key_from_bytes(pending[cert.key_usage])
    if crypto.public_key_xy(key.public_key()) != cert.public_key_raw:
        return UPDATE_WRONG_KEY
    if 0x000B in device.hardware_faults:  # the board's fault injection
        return UPDATE_STORAGE_FAILED
    del pending[cert.key_usage]
    device.store.put(PENDING_KEYS, pending)
    _install_device_key(device, cert.key_usage, key, cert.der)
    return SUCCESS


def provide_device_certificate(device: GbcsDevice, accepted: Accepted) -> Node:
    usage = _usage_of(accepted, "provide_device_certificate")
    if usage is None:
        return asn1.build(0x000C, CRA_RESPONSE, {"response_code": 1})
    held = (device.credentials.ds_certificate if usage == DS
            else device.credentials.ka_certificate)
    if accepted.use_case.code in device.hardware_faults:
        return asn1.build(0x000C, CRA_RESPONSE, {"response_code": 3})
    if held is None:
        return asn1.build(0x000C, CRA_RESPONSE, {"response_code": 2})
    return asn1.provide_device_certificate_response(held)
