"""APS command frame payloads: the trust centre's key management commands.

The payload of an APS command frame is a command id and its fields (IEEE addresses and keys
in frame order, addresses little-endian). Transport Key delivers the network key (secured
with the key-transport key) or a link key (key-load key); Update Device tells the trust
centre of a join or leave; Remove Device asks a router to drop a child; Request Key asks for
a key; Switch Key makes a delivered network key active. Other commands (tunnel, verify/
confirm key) are kept as their raw bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from gbcs.errors import GbcsEncodeError
from han.frames.reader import Reader, le, require
from han.frames.security import KEY_LENGTH


class ApsCommandId(IntEnum):
    TRANSPORT_KEY = 0x05
    UPDATE_DEVICE = 0x06
    REMOVE_DEVICE = 0x07
    REQUEST_KEY = 0x08
    SWITCH_KEY = 0x09


class KeyType(IntEnum):
    """Key type of Transport Key and Request Key (ZigBee PRO)."""

    STANDARD_NETWORK_KEY = 0x01
    APPLICATION_LINK_KEY = 0x03
    TRUST_CENTER_LINK_KEY = 0x04


class RequestKeyType(IntEnum):
    """Key type of Request Key (numbered apart from Transport Key's)."""

    APPLICATION_LINK_KEY = 0x02
    TRUST_CENTER_LINK_KEY = 0x04


class UpdateDeviceStatus(IntEnum):
    STANDARD_SECURED_REJOIN = 0
    STANDARD_UNSECURED_JOIN = 1
    DEVICE_LEFT = 2
    STANDARD_TRUST_CENTER_REJOIN = 3


@dataclass(frozen=True)
class TransportNetworkKey:
    key: bytes
    sequence_number: int
    destination_address: int
    source_address: int


@dataclass(frozen=True)
class TransportTrustCenterLinkKey:
    key: bytes
    destination_address: int
    source_address: int


@dataclass(frozen=True)
class TransportApplicationLinkKey:
    key: bytes
    partner_address: int
    initiator: bool


@dataclass(frozen=True)
class UpdateDevice:
    device_address: int
    short_address: int
    status: UpdateDeviceStatus


@dataclass(frozen=True)
class RemoveDevice:
    target_address: int


@dataclass(frozen=True)
class RequestKey:
    """Request Key: a partner address is sent only for an application link key."""

    key_type: RequestKeyType
    partner_address: int | None = None


@dataclass(frozen=True)
class SwitchKey:
    sequence_number: int


@dataclass(frozen=True)
class RawApsCommand:
    command_id: int
    payload: bytes


ApsCommand = (TransportNetworkKey | TransportTrustCenterLinkKey | TransportApplicationLinkKey
              | UpdateDevice | RemoveDevice | RequestKey | SwitchKey | RawApsCommand)


def _key(key: bytes, field: str) -> bytes:
    require(isinstance(key, (bytes, bytearray)) and len(key) == KEY_LENGTH,
            f"a key is {KEY_LENGTH} bytes", field)
    return bytes(key)


def encode_aps_command(command: ApsCommand) -> bytes:
    """Command id and fields: the payload of an APS command frame (before APS security)."""
    c, w = command, "aps.command"
    if isinstance(c, TransportNetworkKey):
        return (bytes([ApsCommandId.TRANSPORT_KEY, KeyType.STANDARD_NETWORK_KEY])
                + _key(c.key, f"{w}.key") + le(c.sequence_number, 1, f"{w}.sequence_number")
                + le(c.destination_address, 8, f"{w}.destination_address")
                + le(c.source_address, 8, f"{w}.source_address"))
    if isinstance(c, TransportTrustCenterLinkKey):
        return (bytes([ApsCommandId.TRANSPORT_KEY, KeyType.TRUST_CENTER_LINK_KEY])
                + _key(c.key, f"{w}.key")
                + le(c.destination_address, 8, f"{w}.destination_address")
                + le(c.source_address, 8, f"{w}.source_address"))
    if isinstance(c, TransportApplicationLinkKey):
        return (bytes([ApsCommandId.TRANSPORT_KEY, KeyType.APPLICATION_LINK_KEY])
                + _key(c.key, f"{w}.key") + le(c.partner_address, 8, f"{w}.partner_address")
                + bytes([bool(c.initiator)]))
    if isinstance(c, UpdateDevice):
        return (bytes([ApsCommandId.UPDATE_DEVICE]) + le(c.device_address, 8,
                f"{w}.device_address") + le(c.short_address, 2, f"{w}.short_address")
                + le(int(c.status), 1, f"{w}.status"))
    if isinstance(c, RemoveDevice):
        return bytes([ApsCommandId.REMOVE_DEVICE]) + le(c.target_address, 8,
                                                        f"{w}.target_address")
    if isinstance(c, RequestKey):
        with_partner = c.key_type == RequestKeyType.APPLICATION_LINK_KEY
        require(c.key_type in set(RequestKeyType),
                "Request Key asks for an application or trust centre link key",
                f"{w}.key_type")
        require(with_partner == (c.partner_address is not None),
                "a partner address is sent exactly for an application link key",
                f"{w}.partner_address")
        out = bytes([ApsCommandId.REQUEST_KEY, c.key_type])
        return out + (le(c.partner_address, 8, f"{w}.partner_address") if with_partner else b"")
    if isinstance(c, SwitchKey):
        return bytes([ApsCommandId.SWITCH_KEY]) + le(c.sequence_number, 1,
                                                     f"{w}.sequence_number")
    if isinstance(c, RawApsCommand):
        require(c.command_id not in set(ApsCommandId),
                "a known command is encoded from its own type", f"{w}.command_id")
        return le(c.command_id, 1, f"{w}.command_id") + bytes(c.payload)
    raise GbcsEncodeError(f"not an APS command: {type(c).__name__}", w)


def decode_aps_command(payload: bytes, base: int = 0) -> ApsCommand:
    """The command in an APS command frame's (opened) payload; `base` is its frame offset."""
    r = Reader(payload, base)
    w = "aps.command"
    command_id = r.u8(f"{w}.command_id")
    result: ApsCommand
    if command_id == ApsCommandId.TRANSPORT_KEY:
        key_type = r.u8(f"{w}.key_type")
        if key_type == KeyType.STANDARD_NETWORK_KEY:
            result = TransportNetworkKey(r.take(16, f"{w}.key"), r.u8(f"{w}.sequence_number"),
                                         r.uint(8, f"{w}.destination_address"),
                                         r.uint(8, f"{w}.source_address"))
        elif key_type == KeyType.TRUST_CENTER_LINK_KEY:
            result = TransportTrustCenterLinkKey(r.take(16, f"{w}.key"),
                                                 r.uint(8, f"{w}.destination_address"),
                                                 r.uint(8, f"{w}.source_address"))
        elif key_type == KeyType.APPLICATION_LINK_KEY:
            key, partner = r.take(16, f"{w}.key"), r.uint(8, f"{w}.partner_address")
            initiator = r.u8(f"{w}.initiator")
            if initiator > 1:
                raise r.fail(f"initiator flag is {initiator}, not 0 or 1", f"{w}.initiator",
                             r.pos - 1)
            result = TransportApplicationLinkKey(key, partner, bool(initiator))
        else:
            raise r.fail(f"unsupported key type 0x{key_type:02X}", f"{w}.key_type", 1)
    elif command_id == ApsCommandId.UPDATE_DEVICE:
        device, short = r.uint(8, f"{w}.device_address"), r.uint(2, f"{w}.short_address")
        status = r.u8(f"{w}.status")
        if status > 3:
            raise r.fail(f"reserved Update Device status {status}", f"{w}.status", r.pos - 1)
        result = UpdateDevice(device, short, UpdateDeviceStatus(status))
    elif command_id == ApsCommandId.REMOVE_DEVICE:
        result = RemoveDevice(r.uint(8, f"{w}.target_address"))
    elif command_id == ApsCommandId.REQUEST_KEY:
        key_type = r.u8(f"{w}.key_type")
        if key_type == RequestKeyType.APPLICATION_LINK_KEY:
            result = RequestKey(RequestKeyType.APPLICATION_LINK_KEY,
                                r.uint(8, f"{w}.partner_address"))
        elif key_type == RequestKeyType.TRUST_CENTER_LINK_KEY:
            result = RequestKey(RequestKeyType.TRUST_CENTER_LINK_KEY)
        else:
            raise r.fail(f"unsupported requested key type 0x{key_type:02X}", f"{w}.key_type", 1)
    elif command_id == ApsCommandId.SWITCH_KEY:
        result = SwitchKey(r.u8(f"{w}.sequence_number"))
    else:
        return RawApsCommand(command_id, r.rest())
    r.expect_end(w)
    return result
