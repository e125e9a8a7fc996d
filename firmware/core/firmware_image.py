"""The device's firmware image store and its activation (CS06).

An image reaches the device (over the HAN, from the CHF) with its version; the device
keeps one image and its SHA-256 manufacturer image hash. CS06 activates it when the
command's hash matches: now, or at the command's execution date-time (the outcome then
goes to the originator in alert 0x00CA, 8F66 success / 8F67 failure). CS08 reads the
running version.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from typing import TYPE_CHECKING

from firmware.core.credentials_ops import (
    CANCEL_TIME, FUTURE_DATE_FAILURE, FUTURE_DATE_SUCCESS, CredentialsCommandError, der_time,
    payload,
)
from firmware.core.hal import NonVolatileStore
from firmware.core.security import Accepted
from gbcs import asn1
from gbcs.content import CRA_RESPONSE
from gbcs.node import Node

if TYPE_CHECKING:
    from firmware.core.device import GbcsDevice

IMAGE_KEY = "firmware/image"
VERSION_KEY = "firmware/version"
SUCCESS, NO_IMAGE_HELD, HASH_MISMATCH, ACTIVATION_FAILURE = 0, 1, 2, 3
ACTIVATE_FIRMWARE_ALERT = 0x00CA


def image_hash(image: bytes) -> bytes:
    return hashlib.sha256(image).digest()


def store_image(store: NonVolatileStore, image: bytes, version: bytes) -> bytes:
    """Keep a received image (replacing any held) and give its hash."""
    digest = image_hash(image)
    store.put(IMAGE_KEY, {"hash": digest, "version": bytes(version), "size": len(image)})
    return digest


def running_version(device: GbcsDevice) -> bytes:
    return device.store.get(VERSION_KEY, device.firmware_version)


def activate(device: GbcsDevice, manufacturer_image_hash: bytes) -> tuple[int, bytes]:
    """Activate the held image if its hash matches: (response code, running version)."""
    held = device.store.get(IMAGE_KEY)
    if held is None:
        return NO_IMAGE_HELD, running_version(device)
    if held["hash"] != manufacturer_image_hash:
        return HASH_MISMATCH, running_version(device)
    if 0x0012 in device.hardware_faults:
        return ACTIVATION_FAILURE, running_version(device)
    device.store.put(VERSION_KEY, held["version"])
    device.store.delete(IMAGE_KEY)
    return SUCCESS, held["version"]


def read_firmware_version(device: GbcsDevice, accepted: Accepted) -> Node:
    """CS08: the running firmware version (readFailure when the board faults it)."""
    failed = accepted.use_case.code in device.hardware_faults
    return asn1.build(accepted.use_case.code, CRA_RESPONSE, {
        "firmware_version": b"" if failed else running_version(device),
        "response_code": 1 if failed else 0})


def _command(accepted: Accepted) -> tuple[bytes, _dt.datetime | None]:
    command = payload(accepted, "activate_firmware")
    counter = command["originator_counter"]
    if counter.value != accepted.originator_counter:
        raise CredentialsCommandError(
            f"payload originator counter {counter.value} is not the command's "
            f"{accepted.originator_counter}", counter.name, counter.offset)
    return command["manufacturer_image_hash"].value, der_time(
        command.get("execution_date_time"))


def activate_firmware(device: GbcsDevice, accepted: Accepted) -> Node:
    """CS06: activate now, queue for the execution date-time, or cancel the queued one."""
    digest, when = _command(accepted)
    if when is not None and when > device.now():
        if when >= CANCEL_TIME:
            device.future.cancel(accepted.use_case.use_case)
        else:
            device.future.add(accepted, when)
        return asn1.activate_firmware_response()
    code, version = activate(device, digest)
    return asn1.activate_firmware_response(code, version)


def run_future_activation(device: GbcsDevice, accepted: Accepted, when: _dt.datetime,
                          received: _dt.datetime) -> None:
    digest, _ = _command(accepted)
    code, version = activate(device, digest)
    body = asn1.activate_firmware_alert(
        FUTURE_DATE_SUCCESS if code == SUCCESS else FUTURE_DATE_FAILURE, when,
        accepted.originator_counter, code, version)
    device.raise_alert(ACTIVATE_FIRMWARE_ALERT, body, accepted.originator)
