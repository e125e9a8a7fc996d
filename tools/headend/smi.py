"""Smart Metering Inventory requests the DCC answers itself (non-device, command variant 8):
12.2 Device Pre-notification, 8.2 Read Inventory, 8.3 Decommission Device, 8.4 Update
Inventory and 8.14.1-8.14.4 Communications Hub Status Update.

A device enters the SMI Pending (pre-notification); a comms hub's installation makes it
Commissioned (SM WAN) or InstalledNotCommissioned (no SM WAN), its return Withdrawn; a
supplier moves a meter between Pending and InstalledNotCommissioned, commissions it with
8.1.1, and decommissions it (8.3). Each request changes the SMI only once every check has
passed, so a refused one changes nothing.
"""

from __future__ import annotations

import datetime as _dt

from tools.headend.access import (COMMISSIONED, DECOMMISSIONED, INSTALLED_NOT_COMMISSIONED,
                                  PENDING, WHITELISTED, WITHDRAWN, Device, Inventory, User)
from tools.headend.duis import (E4, E5, E11, E19, I0, I99, DuisError, Element, ServiceRequest,
                                ServiceResponse, eui, eui_text)

SRVS = frozenset(("12.2", "8.2", "8.3", "8.4", "8.14.1", "8.14.2", "8.14.3", "8.14.4"))
# DUIS reads at most 17 devices into one DSPInventory.
MAX_INVENTORY = 17
_HUBS = ("CHF", "GPF")
DEVICE_TYPES = ("ESME", "GSME", "GPF", "CHF", "HCALCS", "PPMID", "IHD", "CAD")
# DUIS ESMEVariant: the first letter is the element arrangement (A single, B twin,
# C polyphase); the head end's variant names.
_ESME_VARIANTS = {"A": "", "B": "twin", "C": "polyphase"}
_CH_STATUS = {"8.14.1": COMMISSIONED, "8.14.2": INSTALLED_NOT_COMMISSIONED,
              "8.14.3": WITHDRAWN, "8.14.4": WITHDRAWN}
_METER_STATUS_FROM = (PENDING, WHITELISTED, INSTALLED_NOT_COMMISSIONED)


def handle(inventory: Inventory, user: User, req: ServiceRequest,
           now: _dt.datetime) -> ServiceResponse:
    """Apply one SMI request (the caller has checked the User's role for the SRV)."""
    body, path = req.body, f"Request/Body/{req.service}"
    if req.srv == "8.2":
        return _respond(req, now, I0, _read(inventory, body, path))
    device_id = _device_id(body, path)
    if req.srv == "12.2":
        _prenotify(inventory, device_id, body, path)
        return _respond(req, now, I99)
    device = inventory.device(device_id)
    if device is None:
        raise DuisError(E19, f"device {eui_text(device_id)} is not in the inventory",
                        f"{path}/DeviceID")
    _check_responsible(inventory, user, device, path)
    if req.srv == "8.3":
        if device.status not in (COMMISSIONED, INSTALLED_NOT_COMMISSIONED):
            raise DuisError(E5, f"a {device.status} device cannot be decommissioned", path)
        inventory.set_status(device.eui, DECOMMISSIONED)
    elif req.srv == "8.4":
        _update(inventory, device, body, path)
    else:
        if device.device_type != "CHF":
            raise DuisError(E11, f"{req.srv} is for a comms hub, not a {device.device_type}",
                            f"{path}/DeviceID")
        inventory.set_status(device.eui, _CH_STATUS[req.srv])
        if _CH_STATUS[req.srv] == COMMISSIONED:
            inventory.set_details(device.eui, commissioned=now.date().isoformat())
    return _respond(req, now, I99)


def _respond(req: ServiceRequest, now: _dt.datetime, code: str,
             content: Element | None = None) -> ServiceResponse:
    return ServiceResponse(code, now, req.request_id, None, req.service_reference, req.srv,
                           content=content)


def _device_id(body: Element, path: str) -> bytes:
    text = body.value("DeviceID")
    if not text:
        raise DuisError(None, "missing DeviceID", f"{path}/DeviceID")
    return eui(text)


def _check_responsible(inventory: Inventory, user: User, device: Device, path: str) -> None:
    """Only the User registered for the device's MPxN (in the User's role) may change it;
    a device nobody is registered for yet may be changed by any eligible User."""
    registered = inventory.responsible(device, user.role)
    if registered is not None and registered != user.eui:
        raise DuisError(E4, f"user {eui_text(user.eui)} ({user.role}) is not registered for "
                        f"device {eui_text(device.eui)}", f"{path}/DeviceID")


def _prenotify(inventory: Inventory, device_id: bytes, body: Element, path: str) -> None:
    existing = inventory.device(device_id)
    if existing is not None and existing.status != PENDING:
        raise DuisError(E5, f"device {eui_text(device_id)} is already {existing.status}",
                        f"{path}/DeviceID")
    device_type = body.value("DeviceType", "")
    if device_type not in DEVICE_TYPES:
        raise DuisError(None, f"DeviceType {device_type!r}", f"{path}/DeviceType")
    variant = _ESME_VARIANTS.get((body.value("ESMEVariant") or "A")[:1], "")
    inventory.add(Device(device_id, device_type, PENDING, variant=variant))
    inventory.set_details(device_id, manufacturer=body.value("DeviceManufacturer", ""),
                          model=body.value("DeviceModel", ""),
                          smets_version=body.value("SMETSCHTSVersion", ""),
                          firmware=body.value("FirmwareVersion", ""),
                          esme_variant=body.value("ESMEVariant", ""))


