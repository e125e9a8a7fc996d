"""IEEE 802.15.4 MAC frames (2003/2006 frame versions) as a sniffer records them.

A frame is frame control, sequence number, addressing fields, the frame body and a 2-byte
FCS. The FCS is the ITU-T CRC-16 that 802.15.4 defines (CRC-16/KERMIT: reflected 0x1021,
init 0, no final XOR), sent least significant byte first. ZigBee never uses MAC-layer
security (it secures at NWK and APS), so a frame with the security-enabled bit is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from han.crc import crc16_kermit
from han.frames.errors import FrameDecodeError
from han.frames.reader import Reader, le, require

FCS_LENGTH = 2


class MacFrameType(IntEnum):
    BEACON = 0
    DATA = 1
    ACK = 2
    COMMAND = 3


class AddressMode(IntEnum):
    NONE = 0
    SHORT = 2
    EXTENDED = 3


_ADDRESS_SIZE = {AddressMode.NONE: 0, AddressMode.SHORT: 2, AddressMode.EXTENDED: 8}


class MacCommandId(IntEnum):
    """802.15.4-2006 MAC command identifiers (the ones ZigBee association uses and more)."""

    ASSOCIATION_REQUEST = 0x01
    ASSOCIATION_RESPONSE = 0x02
    DISASSOCIATION_NOTIFICATION = 0x03
    DATA_REQUEST = 0x04
    PAN_ID_CONFLICT_NOTIFICATION = 0x05
    ORPHAN_NOTIFICATION = 0x06
    BEACON_REQUEST = 0x07
    COORDINATOR_REALIGNMENT = 0x08
    GTS_REQUEST = 0x09


@dataclass(frozen=True)
class GtsDescriptor:
    short_address: int
    starting_slot: int   # 4 bits
    length: int          # 4 bits


@dataclass(frozen=True)
class Beacon:
    """A beacon's body: superframe specification, GTS fields, pending addresses, payload
    (for ZigBee, the NWK beacon payload: protocol id, stack profile, capacity, EPID...)."""

    superframe_spec: int
    gts_permit: bool = False
    gts_directions: int = 0                         # 7-bit mask, sent when descriptors exist
    gts: tuple[GtsDescriptor, ...] = ()
    pending_short: tuple[int, ...] = ()
    pending_extended: tuple[int, ...] = ()
    payload: bytes = b""


@dataclass(frozen=True)
class MacCommand:
    command_id: int
    payload: bytes = b""


@dataclass(frozen=True)
class MacFrame:
    """One 802.15.4 frame. `body` is the MSDU bytes for data frames, a `Beacon` for
    beacons, a `MacCommand` for commands, and empty for acknowledgements. With PAN ID
    compression the source PAN equals the destination PAN and is not sent."""

    frame_type: MacFrameType
    sequence_number: int
    dst_mode: AddressMode = AddressMode.NONE
    dst_pan: int | None = None
    dst_address: int | None = None
    src_mode: AddressMode = AddressMode.NONE
    src_pan: int | None = None
    src_address: int | None = None
    frame_pending: bool = False
    ack_request: bool = False
    pan_id_compression: bool = False
    frame_version: int = 0
    body: bytes | Beacon | MacCommand = field(default=b"")


def _src_pan_sent(dst_mode: AddressMode, src_mode: AddressMode, compression: bool) -> bool:
    return src_mode != AddressMode.NONE and not (compression and dst_mode != AddressMode.NONE)


# -- decoding -----------------------------------------------------------------------------

def decode_mac(frame: bytes, fcs: bool = True) -> MacFrame:
    """Decode one frame; with `fcs` the last two bytes are the FCS and must match."""
    data = bytes(frame)
    if fcs:
        if len(data) < 3 + FCS_LENGTH:
            raise FrameDecodeError(f"truncated: a MAC frame with FCS needs at least "
                                   f"{3 + FCS_LENGTH} bytes, got {len(data)}", 0, "mac")
        data, sent = data[:-FCS_LENGTH], int.from_bytes(data[-FCS_LENGTH:], "little")
        expected = crc16_kermit(data)
        if sent != expected:
            raise FrameDecodeError(f"FCS is 0x{sent:04X}, expected 0x{expected:04X}",
                                   len(data), "mac.fcs")
    r = Reader(data)
    control = r.uint(2, "mac.frame_control")
    type_bits = control & 0x7
    if type_bits > 3:
        raise r.fail(f"reserved MAC frame type {type_bits}", "mac.frame_control.frame_type", 0)
    if control & 0x08:
        raise r.fail("MAC-layer security is not used by ZigBee and is not supported",
                     "mac.frame_control.security_enabled", 0)
    if control & 0x0380:
        raise r.fail("reserved bits 7-9 set in MAC frame control (2003/2006 frames)",
                     "mac.frame_control", 0)
    version = (control >> 12) & 0x3
    if version > 1:
        raise r.fail(f"unsupported frame version {version} (2003/2006 only)",
                     "mac.frame_control.frame_version", 1)
    modes = []
    for name, shift in (("dst_mode", 10), ("src_mode", 14)):
        bits = (control >> shift) & 0x3
        if bits == 1:
            raise r.fail("reserved address mode 1", f"mac.frame_control.{name}", 1)
        modes.append(AddressMode(bits))
    dst_mode, src_mode = modes
    compression = bool(control & 0x40)
    if compression and AddressMode.NONE in (dst_mode, src_mode):
        raise r.fail("PAN ID compression needs both addresses", "mac.frame_control", 0)
    sequence_number = r.u8("mac.sequence_number")
    dst_pan = dst_address = src_pan = src_address = None
    if dst_mode != AddressMode.NONE:
        dst_pan = r.uint(2, "mac.dst_pan")
        dst_address = r.uint(_ADDRESS_SIZE[dst_mode], "mac.dst_address")
    if src_mode != AddressMode.NONE:
        src_pan = r.uint(2, "mac.src_pan") if _src_pan_sent(dst_mode, src_mode, compression) \
            else dst_pan
        src_address = r.uint(_ADDRESS_SIZE[src_mode], "mac.src_address")
    frame_type = MacFrameType(type_bits)
    body: bytes | Beacon | MacCommand
    if frame_type == MacFrameType.BEACON:
        body = _decode_beacon(r)
    elif frame_type == MacFrameType.COMMAND:
        body = MacCommand(r.u8("mac.command.command_id"), r.rest())
    else:
        body = r.rest()
        if frame_type == MacFrameType.ACK and body:
            raise r.fail(f"{len(body)} bytes after an acknowledgement", "mac.ack",
                         r.pos - len(body))
    return MacFrame(frame_type, sequence_number, dst_mode, dst_pan, dst_address, src_mode,
                    src_pan, src_address, bool(control & 0x10), bool(control & 0x20),
                    compression, version, body)


def _decode_beacon(r: Reader) -> Beacon:
    superframe = r.uint(2, "mac.beacon.superframe_spec")
    gts_spec = r.u8("mac.beacon.gts_spec")
    if gts_spec & 0x78:
        raise r.fail("reserved bits set in GTS specification", "mac.beacon.gts_spec", r.pos - 1)
    count = gts_spec & 0x7
    directions = 0
    gts = []
    if count:
        directions = r.u8("mac.beacon.gts_directions")
        if directions & 0x80:
            raise r.fail("reserved bit set in GTS directions", "mac.beacon.gts_directions",
                         r.pos - 1)
        for i in range(count):
            address = r.uint(2, f"mac.beacon.gts[{i}].short_address")
            slot = r.u8(f"mac.beacon.gts[{i}].slot")
            gts.append(GtsDescriptor(address, slot & 0xF, slot >> 4))
    pending = r.u8("mac.beacon.pending_address_spec")
    if pending & 0x88:
        raise r.fail("reserved bits set in pending address specification",
                     "mac.beacon.pending_address_spec", r.pos - 1)
    shorts = tuple(r.uint(2, f"mac.beacon.pending_short[{i}]") for i in range(pending & 0x7))
    longs = tuple(r.uint(8, f"mac.beacon.pending_extended[{i}]")
                  for i in range((pending >> 4) & 0x7))
    return Beacon(superframe, bool(gts_spec & 0x80), directions, tuple(gts), shorts, longs,
                  r.rest())


# -- encoding -----------------------------------------------------------------------------

def encode_mac(frame: MacFrame, fcs: bool = True) -> bytes:
    """The frame's bytes, with the FCS appended when `fcs` (the decoder's exact inverse)."""
    f = frame
    require(f.frame_version in (0, 1), "frame version must be 0 or 1", "mac.frame_version")
    require(not f.pan_id_compression or AddressMode.NONE not in (f.dst_mode, f.src_mode),
            "PAN ID compression needs both addresses", "mac.pan_id_compression")
    control = (int(f.frame_type) | f.frame_pending << 4 | f.ack_request << 5
               | f.pan_id_compression << 6 | int(f.dst_mode) << 10 | f.frame_version << 12
               | int(f.src_mode) << 14)
    out = bytearray(le(control, 2, "mac.frame_control"))
    out += le(f.sequence_number, 1, "mac.sequence_number")
    if f.dst_mode != AddressMode.NONE:
        out += le(f.dst_pan, 2, "mac.dst_pan")
        out += le(f.dst_address, _ADDRESS_SIZE[f.dst_mode], "mac.dst_address")
    else:
        require(f.dst_pan is None and f.dst_address is None,
                "destination PAN/address given with address mode NONE", "mac.dst_address")
    if f.src_mode != AddressMode.NONE:
        if _src_pan_sent(f.dst_mode, f.src_mode, f.pan_id_compression):
            out += le(f.src_pan, 2, "mac.src_pan")
        else:
            require(f.src_pan in (None, f.dst_pan),
                    "with PAN ID compression the source PAN is the destination PAN",
                    "mac.src_pan")
        out += le(f.src_address, _ADDRESS_SIZE[f.src_mode], "mac.src_address")
    else:
        require(f.src_pan is None and f.src_address is None,
                "source PAN/address given with address mode NONE", "mac.src_address")
    out += _encode_body(f)
    if fcs:
        out += le(crc16_kermit(bytes(out)), 2, "mac.fcs")
    return bytes(out)


def _encode_body(f: MacFrame) -> bytes:
    if f.frame_type == MacFrameType.BEACON:
        require(isinstance(f.body, Beacon), "a beacon frame's body is a Beacon", "mac.beacon")
        return _encode_beacon(f.body)
    if f.frame_type == MacFrameType.COMMAND:
        require(isinstance(f.body, MacCommand), "a command frame's body is a MacCommand",
                "mac.command")
        return le(f.body.command_id, 1, "mac.command.command_id") + bytes(f.body.payload)
    require(isinstance(f.body, (bytes, bytearray)), "a data/ack frame's body is bytes",
            "mac.body")
    require(f.frame_type != MacFrameType.ACK or not f.body,
            "an acknowledgement has no body", "mac.ack")
    return bytes(f.body)


def _encode_beacon(b: Beacon) -> bytes:
    require(len(b.gts) <= 7, "at most 7 GTS descriptors", "mac.beacon.gts")
    require(len(b.pending_short) <= 7 and len(b.pending_extended) <= 7,
            "at most 7 pending addresses of each kind", "mac.beacon.pending")
    require(b.gts or not b.gts_directions, "GTS directions are only sent with descriptors",
            "mac.beacon.gts_directions")
    out = bytearray(le(b.superframe_spec, 2, "mac.beacon.superframe_spec"))
    out += le(len(b.gts) | b.gts_permit << 7, 1, "mac.beacon.gts_spec")
    if b.gts:
        out += le(b.gts_directions, 1, "mac.beacon.gts_directions")
        require(b.gts_directions < 0x80, "GTS directions is a 7-bit mask",
                "mac.beacon.gts_directions")
        for i, d in enumerate(b.gts):
            out += le(d.short_address, 2, f"mac.beacon.gts[{i}].short_address")
            require(0 <= d.starting_slot < 16 and 0 <= d.length < 16,
                    "GTS slot and length are 4 bits", f"mac.beacon.gts[{i}]")
            out.append(d.starting_slot | d.length << 4)
    out.append(len(b.pending_short) | len(b.pending_extended) << 4)
    for i, a in enumerate(b.pending_short):
        out += le(a, 2, f"mac.beacon.pending_short[{i}]")
    for i, a in enumerate(b.pending_extended):
        out += le(a, 8, f"mac.beacon.pending_extended[{i}]")
    return bytes(out) + bytes(b.payload)
