"""The reflected CRC-16 of the ITU-T polynomial (0x1021, reflected 0x8408) ZigBee uses
twice: the 802.15.4 frame check sequence (KERMIT: init 0, no final XOR) and the install
code CRC (X-25: init and final XOR 0xFFFF). Table driven: every frame on the air has one."""

from __future__ import annotations


def _table() -> tuple[int, ...]:
    out = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
        out.append(crc)
    return tuple(out)


_TABLE = _table()


def crc16_reflected(data: bytes, init: int = 0, xor_out: int = 0) -> int:
    crc = init
    table = _TABLE
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc ^ xor_out


def crc16_kermit(data: bytes) -> int:
    """The 802.15.4 FCS."""
    return crc16_reflected(data)


def crc16_x25(data: bytes) -> int:
    """The install code CRC."""
    return crc16_reflected(data, 0xFFFF, 0xFFFF)