def _update(inventory: Inventory, device: Device, body: Element, path: str) -> None:
    status = body.value("UpdateDeviceStatusExceptCH")
    hub_status = body.value("UpdateDeviceStatusCH")
    if status is not None:
        if status not in (PENDING, INSTALLED_NOT_COMMISSIONED):
            raise DuisError(None, f"UpdateDeviceStatusExceptCH {status!r}",
                            f"{path}/UpdateDeviceStatusExceptCH")
        if device.device_type in _HUBS:
            raise DuisError(E11, f"use UpdateDeviceStatusCH for a {device.device_type}",
                            f"{path}/UpdateDeviceStatusExceptCH")
        if device.status not in _METER_STATUS_FROM:
            raise DuisError(E5, f"a {device.status} device cannot be made {status}", path)
        inventory.set_status(device.eui, status)
    elif hub_status is not None:
        if hub_status not in (COMMISSIONED, WITHDRAWN, INSTALLED_NOT_COMMISSIONED):
            raise DuisError(None, f"UpdateDeviceStatusCH {hub_status!r}",
                            f"{path}/UpdateDeviceStatusCH")
        if device.device_type not in _HUBS:
            raise DuisError(E11, f"UpdateDeviceStatusCH is for a comms hub, not a "
                            f"{device.device_type}", f"{path}/UpdateDeviceStatusCH")
        inventory.set_status(device.eui, hub_status)
    elif body.find("DeleteDevice") is not None:
        if device.status != PENDING:
            raise DuisError(E5, f"only a Pending device can be deleted, not a {device.status} "
                            "one", f"{path}/DeleteDevice")
        inventory.delete(device.eui)
    elif body.find("UpdateMPxN") is not None:
        mpxn = body.value("UpdateMPxN/ImportMPxN")
        if mpxn is None:
            raise DuisError(E11, "only the import MPxN can be updated here", f"{path}/UpdateMPxN")
        inventory.set_mpxn(device.eui, mpxn)
    elif body.find("UpdateDeviceDetails") is not None:
        details = body.find("UpdateDeviceDetails")
        fields = {"manufacturer": details.value("DeviceManufacturer"),
                  "model": details.value("DeviceModel"),
                  "smets_version": details.value("SMETSCHTSVersion"),
                  "firmware": details.value("FirmwareVersion"),
                  "esme_variant": details.value("ESMEVariant")}
        inventory.set_details(device.eui, **{k: v for k, v in fields.items() if v is not None})
    else:
        raise DuisError(None, "UpdateInventory names no update", path)


def _read(inventory: Inventory, body: Element, path: str) -> Element:
    """DSPInventory: the device asked for and those sharing its comms hub; or the devices
    of an MPxN (with their comms hub); or those at a property (UPRN, or postcode and
    address identifier)."""
    if body.find("DeviceID") is not None:
        device = inventory.device(_device_id(body, path))
        found = [] if device is None else _premises(inventory, device)
    elif body.find("MPxN") is not None:
        found = []
        for device in inventory.devices(mpxn=body.value("MPxN", "")):
            found += [d for d in _premises(inventory, device) if d not in found]
    elif body.find("UPRN") is not None:
        found = inventory.at_property(uprn=body.value("UPRN", ""))
    else:
        found = inventory.at_property(postcode=body.value("PropertyFilter/PostCode", ""),
                                      address=body.value("PropertyFilter/AddressIdentifier",
                                                         ""))
    if not found:
        raise DuisError(E19, "no device in the inventory matches", path)
    return Element("DSPInventory", children=tuple(
        _device_element(d, inventory.details(d.eui)) for d in found[:MAX_INVENTORY]))


def _premises(inventory: Inventory, device: Device) -> list[Device]:
    """`device` first, then the others on its comms hub (the hub itself included)."""
    hub = device.eui if device.device_type == "CHF" else device.chf
    others = [] if hub is None else [d for d in inventory.devices(chf=hub) if d != device]
    hub_device = inventory.device(hub) if hub is not None and hub != device.eui else None
    return [device] + ([hub_device] if hub_device else []) + others


def _device_element(device: Device, details: dict[str, str]) -> Element:
    def el(name: str, text: str) -> Element:
        return Element(name, text)
    children = [el("DeviceID", eui_text(device.eui)), el("DeviceType", device.device_type),
                el("DeviceStatus", device.status),
                el("DeviceManufacturer", details["manufacturer"]),
                el("DeviceModel", details["model"])]
    if details["smets_version"]:
        children.append(el("SMETSCHTSVersion", details["smets_version"]))
    if details["firmware"]:
        children.append(el("DeviceFirmwareVersion", details["firmware"]))
    if details["commissioned"]:
        children.append(el("DateCommissioned", details["commissioned"]))
    if device.mpxn:
        children.append(el("ImportMPxN", device.mpxn))
    if details["esme_variant"]:
        children.append(el("ESMEVariant", details["esme_variant"]))
    if details["uprn"]:
        children.append(el("UPRN", details["uprn"]))
    return Element("Device", children=tuple(children))
