"""The ZigBee APS frame: data, command and acknowledgement frames, and APS security.

Frame control (one byte): frame type, delivery mode, ack format, security, ack request,
extended header present. Data frames carry the destination endpoint (unicast, broadcast) or
group address (group), cluster id, profile id and source endpoint; acknowledgements carry
the same addressing unless the ack-format bit marks a command ack; every frame then carries
the APS counter and, when fragmented, the extended header. APS security protects the payload
(for commands, command id included) with a link key or a key derived from it.
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


class ApsFrameType(IntEnum):
    DATA = 0
    COMMAND = 1
    ACK = 2
    INTER_PAN = 3


class DeliveryMode(IntEnum):
    UNICAST = 0
    BROADCAST = 2
    GROUP = 3


class Fragmentation(IntEnum):
    NONE = 0
    FIRST = 1
    PART = 2


@dataclass(frozen=True)
class ExtendedHeader:
    """Fragmentation state; `block_number` is sent when fragmented, `ack_bitfield` when
    fragmented in an acknowledgement."""

    fragmentation: Fragmentation = Fragmentation.NONE
    block_number: int | None = None
    ack_bitfield: int | None = None


@dataclass(frozen=True)
class ApsHeader:
    """The APS header. Which of the addressing fields are set follows the frame type,
    delivery mode and ack format, and the encoder refuses a mismatch."""

    frame_type: ApsFrameType
    aps_counter: int
    delivery_mode: DeliveryMode = DeliveryMode.UNICAST
    ack_format: bool = False
    security: bool = False
    ack_request: bool = False
    destination_endpoint: int | None = None
    group_address: int | None = None
    cluster_id: int | None = None
    profile_id: int | None = None
    source_endpoint: int | None = None
    extended_header: ExtendedHeader | None = None


@dataclass(frozen=True)
class ApsFrame:
    """A decoded frame: `payload` is the plaintext (ZCL/ZDO frame, or command id and fields
    for a command frame); `aux` is the auxiliary security header of a secured frame."""

    header: ApsHeader
    payload: bytes
    aux: AuxSecurityHeader | None = None


def _addressed(frame_type: ApsFrameType, ack_format: bool) -> bool:
    return frame_type == ApsFrameType.DATA or (frame_type == ApsFrameType.ACK and not ack_format)


def _layout(h: ApsHeader) -> dict[str, bool]:
    """Which optional fields this header sends."""
    addressed = _addressed(h.frame_type, h.ack_format)
    return {
        "destination_endpoint": addressed and (h.frame_type == ApsFrameType.ACK
                                               or h.delivery_mode != DeliveryMode.GROUP),
        "group_address": addressed and h.frame_type == ApsFrameType.DATA
        and h.delivery_mode == DeliveryMode.GROUP,
        "cluster_id": addressed, "profile_id": addressed, "source_endpoint": addressed,
    }


_SIZES = {"destination_endpoint": 1, "group_address": 2, "cluster_id": 2, "profile_id": 2,
          "source_endpoint": 1}


def encode_aps_header(h: ApsHeader) -> bytes:
    require(h.frame_type != ApsFrameType.INTER_PAN,
            "inter-PAN APS frames are not carried in NWK frames", "aps.frame_type")
    control = (int(h.frame_type) | int(h.delivery_mode) << 2 | h.ack_format << 4
               | h.security << 5 | h.ack_request << 6 | (h.extended_header is not None) << 7)
    out = bytearray(le(control, 1, "aps.frame_control"))
    for name, sent in _layout(h).items():
        value = getattr(h, name)
        require(sent == (value is not None),
                f"{name} is {'required' if sent else 'not sent'} in this frame", f"aps.{name}")
        if sent:
            out += le(value, _SIZES[name], f"aps.{name}")
    out += le(h.aps_counter, 1, "aps.aps_counter")
    if h.extended_header is not None:
        e = h.extended_header
        fragmented = e.fragmentation != Fragmentation.NONE
        out += le(int(e.fragmentation), 1, "aps.extended_header.fragmentation")
        require(fragmented == (e.block_number is not None),
                "a block number is sent exactly when fragmented",
                "aps.extended_header.block_number")
        with_bitfield = fragmented and h.frame_type == ApsFrameType.ACK
        require(with_bitfield == (e.ack_bitfield is not None),
                "an ack bitfield is sent exactly in a fragmented acknowledgement",
                "aps.extended_header.ack_bitfield")
        if fragmented:
            out += le(e.block_number, 1, "aps.extended_header.block_number")
        if with_bitfield:
            out += le(e.ack_bitfield, 1, "aps.extended_header.ack_bitfield")
    return bytes(out)


def decode_aps_header(r: Reader) -> ApsHeader:
    control = r.u8("aps.frame_control")
    frame_type = ApsFrameType(control & 0x3)
    if frame_type == ApsFrameType.INTER_PAN:
        raise r.fail("inter-PAN APS frame inside a NWK frame", "aps.frame_control.frame_type",
                     0)
    mode = (control >> 2) & 0x3
    if mode == 1:
        raise r.fail("delivery mode 1 (indirect) is reserved", "aps.frame_control.delivery_mode",
                     0)
    h = ApsHeader(frame_type, 0, DeliveryMode(mode), bool(control & 0x10), bool(control & 0x20),
                  bool(control & 0x40))
    fields = {name: r.uint(_SIZES[name], f"aps.{name}")
              for name, sent in _layout(h).items() if sent}
    counter = r.u8("aps.aps_counter")
    extended = None
    if control & 0x80:
        ext_control = r.u8("aps.extended_header.fragmentation")
        if ext_control > 2:
            raise r.fail(f"extended frame control 0x{ext_control:02X} is reserved",
                         "aps.extended_header.fragmentation", r.pos - 1)
        fragmentation = Fragmentation(ext_control)
        block = bitfield = None
        if fragmentation != Fragmentation.NONE:
            block = r.u8("aps.extended_header.block_number")
            if frame_type == ApsFrameType.ACK:
                bitfield = r.u8("aps.extended_header.ack_bitfield")
        extended = ExtendedHeader(fragmentation, block, bitfield)
    return replace(h, aps_counter=counter, extended_header=extended, **fields)


def encode_aps(header: ApsHeader, payload: bytes = b"") -> bytes:
    """An unsecured APS frame."""
    require(not header.security, "a secured frame is built with secure_aps", "aps.security")
    require(header.frame_type != ApsFrameType.ACK or not payload,
            "an acknowledgement has no payload", "aps.payload")
    return encode_aps_header(header) + bytes(payload)


def decode_aps(data: bytes, base: int = 0) -> ApsFrame:
    """An unsecured APS frame (a secured one needs `unsecure_aps` and the link key)."""
    r = Reader(data, base)
    header = decode_aps_header(r)
    if header.security:
        raise r.fail("the frame is secured: open it with unsecure_aps", "aps.security", 0)
    payload = r.rest()
    if header.frame_type == ApsFrameType.ACK and payload:
        raise r.fail(f"{len(payload)} bytes after an acknowledgement", "aps.payload",
                     len(data) - len(payload))
    return ApsFrame(header, payload)


def secure_aps(header: ApsHeader, payload: bytes, link_key: bytes,
               key_identifier: KeyIdentifier, frame_counter: int, source_ieee: int,
               extended_nonce: bool = True) -> bytes:
    """A secured APS frame keyed by `link_key` (hashed for the key-transport and key-load
    keys); with `extended_nonce` the sender's IEEE address travels in the aux header."""
    require(key_identifier != KeyIdentifier.NETWORK,
            "APS security uses a link key or a key derived from it", "aps.aux.key_identifier")
    header = replace(header, security=True)
    head = encode_aps_header(header)
    aux = AuxSecurityHeader(key_identifier, frame_counter,
                            source_ieee if extended_nonce else None)
    return head + seal(link_key, head, aux, payload, source_ieee, "aps.aux")


def unsecure_aps(data: bytes, link_key: bytes, counters: FrameCounters,
                 source_ieee: int | None = None, base: int = 0) -> ApsFrame:
    """Decode and open a secured APS frame. The nonce's source address comes from the aux
    header, or else from `source_ieee` (the sender, known from the NWK layer)."""
    r = Reader(data, base)
    header = decode_aps_header(r)
    if not header.security:
        raise r.fail("the frame is not secured", "aps.security", 0)
    head_end = r.pos
    aux = decode_aux(r, "aps.aux")
    if aux.key_identifier == KeyIdentifier.NETWORK:
        raise FrameSecurityError("APS frames are not secured with the network key",
                                 base + head_end, "aps.aux.key_identifier")
    source = aux.source_address if aux.source_address is not None else source_ieee
    offset = r.offset
    plaintext = open_counted(link_key, bytes(data[:head_end]), aux, r.rest(), source,
                             counters, base + head_end, offset, "aps.aux")
    return ApsFrame(header, plaintext, aux)
