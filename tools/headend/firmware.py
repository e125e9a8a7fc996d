"""SRV 11.1 Update Firmware and 11.4 Update PPMID Firmware: non-device requests whose
image the DCC hands to the comms hub of each listed device for distribution over the
HAN (the DCC's own path to the hub, not a GBCS command). The devices answer for
themselves: a meter verifies the image and alerts its Supplier (8F72, with the
manufacturer image hash), and SRV 11.3 (CS06) then activates it by that hash; a PPMID
activates it at once and says so (CS09, 8F8B). The hub reports the transfer (CCS08).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass

from tools.headend.duis import E11, E20, DuisError, ServiceRequest

VERSION_BYTES = 4          # GBCS firmware versions are four octets
_EUI = re.compile(r"^[0-9A-Fa-f]{2}(-[0-9A-Fa-f]{2}){7}$")
SRVS = {"11.1": "UpdateFirmware", "11.4": "UpdatePPMIDFirmware"}

# (device EUI, image, version): the lab wires this to its comms hub; ValueError when
# the hub cannot reach the device.
Distributor = Callable[[bytes, bytes, bytes], None]


@dataclass(frozen=True)
class FirmwareUpdate:
    image: bytes
    version: bytes
    devices: tuple[bytes, ...]


def parse_update(req: ServiceRequest) -> FirmwareUpdate:
    """The image, its version and the devices of an UpdateFirmware (or
    UpdatePPMIDFirmware) body; DuisError naming the element when one is not what DUIS
    says."""
    body, path = req.body, f"Request/Body/{req.service}"
    try:
        image = base64.b64decode(body.value("FirmwareImage", "") or "", validate=True)
    except binascii.Error as err:
        raise DuisError(None, f"FirmwareImage is not base64: {err}",
                        f"{path}/FirmwareImage") from None
    if not image:
        raise DuisError(None, "FirmwareImage is empty", f"{path}/FirmwareImage")
    text = (body.value("FirmwareVersion", "") or "").strip()
    if not re.fullmatch(r"[0-9A-Fa-f]{1,8}", text):
        raise DuisError(None, f"FirmwareVersion {text!r}: expected up to 8 hex digits "
                        "(four octets)", f"{path}/FirmwareVersion")
    version = bytes.fromhex(text.rjust(2 * VERSION_BYTES, "0"))
    listed = (body.value("DeviceIDList", "") or "").split(",")
    bad = [d for d in listed if not _EUI.match(d.strip())]
    if bad:
        raise DuisError(None, f"DeviceIDList: {bad[0].strip()!r} is not an EUI-64",
                        f"{path}/DeviceIDList")
    devices = tuple(bytes.fromhex(d.strip().replace("-", "")) for d in listed)
    return FirmwareUpdate(image, version, devices)


def distribute(update: FirmwareUpdate, distributor: Distributor | None) -> None:
    """Hand the image over for each device; E11 when no comms hub path is wired, E20
    when a hub cannot reach its device."""
    if distributor is None:
        raise DuisError(E11, "no firmware distribution path to the comms hubs",
                        "Request/Body")
    for eui in update.devices:
        try:
            distributor(eui, update.image, update.version)
        except ValueError as err:
            raise DuisError(E20, str(err), "Request/Body/DeviceIDList") from None
