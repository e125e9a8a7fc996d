"""The ZigBee NWK frame: header, optional auxiliary security header, payload.

Header: frame control (type, protocol version, discover route, multicast, security, source
route, destination/source IEEE present, end-device initiator), destination and source short
addresses, radius, sequence number, then the optional destination IEEE, source IEEE,
multicast control and source route subframe. NWK security uses the network key at level 5
with the extended nonce (the sender's IEEE address in the auxiliary header).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import IntEnum

from han.frames.errors import FrameSecurityError
from han.frames.reader import Reader, le, require
from han.frames.security import (
    AuxSecurityHeader,
    FrameCounters,
    KeyIdentifier,
    decode_aux,
    open_counted,
    seal,
)

PROTOCOL_VERSION_PRO = 2


class NwkFrameType(IntEnum):
    DATA = 0
    COMMAND = 1


INTER_PAN = 3  # a stub header of frame control only (ZSE inter-PAN): not decoded here


@dataclass(frozen=True)
class SourceRoute:
    relay_index: int
    relays: tuple[int, ...]


@dataclass(frozen=True)
class NwkHeader:
    """The NWK header. The presence flags in frame control follow from the optional fields
    (an IEEE address, multicast control or source route is sent exactly when it is set)."""

    frame_type: NwkFrameType
    destination: int
    source: int
    radius: int
    sequence_number: int
    protocol_version: int = PROTOCOL_VERSION_PRO
    discover_route: int = 0
    security: bool = False
    end_device_initiator: bool = False
    destination_ieee: int | None = None
    source_ieee: int | None = None
    multicast_control: int | None = None
    source_route: SourceRoute | None = None


@dataclass(frozen=True)
class NwkFrame:
    """A decoded frame. `payload` is the plaintext NWK payload (for a secured frame after
    it has been opened); `aux` is the auxiliary security header of a secured frame."""

    header: NwkHeader
    payload: bytes
    aux: AuxSecurityHeader | None = None


def encode_nwk_header(h: NwkHeader) -> bytes:
    require(h.frame_type in set(NwkFrameType), "a NWK frame is a data or command frame",
            "nwk.frame_type")
    require(0 <= h.protocol_version < 16, "protocol version is 4 bits", "nwk.protocol_version")
    require(0 <= h.discover_route < 4, "discover route is 2 bits", "nwk.discover_route")
    control = (int(h.frame_type) | h.protocol_version << 2 | h.discover_route << 6
               | (h.multicast_control is not None) << 8 | h.security << 9
               | (h.source_route is not None) << 10 | (h.destination_ieee is not None) << 11
               | (h.source_ieee is not None) << 12 | h.end_device_initiator << 13)
    out = bytearray(le(control, 2, "nwk.frame_control"))
    out += le(h.destination, 2, "nwk.destination")
    out += le(h.source, 2, "nwk.source")
    out += le(h.radius, 1, "nwk.radius")
    out += le(h.sequence_number, 1, "nwk.sequence_number")
    if h.destination_ieee is not None:
        out += le(h.destination_ieee, 8, "nwk.destination_ieee")
    if h.source_ieee is not None:
        out += le(h.source_ieee, 8, "nwk.source_ieee")
    if h.multicast_control is not None:
        out += le(h.multicast_control, 1, "nwk.multicast_control")
    if h.source_route is not None:
        relays = h.source_route.relays
        require(len(relays) < 256, "at most 255 relays", "nwk.source_route.relays")
        out += le(len(relays), 1, "nwk.source_route.relay_count")
        out += le(h.source_route.relay_index, 1, "nwk.source_route.relay_index")
        for i, relay in enumerate(relays):
            out += le(relay, 2, f"nwk.source_route.relays[{i}]")
    return bytes(out)


def decode_nwk_header(r: Reader) -> NwkHeader:
    control = r.uint(2, "nwk.frame_control")
    frame_type = control & 0x3
    if frame_type == INTER_PAN:
        raise r.fail("inter-PAN frames (stub NWK header) are not supported",
                     "nwk.frame_control.frame_type", 0)
    if frame_type == 2:
        raise r.fail("reserved NWK frame type 2", "nwk.frame_control.frame_type", 0)
    if control & 0xC000:
        raise r.fail("reserved bits set in NWK frame control", "nwk.frame_control", 1)
    destination = r.uint(2, "nwk.destination")
    source = r.uint(2, "nwk.source")
    radius = r.u8("nwk.radius")
    sequence = r.u8("nwk.sequence_number")
    dst_ieee = r.uint(8, "nwk.destination_ieee") if control & 0x0800 else None
    src_ieee = r.uint(8, "nwk.source_ieee") if control & 0x1000 else None
    multicast = r.u8("nwk.multicast_control") if control & 0x0100 else None
    route = None
    if control & 0x0400:
        count = r.u8("nwk.source_route.relay_count")
        index = r.u8("nwk.source_route.relay_index")
        route = SourceRoute(index, tuple(r.uint(2, f"nwk.source_route.relays[{i}]")
                                         for i in range(count)))
    return NwkHeader(NwkFrameType(frame_type), destination, source, radius, sequence,
                     (control >> 2) & 0xF, (control >> 6) & 0x3, bool(control & 0x0200),
                     bool(control & 0x2000), dst_ieee, src_ieee, multicast, route)


def encode_nwk(header: NwkHeader, payload: bytes) -> bytes:
    """An unsecured NWK frame."""
    require(not header.security, "a secured frame is built with secure_nwk", "nwk.security")
    return encode_nwk_header(header) + bytes(payload)


def decode_nwk(data: bytes, base: int = 0) -> NwkFrame:
    """An unsecured NWK frame (a secured one needs `unsecure_nwk` and the network key)."""
    r = Reader(data, base)
    header = decode_nwk_header(r)
    if header.security:
        raise r.fail("the frame is secured: open it with unsecure_nwk", "nwk.security", 0)
    return NwkFrame(header, r.rest())


def secure_nwk(header: NwkHeader, payload: bytes, network_key: bytes, frame_counter: int,
               source_ieee: int, key_sequence_number: int) -> bytes:
    """A secured NWK frame: header (security bit set) || aux header || CCM*(payload)."""
    header = replace(header, security=True)
    head = encode_nwk_header(header)
    aux = AuxSecurityHeader(KeyIdentifier.NETWORK, frame_counter, source_ieee,
                            key_sequence_number)
    return head + seal(network_key, head, aux, payload, source_ieee, "nwk.aux")


def unsecure_nwk(data: bytes, network_key: bytes, counters: FrameCounters,
                 base: int = 0) -> NwkFrame:
    """Decode and open a secured NWK frame, enforcing `counters` (updated on success)."""
    r = Reader(data, base)
    header = decode_nwk_header(r)
    if not header.security:
        raise r.fail("the frame is not secured", "nwk.security", 0)
    head_end = r.pos
    aux = decode_aux(r, "nwk.aux")
    if aux.key_identifier != KeyIdentifier.NETWORK:
        raise FrameSecurityError(f"NWK frames are secured with the network key, not "
                                 f"{aux.key_identifier.name}", base + head_end,
                                 "nwk.aux.key_identifier")
    source = aux.source_address if aux.source_address is not None else header.source_ieee
    offset = r.offset
    plaintext = open_counted(network_key, bytes(data[:head_end]), aux, r.rest(), source,
                             counters, base + head_end, offset, "nwk.aux")
    return NwkFrame(header, plaintext, aux)

