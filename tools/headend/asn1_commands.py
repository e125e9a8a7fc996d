"""Commands whose GBCS content is ASN.1 DER (`gbcs.asn1`): the device's join details,
the gas meter's clock, new key pairs and certificates, unjoining and firmware
activation, each from the DUIS body's fields; and, with them, the comms hub's device
log backup (CCS07), whose content is DLMS.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
from typing import Callable

from gbcs import asn1
from gbcs.axdr import data_node
from gbcs.node import Node
from tools.headend.access import Device
from tools.headend.context import Context, integer
from tools.headend.duis import E11, E19, DuisError, eui, parse_datetime

# DUIS CredentialType -> the key usage GBCS asks the device for.
_KEY_USAGE = {"Digital Signature": "DS", "Key Agreement": "KA"}
# CS06: DUIS's 3000-12-31 cancels a future-dated activation; GBCS says so with the
# largest date-time.
_CANCEL_YEAR = 3000
_CANCELLED = _dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=_dt.timezone.utc)
_HASH_BYTES = 32
_CS04B = 0x0010


# SMI device types -> GBCS's (Type 2 devices are one type to GBCS).
_GBCS_DEVICE_TYPES = {"GSME": "gsme", "ESME": "esme", "CHF": "chf", "GPF": "gpf",
                      "HCALCS": "hcalcs", "PPMID": "ppmid", "IHD": "type2", "CAD": "type2"}
_JOIN_METHOD = {"CS03A1": "methodAInitiator", "CS03B": "methodB"}
_JOIN_CODES = {"CS03A1": 0x000D, "CS03B": 0x000E}


def other_device(ctx: Context, name: str) -> Device:
    """The device the body's `name` element names, as the SMI knows it (E19 if not)."""
    text = ctx.field(name)
    try:
        found = eui(text)
        if len(found) != 8:
            raise ValueError
    except ValueError:
        raise DuisError(None, f"{name} {text!r} is not an EUI-64", _path(ctx, name)) from None
    device = ctx.inventory(found) if ctx.inventory is not None else None
    if device is None:
        raise DuisError(E19, f"{name} {text} is not in the inventory", _path(ctx, name))
    if device.device_type not in _GBCS_DEVICE_TYPES:
        raise DuisError(E11, f"{name} {text} is a {device.device_type}", _path(ctx, name))
    return device


def gbcs_device_type(device: Device) -> int:
    """The GBCS device type code (device logs, CCS01) of an SMI device."""
    name = _GBCS_DEVICE_TYPES[device.device_type]
    return next(code for code, text in asn1.DEVICE_TYPES.items() if text == name)


def _join(uc: str) -> Callable[[Context], Node]:
    """CS03A1 (critical, the meter initiates CBKE), CS03B (non-critical): join the other
    device, its type from the SMI."""
    def build(ctx: Context) -> Node:
        device = other_device(ctx, "OtherDeviceID")
        return asn1.join_command(_JOIN_CODES[uc], _JOIN_METHOD[uc], device.eui,
                                 _GBCS_DEVICE_TYPES[device.device_type])
    return build


def _path(ctx: Context, name: str = "") -> str:
    return f"Request/Body/{ctx.request.service}" + (f"/{name}" if name else "")


def _join_details(ctx: Context) -> Node:
    """CS07: the device's join details (its device log)."""
    return asn1.read_device_join_details_command()


# The comms hub's device logs: its own (HAN devices) and the GPF's (PPMID, Type 2), each
# with the backup method (4) that answers with the log's entries and their link keys.
_CHF_DEVICE_LOGS = (bytes((0, 0, 30, 3, 0, 255)), bytes((0, 0, 30, 3, 1, 255)))
_DEVICE_LOG_CLASS, _BACKUP = 104, 4


def _chf_device_logs(ctx: Context) -> list[tuple]:
    """CCS07 (8.9 ReadSecurityDetails): back up both of the hub's device logs. The
    content is DLMS (actions); it sits with CS07, the other device log read."""
    return [("action", _DEVICE_LOG_CLASS, log, _BACKUP, data_node("", None, "null-data"))
            for log in _CHF_DEVICE_LOGS]


def _gas_clock(ctx: Context) -> Node:
    """GCS28 (6.11, and 8.1.1 commissioning a gas meter): set the clock when the command
    arrives within CurrentDateTime plus TolerancePeriod seconds."""
    start = parse_datetime(ctx.field("CurrentDateTime"), _path(ctx, "CurrentDateTime"))
    tolerance = integer(ctx, "TolerancePeriod", 0, 0xFFFFFFFF)
    return asn1.set_time_command(start, start + _dt.timedelta(seconds=tolerance))


def _key_usage(ctx: Context) -> str:
    text = ctx.field("CredentialType")
    if text not in _KEY_USAGE:
        raise DuisError(None, f"CredentialType {text!r}", _path(ctx, "CredentialType"))
    return _KEY_USAGE[text]


def _issue_credentials(ctx: Context) -> Node:
    """CS02c: generate a new key pair of the usage asked for and return a request for its
    certificate."""
    return asn1.issue_security_credentials_command(_key_usage(ctx))


def _device_certificate(ctx: Context) -> Node:
    """CS02e: return the device's certificate of the usage asked for."""
    return asn1.provide_device_certificate_command(_key_usage(ctx))


def _update_device_certificate(ctx: Context) -> Node:
    """CS02d: install the device certificate the DUIS body carries (base64 DER), issued
    for the key pair a CS02c left pending on the device."""
    text = ctx.field("DeviceCertificate")
    try:
        der = base64.b64decode("".join(text.split()), validate=True)
    except binascii.Error:
        der = b""
    if not der.startswith(b"\x30"):
        raise DuisError(None, "DeviceCertificate is not a base64 DER certificate",
                        _path(ctx, "DeviceCertificate"))
    return asn1.update_device_certificate_command(der)


def _unjoin(ctx: Context) -> Node:
    """CS04B: forget the other device (non-critical unjoin)."""
    text = ctx.field("OtherDeviceID")
    try:
        other = eui(text)
        if len(other) != 8:
            raise ValueError
    except ValueError:
        raise DuisError(None, f"OtherDeviceID {text!r} is not an EUI-64",
                        _path(ctx, "OtherDeviceID")) from None
    return asn1.unjoin_command(_CS04B, other)


def _activate_firmware(ctx: Context) -> Node:
    """CS06: activate the image with the request's hash now, at the execution
    date-time, or cancel a future-dated activation; the command's own counter is the
    request's."""
    text = ctx.field("FirmwareHash")
    try:
        image_hash = bytes.fromhex(text)
    except ValueError:
        image_hash = b""
    if len(image_hash) != _HASH_BYTES:
        raise DuisError(None, f"FirmwareHash {text!r} is not {_HASH_BYTES} bytes of hex",
                        _path(ctx, "FirmwareHash"))
    when = ctx.request.execution_datetime
    if when is not None and when.year >= _CANCEL_YEAR:
        when = _CANCELLED
    return asn1.activate_firmware_command(image_hash, ctx.counter, when)


BUILDERS: dict[str, Callable[[Context], Node | list[tuple]]] = {
    "CS07": _join_details, "CCS07": _chf_device_logs, "GCS28": _gas_clock,
    "CS02c": _issue_credentials, "CS02d": _update_device_certificate,
    "CS02e": _device_certificate, "CS04B": _unjoin, "CS06": _activate_firmware,
    "CS03A1": _join("CS03A1"), "CS03B": _join("CS03B"),
}
