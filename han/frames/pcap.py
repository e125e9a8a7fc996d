"""A classic pcap writer for 802.15.4 frames with FCS (link type 195).

Timestamps come from the caller (the simulator's virtual time), never the wall clock, so
a capture of a simulated premises is reproducible byte for byte. Only `struct` is used:
the format is a 24-byte global header and a 16-byte header before each frame.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

LINKTYPE_IEEE802_15_4_WITHFCS = 195
MAGIC = 0xA1B2C3D4          # microsecond timestamps
VERSION = (2, 4)
SNAPLEN = 65535
_GLOBAL = struct.Struct("<IHHiIII")
_RECORD = struct.Struct("<IIII")


def global_header(linktype: int = LINKTYPE_IEEE802_15_4_WITHFCS) -> bytes:
    return _GLOBAL.pack(MAGIC, *VERSION, 0, 0, SNAPLEN, linktype)


def record(timestamp_us: int, frame: bytes) -> bytes:
    """One packet record: `timestamp_us` is microseconds since the epoch (virtual time)."""
    if timestamp_us < 0:
        raise ValueError(f"a pcap timestamp cannot be negative ({timestamp_us} us)")
    if len(frame) > SNAPLEN:
        raise ValueError(f"a {len(frame)}-byte frame exceeds the {SNAPLEN}-byte snap length")
    seconds, micros = divmod(timestamp_us, 1_000_000)
    return _RECORD.pack(seconds, micros, len(frame), len(frame)) + bytes(frame)


class PcapWriter:
    """Writes the global header on creation, then one record per `write`."""

    def __init__(self, stream: BinaryIO, linktype: int = LINKTYPE_IEEE802_15_4_WITHFCS) -> None:
        self.stream = stream
        stream.write(global_header(linktype))

    def write(self, timestamp_us: int, frame: bytes) -> None:
        self.stream.write(record(timestamp_us, frame))
