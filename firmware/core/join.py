"""A meter's own device log: the devices it is joined to (CS03 join, CS04 unjoin,
CS07 read join details).

Joining records the other device (entity id, type, and for Method C its SMKI Device
KA certificate); the HAN side of a Method A join (CBKE, link keys) is the HAN's. The
certificate is what lets a device take commands from the other device itself: a GSME
joined to a PPMID by Method C checks the MAC of the PPMID's PCS01 / PCS02 with the ECDH
of its KA key and the certificate's (`firmware.core.security.device_originator`), so a
certificate that is not a device KA certificate is refused (invalidCertificate).
Unjoining (CS04AC / CS04B) removes the entry, and with it that device's right to send. `GbcsDevice.hardware_faults` (the board's fault injection) makes the log's
write or read fail (writeFailure, otherFailure, readFailure). The log holds a few entries (GBCS sizes it per device type): a full log answers
deviceLogFull; a device already logged with another type incompatibleWithExistingEntry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from firmware.core.credentials_ops import CredentialsCommandError, payload
from firmware.core.security import JOIN_LOG, Accepted
from gbcs import asn1
from gbcs.certificates import parse_certificate
from gbcs.errors import GbcsError
from gbcs.node import Node, encode

if TYPE_CHECKING:
    from firmware.core.device import GbcsDevice

JOIN_LOG_CAPACITY = 5
# Message code -> join methods it may carry (GBCS: A1 meter and A2 non-meter Method A,
# B and C), either role for Method A.
JOIN_METHODS = {0x000D: (0, 1), 0x00AB: (0, 1), 0x000E: (2,), 0x00AF: (3,)}
SUCCESS, INVALID_METHOD_FOR_CODE, INVALID_JOIN_METHOD_AND_ROLE = 0, 1, 2
INCOMPATIBLE, LOG_FULL, WRITE_FAILURE, INVALID_CERTIFICATE = 3, 4, 5, 11
METHOD_C = 3  # the other device's certificate comes in the command, not over the HAN
GSME, GPF = 0, 3  # DeviceType: Method B joins only the GSME and its GPF
NOT_IN_LOG, OTHER_FAILURE = 1, 2
READ_FAILURE = 1


def entries(device: GbcsDevice) -> list[dict]:
    return list(device.store.get(JOIN_LOG) or [])


def join(device: GbcsDevice, accepted: Accepted) -> Node:
    command = payload(accepted, "join_device_command")
    code = accepted.use_case.code
    method = command["join_method_and_role"].value
    eui = command["other_device_entity_id"].value
    kind = command["other_device_type"].value
    if len(eui) != 8:
        raise CredentialsCommandError("other device entity id must be an EUI-64",
                                      "other_device_entity_id",
                                      command["other_device_entity_id"].offset)
    certificate = command.get("other_device_certificate")
    log = entries(device)
    known = next((e for e in log if e["eui"] == eui), None)
    if method not in JOIN_METHODS.get(code, ()):
        result = INVALID_METHOD_FOR_CODE
    elif (method == METHOD_C and certificate is None) or (
            certificate is not None and not _device_ka_certificate(encode(certificate))):
        result = INVALID_CERTIFICATE
    elif method == 2 and not _method_b_pair(device.device_type, kind):
        result = INVALID_JOIN_METHOD_AND_ROLE
    elif code in device.hardware_faults:
        result = WRITE_FAILURE
    elif known is not None and known["type"] != kind:
        result = INCOMPATIBLE
    elif known is None and len(log) >= JOIN_LOG_CAPACITY:
        result = LOG_FULL
    else:
        result = SUCCESS
        entry = {"eui": eui, "type": kind, "method": method,
                 "certificate": encode(certificate) if certificate is not None else None}
        device.store.put(JOIN_LOG, [e for e in log if e["eui"] != eui] + [entry])
    return asn1.join_response(code, result)


def _device_ka_certificate(der: bytes) -> bool:
    try:
        cert = parse_certificate(der)
    except GbcsError:
        return False
    return cert.kind == "device" and cert.key_usage == "KA"


def _method_b_pair(own: int | None, other: int) -> bool:
    return other in (GSME, GPF) and (own is None or {own, other} == {GSME, GPF})


def unjoin(device: GbcsDevice, accepted: Accepted) -> Node:
    eui = payload(accepted, "other_device_entity_id").value
    log = entries(device)
    kept = [e for e in log if e["eui"] != eui]
    if accepted.use_case.code in device.hardware_faults:
        return asn1.unjoin_response(accepted.use_case.code, OTHER_FAILURE)
    if len(kept) == len(log):
        return asn1.unjoin_response(accepted.use_case.code, NOT_IN_LOG)
    device.store.put(JOIN_LOG, kept)
    return asn1.unjoin_response(accepted.use_case.code, SUCCESS)


def read_join_details(device: GbcsDevice, accepted: Accepted) -> Node:
    if accepted.use_case.code in device.hardware_faults:
        return asn1.read_device_join_details_response(None, READ_FAILURE)
    return asn1.read_device_join_details_response(
        [(e["eui"], e["type"]) for e in entries(device)])
